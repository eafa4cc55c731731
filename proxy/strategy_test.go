package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdaptivePicksLeastCost(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		specs []spec
		want  string // "" when none is available
	}{
		{"fewest active requests", []spec{{id: "a", active: 3}, {id: "b", active: 1}, {id: "c", active: 2}}, "b"},
		{"lower latency", []spec{{id: "a", latency: 80 * time.Millisecond}, {id: "b", latency: 5 * time.Millisecond}}, "b"},
		{"active outweighs latency", []spec{{id: "a", active: 2}, {id: "b", latency: 50 * time.Millisecond}}, "b"},
		{"heavier weight carries more", []spec{{id: "a", weight: 300, active: 1}, {id: "b", weight: 100}}, "a"},
		{"lighter weight still takes its share", []spec{{id: "a", weight: 50}, {id: "b", weight: 100, active: 2}}, "a"},
		{"lighter weight saturates sooner", []spec{{id: "a", weight: 50, active: 1}, {id: "b", weight: 100, active: 2}}, "b"},
		{"down skipped", []spec{{id: "a", state: stateDown}, {id: "b", active: 9}}, "b"},
		{"busy skipped", []spec{{id: "a", state: stateBusy}, {id: "b", active: 9}}, "b"},
		{"backup idle but unused", []spec{{id: "a", active: 50}, {id: "z", backup: true}}, "a"},
		{"backup when primaries down", []spec{{id: "a", state: stateDown}, {id: "b", state: stateBusy}, {id: "z", backup: true, active: 7}}, "z"},
		{"least cost among backups", []spec{{id: "a", state: stateDown}, {id: "y", backup: true, active: 2}, {id: "z", backup: true}}, "z"},
		{"none left", []spec{{id: "a", state: stateDown}, {id: "z", backup: true, state: stateDown}}, ""},
	}
	for _, c := range cases {
		for _, strategy := range []Strategy{Adaptive, ""} {
			bl := selectionBalancer(t, newTestRegistry(t), strategy, false, c.specs...)
			if got := pickID(bl, httptest.NewRequest(http.MethodGet, "/", nil)); got != c.want {
				t.Errorf("%s (strategy %q): picked %q, want %q", c.name, strategy, got, c.want)
			}
		}
	}
}

func TestAdaptiveRotatesAmongTies(t *testing.T) {
	t.Parallel()
	bl := selectionBalancer(t, newTestRegistry(t), Adaptive, false, spec{id: "a"}, spec{id: "b"}, spec{id: "c"})
	count := map[string]int{}
	for range 30 {
		count[pickID(bl, httptest.NewRequest(http.MethodGet, "/", nil))]++
	}
	for _, id := range []string{"a", "b", "c"} {
		if count[id] != 10 {
			t.Errorf("equal idle backends got %v, want 10 each", count)
			break
		}
	}
}

func TestAdaptiveSpreadsConcurrentRequests(t *testing.T) {
	t.Parallel()
	bl := selectionBalancer(t, newTestRegistry(t), Adaptive, false, spec{id: "a"}, spec{id: "b", weight: 200})
	// Requests that stay active: weight 200 takes twice as many.
	count := map[string]int{}
	for range 30 {
		var tried triedSet
		i, _ := bl.pick(httptest.NewRequest(http.MethodGet, "/", nil), &tried)
		count[bl.members[i].b.cfg.Load().id]++
	}
	if count["a"] != 10 || count["b"] != 20 {
		t.Errorf("held requests spread %v, want a:10 b:20", count)
	}
}

func TestRoundRobinFollowsWeights(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		specs []spec
		want  string // the sequence of picks
	}{
		{"equal weights rotate", []spec{{id: "a"}, {id: "b"}, {id: "c"}}, "abcabc"},
		{"2:1", []spec{{id: "a", weight: 200}, {id: "b", weight: 100}}, "abaaba"},
		{"load ignored", []spec{{id: "a", active: 40}, {id: "b"}}, "abab"},
		{"down skipped", []spec{{id: "a"}, {id: "b", state: stateDown}, {id: "c"}}, "acac"},
		{"backup only when primaries down", []spec{{id: "a", state: stateDown}, {id: "y", backup: true}, {id: "z", backup: true}}, "yzyz"},
		{"backup unused", []spec{{id: "a"}, {id: "z", backup: true}}, "aaaa"},
	}
	for _, c := range cases {
		bl := selectionBalancer(t, newTestRegistry(t), RoundRobin, false, c.specs...)
		var got strings.Builder
		for range len(c.want) {
			id := pickID(bl, httptest.NewRequest(http.MethodGet, "/", nil))
			if id == "" {
				id = "-"
			}
			got.WriteString(id)
		}
		if got.String() != c.want {
			t.Errorf("%s: picked %s, want %s", c.name, got.String(), c.want)
		}
	}
}

func TestWarmUpRampsEffectiveWeight(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	to := testTimeouts()
	to.LoadBalanceWarmupTime = 10 * time.Second
	bl := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Weight: 100, Timeout: to}}})
	b := backendOf(bl, "a")
	cases := []struct {
		since time.Duration
		want  int64
	}{
		{0, 1},
		{time.Second, 10},
		{5 * time.Second, 50},
		{9 * time.Second, 90},
		{10 * time.Second, 100},
		{time.Hour, 100},
	}
	for _, c := range cases {
		now := int64(time.Hour) * 2
		b.upSince.Store(now - int64(c.since))
		if got := b.effectiveWeight(100, now); got != c.want {
			t.Errorf("%v after recovery: weight %d, want %d", c.since, got, c.want)
		}
	}
	if b.upSince.Load() != 0 {
		t.Error("a fully warm backend still counts as warming")
	}
}

// warmingShare recovers a of {a, b} with an hour of warm-up, picks 50
// requests and returns how many went to a. Held requests stay in flight;
// otherwise each finishes before the next is picked.
func warmingShare(t *testing.T, held bool) int {
	reg := newTestRegistry(t)
	to := testTimeouts()
	to.LoadBalanceWarmupTime = time.Hour
	bl := reg.Balancer(Target{Name: "c", Backends: []Backend{
		{ID: "a", Address: fakeAddr("a"), Timeout: to},
		{ID: "b", Address: fakeAddr("b"), Timeout: to},
	}})
	reg.MarkDown(fakeAddr("a"))
	reg.MarkUp(fakeAddr("a"))
	n := 0
	for range 50 {
		var tried triedSet
		i, _ := bl.pick(httptest.NewRequest(http.MethodGet, "/", nil), &tried)
		if bl.members[i].b.cfg.Load().id == "a" {
			n++
		}
		if !held {
			bl.members[i].b.finish()
		}
	}
	return n
}

func TestRecoveredBackendWarmsUpBeforeTakingItsShare(t *testing.T) {
	t.Parallel()
	// Held requests: a, just recovered, may hold one at a time.
	if n := warmingShare(t, true); n > 1 {
		t.Errorf("warming backend took %d of 50 held requests", n)
	}
}

func TestRecoveredBackendIsNotStarvedWhileWarmingUp(t *testing.T) {
	t.Parallel()
	// Requests that finish one at a time: the warming backend is under its
	// limit of one and takes its share at once.
	if n := warmingShare(t, false); n < 20 {
		t.Errorf("warming backend took %d of 50 sequential requests, want about half", n)
	}
}

func TestWarmUpLimitDoubles(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	to := testTimeouts()
	to.LoadBalanceWarmupTime = 8 * time.Second
	bl := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Timeout: to}}})
	b := backendOf(bl, "a")
	for _, c := range []struct {
		since time.Duration
		want  int64
	}{{0, 1}, {time.Second, 2}, {4 * time.Second, 16}, {7 * time.Second, 128}, {8 * time.Second, 0}} {
		now := int64(time.Hour) * 2
		b.upSince.Store(now - int64(c.since))
		if got := b.warmCap(now); got != c.want {
			t.Errorf("%v after recovery: limit %d, want %d", c.since, got, c.want)
		}
	}
}

func TestWarmingBackendOverItsLimitRatherThan503(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	to := testTimeouts()
	to.LoadBalanceWarmupTime = time.Hour
	bl := reg.Balancer(Target{Name: "c", Backends: []Backend{{ID: "a", Address: fakeAddr("a"), Timeout: to}}})
	reg.MarkDown(fakeAddr("a"))
	reg.MarkUp(fakeAddr("a"))
	for n := range 3 {
		var tried triedSet
		if i, _ := bl.pick(httptest.NewRequest(http.MethodGet, "/", nil), &tried); i < 0 {
			t.Fatalf("request %d: no backend while the only one warms up", n+1)
		}
	}
}

func BenchmarkAdaptivePick(b *testing.B) {
	bl := selectionBalancer(b, NewRegistry(nil), Adaptive, false,
		spec{id: "a"}, spec{id: "b"}, spec{id: "c"}, spec{id: "d"}, spec{id: "z", backup: true})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pickID(bl, r)
		}
	})
}

func BenchmarkRoundRobinPick(b *testing.B) {
	bl := selectionBalancer(b, NewRegistry(nil), RoundRobin, false,
		spec{id: "a"}, spec{id: "b"}, spec{id: "c"}, spec{id: "d"}, spec{id: "z", backup: true})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pickID(bl, r)
		}
	})
}

func BenchmarkStickyPick(b *testing.B) {
	bl := selectionBalancer(b, NewRegistry(nil), Adaptive, true,
		spec{id: "a"}, spec{id: "b", state: stateDown}, spec{id: "c"}, spec{id: "d"})
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "JSESSIONID="+NewSessionID(1))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pickID(bl, r)
		}
	})
}
