package admin

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"time"

	"go.uber.org/zap"

	"resind/core"
)

// statusJSON is the body of GET /resin-admin/api/status: core.Status with
// stable lower-case names and the figures the page computes from it.
type statusJSON struct {
	Now           time.Time     `json:"now"`
	ServerID      string        `json:"server_id"`
	ClusterID     string        `json:"cluster_id"`
	Version       string        `json:"version"`
	PID           int           `json:"pid"`
	Started       time.Time     `json:"started"`
	UptimeSeconds float64       `json:"uptime_seconds"`
	ConfigFile    string        `json:"config_file"`
	LastReload    reloadJSON    `json:"last_reload"`
	Listeners     []string      `json:"listeners"`
	Requests      uint64        `json:"requests"`
	Errors        uint64        `json:"errors"`
	FastPath      uint64        `json:"fast_path_requests"`
	DataPlane     dataPlaneJSON `json:"data_plane"`
	Warnings      []string      `json:"warnings"`
	Backends      []backendJSON `json:"backends"`
	Caches        []cacheJSON   `json:"caches"`
	PurgeEnabled  bool          `json:"purge_enabled"`
	Cluster       *clusterJSON  `json:"cluster"`
	HardCore      *hardcoreJSON `json:"hardcore"`
	Apps          []appJSON     `json:"apps"`
}

// dataPlaneJSON is how the plain listeners are served: kind "epoll" or
// "goroutine", the event loops of each listener, the Go runtime's Ps.
type dataPlaneJSON struct {
	Kind       string `json:"kind"`
	Loops      int    `json:"loops"`
	GOMAXPROCS int    `json:"gomaxprocs"`
}

type reloadJSON struct {
	Time  *time.Time `json:"time"` // null before the first reload
	OK    bool       `json:"ok"`
	Error string     `json:"error,omitempty"`
}

type backendJSON struct {
	Target      string     `json:"target"`
	ID          string     `json:"id"`
	Address     string     `json:"address"`
	State       string     `json:"state"`
	Active      int        `json:"active"`
	Idle        int        `json:"idle"`
	Requests    uint64     `json:"requests"`
	Failures    uint64     `json:"failures"`
	LastFailure *time.Time `json:"last_failure"`
	LatencyMS   float64    `json:"latency_ms"`
	Weight      int        `json:"weight"`
}

// appJSON is a supervised program: a FastCGI pool or an HTTP app server.
type appJSON struct {
	Kind      string `json:"kind"`
	Command   string `json:"command"`
	Processes int    `json:"processes"`
	PIDs      []int  `json:"pids"`
	Busy      int    `json:"busy"`
	Min       int    `json:"min"`
	Max       int    `json:"max"`
	Ready     bool   `json:"ready"`
	Address   string `json:"address"`
	LastError string `json:"last_error,omitempty"`
}

type cacheJSON struct {
	Cluster       string  `json:"cluster"`
	Hits          uint64  `json:"hits"`
	Misses        uint64  `json:"misses"`
	Revalidations uint64  `json:"revalidations"`
	Stores        uint64  `json:"stores"`
	Evictions     uint64  `json:"evictions"`
	Bytes         int64   `json:"bytes"`
	MemorySize    int64   `json:"memory_size"`
	Entries       int64   `json:"entries"`
	HitRatio      float64 `json:"hit_ratio"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// nonNil makes empty lists encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func toJSON(s core.Status, now time.Time, purge bool) statusJSON {
	out := statusJSON{
		Now:          now,
		ServerID:     s.ServerID,
		ClusterID:    s.ClusterID,
		Version:      s.Version,
		PID:          s.PID,
		Started:      s.Started,
		ConfigFile:   s.ConfigFile,
		LastReload:   reloadJSON{Time: timePtr(s.LastReload.Time), OK: s.LastReload.OK, Error: s.LastReload.Error},
		Listeners:    nonNil(s.Listeners),
		Requests:     s.Requests,
		Errors:       s.Errors,
		FastPath:     s.FastPath,
		DataPlane:    dataPlaneJSON{Kind: s.DataPlane.Kind, Loops: s.DataPlane.Loops, GOMAXPROCS: s.DataPlane.GOMAXPROCS},
		Warnings:     nonNil(s.Warnings),
		Backends:     []backendJSON{},
		Caches:       []cacheJSON{},
		PurgeEnabled: purge,
		Cluster:      clusterToJSON(s.Cluster),
		HardCore:     hardcoreToJSON(s.HardCore),
		Apps:         []appJSON{},
	}
	for _, a := range s.Apps {
		out.Apps = append(out.Apps, appJSON{Kind: a.Kind, Command: a.Command, Processes: len(a.PIDs),
			PIDs: nonNil(a.PIDs), Busy: a.Busy, Min: a.Min, Max: a.Max, Ready: a.Ready,
			Address: a.Address, LastError: a.LastError})
	}
	if !s.Started.IsZero() {
		out.UptimeSeconds = now.Sub(s.Started).Seconds()
	}
	for _, b := range s.Backends {
		out.Backends = append(out.Backends, backendJSON{
			Target: b.Target, ID: b.ID, Address: b.Address, State: b.State,
			Active: b.Active, Idle: b.Idle, Requests: b.Requests, Failures: b.Failures,
			LastFailure: timePtr(b.LastFailure),
			LatencyMS:   float64(b.Latency) / float64(time.Millisecond),
			Weight:      b.Weight,
		})
	}
	// Grouped by target for the page; servers keep their cluster order.
	sort.SliceStable(out.Backends, func(i, j int) bool { return out.Backends[i].Target < out.Backends[j].Target })
	for _, c := range s.Caches {
		out.Caches = append(out.Caches, cacheJSON{
			Cluster: c.Cluster, Hits: c.Hits, Misses: c.Misses, Revalidations: c.Revalidations,
			Stores: c.Stores, Evictions: c.Evictions, Bytes: c.Bytes, MemorySize: c.MemorySize,
			Entries: c.Entries, HitRatio: c.HitRatio(),
		})
	}
	return out
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (h *Handler) apiStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toJSON(h.src.Status(), h.now(), h.purge != nil))
}

// apiPurge purges one URL: POST with url=... as a form, or {"url": "..."}.
// It answers {"purged": n}.
func (h *Handler) apiPurge(w http.ResponseWriter, r *http.Request) {
	if h.purge == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "this server runs no proxy cache"})
		return
	}
	target, err := purgeTarget(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	n, err := h.doPurge(r, target)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"url": target, "purged": n})
}

func purgeTarget(r *http.Request) (string, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "application/json" {
		var body struct {
			URL string `json:"url"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10)).Decode(&body); err != nil {
			return "", errors.New("body is not {\"url\": \"...\"}")
		}
		return body.URL, nil
	}
	return r.PostFormValue("url"), nil
}

// doPurge validates target and hands it to Options.Purge.
func (h *Handler) doPurge(r *http.Request, target string) (int, error) {
	if err := checkPurgeURL(target); err != nil {
		return 0, err
	}
	n, err := h.purge(target)
	p := principalOf(r)
	h.log.Info("resin-admin: cache purge", zap.String("url", target), zap.Int("entries", n),
		zap.String("user", p.user), zap.String("via", p.via), zap.Error(err))
	return n, err
}

// checkPurgeURL accepts an absolute http(s) URL or an absolute path.
func checkPurgeURL(s string) error {
	if s == "" {
		return errors.New("no url to purge")
	}
	if len(s) > 8<<10 {
		return errors.New("url too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("not a URL: " + err.Error())
	}
	if u.Scheme == "" && u.Host == "" && len(u.Path) > 0 && u.Path[0] == '/' {
		return nil
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	return errors.New("want an absolute path or an http(s) URL")
}
