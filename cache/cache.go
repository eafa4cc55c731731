// Package cache is resind's HTTP proxy cache: a shared cache (RFC 9111)
// put in front of the handlers that talk to origins (LoadBalance,
// HttpProxy), sized by Resin's <proxy-cache memory-size entries
// max-entry-size>.
//
// Entries live in a ristretto cache whose cost is the bytes an entry holds,
// so memory-size bounds what is stored and ristretto's TinyLFU policy
// chooses what to evict. A stored entry is never modified: a refresh or a
// replacement stores a new one, so a response being served never changes
// under the writer.
package cache

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/dgraph-io/ristretto/v2"
	"github.com/dgraph-io/ristretto/v2/z"
	"go.uber.org/zap"

	"resind/conf"
)

// Defaults for the zero values of conf.ProxyCache, as in Resin.
const (
	DefaultMemorySize   = 16 << 20
	DefaultEntries      = 8192
	DefaultMaxEntrySize = 1 << 20
)

// entryOverhead approximates what an entry costs besides its body and
// header bytes (the struct, the ristretto item, map slots).
const entryOverhead = 256

// Cache is one proxy cache. Create it with New, wrap origin handlers with
// Handler, and Close it once the last request that used it has finished
// (core keeps one per cluster across reloads while <proxy-cache> is
// unchanged). All methods are safe for concurrent use.
type Cache struct {
	log      *zap.Logger
	store    *ristretto.Cache[string, *entry]
	maxEntry int64
	memory   int64

	// now is the clock; tests replace it before serving requests.
	now func() time.Time

	flights   flights
	markerSeq atomic.Uint64

	// bgCtx is the context of background revalidations; Close cancels it
	// and waits for them.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup

	hits, misses, revalidations, stores, evictions, stale, coalesced atomic.Uint64
}

// New builds a cache from cfg: MemorySize bounds the bytes stored,
// MaxEntrySize the body of one entry, Entries sizes the admission
// counters (ten per expected entry). Zero values take Resin's defaults.
func New(cfg conf.ProxyCache, log *zap.Logger) (*Cache, error) {
	if cfg.MemorySize < 0 || cfg.Entries < 0 || cfg.MaxEntrySize < 0 {
		return nil, errors.New("proxy cache: memory-size, entries and max-entry-size must not be negative")
	}
	if cfg.MemorySize == 0 {
		cfg.MemorySize = DefaultMemorySize
	}
	if cfg.Entries == 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.MaxEntrySize == 0 {
		cfg.MaxEntrySize = DefaultMaxEntrySize
	}
	if cfg.MaxEntrySize > cfg.MemorySize {
		cfg.MaxEntrySize = cfg.MemorySize
	}
	if log == nil {
		log = zap.NewNop()
	}
	c := &Cache{log: log, maxEntry: cfg.MaxEntrySize, memory: cfg.MemorySize, now: time.Now}
	c.flights.m = make(map[string]*flight)
	store, err := ristretto.NewCache(&ristretto.Config[string, *entry]{
		NumCounters:        max(int64(cfg.Entries)*10, 1000),
		MaxCost:            cfg.MemorySize,
		BufferItems:        64,
		IgnoreInternalCost: true,
		KeyToHash: func(k string) (uint64, uint64) {
			return z.MemHashString(k), xxhash.Sum64String(k)
		},
		OnEvict: func(it *ristretto.Item[*entry]) {
			if it.Value != nil && it.Value.marker == nil {
				c.evictions.Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	c.store = store
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	return c, nil
}

// Close cancels background revalidations, waits for them and releases the
// entries. Call it only once no request is using the cache any more.
func (c *Cache) Close() {
	c.bgCancel()
	c.bg.Wait()
	c.store.Close()
}

// Stats are the counters of a cache since New.
type Stats struct {
	Hits          uint64 // requests answered without contacting the origin
	Misses        uint64 // cacheable requests that went to the origin (revalidations included)
	Revalidations uint64 // conditional requests the origin answered 304
	Stores        uint64 // responses stored (304 refreshes included)
	Evictions     uint64 // entries the memory bound pushed out
	Stale         uint64 // stale responses served (max-stale, stale-while-revalidate, stale-if-error)
	Coalesced     uint64 // requests answered with the response another request fetched
	Bytes         int64  // bytes held (bodies, headers and bookkeeping)
	Entries       int64  // responses held
	MemorySize    int64  // the bound on Bytes
}

// HitRatio is Hits ÷ (Hits + Misses), 0 before any lookup.
func (s Stats) HitRatio() float64 {
	if n := s.Hits + s.Misses; n > 0 {
		return float64(s.Hits) / float64(n)
	}
	return 0
}

// Stats returns the counters. Bytes and Entries walk the store, so call it
// for reporting, not per request.
func (c *Cache) Stats() Stats {
	s := Stats{
		Hits:          c.hits.Load(),
		Misses:        c.misses.Load(),
		Revalidations: c.revalidations.Load(),
		Stores:        c.stores.Load(),
		Evictions:     c.evictions.Load(),
		Stale:         c.stale.Load(),
		Coalesced:     c.coalesced.Load(),
		MemorySize:    c.memory,
	}
	c.store.IterValues(func(e *entry) bool {
		s.Bytes += e.cost
		if e.marker == nil {
			s.Entries++
		}
		return false
	})
	return s
}

// lookup finds the entry that answers a request for base with header h.
// key is the key a response to it is stored under: the variant key when
// base has a Vary marker, base otherwise (then also the coalescing key).
func (c *Cache) lookup(base string, h http.Header) (e *entry, key string) {
	v, ok := c.store.Get(base)
	if !ok {
		return nil, base
	}
	m := v.marker
	if m == nil {
		return v, base
	}
	key = variantKey(base, m.id, m.names, h)
	if v, ok = c.store.Get(key); ok {
		return v, key
	}
	return nil, key
}

// put stores e, answering the request with header h; for a response with
// Vary it finds or replaces the marker and stores e under its variant key.
func (c *Cache) put(e *entry, h http.Header) {
	e.key = e.base
	if e.vary != nil {
		var m *marker
		if v, ok := c.store.Get(e.base); ok && v.marker != nil && slices.Equal(v.marker.names, e.vary) {
			m = v.marker
		} else {
			m = &marker{id: c.markerSeq.Add(1), names: e.vary}
			me := &entry{key: e.base, base: e.base, marker: m, cost: entryOverhead + int64(len(e.base))}
			c.store.Set(e.base, me, me.cost)
		}
		e.markerID = m.id
		e.key = variantKey(e.base, m.id, m.names, h)
		m.add(e.key)
	}
	// Without validators a stale entry is only good for stale serving;
	// let ristretto drop it when that window is over. With validators keep
	// it: a 304 is cheaper than a transfer.
	var ttl time.Duration
	if e.etag == "" && e.lastModified == "" {
		ttl = e.lifetime + max(e.swr, e.sie, 0) + time.Second
	}
	if c.store.SetWithTTL(e.key, e, e.cost, ttl) {
		// ristretto applies sets from a buffer; wait, so the next request
		// for the URL (often the same client's) finds what was stored.
		c.store.Wait()
		c.stores.Add(1)
		if ce := c.log.Check(zap.DebugLevel, "proxy cache: stored"); ce != nil {
			ce.Write(zap.String("key", e.base), zap.Int("status", e.status),
				zap.Int("bytes", len(e.body)), zap.Duration("lifetime", e.lifetime))
		}
	}
}

// del removes the entry under key and, when it is a marker, the variants
// it remembers. It reports whether there was one.
func (c *Cache) del(key string) bool {
	v, ok := c.store.Get(key)
	if ok && v.marker != nil {
		for _, k := range v.marker.keys() {
			c.store.Del(k)
		}
	}
	c.store.Del(key)
	return ok
}
