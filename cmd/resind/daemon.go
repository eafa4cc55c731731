package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The environment a `start`ed server runs with: the pipe it reports
// readiness on, and a mark that it runs in the background.
const (
	envReadyFD = "RESIND_READY_FD"
	envDaemon  = "RESIND_DAEMON"
)

// startTimeout bounds how long `start` waits for the server to listen.
const startTimeout = 60 * time.Second

// stopTimeout bounds how long `stop` waits: the server's own drain time and
// a margin.
const stopTimeout = drainTimeout + 10*time.Second

// ready is the write end of the readiness pipe, nil in the foreground.
type ready struct{ f *os.File }

func readyPipe() *ready {
	fd, err := strconv.Atoi(os.Getenv(envReadyFD))
	if err != nil || fd < 3 {
		return &ready{}
	}
	os.Unsetenv(envReadyFD)
	return &ready{f: os.NewFile(uintptr(fd), "ready")}
}

// report sends one line to `start`, once.
func (r *ready) report(line string) {
	if r.f == nil {
		return
	}
	fmt.Fprintln(r.f, line)
	r.f.Close()
	r.f = nil
}

// errorLine is err on one line, for the readiness pipe.
func errorLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// cmdStart runs the server in the background and returns once it listens,
// or with the reason it could not start.
func cmdStart(o options, stdout, stderr io.Writer) error {
	_, sc, err := loadConfig(o, stderr)
	if err != nil {
		return err
	}
	dir, err := serverDir(o.dataDir, sc.ID, true)
	if err != nil {
		return err
	}
	if pid, err := running(dir); err != nil {
		return err
	} else if pid != 0 {
		return fail(1, "server %s already running as pid %d", sc.ID, pid)
	}
	if err := os.MkdirAll(o.logDir, 0o755); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	outName := filepath.Join(o.logDir, sc.ID+".out")
	out, err := os.OpenFile(outName, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	defer out.Close()

	exe, err := os.Executable()
	if err != nil {
		return err
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	cmd := exec.Command(exe, "-conf", abs(o.conf), "-server", sc.ID,
		"-data-directory", abs(o.dataDir), "-log-directory", abs(o.logDir), "console")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.ExtraFiles = []*os.File{pw} // fd 3
	cmd.Env = append(os.Environ(), envReadyFD+"=3", envDaemon+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("start %s: %w", exe, err)
	}
	pw.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	pr.SetReadDeadline(time.Now().Add(startTimeout))
	line, rerr := bufio.NewReader(pr).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case strings.HasPrefix(line, "ok"):
		st, _ := readState(dir)
		fmt.Fprintf(stdout, "resind: server %s started, pid %d, listening on %s\n", sc.ID, cmd.Process.Pid, strings.Join(st.Listeners, ", "))
		return nil
	case strings.HasPrefix(line, "error "):
		<-exited
		return fail(1, "server %s did not start: %s", sc.ID, strings.TrimPrefix(line, "error "))
	case errors.Is(rerr, os.ErrDeadlineExceeded):
		return fail(1, "server %s did not listen within %s (pid %d); see %s", sc.ID, startTimeout, cmd.Process.Pid, outName)
	default:
		err := <-exited
		return fail(1, "server %s exited before listening (%v); see %s", sc.ID, err, outName)
	}
}

// notRunning is returned by stop when there is nothing to stop.
type notRunning struct{ id string }

func (e notRunning) Error() string { return "server " + e.id + " is not running" }

func isNotRunning(err error) bool {
	var nr notRunning
	return errors.As(err, &nr)
}

// cmdStop asks the server to drain and stop, and waits until it has.
func cmdStop(o options, stdout io.Writer) error {
	id, dir, err := serverFromFlags(o)
	if err != nil {
		return err
	}
	pid, err := running(dir)
	if err != nil {
		return err
	}
	if pid == 0 {
		return notRunning{id}
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		if p, _ := running(dir); p == 0 {
			fmt.Fprintf(stdout, "resind: server %s stopped (pid %d)\n", id, pid)
			return nil
		}
		if time.Now().After(deadline) {
			return fail(1, "server %s (pid %d) did not stop within %s", id, pid, stopTimeout)
		}
		time.Sleep(20 * time.Millisecond) // polling the lock; the condition is checked above
	}
}

// serverFromFlags finds the server's data directory for the client commands.
// It reads the configuration only when -server is left out.
func serverFromFlags(o options) (id, dir string, err error) {
	id = o.server
	if id == "" {
		_, sc, err := loadConfig(o, os.Stderr)
		if err != nil {
			return "", "", err
		}
		id = sc.ID
	}
	dir, err = serverDir(o.dataDir, id, false)
	return id, dir, err
}
