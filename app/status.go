package app

import "slices"

// Status is what a supervised program is doing, for /resin-admin and
// `resind status`.
type Status struct {
	Kind    string // "fastcgi" or "http"
	Command string
	// PIDs are the running processes.
	PIDs []int
	// Busy is the number of FastCGI processes serving a request.
	Busy int
	// Min and Max are a FastCGI pool's limits.
	Min, Max int
	// Ready is whether an HTTP application answers its health checks;
	// Address is where it listens.
	Ready   bool
	Address string
	// LastError is why the last process stopped or failed to start, "" if
	// none did.
	LastError string
}

// Status lists the programs, FastCGI pools first, each kind by command.
func (r *Registry) Status() []Status {
	r.mu.Lock()
	var out []Status
	pools := make([]*FastCGI, 0, len(r.fcgi))
	for _, p := range r.fcgi {
		pools = append(pools, p)
	}
	apps := make([]*HTTP, 0, len(r.http))
	for _, a := range r.http {
		apps = append(apps, a)
	}
	r.mu.Unlock()
	for _, p := range pools {
		p.mu.Lock()
		lo, hi, _ := p.limits()
		st := Status{Kind: "fastcgi", Command: p.name, Min: lo, Max: hi}
		for _, fp := range p.procs {
			st.PIDs = append(st.PIDs, fp.pid)
			if fp.busy {
				st.Busy++
			}
		}
		if p.lastErr != nil {
			st.LastError = p.lastErr.Error()
		}
		p.mu.Unlock()
		out = append(out, st)
	}
	for _, a := range apps {
		a.mu.Lock()
		st := Status{Kind: "http", Command: a.name, Ready: a.isReady, Address: a.network + ":" + a.addr}
		if a.proc != nil && !a.proc.exited() {
			st.PIDs = []int{a.proc.pid}
		}
		if a.lastErr != nil {
			st.LastError = a.lastErr.Error()
		}
		a.mu.Unlock()
		out = append(out, st)
	}
	slices.SortStableFunc(out, func(x, y Status) int {
		if x.Kind != y.Kind {
			if x.Kind == "fastcgi" {
				return -1
			}
			return 1
		}
		if x.Command < y.Command {
			return -1
		}
		if x.Command > y.Command {
			return 1
		}
		return 0
	})
	return out
}
