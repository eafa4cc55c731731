package app

import (
	"context"
	"net/http/httptest"
	"resind/internal/proctest"
	"strings"
	"syscall"
	"testing"
	"time"
)

func httpSpec(unix bool) Spec {
	return Spec{Command: []string{helloBin}, Dir: "/", Unix: unix, HealthPath: "/",
		HealthInterval: 100 * time.Millisecond, StartTimeout: 10 * time.Second, StopTimeout: 2 * time.Second}
}

func TestHTTPAppServesOnPortAndUnixSocket(t *testing.T) {
	t.Parallel()
	for _, unix := range []bool{false, true} {
		reg := NewRegistry(nil)
		defer reg.Close(context.Background())
		a, err := reg.HTTP(httpSpec(unix))
		if err != nil {
			t.Fatal(err)
		}
		h := a.Handler(5 * time.Second)
		r := httptest.NewRequest("GET", "/env", nil)
		r.Header.Set("X-Resin-Session-Id", "aaaXYZ")
		r.Header.Set("X-Forwarded-For", "192.0.2.1")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "session=aaaXYZ") || !strings.Contains(w.Body.String(), "forwarded-for=192.0.2.1\n") {
			t.Errorf("unix=%v: %d %q", unix, w.Code, w.Body.String())
		}
	}
}

func TestHTTPAppKilledIsRestarted(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	a, _ := reg.HTTP(httpSpec(false))
	h := a.Handler(10 * time.Second)
	first := pidOf(t, h, "/pid")
	syscall.Kill(first, syscall.SIGKILL)
	eventually(t, 10*time.Second, "a new process", func() bool { p := a.PID(); return p != 0 && p != first })
	// Requests wait for the new process rather than fail.
	if second := pidOf(t, h, "/pid"); second == first {
		t.Errorf("still %d", first)
	}
}

func TestHTTPAppAnswers504WhenSlowAnd502WhenItBreaks(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	a, _ := reg.HTTP(httpSpec(true))
	if code, body := get(a.Handler(300*time.Millisecond), "/slow?ms=3000"); code != 504 || !strings.Contains(body, "in time") {
		t.Errorf("slow: %d %q", code, body)
	}
	if code, _ := get(a.Handler(5*time.Second), "/crash"); code != 502 {
		t.Errorf("crash: %d", code)
	}
}

func TestHTTPAppCloseStopsItAndItsChildren(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	a, _ := reg.HTTP(httpSpec(false))
	h := a.Handler(5 * time.Second)
	child := pidOf(t, h, "/spawn")
	pid := a.PID()
	reg.Close(context.Background())
	for _, p := range []int{pid, child} {
		if !proctest.Exits(p, 10*time.Second) {
			t.Errorf("process %d survived Close", p)
		}
	}
	if code, _ := get(h, "/"); code != 502 {
		t.Errorf("after Close: %d", code)
	}
}

func TestHTTPAppThatNeverAnswersIsReported(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(nil)
	defer reg.Close(context.Background())
	a, _ := reg.HTTP(Spec{Command: []string{"sleep", "60"}, StartTimeout: 300 * time.Millisecond, StopTimeout: time.Second})
	code, body := get(a.Handler(time.Second), "/")
	if code != 502 || !strings.Contains(body, "sleep 60") {
		t.Errorf("%d %q", code, body)
	}
}

func TestHTTPAppFailingHealthChecksIsRestarted(t *testing.T) {
	t.Parallel()
	log, logs := observed()
	reg := NewRegistry(log)
	defer reg.Close(context.Background())
	spec := httpSpec(false)
	spec.HealthPath = "/health"
	a, _ := reg.HTTP(spec)
	h := a.Handler(10 * time.Second)
	first := pidOf(t, h, "/pid")
	if code, _ := get(h, "/sick"); code != 200 {
		t.Fatal(code)
	}
	eventually(t, 10*time.Second, "a restart after three failed checks", func() bool { p := a.PID(); return p != 0 && p != first })
	if pidOf(t, h, "/pid") == first {
		t.Error("still served by the sick process")
	}
	if logs.FilterMessage("HTTP application health check failed").Len() < 3 {
		t.Errorf("failed checks not logged: %v", logs.All())
	}
	if !proctest.Exits(first, 10*time.Second) {
		t.Errorf("sick process %d still runs", first)
	}
}
