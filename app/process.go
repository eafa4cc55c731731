// Package app runs the programs behind a web-app: pools of FastCGI
// processes in the manner of Apache's mod_fcgid, and HTTP application
// servers (Rails, Django, Express…) given a port or a Unix socket in their
// environment. It starts them, restarts them when they die, health-checks
// them, logs what they write to stderr and stops them, with everything they
// started, when they are no longer configured or resind shuts down.
//
// A Registry holds them keyed by their Spec, so that a configuration reload
// that keeps a command keeps its running processes.
package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// Spec is a supervised program and how to run it. Two Specs with the same
// Key are the same program: a reload that keeps it keeps its processes and
// takes its new pool limits.
type Spec struct {
	// Command is the program and its arguments. A relative program is
	// resolved against Dir.
	Command []string
	// Dir is the working directory.
	Dir string
	// Env is added to resind's own environment (NAME=value).
	Env []string

	// MinProcesses and MaxProcesses bound a FastCGI pool (defaults 0 and
	// 4); IdleTimeout stops a process above the minimum that served nothing
	// for that long (default 300s, as mod_fcgid's FcgidIdleTimeout).
	MinProcesses, MaxProcesses int
	IdleTimeout                time.Duration

	// Unix gives an HTTP application a Unix socket (RESIND_APP_SOCKET)
	// instead of a loopback port (PORT).
	Unix bool
	// HealthPath is the path an HTTP application is checked on with GET
	// (any answer below 500 is healthy); "" only checks that it accepts
	// connections.
	HealthPath string
	// HealthInterval is how often a running HTTP application is checked
	// (default 5s); three failures in a row restart it.
	HealthInterval time.Duration
	// StartTimeout is how long an HTTP application may take to become
	// healthy after it starts (default 30s).
	StartTimeout time.Duration
	// StopTimeout is how long a process has to exit after SIGTERM before
	// it and its process group are killed (default 5s).
	StopTimeout time.Duration
}

// Key identifies the program: kind plus everything that needs a restart
// when it changes.
func (s Spec) Key(kind string) string {
	return kind + "\x00" + strings.Join(s.Command, "\x01") + "\x00" + s.Dir + "\x00" +
		strings.Join(s.Env, "\x01") + "\x00" + fmt.Sprint(s.Unix)
}

// Name is the command line, for logs and pages.
func (s Spec) Name() string { return strings.Join(s.Command, " ") }

func (s Spec) stopTimeout() time.Duration {
	if s.StopTimeout > 0 {
		return s.StopTimeout
	}
	return 5 * time.Second
}

// process is one running program. It is started in its own process group
// so that stopping it also stops whatever it started, and it gets SIGKILL
// should resind itself die without stopping it.
type process struct {
	cmd     *exec.Cmd
	pid     int
	started time.Time
	done    chan struct{} // closed once it has exited and been reaped
	err     error         // its exit status, once done is closed
}

// startProcess runs spec with extra environment; stdin, when not nil,
// becomes its fd 0 (a FastCGI application's listening socket).
func startProcess(spec Spec, extra []string, stdin *os.File, log *zap.Logger) (*process, error) {
	if len(spec.Command) == 0 {
		return nil, errors.New("no command")
	}
	prog := spec.Command[0]
	if !filepath.IsAbs(prog) && strings.ContainsRune(prog, '/') && spec.Dir != "" {
		prog = filepath.Join(spec.Dir, prog)
	}
	cmd := exec.Command(prog, spec.Command[1:]...)
	cmd.Dir = spec.Dir
	cmd.Env = append(append(os.Environ(), spec.Env...), extra...)
	if stdin != nil {
		cmd.Stdin = stdin
	}
	name := spec.Name()
	cmd.Stdout = &lineLog{log: log, app: name, stream: "stdout"}
	cmd.Stderr = &lineLog{log: log, app: name, stream: "stderr"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A grandchild holding stdout open must not keep Wait waiting.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, started: time.Now(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		for _, w := range []io.Writer{cmd.Stdout, cmd.Stderr} {
			w.(*lineLog).flush()
		}
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace, then kills
// the group, and returns once the process is reaped.
func (p *process) stop(grace time.Duration) {
	syscall.Kill(-p.pid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	// Whatever is left of the group (the process, or children it left
	// behind when it exited on SIGTERM).
	syscall.Kill(-p.pid, syscall.SIGKILL)
	<-p.done
}

// lineLog writes what a program prints into resind's log, one entry per
// line. Lines longer than 8 KiB are cut into several entries.
type lineLog struct {
	log    *zap.Logger
	app    string
	stream string
	buf    []byte
}

func (l *lineLog) Write(b []byte) (int, error) {
	l.buf = append(l.buf, b...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= 8<<10 {
				l.emit(l.buf)
				l.buf = l.buf[:0]
			}
			return len(b), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLog) flush() {
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLog) emit(line []byte) {
	s := strings.TrimRight(string(line), "\r")
	if s == "" {
		return
	}
	l.log.Info("app "+l.stream, zap.String("app", l.app), zap.String("line", s))
}

// StderrLog returns a writer that logs what one process writes to stderr,
// line by line, as the supervised ones are (core's CGI handler uses one per
// script run). Call the returned flush when the process has exited.
func StderrLog(log *zap.Logger, app string) (w io.Writer, flush func()) {
	l := &lineLog{log: log, app: app, stream: "stderr"}
	return l, l.flush
}
