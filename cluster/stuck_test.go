package cluster

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestStuckStopStepLeavesTheStacks: a stop step that gives up says so in
// the log and leaves every goroutine's stack where the operator finds it
// (stderr, the server's ID.out), the goroutine that held it among them.
func TestStuckStopStepLeavesTheStacks(t *testing.T) {
	var out bytes.Buffer
	old := stuckStacks
	stuckStacks = &out
	t.Cleanup(func() { stuckStacks = old })

	block, held := make(chan struct{}), make(chan struct{})
	defer close(block)
	go holdsTheStop(held, block)
	<-held

	core, logs := observer.New(zap.InfoLevel)
	n := &Node{log: zap.New(core)}
	n.stuck("raft did not shut down in time")

	entries := logs.FilterMessage("raft did not shut down in time; the goroutines are on stderr").All()
	if len(entries) != 1 || entries[0].Level != zap.ErrorLevel {
		t.Errorf("log entries %+v, want one error saying the goroutines are on stderr", logs.All())
	}
	if !strings.Contains(out.String(), "goroutine ") || !strings.Contains(out.String(), "holdsTheStop") {
		t.Errorf("stderr got %d bytes without the goroutine that holds the stop:\n%.2000s", out.Len(), out.String())
	}
}

// holdsTheStop stands for a library call a stop waits on: it says it is
// in, then blocks.
//
//go:noinline
func holdsTheStop(held, block chan struct{}) {
	close(held)
	<-block
}
