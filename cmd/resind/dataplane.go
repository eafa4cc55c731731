package main

import (
	"os"
	"strconv"

	"go.uber.org/zap"

	"resind/core"
)

// The data plane of the plain listeners (docs/dataplane.md):
//
//	RESIND_DATAPLANE=epoll       core/loop's event loops (Linux)
//	RESIND_DATAPLANE_LOOPS=N     their count (default GOMAXPROCS-1, at least 1)
//
// Unset, core/h1's goroutines serve them.
const (
	envDataplane      = "RESIND_DATAPLANE"
	envDataplaneLoops = "RESIND_DATAPLANE_LOOPS"
)

func dataplane(log *zap.Logger) string {
	switch v := os.Getenv(envDataplane); v {
	case "", "goroutine":
		return ""
	case core.DataplaneEpoll:
		return v
	default:
		log.Warn("unknown "+envDataplane+": the goroutine data plane serves", zap.String("value", v))
		return ""
	}
}

func dataplaneLoops(log *zap.Logger) int {
	v := os.Getenv(envDataplaneLoops)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		log.Warn(envDataplaneLoops+" is not a positive number: the default count serves", zap.String("value", v))
		return 0
	}
	return n
}
