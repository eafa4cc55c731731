package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A running server holds an exclusive flock on DATA/ID/resind.lock for its
// whole life and writes its pid to DATA/ID/resind.pid. The lock, not the pid
// file, says whether the server runs: the kernel releases it when the process
// dies however it dies, so a pid file left by a crash is recognised as stale.
const (
	lockName   = "resind.lock"
	pidName    = "resind.pid"
	statusName = "status.json"
)

// serverDir returns DATA/ID, creating it (owner-only) when create is set.
func serverDir(dataDir, id string, create bool) (string, error) {
	dir := filepath.Join(dataDir, id)
	if create {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("data directory: %w", err)
		}
	}
	return dir, nil
}

// pidLock is the held lock of a running server.
type pidLock struct {
	f   *os.File
	dir string
}

// acquire takes the server's lock and writes its pid file. When another
// process holds the lock it returns an error naming that pid.
func acquire(dir string) (*pidLock, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			if pid, perr := readPid(dir); perr == nil {
				return nil, fail(1, "server already running as pid %d (%s)", pid, dir)
			}
			return nil, fail(1, "server already running (%s is locked)", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	// Whatever pid file is there now was left by a process that no longer
	// holds the lock: it is stale and replaced.
	pidFile := filepath.Join(dir, pidName)
	if err := writeFileAtomic(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		f.Close()
		return nil, err
	}
	return &pidLock{f: f, dir: dir}, nil
}

// release removes the pid and status files and drops the lock.
func (l *pidLock) release() {
	os.Remove(filepath.Join(l.dir, pidName))
	os.Remove(filepath.Join(l.dir, statusName))
	l.f.Close()
}

// running reports the pid of the server owning dir, or 0 when none runs.
func running(dir string) (int, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return 0, nil
	}
	pid, err := readPid(dir)
	if err != nil {
		return 0, fmt.Errorf("server runs but its pid file is unreadable: %w", err)
	}
	return pid, nil
}

func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, pidName))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: bad content %q", filepath.Join(dir, pidName), b)
	}
	return pid, nil
}

// runState is what a running server writes to DATA/ID/status.json for
// `resind status`.
type runState struct {
	PID       int       `json:"pid"`
	Server    string    `json:"server"`
	Cluster   string    `json:"cluster"`
	Config    string    `json:"config"`
	Started   time.Time `json:"started"`
	Listeners []string  `json:"listeners"`
	Version   string    `json:"version"`
}

func writeState(dir string, st runState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, statusName), append(b, '\n'))
}

func readState(dir string) (runState, error) {
	var st runState
	b, err := os.ReadFile(filepath.Join(dir, statusName))
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

// writeFileAtomic writes name through a temporary file and a rename, so a
// reader never sees half a file.
func writeFileAtomic(name string, data []byte) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
