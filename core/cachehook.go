package core

import "net/http"

// cacheHook returns the wrapper that puts the proxy cache of rt's cluster
// in front of its LoadBalance and HttpProxy handlers, or nil.
//
// HOOK: package resind/cache is not in the repository yet. When it lands,
// keep one *cache.Cache per cluster id on the Server (reused across
// reloads while the <proxy-cache> settings are unchanged, closed when they
// change or vanish) and return its Handler here; cacheStatus then reports
// its Stats. Until then <proxy-cache> is accepted and ignored, which build
// records as a warning.
func (s *Server) cacheHook(rt *runtime) func(http.Handler) http.Handler {
	return nil
}

// cacheStatus reports the caches the server runs (none yet, see cacheHook).
func (s *Server) cacheStatus() []CacheStatus { return nil }
