package cluster

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"resind/conf"
)

// The paths of the session and cache APIs on the cluster port.
const (
	SessionPath = "/resin/session/"
	CachePath   = "/resin/cache/"
)

// HeaderVersion carries an entry's version in the session and cache APIs.
const HeaderVersion = "X-Resin-Version"

// Prefixes are the paths Handler answers; core mounts each of them.
var Prefixes = []string{"/resin/cluster", "/resin/session", "/resin/cache"}

// Handler answers cluster traffic, the session API and the cache API. It
// answers only on the cluster port (anything else gets 404), so a public
// <http> port never exposes them.
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(StreamPath, n.mux.serveStream)
	mux.HandleFunc(KVPath, n.serveKV)
	mux.HandleFunc(SessionPath, n.serveSession)
	mux.HandleFunc(CachePath, n.serveCache)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.onClusterPort(r) {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func (n *Node) onClusterPort(r *http.Request) bool {
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	_, port, err := net.SplitHostPort(la.String())
	return err == nil && port == strconv.Itoa(n.self.Port)
}

// sessionTTL is the session-timeout of the server's persistent sessions:
// the longest of its cluster's web-apps with use-persistent-store (30
// minutes when none says); 0 means never.
func sessionTTL(cfg *conf.Config, clusterID string) time.Duration {
	ttl, found := time.Duration(0), false
	for _, cl := range cfg.Clusters {
		if cl.ID != clusterID {
			continue
		}
		for _, h := range cl.Hosts {
			for _, a := range h.WebApps {
				if s := a.Session; s != nil && s.UsePersistentStore {
					if !found || s.Timeout == 0 || (ttl != 0 && s.Timeout > ttl) {
						ttl = s.Timeout
					}
					found = true
				}
			}
		}
	}
	if !found {
		return 30 * time.Minute
	}
	return ttl
}

// cacheConfig is the <resin:ClusterCache> named name in this server's
// cluster; a name no web-app configures is a cache without expiry, as
// JCache's createCache would make.
func (n *Node) cacheConfig(name string) conf.ClusterCache {
	if cl := n.cfg.Load().Cluster(n.self.ClusterID); cl != nil {
		for _, h := range cl.Hosts {
			for _, a := range h.WebApps {
				for _, c := range a.Caches {
					if c.Name == name {
						return *c
					}
				}
			}
		}
	}
	return conf.ClusterCache{Name: name}
}

// validID reports whether id looks like a session id or cache key part.
func validID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func (n *Node) readClient(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return nil, false
	}
	if err := n.auth.VerifyClient(r, body); err != nil {
		n.mux.refuse(w, r, err)
		return nil, false
	}
	return body, true
}

// serveSession is /resin/session/ID: GET the attributes (a JSON object),
// PUT replaces them, DELETE invalidates the session. Every access renews
// the session's session-timeout.
func (n *Node) serveSession(w http.ResponseWriter, r *http.Request) {
	body, ok := n.readClient(w, r)
	if !ok {
		return
	}
	id := strings.TrimPrefix(r.URL.Path, SessionPath)
	if !validID(id) {
		http.Error(w, "bad session id", http.StatusBadRequest)
		return
	}
	key := "session/" + id
	ttl := sessionTTL(n.cfg.Load(), n.self.ClusterID)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st := n.store
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		e, found, err := st.Get(ctx, key)
		if err != nil {
			// The triad cannot answer: the copy this server keeps.
			if e, found = n.local.get(key); !found {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		} else if !found {
			n.local.drop(key)
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		if ttl > 0 && err == nil {
			if ok, _ := st.Touch(ctx, key, ttl); ok {
				e.Expires = time.Now().Add(ttl)
			}
		}
		n.local.put(e)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(HeaderVersion, strconv.FormatUint(e.Version, 10))
		w.Write(e.Value)
	case http.MethodPut:
		var attrs map[string]json.RawMessage
		if err := json.Unmarshal(body, &attrs); err != nil {
			http.Error(w, "the body must be a JSON object of attributes", http.StatusBadRequest)
			return
		}
		e, err := st.Put(ctx, key, body, ttl)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		n.local.put(e)
		w.Header().Set(HeaderVersion, strconv.FormatUint(e.Version, 10))
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		found, err := st.Delete(ctx, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		n.local.drop(key)
		if !found {
			http.Error(w, "no such session", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "GET, PUT or DELETE", http.StatusMethodNotAllowed)
	}
}

// serveCache is /resin/cache/NAME/KEY, JCache-like: GET reads; PUT writes
// (If-None-Match: * is put-if-absent, If-Match: * replace, If-Match: "N"
// replaces only version N; ?ttl=10s sets an expiry); DELETE removes. A
// refused conditional write is 412 with the present entry's version.
func (n *Node) serveCache(w http.ResponseWriter, r *http.Request) {
	body, ok := n.readClient(w, r)
	if !ok {
		return
	}
	name, k, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, CachePath), "/")
	if !validID(name) || k == "" || len(k) > 1024 {
		http.Error(w, "want /resin/cache/NAME/KEY", http.StatusBadRequest)
		return
	}
	key := "cache/" + name + "/" + k
	cc := n.cacheConfig(name)
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	st := n.store
	version := func(e Entry) {
		if e.Version != 0 {
			w.Header().Set(HeaderVersion, strconv.FormatUint(e.Version, 10))
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		e, found, err := st.Get(ctx, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !found {
			http.Error(w, "not in cache", http.StatusNotFound)
			return
		}
		if cc.ModifiedExpireTimeout == 0 && cc.AccessedExpireTimeout > 0 {
			st.Touch(ctx, key, cc.AccessedExpireTimeout) // read: idle time starts again
		}
		version(e)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(e.Value)
	case http.MethodPut:
		ttl := cmp.Or(cc.ModifiedExpireTimeout, cc.AccessedExpireTimeout)
		if v := r.URL.Query().Get("ttl"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				http.Error(w, "bad ttl", http.StatusBadRequest)
				return
			}
			ttl = d
		}
		var (
			e     Entry
			done  = true
			err   error
			match = strings.Trim(r.Header.Get("If-Match"), `"`)
		)
		switch {
		case r.Header.Get("If-None-Match") == "*":
			e, done, err = st.PutIfAbsent(ctx, key, body, ttl)
		case match == "*":
			e, done, err = st.Replace(ctx, key, body, ttl)
		case match != "":
			v, perr := strconv.ParseUint(match, 10, 64)
			if perr != nil {
				http.Error(w, "bad If-Match version", http.StatusBadRequest)
				return
			}
			e, done, err = st.CompareAndSwap(ctx, key, v, body, ttl)
		default:
			e, err = st.Put(ctx, key, body, ttl)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		version(e)
		if !done {
			w.WriteHeader(http.StatusPreconditionFailed)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		found, err := st.Delete(ctx, key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if !found {
			http.Error(w, "not in cache", http.StatusNotFound)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "GET, PUT or DELETE", http.StatusMethodNotAllowed)
	}
}
