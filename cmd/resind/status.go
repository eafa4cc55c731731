package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"resind/core"
)

// cmdStatus prints whether the server runs, and if so its pid, ports, uptime
// and configuration. Like an init script's status, it exits 3 when the
// server is stopped.
func cmdStatus(o options, stdout io.Writer) error {
	id, dir, err := serverFromFlags(o)
	if err != nil {
		return err
	}
	pid, err := running(dir)
	if err != nil {
		return err
	}
	if pid == 0 {
		fmt.Fprintf(stdout, "server %s: stopped\n", id)
		return &exitError{code: 3}
	}
	st, err := readState(dir)
	if err != nil {
		fmt.Fprintf(stdout, "server %s: running, pid %d (starting)\n", id, pid)
		return nil
	}
	fmt.Fprintf(stdout, "server %s: running\n", id)
	fmt.Fprintf(stdout, "  pid:     %d\n", pid)
	fmt.Fprintf(stdout, "  cluster: %s\n", st.Cluster)
	fmt.Fprintf(stdout, "  listen:  %s\n", strings.Join(st.Listeners, ", "))
	fmt.Fprintf(stdout, "  uptime:  %s (since %s)\n", time.Since(st.Started).Round(time.Second), st.Started.Format(time.RFC3339))
	fmt.Fprintf(stdout, "  config:  %s\n", st.Config)
	fmt.Fprintf(stdout, "  version: %s\n", st.Version)
	return nil
}

func cmdVersion(stdout io.Writer) error {
	fmt.Fprintf(stdout, "resind %s (%s, %s/%s)\n", core.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
