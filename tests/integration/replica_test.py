"""Integration tests for lb-replica: the real binary on loopback ports the kernel picks."""

import os
import signal
import subprocess
import time
import unittest

from harness import (Process, Reader, answer_then_close, build, connect, free_listening_socket,
                     request)

BINARY = os.environ.get("LB_REPLICA", "lb-replica")
READY = r"listening on 127\.0\.0\.1:(\d+)"


def start(*args, env=None):
    return Process([BINARY, "--listen", "127.0.0.1:0", *args], env=env, ready_pattern=READY)


class Endpoints(unittest.TestCase):
    def setUp(self):
        self.server = start(env={"SERVER_ID": "42"})
        self.port = int(self.server.match.group(1))

    def tearDown(self):
        self.server.close()

    def test_home_answers_with_the_server_id(self):
        r = request(self.port, "GET", "/home")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.json(), {"message": "Hello from Server: 42", "status": "successful"})

    def test_heartbeat_is_empty_200(self):
        r = request(self.port, "GET", "/heartbeat")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")

    def test_head_home_has_no_body(self):
        r = request(self.port, "HEAD", "/home")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        get = request(self.port, "GET", "/home")
        self.assertEqual(int(r.headers["content-length"]), len(get.body))

    def test_other_paths_are_404_json(self):
        r = request(self.port, "GET", "/other?x=1")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.json()["status"], "failure")
        self.assertIn("'/other'", r.json()["message"])

    def test_wrong_method_is_405_with_allow(self):
        r = request(self.port, "POST", "/home", body=b"{}")
        self.assertEqual(r.status, 405)
        self.assertEqual(r.headers["allow"], "GET, HEAD")

    def test_keep_alive_serves_many_requests_on_one_connection(self):
        with connect(self.port) as sock:
            reader = Reader(sock)
            for _ in range(50):
                sock.sendall(build("GET", "/home"))
                r = reader.response()
                self.assertEqual(r.status, 200)
                self.assertNotIn("connection", r.headers)

    def test_pipelined_requests_are_answered_in_order(self):
        with connect(self.port) as sock:
            sock.sendall(build("GET", "/home") + build("GET", "/heartbeat") +
                         build("GET", "/missing") + build("GET", "/home", close=True))
            reader = Reader(sock)
            statuses = [reader.response().status for _ in range(4)]
            self.assertEqual(statuses, [200, 200, 404, 200])
            self.assertTrue(reader.closed())

    def test_a_request_split_at_every_byte_is_served(self):
        raw = build("GET", "/home")
        with connect(self.port) as sock:
            for i in range(len(raw)):
                sock.sendall(raw[i:i + 1])
                time.sleep(0.001)
            self.assertEqual(Reader(sock).response().status, 200)

    def test_http_1_0_closes_unless_keep_alive(self):
        with connect(self.port) as sock:
            sock.sendall(b"GET /home HTTP/1.0\r\n\r\n")
            reader = Reader(sock)
            self.assertEqual(reader.response().status, 200)
            self.assertTrue(reader.closed())
        with connect(self.port) as sock:
            sock.sendall(b"GET /home HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2)
            reader = Reader(sock)
            first = reader.response()
            self.assertEqual(first.headers.get("connection", "").lower(), "keep-alive")
            self.assertEqual(reader.response().status, 200)


class HostileInput(unittest.TestCase):
    def setUp(self):
        self.server = start("--header-timeout-ms", "300")
        self.port = int(self.server.match.group(1))

    def tearDown(self):
        self.server.close()

    def exchange(self, raw):
        r, closed = answer_then_close(self.port, raw)
        self.assertTrue(closed, "the connection must close after an error")
        return r

    def test_garbage_is_400_and_close(self):
        r = self.exchange(b"\x00\x01garbage\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["status"], "failure")

    def test_oversize_header_block_is_431(self):
        r = self.exchange(b"GET /home HTTP/1.1\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        self.assertEqual(r.status, 431)

    def test_content_length_with_transfer_encoding_is_400(self):
        r = self.exchange(b"POST /home HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertEqual(r.status, 400)

    def test_body_over_the_limit_is_413(self):
        r = self.exchange(b"POST /home HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        self.assertEqual(r.status, 413)

    def test_no_complete_head_in_time_is_408(self):
        with connect(self.port) as sock:
            sock.sendall(b"GET /home HTTP/1.1\r\nHost")
            reader = Reader(sock)
            started = time.monotonic()
            r = reader.response()
            self.assertEqual(r.status, 408)
            self.assertLess(time.monotonic() - started, 3)
            self.assertTrue(reader.closed())

    def test_a_slow_client_does_not_block_others(self):
        slow = connect(self.port)
        slow.sendall(b"GET /home HTTP/1.1\r\n")
        try:
            for _ in range(20):
                self.assertEqual(request(self.port, "GET", "/home").status, 200)
        finally:
            slow.close()


class Configuration(unittest.TestCase):
    def test_id_flag_wins_over_environment_and_default_is_unknown(self):
        with start("--id", "flag", env={"SERVER_ID": "env"}) as server:
            port = int(server.match.group(1))
            self.assertEqual(request(port, "GET", "/home").json()["message"],
                             "Hello from Server: flag")
        with Process([BINARY, "--listen", "127.0.0.1:0"], env={"SERVER_ID": ""},
                     ready_pattern=READY) as server:
            port = int(server.match.group(1))
            self.assertEqual(request(port, "GET", "/home").json()["message"],
                             "Hello from Server: Unknown")

    def test_inherited_listening_socket_is_used(self):
        listener = free_listening_socket()
        port = listener.getsockname()[1]
        try:
            with Process([BINARY, "--id", "inherited"], env={"LISTEN_FDS": "1"}, fd3=listener,
                         ready_pattern=r"listening on") as server:
                self.assertIn(f":{port}", server.output())
                self.assertEqual(request(port, "GET", "/home").json()["message"],
                                 "Hello from Server: inherited")
        finally:
            listener.close()

    def test_several_threads_serve(self):
        with start("--threads", "2") as server:
            port = int(server.match.group(1))
            for _ in range(20):
                self.assertEqual(request(port, "GET", "/heartbeat").status, 200)

    def test_help_and_bad_flags(self):
        done = subprocess.run([BINARY, "--help"], capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"--listen", done.stdout)
        bad = subprocess.run([BINARY, "--threads", "0"], capture_output=True, timeout=10)
        self.assertEqual(bad.returncode, 2)
        self.assertIn(b"--threads", bad.stderr)
        taken = free_listening_socket()
        try:
            busy = subprocess.run([BINARY, "--listen", f"127.0.0.1:{taken.getsockname()[1]}"],
                                  capture_output=True, timeout=10)
        finally:
            taken.close()
        # SO_REUSEPORT lets a second listener share a port only with the same owner and
        # option; Python's socket has no SO_REUSEPORT, so this bind must fail clearly.
        self.assertEqual(busy.returncode, 1)
        self.assertIn(b"cannot listen on", busy.stderr)


class Shutdown(unittest.TestCase):
    def test_sigterm_with_idle_connections_exits_zero_promptly(self):
        with start() as server:
            port = int(server.match.group(1))
            idle = connect(port)
            idle.sendall(build("GET", "/home"))
            reader = Reader(idle)
            self.assertEqual(reader.response().status, 200)
            server.signal(signal.SIGTERM)
            self.assertEqual(server.wait(timeout=5), 0)
            self.assertTrue(reader.closed())
            idle.close()
            with self.assertRaises(OSError):
                connect(port, timeout=1).close()

    def test_sigterm_lets_a_request_in_flight_finish(self):
        with start() as server:
            port = int(server.match.group(1))
            sock = connect(port)
            sock.sendall(b"GET /home HTTP/1.1\r\nHost: x\r\n")  # head not finished yet
            time.sleep(0.1)
            server.signal(signal.SIGTERM)
            time.sleep(0.2)
            self.assertIsNone(server.proc.poll(), "must wait for the request in flight")
            sock.sendall(b"\r\n")
            reader = Reader(sock)
            r = reader.response()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers.get("connection"), "close")
            self.assertEqual(server.wait(timeout=5), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
