"""Shared helpers for the integration suite: start real programs on ports the kernel
picks, talk raw HTTP/1.1 over sockets, and always stop what was started."""

import os
import re
import signal
import socket
import subprocess
import time


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
