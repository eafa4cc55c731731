package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func sessionRequest(cookie, path string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if cookie != "" {
		r.Header.Set("Cookie", "JSESSIONID="+cookie)
	}
	return r
}

func TestStickySessionGoesToOwner(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		specs  []spec
		cookie string
		path   string
		want   string
	}{
		{"cookie owner", []spec{{id: "a"}, {id: "b", active: 50}, {id: "c"}}, "baaSESSION", "/", "b"},
		{"path parameter owner", []spec{{id: "a"}, {id: "b"}, {id: "c", active: 50}}, "", "/shop;jsessionid=caaSESSION", "c"},
		{"owner is a backup", []spec{{id: "a"}, {id: "z", backup: true}}, "zaaSESSION", "/", "z"},
		{"owner busy moves", []spec{{id: "a", state: stateBusy}, {id: "b"}}, "aaaSESSION", "/", "b"},
		{"no session balances", []spec{{id: "a", active: 5}, {id: "b"}}, "", "/", "b"},
		{"all down", []spec{{id: "a", state: stateDown}, {id: "b", state: stateDown}}, "aaaSESSION", "/", ""},
	}
	for _, c := range cases {
		bl := selectionBalancer(t, newTestRegistry(t), Adaptive, true, c.specs...)
		for range 3 {
			if got := pickID(bl, sessionRequest(c.cookie, c.path)); got != c.want {
				t.Errorf("%s: picked %q, want %q", c.name, got, c.want)
				break
			}
		}
	}
}

func TestNonStickyTargetIgnoresSession(t *testing.T) {
	t.Parallel()
	bl := selectionBalancer(t, newTestRegistry(t), Adaptive, false, spec{id: "a"}, spec{id: "b", active: 3})
	if got := pickID(bl, sessionRequest("baaSESSION", "/")); got != "a" {
		t.Errorf("picked %q, want the least loaded a", got)
	}
}

func TestStickySessionFailsOverToHashedBackup(t *testing.T) {
	t.Parallel()
	// Two web-tier servers with their own registries, listing the same
	// cluster in a different order, lose the owner b: each session must
	// land on the same backup on both, and sessions must spread.
	specs := []spec{{id: "a"}, {id: "b", state: stateDown}, {id: "c"}, {id: "d"}}
	reversed := []spec{specs[3], specs[2], specs[1], specs[0]}
	one := selectionBalancer(t, newTestRegistry(t), Adaptive, true, specs...)
	two := selectionBalancer(t, newTestRegistry(t), RoundRobin, true, reversed...)
	count := map[string]int{}
	for range 300 {
		id := NewSessionID(1) // owned by b
		x := pickID(one, sessionRequest(id, "/"))
		y := pickID(two, sessionRequest(id, "/"))
		if x == "b" || x == "" {
			t.Fatalf("session %s went to %q with its owner down", id, x)
		}
		if x != y {
			t.Fatalf("session %s: backup %q on one server, %q on the other", id, x, y)
		}
		if x2 := pickID(one, sessionRequest(id, "/")); x2 != x {
			t.Fatalf("session %s: backup changed from %q to %q", id, x, x2)
		}
		count[x]++
	}
	for _, id := range []string{"a", "c", "d"} {
		if count[id] < 50 {
			t.Errorf("hashed backups spread %v: %s gets too few", count, id)
		}
	}
}

func TestStickyHashedBackupStableWhenOwnerUnknown(t *testing.T) {
	t.Parallel()
	specs := []spec{{id: "a"}, {id: "b"}, {id: "c"}}
	one := selectionBalancer(t, newTestRegistry(t), Adaptive, true, specs...)
	two := selectionBalancer(t, newTestRegistry(t), Adaptive, true, specs[2], specs[0], specs[1])
	for range 100 {
		id := NewSessionID(40) // no server has index 40
		if x, y := pickID(one, sessionRequest(id, "/")), pickID(two, sessionRequest(id, "/")); x != y {
			t.Fatalf("session %s of an unknown owner: %q on one, %q on the other", id, x, y)
		}
	}
}

func TestStickyBackupMovesOnlySessionsOfLostBackend(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t)
	bl := selectionBalancer(t, reg, Adaptive, true, spec{id: "a", state: stateDown}, spec{id: "b"}, spec{id: "c"}, spec{id: "d"})
	before := map[string]string{}
	for range 200 {
		id := NewSessionID(0)
		before[id] = pickID(bl, sessionRequest(id, "/"))
	}
	d := backendOf(bl, "d")
	d.forceDown("test")
	// Keep d down for the whole check: its test back-off (50 ms) could
	// otherwise pass on a loaded machine and send a trial request to it.
	d.until.Store(nanotime() + int64(time.Hour))
	for id, was := range before {
		now := pickID(bl, sessionRequest(id, "/"))
		if was != "d" && now != was {
			t.Fatalf("session %s moved from %s to %s though %s is still up", id, was, now, was)
		}
		if was == "d" && now == "d" {
			t.Fatalf("session %s still on d, which is down", id)
		}
	}
}
