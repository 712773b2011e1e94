"""Integration tests for lbd: the real balancer with real lb-replica children (or small
Python upstreams for the static backend), on loopback ports the kernel picks.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
         python3 tests/integration/lbd_test.py -v
"""

import hashlib
import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import threading
import time
import unittest
from collections import Counter

from fake_swarm import FakeSwarm
from harness import (ADMIN_LISTENING, LB_REPLICA, LBD, Lbd, LoadLoop, Process, Reader, Upstream,
                     free_listening_socket,
                     answer_then_close, build, connect, metrics, new_key, pid_alive, pipelined_homes, report,
                     request, server_of, wait_until)

# --- the tests ---------------------------------------------------------------------------

REP3 = {"N": 3, "replicas": ["Server1", "Server2", "Server3"]}
ADD_TOO_MANY = "<Error> Length of hostname list is more than newly added instances"
RM_TOO_MANY = "<Error> Length of hostname list is more than removable instances"
NOT_JSON = "<Error> Payload is not valid JSON"


class SharedLbdCase(unittest.TestCase):
    """One lbd for the whole class: only for tests that leave the membership as it was."""
    lbd_args = ()

    @classmethod
    def setUpClass(cls):
        cls.lbd = Lbd(*cls.lbd_args)

    @classmethod
    def tearDownClass(cls):
        cls.lbd.close()

    def assertFailure(self, r, status, message=None, contains=()):
        self.assertEqual(r.status, status, r.body)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        body = r.json()
        self.assertEqual(body["status"], "failure", body)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"].startswith("<Error> "), body)
        if message is not None:
            self.assertEqual(body["message"], message)
        for part in contains:
            self.assertIn(part, body["message"])
        return body


class ControlApiReadOnly(SharedLbdCase):
    """/rep, validation failures of /add and /rm (which must change nothing), 405, 404."""
    lbd_args = ("--max-replicas", "5")

    def assertUnchanged(self):
        self.assertEqual(self.lbd.rep(), REP3)

    def test_rep_lists_the_three_replicas(self):
        r = self.lbd.api("GET", "/rep")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        self.assertEqual(r.json(), {"message": REP3, "status": "successful"})

    def test_head_rep_has_no_body(self):
        r = self.lbd.api("HEAD", "/rep")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(int(r.headers["content-length"]), len(self.lbd.api("GET", "/rep").body))

    def test_home_is_answered_by_a_replica(self):
        r = self.lbd.home()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["status"], "successful")
        self.assertIn(server_of(r), {"1", "2", "3"})

    def test_replica_404_becomes_400_naming_the_path(self):
        r = self.lbd.api("GET", "/other")
        self.assertFailure(r, 400, "<Error> '/other' endpoint does not exist in server replicas")
        r = self.lbd.api("GET", "/other?x=1")
        self.assertFailure(r, 400, "<Error> '/other' endpoint does not exist in server replicas")
        r = self.lbd.api("GET", "/a/b.txt?q=%20&y")
        self.assertFailure(r, 400, "<Error> '/a/b.txt' endpoint does not exist in server replicas")

    def test_wrong_method_on_a_control_path_is_405_with_allow(self):
        cases = [("POST", "/rep", "GET, HEAD"), ("DELETE", "/rep", "GET, HEAD"),
                 ("PUT", "/rep", "GET, HEAD"), ("GET", "/add", "POST"),
                 ("DELETE", "/add", "POST"), ("PUT", "/add", "POST"),
                 ("GET", "/rm", "DELETE, POST"), ("PUT", "/rm", "DELETE, POST"),
                 ("PATCH", "/rm", "DELETE, POST")]
        for method, path, allow in cases:
            with self.subTest(method=method, path=path):
                r = self.lbd.api(method, path, raw=b'{"n": 1}' if method != "GET" else b"")
                self.assertFailure(r, 405)
                self.assertEqual(r.headers.get("allow"), allow)
        self.assertUnchanged()

    def test_add_with_more_hostnames_than_n_is_400(self):
        r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": ["S5", "S6"]})
        self.assertFailure(r, 400, ADD_TOO_MANY)
        r = self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["S5", "S6", "S7"]})
        self.assertFailure(r, 400, ADD_TOO_MANY)
        self.assertUnchanged()

    def test_add_with_a_body_that_is_not_json_is_400(self):
        for raw in (b"not json", b"{", b"{'n': 1}", b"\xff\xfe", b'{"n": 1,}'):
            with self.subTest(raw=raw):
                self.assertFailure(self.lbd.api("POST", "/add", raw=raw), 400, NOT_JSON)
        self.assertUnchanged()

    def test_add_with_n_not_a_positive_integer_is_400(self):
        for n in (0, -1, "2", 1.5, None, True, [1], {"n": 1}):
            with self.subTest(n=n):
                self.assertFailure(self.lbd.api("POST", "/add", {"n": n}), 400, contains=("'n'",))
        self.assertFailure(self.lbd.api("POST", "/add", {"n": 2 ** 64 - 1}), 400)
        self.assertUnchanged()

    def test_add_with_a_body_without_n_is_400(self):
        self.assertFailure(self.lbd.api("POST", "/add", {"hostnames": ["S5"]}), 400,
                           contains=("'n'",))
        self.assertFailure(self.lbd.api("POST", "/add", {}), 400, contains=("'n'",))
        self.assertUnchanged()

    def test_add_with_hostnames_not_a_list_of_strings_is_400(self):
        for hostnames in ("S5", 5, {"S5": 1}, [1], [None], ["S5", 7], [["S5"]]):
            with self.subTest(hostnames=hostnames):
                r = self.lbd.api("POST", "/add", {"n": 2, "hostnames": hostnames})
                self.assertFailure(r, 400, contains=("hostnames",))
        self.assertUnchanged()

    def test_add_with_invalid_names_is_400(self):
        for name in ("-bad", "a b", "x" * 64, "", ".dot", "_under", "a/b", "a:b", "é"):
            with self.subTest(name=name):
                r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": [name]})
                self.assertFailure(r, 400)
                if name:
                    self.assertIn(name, r.json()["message"])
        self.assertUnchanged()

    def test_add_with_duplicate_names_is_400(self):
        r = self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["S5", "S5"]})
        self.assertFailure(r, 400, contains=("S5",))
        self.assertUnchanged()

    def test_add_of_a_name_already_present_is_400(self):
        r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": ["Server1"]})
        self.assertFailure(r, 400, contains=("Server1",))
        r = self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["S9", "Server3"]})
        self.assertFailure(r, 400, contains=("Server3",))
        self.assertUnchanged()

    def test_add_above_max_replicas_is_400(self):
        # --max-replicas 5 and 3 exist: 3 more would make 6.
        for n in (3, 6, 64, 65):
            with self.subTest(n=n):
                self.assertFailure(self.lbd.api("POST", "/add", {"n": n}), 400)
        self.assertUnchanged()

    def test_rm_with_more_hostnames_than_n_is_400(self):
        r = self.lbd.api("DELETE", "/rm", {"n": 1, "hostnames": ["Server1", "Server2"]})
        self.assertFailure(r, 400, RM_TOO_MANY)
        r = self.lbd.api("POST", "/rm", {"n": 1, "hostnames": ["Server1", "Server2"]})
        self.assertFailure(r, 400, RM_TOO_MANY)
        self.assertUnchanged()

    def test_rm_of_an_unknown_name_is_400(self):
        r = self.lbd.api("DELETE", "/rm", {"n": 1, "hostnames": ["Server9"]})
        self.assertFailure(r, 400, contains=("Server9",))
        r = self.lbd.api("DELETE", "/rm", {"n": 2, "hostnames": ["Server1", "nope"]})
        self.assertFailure(r, 400, contains=("nope",))
        self.assertUnchanged()

    def test_rm_of_more_than_n_replicas_is_400(self):
        self.assertFailure(self.lbd.api("DELETE", "/rm", {"n": 4}), 400)
        self.assertFailure(self.lbd.api("DELETE", "/rm", {"n": 100}), 400)
        self.assertUnchanged()

    def test_rm_with_bad_payloads_is_400(self):
        cases = [(b"nope", NOT_JSON), (b'{"n": 0}', None), (b'{"n": -1}', None),
                 (b'{"n": "1"}', None), (b'{"n": 1.5}', None), (b'{"hostnames": ["Server1"]}', None),
                 (b'{"n": 1, "hostnames": "Server1"}', None), (b'{"n": 1, "hostnames": [1]}', None),
                 (b'{"n": 2, "hostnames": ["Server1", "Server1"]}', None)]
        for raw, message in cases:
            with self.subTest(raw=raw):
                self.assertFailure(self.lbd.api("DELETE", "/rm", raw=raw), 400, message)
        self.assertUnchanged()

    def test_control_body_over_64_kib_is_413(self):
        raw = json.dumps({"n": 1, "hostnames": ["S5"], "pad": "x" * 70000}).encode()
        r = self.lbd.api("POST", "/add", raw=raw)
        self.assertEqual(r.status, 413)
        self.assertUnchanged()

    def test_admin_listener_serves_metrics_ring_and_stats(self):
        self.assertIsNotNone(self.lbd.admin_port,
                             "lbd must log the admin listener's bound address (event=admin_listening)")
        metrics = request(self.lbd.admin_port, "GET", "/metrics")
        self.assertEqual(metrics.status, 200)
        self.assertTrue(metrics.headers.get("content-type", "").startswith("text/plain"))
        self.assertRegex(metrics.body.decode(), r"(?m)^# TYPE \S+ (counter|gauge|histogram)")
        stats = request(self.lbd.admin_port, "GET", "/stats")
        self.assertEqual(stats.status, 200)
        for name in ("Server1", "Server2", "Server3"):
            self.assertIn(name, stats.body.decode())
        self.assertGreater(stats.json()["message"]["connections"]["max"], 0)
        ring = request(self.lbd.admin_port, "GET", "/ring")
        self.assertEqual(ring.status, 200)
        ring.json()  # valid JSON
        wrong = request(self.lbd.admin_port, "POST", "/metrics")
        self.assertEqual((wrong.status, wrong.headers.get("allow")), (405, "GET"))
        self.assertEqual(wrong.json()["status"], "failure")


class Routing(SharedLbdCase):
    def test_same_request_id_always_reaches_the_same_replica(self):
        rnd = random.Random(7)
        seen = set()
        with connect(self.lbd.port) as sock:
            reader = Reader(sock)
            for _ in range(20):
                key = new_key(rnd)
                servers = set()
                for _ in range(5):
                    sock.sendall(build("GET", "/home", {"X-Request-ID": key}))
                    r = reader.response()
                    self.assertEqual(r.status, 200)
                    servers.add(server_of(r))
                self.assertEqual(len(servers), 1, f"key {key} reached {servers}")
                seen |= servers
        self.assertGreater(len(seen), 1, "20 keys all on one replica")
        # A fresh connection (perhaps another worker thread) agrees.
        for key in ("alpha", "beta", "gamma"):
            first = server_of(self.lbd.home(key))
            for _ in range(4):
                self.assertEqual(server_of(self.lbd.home(key)), first)

    def test_a_replica_that_refuses_a_long_body_is_heard(self):
        # lb-replica answers 413 to a body over 64 KiB and closes without reading it, while
        # lbd is still streaming the body: the replica's answer reaches the client.
        body = b"b" * (1 << 20)
        for _ in range(5):
            r = request(self.lbd.port, "POST", "/home", body=body)
            self.assertEqual((r.status, r.json()["message"]),
                             (413, "<Error> Request body too large"))

    def test_requests_without_request_id_are_spread(self):
        with connect(self.lbd.port) as sock:
            reader = Reader(sock)
            servers = Counter()
            for _ in range(90):
                sock.sendall(build("GET", "/home"))
                r = reader.response()
                self.assertEqual(r.status, 200)
                servers[server_of(r)] += 1
        self.assertEqual(set(servers), {"1", "2", "3"}, servers)

    def test_ten_thousand_requests_are_spread_evenly(self):
        rnd = random.Random(12345)
        keys = [new_key(rnd) for _ in range(10000)]
        chunks = [keys[i::4] for i in range(4)]
        results = [None] * 4
        errors = []

        def run(i):
            try:
                results[i] = pipelined_homes(self.lbd.port, chunks[i])
            except Exception as error:  # noqa: BLE001 (reported below)
                errors.append(error)

        started = time.monotonic()
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - started
        self.assertEqual(errors, [])
        responses = [r for chunk in results for r in chunk]
        self.assertEqual(len(responses), 10000)
        statuses = Counter(r.status for r in responses)
        self.assertEqual(statuses, Counter({200: 10000}))
        counts = Counter(server_of(r) for r in responses)
        self.assertEqual(set(counts), {"1", "2", "3"}, counts)
        mean = 10000 / 3
        ratio = max(counts.values()) / mean
        report(f"10,000 requests in {elapsed:.2f} s: {dict(sorted(counts.items()))}, "
               f"max/mean = {ratio:.3f}")
        self.assertLessEqual(ratio, 1.15, counts)


class HostileClients(SharedLbdCase):
    lbd_args = ("--header-timeout-ms", "1000")

    def exchange(self, raw):
        r, closed = answer_then_close(self.lbd.port, raw)
        self.assertTrue(closed, "the connection must close after an error")
        return r

    def test_garbage_is_400_and_close(self):
        r = self.exchange(b"\x00\x01garbage\r\n\r\n")
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["status"], "failure")
        self.assertEqual(self.lbd.home().status, 200)

    def test_oversize_header_block_is_431(self):
        r = self.exchange(b"GET /home HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 17000 + b"\r\n\r\n")
        self.assertEqual(r.status, 431)

    def test_content_length_with_transfer_encoding_is_400(self):
        r = self.exchange(b"POST /home HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                          b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
        self.assertEqual(r.status, 400)

    def test_half_a_request_does_not_block_others_and_is_served_when_completed(self):
        slow = [connect(self.lbd.port) for _ in range(4)]  # more than one per worker thread
        try:
            for sock in slow:
                sock.sendall(b"GET /home HTTP/1.1\r\nHost: x\r\nX-Req")
            started = time.monotonic()
            for _ in range(20):
                self.assertEqual(self.lbd.home(new_key()).status, 200)
            self.assertLess(time.monotonic() - started, 5)
            for sock in slow:
                sock.sendall(b"uest-ID: slow\r\n\r\n")
                self.assertEqual(Reader(sock).response().status, 200)
        finally:
            for sock in slow:
                sock.close()

    def test_no_complete_head_within_the_header_timeout_is_408(self):
        # --header-timeout-ms 1000 for this class.
        with connect(self.lbd.port, timeout=15) as sock:
            sock.sendall(b"GET /home HTTP/1.1\r\nHost")
            reader = Reader(sock)
            started = time.monotonic()
            r = reader.response()
            elapsed = time.monotonic() - started
            self.assertEqual(r.status, 408)
            self.assertLess(elapsed, 3)
            self.assertTrue(reader.closed())

    def test_a_request_sent_byte_by_byte_is_served(self):
        raw = build("GET", "/home", {"X-Request-ID": "bytes"})
        with connect(self.lbd.port) as sock:
            for i in range(len(raw)):
                sock.sendall(raw[i:i + 1])
                time.sleep(0.001)
            r = Reader(sock).response()
            self.assertEqual(r.status, 200)
            self.assertEqual(server_of(r), server_of(self.lbd.home("bytes")))

    def test_many_idle_and_abandoned_connections_do_not_hurt(self):
        idle = [connect(self.lbd.port) for _ in range(100)]
        try:
            for i, sock in enumerate(idle[:50]):  # abandon half-sent requests
                sock.sendall(b"GET /home HTTP/1.1\r\nHost: x\r\n" if i % 2 else b"POST /add HT")
                sock.close()
            for _ in range(20):
                self.assertEqual(self.lbd.home(new_key()).status, 200)
        finally:
            for sock in idle:
                sock.close()
        # A client that hangs up while its request is being answered.
        for _ in range(20):
            sock = connect(self.lbd.port)
            sock.sendall(build("GET", "/home", {"X-Request-ID": new_key()}))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        self.assertEqual(self.lbd.rep(), REP3)
        self.assertEqual(self.lbd.home().status, 200)


class ControlApiChanges(unittest.TestCase):
    """Tests that change the membership: each starts its own lbd."""

    def setUp(self):
        self.lbd = Lbd()

    def tearDown(self):
        self.lbd.close()

    def reachable_ids(self, count=300, seed=3):
        rnd = random.Random(seed)
        results = pipelined_homes(self.lbd.port, [new_key(rnd) for _ in range(count)], depth=50)
        self.assertEqual(Counter(r.status for r in results), Counter({200: count}))
        return Counter(server_of(r) for r in results)

    def test_add_with_names_and_generated_names(self):
        r = self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["S5"]})
        self.assertEqual(r.status, 200, r.body)
        body = r.json()
        self.assertEqual(body["status"], "successful")
        message = body["message"]
        self.assertEqual(message["N"], 5)
        self.assertEqual(message["replicas"][:4], ["Server1", "Server2", "Server3", "S5"])
        generated = message["replicas"][4]
        self.assertNotIn(generated, ["Server1", "Server2", "Server3", "S5"])
        self.assertRegex(generated, r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
        self.assertEqual(self.lbd.rep(), message)
        self.assertEqual(len(self.lbd.replica_pids()), 5)
        ids = self.lbd.ids_by_name()
        reached = self.reachable_ids()
        self.assertIn(ids["S5"], reached)
        self.assertIn(ids[generated], reached)
        self.assertEqual(len(reached), 5, reached)
        self.assertEqual(len(self.lbd.events("replica_added")), 2)

    def test_add_with_an_empty_body_adds_one(self):
        r = self.lbd.api("POST", "/add")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["message"]["N"], 4)
        self.assertEqual(self.lbd.rep()["N"], 4)
        self.assertEqual(len(self.reachable_ids()), 4)

    def test_add_up_to_max_replicas(self):
        # Default --max-replicas is 64: 61 more is over, and the longest valid name works.
        self.assertEqual(self.lbd.api("POST", "/add", {"n": 62}).status, 400)
        name = "x" * 63
        r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": [name]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.lbd.rep()["replicas"][-1], name)

    def test_rm_named_replica(self):
        r = self.lbd.api("DELETE", "/rm", {"n": 1, "hostnames": ["Server2"]})
        self.assertEqual(r.status, 200, r.body)
        expected = {"N": 2, "replicas": ["Server1", "Server3"]}
        self.assertEqual(r.json(), {"message": expected, "status": "successful"})
        self.assertEqual(self.lbd.rep(), expected)
        self.assertEqual(set(self.reachable_ids()), {"1", "3"})
        self.assertEqual(set(wait_until(lambda: set(self.lbd.replica_pids()) == {"1", "3"}
                                        and self.lbd.replica_pids(), 3) or {}), {"1", "3"})
        self.assertEqual(len(self.lbd.events("replica_removed", "Server2")), 1)
        self.assertEqual(self.lbd.events("replica_respawned"), [], "a removed replica is not respawned")

    def test_rm_by_post_and_random_choice(self):
        r = self.lbd.api("POST", "/rm", {"n": 2, "hostnames": ["Server3"]})
        self.assertEqual(r.status, 200, r.body)
        message = r.json()["message"]
        self.assertEqual(message["N"], 1)
        self.assertEqual(len(message["replicas"]), 1)
        self.assertIn(message["replicas"][0], ["Server1", "Server2"])
        self.assertEqual(self.lbd.rep(), message)
        left = message["replicas"][0][-1]
        self.assertEqual(set(self.reachable_ids(60)), {left})

    def test_rm_without_names_picks_at_random(self):
        r = self.lbd.api("DELETE", "/rm", {"n": 1})
        self.assertEqual(r.status, 200, r.body)
        message = r.json()["message"]
        self.assertEqual(message["N"], 2)
        self.assertTrue(set(message["replicas"]) < {"Server1", "Server2", "Server3"})

    def test_rm_every_replica_then_requests_get_503_and_add_brings_them_back(self):
        r = self.lbd.api("DELETE", "/rm", {"n": 3})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["message"], {"N": 0, "replicas": []})
        self.assertEqual(self.lbd.rep(), {"N": 0, "replicas": []})
        for key in (None, "a", "b"):
            r = self.lbd.home(key)
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json()["status"], "failure")
        self.assertTrue(wait_until(lambda: not self.lbd.replica_pids(), 3),
                        "removed replicas must be stopped")
        r = self.lbd.api("DELETE", "/rm", {"n": 1})
        self.assertEqual(r.status, 400, "n > N when nothing is left")
        r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": ["Again"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.lbd.home().status, 200)

    def test_add_then_rm_the_added(self):
        self.assertEqual(self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["A1", "A2"]}).status, 200)
        r = self.lbd.api("DELETE", "/rm", {"n": 2, "hostnames": ["A2", "Server1"]})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["message"], {"N": 3, "replicas": ["Server2", "Server3", "A1"]})
        # The replica's own "listening" line may reach the log a moment after lbd's.
        self.assertTrue(wait_until(lambda: "A1" in self.lbd.ids_by_name(), 3))
        ids = self.lbd.ids_by_name()
        self.assertEqual(set(self.reachable_ids()), {"2", "3", ids["A1"]})


class AdminToken(SharedLbdCase):
    lbd_args = ("--admin-token", "secret")

    def test_add_and_rm_need_the_bearer_token(self):
        for headers in (None, {"Authorization": "Bearer wrong"}, {"Authorization": "secret"},
                        {"Authorization": "Basic c2VjcmV0"}, {"Authorization": "Bearer secretx"}):
            with self.subTest(headers=headers):
                r = self.lbd.api("POST", "/add", {"n": 1}, headers=headers)
                self.assertFailure(r, 401)
                r = self.lbd.api("DELETE", "/rm", {"n": 1}, headers=headers)
                self.assertFailure(r, 401)
        self.assertEqual(self.lbd.rep(), REP3, "/rep needs no token")
        good = {"Authorization": "Bearer secret"}
        r = self.lbd.api("POST", "/add", {"n": 1, "hostnames": ["T4"]}, headers=good)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["message"]["N"], 4)
        r = self.lbd.api("DELETE", "/rm", {"n": 1, "hostnames": ["T4"]}, headers=good)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.lbd.rep(), REP3)
        self.assertEqual(self.lbd.home().status, 200, "proxied requests need no token")


class FailuresUnderLoad(unittest.TestCase):
    def setUp(self):
        self.lbd = Lbd()

    def tearDown(self):
        self.lbd.close()

    def hung_replica_and_a_key(self, *args, names=("A", "B")):
        """lbd over static lb-replicas, A and B by default (nothing kills a hung one, as a
        process backend would, resetting its sockets); A stopped (SIGSTOP); a key of A's;
        A's process."""
        replicas = []
        for name in names:
            listener = free_listening_socket()
            self.addCleanup(listener.close)
            replicas.append((Process([LB_REPLICA, "--id", name, "--threads", "1"],
                                     env={"LISTEN_FDS": "1"}, fd3=listener,
                                     ready_pattern="listening"), listener.getsockname()[1]))
            self.addCleanup(replicas[-1][0].close)
        lbd = Lbd("--response-timeout-ms", "20000", *args, threads=1,
                  static=[f"127.0.0.1:{port}" for _, port in replicas])
        self.addCleanup(lbd.close)
        rnd = random.Random(5)
        key = next(k for k in (new_key(rnd) for _ in range(1000)) if server_of(lbd.home(k)) == "A")
        hung = replicas[0][0].proc.pid
        os.kill(hung, signal.SIGSTOP)
        self.addCleanup(lambda: os.kill(hung, signal.SIGCONT))

        def stopped():  # kill() returns before every thread has stopped
            states = []
            for task in os.listdir(f"/proc/{hung}/task"):
                with open(f"/proc/{hung}/task/{task}/stat") as stat:
                    states.append(stat.read().rsplit(")", 1)[1].split()[0])
            return all(state == "T" for state in states)

        self.assertTrue(wait_until(stopped, 2))
        return lbd, key, replicas[0][0]

    def test_a_get_queued_for_a_replica_that_goes_down_is_sent_elsewhere(self):
        # One request in flight per replica: the second GET queues for the hung replica's
        # slot, and is admitted once the first is cut; it must not be sent there then.
        lbd, key, _ = self.hung_replica_and_a_key("--max-in-flight-per-replica", "1")
        answers = []
        threads = [threading.Thread(target=lambda: answers.append(lbd.home(key)))
                   for _ in range(2)]
        began = time.monotonic()
        for thread in threads:
            thread.start()
            time.sleep(0.05)
        for thread in threads:
            thread.join(timeout=10)
        elapsed = time.monotonic() - began
        self.assertEqual([(a.status, server_of(a)) for a in answers], [(200, "B"), (200, "B")])
        self.assertLess(elapsed, 3.0)

    def test_a_get_waiting_on_a_replica_that_goes_down_is_retried_elsewhere(self):
        # A replica that hangs (or a machine gone without a word): no reset, no answer. Once
        # heartbeats take it out, the GETs waiting on it go to the key's next replica
        # instead of waiting out --response-timeout-ms.
        lbd, key, _ = self.hung_replica_and_a_key()
        began = time.monotonic()
        answer = lbd.home(key)
        elapsed = time.monotonic() - began
        report(f"a GET waiting on a replica that hung answered by another after {elapsed:.3f} s "
               f"(heartbeat 100 ms, fall 2)")
        self.assertEqual(answer.status, 200, answer.body)
        self.assertEqual(server_of(answer), "B")
        self.assertLess(elapsed, 3.0)

    def test_a_get_waiting_on_the_only_replica_is_not_cut_when_it_goes_down(self):
        # With nowhere else to go, cutting it would turn a slow answer into a 502 (a replica
        # too busy to answer its heartbeats in time is marked down while it still works).
        lbd, key, hung = self.hung_replica_and_a_key(names=("A",))
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(lbd.home(key)))
        waiting.start()
        self.assertTrue(wait_until(lambda: lbd.events("replica_down"), 5), lbd.output())
        time.sleep(0.3)
        os.kill(hung.proc.pid, signal.SIGCONT)
        waiting.join(timeout=10)
        self.assertEqual([(a.status, server_of(a)) for a in answers], [(200, "A")])

    def poll_rep(self, stopping, seen):
        while not stopping.is_set():
            try:
                r = self.lbd.api("GET", "/rep")
                seen.append((r.status, r.json()["message"]["N"] if r.status == 200 else None))
            except (OSError, EOFError, ValueError) as error:
                seen.append((repr(error), None))
            time.sleep(0.05)

    def test_kill_9_of_a_replica_under_load(self):
        victim_id, victim_name = "2", "Server2"
        before = self.lbd.replica_pids()
        self.assertEqual(set(before), {"1", "2", "3"})
        victim = before[victim_id]
        rep_seen, stopping = [], threading.Event()
        poller = threading.Thread(target=self.poll_rep, args=(stopping, rep_seen), daemon=True)
        load = LoadLoop(self.lbd.port, threads=4, duration=3.0).start()
        poller.start()
        time.sleep(1.0)
        killed_at = time.time()
        os.kill(victim, signal.SIGKILL)
        back = wait_until(lambda: len(self.lbd.events("replica_up", victim_name)) >= 2, 5)
        load.join()
        stopping.set()
        poller.join(timeout=10)

        records = load.all()
        failures = load.failures()
        down = self.lbd.events("replica_down", victim_name)
        respawned = self.lbd.events("replica_respawned", victim_name)
        ups = self.lbd.events("replica_up", victim_name)
        figures = {
            "replica_down": down[0][0] - killed_at if down else None,
            "replica_respawned": respawned[0][0] - killed_at if respawned else None,
            "replica_up": ups[1][0] - killed_at if len(ups) >= 2 else None,
        }
        report("kill -9 of Server2 under load (4 keep-alive clients, 3 s): " +
               ", ".join(f"{k} +{v * 1000:.0f} ms" if v is not None else f"{k} missing"
                         for k, v in figures.items()) +
               f"; failed {len(failures)} of {len(records)} GETs; /rep polled {len(rep_seen)} "
               f"times, N values {sorted(Counter(n for _, n in rep_seen).items(), key=str)}")
        if failures:
            report(f"first failures: {failures[:5]}")
        self.assertTrue(back, f"no replica_up for {victim_name} after the kill:\n{self.lbd.output()}")
        self.assertTrue(down and respawned, self.lbd.output())
        self.assertLess(figures["replica_respawned"], 1.0)
        self.assertLess(figures["replica_up"], 1.0)
        self.assertGreater(len(rep_seen), 10)
        # /rep lists the replicas that serve: 2 while Server2 is out, 3 again once it is back.
        self.assertTrue(all(status == 200 and n in (2, 3) for status, n in rep_seen), rep_seen)
        self.assertEqual(rep_seen[-1], (200, 3))
        self.assertGreater(len(records), 1000, "the load loop did too little to judge")
        self.assertLess(len(failures), 0.001 * len(records), failures[:10])
        # The replacement has the same id and serves its keys again.
        after = self.lbd.replica_pids()
        self.assertEqual(set(after), {"1", "2", "3"})
        self.assertNotEqual(after[victim_id], victim)
        self.assertFalse(pid_alive(victim))
        rnd = random.Random(99)
        reached = Counter(server_of(r) for r in
                          pipelined_homes(self.lbd.port, [new_key(rnd) for _ in range(300)]))
        self.assertIn(victim_id, reached)
        self.assertEqual(self.lbd.rep(), REP3)

    def test_add_and_rm_under_load(self):
        load = LoadLoop(self.lbd.port, threads=4, duration=3.0, seed=2).start()
        time.sleep(0.7)
        added = self.lbd.api("POST", "/add", {"n": 2, "hostnames": ["S5", "S6"]})
        time.sleep(0.7)
        removed = self.lbd.api("DELETE", "/rm", {"n": 2, "hostnames": ["Server1", "S5"]})
        removed_at = time.monotonic()
        load.join()
        self.assertEqual(added.status, 200, added.body)
        self.assertEqual(removed.status, 200, removed.body)
        self.assertEqual(removed.json()["message"],
                         {"N": 3, "replicas": ["Server2", "Server3", "S6"]})
        records = load.all()
        failures = load.failures()
        ids = self.lbd.ids_by_name()
        gone = {"1", ids["S5"]}
        late = [r for r in records if r[0] > removed_at + 0.001 and r[2] in gone]
        counts = Counter(r[2] for r in records)
        report(f"/add + /rm under load: {len(records)} GETs, {len(failures)} failed, "
               f"by replica {dict(sorted(counts.items(), key=str))}")
        self.assertGreater(len(records), 500)
        self.assertEqual(failures, [])
        self.assertIn(ids["S6"], counts, "the added replica got no requests")
        self.assertEqual(late, [], "requests sent after /rm answered reached a removed replica")


class StaticBackend(unittest.TestCase):
    def setUp(self):
        self.upstreams = []

    def tearDown(self):
        for upstream in self.upstreams:
            upstream.close()

    def upstream(self, mode, name=None, **kw):
        up = Upstream(mode, name, **kw)
        self.upstreams.append(up)
        return up

    def test_rep_names_static_upstreams_by_host_port(self):
        good, other = self.upstream("good", "g1"), self.upstream("good", "g2")
        with Lbd(static=[good.address, other.address]) as lbd:
            self.assertEqual(lbd.rep(), {"N": 2, "replicas": [good.address, other.address]})
            servers = {server_of(lbd.home(new_key())) for _ in range(40)}
            self.assertEqual(servers, {"g1", "g2"})
            r = lbd.api("GET", "/other?x=1")
            self.assertEqual(r.status, 400)
            self.assertEqual(r.json()["message"],
                             "<Error> '/other' endpoint does not exist in server replicas")

    def test_an_upstream_that_hangs_is_504(self):
        hang = self.upstream("hang")
        with Lbd("--response-timeout-ms", "1000", static=[hang.address]) as lbd:
            started = time.monotonic()
            r = lbd.home("k")
            elapsed = time.monotonic() - started
            self.assertEqual(r.status, 504, r.body)
            self.assertEqual(r.json()["status"], "failure")
            self.assertGreater(elapsed, 0.8)
            self.assertLess(elapsed, 5)
            self.assertEqual(hang.paths["/home"], 1, "a timed-out request must not be resent")

    def test_a_hanging_upstream_does_not_delay_the_others(self):
        good, hang = self.upstream("good"), self.upstream("hang")
        with Lbd("--response-timeout-ms", "1500", static=[good.address, hang.address]) as lbd:
            results = {}

            def get(key):
                results[key] = lbd.home(key)

            keys = [f"key-{i}" for i in range(16)]
            started = time.monotonic()
            threads = [threading.Thread(target=get, args=(k,)) for k in keys]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=20)
            self.assertLess(time.monotonic() - started, 6)
            statuses = Counter(r.status for r in results.values())
            self.assertLessEqual(set(statuses), {200, 504}, statuses)
            self.assertGreater(statuses[504], 0, "no key went to the hanging upstream")
            self.assertGreater(statuses[200], 0)
            self.assertTrue(all(server_of(r) == "good" for r in results.values() if r.status == 200))

    def test_a_reset_is_retried_on_another_upstream(self):
        good, reset = self.upstream("good"), self.upstream("reset")
        with Lbd(static=[good.address, reset.address]) as lbd:
            statuses = Counter()
            for i in range(40):
                r = lbd.home(f"reset-{i}")
                statuses[(r.status, server_of(r))] += 1
            self.assertEqual(statuses, Counter({(200, "good"): 40}))
            self.assertGreater(reset.paths["/home"], 0, "no key was routed to the resetting upstream")

    def test_only_a_resetting_upstream_is_502(self):
        reset = self.upstream("reset")
        with Lbd(static=[reset.address]) as lbd:
            r = lbd.home("k")
            self.assertEqual(r.status, 502, r.body)
            self.assertEqual(r.json()["status"], "failure")

    def test_static_add_and_rm_take_host_port_names(self):
        first, second = self.upstream("good", "first"), self.upstream("good", "second")
        with Lbd(static=[first.address]) as lbd:
            self.assertEqual(lbd.api("POST", "/add", {"n": 1, "hostnames": ["Server9"]}).status, 400)
            self.assertEqual(lbd.api("POST", "/add", {"n": 1}).status, 400)
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": [second.address]})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(lbd.rep(), {"N": 2, "replicas": [first.address, second.address]})
            self.assertEqual({server_of(lbd.home(new_key())) for _ in range(40)}, {"first", "second"})
            r = lbd.api("DELETE", "/rm", {"n": 1, "hostnames": [first.address]})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual({server_of(lbd.home(new_key())) for _ in range(20)}, {"second"})

    def test_bodies_and_headers_are_forwarded(self):
        echo = self.upstream("echo")
        with Lbd(static=[echo.address]) as lbd:
            body = os.urandom(200_000)
            headers = {"X-Request-ID": "abc", "Connection": "keep-alive, X-Hop", "X-Hop": "1",
                       "Keep-Alive": "timeout=5", "X-Forwarded-For": "10.0.0.1",
                       "Content-Type": "application/octet-stream"}
            r = request(lbd.port, "POST", "/echo", headers=headers, body=body)
            self.assertEqual(r.status, 200, r.body)
            seen = r.json()
            self.assertEqual(seen["request_line"], "POST /echo HTTP/1.1")
            self.assertEqual(seen["body_length"], len(body))
            self.assertEqual(seen["body_sha256"], hashlib.sha256(body).hexdigest())
            names = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip()
                     for line in seen["headers"]}
            self.assertEqual(names.get("x-request-id"), "abc")
            self.assertEqual(names.get("content-type"), "application/octet-stream")
            self.assertEqual(names.get("x-forwarded-for"), "10.0.0.1, 127.0.0.1")
            for hop in ("x-hop", "keep-alive"):
                self.assertNotIn(hop, names, "hop-by-hop headers must be dropped")
            # A chunked request body arrives whole.
            chunks = [os.urandom(n) for n in (1, 5000, 70000, 3)]
            raw = (b"POST /echo?q=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n" +
                   b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks) + b"0\r\n\r\n")
            with connect(lbd.port) as sock:
                sock.sendall(raw)
                r = Reader(sock).response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["request_line"], "POST /echo?q=1 HTTP/1.1")
            self.assertEqual(r.json()["body_sha256"], hashlib.sha256(b"".join(chunks)).hexdigest())
            # A chunked answer arrives whole.
            r = request(lbd.port, "GET", "/chunked")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"a" * 10000 + b"b" * 10000 + b"c" * 10000)

    def test_a_streamed_answer_is_passed_on_as_it_comes(self):
        # A small piece is not held back for more when the replica pauses (server-sent
        # events, long polls): the client has the first event before the second is sent.
        echo = self.upstream("echo", delay=1.5)
        with Lbd(static=[echo.address]) as lbd, connect(lbd.port) as sock:
            sock.sendall(build("GET", "/events"))
            began = time.monotonic()
            seen = b""
            while b"data: 1" not in seen:
                piece = sock.recv(65536)
                self.assertTrue(piece, seen)
                seen += piece
            self.assertLess(time.monotonic() - began, 1.0, seen)
            self.assertNotIn(b"data: 2", seen)
            r = Reader(sock)
            r.buffer = seen
            answer = r.response()
            self.assertEqual(answer.body, b"data: 1\n\ndata: 2\n\n")

    def test_sigterm_lets_a_request_in_flight_finish(self):
        slow = self.upstream("slow", "slow", delay=0.6)
        lbd = Lbd(static=[slow.address])
        try:
            result = {}
            t = threading.Thread(target=lambda: result.setdefault("r", lbd.home("k")))
            t.start()
            wait_until(lambda: slow.paths["/home"] > 0, 3)
            lbd.process.signal(signal.SIGTERM)
            t.join(timeout=10)
            self.assertEqual(result["r"].status, 200)
            self.assertEqual(lbd.process.wait(timeout=5), 0)
        finally:
            lbd.close()



class RequestBodies(unittest.TestCase):
    """Request bodies are streamed to the replica while they arrive, never held whole."""

    def setUp(self):
        self.echo = Upstream("echo")

    def tearDown(self):
        self.echo.close()

    @staticmethod
    def headers_of(seen):
        return {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip()
                for line in seen["headers"]}

    def test_a_long_body_reaches_the_replica_before_the_client_has_sent_it_all(self):
        body = os.urandom(4 << 20)
        with Lbd(static=[self.echo.address]) as lbd, connect(lbd.port, timeout=10) as sock:
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body[:1 << 20])
            self.assertTrue(wait_until(lambda: self.echo.body_seen >= 512 * 1024, 5),
                            f"the replica got {self.echo.body_seen} bytes while the client "
                            f"waited: lbd holds the body back")
            sock.sendall(body[1 << 20:])
            r = Reader(sock).response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["body_length"], len(body))
            self.assertEqual(r.json()["body_sha256"], hashlib.sha256(body).hexdigest())
            names = self.headers_of(r.json())
            self.assertEqual(names.get("content-length"), str(len(body)))
            self.assertNotIn("transfer-encoding", names)
            # The connection serves the next request.
            sock.sendall(build("GET", "/after", close=True))
            self.assertEqual(Reader(sock).response().status, 200)

    def test_a_chunked_body_is_streamed_as_chunks(self):
        chunks = [os.urandom(50_000) for _ in range(8)]
        with Lbd(static=[self.echo.address]) as lbd, connect(lbd.port, timeout=10) as sock:
            frame = lambda c: f"{len(c):x}\r\n".encode() + c + b"\r\n"
            sock.sendall(b"PUT /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                         b"".join(frame(c) for c in chunks[:4]))
            self.assertTrue(wait_until(lambda: self.echo.body_seen >= 100_000, 5),
                            f"the replica got {self.echo.body_seen} bytes while the client waited")
            sock.sendall(b"".join(frame(c) for c in chunks[4:]) + b"0\r\n\r\n")
            r = Reader(sock).response()
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["body_sha256"], hashlib.sha256(b"".join(chunks)).hexdigest())
            self.assertEqual(self.headers_of(r.json()).get("transfer-encoding"), "chunked")

    def test_a_body_far_larger_than_memory_budgets_passes(self):
        def peak_kib(pid):
            with open(f"/proc/{pid}/status") as status:
                return int(re.search(r"VmHWM:\s+(\d+)", status.read())[1])

        body = os.urandom(64 << 20)
        # One worker, warmed up by a body long enough to touch every receive buffer of its
        # ring (1024 x 16 KiB): what grows after that is what lbd holds.
        with Lbd(static=[self.echo.address], threads=1) as lbd:
            r = request(lbd.port, "POST", "/warm-up", body=body[:24 << 20], timeout=30)
            self.assertEqual(r.status, 200, r.body)
            before = peak_kib(lbd.pid)
            r = request(lbd.port, "POST", "/big", body=body, timeout=60)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["body_sha256"], hashlib.sha256(body).hexdigest())
            grown = peak_kib(lbd.pid) - before
            report(f"peak memory of lbd grew by {grown} KiB for a {len(body) >> 20} MiB body")
            self.assertLess(grown, len(body) // 4 >> 10, "lbd's peak memory grew as if it held the body")

    def test_max_body_is_413_before_and_during_the_body(self):
        with Lbd("--max-body", "100000", static=[self.echo.address]) as lbd:
            r, closed = answer_then_close(
                lbd.port, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100001\r\n\r\n")
            self.assertEqual((r.status, r.json()["message"]), (413, "<Error> Request body too large"))
            self.assertTrue(closed)
            # Chunked: the limit is found only while the body streams.
            big = os.urandom(70_000)
            raw = (b"POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   b"".join(f"{len(big):x}\r\n".encode() + big + b"\r\n" for _ in range(2)) +
                   b"0\r\n\r\n")
            r, closed = answer_then_close(lbd.port, raw)
            self.assertEqual(r.status, 413, r.body)
            self.assertTrue(closed)
            self.assertEqual(self.echo.paths["/x"], 0, "a cut-off body reached the replica whole")
            r = request(lbd.port, "POST", "/x", body=b"y" * 100_000)
            self.assertEqual((r.status, r.json()["body_length"]), (200, 100_000))

    def test_a_client_still_sending_reads_its_413_not_a_reset(self):
        # lbd answers at the head and closes: closing with unread bytes would reset the
        # connection, and the client's next send would fail before it read the answer.
        with Lbd("--max-body", "100000", "--linger-timeout-ms", "1500",
                 static=[self.echo.address]) as lbd, connect(lbd.port, timeout=5) as sock:
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
            started = time.monotonic()
            while time.monotonic() - started < 0.5:
                sock.sendall(b"u" * 65536)  # ECONNRESET here without the lingering close
            self.assertEqual(metrics(lbd)["lbd_connections_lingering"], 1)
            reader = Reader(sock)
            r = reader.response()
            self.assertEqual((r.status, r.json()["message"]), (413, "<Error> Request body too large"))
            self.assertTrue(reader.closed())
            # A client that never stops is cut off once the linger time is over.
            try:
                while time.monotonic() - started < 10:
                    sock.sendall(b"u" * 65536)
            except OSError:
                pass
            took = time.monotonic() - started
            report(f"a client still sending after its 413 was read from for {took:.2f} s "
                   f"(--linger-timeout-ms 1500)")
            self.assertGreater(took, 1.3)
            self.assertLess(took, 4)
            self.assertTrue(wait_until(lambda: metrics(lbd)["lbd_connections_lingering"] == 0))
            self.assertEqual(self.echo.paths["/x"], 0)

    def test_a_client_that_leaves_mid_body_costs_nothing_else(self):
        with Lbd(static=[self.echo.address]) as lbd:
            with connect(lbd.port) as sock:
                sock.sendall(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                             b"z" * 300_000)
                self.assertTrue(wait_until(lambda: self.echo.body_seen >= 65536, 5))
            # The replica's request is cut off, not completed with made-up bytes.
            time.sleep(0.3)
            self.assertEqual(self.echo.paths["/gone"], 0)
            r = request(lbd.port, "POST", "/after", body=b"ok")
            self.assertEqual((r.status, r.json()["body_length"]), (200, 2))

    def test_a_client_that_stalls_mid_body_gets_408(self):
        with Lbd("--idle-timeout-ms", "500", static=[self.echo.address]) as lbd:
            with connect(lbd.port) as sock:
                sock.sendall(b"POST /stall HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" +
                             b"z" * 100_000)
                reader = Reader(sock)
                started = time.monotonic()
                r = reader.response()
                self.assertEqual((r.status, r.json()["message"]), (408, "<Error> Request body timeout"))
                self.assertLess(time.monotonic() - started, 5)
                self.assertTrue(reader.closed())
            self.assertEqual(self.echo.paths["/stall"], 0)

    def test_a_short_body_is_still_retried_on_another_replica(self):
        reset = Upstream("reset")
        try:
            with Lbd(static=[self.echo.address, reset.address]) as lbd:
                # PUT is idempotent: a body that fit the read-ahead can go to the next replica.
                for i in range(20):
                    r = request(lbd.port, "PUT", "/short", headers={"X-Request-ID": f"k{i}"},
                                body=b"s" * 1000)
                    self.assertEqual((r.status, r.json()["body_length"]), (200, 1000))
                self.assertGreater(reset.paths["/short"], 0, "no request was routed to the reset")
        finally:
            reset.close()


class Lifecycle(unittest.TestCase):
    def test_sigterm_exits_zero_and_stops_every_replica(self):
        lbd = Lbd()
        try:
            pids = list(lbd.replica_pids().values())
            self.assertEqual(len(pids), 3)
            self.assertEqual(lbd.home().status, 200)
            started = time.monotonic()
            self.assertEqual(lbd.stop(timeout=5), 0, lbd.output())
            report(f"SIGTERM to exit: {time.monotonic() - started:.3f} s")
            self.assertTrue(wait_until(lambda: not any(pid_alive(p) for p in pids), 2),
                            "lb-replica children outlived lbd")
            self.assertIn("event=stopped", lbd.output())
        finally:
            lbd.close()

    def test_sigterm_with_a_half_sent_request_still_ends(self):
        # The request in flight never completes: the header timeout must still run during
        # the drain (408), so that lbd exits instead of waiting forever.
        lbd = Lbd("--header-timeout-ms", "1000")
        try:
            with connect(lbd.port) as sock:
                sock.sendall(b"GET /home HTTP/1.1\r\nHost: x\r\n")
                time.sleep(0.1)
                started = time.monotonic()
                lbd.process.signal(signal.SIGTERM)
                self.assertEqual(lbd.process.wait(timeout=10), 0, lbd.output())
                self.assertLess(time.monotonic() - started, 5)
                self.assertEqual(Reader(sock).response().status, 408)
        finally:
            lbd.close()

    def test_expect_100_continue_gets_the_final_answer(self):
        # lbd answers 100 Continue itself; the replica's own interim answer must not be taken
        # for the final one, nor leave the real answer on a pooled connection.
        lbd = Lbd(threads=1)
        try:
            with connect(lbd.port) as sock:
                reader = Reader(sock)
                sock.sendall(b"POST /home HTTP/1.1\r\nHost: x\r\nX-Request-ID: 1\r\n"
                             b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n")
                self.assertEqual(reader.response().status, 100)
                sock.sendall(b"{}")
                self.assertEqual(reader.response().status, 405)
                for _ in range(5):
                    sock.sendall(build("GET", "/home", {"X-Request-ID": "1"}))
                    answer = reader.response()
                    self.assertEqual(answer.status, 200)
                    self.assertIn("Hello from Server", answer.json()["message"])
        finally:
            lbd.close()

    def test_kill_9_of_lbd_takes_its_replicas_down(self):
        lbd = Lbd()
        try:
            lbd.api("POST", "/add", {"n": 1})  # one spawned later, after start-up
            pids = list(lbd.replica_pids().values())
            self.assertEqual(len(pids), 4)
            lbd.process.signal(signal.SIGKILL)
            lbd.process.wait(timeout=5)
            started = time.monotonic()
            gone = wait_until(lambda: not any(pid_alive(p) for p in pids), 2)
            report(f"kill -9 of lbd: replicas gone after {time.monotonic() - started:.3f} s")
            self.assertTrue(gone, f"orphans: {[p for p in pids if pid_alive(p)]}")
        finally:
            lbd.close()

    def test_docker_backend_without_a_daemon_fails_clearly(self):
        # A socket path where no daemon listens: one clear start-up error, exit 1.
        missing = f"/tmp/lbtest-no-docker-{os.getpid()}.sock"
        for backend in ("docker", "swarm"):
            with self.subTest(backend=backend):
                done = subprocess.run([LBD, "--backend", backend, "--docker-socket", missing,
                                       "--listen", "127.0.0.1:0", "--admin-listen", "off"],
                                      capture_output=True, timeout=20)
                self.assertEqual(done.returncode, 1, done.stderr)
                self.assertIn(b"Docker daemon unreachable at unix:" + missing.encode(),
                              done.stderr)

    def test_swarm_backend_needs_a_manager_and_says_so(self):
        # An engine that answers but is no swarm manager: lbd names what it needs.
        for state, manager, word in (("inactive", False, b"not part of a swarm"),
                                     ("active", False, b"swarm worker")):
            with self.subTest(state=state), FakeSwarm(state, manager) as engine:
                done = subprocess.run([LBD, "--backend", "swarm", "--docker-socket", engine.path,
                                       "--listen", "127.0.0.1:0", "--admin-listen", "off"],
                                      capture_output=True, timeout=20)
                self.assertEqual(done.returncode, 1, done.stderr)
                self.assertIn(word, done.stderr)
                self.assertIn(b"needs a manager's API", done.stderr)
                self.assertEqual(engine.posts, [], "nothing may be created")

    def test_help_and_bad_flags(self):
        done = subprocess.run([LBD, "--help"], capture_output=True, timeout=10)
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"--listen", done.stdout)
        self.assertIn(b"--admin-token", done.stdout)
        for args, word in ((["--no-such-flag"], b"no-such-flag"), (["--threads", "0"], b"--threads"),
                           (["--replicas", "65"], b"--replicas"), (["--hash", "nope"], b"--hash"),
                           (["--listen", "nowhere"], b"--listen"), (["--replicas"], b"--replicas"),
                           (["--backend", "swarm", "--respawn-name", "new"],
                            b"--respawn-name new does not go with --backend swarm"),
                           (["--startup-timeout-ms", "5"], b"--startup-timeout-ms")):
            with self.subTest(args=args):
                bad = subprocess.run([LBD, *args], capture_output=True, timeout=10)
                self.assertEqual(bad.returncode, 2, bad.stderr)
                self.assertIn(word, bad.stderr)

    def test_admin_listener_logs_its_bound_address(self):
        with Lbd() as lbd:
            found = re.search(ADMIN_LISTENING, lbd.output())
            self.assertIsNotNone(found, lbd.output())
            self.assertNotEqual(found.group(1), "0")
            self.assertEqual(request(int(found.group(1)), "GET", "/metrics").status, 200)


class FailingReplicaBin:
    """A --replica-bin that exits 1 at once for the ids in `failing` and starts the others."""

    def __init__(self, failing=(5,)):
        self.path = f"/tmp/lbtest-replica-{os.getpid()}-{time.monotonic_ns()}.sh"
        cases = "|".join(str(i) for i in failing)
        with open(self.path, "w") as f:
            f.write("#!/bin/sh\n"
                    f'case "$SERVER_ID" in {cases}) echo "fake failure $SERVER_ID" >&2; exit 1;; esac\n'
                    f'exec "{os.path.abspath(LB_REPLICA)}" "$@"\n')
        os.chmod(self.path, 0o755)

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        os.unlink(self.path)


class SpawnFailure(unittest.TestCase):
    def test_a_failed_spawn_rolls_back_the_whole_add(self):
        with FailingReplicaBin(failing=(5,)) as script:
            lbd = Lbd("--replica-bin", script)
            try:
                # S4 (id 4) starts, S5 (id 5) exits at once: nothing of the call may remain.
                # Ids are never handed out twice: the retry's S4 is id 6.
                r = lbd.api("POST", "/add", {"n": 2, "hostnames": ["S4", "S5"]}, timeout=20)
                self.assertGreaterEqual(r.status, 400, r.body)
                self.assertEqual(r.json()["status"], "failure")
                self.assertTrue(r.json()["message"].startswith("<Error> "), r.body)
                self.assertEqual(lbd.rep(), REP3, "a failed spawn must roll back the whole /add")
                self.assertTrue(wait_until(lambda: set(lbd.replica_pids()) == {"1", "2", "3"}, 3),
                                f"children left: {lbd.replica_pids()}")
                self.assertEqual({server_of(lbd.home(new_key())) for _ in range(60)}, {"1", "2", "3"})
                self.assertEqual(lbd.api("POST", "/add", {"n": 1, "hostnames": ["S4"]},
                                         timeout=20).json()["message"]["N"], 4,
                                 "S4 may be added again after the rollback")
            finally:
                lbd.close()

    def test_a_failed_adds_names_are_free_once_it_has_answered(self):
        # The answer comes after the rollback has finished: a retry sent at once is not
        # told that S4 is "already in use" by the replica the failed call started.
        with FailingReplicaBin(failing=(5,)) as script:
            lbd = Lbd("--replica-bin", script)
            try:
                failed = lbd.api("POST", "/add", {"n": 2, "hostnames": ["S4", "S5"]}, timeout=20)
                self.assertGreaterEqual(failed.status, 400, failed.body)
                retried = lbd.api("POST", "/add", {"n": 1, "hostnames": ["S4"]}, timeout=20)
                self.assertEqual(retried.status, 200, retried.body)
                self.assertIn("S4", retried.json()["message"]["replicas"])
            finally:
                lbd.close()


class EdgeCases(SharedLbdCase):
    """Two cases found by this suite and fixed in lbd."""

    def test_huge_n_is_valid_json_and_the_message_must_say_what_is_wrong(self):
        # {"n": 1000000000000000000000000000000} is valid JSON (RFC 8259 sets no limit on
        # numbers): the message must say that 'n' is wrong, not that the JSON is.
        for raw in (b'{"n": 1000000000000000000000000000000}', b'{"n": 18446744073709551616}'):
            with self.subTest(raw=raw):
                r = self.lbd.api("POST", "/add", raw=raw)
                self.assertFailure(r, 400, contains=("'n'",))
        self.assertEqual(self.lbd.rep(), REP3)

    def test_add_fails_at_once_when_the_new_replica_exits_at_once(self):
        # The process backend learns of a child's exit at once (pidfd): /add must fail (and
        # roll back) at once, saying the replica exited, not wait for its start-up timeout.
        with FailingReplicaBin(failing=(4,)) as script:
            with Lbd("--replica-bin", script) as lbd:
                started = time.monotonic()
                try:
                    r = lbd.api("POST", "/add", {"n": 1, "hostnames": ["S4"]}, timeout=3)
                except TimeoutError:
                    self.fail("/add still unanswered after 3 s; the replica exited at once")
                self.assertLess(time.monotonic() - started, 2)
                self.assertFailure(r, r.status)
                self.assertGreaterEqual(r.status, 500)
                self.assertEqual(lbd.rep(), REP3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
