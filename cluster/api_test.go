package cluster

import (
	"bytes"
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
	if code, body := tc.call(0, "GET", CachePath+"short/k", ""); code != 200 || body != "v" {
		t.Fatalf("GET before expiry: %d %q", code, body)
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
