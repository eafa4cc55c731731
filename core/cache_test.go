package core

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"resind/conf"
)

// cachedSite is web-a with <proxy-cache> and an HttpProxy of /dyn/ to a
// backend that counts its requests and answers fresh for a minute.
func cachedSite(t *testing.T, pc *conf.ProxyCache) (*conf.Config, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		fmt.Fprintf(w, "answer %d", n)
	}))
	t.Cleanup(be.Close)
	hp := testRule(conf.HttpProxy, `^/dyn/`, "")
	hp.Backends = []conf.Backend{{Address: be.Listener.Addr().String(), Weight: 100}}
	cfg := testConfig(testHost("", nil, testApp("", t.TempDir(), hp)))
	cfg.Clusters[0].ProxyCache = pc
	return cfg, &hits
}

func TestProxyCacheAnswersRepeatsWithoutTheBackend(t *testing.T) {
	t.Parallel()
	cfg, hits := cachedSite(t, &conf.ProxyCache{MemorySize: 1 << 20})
	s := newServer(t, cfg)
	base := startServer(t, s)

	resp, body := get(t, base+"/dyn/a")
	if body != "answer 1" || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first GET = %q X-Cache %q", body, resp.Header.Get("X-Cache"))
	}
	resp, body = get(t, base+"/dyn/a")
	if body != "answer 1" || resp.Header.Get("X-Cache") != "HIT" || hits.Load() != 1 {
		t.Fatalf("second GET = %q X-Cache %q, backend asked %d times", body, resp.Header.Get("X-Cache"), hits.Load())
	}
	st := s.Status().Caches
	if len(st) != 1 || st[0].Hits != 1 || st[0].Misses != 1 || st[0].Entries != 1 || st[0].Cluster != "web" {
		t.Errorf("Status().Caches = %+v", st)
	}

	// A reload with the same settings keeps what is cached.
	if err := s.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, base+"/dyn/a"); resp.Header.Get("X-Cache") != "HIT" {
		t.Errorf("after a reload X-Cache = %q, want HIT", resp.Header.Get("X-Cache"))
	}

	// Purge takes it out.
	if n, err := s.Purge("/dyn/a"); n != 1 || err != nil {
		t.Errorf("Purge = %d, %v", n, err)
	}
	if _, body := get(t, base+"/dyn/a"); body != "answer 2" {
		t.Errorf("after purge GET = %q, want the backend's second answer", body)
	}
}

func TestProxyCacheChangedOrRemovedByReload(t *testing.T) {
	t.Parallel()
	cfg, hits := cachedSite(t, &conf.ProxyCache{MemorySize: 1 << 20})
	s := newServer(t, cfg)
	base := startServer(t, s)
	get(t, base+"/dyn/b")
	old := s.cache.Load()

	// New settings: a new, empty cache; the old one is closed.
	next := *cfg
	next.Clusters = []*conf.Cluster{ptr(*cfg.Clusters[0])}
	next.Clusters[0].ProxyCache = &conf.ProxyCache{MemorySize: 2 << 20}
	if err := s.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if !old.closed.Load() {
		t.Error("the replaced cache is still open")
	}
	if resp, _ := get(t, base+"/dyn/b"); resp.Header.Get("X-Cache") != "MISS" || hits.Load() != 2 {
		t.Errorf("after new settings X-Cache = %q, backend asked %d times", resp.Header.Get("X-Cache"), hits.Load())
	}

	// No <proxy-cache>: responses pass uncached, purge says so.
	next.Clusters[0].ProxyCache = nil
	if err := s.Apply(&next); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(t, base+"/dyn/b"); resp.Header.Get("X-Cache") != "" || hits.Load() != 3 {
		t.Errorf("without a cache X-Cache = %q, backend asked %d times", resp.Header.Get("X-Cache"), hits.Load())
	}
	if _, err := s.Purge("/dyn/b"); err == nil || s.Status().Caches != nil {
		t.Errorf("purge without a cache: %v; caches %+v", err, s.Status().Caches)
	}
}

func ptr[T any](v T) *T { return &v }
