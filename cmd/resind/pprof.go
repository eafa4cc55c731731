package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"go.uber.org/zap"

	"resind/conf"
)

// envPprof names a loopback address (127.0.0.1:6060) on which the server
// offers Go's profiles (/debug/pprof/...) for measuring it under load. It is
// for benchmarking (bench/profile.sh) and never set in production; without
// it nothing listens.
const envPprof = "RESIND_PPROF"

func init() { components = append(components, func() component { return &pprofServer{} }) }

// pprofServer is the profiling endpoint, on its own socket so that profiles
// are never reachable through the server's public ports.
type pprofServer struct {
	srv *http.Server
}

func (p *pprofServer) Start(env *componentEnv) error {
	addr := os.Getenv(envPprof)
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", envPprof, addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%s=%q: profiles are offered on a loopback address only", envPprof, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", envPprof, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	env.Log.Warn("profiling endpoint open", zap.String("address", ln.Addr().String()))
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			env.Log.Error("profiling endpoint", zap.Error(err))
		}
	}()
	return nil
}

func (p *pprofServer) Reload(*conf.Config) {}

func (p *pprofServer) Stop(ctx context.Context) {
	if p.srv != nil {
		p.srv.Shutdown(ctx)
	}
}
