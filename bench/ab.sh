#!/usr/bin/env bash
# bench/ab.sh: is NEW cheaper per request than OLD? Two resind builds under
# the same load at the same time.
#
#   bench/ab.sh OLD NEW        OLD, NEW: git revisions (built in a temporary
#                              worktree) or resind binaries
#   bench/ab.sh HEAD HEAD      the same build twice: the method's own spread
#   bench/ab.sh nginx HEAD     resind against nginx (one worker, as make
#                              bench's; "nginx" may be either side): CPU per
#                              request, p99 and throughput of both, measured
#                              in the same seconds on the same CPU
#
# make bench measures one target after another, and on a shared VM the
# machine's speed moves by ±10% from one second to the next, so a change
# worth 2–5% per request is lost in it. Here the two builds run side by side,
# both pinned to CPU 1 (GOMAXPROCS 1), each behind its own wrk on CPU 0 in
# the same seconds, so whatever the machine does it does to both. Each round
# gives each build's CPU time per request (utime+stime ÷ requests) and
# their ratio NEW/OLD; the summary is the median ratio and its quartiles.
# Below 1.00 NEW is cheaper. On the development VM an A/A run (HEAD HEAD)
# gives a median within 1% of 1.00 and quartiles about ±1.5%. Each build's
# requests served and p99 latency (wrk --latency) are summarized the same
# way.
#
# Environment:
#   AB_TARGET=lb         lb (LoadBalance), httpproxy (HttpProxy) or cache
#                        (proxy-cache hits)
#   AB_ROUNDS=20         rounds; AB_SECONDS=2 seconds of load per round
#   AB_CONNECTIONS=32    wrk connections per build
#   AB_BODY=100          bytes in each backend answer's body
#   AB_MAX=600           the whole run is stopped after this many seconds
#   AB_CPUS=1            the CPUs both builds run on: 0,1 measures them
#                        unpinned, sharing both CPUs with wrk and the
#                        backends (GOMAXPROCS 2)
#   AB_PIPELINE=1        requests wrk pipelines in each write (its
#                        latencies are then of the whole batch)
#   AB_SOLO=1            one after the other in each round, each alone on
#                        its CPU (make bench's condition), instead of at
#                        once: the machine moves more between the two runs
#                        of a round, so it needs more rounds
#   AB_OLD_ENV, AB_NEW_ENV="K=V …"  environment of one build only, e.g.
#                        AB_NEW_ENV=RESIND_DATAPLANE=epoll with the same
#                        binary twice compares the two data planes
#
# Loopback only; stops exactly what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PROXY_CPUS=${AB_CPUS:-1}
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"

if [ $# -ne 2 ]; then
	echo "usage: $0 OLD NEW   (git revisions, resind binaries or nginx)" >&2
	exit 2
fi
TARGET=${AB_TARGET:-lb}
ROUNDS=${AB_ROUNDS:-20}
SECS=${AB_SECONDS:-2}
CONNS=${AB_CONNECTIONS:-32}
MAX=${AB_MAX:-600}
SOLO=${AB_SOLO:-0}
PIPELINE=${AB_PIPELINE:-1}
BODY=${AB_BODY:-100}
tools="wrk taskset curl"
[ "$1" = nginx ] || [ "$2" = nginx ] && tools="$tools nginx"
for tool in $tools; do
	command -v "$tool" >/dev/null || {
		echo "ab: $tool is missing (make bench installs it)" >&2
		exit 2
	}
done

TMP=$(mktemp -d /tmp/resind-ab.XXXXXX)
PIDS=()
WORKTREES=()
cleanup() {
	local p w
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for w in "${WORKTREES[@]}"; do git worktree remove --force "$w" 2>/dev/null || true; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'echo "ab: interrupted" >&2; exit 130' INT TERM
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$MAX" &
	s=$!
	wait "$s"
	echo "ab: over ${MAX}s, stopping" >&2
	kill -TERM $$
) 2>/dev/null &
PIDS+=($!)

# build NAME REV-OR-FILE: $TMP/NAME is that resind; for "nginx", NAME is
# nginx (NGINX_SIDE).
NGINX_SIDE=""
build() {
	if [ "$2" = nginx ]; then
		NGINX_SIDE=$1
		return
	fi
	if [ -f "$2" ] && [ -x "$2" ]; then
		cp "$2" "$TMP/$1"
		return
	fi
	local rev
	rev=$(git rev-parse --verify -q "$2^{commit}") || {
		echo "ab: $2 is neither a resind binary nor a git revision" >&2
		exit 2
	}
	git worktree add -q --detach "$TMP/src-$1" "$rev"
	WORKTREES+=("$TMP/src-$1")
	(cd "$TMP/src-$1" && go build -o "$TMP/$1" ./cmd/resind)
	echo "ab: $1 = $2 ($(git log -1 --format='%h %s' "$rev" | cut -c1-70))" >&2
}
build old "$1"
build new "$2"
go build -o "$TMP/backend" ./bench/backend
go build -o "$TMP/report" ./bench/report
mapfile -t P < <("$TMP/report" ports 6)
B1=${P[0]} B2=${P[1]} OLD_HTTP=${P[2]} OLD_CL=${P[3]} NEW_HTTP=${P[4]} NEW_CL=${P[5]}

resind_target "$TARGET" "$B1" "$B2" || {
	echo "ab: AB_TARGET is lb, httpproxy or cache" >&2
	exit 2
}
mkdir -p "$TMP/root"
# web clusters: one server each, so the two builds do not form a cluster.
webcluster() {
	cat <<EOF
  <cluster id="$1">
    <server id="$1" address="127.0.0.1" port="$3"><http address="127.0.0.1" port="$2"/></server>
    $cache
    <host id=""><web-app id="/" root-directory="$TMP/root">$rule</web-app></host>
  </cluster>
EOF
}
cat >"$TMP/resin.xml" <<EOF
<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="b1" address="127.0.0.1" port="$B1"/>
    <server id="b2" address="127.0.0.1" port="$B2"/>
  </cluster>
$(webcluster old "$OLD_HTTP" "$OLD_CL")
$(webcluster new "$NEW_HTTP" "$NEW_CL")
</resin>
EOF

start_backends "$TMP/backend" "$B1" "$B2" "$BODY"
declare -A RPID=()
# nginx's side: what make bench's nginx (and, for cache, nginx-cache) row
# loads, its combined access log on as resind's.
NGINX_PATH=/plain
[ "$TARGET" = cache ] && NGINX_PATH=/cached
for id in old new; do
	if [ "$id" = "$NGINX_SIDE" ]; then
		port=$OLD_HTTP
		[ $id = new ] && port=$NEW_HTTP
		nginx_conf "$TMP/nginx" 1 "$port" "$B1" "$B2" on
		taskset -c "$PROXY_CPUS" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" \
			-g 'daemon off;' >"$TMP/$id.out" 2>&1 &
		RPID[$id]=$!
		PIDS+=($!)
		continue
	fi
	envs=${AB_OLD_ENV:-}
	[ $id = new ] && envs=${AB_NEW_ENV:-}
	env $envs taskset -c "$PROXY_CPUS" "$TMP/$id" -conf "$TMP/resin.xml" -server "$id" \
		-data-directory "$TMP/data-$id" -log-directory "$TMP/log-$id" console >"$TMP/$id.out" 2>&1 &
	RPID[$id]=$!
	PIDS+=($!)
done
for port in "$B1" "$B2" "$OLD_HTTP" "$NEW_HTTP"; do
	port_open "$port" || {
		echo "ab: port $port did not open" >&2
		cat "$TMP"/*.out >&2
		exit 1
	}
done

OLD_URL=http://127.0.0.1:$OLD_HTTP$path NEW_URL=http://127.0.0.1:$NEW_HTTP$path
[ "$NGINX_SIDE" = old ] && OLD_URL=http://127.0.0.1:$OLD_HTTP$NGINX_PATH
[ "$NGINX_SIDE" = new ] && NEW_URL=http://127.0.0.1:$NEW_HTTP$NGINX_PATH
for url in "$OLD_URL" "$NEW_URL"; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" || echo 000)
	[ "$code" = 200 ] || {
		echo "ab: GET $url answered $code" >&2
		exit 1
	}
	taskset -c 0 wrk -t1 -c"$CONNS" -d1s "$url" >/dev/null # warm-up, fills a cache
done

# p99 WRK-OUTPUT: the p99 latency of wrk --latency in µs.
p99() {
	awk '$1 == "99%" {
		v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
		f = (u == "us") ? 1 : (u == "ms") ? 1e3 : (u == "s") ? 1e6 : (u == "m") ? 6e7 : 0
		printf "%.0f\n", v * f; found = 1
	} END { if (!found) print 0 }' "$1"
}

# load ID: wrk against ID's URL for SECS, its output in $TMP/wrk-ID.
WRK_SCRIPT=()
if [ "$PIPELINE" -gt 1 ]; then
	cat >"$TMP/pipeline.lua" <<EOF
init = function(args)
  local r = {}
  for i = 1, $PIPELINE do r[i] = wrk.format(nil, wrk.path) end
  req = table.concat(r)
end
request = function() return req end
EOF
	WRK_SCRIPT=(-s "$TMP/pipeline.lua")
fi
load() {
	local url=$OLD_URL
	[ "$1" = new ] && url=$NEW_URL
	taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "${WRK_SCRIPT[@]}" "$url" >"$TMP/wrk-$1"
}

if [ "$SOLO" = 1 ]; then
	echo "ab: $ROUNDS rounds of ${SECS}s, $TARGET, old then new alone on CPU $PROXY_CPUS, wrk -c$CONNS on CPU 0" >&2
else
	echo "ab: $ROUNDS rounds of ${SECS}s, $TARGET, old and new at once on CPU $PROXY_CPUS, wrk -c$CONNS each on CPU 0" >&2
fi
: >"$TMP/rounds"
for round in $(seq "$ROUNDS"); do
	if [ "$SOLO" = 1 ]; then
		# In turn, each measured over its own run; the order flips every
		# round, so that neither always runs first.
		order="old new"
		[ $((round % 2)) = 0 ] && order="new old"
		declare -A T0=() T1=()
		for id in $order; do
			T0[$id]=$("$TMP/report" ticks "${RPID[$id]}")
			load "$id"
			T1[$id]=$("$TMP/report" ticks "${RPID[$id]}")
		done
		o0=${T0[old]} o1=${T1[old]} n0=${T0[new]} n1=${T1[new]}
	else
		o0=$("$TMP/report" ticks "${RPID[old]}")
		n0=$("$TMP/report" ticks "${RPID[new]}")
		load old &
		wo=$!
		load new &
		wn=$!
		wait "$wo" "$wn"
		o1=$("$TMP/report" ticks "${RPID[old]}")
		n1=$("$TMP/report" ticks "${RPID[new]}")
	fi
	ro=$(awk '/requests in/{print $1}' "$TMP/wrk-old")
	rn=$(awk '/requests in/{print $1}' "$TMP/wrk-new")
	echo "$ro $((o1 - o0)) $rn $((n1 - n0)) $(p99 "$TMP/wrk-old") $(p99 "$TMP/wrk-new")" | tee -a "$TMP/rounds" |
		awk -v r="$round" -v hz="$(getconf CLK_TCK)" '{printf "ab: round %2d  old %6.1f µs/req p99 %5.2f ms  new %6.1f µs/req p99 %5.2f ms\n", r, $2*1e6/hz/$1, $5/1e3, $4*1e6/hz/$3, $6/1e3}' >&2
done
"$TMP/report" ab "$(getconf CLK_TCK)" "$TMP/rounds"
