package admin

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"resind/core"
)

func TestStatusJSONShape(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Purge: (&purgeRecorder{}).purge})
	w := serve(h, request("GET", Prefix+"/api/status", loopback, nil))
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"server_id": "web-a", "cluster_id": "web", "version": "0.1.0-test", "pid": 4242.0,
		"uptime_seconds": 5400.0, "config_file": "/etc/resin/resin.xml", "requests": 1000.0, "errors": 7.0,
		"purge_enabled": true, "now": "2025-03-01T12:00:00Z",
		"listeners": []any{"http 0.0.0.0:8080", "cluster 127.0.0.1:6800"},
		"warnings":  []any{"resin.xml:12: <foo>: unknown element, ignored"},
		"last_reload": map[string]any{"time": "2025-03-01T11:59:00Z", "ok": false,
			"error": `resin.xml:42: <server id="app-a">: port "68o0" is not a number`},
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}
	be := got["backends"].([]any)
	down := be[1].(map[string]any)
	wantDown := map[string]any{"target": "app", "id": "app-b", "address": "127.0.0.1:6802", "state": "down",
		"active": 0.0, "idle": 0.0, "requests": 390.0, "failures": 17.0, "last_failure": "2025-03-01T11:59:55Z",
		"latency_ms": 0.0, "weight": 100.0}
	if !reflect.DeepEqual(down, wantDown) {
		t.Errorf("backend = %#v\nwant %#v", down, wantDown)
	}
	if lat := be[0].(map[string]any)["latency_ms"]; lat != 12.0 {
		t.Errorf("latency_ms = %v, want 12", lat)
	}
	c := got["caches"].([]any)[0].(map[string]any)
	if c["hit_ratio"] != 0.75 || c["entries"] != 85.0 || c["memory_size"] != float64(64<<20) {
		t.Errorf("cache = %#v", c)
	}
}

func TestStatusJSONOfAFreshServerHasEmptyListsNotNull(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(core.Status{ServerID: "solo"}), Options{})
	body := serve(h, request("GET", Prefix+"/api/status", loopback, nil)).Body.String()
	for _, want := range []string{`"listeners": []`, `"backends": []`, `"caches": []`, `"warnings": []`, `"time": null`, `"purge_enabled": false`} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %s:\n%s", want, body)
		}
	}
}

func TestPurgeAPICallsPurgeWithBasicAuth(t *testing.T) {
	t.Parallel()
	rec := &purgeRecorder{}
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers(), Purge: rec.purge})

	r := request("POST", Prefix+"/api/purge", remote, url.Values{"url": {"/images/logo.png"}})
	r.SetBasicAuth("admin", "s3cret")
	w := serve(h, r)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"purged": 3`) {
		t.Fatalf("form purge: %d %s", w.Code, w.Body.String())
	}
	r = request("POST", Prefix+"/api/purge", remote, nil)
	r.Body = io.NopCloser(strings.NewReader(`{"url": "http://example.com/a?b=c"}`))
	r.Header.Set("Content-Type", "application/json")
	r.SetBasicAuth("admin", "s3cret")
	if w := serve(h, r); w.Code != 200 {
		t.Fatalf("json purge: %d %s", w.Code, w.Body.String())
	}
	if got, want := rec.got(), []string{"/images/logo.png", "http://example.com/a?b=c"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Purge got %q, want %q", got, want)
	}
}

func TestPurgeAPIRefusesWhatIsNotAURL(t *testing.T) {
	t.Parallel()
	rec := &purgeRecorder{}
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Purge: rec.purge})
	for _, bad := range []string{"", "relative/path", "ftp://x/y", "javascript:alert(1)"} {
		w := serve(h, request("POST", Prefix+"/api/purge", loopback, url.Values{"url": {bad}}))
		if w.Code != http.StatusBadRequest {
			t.Errorf("purge %q: %d, want 400", bad, w.Code)
		}
	}
	if len(rec.got()) != 0 {
		t.Fatalf("purged %q", rec.got())
	}
}

func TestPurgeFormWithSessionAndCSRFCallsPurge(t *testing.T) {
	t.Parallel()
	rec := &purgeRecorder{}
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers(), Purge: rec.purge})
	b := newBrowser(t, h, remote)
	b.login("admin", "s3cret")
	tok := b.csrf(Prefix + "/")
	w := b.post(Prefix+"/purge", url.Values{"csrf": {tok}, "url": {"/news/"}})
	if w.Code != http.StatusSeeOther {
		t.Fatalf("purge form: %d %s", w.Code, w.Body.String())
	}
	if got := rec.got(); !reflect.DeepEqual(got, []string{"/news/"}) {
		t.Fatalf("Purge got %q", got)
	}
	page := b.get(w.Header().Get("Location")).Body.String()
	if !strings.Contains(page, "Purged 3 cache entries for /news/.") {
		t.Fatalf("page after purge does not say what was purged:\n%s", page)
	}
}

func TestPurgeFormIsShownOnlyWithACache(t *testing.T) {
	t.Parallel()
	with := newTestHandler(t, newFakeSource(sampleStatus()), Options{Purge: (&purgeRecorder{}).purge})
	without := newTestHandler(t, newFakeSource(sampleStatus()), Options{})
	if !strings.Contains(serve(with, request("GET", Prefix+"/", loopback, nil)).Body.String(), `action="/resin-admin/purge"`) {
		t.Error("purge form missing with a cache")
	}
	if strings.Contains(serve(without, request("GET", Prefix+"/", loopback, nil)).Body.String(), `action="/resin-admin/purge"`) {
		t.Error("purge form shown without a cache")
	}
	if w := serve(without, request("POST", Prefix+"/api/purge", loopback, url.Values{"url": {"/"}})); w.Code != http.StatusNotFound {
		t.Errorf("purge API without a cache: %d, want 404", w.Code)
	}
}
