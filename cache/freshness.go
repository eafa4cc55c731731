package cache

import (
	"net/http"
	"time"
)

// Freshness follows RFC 9111 §4.2 with two simplifications a shared cache
// in front of its own origins can afford:
//   - no heuristic freshness: a response without s-maxage, max-age or
//     Expires has a lifetime of 0 and is only stored when it can be
//     revalidated (ETag or Last-Modified), as Resin does;
//   - the initial age is the origin's Age plus the time the response took
//     to arrive, without the apparent age (response time - Date), so a
//     backend whose clock lags does not make every response born stale.

// lifetime returns the freshness lifetime of a response received at
// respTime (RFC 9111 §4.2.1): s-maxage, else max-age, else Expires - Date.
// An Expires that is not a valid date means already expired.
func lifetime(h http.Header, cc *cacheControl, respTime time.Time) time.Duration {
	switch {
	case cc.sMaxAge >= 0:
		return seconds(cc.sMaxAge)
	case cc.maxAge >= 0:
		return seconds(cc.maxAge)
	}
	exp, ok := h["Expires"]
	if !ok || len(exp) == 0 {
		return 0
	}
	expires, err := http.ParseTime(exp[0])
	if err != nil {
		return 0
	}
	date := respTime
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	if l := expires.Sub(date); l > 0 {
		return l
	}
	return 0
}

// explicitFreshness reports whether a response carries its own lifetime.
func explicitFreshness(h http.Header, cc *cacheControl) bool {
	_, exp := h["Expires"]
	return cc.sMaxAge >= 0 || cc.maxAge >= 0 || exp
}

func seconds(s int64) time.Duration { return time.Duration(s) * time.Second }

// age is the current age of e at now (RFC 9111 §4.2.3, simplified).
func (e *entry) age(now time.Time) time.Duration {
	a := e.initialAge + now.Sub(e.stored)
	if a < 0 {
		return 0
	}
	return a
}

// verdict is what a lookup may do with a stored entry.
type verdict uint8

const (
	useFresh           verdict = iota // fresh: serve it
	useStale                          // stale, the client allows it (max-stale): serve it
	useStaleRevalidate                // within stale-while-revalidate: serve it, revalidate in the background
	mustValidate                      // go to the origin
)

// verdict decides how e may answer a request with directives req at now.
func (e *entry) verdict(req *cacheControl, now time.Time) verdict {
	age := e.age(now)
	if req.has(ccNoCache) || req.maxAge == 0 || (req.maxAge > 0 && age > seconds(req.maxAge)) {
		return mustValidate
	}
	if !e.noCache && age < e.lifetime {
		if req.minFresh >= 0 && e.lifetime-age < seconds(req.minFresh) {
			return mustValidate
		}
		return useFresh
	}
	if e.noStale {
		return mustValidate
	}
	staleness := age - e.lifetime
	// s-maxage implies proxy-revalidate (RFC 9111 §5.2.2.10): the client
	// cannot relax it with max-stale, but the origin's own
	// stale-while-revalidate still applies.
	if !e.sMaxAge && (req.has(ccMaxStaleAny) || (req.maxStale >= 0 && staleness <= seconds(req.maxStale))) {
		return useStale
	}
	if e.swr >= 0 && staleness <= e.swr {
		return useStaleRevalidate
	}
	return mustValidate
}

// staleIfError reports whether e may stand in for an origin error at now
// (RFC 5861 §4).
func (e *entry) staleIfError(now time.Time) bool {
	if e.noStale || e.sie < 0 {
		return false
	}
	return e.age(now)-e.lifetime <= e.sie
}

// serverError reports the statuses stale-if-error stands in for.
func serverError(status int) bool {
	switch status {
	case http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}
