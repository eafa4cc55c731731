package main

import (
	"context"

	"go.uber.org/zap"

	"resind/conf"
	"resind/core"
)

// A component is a part of a running server that lives beside core.Server:
// the admin page, and later the cluster, the kernel fast path, deployment
// and supervised app processes. cmdConsole starts every registered
// component after core.New and before Listen, hands each accepted
// configuration to Reload, and stops them in reverse order after the
// listeners have drained.
type component interface {
	// Start readies the component for the server's first configuration.
	// An error stops the server from starting, with that reason.
	Start(env *componentEnv) error
	// Reload follows a configuration the server has accepted and applied.
	Reload(cfg *conf.Config)
	// Stop releases what Start took; ctx bounds how long it may wait.
	Stop(ctx context.Context)
}

// componentEnv is what a component may use.
type componentEnv struct {
	Server  *core.Server
	Config  *conf.Config // the first configuration
	Self    *conf.Server // this server, in Config
	DataDir string       // DATA/ID, this server's own directory
	LogDir  string
	Log     *zap.Logger
}

// components make the server's components, in start order. Each file that
// adds a component appends its constructor from an init function.
var components []func() component

// startComponents starts each component; on an error it stops those
// already started and returns the error.
func startComponents(env *componentEnv) ([]component, error) {
	var started []component
	for _, mk := range components {
		c := mk()
		if err := c.Start(env); err != nil {
			stopComponents(context.Background(), started)
			return nil, err
		}
		started = append(started, c)
	}
	return started, nil
}

func stopComponents(ctx context.Context, cs []component) {
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].Stop(ctx)
	}
}
