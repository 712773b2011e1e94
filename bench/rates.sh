# The fixed-rate and large-body modes of bench/compare.sh (--rate), sourced by it: the
# same balancers, replicas and CPU pinning, measured with lb-load instead of wrk.
#
#  1. Saturation: each balancer at --connections' largest figure, closed loop, for
#     --duration; the slowest balancer's req/s is the reference.
#  2. Fixed rates: 25%, 50% and 80% of that reference, open loop (lb-load --rate: requests
#     on a timetable, latency from each request's due time, so queueing shows), --rounds
#     interleaved rounds; p50, p99, p99.9 and the server's CPU µs per request.
#  3. Large bodies: 1 MiB downloads (GET /bytes/1048576) and uploads (POST /sink),
#     16 connections, closed loop: MB/s and the server's CPU ms per MB.
# Needs lb-load beside lbd (--bin-dir).

rate_percents=(25 50 80)

# run_load NAME PORT OUT ARGS...: lb-load --json against NAME, pinned like wrk.
run_load() {
    local name=$1 port=$2 out=$3 path=${LOAD_PATH:-/home}
    shift 3
    local limit=$(( $(to_seconds "$duration") + 60 ))
    timeout --kill-after=5 "$limit" taskset -c "$wrk_cpu" "$bin_dir/lb-load" \
        --url "http://127.0.0.1:$port$path" --json --timeout-ms 10000 "$@" >"$out" \
        || [ $? -eq 1 ] || die "lb-load failed against $name (see $out)"
}

# rate_measure NAME KIND ROUND ARGS...: one lb-load run with the server's CPU time around
# it; appends "NAME KIND ROUND cpu_ns json_path" to $workdir/rates.
rate_measure() {
    local name=$1 kind=$2 round=$3 port pid before after out
    shift 3
    port=${name}_port
    pid=${name}_pid
    out=$workdir/load-$name-$kind-r$round.json
    before=$(tree_cpu_ns "${!pid}")
    run_load "$name" "${!port}" "$out" "$@"
    after=$(tree_cpu_ns "${!pid}")
    kill -0 "${!pid}" 2>/dev/null || die "$name died during the $kind run"
    echo "$name $kind $round $(( after - before )) $out" >>"$workdir/rates"
    python3 - "$out" "$name" "$kind" "$round" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print(f"  {sys.argv[2]:<10} {sys.argv[3]:<14} round {sys.argv[4]}: "
      f"{r['requests_per_second']:>9,.0f} req/s  p50 {l['p50']:.3f}  p99 {l['p99']:.3f}  "
      f"p99.9 {l['p99.9']:.3f} ms  failed {r['failed']}")
EOF
}

run_rates() {
    local conns=${connections[-1]} name round pct rate slowest=""
    local seconds
    seconds=$(to_seconds "$duration")
    echo "== saturation: closed loop, $conns connections, $duration each"
    for name in "${servers[@]}"; do
        [ "$name" = direct ] && continue
        rate_measure "$name" saturation 1 --connections "$conns" --duration "$seconds"
    done
    slowest=$(python3 - "$workdir/rates" <<'EOF'
import json, sys
rates = [json.load(open(line.split()[4]))["requests_per_second"]
         for line in open(sys.argv[1]) if line.split()[1] == "saturation"]
print(int(min(rates)))
EOF
)
    echo "slowest balancer's saturation: $slowest req/s"
    echo "$slowest" >"$workdir/saturation"
    for pct in "${rate_percents[@]}"; do
        rate=$(( slowest * pct / 100 ))
        echo "== $pct% of it: $rate req/s, open loop, $conns connections, $rounds round(s)"
        for round in $(seq "$rounds"); do
            for name in "${servers[@]}"; do
                [ "$name" = direct ] && continue
                rate_measure "$name" "rate$pct" "$round" --connections "$conns" \
                    --rate "$rate" --duration "$seconds"
            done
        done
    done
    echo "== 1 MiB bodies: 16 connections, closed loop"
    for round in $(seq "$rounds"); do
        for name in "${servers[@]}"; do
            [ "$name" = direct ] && continue
            LOAD_PATH=/bytes/1048576 rate_measure "$name" download "$round" --connections 16 \
                --requests 2000
            LOAD_PATH=/sink rate_measure "$name" upload "$round" --connections 16 \
                --requests 2000 --body-bytes 1048576
        done
    done
}

report_rates() {
    python3 - "$workdir/rates" "$workdir/saturation" "$json_out" "${servers[*]}" "$rounds" \
        "$duration" <<'EOF'
import json, statistics, sys

rates_path, saturation_path, json_path, order, rounds, duration = sys.argv[1:7]
order = [s for s in order.split() if s != "direct"]
runs = []
for line in open(rates_path):
    server, kind, rnd, cpu_ns, path = line.split()
    report = json.load(open(path))
    done = report["responses"] or 1
    megabytes = (report["body_bytes_received"] + report["body_bytes_sent"]) / 1048576
    runs.append(dict(server=server, kind=kind, round=int(rnd), report=report,
                     cpu_us_per_request=int(cpu_ns) / 1000 / done,
                     cpu_ms_per_mb=(int(cpu_ns) / 1e6 / megabytes) if megabytes else None,
                     mb_per_s=megabytes / report["duration_s"] if report["duration_s"] else 0))

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def row(server, kind):
    mine = [r for r in runs if r["server"] == server and r["kind"] == kind]
    lat = lambda key: med(r["report"]["latency_ms"][key] for r in mine)
    return dict(server=server, kind=kind, rounds=len(mine),
                achieved=med(r["report"]["requests_per_second"] for r in mine),
                p50=lat("p50"), p99=lat("p99"), p999=lat("p99.9"),
                failed=sum(r["report"]["failed"] for r in mine),
                cpu_us_per_request=med(r["cpu_us_per_request"] for r in mine),
                mb_per_s=med(r["mb_per_s"] for r in mine),
                cpu_ms_per_mb=med(r["cpu_ms_per_mb"] for r in mine))

saturation = int(open(saturation_path).read())
kinds = ["saturation"] + sorted({r["kind"] for r in runs if r["kind"].startswith("rate")},
                                key=lambda k: int(k[4:]))
table = []
print()
print(f"Fixed rates: percentages of the slowest balancer's saturation ({saturation:,} req/s); "
      f"open loop (lb-load --rate), latency from each request's due time; medians of "
      f"{rounds} round(s) of {duration}.")
print()
print("| load | server | achieved req/s | p50 ms | p99 ms | p99.9 ms | failed "
      "| server CPU µs/req | CPU / HAProxy |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
def rows_with_ratio(kind, cost):
    """The rows of one kind, each with its `cost` field as a ratio to HAProxy's."""
    rows = [row(s, kind) for s in order]
    haproxy = next((r for r in rows if r["server"] == "haproxy"), None)
    for r in rows:
        r["cpu_ratio_to_haproxy"] = (r[cost] / haproxy[cost]
                                     if haproxy and haproxy[cost] else None)
    return rows

for kind in kinds:
    for r in rows_with_ratio(kind, "cpu_us_per_request"):
        ratio = r["cpu_ratio_to_haproxy"]
        label = "saturation" if kind == "saturation" else f"{kind[4:]}%"
        print(f"| {label} | {r['server']} | {r['achieved']:,.0f} | {r['p50']:.3f} | "
              f"{r['p99']:.3f} | {r['p999']:.3f} | {r['failed']} | "
              f"{r['cpu_us_per_request']:.1f} | " + (f"{ratio:.2f}" if ratio else "-") + " |")
        table.append(r)
print()
print("| 1 MiB bodies | server | MB/s | p99 ms | failed | server CPU ms/MB | CPU / HAProxy |")
print("|---|---|---:|---:|---:|---:|---:|")
for kind in ("download", "upload"):
    for r in rows_with_ratio(kind, "cpu_ms_per_mb"):
        ratio = r["cpu_ratio_to_haproxy"]
        print(f"| {kind} | {r['server']} | {r['mb_per_s']:,.1f} | {r['p99']:.3f} | "
              f"{r['failed']} | {r['cpu_ms_per_mb']:.3f} | "
              + (f"{ratio:.2f}" if ratio else "-") + " |")
        table.append(r)
if json_path:
    with open(json_path, "w") as f:
        json.dump(dict(mode="rate", saturation=saturation, rounds=int(rounds),
                       duration=duration, summary=table,
                       runs=[{k: v for k, v in r.items() if k != "report"} | dict(
                           report=r["report"]) for r in runs]), f, indent=1)
        f.write("\n")
EOF
}
