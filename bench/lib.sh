# bench/lib.sh: what bench/run.sh, bench/profile.sh and bench/ab.sh share; sourced.
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

# nginx_conf DIR WORKERS PORT B1 B2 LOG writes DIR/nginx.conf: nginx on
# 127.0.0.1:PORT with WORKERS workers ("auto" = CPUs) proxying to the
# backends at B1 and B2 (upstream keepalive): / plainly, /fwd/ with the
# forwarding fields resind's LoadBalance sends (X-Forwarded-For, -Proto,
# -Host and Via), /cached through proxy_cache. LOG on: a combined access
# log, buffered and flushed every second, as resind always writes its own.
nginx_conf() {
	local dir=$1 workers=$2 port=$3 b1=$4 b2=$5 log=$6
	local user=""
	[ "$(id -u)" = 0 ] && user="user root;"
	local nginx_log="access_log off;"
	if [ "$log" = on ]; then
		nginx_log="access_log $dir/access.log combined buffer=64k flush=1s;"
	fi
	mkdir -p "$dir/cache" "$dir/tmp"
	cat >"$dir/nginx.conf" <<EOF
$user
worker_processes $workers;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    $nginx_log
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=bench:10m max_size=64m inactive=10m use_temp_path=off;
    upstream backends {
        server 127.0.0.1:$b1;
        server 127.0.0.1:$b2;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        # nginx-fwd: the forwarding fields resind's LoadBalance sends
        # (X-Forwarded-For, -Proto, -Host and Via), for equal work at the
        # backends.
        location /fwd/ {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header Via "1.1 nginx";
        }
        location /cached {
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            add_header X-Cache-Status \$upstream_cache_status;
        }
    }
}
EOF
}
