package admin

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestLimiterWindowSlides(t *testing.T) {
	t.Parallel()
	now := t0
	l := newLimiter(func() time.Time { return now })
	ip := netip.MustParseAddr("192.0.2.1")
	for i := 0; i < 5; i++ {
		if l.retryAfter(ip) != 0 {
			t.Fatalf("limited after %d failures", i)
		}
		l.fail(ip)
		now = now.Add(10 * time.Second)
	}
	// Failures at 0, 10, 20, 30, 40 s; now 50 s: blocked until 60 s.
	if got := l.retryAfter(ip); got != 10*time.Second {
		t.Fatalf("retryAfter = %v, want 10s", got)
	}
	now = t0.Add(61 * time.Second)
	if got := l.retryAfter(ip); got != 0 {
		t.Fatalf("after the oldest failure left the window: %v, want 0", got)
	}
	// One more failure brings it back to five within a minute.
	l.fail(ip)
	if l.retryAfter(ip) == 0 {
		t.Fatal("five failures within the minute, not limited")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	now := t0
	l := newLimiter(func() time.Time { return now })
	l.maxClients = 100
	for i := 0; i < 1000; i++ {
		l.fail(netip.MustParseAddr(fmt.Sprintf("10.0.%d.%d", i/256, i%256)))
		now = now.Add(time.Millisecond)
	}
	if n := len(l.failures); n > 100 {
		t.Fatalf("%d clients remembered, want at most 100", n)
	}
	// The newest client is remembered.
	if len(l.failures[netip.MustParseAddr("10.0.3.231")]) != 1 {
		t.Fatal("newest failure forgotten")
	}
}
