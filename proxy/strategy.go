package proxy

import "time"

// pickAdaptive returns the available member of [lo, hi) with the least cost,
// (100 × (active + 1) + latency ms) ÷ weight. The scan starts at a rotating
// position and keeps the first of equal costs, so ties rotate. A down
// backend whose back-off has passed is returned at once: its trial request
// is how it comes back, and only one request at a time wins it.
//
// A backend warming up after recovery competes on its full weight but may
// hold only warmCap concurrent requests, a limit that doubles from one over
// load-balance-warmup-time (slow start, as Resin's warm-up throttles new
// connections). Scaling its cost instead would starve it whenever the others
// are lightly loaded. Only when every candidate is at its warm-up limit does
// the least loaded of them go over it: a throttle never turns into a 503.
func (bl *Balancer) pickAdaptive(lo, hi int, tried *triedSet, now int64) int {
	n := hi - lo
	start := int(bl.rotation.Add(1) % uint32(n))
	best, capped := -1, -1
	var bestLoad, bestWeight, cappedLoad int64
	for k := 0; k < n; k++ {
		i := lo + (start+k)%n
		if tried.has(i) {
			continue
		}
		m := &bl.members[i]
		ok, trial := m.b.selectable(now)
		if !ok {
			continue
		}
		if trial {
			return i
		}
		active := m.b.active.Load()
		load := 100*(active+1) + int64(m.b.recentLatency(now)/time.Millisecond)
		if c := m.b.warmCap(now); c > 0 && active >= c {
			if capped < 0 || load < cappedLoad {
				capped, cappedLoad = i, load
			}
			continue
		}
		w := max(m.weight, 1)
		// load/w < bestLoad/bestWeight, without division.
		if best < 0 || load*bestWeight < bestLoad*w {
			best, bestLoad, bestWeight = i, load, w
		}
	}
	if best < 0 {
		return capped
	}
	return best
}

// pickRoundRobin is smooth weighted round-robin over the available members
// of [lo, hi): each gains its effective weight, the highest is chosen and
// loses the total. Equal weights rotate in order; weights 2:1 give a a b.
func (bl *Balancer) pickRoundRobin(lo, hi int, tried *triedSet, now int64) int {
	// A trial goes first, before the weights move.
	for i := lo; i < hi; i++ {
		if _, trial := bl.members[i].b.selectable(now); trial && !tried.has(i) {
			return i
		}
	}
	bl.rrMu.Lock()
	defer bl.rrMu.Unlock()
	best := -1
	var total int64
	for i := lo; i < hi; i++ {
		if tried.has(i) {
			continue
		}
		m := &bl.members[i]
		if ok, trial := m.b.selectable(now); !ok || trial {
			continue
		}
		w := m.b.effectiveWeight(m.weight, now)
		bl.rrCurrent[i] += w
		total += w
		if best < 0 || bl.rrCurrent[i] > bl.rrCurrent[best] {
			best = i
		}
	}
	if best >= 0 {
		bl.rrCurrent[best] -= total
	}
	return best
}
