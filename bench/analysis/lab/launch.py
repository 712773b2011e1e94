"""Shared by the experiments: the programs (a fresh lbd with process replicas, lb-load),
HTTP calls, the log and counting helpers, and the constants of the run."""

import datetime
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


ALGORITHMS = ["spec", "ring", "ketama", "maglev", "rendezvous", "bounded"]


DEFAULT_ALGORITHM = "maglev"  # lbd's default (lbd --help)


REPLICA_COUNTS = [2, 3, 4, 5, 6]


PROGRAMS = {"lbd": "lbd", "lb-replica": "lb-replica", "lb-load": "lb-load", "lb-hash": "lb-hash"}


LOG_LINE = re.compile(r"^ts=(\S+) level=\S+ event=(\S+)(.*)$")


def log(message):
    print(f"analysis: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes and ports


def free_port():
    # The kernel picks a free port; closing it before lbd binds leaves a tiny race that
    # a loopback-only test machine does not lose in practice.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ensure_binaries(bin_dir):
    missing = [name for name in PROGRAMS if not os.access(os.path.join(bin_dir, name), os.X_OK)]
    if not missing:
        return
    build_dir = os.path.dirname(os.path.dirname(os.path.abspath(bin_dir)))
    if not os.path.isfile(os.path.join(build_dir, "build.ninja")):
        sys.exit(f"analysis: {', '.join(missing)} missing in {bin_dir} and no build.ninja "
                 f"in {build_dir}: build first (meson setup build && ninja -C build)")
    targets = [f"src/cmd/{name}" for name in missing]
    log(f"building {' '.join(targets)}")
    subprocess.run(["ninja", "-C", build_dir, "-j1"] + targets, check=True)


def children_of(pid):
    """Direct children of pid, from every thread (lbd forks replicas from its control
    thread, and /proc/PID/children lists only the main thread's)."""
    found = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                found += [int(child) for child in listing.read().split()]
        except OSError:
            pass
    return found


def server_id_of(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            for entry in environ.read().split(b"\0"):
                if entry.startswith(b"SERVER_ID="):
                    return entry[len(b"SERVER_ID="):].decode()
    except OSError:
        pass
    return None


def parse_ts(text):
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=datetime.timezone.utc).timestamp()


class Lbd:
    """One lbd with its process replicas, as a context manager that always stops it."""

    def __init__(self, bin_dir, replicas, algorithm, work_dir, label, extra=()):
        self.bin_dir = bin_dir
        # Ports the kernel picks, read back from lbd's log: a port found free here could be
        # taken (by any outgoing connection) before lbd binds it.
        self.port = None
        self.log_path = os.path.join(work_dir, f"lbd-{label}.log")
        self.replicas = replicas
        self.args = [os.path.join(bin_dir, "lbd"),
                     "--listen", "127.0.0.1:0",
                     "--admin-listen", "127.0.0.1:0",
                     "--replicas", str(replicas), "--hash", algorithm,
                     "--threads", "1", "--heartbeat-ms", "100", *extra]
        self.process = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.log_file = open(self.log_path, "w")
        # Its own process group: the replicas inherit it, so a last-resort killpg reaches
        # exactly the processes this experiment started.
        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.log_file,
                                        start_new_session=True)
        try:
            self.wait_ready(timeout=15)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def events(self):
        """(timestamp, event, fields) for every logfmt line lbd wrote so far."""
        out = []
        with open(self.log_path) as lines:
            for line in lines:
                match = LOG_LINE.match(line.strip())
                if match:
                    fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', match.group(3)))
                    out.append((parse_ts(match.group(1)), match.group(2), fields))
        return out

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lbd exited with {self.process.returncode}; see {self.log_path}")
            events = self.events()
            listening = [fields for _, event, fields in events if event == "listening"]
            up = {fields.get("name") for _, event, fields in events if event == "replica_up"}
            if listening and len(up) >= self.replicas:
                self.port = int(listening[0]["address"].rsplit(":", 1)[1])
                return
            time.sleep(0.02)
        raise RuntimeError(f"lbd not ready within {timeout} s; see {self.log_path}")

    def replica_pids(self):
        """{SERVER_ID: pid} of lbd's live lb-replica children."""
        return {server_id_of(pid): pid for pid in children_of(self.process.pid)
                if server_id_of(pid) is not None}

    # A-3's load (seconds, full and --quick) and victim, the same as ComposeLbd's.
    a3_seconds = (3.0, 1.5)
    victim_how = "its `lb-replica` process, found through `/proc`"

    def pick_victim(self):
        victims = self.replica_pids()
        victim_id = "2" if "2" in victims else sorted(victims)[0]
        self.victim_pid = victims[victim_id]
        return server_label(victim_id)

    def kill_victim(self):
        os.kill(self.victim_pid, signal.SIGKILL)
        return time.time()

    def death_time(self, issued):
        return issued  # os.kill returns once the signal is queued: good to the microsecond

    def stop(self):
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # The replicas die with lbd (PR_SET_PDEATHSIG); this catches any straggler of the
        # group this experiment created, and only that group.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log_file.close()


def lb_load(bin_dir, url, requests, connections=64, timeline_ms=100, extra=()):
    args = [os.path.join(bin_dir, "lb-load"), "--url", url, "--requests", str(requests),
            "--connections", str(connections), "--request-id", "random",
            "--timeline-ms", str(timeline_ms), "--json", *extra]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"lb-load failed ({done.returncode}): {done.stderr.strip()}")
    return json.loads(done.stdout)


def server_label(server_id):
    # Replicas say their SERVER_ID ("2"); lbd names them Server2.
    return f"Server{server_id}" if server_id.isdigit() else server_id


def per_server(report, replicas):
    counts = {f"Server{i}": 0 for i in range(1, replicas + 1)}
    for server_id, count in report["servers"].items():
        counts[server_label(server_id)] = count
    return counts


def balance(counts):
    values = list(counts.values())
    mean = sum(values) / len(values)
    return {"mean": mean, "max": max(values), "min": min(values),
            "max_over_mean": max(values) / mean if mean else 0.0}


def http_call(base_url, method, path, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as failure:
        return failure.code, failure.read().decode(errors="replace")


# ---------------------------------------------------------------- experiments
