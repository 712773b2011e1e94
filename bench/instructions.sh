#!/usr/bin/env bash
# User-space instructions per proxied request, from valgrind's callgrind (instruction
# counts repeat from run to run, where timings on a shared machine do not; this machine
# has no hardware counters). lbd (--threads 1, static backend over three lb-replica
# processes, which run natively) starts under callgrind; after a warm-up its counters are
# zeroed (callgrind_control -z), lb-load sends a fixed number of GETs, the counters are
# dumped (-d), and the instructions of every thread (and of the worker thread alone) are
# divided by the requests. Prints the figures and the functions that take the most
# (exclusive cost, the worker thread), for lbd in --bin-dir and, with --baseline DIR, for
# the lbd in DIR too, on the same replicas.
# An lbd built with valgrind's headers present bounds its io_uring waits under valgrind
# (src/runtime/reactor.cpp); one built without them stalls there, and this script says so.
#
#   bench/instructions.sh [--bin-dir build-release/src/cmd] [--baseline DIR]
#                         [--requests 20000] [--connections 16] [--top 12]
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=instructions.sh
# shellcheck source=bench/lib.sh
. "$repo_root/bench/lib.sh"

bin_dir=$repo_root/build-release/src/cmd
baseline_dir=""
requests=20000
connections=16
top=12

while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir=${2:?}; shift 2 ;;
        --baseline) baseline_dir=${2:?}; shift 2 ;;
        --requests) requests=${2:?}; shift 2 ;;
        --connections) connections=${2:?}; shift 2 ;;
        --top) top=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1" ;;
    esac
done
command -v valgrind >/dev/null || die "valgrind is missing (apt-get install valgrind)"
[ -x "$bin_dir/lbd" ] && [ -x "$bin_dir/lb-replica" ] && [ -x "$bin_dir/lb-load" ] \
    || die "--bin-dir needs lbd, lb-replica and lb-load"

bench_setup
upstreams=()
for n in 1 2 3; do
    port=$(free_port)
    start_pinned "replica$n" 1 "$bin_dir/lb-replica" --listen "127.0.0.1:$port" --id "$n" \
        --threads 1
    wait_ready "replica$n" "$started_pid" "$port"
    upstreams+=(--upstream "127.0.0.1:$port")
done

# measure NAME DIR: instructions per request of the lbd in DIR.
measure() {
    local name=$1 dir=$2 port out pid
    port=$(free_port)
    out=$workdir/callgrind-$name.out
    start_pinned "$name" 0 valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out" \
        "$dir/lbd" --threads 1 --backend static "${upstreams[@]}" --listen "127.0.0.1:$port" \
        --admin-listen off --heartbeat-ms 600000
    pid=$started_pid
    local deadline=$(( SECONDS + 60 ))
    until curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$port/home"; do
        [ $SECONDS -lt $deadline ] || die "$name did not answer under valgrind within 60 s" \
            "(built without valgrind/valgrind.h? see $workdir/$name.log)"
        sleep 0.5
    done
    timeout 120 "$bin_dir/lb-load" --url "http://127.0.0.1:$port/home" --requests 2000 \
        --connections "$connections" >/dev/null || die "$name: the warm-up failed"
    callgrind_control -z "$pid" >/dev/null
    timeout 600 "$bin_dir/lb-load" --url "http://127.0.0.1:$port/home" --requests "$requests" \
        --connections "$connections" --json >"$workdir/load-$name.json" \
        || die "$name: not every request was answered 2xx"
    callgrind_control -d "$pid" >/dev/null
    sleep 1
    # One dump per thread (OUT.1-01, -02, ...); the worker is the one that did the most.
    local dumps=("$out".1-*)
    [ -e "${dumps[0]}" ] || die "no callgrind dump for $name"
    local worker
    worker=$(for dump in "${dumps[@]}"; do
                 echo "$(awk '/^summary:/ { print $2; exit }' "$dump") $dump"
             done | sort -n | tail -1 | cut -d' ' -f2)
    python3 - "$name" "$requests" "$workdir/load-$name.json" "$worker" "${dumps[@]}" <<'EOF'
import json, sys
name, requests, load, worker, dumps = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
def summary(path):
    with open(path) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("summary:"))
total = sum(summary(d) for d in dumps)
ok = json.load(open(load))["ok"]
print(f"{name}: {total / requests:,.0f} instructions per request, all {len(dumps)} threads; "
      f"worker thread {summary(worker) / requests:,.0f} ({requests:,} requests, {ok:,} 2xx)")
EOF
    echo "    top functions of the worker thread (instructions, exclusive):"
    # (The frames still on the stack when the counters were zeroed, the thread's entry to
    # the reactor loop, show 100% and are left out.)
    callgrind_annotate --inclusive=no --threshold=100 "$worker" 2>/dev/null \
        | awk -v top="$top" '/^-+$/ { dashes++; next }
              dashes >= 3 && NF && !/\(100\.0%\)/ && !/^ *Ir / && n < top { print "    " $0; n++ }' \
        | sed -E 's/\[[^]]*\]$//; s/\((net|balancer|http|runtime|std)::[^()]*(\([^()]*\))*[^()]*\)//g' \
        | cut -c1-140
    kill -TERM "$pid" 2>/dev/null || true
    await_exit "$pid" 30 || true
}

measure lbd "$bin_dir"
if [ -n "$baseline_dir" ]; then
    measure baseline "$baseline_dir"
fi
