package cluster

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"resind/conf"
)

// call makes a request to the cluster port of server i.
func (tc *testCluster) call(i int, method, path, body string, hdr ...string) (int, string) {
	tc.t.Helper()
	req, err := http.NewRequest(method, "http://"+ServerAddr(tc.cfg.Clusters[0].Servers[i])+path, bytes.NewBufferString(body))
	if err != nil {
		tc.t.Fatal(err)
	}
	for j := 0; j+1 < len(hdr); j += 2 {
		req.Header.Set(hdr[j], hdr[j+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tc.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOwnerServesItsSessionWhenTheTriadIsGone(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 4, "")
	const id = "daaOwnedByTheFourthServer"
	if code, body := tc.call(3, "PUT", SessionPath+id, `{"user":"bo"}`); code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for i := range 3 {
		tc.crash(i)
	}
	start := time.Now()
	code, body := tc.call(3, "GET", SessionPath+id, "")
	if code != 200 || body != `{"user":"bo"}` {
		t.Fatalf("the owner without its triad: %d %q", code, body)
	}
	t.Logf("answered from the owner's copy after %s", time.Since(start).Round(time.Millisecond))
	if code, _ := tc.call(3, "GET", SessionPath+"daaNeverWritten", ""); code != http.StatusServiceUnavailable {
		t.Errorf("unknown session without a triad: %d, want 503", code)
	}
}

func TestConfiguredCacheExpiresEntries(t *testing.T) {
	t.Parallel()
	tc := newTestCluster(t, 1, "")
	// Reconfigured in place before any cache request: the web-app's
	// <resin:ClusterCache name="short" modified-expire-timeout="1s">.
	tc.cfg.Clusters[0].Hosts = []*conf.Host{{WebApps: []*conf.WebApp{{Caches: []*conf.ClusterCache{
		{Name: "short", ModifiedExpireTimeout: time.Second}}}}}}
	if code, body := tc.call(0, "PUT", CachePath+"short/k", "v"); code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, _ := tc.call(0, "PUT", CachePath+"forever/k", "v"); code != http.StatusNoContent {
		t.Fatalf("PUT to an unconfigured cache: %d", code)
	}
	// The entry carries the configured expiry (read from the store, as a
	// GET on a loaded machine may come after it).
	if e, ok, err := tc.nodes[0].Store().Get(ctxT(t), "cache/short/k"); err != nil || (ok && (e.Expires.IsZero() || time.Until(e.Expires) > time.Second)) {
		t.Fatalf("entry of the configured cache: %+v %v", e, err)
	}
	if e, ok, _ := tc.nodes[0].Store().Get(ctxT(t), "cache/forever/k"); !ok || !e.Expires.IsZero() {
		t.Fatalf("entry of an unconfigured cache: %+v %v", e, ok)
	}
	eventually(t, 5*time.Second, "the entry of the configured cache expires", func() error {
		if code, _ := tc.call(0, "GET", CachePath+"short/k", ""); code != http.StatusNotFound {
			return fmtErr("status %d", code)
		}
		return nil
	})
	if code, _ := tc.call(0, "GET", CachePath+"forever/k", ""); code != 200 {
		t.Fatalf("the unconfigured cache's entry: %d", code)
	}
	if code, _ := tc.call(0, "PUT", CachePath+"short/k", "v", "If-Match", "*"); code != http.StatusPreconditionFailed {
		t.Errorf("replace of an expired entry: %d, want 412", code)
	}
	if code, _ := tc.call(0, "GET", "/resin/cache/bad name/k", ""); code != http.StatusBadRequest {
		t.Errorf("bad cache name: %d", code)
	}
}

func TestSessionTimeoutIsTheLongestOfThePersistentWebApps(t *testing.T) {
	app := func(persistent bool, d time.Duration) *conf.WebApp {
		return &conf.WebApp{Session: &conf.SessionConfig{UsePersistentStore: persistent, Timeout: d}}
	}
	cfg := func(apps ...*conf.WebApp) *conf.Config {
		return &conf.Config{Clusters: []*conf.Cluster{{ID: "app", Hosts: []*conf.Host{{WebApps: apps}}}}}
	}
	for _, c := range []struct {
		name string
		cfg  *conf.Config
		want time.Duration
	}{
		{"no persistent web-app: Resin's default", cfg(app(false, time.Minute)), 30 * time.Minute},
		{"one", cfg(app(true, 10*time.Minute)), 10 * time.Minute},
		{"the longest", cfg(app(true, 10*time.Minute), app(true, time.Hour), app(false, 5*time.Hour)), time.Hour},
		{"never (-1) wins", cfg(app(true, 10*time.Minute), app(true, 0)), 0},
	} {
		if got := sessionTTL(c.cfg, "app"); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func BenchmarkStorePutFromAClient(b *testing.B) {
	tc := newTestCluster(b, 4, "k")
	st := tc.nodes[3].Store()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := st.Put(ctx, "bench", []byte("value"), 0); err != nil {
			b.Fatal(err)
		}
	}
}
