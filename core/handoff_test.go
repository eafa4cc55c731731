package core

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestHandoffKeepsTheSocketListeningBetweenProcesses does within one
// process what a restart in place does across two: a client that connects
// while neither server accepts waits in the queue and is answered by the
// successor.
func TestHandoffKeepsTheSocketListeningBetweenProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.txt": "served"})
	cfg := testConfig(testHost("", nil, testApp("", dir)))
	old := newServer(t, cfg)
	if err := old.Listen(); err != nil {
		t.Fatal(err)
	}
	httpAddr := addrOf(t, old, "http")
	files, err := old.ListenerFiles()
	if err != nil || len(files) != 2 {
		t.Fatalf("ListenerFiles = %v, %v", files, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := old.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Nobody accepts now, yet the socket listens: the connection queues.
	conn, err := net.DialTimeout("tcp", httpAddr, 2*time.Second)
	if err != nil {
		t.Fatalf("connect between the two servers: %v", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}

	inherited := map[string]net.Listener{}
	for key, f := range files {
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		inherited[key] = ln
	}
	next, err := New(cfg, Options{ServerID: "web-a", DataDir: t.TempDir(), Log: old.log, Inherited: inherited})
	if err != nil {
		t.Fatal(err)
	}
	base := startServer(t, next)
	if !strings.HasSuffix(base, httpAddr) {
		t.Errorf("the successor listens on %s, want the inherited %s", base, httpAddr)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the queued request: %v", err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("the queued request = %d, want 200", resp.StatusCode)
	}
}
