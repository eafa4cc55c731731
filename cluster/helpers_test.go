package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"resind/conf"
	"resind/internal/porttest"
)

// testCluster is n servers of one cluster on loopback, each an HTTP
// server on its own cluster port answering Node.Handler.
type testCluster struct {
	t     testing.TB
	cfg   *conf.Config
	nodes []*Node
	srvs  []*http.Server
	dirs  []string
}

func newTestCluster(t testing.TB, n int, key string) *testCluster {
	t.Helper()
	tc := &testCluster{t: t, nodes: make([]*Node, n), srvs: make([]*http.Server, n)}
	cl := &conf.Cluster{ID: "app"}
	for i := range n {
		port := porttest.Free(t)
		cl.Servers = append(cl.Servers, &conf.Server{ID: "app-" + strconv.Itoa(i), ClusterID: "app", Index: i,
			Address: "127.0.0.1", Port: port})
		tc.dirs = append(tc.dirs, t.TempDir())
	}
	tc.cfg = &conf.Config{Clusters: []*conf.Cluster{cl}, SystemKey: key}
	for i := range n {
		tc.start(i)
	}
	t.Cleanup(func() {
		for i := range tc.nodes {
			tc.stop(i)
		}
	})
	return tc
}

// start runs server i (again).
func (tc *testCluster) start(i int) {
	tc.t.Helper()
	s := tc.cfg.Clusters[0].Servers[i]
	n, err := New(Options{Config: tc.cfg, ServerID: s.ID, DataDir: tc.dirs[i], Log: zaptest.NewLogger(tc.t).Named(s.ID),
		Timing: FastTiming()})
	if err != nil {
		tc.t.Fatal(err)
	}
	var l net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l, err = net.Listen("tcp", ServerAddr(s)); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port of a stopped server is being released
	}
	if err != nil {
		tc.t.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler()}
	go srv.Serve(l)
	if err := n.Start(); err != nil {
		srv.Close()
		tc.t.Fatal(err)
	}
	tc.nodes[i], tc.srvs[i] = n, srv
}

// stop stops server i gracefully (it leaves the cluster).
func (tc *testCluster) stop(i int) {
	if tc.nodes[i] == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tc.nodes[i].Stop(ctx)
	tc.srvs[i].Close()
	tc.nodes[i], tc.srvs[i] = nil, nil
}

// crash stops server i without a goodbye: its port closes, its streams
// break, its raft stops, as when the process is killed.
func (tc *testCluster) crash(i int) {
	n := tc.nodes[i]
	tc.srvs[i].Close()
	n.mux.close()
	close(n.stop)
	if n.raft != nil {
		n.raft.Shutdown().Error()
		n.bolt.Close()
		n.trans.Close()
	}
	n.ml.Shutdown()
	n.wg.Wait()
	n.stopped.Store(true)
	tc.nodes[i], tc.srvs[i] = nil, nil
}

// member is what node i knows of server id.
func (tc *testCluster) member(i int, id string) MemberStatus {
	for _, m := range tc.nodes[i].Members() {
		if m.ID == id {
			return m
		}
	}
	tc.t.Fatalf("no member %s", id)
	return MemberStatus{}
}

func (tc *testCluster) leader() int {
	for i, n := range tc.nodes {
		if n != nil && n.raft != nil && n.Status().RaftState == "Leader" {
			return i
		}
	}
	return -1
}

func eventually(t *testing.T, within time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %v", within, what, err)
		}
		time.Sleep(20 * time.Millisecond) // poll interval; cond is the synchronisation
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var errNotYet = errors.New("not yet")

func fmtErr(format string, a ...any) error { return fmt.Errorf(format, a...) }
