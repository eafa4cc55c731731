package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A restart in place: `resind restart` sends sigRestart to the running
// server; it hands its listening sockets to a duplicate, drains and stops
// like `stop`, then executes the resind binary again (the same pid, the same
// command line, the configuration and binary as they are now on disk) with
// the sockets inherited. Connections that arrive meanwhile wait in the
// kernel's accept queue: none is refused.
const sigRestart = syscall.SIGUSR2

// envInherit names the inherited sockets: "key=fd" pairs separated by ";".
const envInherit = "RESIND_INHERIT"

// restartInPlace is what cmdConsole returns when it stopped to be
// replaced; its files are the listening sockets to hand over.
type restartInPlace struct{ files map[string]*os.File }

func (r *restartInPlace) Error() string { return "restart in place" }

// exec replaces this process with a new resind that inherits the sockets.
// It returns only when that cannot be done.
func (r *restartInPlace) exec() error {
	var pairs []string
	for key, f := range r.files {
		fd := f.Fd()
		// The duplicates are close-on-exec; this one must survive it.
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETFD, 0); errno != 0 {
			return fmt.Errorf("restart: keeping %s open: %w", key, errno)
		}
		pairs = append(pairs, key+"="+strconv.Itoa(int(fd)))
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	env := []string{envInherit + "=" + strings.Join(pairs, ";")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envInherit+"=") && !strings.HasPrefix(kv, envReadyFD+"=") {
			env = append(env, kv)
		}
	}
	err = syscall.Exec(exe, os.Args, env)
	return fmt.Errorf("restart: executing %s: %w", exe, err) // the sockets close as this process exits
}

// inheritedListeners adopts the sockets named by RESIND_INHERIT, if any.
func inheritedListeners() (map[string]net.Listener, error) {
	v, ok := os.LookupEnv(envInherit)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(envInherit)
	out := make(map[string]net.Listener)
	for _, pair := range strings.Split(v, ";") {
		i := strings.LastIndexByte(pair, '=')
		fd, err := strconv.Atoi(pair[i+1:])
		if i < 0 || err != nil || fd < 3 {
			return nil, fmt.Errorf("%s: bad entry %q", envInherit, pair)
		}
		f := os.NewFile(uintptr(fd), pair[:i])
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("inherited socket %s: %w", pair[:i], err)
		}
		out[pair[:i]] = ln
	}
	return out, nil
}

// cmdRestart restarts a running server in place and waits until its
// successor listens; a stopped server is started.
func cmdRestart(o options, stdout, stderr io.Writer) error {
	id, dir, err := serverFromFlags(o)
	if err != nil {
		return err
	}
	pid, err := running(dir)
	if err != nil {
		return err
	}
	if pid == 0 {
		return cmdStart(o, stdout, stderr)
	}
	before, _ := readState(dir)
	if err := syscall.Kill(pid, sigRestart); err != nil {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(stopTimeout + startTimeout)
	for {
		st, err := readState(dir)
		if err == nil && st.PID == pid && st.Started.After(before.Started) {
			if p, _ := running(dir); p == pid {
				fmt.Fprintf(stdout, "resind: server %s restarted in place, pid %d, listening on %s\n", id, pid, strings.Join(st.Listeners, ", "))
				return nil
			}
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return fail(1, "server %s (pid %d) exited while restarting; see %s", id, pid, o.logDir+"/"+id+".log")
		}
		if time.Now().After(deadline) {
			return fail(1, "server %s (pid %d) did not come back within %s", id, pid, stopTimeout+startTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the status file; the condition is checked above
	}
}
