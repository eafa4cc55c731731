package cluster

import (
	"testing"
	"time"
)

func TestTriadFormsAndReplicates(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4, "")
	for i := range tc.nodes {
		eventually(t, 30*time.Second, "every member sees the others alive", func() error {
			for _, m := range tc.nodes[i].Members() {
				if m.State != StateAlive {
					return fmtErr("%s sees %s %s", tc.nodes[i].self.ID, m.ID, m.State)
				}
			}
			return nil
		})
	}
	// app-3 is outside the triad: its writes go to the leader.
	if tc.nodes[3].InTriad() {
		t.Fatal("the fourth server is in the triad")
	}
	if _, err := tc.nodes[3].Store().Put(ctxT(t), "k", []byte("v1"), 0); err != nil {
		t.Fatal(err)
	}
	if st := tc.nodes[3].Status(); st.Leader == "" || st.RaftState != "" || tc.member(3, st.Leader).Triad != true {
		t.Errorf("a client's view of the triad: leader %q, raft %q", st.Leader, st.RaftState)
	}
	for i, n := range tc.nodes {
		e, ok, err := n.Store().Get(ctxT(t), "k")
		if err != nil || !ok || string(e.Value) != "v1" {
			t.Fatalf("node %d reads %q %v %v", i, e.Value, ok, err)
		}
	}
}

func TestCrashedServerIsSeenDeadAndRejoinsWithMissedState(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 3, "secret")
	ctx := ctxT(t)
	if _, err := tc.nodes[0].Store().Put(ctx, "before", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "app-2 alive on app-0", func() error {
		if m := tc.member(0, "app-2"); m.State != StateAlive || m.LastHeartbeat.IsZero() {
			return fmtErr("%+v", m)
		}
		return nil
	})
	start := time.Now()
	tc.crash(2)
	eventually(t, 30*time.Second, "app-2 dead on app-0", func() error {
		if m := tc.member(0, "app-2"); m.State != StateDead {
			return fmtErr("%s", m.State)
		}
		return nil
	})
	t.Logf("crash seen dead after %s", time.Since(start).Round(time.Millisecond))
	if hb := tc.member(0, "app-2").LastHeartbeat; hb.After(start) {
		t.Errorf("last heartbeat %s is after the crash at %s", hb, start)
	}
	// Two of three still make a quorum.
	if _, err := tc.nodes[1].Store().Put(ctx, "during", []byte("2"), 0); err != nil {
		t.Fatal(err)
	}
	tc.start(2)
	eventually(t, 30*time.Second, "app-2 alive again on app-0", func() error {
		if m := tc.member(0, "app-2"); m.State != StateAlive {
			return fmtErr("%s", m.State)
		}
		return nil
	})
	eventually(t, 30*time.Second, "app-2's own copy has what it missed", func() error {
		for _, k := range []string{"before", "during"} {
			if r := tc.nodes[2].fsm.get(k); !r.OK {
				return fmtErr("%s missing", k)
			}
		}
		return nil
	})
}

func TestStoppedServerIsSeenLeft(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2, "")
	eventually(t, 30*time.Second, "app-1 alive", func() error {
		if m := tc.member(0, "app-1"); m.State != StateAlive {
			return fmtErr("%s", m.State)
		}
		return nil
	})
	tc.stop(1)
	eventually(t, 30*time.Second, "app-1 left", func() error {
		if m := tc.member(0, "app-1"); m.State != StateLeft {
			return fmtErr("%s", m.State)
		}
		return nil
	})
}

// A server stopped just after it started may not yet have heard from a
// member that already counts it alive; its goodbye must reach that member
// all the same, or the member reports it dead.
func TestServerStoppedBeforeItSawAPeerIsSeenLeft(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2, "")
	eventually(t, 30*time.Second, "app-1 alive", func() error {
		if m := tc.member(0, "app-1"); m.State != StateAlive {
			return fmtErr("%s", m.State)
		}
		return nil
	})
	tab := tc.nodes[1].table
	tab.mu.Lock()
	tab.members["app-0"].State = StateUnknown
	tab.mu.Unlock()
	tc.stop(1)
	eventually(t, 30*time.Second, "app-1 left", func() error {
		if m := tc.member(0, "app-1"); m.State != StateLeft {
			return fmtErr("%s", m.State)
		}
		return nil
	})
}

func TestOneServerIsItsOwnTriad(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1, "")
	ctx := ctxT(t)
	e, err := tc.nodes[0].Store().Put(ctx, "a", []byte("x"), 0)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := tc.nodes[0].Store().Get(ctx, "a")
	if err != nil || !ok || got.Version != e.Version || string(got.Value) != "x" {
		t.Fatalf("%+v %v %v", got, ok, err)
	}
	st := tc.nodes[0].Status()
	if st.Leader != "app-0" || len(st.Triad) != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestStoreConditionalWritesAndExpiry(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 2, "")
	st := tc.nodes[1].Store()
	ctx := ctxT(t)
	e1, ok, err := st.PutIfAbsent(ctx, "c", []byte("1"), 0)
	if err != nil || !ok {
		t.Fatalf("first put-if-absent: %v %v", ok, err)
	}
	if cur, ok, _ := st.PutIfAbsent(ctx, "c", []byte("2"), 0); ok || string(cur.Value) != "1" {
		t.Fatalf("second put-if-absent wrote or hid the present value: %v %q", ok, cur.Value)
	}
	if _, ok, _ := st.Replace(ctx, "absent", []byte("x"), 0); ok {
		t.Fatal("replace wrote an absent key")
	}
	if _, ok, _ := st.CompareAndSwap(ctx, "c", e1.Version+1000, []byte("3"), 0); ok {
		t.Fatal("compare-and-swap with a wrong version wrote")
	}
	e3, ok, err := st.CompareAndSwap(ctx, "c", e1.Version, []byte("3"), 0)
	if err != nil || !ok || e3.Version <= e1.Version {
		t.Fatalf("compare-and-swap: %v %v %+v", ok, err, e3)
	}
	if ok, _ := st.Delete(ctx, "c"); !ok {
		t.Fatal("delete of a present key reported absent")
	}
	if _, ok, _ := st.Get(ctx, "c"); ok {
		t.Fatal("deleted key still there")
	}
	if _, err := st.Put(ctx, "ttl", []byte("x"), 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := st.Get(ctx, "ttl"); !ok {
		t.Fatal("entry gone before its ttl")
	}
	eventually(t, 5*time.Second, "the entry expires", func() error {
		if _, ok, _ := st.Get(ctx, "ttl"); ok {
			return errNotYet
		}
		return nil
	})
}

func TestWatchSeesPutsAndDeletesFromAnotherServer(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4, "k")
	ctx := ctxT(t)
	if _, err := tc.nodes[0].Store().Put(ctx, "deploy/a", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	for _, watcher := range []int{1, 3} { // a triad member and a client
		ch := tc.nodes[watcher].Store().Watch(ctx, "deploy/")
		// waitFor reads events until one matches: a watch reports states,
		// and a triad member's copy may show one a moment late.
		waitFor := func(what string, match func(Event) bool) {
			t.Helper()
			timeout := time.After(30 * time.Second)
			for {
				select {
				case e, ok := <-ch:
					if !ok {
						t.Fatal("watch closed")
					}
					if e.Entry.Key == "other" {
						t.Fatalf("watcher %d: event outside the prefix: %+v", watcher, e)
					}
					if match(e) {
						return
					}
				case <-timeout:
					t.Fatalf("watcher %d: no %s event", watcher, what)
				}
			}
		}
		waitFor("initial", func(e Event) bool { return e.Kind == EventPut && e.Entry.Key == "deploy/a" })
		e, _ := tc.nodes[2].Store().Put(ctx, "deploy/b", []byte("2"), 0)
		tc.nodes[2].Store().Put(ctx, "other", []byte("x"), 0)
		waitFor("put", func(ev Event) bool {
			return ev.Kind == EventPut && ev.Entry.Key == "deploy/b" && ev.Entry.Version == e.Version && string(ev.Entry.Value) == "2"
		})
		tc.nodes[0].Store().Delete(ctx, "deploy/b")
		waitFor("delete", func(ev Event) bool { return ev.Kind == EventDelete && ev.Entry.Key == "deploy/b" })
	}
}
