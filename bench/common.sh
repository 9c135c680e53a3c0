# What the benchmark scripts in this directory share; sourced by them, not run.
#
# Sets `root` (the repository), `target` (cargo's target directory), `work` (a temporary
# directory, removed on exit) and `pids` (processes stopped on exit), raises the limit on
# open files, and defines the helpers below.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}

# need COMMAND PACKAGE: stops the script when COMMAND is missing.
need() {
    command -v "$1" >/dev/null || { echo "$1 not found: apt-get install $2" >&2; exit 1; }
}

# One connection per client to the proxy, and one from the proxy to the sample site.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME COMMAND...: runs COMMAND in the background, its output in $work/NAME.log,
# stopped on exit; sets `started` to its process id.
start() {
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 &
    started=$!
    pids+=("$started")
}

# ensure_free ADDRESS...: stops the script when something already listens on an address
# (host:port), such as another run of a benchmark, which the run would otherwise measure.
ensure_free() {
    for address in "$@"; do
        if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then
            echo "$address is in use (another benchmark run?); choose other ports" >&2
            exit 1
        fi
    done
}

# alive PID...: stops the script, with the logs, when a process it started has exited
# (it could not listen, say).
alive() {
    for pid in "$@"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "process $pid has exited; logs:" >&2
            cat "$work"/*.log >&2
            exit 1
        fi
    done
}

# bench_config UPSTREAM PROXY_PORT [LIMIT...]: config/demo.toml with its sites fetching
# from UPSTREAM, the proxy on 127.0.0.1:PROXY_PORT, and each LIMIT (a TOML line such as
# `max_connections = 1000`) in a [limits] table.
bench_config() {
    local upstream=$1 port=$2 limits=""
    shift 2
    for line in "$@"; do limits+="$line\n"; done
    sed -e "s/127\.0\.0\.1:8081/$upstream/g" \
        -e "s/listen = \"127\.0\.0\.1:8080\"/listen = \"127.0.0.1:$port\"/" \
        -e "s/:8080\"/:$port\"/g" \
        -e "s/^\[server\]$/[limits]\n$limits\n[server]/" \
        "$root/config/demo.toml"
}

# wait_for URL: waits up to 10 s for URL to answer 200, else prints the logs and stops
# the script.
wait_for() {
    for _ in $(seq 1 100); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = 200 ]; then return 0; fi
        sleep 0.1
    done
    echo "no answer from $1; logs:" >&2
    cat "$work"/*.log >&2
    exit 1
}

# status_kib PID FIELD: a field of /proc/PID/status in KiB, such as VmRSS or VmHWM.
status_kib() {
    awk -v field="$2:" '$1 == field {print $2}' "/proc/$1/status"
}
