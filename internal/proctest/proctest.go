// Package proctest tells tests whether a process resind started, or one
// that process started, still runs.
package proctest

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Alive reports whether pid exists and is not a zombie (dead, waiting for
// its parent to reap it).
func Alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// Exits waits up to d for pid to stop being Alive and reports whether it
// did. A SIGKILL takes effect when the process next runs, not when kill(2)
// returns, so a test that has just had a process killed asks this rather
// than Alive.
func Exits(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}
