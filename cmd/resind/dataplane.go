package main

import (
	"os"
	"runtime"
	"strconv"

	"go.uber.org/zap"

	"resind/core"
	"resind/core/loop"
)

// The data plane of the plain listeners (docs/dataplane.md):
//
//	RESIND_DATAPLANE=epoll       core/loop's event loops, the default (on
//	                             Linux; elsewhere core/h1 serves)
//	RESIND_DATAPLANE=goroutine   core/h1's goroutine per connection
//	RESIND_DATAPLANE_LOOPS=N     the loops' count (default GOMAXPROCS-1, at
//	                             least 1)
//
// On one CPU the epoll data plane runs with two Ps (loopProcs).
const (
	envDataplane      = "RESIND_DATAPLANE"
	envDataplaneLoops = "RESIND_DATAPLANE_LOOPS"
)

func dataplane(log *zap.Logger) string {
	switch v := os.Getenv(envDataplane); v {
	case "goroutine":
		return ""
	case "", core.DataplaneEpoll:
	default:
		log.Warn("unknown "+envDataplane+" (epoll or goroutine): epoll serves", zap.String("value", v))
	}
	loopProcs(log)
	return core.DataplaneEpoll
}

// loopProcs gives a process that may use only one CPU (GOMAXPROCS 1: its
// CPU affinity or cgroup quota) a second P, unless GOMAXPROCS is set. With
// one P the loop shares it with the rest of the process: it waits parked in
// the runtime's poller, four epoll_waits and two goroutine switches per idle
// turn. With two, the loop keeps one and blocks in its own epoll_wait, as
// nginx's one worker does, and the other P runs the rest of the process;
// the kernel gives the CPU to whichever thread has work. bench/ab.sh, both
// pinned to one CPU: CPU per request 0.95 for LoadBalance and HttpProxy,
// 1.00 for cache hits, whose p99 was 0.61 of one P's; the others' p99
// within 3%. Setting GOMAXPROCS ends the runtime's own updates of it: a
// CPU limit raised later (affinity or quota) leaves such a process at two
// Ps.
func loopProcs(log *zap.Logger) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set || !loop.Supported || runtime.GOMAXPROCS(0) != 1 {
		return
	}
	runtime.GOMAXPROCS(2)
	log.Info("one CPU: GOMAXPROCS 2, a P of its own for the epoll data plane")
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
