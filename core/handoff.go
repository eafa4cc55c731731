package core

import (
	"fmt"
	"net"
	"os"
	"sync"
)

// A restart in place hands the listening sockets from the running process
// to its successor, so connections that arrive meanwhile wait in the
// kernel's accept queue instead of being refused: the old process takes
// ListenerFiles, shuts down (its in-flight requests drain), and the new one
// adopts the files through Options.Inherited.

// ListenerFiles returns a duplicate of each bound listening socket, by
// listener key ("http 127.0.0.1:8080", "cluster 127.0.0.1:6800"). The
// duplicates keep the sockets listening after Shutdown closes the
// server's own descriptors; the caller owns and closes them.
func (s *Server) ListenerFiles() (map[string]*os.File, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*os.File, len(s.listeners))
	for key, l := range s.listeners {
		tl, ok := l.raw.(*net.TCPListener)
		if !ok {
			continue
		}
		f, err := tl.File()
		if err != nil {
			for _, g := range out {
				g.Close()
			}
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out[key] = f
	}
	return out, nil
}

// inherited are the sockets handed over by a predecessor, taken by bind
// for the listener of the same key.
type inherited struct {
	mu sync.Mutex
	ln map[string]net.Listener
}

func newInherited(m map[string]net.Listener) *inherited {
	c := make(map[string]net.Listener, len(m))
	for k, v := range m {
		c[k] = v
	}
	return &inherited{ln: c}
}

// take returns the inherited listener for key, once.
func (in *inherited) take(key string) net.Listener {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	ln := in.ln[key]
	delete(in.ln, key)
	return ln
}

// closeRest closes the inherited sockets no listener took (the new
// configuration dropped them) and returns their keys.
func (in *inherited) closeRest() []string {
	if in == nil {
		return nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	var keys []string
	for k, ln := range in.ln {
		ln.Close()
		keys = append(keys, k)
	}
	in.ln = nil
	return keys
}
