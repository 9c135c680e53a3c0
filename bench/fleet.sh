#!/usr/bin/env bash
# Fleet benchmark: two lightmirror instances on one redis-server, on loopback only.
#
# Usage: bench/fleet.sh [SECONDS]
#
#   SECONDS   length of each measured hit phase (default 10)
#
# Environment:
#   CARGO_TARGET_DIR   where cargo builds (default: target)
#   SAMPLE_ADDR        address of the sample site (default 127.0.0.1:38081)
#   PAGES_ADDR         address of its generated pages (default 127.0.0.1:38083)
#   PROXY_PORT         port of the first instance on 127.0.0.1 (default 38080); the second
#                      listens on PROXY_PORT + 2
#   REDIS_PORT         port of the redis-server it starts (default 38079)
#   BURST              concurrent readers of each new page in the burst (default 200)
#
# What it does: builds the release binary and the `sample_site` example, starts
# redis-server (nothing saved to disk), the sample site with its generated pages, and two
# `lightmirror serve` processes on copies of config/demo.toml that fetch the generated
# pages and share the store (`[cache] shared`). The second instance's memory tier is cold
# on purpose: its `max_bytes` is 4096, so no page stays in its memory and every hit is
# read from the store and checked. Then:
#
#   1. cache hits through the memory tier: wrk on the first instance, one 16 KiB page;
#   2. cache hits through the shared tier: the same on the second instance;
#   3. a burst: BURST readers at once, split over both instances, of each of ten pages
#      nobody has asked for yet; the upstream fetches each page got (the sample site
#      counts them), and the store's memory per page kept.
#
# Every process it starts is stopped on exit. Needs: cargo, curl, wrk, redis-server.
set -euo pipefail

seconds=${1:-10}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
sample_addr=${SAMPLE_ADDR:-127.0.0.1:38081}
pages_addr=${PAGES_ADDR:-127.0.0.1:38083}
port_a=${PROXY_PORT:-38080}
port_b=$((port_a + 2))
redis_port=${REDIS_PORT:-38079}
burst=${BURST:-200}
proxy_a=http://127.0.0.1:$port_a
proxy_b=http://127.0.0.1:$port_b

need wrk wrk
need curl curl
need redis-server redis-server
need redis-cli redis-tools

echo "== building (release)"
(cd "$root" && cargo build --release --quiet --bin lightmirror --example sample_site)

# fleet_config PORT MAX_BYTES: the demo configuration fetching the generated pages, on
# the store, with this memory tier.
fleet_config() {
    bench_config "$pages_addr" "$1" "upstream_concurrency = $((burst + 32))" |
        sed -e "s/^max_bytes = .*/max_bytes = $2/" \
            -e "s#^\[cache\]\$#[cache]\nshared = \"redis://127.0.0.1:$redis_port/0\"#"
}
fleet_config "$port_a" 67108864 >"$work/a.toml"
fleet_config "$port_b" 4096 >"$work/b.toml"

ensure_free "$sample_addr" "$pages_addr" "127.0.0.1:$port_a" "127.0.0.1:$port_b" "127.0.0.1:$redis_port"
start redis redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no --dir "$work"
redis_pid=$started
start sample "$target/release/examples/sample_site" "$sample_addr" "$pages_addr"
sample_pid=$started
start proxy-a "$target/release/lightmirror" serve --config "$work/a.toml"
a_pid=$started
start proxy-b "$target/release/lightmirror" serve --config "$work/b.toml"
b_pid=$started

wait_for "http://$pages_addr/page/16/ready"
wait_for "$proxy_a/page/16/ready"
wait_for "$proxy_b/page/16/ready"
alive "$redis_pid" "$sample_pid" "$a_pid" "$b_pid"

rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
p99() { awk '$1 == "99%" {print $2}' "$1"; }
errors() { awk '/Non-2xx|Socket errors/ {$1=$1; print}' "$1" | paste -sd ';' -; }

page=/page/16/hit
curl -s -o /dev/null "$proxy_a$page"
curl -s -o /dev/null "$proxy_b$page"
echo "== page: $(curl -s "http://$pages_addr$page" | wc -c) bytes upstream, $(curl -s "$proxy_a$page" | wc -c) bytes as a Light page"

echo "== 1. cache hits, memory tier (first instance), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency "$proxy_a$page" >"$work/memory.txt"
echo "   $(rps "$work/memory.txt") requests/s, p99 $(p99 "$work/memory.txt") $(errors "$work/memory.txt")"

echo "== 2. cache hits, shared tier (second instance, memory cold), 64 connections, ${seconds}s"
wrk -t2 -c64 -d"${seconds}s" --latency "$proxy_b$page" >"$work/shared.txt"
echo "   $(rps "$work/shared.txt") requests/s, p99 $(p99 "$work/shared.txt") $(errors "$work/shared.txt")"

used() { redis-cli -p "$redis_port" info memory | awk -F: '/^used_memory:/ {print $2}' | tr -d '\r'; }
used_before=$(used)

echo "== 3. burst: $burst readers at once over both instances, each of 10 new pages"
fetches=()
failed=0
for n in $(seq 1 10); do
    path=/page/64/burst-$n-$RANDOM
    codes=$(for i in $(seq 1 "$burst"); do
        if ((i % 2)); then echo "$proxy_a$path"; else echo "$proxy_b$path"; fi
    done | xargs -P "$burst" -n 1 curl -s -o /dev/null -m 30 -w '%{http_code}\n')
    failed=$((failed + $(grep -cv '^200$' <<<"$codes" || true)))
    fetches+=("$(curl -s "http://$pages_addr/_hits$path")")
done
echo "   upstream fetches per page: ${fetches[*]}; readers not answered 200: $failed of $((burst * 10))"
light=$(curl -s "$proxy_a$path" | wc -c)
echo "   store: $(( ($(used) - used_before) / 10 / 1024 )) KiB of store memory per page kept ($light-byte Light pages, kept with their gzip and brotli forms)"
