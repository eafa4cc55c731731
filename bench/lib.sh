# bench/lib.sh: what bench/profile.sh and bench/ab.sh share; sourced.
# start_backends uses the caller's TMP and PIDS.

# resind_target TARGET B1 B2 sets, for one resind web tier in front of the
# backends at B1 and B2: path (what wrk loads), rule (the web-app's
# dispatch rule) and cache (the cluster's <proxy-cache>, or nothing).
# TARGET is lb (LoadBalance), cache (proxy-cache hits) or httpproxy
# (HttpProxy); anything else returns 1.
resind_target() {
	cache="" path=/lb/plain rule="<resin:LoadBalance regexp=\"^/lb/\" cluster=\"app\" strategy=\"round-robin\"/>"
	case $1 in
	lb) ;;
	cache) cache='<proxy-cache memory-size="64M"/>' path=/lb/cached ;;
	httpproxy) path=/hp/plain rule="<resin:HttpProxy regexp=\"^/hp/\" addresses=\"127.0.0.1:$2 127.0.0.1:$3\"/>" ;;
	*) return 1 ;;
	esac
}

# port_open PORT waits up to 10 s for 127.0.0.1:PORT to accept a
# connection; it returns 1 if it never does.
port_open() {
	local _
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_backends BIN B1 B2 SIZE starts two bench backends on CPU 0 at
# 127.0.0.1:B1 and :B2, answering SIZE-byte bodies, their output in
# $TMP/b1.out and b2.out, their pids added to PIDS.
start_backends() {
	taskset -c 0 "$1" -addr "127.0.0.1:$2" -size "$4" >"$TMP/b1.out" 2>&1 &
	PIDS+=($!)
	taskset -c 0 "$1" -addr "127.0.0.1:$3" -size "$4" >"$TMP/b2.out" 2>&1 &
	PIDS+=($!)
}
