package core

import (
	"net"
	"strconv"
)

// LeavePort makes the server leave its <http> listeners on port to another
// owner, HardCore's kernel module, which serves that port itself: Listen
// and later Applies do not bind them. Call it before Listen; 0 leaves
// none.
func (s *Server) LeavePort(port int) { s.leftPort.Store(int32(port)) }

// bindable are the listeners of rt the server binds itself.
func (s *Server) bindable(rt *runtime) []listenSpec {
	left := int(s.leftPort.Load())
	if left == 0 {
		return rt.listeners
	}
	out := make([]listenSpec, 0, len(rt.listeners))
	for _, sp := range rt.listeners {
		if sp.kind == "http" {
			if _, p, err := net.SplitHostPort(sp.addr); err == nil && p == strconv.Itoa(left) {
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}
