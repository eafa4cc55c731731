package proxy

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func oneBackend(t *testing.T, recover time.Duration) (*Registry, *backend) {
	reg := newTestRegistry(t)
	to := testTimeouts()
	to.LoadBalanceRecoverTime = recover
	bl := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Timeout: to}}})
	return reg, backendOf(bl, "a")
}

func TestDownBackoffDoublesFromOneSecondUpToRecoverTime(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, 15*time.Second)
	errRefused := errors.New("connection refused")
	b.dialFailed(false, errRefused)
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 15 * time.Second, 15 * time.Second}
	for i, w := range want {
		if got := time.Duration(b.backoff.Load()); got != w {
			t.Fatalf("after %d failures: back-off %v, want %v", i+1, got, w)
		}
		// Let the back-off pass and fail the trial.
		b.until.Store(nanotime())
		ok, trial := b.acquire(nanotime())
		if !ok || !trial {
			t.Fatalf("after the back-off: acquire = %v, trial %v; want the trial", ok, trial)
		}
		b.finish()
		b.dialFailed(true, errRefused)
	}
	if got := b.failures.Load(); got != uint64(len(want)+1) {
		t.Errorf("failures = %d, want %d", got, len(want)+1)
	}
}

func TestDownBackendRefusesRequestsUntilBackoffPasses(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, 15*time.Second)
	b.dialFailed(false, errors.New("refused"))
	if ok, _ := b.acquire(nanotime()); ok {
		t.Fatal("a down backend took a request during its back-off")
	}
	if ok, _ := b.acquire(nanotime() + int64(time.Second)); !ok {
		t.Fatal("a down backend took no trial after its back-off")
	}
}

func TestOnlyOneTrialRequestAtATime(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.dialFailed(false, errors.New("refused"))
	later := nanotime() + int64(2*time.Second)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ok, _ := b.acquire(later); ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d requests took the trial, want 1", wins.Load())
	}
	if got := stateNames[b.state.Load()]; got != "recovering" {
		t.Errorf("state %s during the trial, want recovering", got)
	}
}

func TestTrialSuccessBringsBackendUpAndResetsBackoff(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.dialFailed(false, errors.New("refused"))
	ok, trial := b.acquire(nanotime() + int64(time.Hour))
	if !ok || !trial {
		t.Fatal("no trial")
	}
	b.succeeded(trial, time.Millisecond)
	b.finish()
	if got := stateNames[b.state.Load()]; got != "up" {
		t.Fatalf("state %s after a good trial, want up", got)
	}
	if b.backoff.Load() != 0 {
		t.Error("back-off kept after recovery")
	}
}

func TestAbandonedTrialLeavesBackendDownButTryable(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.dialFailed(false, errors.New("refused"))
	later := nanotime() + int64(time.Hour)
	_, trial := b.acquire(later)
	b.finish()
	b.abandon(trial)
	if ok, trial := b.acquire(later); !ok || !trial {
		t.Fatal("after a cancelled trial the next request may not try")
	}
}

func TestBusyBackendIsSkippedForBusyRecoverTime(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.markBusy(false)
	if ok, _ := b.acquire(nanotime()); ok {
		t.Fatal("busy backend took a request")
	}
	if ok, trial := b.acquire(nanotime() + int64(time.Second)); !ok || trial {
		t.Fatalf("busy backend after busy-recover-time: ok %v, trial %v", ok, trial)
	}
	if got := stateNames[b.state.Load()]; got != "up" {
		t.Errorf("state %s, want up", got)
	}
}

func TestConcurrentFailuresDoNotStretchBackoff(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, 15*time.Second)
	for range 5 {
		b.dialFailed(false, errors.New("refused"))
	}
	if got := time.Duration(b.backoff.Load()); got != time.Second {
		t.Errorf("five simultaneous failures gave back-off %v, want 1s", got)
	}
}

func TestLatencyIsAMovingAverage(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.observe(80 * time.Millisecond)
	if got := time.Duration(b.latency.Load()); got != 80*time.Millisecond {
		t.Fatalf("first sample: %v", got)
	}
	for range 50 {
		b.observe(8 * time.Millisecond)
	}
	if got := time.Duration(b.latency.Load()); got > 9*time.Millisecond {
		t.Errorf("after 50 fast responses latency is still %v", got)
	}
}

func TestRegistryKeepsStateAcrossBalancerCalls(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	first := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Weight: 100}}})
	b := backendOf(first, "a")
	b.requests.Add(7)
	tr := b.transport.Load()
	second := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Weight: 250}}})
	if backendOf(second, "a") != b || b.transport.Load() != tr {
		t.Fatal("a reload built a new backend for the same address")
	}
	if s := statusOf(reg, fakeAddr("a")); s.Requests != 7 || s.Weight != 250 {
		t.Errorf("status after reload: requests %d weight %d; want 7 and 250", s.Requests, s.Weight)
	}
}

func TestRetainForgetsUnconfiguredBackends(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a")}, {ID: "b", Address: fakeAddr("b")}}})
	reg.Retain(map[string]bool{fakeAddr("b"): true})
	st := reg.Status()
	if len(st) != 1 || st[0].ID != "b" {
		t.Fatalf("after Retain(b): %+v", st)
	}
	if reg.MarkDown(fakeAddr("a")) {
		t.Error("MarkDown knows a forgotten backend")
	}
}

func TestStatusIsSortedByTargetThenID(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	reg.Balancer(Target{Name: "web", Backends: []Backend{{ID: "z", Address: fakeAddr("1")}, {ID: "m", Address: fakeAddr("2")}}})
	reg.Balancer(Target{Name: "app", Backends: []Backend{{ID: "q", Address: fakeAddr("3")}}})
	var got []string
	for _, s := range reg.Status() {
		got = append(got, s.Target+"/"+s.ID+"/"+s.State)
	}
	want := []string{"app/q/up", "web/m/up", "web/z/up"}
	if len(got) != len(want) {
		t.Fatalf("status %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("status %v, want %v", got, want)
		}
	}
}

func TestMarkDownAndMarkUpFromHeartbeats(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a")}}})
	if !reg.MarkDown(fakeAddr("a")) || statusOf(reg, fakeAddr("a")).State != "down" {
		t.Fatal("MarkDown did not take the backend down")
	}
	if !reg.MarkUp(fakeAddr("a")) || statusOf(reg, fakeAddr("a")).State != "up" {
		t.Fatal("MarkUp did not bring the backend up")
	}
	if reg.MarkUp("nowhere:1") {
		t.Error("MarkUp of an unknown address reported success")
	}
}

func TestStaleLatencyFadesSoASlowBackendIsMeasuredAgain(t *testing.T) {
	t.Parallel()
	_, b := oneBackend(t, time.Second)
	b.observe(80 * time.Millisecond)
	sampled := b.sampled.Load()
	cases := []struct {
		age  time.Duration
		want time.Duration
	}{
		{0, 80 * time.Millisecond},
		{999 * time.Millisecond, 80 * time.Millisecond},
		{time.Second, 40 * time.Millisecond},
		{3 * time.Second, 10 * time.Millisecond},
		{time.Hour, 0},
	}
	for _, c := range cases {
		if got := b.recentLatency(sampled + int64(c.age)); got != c.want {
			t.Errorf("latency seen %v after the sample: %v, want %v", c.age, got, c.want)
		}
	}
}
