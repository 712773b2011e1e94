#!/usr/bin/env bash
# Compares lbd (--threads 1) with HAProxy (nbthread 1) and nginx (worker_processes 1),
# each balancing GET /home over the same three lb-replica processes by consistent
# hashing on X-Request-ID with keep-alive upstream connections, and wrk straight to one
# replica as a baseline. wrk: one thread, keep-alive, a Lua script that sends a random
# X-Request-ID (100000-999999) on every request, at 64 and 256 connections. Rounds are
# interleaved (lbd, haproxy, nginx, direct, lbd, ...) so drift on a shared machine hits
# all alike. Prints requests/s, p50 and p99 per round, then a markdown table of medians
# with each balancer's ratio to lbd (req/s and p99; > 1 = more req/s / slower p99).
#
#   bench/compare.sh [--duration 5s] [--rounds 3] [--connections "64 256"]
#                    [--warmup 1s] [--bin-dir build/src/cmd] [--json FILE]
#                    [--only "lbd haproxy nginx direct"] [--baseline DIR]
#                    [--balancer-cpu 0] [--wrk-cpu 1] [--replica-cpu 1] [--rate] [--profile]
#
# --profile (closed loop): each balancer's last round also runs under `perf record -e
# cpu-clock -g` (a software clock: no hardware counters needed), and the report adds the
# share of its CPU time spent in the kernel and its top functions (its sampling costs that
# round a little CPU).
#
# --rate: instead of wrk's closed loop, lb-load (beside lbd in --bin-dir) finds each
# balancer's saturation, then runs them all open loop at 25%, 50% and 80% of the slowest
# one's (latency from each request's due time: no coordinated omission), then 1 MiB
# downloads and uploads (bench/rates.sh).
#
# CPU pinning (taskset), made for a 2-core machine: the balancer under test runs alone on
# --balancer-cpu (0); wrk and the three replicas share --wrk-cpu (1). The balancer is the
# component measured, so it gets a core to itself, and all three balancers see the same
# load generator and the same replicas on the other core; req/s is therefore bounded by
# either the balancer (CPU 0 at 100%) or by wrk + replicas (CPU 1 at 100%). The "direct"
# baseline has wrk and one replica sharing CPU 1 (CPU 0 idle): it shows what the replica
# side can do without a hop, not a ceiling for the balancers. Only one balancer is loaded
# at a time (the others sit idle, each pinned to CPU 0). All traffic stays on 127.0.0.1,
# on ports found free at run time. Everything started here is stopped by PID on exit.
#
# Configurations (one worker each, no access logs, upstream keep-alive):
#   lbd      --backend static --upstream x3 --threads 1 --admin-listen off
#            (default --hash maglev on --hash-key header:X-Request-ID)
#   haproxy  nbthread 1, balance hdr(X-Request-ID), hash-type consistent,
#            http-reuse always, option http-keep-alive, no health checks, no logging
#   nginx    worker_processes 1, hash $http_x_request_id consistent, keepalive 64,
#            proxy_http_version 1.1, Connection "", keepalive_requests raised (client
#            and upstream) so nginx never closes a connection mid-run
# Before measuring, each balancer must answer GET /home with 200 and a replica's JSON,
# and the same X-Request-ID must always reach the same replica.
#
# --baseline DIR adds "baseline": the lbd in DIR (an earlier commit's release build, say),
# run exactly like lbd and interleaved with it, for before/after figures in one run.
#
# For a fair figure use a release build:
#   meson setup build-release --buildtype=release -Dbenchmarks=disabled -Dtests=false
#   ninja -C build-release src/cmd/lbd src/cmd/lb-replica
#   bench/compare.sh --bin-dir build-release/src/cmd
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=compare.sh
# shellcheck source=bench/lib.sh
. "$repo_root/bench/lib.sh"
# shellcheck source=bench/rates.sh
. "$repo_root/bench/rates.sh"

duration=5s
warmup=1s
rounds=3
connections=(64 256)
bin_dir=""
json_out=""
balancer_cpu=0
wrk_cpu=1
replica_cpu=1
servers=(lbd haproxy nginx direct)
baseline_dir=""
rate_mode=0
profile=0

usage() {
    sed -n '2,46p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --only) read -r -a servers <<<"${2:?--only needs a value}"; shift 2 ;;
            --baseline) baseline_dir=${2:?--baseline needs a value}; shift 2 ;;
            --rate) rate_mode=1; shift ;;
            --profile) profile=1; shift ;;
            -h|--help) usage; exit 0 ;;
            --*) common_option "$1" "${2-}" || balancer_option "$1" "${2-}" \
                     || { usage >&2; die "unknown option $1"; }; shift 2 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
    done
    check_common_args
    check_balancer_args
    [ "$profile" = 0 ] || [ "$rate_mode" = 0 ] || die "--profile goes with the closed loop, not --rate"
    local s
    [ ${#servers[@]} -gt 0 ] || die "--only needs at least one of lbd haproxy nginx direct"
    for s in "${servers[@]}"; do
        [[ $s =~ ^(lbd|haproxy|nginx|direct)$ ]] || die "--only takes lbd, haproxy, nginx, direct"
    done
    if [ -n "$baseline_dir" ]; then
        [ -x "$baseline_dir/lbd" ] || die "--baseline: no lbd in $baseline_dir"
        baseline_dir=$(cd "$baseline_dir" && pwd)
        servers+=(baseline)
    fi
}

wants() {
    local s
    for s in "${servers[@]}"; do
        [ "$s" = "$1" ] && return 0
    done
    return 1
}

# --- binaries -------------------------------------------------------------------------

find_binaries() {
    if [ -z "$bin_dir" ]; then
        bin_dir=$repo_root/build/src/cmd
        if [ ! -x "$bin_dir/lbd" ] || [ ! -x "$bin_dir/lb-replica" ]; then
            echo "compare.sh: building lbd and lb-replica in build/" >&2
            [ -f "$repo_root/build/build.ninja" ] || meson setup "$repo_root/build" "$repo_root"
            ninja -C "$repo_root/build" src/cmd/lbd src/cmd/lb-replica src/cmd/lb-load
        fi
    fi
    case "$bin_dir" in
        /*) ;;
        *) bin_dir=$PWD/$bin_dir ;;
    esac
    [ -x "$bin_dir/lbd" ] || die "no lbd in $bin_dir"
    [ -x "$bin_dir/lb-replica" ] || die "no lb-replica in $bin_dir"
    [ "$rate_mode" = 0 ] || [ -x "$bin_dir/lb-load" ] || die "--rate: no lb-load in $bin_dir"
}

# --- answers --------------------------------------------------------------------------

# The body of GET /home from the replica with id N.
replica_body() {
    echo "{\"message\":\"Hello from Server: $1\",\"status\":\"successful\"}"
}

# GET /home through NAME on PORT (optionally with X-Request-ID ID) must be 200 with one of
# the three replica bodies; prints the replica id that answered.
home_via() {
    local name=$1 port=$2 id=${3:-} got status headers=()
    if [ -n "$id" ]; then
        headers=(-H "X-Request-ID: $id")
    fi
    got=$(curl -sS --max-time 2 "${headers[@]}" -w '\n%{http_code}' \
        "http://127.0.0.1:$port/home") || die "$name: curl GET /home failed"
    status=${got##*$'\n'}
    got=${got%$'\n'*}
    got=${got%$'\n'} # the answer's own trailing newline (Flask's jsonify writes one)
    [ "$status" = 200 ] || die "$name answered GET /home with $status: $got"
    case "$got" in
        "$(replica_body 1)") echo 1 ;;
        "$(replica_body 2)") echo 2 ;;
        "$(replica_body 3)") echo 3 ;;
        *) die "$name answered '$got', expected a replica's JSON" ;;
    esac
}

# Each of 12 fixed X-Request-IDs must reach the same replica 4 times in a row, and the 12
# must not all land on one replica (else the header is not what is hashed).
check_affinity() {
    local name=$1 port=$2 id first again seen=""
    for id in 100000 123456 200001 314159 345678 424242 500000 555555 654321 777777 888888 999999; do
        first=$(home_via "$name" "$port" "$id")
        for _ in 1 2 3; do
            again=$(home_via "$name" "$port" "$id")
            [ "$again" = "$first" ] || die "$name sent X-Request-ID $id to replica $first, then to $again"
        done
        case " $seen " in *" $first "*) ;; *) seen="$seen $first" ;; esac
    done
    [ "$(wc -w <<<"$seen")" -ge 2 ] || die "$name sent 12 distinct X-Request-IDs all to replica$seen"
    echo "  $name: 200 + replica JSON; 12 X-Request-IDs each pinned to one replica (replicas used:$seen)"
}

# --- servers --------------------------------------------------------------------------

replica_ports=()
replica_pids=()

start_replicas() {
    local n port
    for n in 1 2 3; do
        port=$(free_port)
        start_pinned "replica$n" "$replica_cpu" "$bin_dir/lb-replica" \
            --listen "127.0.0.1:$port" --id "$n" --threads 1
        replica_ports+=("$port")
        replica_pids+=("$started_pid")
    done
    for n in 1 2 3; do
        wait_ready "replica$n" "${replica_pids[n - 1]}" "${replica_ports[n - 1]}"
        [ "$(home_via "replica$n" "${replica_ports[n - 1]}")" = "$n" ] \
            || die "replica$n does not answer as Server: $n"
    done
    # shellcheck disable=SC2034 # read as ${!name}_port / ${!name}_pid
    direct_port=${replica_ports[0]} direct_pid=${replica_pids[0]}
}

# start_lbd [NAME DIR]: lbd (or, as NAME, the lbd in DIR); sets NAME_port and NAME_pid.
start_lbd() {
    local name=${1:-lbd} dir=${2:-$bin_dir} port upstreams=()
    for port in "${replica_ports[@]}"; do
        upstreams+=(--upstream "127.0.0.1:$port")
    done
    port=$(free_port)
    start_pinned "$name" "$balancer_cpu" "$dir/lbd" --threads 1 --backend static \
        "${upstreams[@]}" --listen "127.0.0.1:$port" --admin-listen off
    printf -v "${name}_port" '%s' "$port"
    printf -v "${name}_pid" '%s' "$started_pid"
    wait_ready "$name" "$started_pid" "$port"
}

start_haproxy() {
    haproxy_port=$(free_port)
    local cfg=$workdir/haproxy.cfg n
    {
        cat <<EOF
global
    nbthread 1
    maxconn 8192

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 65s

frontend fe
    bind 127.0.0.1:$haproxy_port
    default_backend replicas

backend replicas
    balance hdr(X-Request-ID)
    hash-type consistent
EOF
        for n in 1 2 3; do
            echo "    server replica$n 127.0.0.1:${replica_ports[n - 1]}"
        done
    } >"$cfg"
    haproxy -c -q -f "$cfg" >"$workdir/haproxy-check.log" 2>&1 \
        || die "haproxy rejects its config: $(cat "$workdir/haproxy-check.log")"
    start_pinned haproxy "$balancer_cpu" haproxy -f "$cfg" -db
    haproxy_pid=$started_pid
    wait_ready haproxy "$haproxy_pid" "$haproxy_port"
}

# nginx runs from a private prefix (lib.sh) so nothing touches /etc/nginx or
# /var/log/nginx; as root its worker drops to nobody and opens no files.
start_nginx() {
    nginx_port=$(free_port)
    local prefix=$workdir/nginx n
    mkdir -p "$prefix/logs" "$prefix/temp"
    {
        nginx_main_common "$prefix"
        echo "http {"
        nginx_http_common "$prefix"
        echo "    upstream replicas {"
        echo "        hash \$http_x_request_id consistent;"
        for n in 1 2 3; do
            echo "        server 127.0.0.1:${replica_ports[n - 1]};"
        done
        cat <<EOF
        keepalive 64;
        keepalive_requests 100000000;
        keepalive_timeout 65s;
    }
    server {
        listen 127.0.0.1:$nginx_port;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Bodies streamed both ways, as lbd and HAProxy do (1 MiB uploads in --rate).
            client_max_body_size 0;
            proxy_request_buffering off;
        }
    }
}
EOF
    } >"$prefix/nginx.conf"
    start_nginx_conf nginx "$balancer_cpu" "$prefix"
    nginx_pid=$started_pid
    wait_ready nginx "$nginx_pid" "$nginx_port"
}

# --- load -----------------------------------------------------------------------------

write_wrk_script() {
    wrk_script=$workdir/request-id.lua
    cat >"$wrk_script" <<'EOF'
-- A random 6-digit X-Request-ID on every request. LuaJIT's math.random is not seeded,
-- so every run sends the same sequence: all servers get the same keys.
request = function()
    wrk.headers["X-Request-ID"] = tostring(math.random(100000, 999999))
    return wrk.format()
end
EOF
}

# measure_server NAME CONNS ROUND: one run against NAME; the replicas must survive too.
# Also records the server's own CPU time per request, which other users' load on a
# shared machine barely moves (unlike req/s): $workdir/costs.
measure_server() {
    local name=$1 conns=$2 round=$3 port pid before after requests
    port=${name}_port
    pid=${name}_pid
    local perf_pid=""
    if [ "$profile" = 1 ] && [ "$round" = "$rounds" ] && [ "$name" != direct ]; then
        # The server and its children (nginx's worker is a child of its master).
        local traced
        traced=$(printf '%s\n' "${!pid}" "$(pgrep -P "${!pid}" || true)" | grep . | paste -sd,)
        perf record -q -e cpu-clock -g -p "$traced" -o "$workdir/perf-$name-c$conns.data" \
            >"$workdir/perf-$name-c$conns.log" 2>&1 &
        perf_pid=$!
    fi
    before=$(tree_cpu_ns "${!pid}")
    measure "$name" "${!port}" "$conns" "$round" "${!pid}" "${replica_pids[@]}"
    after=$(tree_cpu_ns "${!pid}")
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
    fi
    requests=$(awk '/^ *[0-9]+ requests in/ { print $1 }' "$workdir/wrk-$name-c$conns-r$round.txt")
    echo "$name $conns $round $(( after - before )) ${requests:-0}" >>"$workdir/costs"
}

run_all() {
    local conns round name port
    for conns in "${connections[@]}"; do
        echo "== $conns connections, $rounds round(s) of $duration each, interleaved"
        if [ "$(to_seconds "$warmup")" -gt 0 ]; then
            # Fill caches, accept paths and upstream pools before counting.
            for name in "${servers[@]}"; do
                port=${name}_port
                run_wrk "${!port}" "$conns" "$warmup" >/dev/null
            done
        fi
        for round in $(seq "$rounds"); do
            for name in "${servers[@]}"; do
                measure_server "$name" "$conns" "$round"
            done
        done
    done
}

# --- report ---------------------------------------------------------------------------

# --profile: per balancer and connection count, the kernel's share of the samples and the
# top functions (self time).
report_profiles() {
    local data name kernel
    for data in "$workdir"/perf-*.data; do
        [ -s "$data" ] || continue
        name=${data##*/perf-}
        name=${name%.data}
        kernel=$(perf report -i "$data" --no-children --sort dso --stdio -g none 2>/dev/null \
            | awk '$2 == "[kernel.kallsyms]" { print $1 }')
        echo "profile $name: kernel ${kernel:-?} of the samples; top functions (self):"
        # (head closes the pipe early: not a failure)
        perf report -i "$data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
            | awk '/^ +[0-9.]+%/ { print "   ", $0 }' | head -12 || true
    done
}

# Medians of the rounds per server and connection count; markdown table on stdout, JSON
# (every round, the medians and the ratios) to --json FILE.
report() {
    python3 - "$workdir/results" "$json_out" "$duration" "$rounds" "$bin_dir" \
        "$balancer_cpu" "$wrk_cpu" "$replica_cpu" "${servers[*]}" "$watch_cpus" "$workdir/costs" <<'EOF'
import json, statistics, sys

(results_path, json_path, duration, rounds, bin_dir,
 balancer_cpu, wrk_cpu, replica_cpu, order, watched, costs_path) = sys.argv[1:12]
order = order.split()
watched = watched.split()
runs = []
with open(results_path) as f:
    for line in f:
        server, conns, rnd, rps, p50, p99, non2xx, errors, *busy = line.split()
        runs.append(dict(server=server, connections=int(conns), round=int(rnd),
                         requests_per_s=float(rps), p50_ms=float(p50), p99_ms=float(p99),
                         non_2xx=int(non2xx), socket_errors=int(errors),
                         cpu_busy_percent={f"cpu{c}": int(b) for c, b in zip(watched, busy)}))
# Server CPU microseconds per request (the process tree's time on CPU over the run).
with open(costs_path) as f:
    for line in f:
        server, conns, rnd, cpu_ns, requests = line.split()
        for r in runs:
            if (r["server"], r["connections"], r["round"]) == (server, int(conns), int(rnd)):
                r["server_cpu_us_per_request"] = (
                    int(cpu_ns) / 1000 / int(requests) if int(requests) else None)

def median_of(server, conns):
    mine = [r for r in runs if r["server"] == server and r["connections"] == conns]
    return dict(server=server, connections=conns,
                requests_per_s=statistics.median(r["requests_per_s"] for r in mine),
                p50_ms=statistics.median(r["p50_ms"] for r in mine),
                p99_ms=statistics.median(r["p99_ms"] for r in mine),
                min_requests_per_s=min(r["requests_per_s"] for r in mine),
                max_requests_per_s=max(r["requests_per_s"] for r in mine),
                non_2xx=sum(r["non_2xx"] for r in mine),
                socket_errors=sum(r["socket_errors"] for r in mine),
                server_cpu_us_per_request=statistics.median(
                    r["server_cpu_us_per_request"] or 0 for r in mine),
                cpu_busy_percent={f"cpu{c}": statistics.median(
                    r["cpu_busy_percent"][f"cpu{c}"] for r in mine) for c in watched})

summary = []
print()
print("| server | conns | req/s (median) | req/s range | p50 (ms) | p99 (ms) "
      "| req/s / lbd | p99 / lbd | non-2xx | socket errors | server CPU µs/req |"
      + "".join(f" CPU{c} busy |" for c in watched))
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(watched))
for conns in sorted({r["connections"] for r in runs}):
    rows = [median_of(s, conns) for s in order]
    lbd = next((r for r in rows if r["server"] == "lbd"), None)
    for row in rows:
        if lbd:
            row["rps_ratio_to_lbd"] = row["requests_per_s"] / lbd["requests_per_s"]
            row["p99_ratio_to_lbd"] = (row["p99_ms"] / lbd["p99_ms"]) if lbd["p99_ms"] else None
        rr = f"{row['rps_ratio_to_lbd']:.2f}" if lbd else "-"
        pr = (f"{row['p99_ratio_to_lbd']:.2f}"
              if lbd and row.get("p99_ratio_to_lbd") is not None else "-")
        print(f"| {row['server']} | {conns} | {row['requests_per_s']:,.0f} | "
              f"{row['min_requests_per_s']:,.0f}-{row['max_requests_per_s']:,.0f} | "
              f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {rr} | {pr} | "
              f"{row['non_2xx']} | {row['socket_errors']} | "
              f"{row['server_cpu_us_per_request']:.1f} |"
              + "".join(f" {row['cpu_busy_percent'][f'cpu{c}']:.0f}% |" for c in watched))
    summary.append(dict(connections=conns, servers=rows))
print()
print(f"Medians of {rounds} interleaved round(s) of {duration}; wrk -t1, keep-alive, random "
      f"X-Request-ID per request. Balancer on CPU {balancer_cpu}, wrk on CPU {wrk_cpu}, "
      f"replicas on CPU {replica_cpu}. Ratios: server / lbd. CPU busy: median over the "
      f"runs, whole machine (other users' work included). Server CPU µs/req: the server's "
      f"own time on CPU per request (schedstat; for direct: the replica), little moved by "
      f"other load.")
verdicts = []
for s in summary:
    rows = {r["server"]: r for r in s["servers"]}
    if "lbd" not in rows:
        continue
    for other in ("haproxy", "nginx"):
        if other in rows:
            o, l = rows[other], rows["lbd"]
            ok_rps = l["requests_per_s"] >= o["requests_per_s"]
            ok_p99 = l["p99_ms"] <= o["p99_ms"]
            verdicts.append(dict(connections=s["connections"], versus=other,
                                 lbd_rps_at_least=ok_rps, lbd_p99_no_worse=ok_p99))
            print(f"c={s['connections']}: lbd vs {other}: req/s "
                  f"{'>=' if ok_rps else '<'} ({l['requests_per_s']:,.0f} vs "
                  f"{o['requests_per_s']:,.0f}), p99 {'no worse' if ok_p99 else 'worse'} "
                  f"({l['p99_ms']:.3f} vs {o['p99_ms']:.3f} ms)")
for r in runs:
    if r["non_2xx"] or r["socket_errors"]:
        print(f"warning: {r['server']} c={r['connections']} round {r['round']}: "
              f"{r['non_2xx']} non-2xx, {r['socket_errors']} socket errors")

if json_path:
    with open(json_path, "w") as f:
        json.dump(dict(duration=duration, rounds=int(rounds), bin_dir=bin_dir,
                       cpus=dict(balancer=int(balancer_cpu), wrk=int(wrk_cpu),
                                 replicas=int(replica_cpu)),
                       summary=summary, verdicts=verdicts, runs=runs), f, indent=2)
        f.write("\n")
EOF
}

main() {
    parse_args "$@"
    "$repo_root/scripts/install-deps" --bench
    [ "$profile" = 0 ] || perf record -q -e cpu-clock -o /dev/null -- true 2>/dev/null \
        || die "--profile: perf record -e cpu-clock does not work here"
    [ "$(nproc)" -ge 2 ] || echo "compare.sh: warning: fewer than 2 CPUs; everything shares one" >&2
    find_binaries
    # Busy % of each CPU in use, per run: shows whether the balancer's core or the
    # load side (wrk + replicas) was the bottleneck.
    watch_cpus=$(printf '%s\n' "$balancer_cpu" "$wrk_cpu" "$replica_cpu" | awk '!seen[$0]++' | xargs)

    bench_setup
    write_wrk_script

    # Other work on the CPUs skews a run; the load averages let readers judge that.
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    start_replicas
    wants lbd && start_lbd
    wants baseline && start_lbd baseline "$baseline_dir"
    wants haproxy && start_haproxy
    wants nginx && start_nginx
    echo "binaries from $bin_dir; replicas on 127.0.0.1:${replica_ports[*]} (CPU $replica_cpu)," \
        "balancers on CPU $balancer_cpu, wrk on CPU $wrk_cpu"
    local name port pid
    for name in "${servers[@]}"; do
        port=${name}_port
        pid=${name}_pid
        echo "  $name: 127.0.0.1:${!port} (pid ${!pid})"
    done
    echo "checking answers and X-Request-ID affinity"
    for name in "${servers[@]}"; do
        port=${name}_port
        if [ "$name" = direct ]; then
            [ "$(home_via direct "${!port}" 424242)" = 1 ] || die "direct is not replica 1"
            echo "  direct: 200 + replica 1 JSON"
        else
            check_affinity "$name" "${!port}"
        fi
    done
    if [ "$rate_mode" = 1 ]; then
        run_rates
        report_rates
    else
        run_all
        report
        [ "$profile" = 0 ] || report_profiles
    fi
    echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "$json_out" ]; then
        echo "figures written to $json_out"
    fi
}

main "$@"
