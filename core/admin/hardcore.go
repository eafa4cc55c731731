package admin

import (
	"time"

	"resind/core"
)

// hardcoreJSON is the kernel fast path in /resin-admin/api/status: the
// port resin.ko serves and the sruns resind keeps it balancing over.
type hardcoreJSON struct {
	Port      int        `json:"port"`
	Dir       string     `json:"dir"`
	Sruns     []string   `json:"sruns"` // "IP PORT INDEX"
	Written   *time.Time `json:"written"`
	Rewrites  int        `json:"rewrites"`
	LastError string     `json:"last_error,omitempty"`
}

func hardcoreToJSON(h *core.HardCoreStatus) *hardcoreJSON {
	if h == nil {
		return nil
	}
	out := &hardcoreJSON{Port: h.Port, Dir: h.Dir, Sruns: []string{}, Written: timePtr(h.Written),
		Rewrites: h.Rewrites, LastError: h.LastError}
	for _, s := range h.Sruns {
		out.Sruns = append(out.Sruns, s.String())
	}
	return out
}
