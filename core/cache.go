package core

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"resind/cache"
	"resind/conf"
)

// proxyCache is the server's <proxy-cache>: one cache in front of every
// LoadBalance and HttpProxy target of the server's cluster. It outlives
// reloads that keep its settings; when they change or vanish the old cache
// is retired and closed once the last request using it has finished.
type proxyCache struct {
	c   *cache.Cache
	cfg conf.ProxyCache // Pos cleared, for comparison

	active  atomic.Int64
	retired atomic.Bool
	closed  atomic.Bool
	once    sync.Once
}

// wrap puts the cache in front of next. A request that reaches a cache
// already closed (it loaded the old runtime just before a reload retired
// it) goes to next uncached.
func (pc *proxyCache) wrap(next http.Handler) http.Handler {
	cached := pc.c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pc.active.Add(1)
		defer pc.leave()
		if pc.closed.Load() {
			next.ServeHTTP(w, r)
			return
		}
		cached.ServeHTTP(w, r)
	})
}

func (pc *proxyCache) leave() {
	if pc.active.Add(-1) == 0 && pc.retired.Load() {
		pc.close()
	}
}

// retire closes the cache now if it is idle, else when its last request
// ends.
func (pc *proxyCache) retire() {
	pc.retired.Store(true)
	if pc.active.Load() == 0 {
		pc.close()
	}
}

func (pc *proxyCache) close() {
	pc.once.Do(func() {
		pc.closed.Store(true)
		pc.c.Close()
	})
}

// cacheFor returns the cache rt's cluster asks for: the running one when
// its settings are unchanged, else a new one (nil for none). The caller
// installs it with swapCache once rt is accepted.
func (s *Server) cacheFor(rt *runtime) (*proxyCache, error) {
	pcfg := rt.cluster.ProxyCache
	if pcfg == nil {
		return nil, nil
	}
	want := *pcfg
	want.Pos = conf.Pos{}
	if cur := s.cache.Load(); cur != nil && cur.cfg == want {
		return cur, nil
	}
	c, err := cache.New(want, s.log.With(zap.String("cluster", rt.cluster.ID)))
	if err != nil {
		return nil, &conf.Error{Diags: []conf.Diag{{Pos: pcfg.Pos, Msg: err.Error()}}}
	}
	return &proxyCache{c: c, cfg: want}, nil
}

// swapCache makes pc the server's cache and retires the one it replaces.
func (s *Server) swapCache(pc *proxyCache) {
	if old := s.cache.Swap(pc); old != nil && old != pc {
		old.retire()
	}
}

// Purge removes cached responses from the server's proxy cache and says
// how many: url is one URL ("http://host/path?q", "host/path" or
// "/path?q" for every host), or a prefix ending in "*" ("/img/*").
func (s *Server) Purge(url string) (int, error) {
	pc := s.cache.Load()
	if pc == nil {
		return 0, errors.New("this server runs no proxy cache")
	}
	if prefix, ok := strings.CutSuffix(url, "*"); ok {
		return pc.c.PurgePrefix(prefix), nil
	}
	if pc.c.Purge(url) {
		return 1, nil
	}
	return 0, nil
}

// cacheStatus reports the server's proxy cache, if any.
func (s *Server) cacheStatus() []CacheStatus {
	pc := s.cache.Load()
	if pc == nil {
		return nil
	}
	st := pc.c.Stats()
	return []CacheStatus{{
		Cluster:       s.rt.Load().cluster.ID,
		Hits:          st.Hits,
		Misses:        st.Misses,
		Revalidations: st.Revalidations,
		Stores:        st.Stores,
		Evictions:     st.Evictions,
		Bytes:         st.Bytes,
		MemorySize:    st.MemorySize,
		Entries:       st.Entries,
	}}
}
