package main

import (
	"errors"
	"fmt"
	"io"

	"resind/conf"
)

// loadConfig loads o.conf and picks the server o.server. Problems are printed
// to w as "file:line: reason", one a line, and returned as an exit status.
func loadConfig(o options, w io.Writer) (*conf.Config, *conf.Server, error) {
	cfg, err := conf.Load(o.conf)
	if err != nil {
		var ce *conf.Error
		if errors.As(err, &ce) {
			for _, d := range ce.Diags {
				fmt.Fprintln(w, d.String())
			}
			return nil, nil, fail(2, "%s: configuration refused (%d problems)", o.conf, len(ce.Diags))
		}
		return nil, nil, fail(2, "%v", err)
	}
	srv, err := cfg.Server(o.server)
	if err != nil {
		return nil, nil, fail(2, "%v", err)
	}
	return cfg, srv, nil
}

// cmdCheck validates the configuration: warnings and errors are printed as
// "file:line: reason"; the exit status is 0 only when it would load.
func cmdCheck(o options, stdout, stderr io.Writer) error {
	cfg, err := conf.Load(o.conf)
	if err != nil {
		var ce *conf.Error
		if errors.As(err, &ce) {
			for _, d := range ce.Diags {
				fmt.Fprintln(stdout, d.String())
			}
			return fail(1, "%s: %d problems", o.conf, len(ce.Diags))
		}
		return fail(1, "%v", err)
	}
	for _, d := range cfg.Warnings {
		fmt.Fprintln(stdout, d.String()+" (warning)")
	}
	if o.server != "" {
		if _, err := cfg.Server(o.server); err != nil {
			return fail(1, "%v", err)
		}
	}
	n := 0
	for _, c := range cfg.Clusters {
		n += len(c.Servers)
	}
	fmt.Fprintf(stdout, "%s: ok (%d clusters, %d servers, %d warnings)\n", cfg.File, len(cfg.Clusters), n, len(cfg.Warnings))
	return nil
}
