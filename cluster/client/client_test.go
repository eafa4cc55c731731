package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"resind/cluster"
	"resind/cluster/client"
	"resind/conf"
	"resind/internal/porttest"
)

// startCluster runs n servers of one cluster on loopback and returns the
// base URL of each one's cluster port.
func startCluster(t *testing.T, n int) []string {
	t.Helper()
	cl := &conf.Cluster{ID: "app"}
	for i := range n {
		port := porttest.Free(t)
		cl.Servers = append(cl.Servers, &conf.Server{ID: "app-" + strconv.Itoa(i), ClusterID: "app", Index: i,
			Address: "127.0.0.1", Port: port})
	}
	cfg := &conf.Config{Clusters: []*conf.Cluster{cl}, SystemKey: "k"}
	var urls []string
	for _, s := range cl.Servers {
		node, err := cluster.New(cluster.Options{Config: cfg, ServerID: s.ID, DataDir: t.TempDir(), Timing: cluster.FastTiming()})
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", cluster.ServerAddr(s))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: node.Handler()}
		go srv.Serve(l)
		if err := node.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			node.Stop(ctx)
			srv.Close()
		})
		urls = append(urls, "http://"+cluster.ServerAddr(s))
	}
	return urls
}

func TestSessionWrittenOnOneServerIsReadOnAnother(t *testing.T) {
	t.Parallel()
	urls := startCluster(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := client.New(urls[0], ""), client.New(urls[1], "")
	const id = "aaaSomeSessionIdOf21chars"
	if _, err := a.Session(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	if err := a.SaveSession(ctx, id, map[string]any{"user": "ann", "n": 3}); err != nil {
		t.Fatal(err)
	}
	attrs, err := b.Session(ctx, id)
	if err != nil || attrs["user"] != "ann" || attrs["n"] != float64(3) {
		t.Fatalf("read on the other server: %v %v", attrs, err)
	}
	if err := b.InvalidateSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Session(ctx, id); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("invalidated session still read: %v", err)
	}
	if err := a.SaveSession(ctx, "../etc", nil); err == nil {
		t.Fatal("a malformed session id was accepted")
	}
}

func TestCacheOperations(t *testing.T) {
	t.Parallel()
	urls := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c0, c2 := client.New(urls[0], "").Cache("prices"), client.New(urls[2], "").Cache("prices")
	v1, err := c0.Put(ctx, "sku/1", []byte("10"), 0)
	if err != nil || v1 == 0 {
		t.Fatalf("put: %d %v", v1, err)
	}
	got, ver, err := c2.Get(ctx, "sku/1")
	if err != nil || string(got) != "10" || ver != v1 {
		t.Fatalf("get on another server: %q %d %v", got, ver, err)
	}
	if _, ok, err := c2.PutIfAbsent(ctx, "sku/1", []byte("11"), 0); ok || err != nil {
		t.Fatalf("put-if-absent over a value: %v %v", ok, err)
	}
	if _, ok, _ := c2.Replace(ctx, "sku/none", []byte("1"), 0); ok {
		t.Fatal("replace of an absent key wrote")
	}
	if _, ok, _ := c2.ReplaceVersion(ctx, "sku/1", v1+99, []byte("12"), 0); ok {
		t.Fatal("replace of a stale version wrote")
	}
	v2, ok, err := c2.ReplaceVersion(ctx, "sku/1", v1, []byte("12"), 0)
	if !ok || err != nil || v2 <= v1 {
		t.Fatalf("replace of the current version: %d %v %v", v2, ok, err)
	}
	if got, _, _ := c0.Get(ctx, "sku/1"); string(got) != "12" {
		t.Fatalf("after replace: %q", got)
	}
	if ok, err := c0.Remove(ctx, "sku/1"); !ok || err != nil {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if _, _, err := c2.Get(ctx, "sku/1"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("removed key: %v", err)
	}
	if _, err := c0.Put(ctx, "short", []byte("x"), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := c2.Get(ctx, "short")
		if errors.Is(err, client.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the entry did not expire")
		}
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
