package core

import (
	"net"
	"strconv"

	"resind/kernel"
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

// HardCoreStatus is what the kernel fast path's keeper last did: the
// module's port and the sruns it holds.
type HardCoreStatus = kernel.Status

// SetHardCore hands the server the keeper of resin.ko's sruns, so that
// Status shows the fast path; nil forgets it.
func (s *Server) SetHardCore(k *kernel.Keeper) { s.hardcore.Store(k) }

func (s *Server) hardcoreStatus() *HardCoreStatus {
	k := s.hardcore.Load()
	if k == nil {
		return nil
	}
	st := k.Status()
	return &st
}
