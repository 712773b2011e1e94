# shellcheck shell=bash disable=SC2154 # the globals below are set by the sourcing script
# Helpers shared by the benches (bench/replica.sh, bench/compare.sh, bench/concurrency.sh). Source it; it
# runs nothing by itself. The sourcing script sets, before calling these:
#   bench_name   its name, for messages ("replica.sh")
#   duration     wrk duration of a measured run (5s)
#   wrk_cpu      the CPU wrk is pinned to
#   wrk_script   a wrk Lua script, or empty for plain GETs
#   watch_cpus   optional: CPU numbers whose busy % measure records ("0 1")
# and gets from bench_setup: workdir (a private temporary directory, removed on exit),
# pids (every process started through start_pinned; stopped by PID on exit) and
# $workdir/results (one line per measured run, appended by measure).

pids=()
workdir=""
load_pid="" # the wrk run in progress (timeout's PID), if any
wrk_script=${wrk_script:-}

die() {
    echo "$bench_name: $*" >&2
    exit 1
}

# Stops every process we started, by PID (TERM, up to 5 s of grace each, then KILL), and
# removes the work directory. Never by name: other engineers run the same programs.
cleanup() {
    local pid
    if [ -n "$load_pid" ]; then
        kill -TERM "$load_pid" 2>/dev/null || true # timeout passes it on to wrk
        wait "$load_pid" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        await_exit "$pid"
    done
    if [ -n "$workdir" ]; then
        rm -rf "$workdir"
    fi
}

# Waits up to 5 s for PID (already sent TERM) to exit, then KILLs it.
await_exit() {
    local pid=$1
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Stops one process started through start_pinned (TERM, then KILL after 5 s) and drops
# it from the cleanup list.
stop_started() {
    local victim=$1 kept=() pid
    kill -TERM "$victim" 2>/dev/null || true
    await_exit "$victim"
    for pid in "${pids[@]}"; do
        [ "$pid" = "$victim" ] || kept+=("$pid")
    done
    pids=("${kept[@]}")
}

# Makes the work directory and installs the traps; call once, after argument parsing.
bench_setup() {
    workdir=$(mktemp -d "${TMPDIR:-/tmp}/lbd-bench-${bench_name%.sh}.XXXXXX")
    chmod 755 "$workdir" # nginx workers run as nobody when we are root
    : >"$workdir/results"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# Takes one of the options every bench shares (--duration, --warmup, --rounds,
# --connections, --json, --wrk-cpu) with its value; false for any other option.
common_option() {
    case "$1" in
        --duration | --warmup | --rounds | --connections | --json | --wrk-cpu) ;;
        *) return 1 ;;
    esac
    local value=${2:?$1 needs a value}
    # shellcheck disable=SC2034 # json_out is read by the bench scripts
    case "$1" in
        --duration) duration=$value ;;
        --warmup) warmup=$value ;;
        --rounds) rounds=$value ;;
        --connections) read -r -a connections <<<"$value" ;;
        --json) json_out=$value ;;
        --wrk-cpu) wrk_cpu=$value ;;
    esac
}

# Takes one of the options of the benches that put a balancer in front of replicas
# (compare.sh, concurrency.sh): --bin-dir, --balancer-cpu, --replica-cpu; false for any
# other option.
balancer_option() {
    case "$1" in
        --bin-dir | --balancer-cpu | --replica-cpu) ;;
        *) return 1 ;;
    esac
    local value=${2:?$1 needs a value}
    # shellcheck disable=SC2034 # read by the bench scripts
    case "$1" in
        --bin-dir) bin_dir=$value ;;
        --balancer-cpu) balancer_cpu=$value ;;
        --replica-cpu) replica_cpu=$value ;;
    esac
}

# Checks the options of balancer_option.
check_balancer_args() {
    [[ $balancer_cpu =~ ^[0-9]+$ ]] || die "--balancer-cpu takes a CPU number"
    [[ $replica_cpu =~ ^[0-9]+$ ]] || die "--replica-cpu takes a CPU number"
}

# Checks the options every bench shares.
check_common_args() {
    local c
    [[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a positive number"
    [[ $duration =~ ^[1-9][0-9]*[smh]?$ ]] || die "--duration takes e.g. 5s"
    [[ $warmup =~ ^[0-9]+[smh]?$ ]] || die "--warmup takes e.g. 1s (0 to skip)"
    for c in "${connections[@]}"; do
        [[ $c =~ ^[1-9][0-9]*$ ]] || die "--connections takes numbers, e.g. \"64 256\""
    done
    [[ $wrk_cpu =~ ^[0-9]+$ ]] || die "--wrk-cpu takes a CPU number"
}

# A port nothing listens on right now (the kernel picks it; the tiny window before the
# server binds it is acceptable on a bench machine).
free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# start_pinned NAME CPU COMMAND...: runs COMMAND in the background on CPU, output to
# $workdir/NAME.log; sets started_pid and records it for cleanup.
start_pinned() {
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$workdir/$name.log" 2>&1 &
    started_pid=$!
    pids+=("$started_pid")
}

# Waits until http://127.0.0.1:PORT/home (or PATH) answers 200, or fails if PID dies first.
wait_ready() {
    local name=$1 pid=$2 port=$3 path=${4:-/home}
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $workdir/$name.log:"$'\n'"$(tail -5 "$workdir/$name.log" 2>/dev/null))"
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port$path" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "$name did not answer on 127.0.0.1:$port within 10s"
}

# nginx.conf lines every bench needs inside http {}: a private prefix for temp files, so
# nothing touches /etc/nginx or /var/log/nginx. keepalive_requests is raised so nginx
# never closes a wrk connection mid-run (the default, 1000, would make it pay for
# reconnects that the other servers do not).
nginx_http_common() {
    local prefix=$1
    cat <<EOF
    access_log off;
    keepalive_timeout 65s;
    keepalive_requests 100000000;
    client_body_temp_path $prefix/temp/client_body;
    proxy_temp_path $prefix/temp/proxy;
    fastcgi_temp_path $prefix/temp/fastcgi;
    uwsgi_temp_path $prefix/temp/uwsgi;
    scgi_temp_path $prefix/temp/scgi;
EOF
}

# nginx.conf lines before http {}: one worker, pid and error log in the prefix.
nginx_main_common() {
    local prefix=$1
    cat <<EOF
worker_processes 1;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events {
    worker_connections 4096;
}
EOF
}

# start_nginx_conf NAME CPU PREFIX: runs nginx in the foreground with PREFIX/nginx.conf.
start_nginx_conf() {
    local name=$1 cpu=$2 prefix=$3
    start_pinned "$name" "$cpu" nginx -p "$prefix" -e "$prefix/logs/error.log" \
        -c "$prefix/nginx.conf" -g 'daemon off;'
}

# Seconds in a wrk duration such as 5s, 2m, 1h, 10.
to_seconds() {
    local value=$1
    case "$value" in
        *h) echo $(( ${value%h} * 3600 )) ;;
        *m) echo $(( ${value%m} * 60 )) ;;
        *s) echo "${value%s}" ;;
        *) echo "$value" ;;
    esac
}

# Runs wrk once (one thread, keep-alive, --latency, $wrk_script if set); prints its
# output. The outer timeout bounds the run even if wrk hangs. wrk runs in the background
# and we wait for it, so Ctrl-C or TERM reach our trap at once (bash defers traps while
# a foreground child runs) and cleanup stops wrk by PID. Call it in the main shell, not
# inside $(...), or the trap waits for the whole run.
run_wrk() {
    local port=$1 conns=$2 length=$3 rc=0
    local limit=$(( $(to_seconds "$length") + 30 ))
    local script=()
    if [ -n "$wrk_script" ]; then
        script=(-s "$wrk_script")
    fi
    timeout --kill-after=5 "$limit" taskset -c "$wrk_cpu" \
        wrk -t1 -c"$conns" -d"$length" --latency "${script[@]}" \
        "http://127.0.0.1:$port/home" &
    load_pid=$!
    wait "$load_pid" || rc=$?
    load_pid=""
    return "$rc"
}

# Reads wrk --latency output on stdin; prints "rps p50_ms p99_ms non2xx socket_errors".
parse_wrk() {
    awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            if (v ~ /m$/)  return substr(v, 1, length(v) - 1) * 60000
            return v + 0
        }
        $1 == "50%"               { p50 = ms($2) }
        $1 == "99%"               { p99 = ms($2) }
        $1 == "Requests/sec:"     { rps = $2 }
        /Non-2xx or 3xx/          { non2xx = $NF }
        $1 == "Socket" && $2 == "errors:" {
            # Socket errors: connect 0, read 0, write 0, timeout 0
            gsub(",", ""); errors = $4 + $6 + $8 + $10
        }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %.3f %.3f %d %d\n", rps, p50, p99, non2xx + 0, errors + 0
        }'
}

# Prints "busy total" jiffies for CPU N from /proc/stat (busy = all but idle and iowait).
cpu_jiffies() {
    awk -v cpu="cpu$1" '$1 == cpu {
        total = 0; for (i = 2; i <= NF; i++) total += $i
        print total - $5 - $6, total }' /proc/stat
}

# Busy % of CPU N between two cpu_jiffies readings.
cpu_busy_percent() {
    local b0 t0 b1 t1
    read -r b0 t0 <<<"$1"
    read -r b1 t1 <<<"$2"
    awk -v b="$(( b1 - b0 ))" -v t="$(( t1 - t0 ))" 'BEGIN { printf "%.0f", t ? 100 * b / t : 0 }'
}

# measure SERVER PORT CONNS ROUND PID...: one measured run; appends
# "server conns round rps p50 p99 non2xx errors [busy%...]" to $workdir/results and
# prints a line. Every PID given must still be alive afterwards (the server and what it
# depends on). If watch_cpus lists CPU numbers, each one's busy % over the run (the whole
# machine's work, ours and anyone else's) is appended, to show which side was saturated.
measure() {
    local server=$1 port=$2 conns=$3 round=$4
    shift 4
    local output figures rps p50 p99 non2xx errors pid cpu busy=() before=() busy_note=""
    for cpu in ${watch_cpus:-}; do
        before+=("$(cpu_jiffies "$cpu")")
    done
    local out=$workdir/wrk-$server-c$conns-r$round.txt
    run_wrk "$port" "$conns" "$duration" >"$out" || die "wrk failed against $server"
    output=$(<"$out")
    local i=0
    for cpu in ${watch_cpus:-}; do
        busy+=("$(cpu_busy_percent "${before[i]}" "$(cpu_jiffies "$cpu")")")
        busy_note+="  cpu$cpu ${busy[i]}%"
        i=$(( i + 1 ))
    done
    figures=$(parse_wrk <<<"$output") || die "could not parse wrk output:"$'\n'"$output"
    for pid in "$@"; do
        kill -0 "$pid" 2>/dev/null || die "process $pid died during the $server run (logs in $workdir)"
    done
    echo "$server $conns $round $figures ${busy[*]}" >>"$workdir/results"
    read -r rps p50 p99 non2xx errors <<<"$figures"
    printf '  %-10s c=%-4s round %s: %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms%s' \
        "$server" "$conns" "$round" "$rps" "$p50" "$p99" "$busy_note"
    if [ "$non2xx" -ne 0 ] || [ "$errors" -ne 0 ]; then
        printf '  !! non-2xx %s, socket errors %s' "$non2xx" "$errors"
    fi
    printf '\n'
}

# CPU time in nanoseconds of PID and all its descendants (nginx's worker is a child of its
# master), every thread included (io_uring workers too), from the scheduler's own
# accounting (/proc/PID/task/TID/schedstat: time on CPU), which is exact where utime +
# stime count 10 ms ticks. Found by parent PID, never by name.
tree_cpu_ns() {
    local pid=$1 total=0 child
    # %.0f, not %d: mawk's %d stops at 2^31 ns (2.1 s of CPU).
    total=$(cat /proc/"$pid"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }')
    for child in $(pgrep -P "$pid" || true); do
        total=$(( total + $(tree_cpu_ns "$child") ))
    done
    echo "${total:-0}"
}
