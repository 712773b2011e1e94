"""Integration tests for the control plane's exposure and membership rules: --control-from,
the admin token, the static backend's /add rules, the balancer's own names, weights, health
at pick time and identical tables in two lbd processes.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
         python3 tests/integration/control_test.py -v
"""

import json
import socket
import subprocess
import unittest
from collections import Counter

from harness import (LBD, Lbd, Process, Reader, Upstream, build, new_key, request,
                     server_of, wait_until)

REP3 = {"N": 3, "replicas": ["Server1", "Server2", "Server3"]}


def request_from(source, port, method="GET", path="/", payload=None, headers=None):
    """One request to 127.0.0.1:port from the loopback address `source` (127.0.0.2, ...)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
        sock.sendall(build(method, path, headers, body, close=True))
        return Reader(sock).response()


def stats(lbd):
    r = request(lbd.admin_port, "GET", "/stats")
    assert r.status == 200, r.body
    return r.json()["message"]


class ExposureCase(unittest.TestCase):
    def assertFailure(self, r, status, contains=()):
        self.assertEqual(r.status, status, r.body)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        body = r.json()
        self.assertEqual(body["status"], "failure", body)
        self.assertTrue(body["message"].startswith("<Error> "), body)
        for part in contains:
            self.assertIn(part, body["message"])


class ControlFrom(ExposureCase):
    def test_add_and_rm_only_from_the_networks_given(self):
        with Lbd("--control-from", "127.0.0.2/32,10.0.0.0/8", "--control-from", "::1") as lbd:
            for method, path in (("POST", "/add"), ("DELETE", "/rm"), ("POST", "/rm")):
                r = request_from("127.0.0.1", lbd.port, method, path, {"n": 1})
                self.assertFailure(r, 403, contains=("--control-from",))
            self.assertEqual(lbd.rep(), REP3, "a refused call changes nothing")
            # /rep and proxied requests stay open to every client.
            self.assertEqual(request_from("127.0.0.3", lbd.port, "GET", "/rep").status, 200)
            self.assertEqual(request_from("127.0.0.3", lbd.port, "GET", "/home").status, 200)
            r = request_from("127.0.0.2", lbd.port, "POST", "/add", {"n": 1, "hostnames": ["S9"]})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["message"]["N"], 4)
            r = request_from("127.0.0.2", lbd.port, "DELETE", "/rm", {"n": 1, "hostnames": ["S9"]})
            self.assertEqual(r.status, 200, r.body)

    def test_the_token_is_checked_inside_the_network_too(self):
        with Lbd("--control-from", "127.0.0.0/8", "--admin-token", "t0ken") as lbd:
            r = request_from("127.0.0.1", lbd.port, "POST", "/add", {"n": 1})
            self.assertFailure(r, 401)
            self.assertEqual(r.headers.get("www-authenticate"), "Bearer")
            for wrong in ("Bearer t0ke", "Bearer t0ken2", "bearer t0ken", "t0ken"):
                r = request_from("127.0.0.1", lbd.port, "POST", "/add", {"n": 1},
                                 headers={"Authorization": wrong})
                self.assertFailure(r, 401)
            r = request_from("127.0.0.1", lbd.port, "POST", "/add", {"n": 1},
                             headers={"Authorization": "Bearer t0ken"})
            self.assertEqual(r.status, 200, r.body)

    def test_a_bad_network_is_a_usage_error(self):
        for bad in ("10.0.0.0/33", "example.com/8", "10.0.0.0/"):
            done = subprocess.run([LBD, "--control-from", bad, "--replicas", "0"],
                                  capture_output=True, text=True, timeout=10)
            self.assertEqual(done.returncode, 2, done.stderr)
            self.assertIn("--control-from", done.stderr)


class StartupWarning(unittest.TestCase):
    def run_lbd(self, *args):
        """lbd's log up to its listening line, started with `args` and no replicas."""
        with Process([LBD, "--replicas", "0", "--admin-listen", "off", *args],
                     ready_pattern=r"event=listening address=\S+:(\d+)") as lbd:
            return lbd.output()

    def test_one_warning_when_open_to_the_network_without_a_token(self):
        log = self.run_lbd("--listen", "0.0.0.0:0")
        self.assertEqual(log.count("event=control_api_open"), 1, log)
        for args in (("--listen", "127.0.0.1:0"), ("--listen", "0.0.0.0:0", "--admin-token", "x")):
            log = self.run_lbd(*args)
            self.assertNotIn("event=control_api_open", log)


class StaticAddRules(ExposureCase):
    def setUp(self):
        self.upstreams = [Upstream("good", f"u{i}") for i in range(3)]

    def tearDown(self):
        for upstream in self.upstreams:
            upstream.close()

    def test_names_need_allow_dns_upstreams(self):
        first, second, _ = self.upstreams
        with Lbd(static=[first.address]) as lbd:
            named = f"localhost:{second.port}"
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": [named]})
            self.assertFailure(r, 400, contains=("--allow-dns-upstreams", named))
            for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", "unix:/tmp/x", "a b:80"):
                self.assertFailure(lbd.api("POST", "/add", {"n": 1, "hostnames": [bad]}), 400)
            self.assertEqual(lbd.rep(), {"N": 1, "replicas": [first.address]})
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": [second.address]})
            self.assertEqual(r.status, 200, r.body)

    def test_with_allow_dns_upstreams_a_name_is_resolved_and_served(self):
        first, second, _ = self.upstreams
        with Lbd("--allow-dns-upstreams", static=[first.address]) as lbd:
            named = f"localhost:{second.port}"
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": [named]}, timeout=10)
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(lbd.rep()["replicas"], [first.address, named])
            self.assertTrue(wait_until(
                lambda: {server_of(lbd.home(new_key())) for _ in range(40)} == {"u0", "u1"}, 5))
            # A name that does not resolve fails the /add and leaves nothing behind.
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": ["localhost:x"]})
            self.assertFailure(r, 400)
            self.assertEqual(lbd.rep()["N"], 2)

    def test_weights_of_static_upstreams(self):
        a, b, c = self.upstreams
        with Lbd("--hash", "maglev", static=[f"{a.address}=1", f"{b.address}=3"]) as lbd:
            r = lbd.api("POST", "/add", {"n": 1, "hostnames": [c.address], "weights": [2]})
            self.assertEqual(r.status, 200, r.body)
            weights = {entry["name"]: entry["weight"] for entry in stats(lbd)["replicas"]}
            self.assertEqual(weights, {a.address: 1, b.address: 3, c.address: 2})
            ring = request(lbd.admin_port, "GET", "/ring").json()["message"]
            self.assertEqual({entry["name"]: entry["weight"] for entry in ring["replicas"]},
                             weights)
            counts = Counter(server_of(lbd.home(new_key())) for _ in range(1200))
            self.assertAlmostEqual(counts["u1"] / 1200, 0.5, delta=0.07)
            self.assertAlmostEqual(counts["u2"] / 1200, 1 / 3, delta=0.07)
            for bad in ([0], [1001], [1, 1], ["2"]):
                r = lbd.api("POST", "/add", {"n": 1, "hostnames": ["127.0.0.1:9"], "weights": bad})
                self.assertFailure(r, 400)


class OwnNamesAndWeights(ExposureCase):
    def test_the_balancers_own_names_are_refused(self):
        with Lbd("--balancer-name", "edge", "--balancer-name", "lbd") as lbd:
            for name in ("lbd", "edge", socket.gethostname()):
                r = lbd.api("POST", "/add", {"n": 1, "hostnames": [name]})
                self.assertFailure(r, 400, contains=(name, "own name"))
            self.assertEqual(lbd.rep(), REP3)

    def test_replica_weights_and_add_weights(self):
        with Lbd("--replica-weights", "2,1") as lbd:
            r = lbd.api("POST", "/add", {"n": 2, "weights": [5]})
            self.assertEqual(r.status, 200, r.body)
            weights = {entry["name"]: entry["weight"] for entry in stats(lbd)["replicas"]}
            self.assertEqual(weights, {"Server1": 2, "Server2": 1, "Server3": 1, "Server4": 5,
                                       "Server5": 1})
        done = subprocess.run([LBD, "--replicas", "1", "--replica-weights", "1,2"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 2)
        self.assertIn("--replica-weights", done.stderr)


class HealthAtPickTime(unittest.TestCase):
    def test_a_down_upstream_moves_only_its_own_keys(self):
        ups = [Upstream("good", f"u{i}") for i in range(4)]
        try:
            with Lbd("--hash", "maglev", "--fall", "1", static=[u.address for u in ups]) as lbd:
                keys = [new_key() for _ in range(300)]
                before = {k: server_of(lbd.home(k)) for k in keys}
                ups[2].close()
                self.assertTrue(wait_until(lambda: any(
                    r["health"] != "up" for r in stats(lbd)["replicas"]), 5))
                after = {k: server_of(lbd.home(k)) for k in keys}
                moved = [k for k in keys if before[k] != after[k]]
                self.assertTrue(moved, "the down upstream owned no key")
                self.assertEqual({before[k] for k in moved}, {"u2"},
                                 "a key of a healthy upstream moved")
                # It stays a member (in /stats), but /rep lists the upstreams that serve.
                self.assertEqual(len(stats(lbd)["replicas"]), 4)
                self.assertEqual(lbd.rep()["N"], 3)
        finally:
            for u in ups:
                u.close()


class StableIdentity(unittest.TestCase):
    def test_two_balancers_given_the_same_members_in_other_orders_build_the_same_tables(self):
        ups = [Upstream("good", f"u{i}") for i in range(4)]
        try:
            for algorithm in ("spec", "ring", "ketama", "maglev", "rendezvous"):
                addresses = [u.address for u in ups]
                weights = ["=2", "", "=3", ""]
                first = [a + w for a, w in zip(addresses, weights)]
                second = list(reversed(first[1:])) + first[:1]
                with Lbd("--hash", algorithm, static=first) as one, \
                        Lbd("--hash", algorithm, static=second) as two:
                    ring_one = request(one.admin_port, "GET", "/ring").json()["message"]
                    ring_two = request(two.admin_port, "GET", "/ring").json()["message"]
                    by_name = lambda ring: sorted(
                        (r["name"], r["id"], r["weight"]) for r in ring["replicas"])
                    self.assertEqual(by_name(ring_one), by_name(ring_two), algorithm)
                    self.assertEqual(ring_one["slots"], ring_two["slots"], algorithm)
                    keys = [new_key() for _ in range(100)]
                    self.assertEqual([server_of(one.home(k)) for k in keys],
                                     [server_of(two.home(k)) for k in keys], algorithm)
        finally:
            for u in ups:
                u.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
