package cluster

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func applyAt(t *testing.T, f *fsm, index uint64, c command) *result {
	t.Helper()
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return f.Apply(&raft.Log{Index: index, Data: b}).(*result)
}

func TestRetriedWriteIsAnsweredOnceAndNotAppliedTwice(t *testing.T) {
	f := newFSM()
	now := time.Now()
	applyAt(t, f, 1, command{ID: "w1", Op: opPut, Key: "k", Value: []byte("a"), Now: now})
	cas := command{ID: "w2", Op: opCAS, Key: "k", Version: 1, Value: []byte("b"), Now: now}
	first := applyAt(t, f, 2, cas)
	again := applyAt(t, f, 3, cas) // the same request, retried after a lost answer
	if !first.OK || !again.OK || again.Entry.Version != 2 {
		t.Fatalf("first %+v, retry %+v", first, again)
	}
	if e := f.get("k").Entry; e.Version != 2 || string(e.Value) != "b" {
		t.Fatalf("entry %+v", e)
	}
	// A snapshot keeps the answers: a member restored from it answers the
	// retry alike.
	snap, _ := f.Snapshot()
	var buf bytes.Buffer
	snap.Persist(&sink{Buffer: &buf})
	g := newFSM()
	if err := g.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	if r := applyAt(t, g, 4, cas); !r.OK || r.Entry.Version != 2 {
		t.Fatalf("retry after restore %+v", r)
	}
}

func TestCommandsTable(t *testing.T) {
	now := time.Now()
	f := newFSM()
	steps := []struct {
		c      command
		ok     bool
		value  string
		absent bool
	}{
		{command{Op: opReplace, Key: "k", Value: []byte("x")}, false, "", true},
		{command{Op: opPutIfAbsent, Key: "k", Value: []byte("1")}, true, "1", false},
		{command{Op: opPutIfAbsent, Key: "k", Value: []byte("2")}, false, "1", false},
		{command{Op: opReplace, Key: "k", Value: []byte("3")}, true, "3", false},
		{command{Op: opCAS, Key: "k", Version: 99, Value: []byte("4")}, false, "3", false},
		{command{Op: opCAS, Key: "new", Version: 0, Value: []byte("n")}, true, "n", false},
		{command{Op: opDelete, Key: "k"}, true, "", true},
		{command{Op: opDelete, Key: "k"}, false, "", true},
		{command{Op: opPut, Key: "t", Value: []byte("x"), TTL: time.Minute}, true, "x", false},
		{command{Op: opTouch, Key: "absent", TTL: time.Minute}, false, "", true},
	}
	for i, st := range steps {
		st.c.Now = now
		r := applyAt(t, f, uint64(i+1), st.c)
		if r.OK != st.ok {
			t.Fatalf("step %d %s %s: ok %v, want %v", i, st.c.Op, st.c.Key, r.OK, st.ok)
		}
		g := f.get(st.c.Key)
		if g.OK == st.absent || (g.OK && string(g.Entry.Value) != st.value) {
			t.Fatalf("step %d %s %s: then %+v", i, st.c.Op, st.c.Key, g)
		}
	}
	// Expiry follows the proposer's clock: an expire command an hour on
	// drops the entry with a one-minute ttl.
	applyAt(t, f, 100, command{Op: opExpire, Now: now.Add(time.Hour)})
	f.mu.RLock()
	_, kept := f.data["t"]
	f.mu.RUnlock()
	if kept {
		t.Fatal("expired entry kept")
	}
}

// sink is a raft.SnapshotSink over a buffer.
type sink struct{ *bytes.Buffer }

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { return nil }
func (s *sink) Close() error  { return nil }
