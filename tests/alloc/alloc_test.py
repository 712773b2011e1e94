"""lbd's request path allocates nothing in steady state (issue 13): lbd runs under the
count_malloc shim (LD_PRELOAD), warmed up on keep-alive connections, then proxies
thousands of GETs and chunked POSTs while the process's heap allocations are counted.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
     COUNT_MALLOC=build/tests/alloc/libcount_malloc.so python3 tests/alloc/alloc_test.py -v
"""

import os
import socket
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import LB_REPLICA, LBD, Process, report  # noqa: E402

COUNT_MALLOC = os.environ.get("COUNT_MALLOC", "build/tests/alloc/libcount_malloc.so")


def exchange(sock, request, marker):
    sock.sendall(request)
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("lbd closed the connection")
        data += chunk


class SteadyState(unittest.TestCase):
    def setUp(self):
        self.count_file = tempfile.NamedTemporaryFile(prefix="lbtest-allocs-", delete=False).name
        self.replicas = []
        upstreams = []
        for n in range(3):
            replica = Process([LB_REPLICA, "--id", str(n + 1), "--listen", "127.0.0.1:0"],
                              ready_pattern=r"listening on 127\.0\.0\.1:(\d+)")
            self.replicas.append(replica)
            upstreams += ["--upstream", "127.0.0.1:" + replica.match.group(1)]
        env = dict(os.environ, LD_PRELOAD=os.path.abspath(COUNT_MALLOC),
                   COUNT_MALLOC_FILE=self.count_file)
        # Health checks every 10 minutes: nothing on the control thread during the run.
        self.lbd = Process([LBD, "--backend", "static", *upstreams, "--listen", "127.0.0.1:0",
                            "--threads", "1", "--heartbeat-ms", "600000",
                            "--admin-listen", "off"],
                           env=env, ready_pattern=r"event=listening address=127\.0\.0\.1:(\d+)")
        self.port = int(self.lbd.match.group(1))

    def tearDown(self):
        self.lbd.close()
        for replica in self.replicas:
            replica.close()
        for leftover in (self.count_file, self.count_file + ".part"):
            if os.path.exists(leftover):
                os.unlink(leftover)

    def allocations(self):
        time.sleep(0.1)  # the shim writes its count every 20 ms
        with open(self.count_file) as f:
            return int(f.read())

    def run_requests(self, template, marker, count, socks):
        for i in range(count):
            exchange(socks[i % len(socks)], template % (100000 + i % 900000), marker)

    def measure(self, template, marker):
        # The shim is live: lbd's start-up allocated, and that was counted.
        self.assertGreater(self.allocations(), 100, "the malloc shim counted nothing")
        socks = [socket.create_connection(("127.0.0.1", self.port), timeout=5) for _ in range(4)]
        try:
            self.run_requests(template, marker, 2000, socks)  # warm-up: pools, capacities
            before = self.allocations()
            self.run_requests(template, marker, 5000, socks)
            return self.allocations() - before
        finally:
            for sock in socks:
                sock.close()

    def test_get_allocates_nothing(self):
        allocations = self.measure(
            b"GET /home HTTP/1.1\r\nHost: t\r\nX-Request-ID: %d\r\n\r\n", b"successful")
        report(f"GET: {allocations} heap allocations in lbd for 5,000 proxied requests")
        self.assertEqual(allocations, 0)

    def test_chunked_post_allocates_nothing(self):
        allocations = self.measure(
            b"POST /sink HTTP/1.1\r\nHost: t\r\nX-Request-ID: %d\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"bytes")
        report(f"chunked POST: {allocations} heap allocations in lbd for 5,000 proxied requests")
        self.assertEqual(allocations, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
