#!/usr/bin/env bash
# Size and start-up time of a lightmirror binary: how long from starting `lightmirror
# serve` to its first answered request (a 404 for an unknown host, so no upstream is
# involved), as the median of several starts.
#
# Usage: bench/startup.sh [BINARY...]
#
#   BINARY   the binaries to measure, side by side (default: the release and the dist
#            builds, target/release/lightmirror and target/dist/lightmirror, those built)
#
# Environment:
#   CARGO_TARGET_DIR   where cargo builds (default: target)
#   PROXY_PORT         port on 127.0.0.1 the binaries listen on in turn (default 18080)
#   RUNS               starts per binary (default 9)
#
# Needs bash alone (the probe is bash's /dev/tcp, so no process is started per try). Builds nothing: build first (`cargo build --release`, `cargo build
# --profile dist`).
set -euo pipefail

# shellcheck source=bench/common.sh
source "$(dirname "$0")/common.sh"
port=${PROXY_PORT:-18080}
runs=${RUNS:-9}

# probe: whether a request to the port gets an HTTP answer.
probe() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$port"
        printf 'GET / HTTP/1.1\r\nHost: unknown.test\r\nConnection: close\r\n\r\n' >&3
        read -r line <&3
        [[ $line == HTTP/1.1* ]]
    ) 2>/dev/null
}

binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    for profile in release dist; do
        [ -x "$target/$profile/lightmirror" ] && binaries+=("$target/$profile/lightmirror")
    done
fi
[ ${#binaries[@]} -gt 0 ] || { echo "no binary built under $target" >&2; exit 1; }

cat >"$work/startup.toml" <<TOML
[server]
listen = "127.0.0.1:$port"

[[site]]
name = "startup"
upstream = "http://127.0.0.1:9"
hosts = ["light.test"]
allow_private_upstream = true
TOML

ensure_free "127.0.0.1:$port"
for binary in "${binaries[@]}"; do
    times=()
    for _ in $(seq 1 "$runs"); do
        begin=$(date +%s%N)
        start proxy "$binary" serve --config "$work/startup.toml"
        until probe; do
            alive "$started"
        done
        times+=($((($(date +%s%N) - begin) / 1000000)))
        kill "$started"
        wait "$started" 2>/dev/null || true
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')
    size=$(stat -c %s "$binary")
    echo "$binary: $((size / 1024)) KiB; first answered request after $median ms (median of $runs starts: ${times[*]})"
done
