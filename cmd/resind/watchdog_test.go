package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// A stop stuck past its bound ends the process, with every goroutine's
// stack written out and the reason in the log; a stop in time does not.
func TestStopWatchdogExitsAStuckStopWithTheStacks(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var mu sync.Mutex
	var stacks bytes.Buffer
	exited := make(chan int, 1)
	w := watchdog(zap.New(core), 10*time.Millisecond, writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return stacks.Write(p)
	}), func(code int) { exited <- code })
	defer w.Stop()
	select {
	case code := <-exited:
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watchdog did not end a stop stuck past its bound")
	}
	mu.Lock()
	dump := stacks.String()
	mu.Unlock()
	if !strings.Contains(dump, "TestStopWatchdogExitsAStuckStopWithTheStacks") {
		t.Errorf("the stacks written do not show the stuck goroutine:\n%.500s", dump)
	}
	if logs.FilterMessageSnippet("stop did not finish in time").Len() != 1 {
		t.Error("the log does not say why the process exited")
	}

	quiet := watchdog(zap.NewNop(), time.Hour, &bytes.Buffer{}, func(int) { t.Error("exited after a stop in time") })
	if !quiet.Stop() {
		t.Error("the watchdog of a stop in time had already fired")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
