#!/usr/bin/env bash
# What a burst of Light image requests does to the proxy's memory: a static upstream
# (python3 -m http.server) serves one 1200x800 photo-like JPEG under 1,000 distinct URLs
# (`?n=1` ... `?n=1000`), and curl asks the proxy for all 1,000 Light images, 100 at a
# time. Prints the statuses, the time taken, and the proxy's VmRSS and VmHWM before and
# after. Ports 48080 (proxy) and 48081 (upstream) by default.
#
#     bash bench/images.sh [COUNT] [PARALLEL]
set -euo pipefail
source "$(dirname "$0")/common.sh"
need curl curl
need python3 python3
count=${1:-1000}
parallel=${2:-100}
proxy_port=${PROXY_PORT:-48080}
upstream_port=${UPSTREAM_PORT:-48081}
ensure_free "127.0.0.1:$proxy_port" "127.0.0.1:$upstream_port"

cargo build --release --quiet --bin lightmirror --example photo --manifest-path "$root/Cargo.toml"
mkdir -p "$work/site"
"$target/release/examples/photo" 1200 800 >"$work/site/photo.jpg"
cat >"$work/images.toml" <<TOML
[server]
listen = "127.0.0.1:$proxy_port"

[[site]]
name = "burst"
upstream = "http://127.0.0.1:$upstream_port"
hosts = ["127.0.0.1:$proxy_port"]
allow_private_upstream = true
TOML
start upstream python3 -m http.server "$upstream_port" --bind 127.0.0.1 --directory "$work/site"
upstream_pid=$started
start proxy "$target/release/lightmirror" serve --config "$work/images.toml"
proxy_pid=$started
wait_for "http://127.0.0.1:$upstream_port/photo.jpg"
wait_for "http://127.0.0.1:$proxy_port/_light/health"
alive "$upstream_pid" "$proxy_pid"

for n in $(seq 1 "$count"); do
    url="http://127.0.0.1:$upstream_port/photo.jpg?n=$n"
    token=$(printf '%s' "$url" | base64 -w0 | tr '+/' '-_' | tr -d '=')
    echo "http://127.0.0.1:$proxy_port/_light/img/$token"
done >"$work/urls"

echo "original: $(stat -c %s "$work/site/photo.jpg") bytes"
echo "before: VmRSS $(status_kib "$proxy_pid" VmRSS) KiB, VmHWM $(status_kib "$proxy_pid" VmHWM) KiB"
started_at=$(date +%s.%N)
xargs -P "$parallel" -n 1 curl -s -o /dev/null -w '%{http_code} %{size_download}\n' <"$work/urls" >"$work/results"
ended_at=$(date +%s.%N)
alive "$proxy_pid"
echo "statuses: $(cut -d' ' -f1 "$work/results" | sort | uniq -c | tr '\n' ' ')"
echo "Light image: $(awk '$1 == 200 {print $2; exit}' "$work/results") bytes"
echo "time: $(echo "$ended_at - $started_at" | bc) s for $count images, $parallel at a time"
echo "after: VmRSS $(status_kib "$proxy_pid" VmRSS) KiB, VmHWM $(status_kib "$proxy_pid" VmHWM) KiB"
