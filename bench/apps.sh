#!/usr/bin/env bash
# bench/apps.sh: which way of running an application is best — a process per
# request (CGI), a pool of FastCGI processes, or an app server behind the
# proxy? One "hello" app (app/testdata/hello, Go) served all three ways by one
# resind, plus a /bin/sh CGI script, under the same wrk load on loopback:
# req/s, latency, and the RSS and CPU of resind with every process below it.
# See bench/apps/main.go.
#
# Environment:
#   BENCH_DURATION=5      seconds per wrk run
#   BENCH_ROUNDS=3        rounds (targets interleaved); the table shows medians
#   BENCH_CONNECTIONS=16  wrk connections; BENCH_THREADS=1 wrk threads
#   BENCH_TARGETS=…       a subset of cgi-sh,cgi-go,fastcgi,http
#   BENCH_KEEP=1          keep the temp directory (resin.xml, logs)
#   BENCH_RESIND=FILE     measure this resind binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
	sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >&2
fi

BIN=$(mktemp -d /tmp/resind-bench-apps-bin.XXXXXX)
trap 'rm -rf "$BIN"' EXIT
RESIND=${BENCH_RESIND:-}
if [ -z "$RESIND" ]; then
	go build -o "$BIN/resind" ./cmd/resind
	RESIND=$BIN/resind
fi
go build -o "$BIN/hello" ./app/testdata/hello
go build -o "$BIN/apps" ./bench/apps

keep=()
[ "${BENCH_KEEP:-}" = 1 ] && keep=(-keep)
targets=()
[ -n "${BENCH_TARGETS:-}" ] && targets=(-targets "$BENCH_TARGETS")
"$BIN/apps" -resind "$RESIND" -hello "$BIN/hello" \
	-duration "${BENCH_DURATION:-5}s" -rounds "${BENCH_ROUNDS:-3}" \
	-connections "${BENCH_CONNECTIONS:-16}" -threads "${BENCH_THREADS:-1}" \
	"${keep[@]}" "${targets[@]}"
