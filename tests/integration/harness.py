"""Shared helpers for the integration suite: start real programs on ports the kernel
picks, talk raw HTTP/1.1 over sockets, and always stop what was started."""

import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone


class Process:
    """A started program whose stderr is collected; stopped (SIGKILL at worst) on close."""

    def __init__(self, argv, env=None, fd3=None, ready_pattern=None, timeout=10.0):
        self.log_path = f"/tmp/lbtest-{os.getpid()}-{time.monotonic_ns()}.log"
        self.log = open(self.log_path, "w+b")
        full_env = dict(os.environ)
        full_env.update(env or {})
        pass_fds, preexec = (), None
        if fd3 is not None:
            # Socket activation: the child finds the listening socket on fd 3.
            source = fd3.fileno()
            pass_fds = (source, 3)
            preexec = lambda: os.dup2(source, 3)  # noqa: E731 (runs in the child)
        self.proc = subprocess.Popen(argv, env=full_env, stdout=self.log, stderr=self.log,
                                     pass_fds=pass_fds, preexec_fn=preexec)
        self.match = None
        if ready_pattern is not None:
            self.match = self.wait_for_log(ready_pattern, timeout)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for_log(self, pattern, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output())
            if found:
                return found
            if self.proc.poll() is not None:
                raise AssertionError(f"process exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {pattern!r}:\n{self.output()}")

    def signal(self, number=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(number)

    def wait(self, timeout=10.0):
        return self.proc.wait(timeout=timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
        try:
            os.unlink(self.log_path)
        except FileNotFoundError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(port, host="127.0.0.1", timeout=5.0):
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        import json
        return json.loads(self.body)


class Reader:
    """Reads HTTP/1.1 responses (Content-Length or chunked) from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buffer = b""

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("connection closed")
        self.buffer += data

    def _line(self):
        while b"\r\n" not in self.buffer:
            self._fill()
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def response(self, head_request=False):
        status_line = self._line().decode()
        status = int(status_line.split(" ")[1])
        headers = {}
        while True:
            line = self._line()
            if not line:
                break
            name, value = line.decode().split(":", 1)
            headers[name.strip().lower()] = value.strip()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return Response(status, headers, b"")
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._exactly(size)
                self._exactly(2)
            return Response(status, headers, body)
        if "content-length" in headers:
            return Response(status, headers, self._exactly(int(headers["content-length"])))
        body = self.buffer
        self.buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                break
            if not data:
                break
            body += data
        return Response(status, headers, body)

    def closed(self, timeout=5.0):
        """True when the peer closes the connection (and sends nothing more)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def request(port, method="GET", path="/", headers=None, body=b"", host="127.0.0.1", timeout=5.0):
    """One request on a fresh connection; returns the Response."""
    with connect(port, host, timeout=timeout) as sock:
        sock.sendall(build(method, path, headers, body, close=True))
        return Reader(sock).response(head_request=(method == "HEAD"))


def metrics(lbd):
    """The admin listener's /metrics as {name{labels}: value}."""
    text = request(lbd.admin_port, "GET", "/metrics").body.decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def answer_then_close(port, raw):
    """Sends raw bytes on a fresh connection; returns (the one response, whether the server
    then closed the connection) — what every malformed-request test checks."""
    with connect(port) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        response = reader.response()
        return response, reader.closed()


def build(method="GET", path="/", headers=None, body=b"", close=False):
    lines = [f"{method} {path} HTTP/1.1", "Host: test"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def free_listening_socket():
    """A listening TCP socket on a port the kernel picked, to hand to a child as fd 3."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


# --- Process-tree helpers (Linux /proc) for tests that manage children of a program ---

def child_pids(pid):
    """The PIDs of pid's children, gathered from every thread (/proc/PID/task/*/children)."""
    import glob
    children = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                children += [int(x) for x in f.read().split()]
        except OSError:
            pass  # the thread exited meanwhile
    return sorted(set(children))


def process_environ(pid):
    """A process's environment as a dict ({} when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def process_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [part.decode(errors="replace") for part in f.read().split(b"\0") if part]
    except OSError:
        return []


def pid_alive(pid):
    """True while pid runs (a zombie, or a PID that is gone, counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_until(predicate, timeout=5.0, interval=0.02):
    """Polls predicate until it is truthy (returns its value) or timeout (returns None)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


# --- lbd, its load and small upstreams -------------------------------------------------

LBD = os.environ.get("LBD", "lbd")
LB_REPLICA = os.environ.get("LB_REPLICA", "lb-replica")

LISTENING = r"event=listening address=127\.0\.0\.1:(\d+)"
ADMIN_LISTENING = r"event=admin_listening address=127\.0\.0\.1:(\d+)"
HELLO = re.compile(r"^Hello from Server: (\S+)$")


def report(text):
    """Figures a test measured, on stderr (visible in `meson test` logs)."""
    sys.stderr.write(f"\n[lbd_test] {text}\n")
    sys.stderr.flush()


def log_time(ts):
    """Seconds since the epoch of a logfmt ts=2026-01-02T03:04:05.678Z value."""
    return datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def server_of(response):
    """The replica id in a /home answer ("Hello from Server: <id>"), else None."""
    try:
        found = HELLO.match(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return None
    return found.group(1) if found else None


def new_key(rnd=random):
    return f"{rnd.getrandbits(64):016x}"


class SlowStartReplicaBin:
    """A --replica-bin that takes `seconds` to start, as a container does: a replacement is
    out of the ring for that long, long enough for a client that polls to see it."""

    def __init__(self, seconds=0.3):
        self.path = f"/tmp/lbtest-slow-replica-{os.getpid()}-{time.monotonic_ns()}.sh"
        with open(self.path, "w") as f:
            f.write(f'#!/bin/sh\nsleep {seconds}\nexec "{os.path.abspath(LB_REPLICA)}" "$@"\n')
        os.chmod(self.path, 0o755)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        os.unlink(self.path)


class Lbd:
    """A running lbd; stopped with SIGTERM (SIGKILL at worst), and no replica left behind."""

    def __init__(self, *args, replicas=3, static=None, threads=2, ready_timeout=20.0):
        argv = [LBD, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                "--threads", str(threads), "--heartbeat-ms", "100"]
        if static is None:
            argv += ["--replicas", str(replicas), "--replica-bin", LB_REPLICA]
        else:
            argv += ["--backend", "static"]
            for address in static:
                argv += ["--upstream", address]
        argv += list(args)
        self.argv = argv
        self.process = Process(argv, ready_pattern=LISTENING, timeout=ready_timeout)
        self.pid = self.process.proc.pid
        self.port = int(self.process.match.group(1))
        admin = re.search(ADMIN_LISTENING, self.process.output())
        self.admin_port = int(admin.group(1)) if admin else None
        self.seen_children = set(child_pids(self.pid))

    # --- talking to it ---

    def api(self, method, path, payload=None, raw=None, headers=None, timeout=5.0):
        body = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        return request(self.port, method, path, headers=headers, body=body, timeout=timeout)

    def rep(self):
        r = self.api("GET", "/rep")
        assert r.status == 200, (r.status, r.body)
        return r.json()["message"]

    def home(self, key=None):
        return request(self.port, "GET", "/home", headers={"X-Request-ID": key} if key else None)

    # --- its log and its children ---

    def output(self):
        return self.process.output()

    def events(self, event, name=None):
        """[(epoch seconds, line)] of the log lines of one event (and replica name)."""
        found = []
        for line in self.output().splitlines():
            if f" event={event}" not in line:
                continue
            if name is not None and f" name={name} " not in line + " ":
                continue
            ts = re.match(r"ts=(\S+)", line)
            if ts:
                found.append((log_time(ts.group(1)), line))
        return found

    def replica_pids(self):
        """{SERVER_ID: pid} of the live replica children."""
        pids = {}
        for pid in child_pids(self.pid):
            self.seen_children.add(pid)
            if not pid_alive(pid):
                continue
            server_id = process_environ(pid).get("SERVER_ID")
            if server_id is not None:
                pids[server_id] = pid
        return pids

    def ids_by_name(self):
        """{replica name: SERVER_ID} from the log (name -> address -> replica's own line)."""
        text = self.output()
        by_address = {port: sid for sid, port in
                      re.findall(r"lb-replica: id=(\S+) listening on 127\.0\.0\.1:(\d+)", text)}
        names = {}
        for name, port in re.findall(
                r"event=replica_(?:up|added|respawned) name=(\S+) address=127\.0\.0\.1:(\d+)", text):
            if port in by_address:
                names[name] = by_address[port]
        return names

    def stop(self, timeout=10.0):
        """SIGTERM and wait; returns the exit status (None if it had to be killed)."""
        self.seen_children.update(child_pids(self.pid))
        self.process.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.process.proc.poll() is None:
            self.stop(timeout=5.0)
        self.process.close()
        # No lb-replica may be left behind whatever happened to lbd.
        for pid in self.seen_children:
            if pid_alive(pid) and any("lb-replica" in part for part in process_cmdline(pid)[:1]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- load generation -------------------------------------------------------------------

def pipelined_homes(port, keys, depth=100):
    """GET /home for every key on one keep-alive connection, `depth` requests in flight."""
    results = []
    with connect(port, timeout=20.0) as sock:
        reader = Reader(sock)
        for start in range(0, len(keys), depth):
            batch = keys[start:start + depth]
            sock.sendall(b"".join(build("GET", "/home", {"X-Request-ID": k}) for k in batch))
            for _ in batch:
                results.append(reader.response())
    return results


class LoadLoop:
    """`threads` keep-alive clients doing GET /home with random X-Request-IDs, one request at
    a time each, until `duration` seconds pass, `per_thread` requests are done or stop()."""

    def __init__(self, port, threads=4, duration=3.0, per_thread=20000, seed=1, path="/home",
                 host="127.0.0.1"):
        self.port = port
        self.host = host
        self.path = path
        self.duration = duration
        self.per_thread = per_thread
        self.records = [[] for _ in range(threads)]  # (sent monotonic, status|error, server)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i, seed), daemon=True)
                        for i in range(threads)]

    def start(self):
        self.started = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def stop(self):
        self.stopping.set()

    def join(self):
        for thread in self.threads:
            thread.join(timeout=self.duration + 30)
        assert not any(t.is_alive() for t in self.threads), "load threads did not finish"
        return self

    def _run(self, index, seed):
        rnd = random.Random(seed * 1000 + index)
        out = self.records[index]
        deadline = self.started + self.duration
        sock = reader = None
        for _ in range(self.per_thread):
            if self.stopping.is_set() or time.monotonic() >= deadline:
                break
            sent = time.monotonic()
            try:
                if sock is None:
                    sock = connect(self.port, self.host, timeout=5.0)
                    reader = Reader(sock)
                sock.sendall(build("GET", self.path, {"X-Request-ID": new_key(rnd)}))
                r = reader.response()
                out.append((sent, r.status, server_of(r)))
                if r.headers.get("connection", "").lower() == "close":
                    sock.close()
                    sock = None
            except (OSError, EOFError, ValueError, IndexError) as error:
                out.append((sent, f"error: {error!r}", None))
                if sock is not None:
                    sock.close()
                sock = None
        if sock is not None:
            sock.close()

    def all(self):
        return [record for per_thread in self.records for record in per_thread]

    def failures(self):
        return [record for record in self.all() if record[1] != 200]


# --- small upstreams for the static backend ---------------------------------------------

class Upstream:
    """A tiny HTTP/1.1 server in threads. GET /heartbeat is always 200. Other requests, by
    mode: "good" answers /home with JSON (name as the id); "hang" never answers; "reset"
    closes the connection with an RST; "slow" answers like "good" after `delay` seconds;
    "echo" answers what it got as JSON, and /chunked and /events (a stream: an event, then
    another `delay` seconds later) chunked."""

    def __init__(self, mode, name=None, delay=0.5):
        self.mode = mode
        self.name = name or mode
        self.delay = delay
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.paths = Counter()  # non-heartbeat requests seen
        self.body_seen = 0  # request body bytes received, counted as they arrive
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def close(self):
        self.stopping.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(timeout=5)
        with self.lock:
            for conn in self.connections:
                try:
                    conn.close()
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn, status, body=b"", content_type="application/json"):
        reason = {200: "OK", 404: "Not Found"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        conn.sendall(head + body)

    def _body_bytes(self, reader, n):
        """n bytes of request body, counted in body_seen as they arrive."""
        parts = []
        while n > 0:
            if not reader.buffer:
                reader._fill()
            piece = reader.buffer[:n]
            reader.buffer = reader.buffer[len(piece):]
            parts.append(piece)
            n -= len(piece)
            with self.lock:
                self.body_seen += len(piece)
        return b"".join(parts)

    def _serve(self, conn):
        buffer = b""
        try:
            while not self.stopping.is_set():
                while b"\r\n\r\n" not in buffer:
                    readable, _, _ = select.select([conn], [], [], 0.1)
                    if self.stopping.is_set():
                        return
                    if readable:
                        data = conn.recv(65536)
                        if not data:
                            return
                        buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                reader = Reader(conn)
                reader.buffer = buffer
                length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                body = b""
                if re.search(rb"(?im)^transfer-encoding:.*chunked", head):
                    while True:
                        size = int(reader._line().split(b";")[0], 16)
                        if size == 0:
                            while reader._line():
                                pass
                            break
                        body += self._body_bytes(reader, size)
                        reader._exactly(2)
                elif length:
                    body = self._body_bytes(reader, int(length.group(1)))
                buffer = reader.buffer
                path = head.split(b" ")[1].decode(errors="replace")
                if path == "/heartbeat":
                    self._answer(conn, 200)
                    continue
                with self.lock:
                    self.paths[path] += 1
                if self.mode == "hang":
                    while not self.stopping.is_set():  # until the peer gives up
                        readable, _, _ = select.select([conn], [], [], 0.1)
                        if readable and not conn.recv(65536):
                            return
                    return
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    return
                if self.mode == "slow":
                    time.sleep(self.delay)
                if self.mode == "echo":
                    if path == "/chunked":  # a chunked answer of 3 x 10,000 bytes
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n")
                        for letter in b"abc":
                            conn.sendall(b"2710\r\n" + bytes([letter]) * 10000 + b"\r\n")
                            time.sleep(0.01)
                        conn.sendall(b"0\r\n\r\n")
                        continue
                    if path == "/events":  # a stream: one small event, `delay` s, another
                        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n9\r\ndata: 1\n\n\r\n")
                        time.sleep(self.delay)
                        conn.sendall(b"9\r\ndata: 2\n\n\r\n0\r\n\r\n")
                        continue
                    lines = head.decode(errors="replace").split("\r\n")
                    echo = {"request_line": lines[0], "headers": lines[1:],
                            "body_length": len(body),
                            "body_sha256": hashlib.sha256(body).hexdigest()}
                    self._answer(conn, 200, json.dumps(echo).encode())
                    continue
                if path.split("?")[0] == "/home":
                    body = json.dumps({"message": f"Hello from Server: {self.name}",
                                       "status": "successful"}).encode()
                    self._answer(conn, 200, body)
                else:
                    self._answer(conn, 404, b'{"message": "nope", "status": "failure"}')
        except (OSError, EOFError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass


