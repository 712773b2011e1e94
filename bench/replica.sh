#!/usr/bin/env bash
# Measures lb-replica (one thread) against nginx (one worker) serving the same JSON on
# GET /home: wrk with one load thread, keep-alive, at 64 and 256 connections; rounds
# interleaved (lb-replica, nginx, lb-replica, nginx, ...) so drift on a shared machine
# hits both alike. Prints requests/s, p50 and p99 per round, then a markdown table of
# medians with the ratio lb-replica / nginx (requests/s).
#
#   bench/replica.sh [--duration 5s] [--rounds 3] [--connections "64 256"]
#                    [--warmup 1s] [--replica-bin PATH] [--json FILE]
#                    [--server-cpu 0] [--wrk-cpu 1]
#
# Servers are pinned to --server-cpu, wrk to --wrk-cpu (taskset); all traffic stays on
# 127.0.0.1, on ports found free at run time. Everything started here is stopped by PID
# on exit. For a fair figure use a release build, e.g.
#   meson setup build-release --buildtype=release -Dbenchmarks=disabled -Dtests=false
#   ninja -C build-release src/cmd/lb-replica
#   bench/replica.sh --replica-bin build-release/src/cmd/lb-replica
# Helpers shared with bench/compare.sh live in bench/lib.sh.
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=replica.sh
# shellcheck source=bench/lib.sh
. "$repo_root/bench/lib.sh"

# The body both servers answer; nginx gets it verbatim, lb-replica builds it from --id 1.
readonly body='{"message":"Hello from Server: 1","status":"successful"}'

duration=5s
warmup=1s
rounds=3
connections=(64 256)
replica_bin=""
json_out=""
server_cpu=0
wrk_cpu=1

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --replica-bin) replica_bin=${2:?--replica-bin needs a value}; shift 2 ;;
            --server-cpu) server_cpu=${2:?--server-cpu needs a value}; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            --*) common_option "$1" "${2-}" || { usage >&2; die "unknown option $1"; }; shift 2 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
    done
    check_common_args
}

# Both servers must answer the same body with the same content type, or the comparison
# is meaningless.
check_same_answer() {
    local name=$1 port=$2 got type
    got=$(curl -fsS --max-time 2 "http://127.0.0.1:$port/home")
    type=$(curl -fsS --max-time 2 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$port/home")
    [ "$got" = "$body" ] || die "$name answered '$got', expected '$body'"
    [[ $type == application/json* ]] || die "$name answered content type '$type'"
}

# --- servers --------------------------------------------------------------------------

find_replica() {
    if [ -z "$replica_bin" ]; then
        replica_bin=$repo_root/build/src/cmd/lb-replica
        if [ ! -x "$replica_bin" ]; then
            echo "replica.sh: building lb-replica in build/" >&2
            [ -f "$repo_root/build/build.ninja" ] || meson setup "$repo_root/build" "$repo_root"
            ninja -C "$repo_root/build" src/cmd/lb-replica
        fi
    fi
    [ -x "$replica_bin" ] || die "no lb-replica at $replica_bin"
}

start_replica() {
    replica_port=$(free_port)
    start_pinned lb-replica "$server_cpu" "$replica_bin" --listen "127.0.0.1:$replica_port" \
        --id 1 --threads 1
    replica_pid=$started_pid
    wait_ready lb-replica "$replica_pid" "$replica_port"
    check_same_answer lb-replica "$replica_port"
}

# nginx runs from a private prefix (nginx_main_common and nginx_http_common in lib.sh)
# so nothing touches /etc/nginx or /var/log/nginx, and it is safe as root (workers drop
# to nobody; they open no files).
start_nginx() {
    nginx_port=$(free_port)
    local prefix=$workdir/nginx
    mkdir -p "$prefix/logs" "$prefix/temp"
    {
        nginx_main_common "$prefix"
        echo "http {"
        nginx_http_common "$prefix"
        cat <<EOF
    server {
        listen 127.0.0.1:$nginx_port;
        location = /home {
            default_type application/json;
            return 200 '$body';
        }
    }
}
EOF
    } >"$prefix/nginx.conf"
    start_nginx_conf nginx "$server_cpu" "$prefix"
    nginx_pid=$started_pid
    wait_ready nginx "$nginx_pid" "$nginx_port"
    check_same_answer nginx "$nginx_port"
}

# --- load -----------------------------------------------------------------------------

run_all() {
    local conns round
    for conns in "${connections[@]}"; do
        echo "== $conns connections, $rounds round(s) of $duration each, interleaved"
        if [ "$(to_seconds "$warmup")" -gt 0 ]; then
            # Fill caches, the accept path and nginx's connection pool before counting.
            run_wrk "$replica_port" "$conns" "$warmup" >/dev/null
            run_wrk "$nginx_port" "$conns" "$warmup" >/dev/null
        fi
        for round in $(seq "$rounds"); do
            measure lb-replica "$replica_port" "$conns" "$round" "$replica_pid"
            measure nginx "$nginx_port" "$conns" "$round" "$nginx_pid"
        done
    done
}

# --- report ---------------------------------------------------------------------------

# Medians of the rounds per server and connection count; markdown table on stdout,
# JSON (every round and the medians) to --json FILE.
report() {
    python3 - "$workdir/results" "$json_out" "$duration" "$rounds" "$replica_bin" <<'EOF'
import json, statistics, sys

results_path, json_path, duration, rounds, replica_bin = sys.argv[1:6]
runs = []
with open(results_path) as f:
    for line in f:
        server, conns, rnd, rps, p50, p99, non2xx, errors = line.split()
        runs.append(dict(server=server, connections=int(conns), round=int(rnd),
                         requests_per_s=float(rps), p50_ms=float(p50), p99_ms=float(p99),
                         non_2xx=int(non2xx), socket_errors=int(errors)))

def median_of(server, conns):
    mine = [r for r in runs if r["server"] == server and r["connections"] == conns]
    return dict(server=server, connections=conns,
                requests_per_s=statistics.median(r["requests_per_s"] for r in mine),
                p50_ms=statistics.median(r["p50_ms"] for r in mine),
                p99_ms=statistics.median(r["p99_ms"] for r in mine),
                non_2xx=sum(r["non_2xx"] for r in mine),
                socket_errors=sum(r["socket_errors"] for r in mine))

summary = []
print()
print("| server | connections | req/s | p50 (ms) | p99 (ms) | ratio lb-replica/nginx (req/s) |")
print("|---|---:|---:|---:|---:|---:|")
for conns in sorted({r["connections"] for r in runs}):
    replica, nginx = median_of("lb-replica", conns), median_of("nginx", conns)
    ratio = replica["requests_per_s"] / nginx["requests_per_s"]
    summary.append(dict(connections=conns, lb_replica=replica, nginx=nginx, ratio=ratio))
    for row in (replica, nginx):
        note = f"{ratio:.2f}" if row is replica else ""
        print(f"| {row['server']} | {conns} | {row['requests_per_s']:,.0f} | "
              f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {note} |")
print()
print(f"Medians of {rounds} interleaved round(s) of {duration}; wrk -t1, keep-alive.")
errors = [r for r in runs if r["non_2xx"] or r["socket_errors"]]
for r in errors:
    print(f"warning: {r['server']} c={r['connections']} round {r['round']}: "
          f"{r['non_2xx']} non-2xx, {r['socket_errors']} socket errors")

if json_path:
    with open(json_path, "w") as f:
        json.dump(dict(duration=duration, rounds=int(rounds), replica_bin=replica_bin,
                       summary=summary, runs=runs), f, indent=2)
        f.write("\n")
EOF
}

main() {
    parse_args "$@"
    "$repo_root/scripts/install-deps" --bench
    [ "$(nproc)" -ge 2 ] || echo "replica.sh: warning: fewer than 2 CPUs; server and wrk share one" >&2
    find_replica

    bench_setup

    # Other work on the CPUs skews a run; the load averages let readers judge that.
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    start_replica
    start_nginx
    echo "lb-replica $replica_bin on 127.0.0.1:$replica_port (pid $replica_pid)," \
        "nginx on 127.0.0.1:$nginx_port (pid $nginx_pid); server CPU $server_cpu, wrk CPU $wrk_cpu"
    run_all
    report
    echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "$json_out" ]; then
        echo "figures written to $json_out"
    fi
}

main "$@"
