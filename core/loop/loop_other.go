//go:build !linux

package loop

import (
	"context"
	"net"

	"resind/core/h1"
)

// Supported reports whether this system has the loop: not this one.
const Supported = false

// Server is not available here; New returns nil.
type Server struct{}

// New returns nil: the caller keeps core/h1.
func New(cfg Config) *Server { return nil }

func (*Server) Serve(net.Listener) error       { return h1.ErrServerClosed }
func (*Server) Shutdown(context.Context) error { return nil }
func (*Server) Close() error                   { return nil }
