package proxy

// pickSticky returns the member for a request with session id: its owner
// (the backend whose Index the id's prefix encodes) when available, else
// the backup the id hashes to, so that every web-tier server sends the
// session to the same place.
func (bl *Balancer) pickSticky(id string, tried *triedSet, now int64) int {
	if idx, ok := OwnerIndex(id); ok {
		if i, ok := bl.byIndex[idx]; ok && !tried.has(i) {
			if ok, _ := bl.members[i].b.selectable(now); ok {
				return i
			}
		}
	}
	h := hashString(id)
	if i := bl.pickHashed(h, 0, bl.primaries, tried, now); i >= 0 {
		return i
	}
	return bl.pickHashed(h, bl.primaries, len(bl.members), tried, now)
}

// pickHashed is rendezvous (highest random weight) hashing: the available
// member of [lo, hi) whose id scores highest against the session's hash.
// It depends only on the id and the backends' ids, never on order or on
// process state, and losing a backend moves only the sessions it held.
func (bl *Balancer) pickHashed(h uint64, lo, hi int, tried *triedSet, now int64) int {
	best := -1
	var bestScore uint64
	for i := lo; i < hi; i++ {
		if tried.has(i) {
			continue
		}
		m := &bl.members[i]
		if ok, _ := m.b.selectable(now); !ok {
			continue
		}
		if s := mix64(h ^ m.hash); best < 0 || s > bestScore {
			best, bestScore = i, s
		}
	}
	return best
}

// hashString is 64-bit FNV-1a: stable across processes and versions, which
// the hashed backup choice relies on.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix64 is the splitmix64 finaliser, spreading FNV's weak low bits.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
