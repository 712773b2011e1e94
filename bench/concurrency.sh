#!/usr/bin/env bash
# Concurrency: lbd (--threads 1) beside HAProxy (nbthread 1) and nginx (one worker) at
# thousands of connections. Two measurements, each balancer started afresh for each run:
#
#   burst  N connections opened at once, one GET /home each (lb-load), through the
#          balancer to one replica that answers after --delay-ms (lb-replica --delay-ms):
#          share answered, p50 and p99 latency, the balancer's own CPU time per request
#          (scheduler time of every thread, /proc/PID/task/*/schedstat); rounds
#          interleaved, each starting with the next balancer, after a warm-up burst
#          straight to the replica.
#   idle   the balancer's resident memory growth per idle keep-alive client connection,
#          between 8,800 and 9,800 of them open (bench/hold_idle.py), in front of three
#          fast replicas: the cost of one more idle connection, after whatever a busy
#          server touches once. (HAProxy refuses a maxconn whose two descriptors per
#          connection exceed the 20,000 the machine allows: 9,800 is the most it takes.)
#
#   bench/concurrency.sh [--connections "1000 4000 9000"] [--rounds 3] [--delay-ms 2000]
#                        [--bin-dir build/src/cmd] [--only "lbd haproxy nginx"]
#                        [--json FILE] [--balancer-cpu 0] [--wrk-cpu 1] [--replica-cpu 1]
#
# Pinning as in compare.sh: the balancer alone on --balancer-cpu; lb-load, hold_idle.py
# and the replicas on the other CPU. Descriptors: for bursts each balancer is configured
# for 9,800 client connections (the machine's hard RLIMIT_NOFILE of 20,000 allows two
# descriptors per proxied request and a little more); for the idle run, which holds
# 9,800 client connections and few upstream ones, for 9,900. Everything started here is
# stopped by PID on exit.
#
# Configurations (LIMIT: 9800 or 9900, as above):
#   lbd      --backend static --threads 1 --admin-listen off --max-connections LIMIT
#   haproxy  nbthread 1, maxconn LIMIT, ulimit-n at the hard limit, bind backlog 4096,
#            no server maxconn, http-reuse always
#   nginx    worker_processes 1, worker_connections 2 x LIMIT (at most 19600),
#            listen backlog=4096, keepalive 1024 to the upstream
# For a fair figure use a release build (see compare.sh).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=concurrency.sh
# shellcheck source=bench/lib.sh
. "$repo_root/bench/lib.sh"

connections=(1000 4000 9000)
rounds=3
delay_ms=2000
bin_dir=""
json_out=""
balancer_cpu=0
wrk_cpu=1
replica_cpu=1
servers=(lbd haproxy nginx)
client_limit=9800 # client connections each balancer is configured for (see above)
# Unused by this bench, but common_option parses them.
duration=5s
warmup=0

usage() {
    sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --delay-ms) delay_ms=${2:?--delay-ms needs a value}; shift 2 ;;
            --only) read -r -a servers <<<"${2:?--only needs a value}"; shift 2 ;;
            -h|--help) usage; exit 0 ;;
            --*) common_option "$1" "${2-}" || balancer_option "$1" "${2-}" \
                     || { usage >&2; die "unknown option $1"; }; shift 2 ;;
            *) usage >&2; die "unknown option $1" ;;
        esac
    done
    check_common_args
    check_balancer_args
    [[ $delay_ms =~ ^[0-9]+$ ]] || die "--delay-ms takes milliseconds"
    local s c
    for s in "${servers[@]}"; do
        [[ $s =~ ^(lbd|haproxy|nginx)$ ]] || die "--only takes lbd, haproxy, nginx"
    done
    for c in "${connections[@]}"; do
        [ "$c" -le 9800 ] || die "--connections: at most 9800 (two descriptors each, 20,000 in all)"
    done
}

find_binaries() {
    if [ -z "$bin_dir" ]; then
        bin_dir=$repo_root/build/src/cmd
        echo "concurrency.sh: building lbd, lb-replica and lb-load in build/" >&2
        [ -f "$repo_root/build/build.ninja" ] || meson setup "$repo_root/build" "$repo_root"
        ninja -C "$repo_root/build" src/cmd/lbd src/cmd/lb-replica src/cmd/lb-load
    fi
    case "$bin_dir" in
        /*) ;;
        *) bin_dir=$PWD/$bin_dir ;;
    esac
    local program
    for program in lbd lb-replica lb-load; do
        [ -x "$bin_dir/$program" ] || die "no $program in $bin_dir"
    done
}

# --- upstreams ------------------------------------------------------------------------

slow_port=""
fast_ports=()

start_replica() {
    local name=$1
    shift
    local port
    port=$(free_port)
    start_pinned "$name" "$replica_cpu" "$bin_dir/lb-replica" --listen "127.0.0.1:$port" \
        --threads 1 "$@"
    wait_ready "$name" "$started_pid" "$port" /heartbeat
    replica_port=$port
}

start_upstreams() {
    local n
    start_replica slow --id slow --delay-ms "$delay_ms"
    slow_port=$replica_port
    for n in 1 2 3; do
        start_replica "fast$n" --id "$n"
        fast_ports+=("$replica_port")
    done
}

# --- balancers: start_NAME PORT UPSTREAM_PORT... sets balancer_pid ----------------------

start_lbd() {
    local port=$1 upstream upstreams=()
    shift
    for upstream in "$@"; do
        upstreams+=(--upstream "127.0.0.1:$upstream")
    done
    start_pinned lbd "$balancer_cpu" "$bin_dir/lbd" --threads 1 --backend static \
        "${upstreams[@]}" --listen "127.0.0.1:$port" --admin-listen off \
        --max-connections "$client_limit" --response-timeout-ms 60000
    balancer_pid=$started_pid
}

start_haproxy() {
    local port=$1 upstream n=0 cfg=$workdir/haproxy-$1.cfg
    shift
    {
        cat <<EOF
global
    nbthread 1
    maxconn $client_limit
    ulimit-n $(ulimit -Hn)

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 10s
    timeout http-keep-alive 65s

frontend fe
    bind 127.0.0.1:$port backlog 4096
    default_backend replicas

backend replicas
    balance hdr(X-Request-ID)
    hash-type consistent
EOF
        for upstream in "$@"; do
            n=$(( n + 1 ))
            echo "    server replica$n 127.0.0.1:$upstream"
        done
    } >"$cfg"
    haproxy -c -q -f "$cfg" >"$workdir/haproxy-check.log" 2>&1 \
        || die "haproxy rejects its config: $(cat "$workdir/haproxy-check.log")"
    start_pinned haproxy "$balancer_cpu" haproxy -f "$cfg" -db
    balancer_pid=$started_pid
}

start_nginx() {
    local port=$1 upstream prefix=$workdir/nginx-$1
    shift
    mkdir -p "$prefix/logs" "$prefix/temp"
    {
        cat <<EOF
worker_processes 1;
worker_rlimit_nofile 20000;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events {
    worker_connections $(( client_limit * 2 > 19600 ? 19600 : client_limit * 2 ));
}
http {
EOF
        nginx_http_common "$prefix"
        echo "    upstream replicas {"
        echo "        hash \$http_x_request_id consistent;"
        for upstream in "$@"; do
            echo "        server 127.0.0.1:$upstream;"
        done
        cat <<EOF
        keepalive 1024;
        keepalive_requests 100000000;
        keepalive_timeout 65s;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_read_timeout 60s;
        }
    }
}
EOF
    } >"$prefix/nginx.conf"
    start_nginx_conf nginx "$balancer_cpu" "$prefix"
    balancer_pid=$started_pid
}

# --- measurements -----------------------------------------------------------------------

# burst NAME CONNS ROUND: appends "name conns round ok p50 p99 cpu_ns fresh" to bursts.
burst() {
    local name=$1 conns=$2 round=$3 port before after out=$workdir/burst-$1-$2-$3.json
    port=$(free_port)
    "start_$name" "$port" "$slow_port"
    wait_ready "$name" "$balancer_pid" "$port" /heartbeat
    before=$(tree_cpu_ns "$balancer_pid")
    timeout --kill-after=5 $(( delay_ms / 1000 + 90 )) taskset -c "$wrk_cpu" \
        "$bin_dir/lb-load" --url "http://127.0.0.1:$port/home" --requests "$conns" \
        --connections "$conns" --timeout-ms $(( delay_ms + 30000 )) --json >"$out" || true
    after=$(tree_cpu_ns "$balancer_pid")
    kill -0 "$balancer_pid" 2>/dev/null || die "$name died during the burst (see $workdir/$name.log)"
    # The answer to a fresh request right after the burst.
    local fresh
    fresh=$(curl -s -o /dev/null -w '%{http_code}' --max-time $(( delay_ms / 1000 + 5 )) \
        "http://127.0.0.1:$port/home" || echo 000)
    stop_started "$balancer_pid"
    python3 - "$out" "$name" "$conns" "$round" "$(( after - before ))" "$fresh" \
        >>"$workdir/bursts" <<'EOF'
import json, sys
path, name, conns, rnd, cpu_ns, fresh = sys.argv[1:7]
try:
    r = json.load(open(path))
    ok, p50, p99 = r["ok"], r["latency_ms"]["p50"], r["latency_ms"]["p99"]
except (OSError, ValueError, KeyError):
    ok, p50, p99 = 0, 0, 0
print(name, conns, rnd, ok, p50, p99, cpu_ns, fresh)
EOF
    tail -1 "$workdir/bursts" | awk '{
        printf "  %-8s c=%-5s round %s: %5d/%-5d answered  p50 %8.1f ms  p99 %8.1f ms  CPU %6.1f us/req  fresh %s\n",
            $1, $2, $3, $4, $2, $5, $6, $7 / 1000 / $2, $8 }'
}

idle() {
    local name=$1 port out=$workdir/idle-$1.json
    port=$(free_port)
    "start_$name" "$port" "${fast_ports[@]}"
    wait_ready "$name" "$balancer_pid" "$port"
    timeout 120 taskset -c "$wrk_cpu" python3 "$repo_root/bench/hold_idle.py" --port "$port" \
        --pid "$balancer_pid" --steps 8800,9800 >"$out" || die "hold_idle.py failed against $name"
    stop_started "$balancer_pid"
    echo "$name $(python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["rss"]["8800"], r["rss"]["9800"], r["bytes_per_idle_connection"])' "$out")" >>"$workdir/idles"
    tail -1 "$workdir/idles" | awk '{ printf "  %-8s RSS %d -> %d bytes: %d bytes per idle connection\n", $1, $2, $3, $4 }'
}

report() {
    python3 - "$workdir/bursts" "$workdir/idles" "$json_out" "$delay_ms" "${servers[*]}" <<'EOF'
import json, statistics, sys
bursts_path, idles_path, json_path, delay_ms, order = sys.argv[1:6]
order = order.split()
runs = []
for line in open(bursts_path):
    name, conns, rnd, ok, p50, p99, cpu_ns, fresh = line.split()
    runs.append(dict(server=name, connections=int(conns), round=int(rnd), answered=int(ok),
                     p50_ms=float(p50), p99_ms=float(p99),
                     cpu_us_per_request=int(cpu_ns) / 1000 / int(conns),
                     fresh_request_status=int(fresh)))
idles = {}
for line in open(idles_path):
    name, before, after, per = line.split()
    idles[name] = dict(rss_at_8800=int(before), rss_at_9800=int(after),
                       bytes_per_idle_connection=int(per))
print()
print(f"Burst: N connections at once, one GET each, to a replica answering after {delay_ms} ms "
      f"(medians of {max(r['round'] for r in runs)} round(s); a fresh request right after)")
print()
print("| balancer | N at once | answered | p50 ms | p99 ms | CPU µs/req | fresh request |")
print("|---|---:|---:|---:|---:|---:|---|")
summary = []
for conns in sorted({r["connections"] for r in runs}):
    for name in order:
        mine = [r for r in runs if r["server"] == name and r["connections"] == conns]
        if not mine:
            continue
        row = dict(server=name, connections=conns,
                   answered_share=statistics.median(r["answered"] / conns for r in mine),
                   p50_ms=statistics.median(r["p50_ms"] for r in mine),
                   p99_ms=statistics.median(r["p99_ms"] for r in mine),
                   cpu_us_per_request=statistics.median(r["cpu_us_per_request"] for r in mine),
                   fresh=sorted({r["fresh_request_status"] for r in mine}))
        summary.append(row)
        print(f"| {name} | {conns:,} | {100 * row['answered_share']:.1f}% | {row['p50_ms']:,.0f} | "
              f"{row['p99_ms']:,.0f} | {row['cpu_us_per_request']:.1f} | "
              f"{', '.join(map(str, row['fresh']))} |")
print()
print("Idle keep-alive client connections: RSS growth between 8,800 and 9,800 open")
print()
print("| balancer | RSS at 8,800 | RSS at 9,800 | bytes per idle connection |")
print("|---|---:|---:|---:|")
for name in order:
    if name in idles:
        i = idles[name]
        print(f"| {name} | {i['rss_at_8800'] / 2**20:.1f} MiB | {i['rss_at_9800'] / 2**20:.1f} MiB "
              f"| {i['bytes_per_idle_connection']:,} |")
if json_path:
    with open(json_path, "w") as f:
        json.dump(dict(delay_ms=int(delay_ms), bursts=summary, idle=idles, runs=runs), f,
                  indent=2)
        f.write("\n")
EOF
}

main() {
    parse_args "$@"
    "$repo_root/scripts/install-deps" --bench
    find_binaries
    bench_setup
    : >"$workdir/bursts"
    : >"$workdir/idles"
    local hard
    hard=$(ulimit -Hn)
    ulimit -n "$hard"
    [ "$hard" = unlimited ] || [ "$hard" -ge 20000 ] \
        || echo "concurrency.sh: warning: RLIMIT_NOFILE is $hard; 9,000 connections need 20,000" >&2
    load_before=$(cut -d' ' -f1-3 /proc/loadavg)
    start_upstreams
    echo "binaries from $bin_dir; slow replica 127.0.0.1:$slow_port (${delay_ms} ms)," \
        "fast replicas 127.0.0.1:${fast_ports[*]}; balancers on CPU $balancer_cpu," \
        "clients and replicas on CPU $wrk_cpu/$replica_cpu"
    # The replica's first burst is slower (its memory is touched for the first time):
    # warm it up directly, so that no balancer pays for it.
    local most=0 conns round name
    for conns in "${connections[@]}"; do
        [ "$conns" -gt "$most" ] && most=$conns
    done
    taskset -c "$wrk_cpu" "$bin_dir/lb-load" --url "http://127.0.0.1:$slow_port/home" \
        --requests "$most" --connections "$most" --timeout-ms $(( delay_ms + 30000 )) \
        >/dev/null || die "the warm-up burst to the slow replica failed"
    for conns in "${connections[@]}"; do
        echo "== burst of $conns connections, $rounds round(s), interleaved"
        for round in $(seq "$rounds"); do
            # Each round starts with the next balancer, so none always goes first.
            local order=("${servers[@]:round % ${#servers[@]}}" "${servers[@]:0:round % ${#servers[@]}}")
            for name in "${order[@]}"; do
                burst "$name" "$conns" "$round"
            done
        done
    done
    echo "== idle connections: 8,800 then 9,800"
    client_limit=9900
    for name in "${servers[@]}"; do
        idle "$name"
    done
    report
    echo "load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "$json_out" ]; then
        echo "figures written to $json_out"
    fi
}

main "$@"
