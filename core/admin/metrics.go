package admin

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// collector turns one Source.Status() per scrape into Prometheus metrics, so
// the figures of a scrape are consistent with each other and nothing is
// counted twice. Counters are the server's own, since start.
type collector struct {
	src Source
	now func() time.Time

	info, uptime, requests, errors, latency, reloads  *prometheus.Desc
	fastPath                                          *prometheus.Desc
	reloadTime, reloadOK, warnings                    *prometheus.Desc
	beState, beActive, beIdle, beReqs, beFails, beLat *prometheus.Desc
	beWeight, beLastFail                              *prometheus.Desc
	cHits, cMisses, cReval, cStores, cEvict           *prometheus.Desc
	cBytes, cMax, cEntries                            *prometheus.Desc
}

// backendStates are the states every backend reports a gauge for, so a
// server going down flips resind_backend_up{state="down"} to 1 rather than
// making a series appear.
var backendStates = []string{"up", "down", "recovering", "busy"}

func newCollector(src Source) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("resind_"+name, help, labels, nil)
	}
	be := []string{"target", "server", "address"}
	return &collector{
		src:        src,
		now:        time.Now,
		info:       d("server_info", "This server: always 1, labelled with its identity.", "server", "cluster", "version"),
		uptime:     d("uptime_seconds", "Seconds since the server started."),
		requests:   d("requests_total", "HTTP requests served since start."),
		errors:     d("errors_total", "Responses with status 500 or above since start."),
		fastPath:   d("fast_path_requests_total", "Requests the epoll data plane answered itself (LoadBalance and HttpProxy relayed, proxy-cache hits), of requests_total."),
		latency:    d("request_duration_seconds", "Time from a request's arrival to the end of its response."),
		reloads:    d("config_reloads_total", "Configuration edits since start, by result (applied or refused).", "result"),
		reloadTime: d("config_last_reload_timestamp_seconds", "When the newest configuration edit was seen (Unix time)."),
		reloadOK:   d("config_last_reload_success", "1 when the newest configuration edit was applied, 0 when it was refused."),
		warnings:   d("config_warnings", "Warnings of the running configuration."),
		beState:    d("backend_state", "1 for the state the backend is in, 0 for the others.", append(be, "state")...),
		beActive:   d("backend_active_connections", "Requests in flight to the backend.", be...),
		beIdle:     d("backend_idle_connections", "Pooled idle connections to the backend.", be...),
		beReqs:     d("backend_requests_total", "Requests sent to the backend.", be...),
		beFails:    d("backend_failures_total", "Failed requests or connections to the backend.", be...),
		beLat:      d("backend_latency_seconds", "The backend's recent response latency, as the balancer weighs it.", be...),
		beWeight:   d("backend_weight", "The backend's load-balance-weight.", be...),
		beLastFail: d("backend_last_failure_timestamp_seconds", "When the backend last failed (Unix time), absent if never.", be...),
		cHits:      d("cache_hits_total", "Proxy cache hits.", "cluster"),
		cMisses:    d("cache_misses_total", "Proxy cache misses.", "cluster"),
		cReval:     d("cache_revalidations_total", "Proxy cache entries revalidated with the backend.", "cluster"),
		cStores:    d("cache_stores_total", "Responses stored in the proxy cache.", "cluster"),
		cEvict:     d("cache_evictions_total", "Entries evicted from the proxy cache.", "cluster"),
		cBytes:     d("cache_bytes", "Bytes held by the proxy cache.", "cluster"),
		cMax:       d("cache_memory_size_bytes", "The proxy cache's memory-size.", "cluster"),
		cEntries:   d("cache_entries", "Entries in the proxy cache.", "cluster"),
	}
}

// Describe sends nothing: the collector is unchecked, because which backends
// and caches exist changes with every reload.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Status()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(c.info, 1, s.ServerID, s.ClusterID, s.Version)
	if !s.Started.IsZero() {
		gauge(c.uptime, c.now().Sub(s.Started).Seconds())
	}
	counter(c.requests, float64(s.Requests))
	counter(c.errors, float64(s.Errors))
	counter(c.fastPath, float64(s.FastPath))
	if h := s.Latency; len(h.Counts) == len(h.Bounds)+1 {
		buckets := make(map[float64]uint64, len(h.Bounds))
		var cum uint64
		for i, b := range h.Bounds {
			cum += h.Counts[i]
			buckets[b] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, h.Count(), h.Sum.Seconds(), buckets)
	}
	counter(c.reloads, float64(s.Reloads), "applied")
	counter(c.reloads, float64(s.Refusals), "refused")
	if !s.LastReload.Time.IsZero() {
		gauge(c.reloadTime, float64(s.LastReload.Time.UnixNano())/1e9)
		gauge(c.reloadOK, b2f(s.LastReload.OK))
	}
	gauge(c.warnings, float64(len(s.Warnings)))

	for _, b := range s.Backends {
		l := []string{b.Target, b.ID, b.Address}
		known := false
		for _, st := range backendStates {
			known = known || b.State == st
			gauge(c.beState, b2f(b.State == st), append(l, st)...)
		}
		if !known {
			gauge(c.beState, 1, append(l, b.State)...)
		}
		gauge(c.beActive, float64(b.Active), l...)
		gauge(c.beIdle, float64(b.Idle), l...)
		counter(c.beReqs, float64(b.Requests), l...)
		counter(c.beFails, float64(b.Failures), l...)
		gauge(c.beLat, b.Latency.Seconds(), l...)
		gauge(c.beWeight, float64(b.Weight), l...)
		if !b.LastFailure.IsZero() {
			gauge(c.beLastFail, float64(b.LastFailure.UnixNano())/1e9, l...)
		}
	}
	for _, k := range s.Caches {
		counter(c.cHits, float64(k.Hits), k.Cluster)
		counter(c.cMisses, float64(k.Misses), k.Cluster)
		counter(c.cReval, float64(k.Revalidations), k.Cluster)
		counter(c.cStores, float64(k.Stores), k.Cluster)
		counter(c.cEvict, float64(k.Evictions), k.Cluster)
		gauge(c.cBytes, float64(k.Bytes), k.Cluster)
		gauge(c.cMax, float64(k.MemorySize), k.Cluster)
		gauge(c.cEntries, float64(k.Entries), k.Cluster)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
