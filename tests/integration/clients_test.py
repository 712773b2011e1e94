"""Integration tests that behave like the client scripts people wrote against the
assignment's Flask solutions: they parse answers by splitting text, kill a replica and poll
/rep until they see the failure and the recovery, and match /home ids to /rep names.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
         python3 tests/integration/clients_test.py -v
"""

import json
import os
import signal
import time
import unittest
import urllib.request

from harness import Lbd, SlowStartReplicaBin, new_key, report, wait_until


def get(port, path, key=None):
    """urllib, as the client scripts use it: (status, body text)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"X-Request-ID": key} if key else {})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status, answer.read().decode()


def id_by_splitting(body):
    """How several published clients read the id out of /home."""
    return body.split(": ")[1].split('"')[0]


def rep(port):
    return json.loads(get(port, "/rep")[1])["message"]


class TextParsingClients(unittest.TestCase):
    def test_splitting_home_on_colon_space_gets_the_id(self):
        with Lbd() as lbd:
            seen = set()
            for _ in range(200):
                status, body = get(lbd.port, "/home", new_key())
                self.assertEqual(status, 200)
                self.assertTrue(body.endswith("}\n"), body)
                seen.add(id_by_splitting(body))
            self.assertEqual(seen, {"1", "2", "3"})
            # The exact bytes a Flask solution sends.
            status, body = get(lbd.port, "/rep")
            self.assertEqual(body, '{"message":{"N":3,"replicas":["Server1","Server2","Server3"]},'
                                   '"status":"successful"}\n')

    def test_replica_id_name_matches_home_answers_to_rep_names(self):
        with Lbd("--replica-id", "name") as lbd:
            self.assertEqual(json.loads(get(lbd.port, "/rep")[1])["status"], "successful")
            added = urllib.request.Request(f"http://127.0.0.1:{lbd.port}/add", method="POST",
                                           data=b'{"n": 1, "hostnames": ["S5"]}')
            with urllib.request.urlopen(added, timeout=20) as answer:
                self.assertEqual(answer.status, 200)
            names = set(rep(lbd.port)["replicas"])
            self.assertEqual(names, {"Server1", "Server2", "Server3", "S5"})
            seen = {id_by_splitting(get(lbd.port, "/home", new_key())[1]) for _ in range(300)}
            self.assertEqual(seen, names)


class FailureRecoveryClients(unittest.TestCase):
    """Kill a replica, then poll /rep every 50 ms as the published failure-recovery scripts
    do, with replicas that take 300 ms to start."""

    def setUp(self):
        self.slow = SlowStartReplicaBin()
        self.replica_bin = self.slow.__enter__()

    def tearDown(self):
        self.slow.__exit__()

    def kill_and_poll(self, lbd, predicate_gone, predicate_back):
        pids = lbd.replica_pids()
        victim_id = "2"
        os.kill(pids[victim_id], signal.SIGKILL)
        killed = time.monotonic()
        gone_after = back_after = None
        while time.monotonic() - killed < 5 and back_after is None:
            current = rep(lbd.port)
            if gone_after is None and predicate_gone(current):
                gone_after = time.monotonic() - killed
            if gone_after is not None and predicate_back(current):
                back_after = time.monotonic() - killed
            time.sleep(0.05)
        return gone_after, back_after

    def test_respawn_name_new_the_dead_name_vanishes_and_n_comes_back(self):
        with Lbd("--respawn-name", "new", "--replica-bin", self.replica_bin) as lbd:
            self.assertEqual(rep(lbd.port)["N"], 3)
            gone, back = self.kill_and_poll(
                lbd, lambda r: "Server2" not in r["replicas"],
                lambda r: "Server2" not in r["replicas"] and r["N"] == 3)
            self.assertIsNotNone(gone, "Server2 never left /rep")
            self.assertIsNotNone(back, "N never came back to 3")
            report(f"--respawn-name new: Server2 left /rep {gone * 1000:.0f} ms after the kill, "
                   f"N was 3 again after {back * 1000:.0f} ms")
            self.assertLess(back, 2.0)
            final = rep(lbd.port)
            self.assertEqual(final["N"], 3)
            self.assertEqual(final["replicas"][:1], ["Server1"])
            self.assertNotIn("Server2", final["replicas"])
            # The newcomer has a new name and serves.
            newcomer = (set(final["replicas"]) - {"Server1", "Server3"}).pop()
            self.assertTrue(wait_until(lambda: any(
                json.loads(get(lbd.port, "/home", new_key())[1])["status"] == "successful"
                for _ in range(30)), 2))
            self.assertRegex(newcomer, r"^Server\d+$")

    def test_respawn_name_same_the_name_leaves_and_comes_back(self):
        with Lbd("--replica-bin", self.replica_bin) as lbd:
            gone, back = self.kill_and_poll(
                lbd, lambda r: "Server2" not in r["replicas"] and r["N"] == 2,
                lambda r: "Server2" in r["replicas"] and r["N"] == 3)
            self.assertIsNotNone(gone, "Server2 never left /rep")
            self.assertIsNotNone(back, "Server2 never came back")
            report(f"--respawn-name same: Server2 left /rep {gone * 1000:.0f} ms after the kill, "
                   f"was back after {back * 1000:.0f} ms")
            self.assertLess(back, 2.0)
            self.assertEqual(rep(lbd.port), {"N": 3, "replicas": ["Server1", "Server2", "Server3"]})


if __name__ == "__main__":
    unittest.main(verbosity=2)
