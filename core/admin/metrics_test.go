package admin

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsExposeStatusAtScrapeTime(t *testing.T) {
	t.Parallel()
	src := newFakeSource(sampleStatus())
	h := newTestHandler(t, src, Options{Users: adminUsers()})
	scrape := func() string {
		r := request("GET", Prefix+"/metrics", remote, nil)
		r.SetBasicAuth("ops", "plain-pw")
		w := serve(h, r)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			t.Fatalf("scrape: %d %s", w.Code, w.Header().Get("Content-Type"))
		}
		return w.Body.String()
	}
	body := scrape()
	for _, want := range []string{
		`resind_requests_total 1000`,
		`resind_errors_total 7`,
		`resind_request_duration_seconds_bucket{le="0.005"} 600`,
		`resind_request_duration_seconds_bucket{le="0.01"} 800`,
		`resind_request_duration_seconds_bucket{le="10"} 1000`,
		`resind_request_duration_seconds_bucket{le="+Inf"} 1000`,
		`resind_request_duration_seconds_sum 20`,
		`resind_request_duration_seconds_count 1000`,
		`resind_config_reloads_total{result="applied"} 3`,
		`resind_config_reloads_total{result="refused"} 1`,
		`resind_server_info{cluster="web",server="web-a",version="0.1.0-test"} 1`,
		`resind_backend_state{address="127.0.0.1:6802",server="app-b",state="down",target="app"} 1`,
		`resind_backend_state{address="127.0.0.1:6802",server="app-b",state="up",target="app"} 0`,
		`resind_backend_state{address="127.0.0.1:6801",server="app-a",state="up",target="app"} 1`,
		`resind_backend_requests_total{address="127.0.0.1:6801",server="app-a",target="app"} 600`,
		`resind_backend_failures_total{address="127.0.0.1:6802",server="app-b",target="app"} 17`,
		`resind_backend_active_connections{address="127.0.0.1:6801",server="app-a",target="app"} 2`,
		`resind_backend_latency_seconds{address="127.0.0.1:6801",server="app-a",target="app"} 0.012`,
		`resind_cache_hits_total{cluster="app"} 300`,
		`resind_cache_misses_total{cluster="app"} 100`,
		`resind_cache_stores_total{cluster="app"} 90`,
		`resind_cache_evictions_total{cluster="app"} 4`,
		`resind_cache_bytes{cluster="app"} 1.048576e+06`,
		`resind_cache_entries{cluster="app"} 85`,
		`resind_config_last_reload_success 0`,
		`resind_config_last_reload_timestamp_seconds 1.74083034e+09`,
		`resind_config_warnings 1`,
		"# TYPE resind_requests_total counter",
		"# TYPE resind_uptime_seconds gauge",
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	// The next scrape sees the new state: app-b recovered.
	st := sampleStatus()
	st.Backends[1].State = "up"
	st.Requests = 1500
	src.set(st)
	body = scrape()
	for _, want := range []string{
		`resind_backend_state{address="127.0.0.1:6802",server="app-b",state="down",target="app"} 0`,
		`resind_backend_state{address="127.0.0.1:6802",server="app-b",state="up",target="app"} 1`,
		`resind_requests_total 1500`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("second scrape lacks %s", want)
		}
	}
}

func TestMetricsNeedCredentials(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t, newFakeSource(sampleStatus()), Options{Users: adminUsers()})
	w := serve(h, request("GET", Prefix+"/metrics", remote, nil))
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("scrape without credentials: %d, want 401", w.Code)
	}
}
