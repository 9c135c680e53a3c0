#!/usr/bin/env bash
# Attacks on the Light proxy's defences, on loopback only: connections that never speak,
# readers that never read, and more large pages at once than its memory budget holds.
#
# Usage: bench/attack.sh [SECONDS]
#
#   SECONDS   how long the idle flood and the memory load last (default 20); the phase of
#             readers that never read lasts until the proxy's send_timeout has let go
#
# Environment:
#   CARGO_TARGET_DIR     where cargo builds (default: target)
#   CARGO_FLAGS          more arguments for `cargo build`, split on spaces; where worktrees
#                        of this repository at different commits share a target directory,
#                        cargo may take another tree's lightmirror for this one's (it names
#                        local packages by their path in the workspace), and a flag such as
#                        --config=profile.release.package.lightmirror.debug=1 keeps them apart
#   SAMPLE_ADDR          address of the sample site (default 127.0.0.1:18091)
#   PAGES_ADDR           address of its generated pages (default 127.0.0.1:18092)
#   PROXY_PORT           port of the proxy on 127.0.0.1 (default 18090)
#   MAX_CONNECTIONS      the proxy's max_connections, and the flood (default 1000)
#   MAX_INFLIGHT_BYTES   the proxy's max_inflight_bytes (default 268435456, its default)
#
# What it does: builds the release binary and the `sample_site` and `attack` examples,
# starts the sample site, with generated pages of any size on its second address, and
# `lightmirror serve` in separate processes, on a copy of config/demo.toml whose two sites
# (one streamed through `content` rules, one detected) fetch the generated pages, with the
# [limits] written below; then the attacker (examples/attack.rs) runs:
#
#   1. idle flood: MAX_CONNECTIONS connections that send nothing, half the HTTP/2
#      preface, or the preface and SETTINGS, each reopened when the proxy closes it; how
#      long the proxy keeps them, and a reader's 50 misses on new connections meanwhile;
#   2. readers that never read: 64 streams of an HTTP/2 connection with a zero window, and
#      4 HTTP/1 connections that never read, ask for large pages of the streamed site; a
#      reader's misses on other pages of that site meanwhile (fetch permits pinned by the
#      attack would make them wait), whether the attacked pages reached the cache anyway
#      (the sample site counts its requests), and when the proxy let the attackers go;
#   3. memory: 200 readers of distinct 10 MiB pages on each site, and 200 zero-window
#      HTTP/2 streams of uncacheable 1 MiB pages, for SECONDS; the proxy's peak resident
#      memory (VmHWM in /proc/<pid>/status) and its resident memory (VmRSS) 15 s and 30 s
#      after, against max_inflight_bytes.
#
# Ends with a table of the figures. Every process it starts is stopped on exit. Needs:
# cargo, curl.
set -euo pipefail

seconds=${1:-20}
# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
sample_addr=${SAMPLE_ADDR:-127.0.0.1:18091}
pages_addr=${PAGES_ADDR:-127.0.0.1:18092}
proxy_port=${PROXY_PORT:-18090}
max_connections=${MAX_CONNECTIONS:-1000}
max_inflight_bytes=${MAX_INFLIGHT_BYTES:-268435456}
proxy=127.0.0.1:$proxy_port
mib() { echo "$(($1 / 1048576)) MiB"; }

need curl curl
# The flood's connections, the readers', and the proxy's own to the sample site.
if [ "$(ulimit -n)" -lt $((max_connections + 1024)) ]; then
    echo "open files limited to $(ulimit -n); MAX_CONNECTIONS=$max_connections needs more" >&2
    exit 1
fi

echo "== building (release)"
read -ra cargo_flags <<<"${CARGO_FLAGS:-}"
# Cargo 1.91 and later keep intermediate artifacts in a build directory of their own: the
# usual target directory stays that, and this run's binaries land in its own directory, so
# that another build sharing the target directory cannot swap them mid-run. Older cargo
# builds where it always did, and the binaries are copied from there.
out=$target
build_dirs=()
if [ "$(cargo --version | awk '{split($2, v, "."); print v[1] * 1000 + v[2]}')" -ge 1091 ]; then
    out=$work/cargo
    build_dirs=(CARGO_BUILD_BUILD_DIR="$target" CARGO_TARGET_DIR="$out")
fi
(cd "$root" && env "${build_dirs[@]}" cargo build --release --quiet --bin lightmirror \
    --example sample_site --example attack "${cargo_flags[@]}")
bin=$work/bin
mkdir "$bin"
cp "$out/release/lightmirror" "$out/release/examples/sample_site" \
    "$out/release/examples/attack" "$bin/"

# The demo configuration, both sites on the generated pages. The deadlines are the
# defaults, written out for the table; the cache is the default 64 MiB (the demo's 32 MiB
# would evict attacked pages before they are looked for).
limits=(
    "max_connections = $max_connections"
    "upstream_concurrency = 32"
    'header_read_timeout = "10s"'
    'idle_timeout = "30s"'
    'send_timeout = "30s"'
    "rewriter_memory = 4194304"
    "max_inflight_bytes = $max_inflight_bytes"
)
cache_bytes=67108864
bench_config "$pages_addr" "$proxy_port" "${limits[@]}" |
    sed -e "s/^max_bytes = .*/max_bytes = $cache_bytes/" >"$work/attack.toml"

ensure_free "$sample_addr" "$pages_addr" "$proxy"
start sample "$bin/sample_site" "$sample_addr" "$pages_addr"
sample_pid=$started
start proxy "$bin/lightmirror" serve --config "$work/attack.toml"
proxy_pid=$started

wait_for "http://$pages_addr/page/16/ready"
wait_for "http://$proxy/page/16/ready"
alive "$sample_pid" "$proxy_pid"

figures=$work/figures.tsv
# figure NAME VALUE: a row of the final table.
figure() { printf '%s\t%s\n' "$1" "$2" >>"$figures"; }
# attack PHASE ARGS...: runs the attacker and shows the figures it found.
attack() {
    "$bin/attack" --proxy "$proxy" --streamed-host "$proxy" \
        --detected-host "localhost:$proxy_port" --pages "$pages_addr" "$@" >"$work/$1.tsv"
    awk -F'\t' '{print "   " $1 ": " $2}' "$work/$1.tsv"
    cat "$work/$1.tsv" >>"$figures"
}

figure "limits" "max_connections $max_connections, header_read_timeout 10s, idle_timeout 30s, send_timeout 30s, upstream_concurrency 32, rewriter_memory 4 MiB, max_inflight_bytes $(mib "$max_inflight_bytes"), cache $(mib $cache_bytes)"
figure "proxy RSS at start" "$(($(status_kib "$proxy_pid" VmRSS) / 1024)) MiB"
# Latencies depend on what else the machine runs; the load average says how busy it was.
load_before=$(cut -d' ' -f1 /proc/loadavg)

echo "== 1. idle flood: $max_connections connections that never send a request, ${seconds}s"
attack flood --connections "$max_connections" --seconds "$seconds"

echo "== 2. readers that never read (until the proxy's send deadline lets them go)"
attack stall

echo "== 3. memory: 10 MiB pages on both sites and zero-window streams, ${seconds}s"
before=$(status_kib "$proxy_pid" VmRSS)
# Reset the peak so that VmHWM tells this phase's peak, not the earlier phases'.
echo 5 >"/proc/$proxy_pid/clear_refs" 2>/dev/null || echo "   (peak not reset: it may come from an earlier phase)"
attack memory --seconds "$seconds"
peak=$(status_kib "$proxy_pid" VmHWM)
right_after=$(status_kib "$proxy_pid" VmRSS)
sleep 15
after_15=$(status_kib "$proxy_pid" VmRSS)
sleep 15
after_30=$(status_kib "$proxy_pid" VmRSS)
busy=$(grep -c 'turning a miss away' "$work/proxy.log" || true)
rss="before $((before / 1024)) MiB, peak (VmHWM) $((peak / 1024)) MiB, right after $((right_after / 1024)) MiB, 15 s after $((after_15 / 1024)) MiB, 30 s after $((after_30 / 1024)) MiB"
echo "   proxy RSS: $rss; max_inflight_bytes $(mib "$max_inflight_bytes")"
figure "memory: proxy RSS (max_inflight_bytes $(mib "$max_inflight_bytes"), cache $(mib $cache_bytes))" "$rss"
figure "memory: misses turned away for memory (proxy log, all phases)" "$busy"
figure "machine load average (1 min), at start / at the end" "$load_before / $(cut -d' ' -f1 /proc/loadavg) on $(nproc) cores"

echo "== figures"
awk -F'\t' '{printf "  %-80s %s\n", $1, $2}' "$figures"
