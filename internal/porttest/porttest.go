// Package porttest hands out loopback ports for tests that must write a
// port into a configuration before the server that binds it starts.
//
// A port the kernel picked for "127.0.0.1:0" is an ephemeral port: the
// same range outgoing connections take their local ports from, so under a
// busy test run another test's client can take it between the moment it is
// chosen and the moment the server binds it ("address already in use").
// Free chooses below the ephemeral range instead, where nothing is
// assigned implicitly, and checks that the port can be bound right now.
package porttest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const lowest = 10000

var (
	mu     sync.Mutex
	issued = map[int]bool{} // never hand a port out twice in one test binary
)

// Free returns a port on 127.0.0.1 that nothing listens on, chosen below
// the kernel's ephemeral port range.
func Free(t testing.TB) int {
	t.Helper()
	return FreeOn(t, "127.0.0.1")
}

// FreeOn is Free for another local address (127.0.0.2, a namespace's).
func FreeOn(t testing.TB, host string) int {
	t.Helper()
	high := ephemeralLow()
	mu.Lock()
	defer mu.Unlock()
	for range 1000 {
		p := lowest + rand.IntN(high-lowest)
		if issued[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		issued[p] = true
		return p
	}
	t.Fatalf("no free port on %s in [%d, %d)", host, lowest, high)
	return 0
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil || n <= lowest+1000 {
		return 32768
	}
	return n
}

// Dial opens a connection to addr for a test that speaks raw bytes: closed
// when the test ends, and with a 10 s deadline so that a server that never
// answers fails the test instead of hanging it.
func Dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}
