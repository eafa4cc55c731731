package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const cacheConf = `<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="web">
    <proxy-cache memory-size="4M"/>
    <server id="web-a" address="127.0.0.1" port="{{.Cluster}}">
      <http address="127.0.0.1" port="{{.HTTP}}"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="${__DIR__}/root">
        <resin:HttpProxy regexp="^/c/" addresses="{{.Backend}}"/>
      </web-app>
    </host>
  </cluster>
</resin>
`

// countingOrigin answers /c/NAME with the headers the case asks for and
// counts the requests per path (conditional ones separately).
type countingOrigin struct {
	mu          sync.Mutex
	hits        map[string]int
	conditional map[string]int
}

func (o *countingOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	o.hits[r.URL.Path]++
	if r.Header.Get("If-None-Match") != "" {
		o.conditional[r.URL.Path]++
	}
	n := o.hits[r.URL.Path]
	o.mu.Unlock()
	h := w.Header()
	switch r.URL.Path {
	case "/c/fresh", "/c/range", "/c/head", "/c/post":
		h.Set("Cache-Control", "max-age=60")
	case "/c/private":
		h.Set("Cache-Control", "private, max-age=60")
	case "/c/no-store":
		h.Set("Cache-Control", "no-store")
	case "/c/cookie":
		h.Set("Cache-Control", "max-age=60")
		h.Set("Set-Cookie", "id=1")
	case "/c/auth":
		h.Set("Cache-Control", "max-age=60")
	case "/c/auth-public":
		h.Set("Cache-Control", "public, s-maxage=60")
	case "/c/vary":
		h.Set("Cache-Control", "max-age=60")
		h.Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "lang=%s n=%d", r.Header.Get("Accept-Language"), n)
		return
	case "/c/no-cache":
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	if r.Method == http.MethodPost {
		io.WriteString(w, "posted")
		return
	}
	fmt.Fprintf(w, "%s n=%d", r.URL.Path, n)
}

func (o *countingOrigin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.hits[path]
}

// TestProxyCacheThroughARunningWebTier checks, through a running resind,
// what a shared cache may keep (RFC 9111) by counting what reaches the
// origin.
func TestProxyCacheThroughARunningWebTier(t *testing.T) {
	t.Parallel()
	origin := &countingOrigin{hits: map[string]int{}, conditional: map[string]int{}}
	be := httptest.NewServer(origin)
	defer be.Close()
	s := newSite(t)
	d := struct {
		ports
		Backend string
	}{ports{HTTP: freePort(t), Cluster: freePort(t)}, be.Listener.Addr().String()}
	s.write("resin.xml", cacheConf, d)
	s.writeRaw("root/index.html", "home")
	s.start("web-a")
	base := fmt.Sprintf("http://127.0.0.1:%d", d.HTTP)
	twice := func(path string, hdr ...string) (first, second *http.Response, body string) {
		first, _ = get(t, base+path, hdr...)
		second, body = get(t, base+path, hdr...)
		return
	}

	cases := []struct {
		path    string
		hdr     []string
		origins int // requests the origin saw for two GETs
	}{
		{"/c/fresh", nil, 1},
		{"/c/private", nil, 2},
		{"/c/no-store", nil, 2},
		{"/c/cookie", nil, 2},
		{"/c/auth", []string{"Authorization", "Basic dTpw"}, 2},
		{"/c/auth-public", []string{"Authorization", "Basic dTpw"}, 1},
	}
	for _, c := range cases {
		_, second, _ := twice(c.path, c.hdr...)
		if n := origin.count(c.path); n != c.origins {
			t.Errorf("GET %s twice: origin saw %d requests, want %d (second X-Cache %q)", c.path, n, c.origins, second.Header.Get("X-Cache"))
		}
	}

	// A hit carries Age; a conditional request is answered 304 by the cache.
	_, hit, body := twice("/c/fresh")
	if hit.Header.Get("X-Cache") != "HIT" || hit.Header.Get("Age") == "" || body != "/c/fresh n=1" {
		t.Errorf("hit: X-Cache %q Age %q body %q", hit.Header.Get("X-Cache"), hit.Header.Get("Age"), body)
	}
	if etag := hit.Header.Get("ETag"); etag != "" {
		if resp, _ := get(t, base+"/c/fresh", "If-None-Match", etag); resp.StatusCode != 304 {
			t.Errorf("If-None-Match on a cached entry = %d, want 304", resp.StatusCode)
		}
	}
	if resp, _ := get(t, base+"/c/fresh", "If-Modified-Since", time.Now().UTC().Format(http.TimeFormat)); resp.StatusCode != 304 && hit.Header.Get("Last-Modified") != "" {
		t.Errorf("If-Modified-Since now on a cached entry = %d, want 304", resp.StatusCode)
	}

	// Range and HEAD are served from a stored full GET.
	get(t, base+"/c/range")
	if resp, body := get(t, base+"/c/range", "Range", "bytes=0-3"); resp.StatusCode != 206 || body != "/c/r" || origin.count("/c/range") != 1 {
		t.Errorf("Range from the cache = %d %q, origin saw %d", resp.StatusCode, body, origin.count("/c/range"))
	}
	get(t, base+"/c/head")
	req, _ := http.NewRequest(http.MethodHead, base+"/c/head", nil)
	if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "HIT" || origin.count("/c/head") != 1 {
		t.Errorf("HEAD after a GET: %v %v, origin saw %d", resp, err, origin.count("/c/head"))
	}

	// Vary: one entry per language.
	_, _, en := twice("/c/vary", "Accept-Language", "en")
	_, _, fr := twice("/c/vary", "Accept-Language", "fr")
	if en != "lang=en n=1" || fr != "lang=fr n=2" || origin.count("/c/vary") != 2 {
		t.Errorf("Vary: en %q fr %q, origin saw %d", en, fr, origin.count("/c/vary"))
	}

	// no-cache: stored, but revalidated every time (the origin answers 304).
	_, second, body := twice("/c/no-cache")
	origin.mu.Lock()
	cond := origin.conditional["/c/no-cache"]
	origin.mu.Unlock()
	if cond != 1 || body != "/c/no-cache n=1" || second.Header.Get("X-Cache") != "REVALIDATED" {
		t.Errorf("no-cache: %d conditional requests, body %q, X-Cache %q", cond, body, second.Header.Get("X-Cache"))
	}

	// A POST to a cached URL invalidates it.
	get(t, base+"/c/post")
	resp, err := client.Post(base+"/c/post", "text/plain", strings.NewReader("x"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	if _, body := get(t, base+"/c/post"); body != "/c/post n=3" {
		t.Errorf("GET after a POST = %q, want the origin's third answer", body)
	}
}
