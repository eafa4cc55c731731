package main

import (
	"os"
	"runtime/debug"
)

// gcPercent is the collector's target unless GOGC is set. A proxy's live
// heap is small (a few MB) while it allocates a few KB per request, so at
// Go's default of 100 the collector runs several times a second, and on a
// small machine its mark worker takes one of the few Ps each time: at 400
// it runs a quarter as often, for some tens of MB more heap. Measured with
// bench/run.sh's cache row on 2 CPUs: p99 7.1–7.2 ms at 100, 5.6–6.0 ms at
// 400, the same CPU per request.
const gcPercent = 400

func init() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}
