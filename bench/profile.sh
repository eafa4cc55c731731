#!/usr/bin/env bash
# bench/profile.sh: CPU and allocation profiles of resind under wrk load.
#
#   bench/profile.sh [lb|cache|httpproxy] [OUTDIR]
#
# Starts the two bench backends and one resind web-tier server (the same
# resin.xml shapes as bench/run.sh) with RESIND_PPROF on loopback, pinned as
# run.sh pins (wrk and backends on CPU 0, resind on CPU 1), runs wrk for
# PROFILE_SECONDS (default 10) and meanwhile takes a CPU profile, then the
# allocation profile. Prints the top of both; the raw profiles are in OUTDIR
# (default /tmp/resind-profile) for `go tool pprof`. BENCH_BODY sets the
# backends' body size (default 100 bytes).
# Loopback only; stops exactly what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"

WHAT=${1:-lb}
OUT=${2:-/tmp/resind-profile}
SECS=${PROFILE_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
BODY=${BENCH_BODY:-100}
mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/resind-profile.XXXXXX)
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT

go build -o "$TMP/backend" ./bench/backend
go build -o "$TMP/report" ./bench/report
go build -o "$TMP/resind" ./cmd/resind
mapfile -t P < <("$TMP/report" ports 5)
B1=${P[0]} B2=${P[1]} WEB=${P[2]} CL=${P[3]} PPROF=${P[4]}

resind_target "$WHAT" "$B1" "$B2" || {
	echo "usage: $0 [lb|cache|httpproxy] [OUTDIR]" >&2
	exit 2
}
mkdir -p "$TMP/root"
cat >"$TMP/resin.xml" <<EOF
<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="b1" address="127.0.0.1" port="$B1"/>
    <server id="b2" address="127.0.0.1" port="$B2"/>
  </cluster>
  <cluster id="web">
    <server id="web" address="127.0.0.1" port="$CL">
      <http address="127.0.0.1" port="$WEB"/>
    </server>
    $cache
    <host id="">
      <web-app id="/" root-directory="$TMP/root">
        $rule
      </web-app>
    </host>
  </cluster>
</resin>
EOF

start_backends "$TMP/backend" "$B1" "$B2" "$BODY"
RESIND_PPROF=127.0.0.1:$PPROF taskset -c 1 "$TMP/resind" -conf "$TMP/resin.xml" -server web \
	-data-directory "$TMP/data" -log-directory "$TMP/log" console >"$TMP/resind.out" 2>&1 &
PIDS+=($!)
for port in "$B1" "$B2" "$WEB" "$PPROF"; do
	port_open "$port" || {
		echo "port $port did not open" >&2
		cat "$TMP/resind.out" >&2
		exit 1
	}
done
url="http://127.0.0.1:$WEB$path"
curl -s -o /dev/null "$url"
taskset -c 0 wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null # warm-up
taskset -c 0 wrk -t1 -c"$CONNS" -d"$((SECS + 2))s" --latency "$url" >"$OUT/$WHAT-wrk.txt" &
PIDS+=($!)
sleep 1
curl -s -o "$OUT/$WHAT-cpu.pprof" "http://127.0.0.1:$PPROF/debug/pprof/profile?seconds=$SECS"
curl -s -o "$OUT/$WHAT-allocs.pprof" "http://127.0.0.1:$PPROF/debug/pprof/allocs"
wait "${PIDS[-1]}" || true
grep -E 'Requests/sec|99%' "$OUT/$WHAT-wrk.txt"
go tool pprof -top -nodecount=40 "$TMP/resind" "$OUT/$WHAT-cpu.pprof" 2>/dev/null | head -50
go tool pprof -top -sample_index=alloc_space -nodecount=25 "$TMP/resind" "$OUT/$WHAT-allocs.pprof" 2>/dev/null | head -35
cp "$TMP/resind" "$OUT/resind"
