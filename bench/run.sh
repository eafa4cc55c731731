#!/usr/bin/env bash
# bench/run.sh: resind against nginx and HAProxy, side by side, over loopback.
#
# Two Go backends (bench/backend, 100-byte body; /cached says max-age=60)
# sit behind nginx (upstream + keepalive, and a proxy_cache location),
# HAProxy (roundrobin, http-reuse, and its cache), Go's plain
# httputil.ReverseProxy (bench/goproxy, the yardstick), three forwarders that
# do no HTTP work (bench/gofloor: the floor of Go with goroutines, with one
# epoll loop, and with that loop's system calls hidden from the runtime),
# the last of them once more doing a lean proxy's HTTP work, and two resind
# web-tier
# servers: web-p (HttpProxy and LoadBalance to the backends, no cache) and
# web-c (LoadBalance through <proxy-cache>), and web-e, web-p's LoadBalance
# and HttpProxy on the epoll data plane (core/loop, resind's default; web-p runs with
# RESIND_DATAPLANE=goroutine, core/h1's goroutines, for comparison). wrk (HTTP/1.1 keep-alive) runs
# against each target in interleaved rounds (A B C … A B C …), first with
# nothing pinned, then pinned (wrk and backends on CPU 0, the proxy on CPU 1).
# The table shows medians over rounds, the CPU each proxy used (utime+stime
# of the whole process tree), req/s per proxy core, and ratios to nginx and
# HAProxy from the same round.
#
# Environment:
#   BENCH_DURATION=5     seconds per wrk run
#   BENCH_ROUNDS=3       rounds per mode
#   BENCH_CONNECTIONS=32 wrk connections (-c); BENCH_THREADS=1 wrk threads (-t)
#   BENCH_MODES="unpinned pinned"
#   BENCH_TARGETS="…"    a subset of: nginx nginx-fwd haproxy go-reverseproxy
#                        resind-httpproxy resind-httpproxy-epoll resind-lb resind-lb-epoll
#                        nginx-cache haproxy-cache
#                        resind-cache go-floor-goroutine go-floor-epoll
#                        go-floor-raw go-floor-raw-http (nginx-fwd: nginx
#                        sending the backends the forwarding fields resind's
#                        LoadBalance sends, X-Forwarded-For, -Proto, -Host
#                        and Via: the same work at the backends, which share
#                        CPU 0 with wrk when pinned; go-reverseproxy: bench/goproxy, plain
#                        httputil.ReverseProxy, the yardstick for net/http;
#                        go-floor-*: bench/gofloor, a forwarder doing no HTTP
#                        work: Go's floor with goroutines, with one epoll
#                        loop, and with that loop's system calls raw;
#                        go-floor-raw-http: the raw loop doing a lean
#                        proxy's HTTP work and access log, as nginx does)
#   BENCH_SOAK=0         seconds of a longer run against resind with its RSS
#                        sampled before, during and after (e.g. 60)
#   BENCH_MAX=600        the whole run is stopped after this many seconds
#   BENCH_KEEP=1         keep the temp directory (configs, logs, results)
#   BENCH_RESIND=FILE    measure this resind binary instead of building one
#   BENCH_RESULTS=FILE   also copy the raw results (TSV) there
#   BENCH_BODY=100       bytes in each backend answer's body
#   BENCH_RESIND_ENV="K=V …"  environment for resind only (e.g. GOMAXPROCS=1;
#                        pinned mode's GOMAXPROCS 1 still applies there)
#   BENCH_NGINX_LOG=on   nginx writes a combined access log, buffered and
#                        flushed every second, as resind always writes its
#                        own ("off": no log, as HAProxy without syslog)
#
# Loopback only. Everything started here is stopped on exit or interrupt.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export PATH="$PATH:/usr/sbin:/sbin"

DURATION=${BENCH_DURATION:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
MODES=${BENCH_MODES:-unpinned pinned}
TARGETS=${BENCH_TARGETS:-nginx nginx-fwd haproxy go-reverseproxy go-floor-goroutine go-floor-epoll go-floor-raw go-floor-raw-http resind-httpproxy resind-httpproxy-epoll resind-lb resind-lb-epoll nginx-cache haproxy-cache resind-cache}
SOAK=${BENCH_SOAK:-0}
MAX=${BENCH_MAX:-600}
NGINX_LOG=${BENCH_NGINX_LOG:-on}
RESIND_ENV=${BENCH_RESIND_ENV:-}
BODY=${BENCH_BODY:-100}

say() { printf 'bench: %s\n' "$*" >&2; }

TMP=$(mktemp -d /tmp/resind-bench.XXXXXX)
chmod 755 "$TMP"
RESULTS=$TMP/results.tsv
: >"$RESULTS"

# Every process started here, by pid; cleanup stops exactly those.
declare -A PID=()
WATCHDOG=""

stop_pids() {
	local p left
	for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
	for _ in $(seq 50); do
		left=""
		for p in "$@"; do kill -0 "$p" 2>/dev/null && left=1; done
		[ -z "$left" ] && break
		sleep 0.1
	done
	for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}

stop_all() {
	local pids=("${PID[@]}")
	[ ${#pids[@]} -gt 0 ] && stop_pids "${pids[@]}"
	PID=()
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	stop_all
	[ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null && wait "$WATCHDOG" 2>/dev/null
	if [ "${BENCH_KEEP:-}" = 1 ]; then
		say "kept $TMP"
	else
		rm -rf "$TMP"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

# The whole run is bounded: past MAX seconds the watchdog stops it (the
# trap then stops every process; at most one wrk run finishes first).
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep "$MAX" &
	s=$!
	wait "$s"
	echo "bench: over ${MAX}s, stopping" >&2
	kill -TERM $$
) 2>/dev/null &
WATCHDOG=$!

# ---------------------------------------------------------------- install
install_missing() {
	local missing=() p sudo=""
	for p in nginx haproxy wrk; do
		dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
	done
	command -v taskset >/dev/null || missing+=(util-linux)
	command -v curl >/dev/null || missing+=(curl)
	[ ${#missing[@]} -eq 0 ] && return
	[ "$(id -u)" = 0 ] || sudo=sudo
	say "installing ${missing[*]}"
	# Keep the packages' own services from starting: this benchmark runs
	# nginx and HAProxy itself, with its own configs, in the foreground.
	local policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
		$sudo chmod 755 /usr/sbin/policy-rc.d
		policy=1
	fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 || {
		[ -n "$policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
		return 1
	}
	[ -n "$policy" ] && $sudo rm -f /usr/sbin/policy-rc.d
	# Should a service have started anyway, stop only the ones installed now.
	for p in "${missing[@]}"; do
		case $p in nginx | haproxy)
			if command -v systemctl >/dev/null && systemctl is-active --quiet "$p" 2>/dev/null; then
				say "stopping the $p service the install started"
				$sudo systemctl stop "$p" || true
			fi
			;;
		esac
	done
}
install_missing

# ---------------------------------------------------------------- build
say "building the backend, the report tool, goproxy, gofloor and resind"
mkdir -p "$TMP/bin"
go build -o "$TMP/bin/backend" ./bench/backend
go build -o "$TMP/bin/report" ./bench/report
go build -o "$TMP/bin/goproxy" ./bench/goproxy
go build -o "$TMP/bin/gofloor" ./bench/gofloor
RESIND_OK=1
RESIND_WHY=""
if [ -n "${BENCH_RESIND:-}" ]; then
	say "using resind from $BENCH_RESIND"
	cp "$BENCH_RESIND" "$TMP/bin/resind"
elif ! go build -o "$TMP/bin/resind" ./cmd/resind 2>"$TMP/resind-build.log"; then
	RESIND_OK=""
	RESIND_WHY="go build ./cmd/resind failed: $(grep -m1 -v '^#' "$TMP/resind-build.log" | tr '\t' ' ')"
	say "$RESIND_WHY"
fi

mapfile -t PORTS < <("$TMP/bin/report" ports 15)
B1=${PORTS[0]} B2=${PORTS[1]} NGINX=${PORTS[2]} HAP=${PORTS[3]}
WEBP=${PORTS[4]} WEBP_CL=${PORTS[5]} WEBC=${PORTS[6]} WEBC_CL=${PORTS[7]} GOPROXY=${PORTS[8]}
FLOORG=${PORTS[9]} FLOORE=${PORTS[10]} FLOORR=${PORTS[11]} FLOORH=${PORTS[12]}
WEBE=${PORTS[13]} WEBE_CL=${PORTS[14]}

cat >"$TMP/report.lua" <<'EOF'
-- One machine-readable line: requests, duration (us), p50 and p99 (us),
-- all errors, non-2xx/3xx answers.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("BENCH %d %d %d %d %d %d\n", summary.requests, summary.duration,
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.status + e.timeout, e.status))
end
EOF

# ---------------------------------------------------------------- configs
# write_configs WORKERS: nginx workers and HAProxy threads ("auto" = CPUs).
write_configs() {
	local workers=$1 d
	for d in nginx haproxy resind; do mkdir -p "$TMP/$d"; done
	mkdir -p "$TMP/resind/root"
	nginx_conf "$TMP/nginx" "$workers" "$NGINX" "$B1" "$B2" "$NGINX_LOG"
	local nbthread=""
	[ "$workers" != auto ] && nbthread="nbthread $workers"
	cat >"$TMP/haproxy/haproxy.cfg" <<EOF
global
    $nbthread
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
    http-reuse always
cache bench
    total-max-size 64
    max-object-size 10000
    max-age 60
frontend web
    bind 127.0.0.1:$HAP
    use_backend cached if { path_beg /cached }
    default_backend backends
backend backends
    balance roundrobin
    server b1 127.0.0.1:$B1
    server b2 127.0.0.1:$B2
backend cached
    balance roundrobin
    http-request cache-use bench
    http-response cache-store bench
    server b1 127.0.0.1:$B1
    server b2 127.0.0.1:$B2
EOF
	# The cluster "app" is the two Go backends: resind load-balances to a
	# cluster's server ports. web-p has no cache (like the nginx and HAProxy
	# proxy rows); web-c's cluster has a <proxy-cache>.
	cat >"$TMP/resind/resin.xml" <<EOF
<resin xmlns="http://caucho.com/ns/resin" xmlns:resin="urn:java:com.caucho.resin">
  <cluster id="app">
    <server id="b1" address="127.0.0.1" port="$B1"/>
    <server id="b2" address="127.0.0.1" port="$B2"/>
  </cluster>
  <cluster id="web">
    <server id="web-p" address="127.0.0.1" port="$WEBP_CL">
      <http address="127.0.0.1" port="$WEBP"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="$TMP/resind/root">
        <resin:HttpProxy regexp="^/hp/" addresses="127.0.0.1:$B1 127.0.0.1:$B2"/>
        <resin:LoadBalance regexp="^/lb/" cluster="app" strategy="round-robin"/>
      </web-app>
    </host>
  </cluster>
  <cluster id="webc">
    <server id="web-c" address="127.0.0.1" port="$WEBC_CL">
      <http address="127.0.0.1" port="$WEBC"/>
    </server>
    <proxy-cache memory-size="64M"/>
    <host id="">
      <web-app id="/" root-directory="$TMP/resind/root">
        <resin:LoadBalance regexp="^/lb/" cluster="app" strategy="round-robin"/>
      </web-app>
    </host>
  </cluster>
  <cluster id="webe">
    <server id="web-e" address="127.0.0.1" port="$WEBE_CL">
      <http address="127.0.0.1" port="$WEBE"/>
    </server>
    <host id="">
      <web-app id="/" root-directory="$TMP/resind/root">
        <resin:HttpProxy regexp="^/hp/" addresses="127.0.0.1:$B1 127.0.0.1:$B2"/>
        <resin:LoadBalance regexp="^/lb/" cluster="app" strategy="round-robin"/>
      </web-app>
    </host>
  </cluster>
</resin>
EOF
}

# ---------------------------------------------------------------- targets
# target_url, target_class, target_procs (the names in PID whose process
# trees are the proxy).
target_url() {
	case $1 in
	nginx) echo "http://127.0.0.1:$NGINX/plain" ;;
	nginx-fwd) echo "http://127.0.0.1:$NGINX/fwd/plain" ;;
	haproxy) echo "http://127.0.0.1:$HAP/plain" ;;
	go-reverseproxy) echo "http://127.0.0.1:$GOPROXY/plain" ;;
	go-floor-goroutine) echo "http://127.0.0.1:$FLOORG/plain" ;;
	go-floor-epoll) echo "http://127.0.0.1:$FLOORE/plain" ;;
	go-floor-raw) echo "http://127.0.0.1:$FLOORR/plain" ;;
	go-floor-raw-http) echo "http://127.0.0.1:$FLOORH/lb/plain" ;;
	resind-httpproxy) echo "http://127.0.0.1:$WEBP/hp/plain" ;;
	resind-lb) echo "http://127.0.0.1:$WEBP/lb/plain" ;;
	resind-lb-epoll) echo "http://127.0.0.1:$WEBE/lb/plain" ;;
	resind-httpproxy-epoll) echo "http://127.0.0.1:$WEBE/hp/plain" ;;
	nginx-cache) echo "http://127.0.0.1:$NGINX/cached" ;;
	haproxy-cache) echo "http://127.0.0.1:$HAP/cached" ;;
	resind-cache) echo "http://127.0.0.1:$WEBC/lb/cached" ;;
	*) return 1 ;;
	esac
}
target_class() { case $1 in *-cache) echo cache ;; *) echo proxy ;; esac }
target_proc() {
	case $1 in
	nginx*) echo nginx ;;
	haproxy*) echo haproxy ;;
	go-reverseproxy) echo goproxy ;;
	go-floor-goroutine) echo floor-goroutine ;;
	go-floor-epoll) echo floor-epoll ;;
	go-floor-raw) echo floor-raw ;;
	go-floor-raw-http) echo floor-http ;;
	resind-cache) echo web-c ;;
	resind-lb-epoll | resind-httpproxy-epoll) echo web-e ;;
	resind-*) echo web-p ;;
	esac
}

# ---------------------------------------------------------------- processes
# start NAME CPUS CMD...: CMD in the background (pinned to CPUS unless
# empty), its output in $TMP/NAME.out.
start() {
	local name=$1 cpus=$2
	shift 2
	if [ -n "$cpus" ]; then
		taskset -c "$cpus" "$@" >"$TMP/$name.out" 2>&1 &
	else
		"$@" >"$TMP/$name.out" 2>&1 &
	fi
	PID[$name]=$!
}

# wait_port NAME PORT: until PORT accepts connections (10 s at most) and the
# process still runs.
wait_port() {
	local name=$1 port=$2
	for _ in $(seq 100); do
		kill -0 "${PID[$name]}" 2>/dev/null || return 1
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

origin_count() {
	local a b
	a=$(curl -s --max-time 2 "http://127.0.0.1:$B1/_count" || echo 0)
	b=$(curl -s --max-time 2 "http://127.0.0.1:$B2/_count" || echo 0)
	echo $((a + b))
}

# start_mode MODE: backends, nginx, HAProxy and resind for that mode; sets
# UP (the targets that answer correctly) and writes SKIP lines for the rest.
start_mode() {
	local mode=$1 load="" proxy="" workers=auto
	if [ "$mode" = pinned ]; then load=0 proxy=1 workers=1; fi
	write_configs "$workers"
	start backend1 "$load" "$TMP/bin/backend" -addr "127.0.0.1:$B1" -size $BODY
	start backend2 "$load" "$TMP/bin/backend" -addr "127.0.0.1:$B2" -size $BODY
	wait_port backend1 "$B1" && wait_port backend2 "$B2" || {
		say "the backends did not start"
		cat "$TMP"/backend*.out >&2
		exit 1
	}
	start nginx "$proxy" nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" -g 'daemon off;'
	start haproxy "$proxy" haproxy -f "$TMP/haproxy/haproxy.cfg" -db
	start goproxy "$proxy" "$TMP/bin/goproxy" -addr "127.0.0.1:$GOPROXY" "127.0.0.1:$B1" "127.0.0.1:$B2"
	start floor-goroutine "$proxy" "$TMP/bin/gofloor" -mode goroutine -addr "127.0.0.1:$FLOORG" "127.0.0.1:$B1" "127.0.0.1:$B2"
	start floor-epoll "$proxy" "$TMP/bin/gofloor" -mode epoll -addr "127.0.0.1:$FLOORE" "127.0.0.1:$B1" "127.0.0.1:$B2"
	start floor-raw "$proxy" "$TMP/bin/gofloor" -mode epoll-raw -addr "127.0.0.1:$FLOORR" "127.0.0.1:$B1" "127.0.0.1:$B2"
	start floor-http "$proxy" "$TMP/bin/gofloor" -mode epoll-raw-http -log "$TMP/floor-http.log" -addr "127.0.0.1:$FLOORH" "127.0.0.1:$B1" "127.0.0.1:$B2"
	local down=()
	wait_port nginx "$NGINX" || down+=(nginx)
	wait_port haproxy "$HAP" || down+=(haproxy)
	wait_port goproxy "$GOPROXY" || down+=(goproxy)
	wait_port floor-goroutine "$FLOORG" || down+=(floor-goroutine)
	wait_port floor-epoll "$FLOORE" || down+=(floor-epoll)
	wait_port floor-raw "$FLOORR" || down+=(floor-raw)
	wait_port floor-http "$FLOORH" || down+=(floor-http)
	if [ -n "$RESIND_OK" ]; then
		local id port
		local dataplane
		for id in web-p web-c web-e; do
			port=$WEBP dataplane=RESIND_DATAPLANE=goroutine
			[ $id = web-c ] && port=$WEBC dataplane=
			[ $id = web-e ] && port=$WEBE dataplane=RESIND_DATAPLANE=epoll
			start "$id" "$proxy" env $RESIND_ENV $dataplane "$TMP/bin/resind" -conf "$TMP/resind/resin.xml" -server "$id" \
				-data-directory "$TMP/resind/data" -log-directory "$TMP/resind/log" console
			wait_port "$id" "$port" || down+=("$id")
		done
	else
		down+=(web-p web-c web-e)
	fi

	UP=()
	local t p url code size why
	for t in $TARGETS; do
		p=$(target_proc "$t")
		url=$(target_url "$t") || {
			say "unknown target $t"
			exit 2
		}
		why=""
		if [[ " ${down[*]} " == *" $p "* ]]; then
			why="$p did not start"
			[ -z "$RESIND_OK" ] && [[ $t == resind-* ]] && why=$RESIND_WHY
			[ -f "$TMP/$p.out" ] && why="$why: $(tail -n 3 "$TMP/$p.out" | tr '\t\n' '  ' | cut -c1-300)"
		else
			# Twice: the second answer of a cache target should be a hit.
			read -r code size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' --max-time 5 "$url" || echo "000 0")
			read -r code size < <(curl -s -o /dev/null -w '%{http_code} %{size_download}\n' --max-time 5 "$url" || echo "000 0")
			if [ "$code" != 200 ] || [ "$size" != $BODY ]; then
				why="GET $url answered $code with $size bytes, want 200 with $BODY"
			fi
		fi
		if [ -n "$why" ]; then
			say "$mode: $t not run: $why"
			printf 'SKIP\t%s\t%s\t%s\n' "$mode" "$t" "$why" >>"$RESULTS"
		else
			UP+=("$t")
		fi
	done
}

# measure MODE ROUND TARGET SECONDS [record]
measure() {
	local mode=$1 round=$2 t=$3 secs=$4 record=${5:-}
	local url load="" p before after o1 o2 out line
	url=$(target_url "$t")
	p=${PID[$(target_proc "$t")]}
	[ "$mode" = pinned ] && load=0
	o1=$(origin_count)
	before=$("$TMP/bin/report" ticks "$p")
	if [ -n "$load" ]; then
		out=$(timeout $((secs + 20)) taskset -c "$load" wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" -s "$TMP/report.lua" "$url" 2>&1) || true
	else
		out=$(timeout $((secs + 20)) wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" -s "$TMP/report.lua" "$url" 2>&1) || true
	fi
	after=$("$TMP/bin/report" ticks "$p")
	o2=$(origin_count)
	[ -z "$record" ] && return 0
	line=$(grep '^BENCH ' <<<"$out" | tail -n 1 || true)
	if [ -z "$line" ]; then
		say "$mode round $round $t: wrk gave no result: $(tr '\n' ' ' <<<"$out" | cut -c1-300)"
		return 0
	fi
	read -r _ req dur p50 p99 errs non2xx <<<"$line"
	printf 'RUN\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$mode" "$round" "$t" "$(target_class "$t")" "$req" "$dur" "$p50" "$p99" "$errs" "$non2xx" \
		$((after - before)) "$(getconf CLK_TCK)" $((o2 - o1)) >>"$RESULTS"
	say "$(printf '%-8s round %s  %-16s %8.0f req/s  p99 %6.2fms  errors %s' "$mode" "$round" "$t" \
		"$(awk -v r="$req" -v d="$dur" 'BEGIN{print r/(d/1e6)}')" "$(awk -v u="$p99" 'BEGIN{print u/1000}')" "$errs")"
}

rss() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm() { awk '/^VmHWM/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# soak SECONDS: resind-lb on web-p and resind-cache on web-c at once, with
# both servers' RSS sampled every 10 s.
soak() {
	local secs=$1 id
	local ids=()
	for id in web-p web-c; do [ -n "${PID[$id]:-}" ] && kill -0 "${PID[$id]}" 2>/dev/null && ids+=("$id"); done
	if [ ${#ids[@]} -eq 0 ]; then
		echo
		echo "== memory: resind is not running, no soak (${RESIND_WHY:-see the notes above})"
		return
	fi
	say "soak: ${secs}s against resind-lb and resind-cache at once, 128 connections each"
	declare -A before=()
	for id in "${ids[@]}"; do before[$id]=$(rss "${PID[$id]}"); done
	local w1 w2 samples=""
	wrk -t1 -c128 -d"${secs}s" "http://127.0.0.1:$WEBP/lb/soak" >"$TMP/soak-lb.out" 2>&1 &
	w1=$!
	wrk -t1 -c128 -d"${secs}s" "http://127.0.0.1:$WEBC/lb/cached" >"$TMP/soak-cache.out" 2>&1 &
	w2=$!
	PID[soak-lb]=$w1 PID[soak-cache]=$w2
	local t=0
	while kill -0 "$w1" 2>/dev/null || kill -0 "$w2" 2>/dev/null; do
		sleep 1
		t=$((t + 1))
		if [ $((t % 10)) = 0 ]; then
			samples="$samples ${t}s:"
			for id in "${ids[@]}"; do samples="$samples $id=$(($(rss "${PID[$id]}") / 1024))M"; done
		fi
	done
	wait "$w1" "$w2" 2>/dev/null || true
	unset 'PID[soak-lb]' 'PID[soak-cache]'
	sleep 2
	echo
	echo "== memory: resind RSS around a ${secs}s run (wrk -c128 on /lb/ of web-p and /lb/cached of web-c at once)"
	printf '%-8s %12s %12s %12s %14s\n' server "RSS before" "RSS after" "peak (HWM)" "requests"
	for id in "${ids[@]}"; do
		local f=$TMP/soak-lb.out
		[ "$id" = web-c ] && f=$TMP/soak-cache.out
		printf '%-8s %10dkB %10dkB %10dkB %14s\n' "$id" "${before[$id]}" "$(rss "${PID[$id]}")" "$(hwm "${PID[$id]}")" \
			"$(awk '/requests in/{print $1}' "$f")"
	done
	echo "samples:$samples"
}

# ---------------------------------------------------------------- run
for mode in $MODES; do
	case $mode in
	unpinned) desc="nothing pinned; nginx workers, HAProxy threads and GOMAXPROCS = $(nproc) CPUs" ;;
	pinned) desc="wrk and backends on CPU 0, the proxy on CPU 1 (1 nginx worker, 1 HAProxy thread, GOMAXPROCS 1 but 2 for resind's epoll plane, its own choice on one CPU)" ;;
	*)
		say "unknown mode $mode (unpinned, pinned)"
		exit 2
		;;
	esac
	printf 'MODE\t%s\t%s; wrk -t%s -c%s -d%ss, %s rounds, %s-byte bodies, medians over rounds\n' \
		"$mode" "$desc" "$THREADS" "$CONNS" "$DURATION" "$ROUNDS" "$BODY" >>"$RESULTS"
	say "$mode: starting the servers"
	start_mode "$mode"
	for t in "${UP[@]}"; do measure "$mode" 0 "$t" 1; done # warm-up, fills the caches
	for round in $(seq "$ROUNDS"); do
		for t in "${UP[@]}"; do measure "$mode" "$round" "$t" "$DURATION" record; done
	done
	if [ "$SOAK" -gt 0 ] && [ "$mode" = "$(echo "$MODES" | awk '{print $NF}')" ]; then
		soak "$SOAK" >"$TMP/soak.txt"
	fi
	stop_all
done

echo
echo "resind vs nginx $(nginx -v 2>&1 | sed 's/.*nginx\///') and HAProxy $(haproxy -v | awk 'NR==1{print $3}'), loopback, $(nproc) CPUs, HTTP/1.1 keep-alive; access logs: resind on, nginx $NGINX_LOG, HAProxy off${RESIND_ENV:+; resind run with $RESIND_ENV}"
echo "proxy CPU: cores busy (utime+stime of the proxy's process tree ÷ wall time); ×nginx, ×haproxy: req/s ÷ the reference's req/s in the same round (median),"
echo "references: nginx and haproxy for proxy rows, nginx-cache and haproxy-cache for cache rows; origin: share of requests that reached the backends"
echo "a proxy CPU well under 1.00 per proxy core means the proxy was not the bottleneck (pinned: CPU 0, wrk + backends, usually is): compare req/s/core and ×nginx/core"
"$TMP/bin/report" table "$RESULTS"
[ -f "$TMP/soak.txt" ] && cat "$TMP/soak.txt"
cp "$RESULTS" "${BENCH_RESULTS:-/dev/null}" 2>/dev/null || true
exit 0
