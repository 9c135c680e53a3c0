#!/usr/bin/env bash
# Load benchmark of the Light proxy against the bundled sample news site, on loopback only.
#
# Usage: bench/load.sh [SECONDS]
#
#   SECONDS   length of each measured phase (default 10; the slow-client phase runs 15 s)
#
# Environment:
#   CARGO_TARGET_DIR   where cargo builds (default: target)
#   SAMPLE_ADDR        address of the sample site (default 127.0.0.1:18081)
#   PROXY_PORT         port of the proxy on 127.0.0.1 (default 18080)
#   NGINX_PORT         port of the reference nginx on 127.0.0.1 (default PROXY_PORT + 2)
#   FLOOR_PORT         port of the bare hyper server on 127.0.0.1 (default PROXY_PORT + 3)
#   HIT_ROUNDS         rounds of the cache-hit comparison (default 3)
#   SLOW_CLIENTS       concurrent clients in the slow phase (default 1000)
#
# What it does: builds the release binary and the `sample_site` example, starts the sample
# site and `lightmirror serve` in separate processes (so the proxy's memory is measured
# alone) on a copy of config/demo.toml with the ports above, and drives the proxy with wrk
# (Debian package `wrk`):
#
#   1. cache hit: the same article again and again; requests/s and p99 latency, beside
#      Debian's nginx (/usr/sbin/nginx, two workers, started here with its own prefix)
#      serving the same Light page bytes with the same response headers and, like the
#      proxy, an access log line per request (to a file; the proxy's goes to its log
#      file through stderr), and beside the `hit_floor` example (bare hyper on the proxy's
#      runtime and HTTP settings, answering with the same stored bytes and head, with no
#      routing, cache or log: what the proxy's hits cannot beat), the three driven by the
#      same wrk settings in alternate rounds; medians and their ratios, and each server's
#      CPU time per request (user and system, from /proc/<pid>/stat, all of nginx's
#      processes), which moves less than requests/s when other work shares the cores;
#   2. cache miss, streaming site (content rule): unique query strings; pages/s and p99;
#   3. cache miss, detection site (no rules): the same through the second host name;
#   4. time to first byte and to last byte of the slow article (the sample site sends it
#      over about 2 s) through each site, with curl;
#   5. SLOW_CLIENTS concurrent clients on the slow article, every request a miss, through
#      each site in turn, each against a freshly started proxy: the allocator keeps what
#      an earlier phase used resident, so a proxy that ran one phase would lend its peak
#      to the next; after each, that proxy's peak resident memory (VmHWM in
#      /proc/<pid>/status) and its resident memory before the phase.
#
# Every process it starts is stopped on exit. Needs: cargo, curl, wrk, nginx.
set -euo pipefail

seconds=${1:-10}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
sample_addr=${SAMPLE_ADDR:-127.0.0.1:18081}
proxy_port=${PROXY_PORT:-18080}
nginx_port=${NGINX_PORT:-$((proxy_port + 2))}
floor_port=${FLOOR_PORT:-$((proxy_port + 3))}
hit_rounds=${HIT_ROUNDS:-3}
slow_clients=${SLOW_CLIENTS:-1000}
article=/city/2026/11/24/tidal-barrier-first-winter
proxy=http://127.0.0.1:$proxy_port
detected_host=localhost:$proxy_port

need wrk wrk
need curl curl
need /usr/sbin/nginx nginx

echo "== building (release)"
(cd "$root" && cargo build --release --quiet --bin lightmirror --example sample_site \
    --example hit_floor)

# The demo configuration with this run's ports. Every proxied fetch of the slow phase is
# in flight at once, so the per-site upstream limit is raised to the number of clients.
bench_config "$sample_addr" "$proxy_port" \
    "upstream_concurrency = $((slow_clients + 24))" >"$work/load.toml"

ensure_free "$sample_addr" "127.0.0.1:$proxy_port" "127.0.0.1:$nginx_port" \
    "127.0.0.1:$floor_port"
start sample "$target/release/examples/sample_site" "$sample_addr"
sample_pid=$started
# start_proxy: starts `lightmirror serve` on the benchmark configuration and waits until
# it answers; sets `proxy_pid`.
start_proxy() {
    start proxy "$target/release/lightmirror" serve --config "$work/load.toml"
    proxy_pid=$started
    wait_for "$proxy$article"
    alive "$proxy_pid"
}

# stop_proxy: stops the proxy started last and waits for it to exit, so that its port is
# free for the next one.
stop_proxy() {
    kill "$proxy_pid"
    wait "$proxy_pid" 2>/dev/null || true
}

wait_for "http://$sample_addr$article"
alive "$sample_pid"
start_proxy

# A request per call with a query string no other request has: every one a cache miss.
cat >"$work/miss.lua" <<'LUA'
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("id", threads)
end
local n = 0
local path = os.getenv("LM_PATH")
function request()
    n = n + 1
    return wrk.format(nil, path .. "?miss=" .. id .. "-" .. n)
end
LUA

rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {$1=$1; print}' "$1" | paste -sd ';' -; }

page_bytes=$(curl -s "http://$sample_addr$article" | wc -c)
light_bytes=$(curl -s "$proxy$article" | wc -c)
echo "== article: $page_bytes bytes upstream, $light_bytes bytes as a Light page"

# The reference: nginx serving the Light page as lightmirror sends it on a hit, with the
# same headers but those nginx writes itself (date, length, connection, server).
mkdir -p "$work/nginx/logs"
curl -s -D "$work/nginx/headers" -o "$work/nginx/light.html" "$proxy$article"
headers=$(tr -d '\r' <"$work/nginx/headers" | awk -F': ' 'NR > 1 && NF > 1 {
    name = tolower($1)
    if (name ~ /^(date|content-length|connection|keep-alive|transfer-encoding|server)$/) next
    value = substr($0, length($1) + 3); gsub(/"/, "\\\"", value)
    if (name == "content-type") printf "        default_type \"%s\";\n", value
    else printf "        add_header %s \"%s\" always;\n", $1, value
}')
cat >"$work/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 4096; }
http {
    # One line per request, as lightmirror's access log writes.
    access_log $work/nginx/logs/access.log;
    server_tokens off;
    etag off;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$nginx_port;
        location = $article {
$headers
            types { }
            alias $work/nginx/light.html;
        }
    }
}
NGINX
# nginx's workers drop root for nobody, who must reach the page.
chmod a+rx "$work" "$work/nginx"
chmod a+r "$work/nginx/light.html"
start nginx /usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
nginx_pid=$started
wait_for "http://127.0.0.1:$nginx_port$article"
alive "$nginx_pid"
cmp -s "$work/nginx/light.html" <(curl -s "http://127.0.0.1:$nginx_port$article") ||
    { echo "nginx serves other bytes than the proxy" >&2; exit 1; }
start floor "$target/release/examples/hit_floor" "127.0.0.1:$floor_port" \
    "$work/nginx/headers" "$work/nginx/light.html"
floor_pid=$started
wait_for "http://127.0.0.1:$floor_port$article"
alive "$floor_pid"
cmp -s "$work/nginx/light.html" <(curl -s "http://127.0.0.1:$floor_port$article") ||
    { echo "the bare hyper server serves other bytes than the proxy" >&2; exit 1; }

median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# The p99 in ms, whatever unit wrk printed it in.
p99_ms() { p99 "$1" | awk '/us$/ {print $1 / 1000; next} /ms$/ {print $1 + 0; next} /s$/ {print $1 * 1000}'; }

# cpu_ticks PID...: the processes' user and system time so far, in clock ticks.
cpu_ticks() {
    local total=0
    for pid in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
    echo "$total"
}
ticks_per_s=$(getconf CLK_TCK)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

echo "== 1. cache hit, 64 connections, ${seconds}s each, $hit_rounds rounds beside bare hyper and nginx"
echo "   load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$hit_rounds"); do
    for server in proxy floor nginx; do
        case $server in
            proxy) url=$proxy$article measured=$proxy_pid ;;
            floor) url=http://127.0.0.1:$floor_port$article measured=$floor_pid ;;
            nginx) url=http://127.0.0.1:$nginx_port$article
                measured="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')" ;;
        esac
        # shellcheck disable=SC2086 # one argument per process
        before=$(cpu_ticks $measured)
        wrk -t2 -c64 -d"${seconds}s" --latency "$url" >"$work/hit-$server-$round.txt"
        # shellcheck disable=SC2086
        after=$(cpu_ticks $measured)
        requests=$(awk '/requests in/ {print $1}' "$work/hit-$server-$round.txt")
        awk -v t=$((after - before)) -v hz="$ticks_per_s" -v n="$requests" \
            'BEGIN {printf "%.1f\n", t * 1e6 / hz / n}' >>"$work/hit-$server.cpu"
        rps "$work/hit-$server-$round.txt" >>"$work/hit-$server.rps"
        p99_ms "$work/hit-$server-$round.txt" >>"$work/hit-$server.p99"
        echo "   round $round, $server: $(rps "$work/hit-$server-$round.txt") requests/s," \
            "p99 $(p99 "$work/hit-$server-$round.txt"), CPU $(tail -1 "$work/hit-$server.cpu") us/request" \
            "$(errors "$work/hit-$server-$round.txt")"
    done
done
echo "   load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for server in proxy floor nginx; do
    printf -v "${server}_rps" %s "$(median <"$work/hit-$server.rps")"
    printf -v "${server}_cpu" %s "$(median <"$work/hit-$server.cpu")"
done
echo "   median: lightmirror $proxy_rps requests/s (p99 $(median <"$work/hit-proxy.p99") ms, CPU $proxy_cpu us)," \
    "bare hyper $floor_rps requests/s (p99 $(median <"$work/hit-floor.p99") ms, CPU $floor_cpu us)," \
    "nginx $nginx_rps requests/s (p99 $(median <"$work/hit-nginx.p99") ms, CPU $nginx_cpu us)"
echo "   ratio lightmirror/nginx $(ratio "$proxy_rps" "$nginx_rps")," \
    "bare hyper/nginx $(ratio "$floor_rps" "$nginx_rps")," \
    "lightmirror/bare hyper $(ratio "$proxy_rps" "$floor_rps");" \
    "CPU per request lightmirror/nginx $(ratio "$proxy_cpu" "$nginx_cpu")"

echo "== 2. cache miss, streaming site, 16 connections, ${seconds}s"
LM_PATH=$article wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/miss.lua" "$proxy" >"$work/miss.txt"
echo "   $(rps "$work/miss.txt") pages/s, p99 $(p99 "$work/miss.txt") $(errors "$work/miss.txt")"

echo "== 3. cache miss, detection site, 16 connections, ${seconds}s"
LM_PATH=$article wrk -t2 -c16 -d"${seconds}s" --latency -s "$work/miss.lua" \
    -H "Host: $detected_host" "$proxy" >"$work/detect.txt"
echo "   $(rps "$work/detect.txt") pages/s, p99 $(p99 "$work/detect.txt") $(errors "$work/detect.txt")"

echo "== 4. slow article (upstream sends it over ~2 s): first byte / last byte"
for host in "127.0.0.1:$proxy_port" "$detected_host"; do
    timing=$(curl -s -o /dev/null -H "Host: $host" \
        -w '%{time_starttransfer} %{time_total}' "$proxy/slow$article?ttfb=$RANDOM$RANDOM")
    echo "   Host $host: first byte ${timing% *} s, last byte ${timing#* } s"
done

for host in "127.0.0.1:$proxy_port" "$detected_host"; do
    echo "== 5. $slow_clients concurrent slow clients, 15s, Host $host, on a fresh proxy"
    # A new process, so that VmHWM is this phase's peak alone, with nothing left resident
    # from an earlier phase.
    stop_proxy
    start_proxy
    before=$(status_kib "$proxy_pid" VmRSS)
    LM_PATH=/slow$article wrk -t2 -c"$slow_clients" -d15s --timeout 15s --latency \
        -s "$work/miss.lua" -H "Host: $host" "$proxy" >"$work/slow.txt"
    peak=$(status_kib "$proxy_pid" VmHWM)
    echo "   $(rps "$work/slow.txt") pages/s, p99 $(p99 "$work/slow.txt") $(errors "$work/slow.txt")"
    echo "   proxy RSS before: $((before / 1024)) MiB; peak (VmHWM): $((peak / 1024)) MiB"
done
