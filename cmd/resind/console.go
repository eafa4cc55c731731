package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"go.uber.org/zap"

	"resind/conf"
	"resind/core"
)

// drainTimeout bounds how long a stopping server waits for in-flight
// requests (Resin's shutdown-wait-max default).
const drainTimeout = 60 * time.Second

// stopGrace is how long past drainTimeout a stop may take before the
// watchdog ends the process; `resind stop` waits a little longer
// (stopTimeout).
const stopGrace = 5 * time.Second

// stopWatchdog bounds a stop. Draining and every component's Stop share
// drainTimeout, but a component stuck past it (a library call that takes
// no context) would leave the server half-stopped, holding its ports and
// lock, for good: CI once left an app server that way. Past drainTimeout
// plus stopGrace the watchdog writes every goroutine's stack to stderr (the
// server's ID.out when started with `resind start`), says so in the log,
// and exits with status 1.
func stopWatchdog(log *zap.Logger) *time.Timer {
	return watchdog(log, drainTimeout+stopGrace, os.Stderr, os.Exit)
}

func watchdog(log *zap.Logger, bound time.Duration, stacks io.Writer, exit func(int)) *time.Timer {
	return time.AfterFunc(bound, func() {
		log.Error("stop did not finish in time: exiting; the goroutines are on stderr", zap.Duration("bound", bound))
		log.Sync()
		buf := make([]byte, 4<<20)
		stacks.Write(buf[:runtime.Stack(buf, true)])
		exit(1)
	})
}

// cmdConsole runs the server in the foreground until SIGTERM or SIGINT.
// When started by `resind start` it reports readiness through the pipe
// named by RESIND_READY_FD.
func cmdConsole(o options, stdout, stderr io.Writer) (err error) {
	ready := readyPipe()
	defer func() {
		if err != nil {
			ready.report("error " + errorLine(err))
		}
	}()

	cfg, sc, err := loadConfig(o, stderr)
	if err != nil {
		return err
	}
	dir, err := serverDir(o.dataDir, sc.ID, true)
	if err != nil {
		return err
	}
	lock, err := acquire(dir)
	if err != nil {
		return err
	}
	defer lock.release()

	logs, err := openLogs(o.logDir, sc.ID, os.Getenv(envDaemon) == "" /* console */, stderr)
	if err != nil {
		return err
	}
	defer logs.close()
	log := logs.log.With(zap.String("server", sc.ID))
	for _, w := range cfg.Warnings {
		log.Warn("configuration", zap.String("warning", w.String()))
	}

	inherited, err := inheritedListeners()
	if err != nil {
		return fail(1, "%v", err)
	}
	s, err := core.New(cfg, core.Options{ServerID: sc.ID, DataDir: dir, Log: log, AccessLog: logs.access, Inherited: inherited,
		Dataplane: dataplane(log), DataplaneLoops: dataplaneLoops(log)})
	if err != nil {
		return fail(1, "%v", err)
	}
	// abort releases what the server holds (supervised app processes among
	// them) when it cannot go on.
	abort := func(parts []component) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		stopComponents(ctx, parts)
	}
	parts, err := startComponents(&componentEnv{Server: s, Config: cfg, Self: sc, DataDir: dir, LogDir: o.logDir, Log: log})
	if err != nil {
		abort(nil)
		return fail(1, "%v", err)
	}
	if err := s.Listen(); err != nil {
		abort(parts)
		return fail(1, "%v", err)
	}

	started := time.Now()
	state := func() runState {
		return runState{PID: os.Getpid(), Server: sc.ID, Cluster: sc.ClusterID, Config: cfg.File,
			Started: started, Listeners: s.Addrs(), Version: core.Version}
	}
	if err := writeState(dir, state()); err != nil {
		log.Warn("status file", zap.Error(err))
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.Serve() }()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	apply := func(next *conf.Config, err error) {
		if err != nil {
			logRefusal(log, err)
			s.Refused(err)
			return
		}
		if err := s.Apply(next); err != nil {
			logRefusal(log, err)
			return
		}
		for _, w := range next.Warnings {
			log.Warn("configuration", zap.String("warning", w.String()))
		}
		for _, p := range parts {
			p.Reload(next)
		}
		log.Info("configuration reloaded", zap.String("file", next.File))
		if err := writeState(dir, state()); err != nil {
			log.Warn("status file", zap.Error(err))
		}
	}
	go func() {
		if err := conf.Watch(ctx, cfg, log, apply); err != nil && ctx.Err() == nil {
			log.Error("configuration watch stopped; edits need SIGHUP", zap.Error(err))
		}
	}()

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, sigRestart)
	defer signal.Stop(sigs)

	log.Info("server started", zap.Strings("listen", s.Addrs()), zap.Int("pid", os.Getpid()), zap.String("version", core.Version))
	ready.report(fmt.Sprintf("ok %d", os.Getpid()))

	for {
		select {
		case err := <-serveErr:
			abort(parts)
			if err != nil {
				log.Error("server failed", zap.Error(err))
				return fail(1, "%v", err)
			}
			return nil
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: reloading configuration")
				apply(conf.Load(cfg.File))
				continue
			}
			var handoff map[string]*os.File
			if sig == sigRestart {
				if handoff, err = s.ListenerFiles(); err != nil {
					log.Error("restart in place refused: the listening sockets cannot be handed over", zap.Error(err))
					continue
				}
				log.Info("restarting in place: the listening sockets stay open for the new process; draining in-flight requests")
			} else {
				log.Info("stopping: draining in-flight requests", zap.String("signal", sig.String()))
			}
			cancel()
			defer stopWatchdog(log).Stop()
			dctx, dcancel := context.WithTimeout(context.Background(), drainTimeout)
			go func() {
				// A second signal stops at once.
				select {
				case <-sigs:
					dcancel()
				case <-dctx.Done():
				}
			}()
			err := s.Shutdown(dctx)
			if err != nil {
				log.Warn("stopped before every request finished", zap.Error(err))
			}
			stopComponents(dctx, parts)
			dcancel()
			if handoff != nil {
				log.Info("server stopped; executing its successor")
				return &restartInPlace{files: handoff}
			}
			log.Info("server stopped")
			return nil
		}
	}
}

// logRefusal logs a refused configuration edit, one problem a line, each
// "file:line: reason".
func logRefusal(log *zap.Logger, err error) {
	var ce *conf.Error
	if errors.As(err, &ce) {
		for _, d := range ce.Diags {
			log.Error("configuration refused; the running configuration stays", zap.String("problem", d.String()))
		}
		return
	}
	log.Error("configuration refused; the running configuration stays", zap.Error(err))
}

// logSet is a server's logs: its zap log (JSON in LOG/ID.log, and the
// console when running in the foreground) and its access log.
type logSet struct {
	log    *zap.Logger
	access *os.File
	files  []*os.File
}

func openLogs(dir, id string, console bool, stderr io.Writer) (*logSet, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log directory: %w", err)
	}
	open := func(name string) (*os.File, error) {
		return os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	}
	jf, err := open(id + ".log")
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	af, err := open(id + "-access.log")
	if err != nil {
		jf.Close()
		return nil, fmt.Errorf("access log: %w", err)
	}
	return &logSet{log: newLogger(jf, console, stderr), access: af, files: []*os.File{jf, af}}, nil
}

func (l *logSet) close() {
	l.log.Sync()
	for _, f := range l.files {
		f.Close()
	}
}
