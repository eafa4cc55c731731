package main

import (
	"os"
	"strconv"

	"go.uber.org/zap"

	"resind/core"
)

// The data plane of the plain listeners (docs/dataplane.md):
//
//	RESIND_DATAPLANE=epoll       core/loop's event loops, the default (on
//	                             Linux; elsewhere core/h1 serves)
//	RESIND_DATAPLANE=goroutine   core/h1's goroutine per connection
//	RESIND_DATAPLANE_LOOPS=N     the loops' count (default GOMAXPROCS-1, at
//	                             least 1)
const (
	envDataplane      = "RESIND_DATAPLANE"
	envDataplaneLoops = "RESIND_DATAPLANE_LOOPS"
)

func dataplane(log *zap.Logger) string {
	switch v := os.Getenv(envDataplane); v {
	case "", core.DataplaneEpoll:
		return core.DataplaneEpoll
	case "goroutine":
		return ""
	default:
		log.Warn("unknown "+envDataplane+" (epoll or goroutine): epoll serves", zap.String("value", v))
		return core.DataplaneEpoll
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
