"""lbd --backend swarm against a fake Swarm manager (fake_swarm.py) whose tasks are real
lb-replica processes: two balancers sharing the services agree, follow each other's /add
and /rm, a stopped task takes its replica out and its replacement back, a manager that
hangs changes nothing, and shutting down leaves the services. The real swarm is the e2e
suite 'swarm' (tests/e2e/swarm_test.py); this one runs everywhere, in seconds."""

import random
import threading
import time
import unittest

from fake_swarm import FakeSwarm
from harness import Lbd, LoadLoop, new_key, report, server_of, wait_until



def balancer(fake, *args):
    return Lbd("--backend", "swarm", "--docker-socket", fake.path, "--swarm-poll-ms", "100",
               "--docker-instance", "fake", *args, threads=1)


def serving(lbd):
    return sorted(lbd.rep()["replicas"])


def agreement(a, b, keys):
    same = sum(server_of(a.home(k)) == server_of(b.home(k)) is not None for k in keys)
    return same / len(keys)


class SwarmBackend(unittest.TestCase):
    def setUp(self):
        self.fake = FakeSwarm()
        self.addCleanup(self.fake.close)

    def start(self, *args):
        lbd = balancer(self.fake, *args)
        self.addCleanup(lbd.close)
        return lbd

    def test_two_balancers_share_the_services_and_follow_each_other(self):
        a = self.start()
        b = self.start()
        # The second took the first's services over instead of making its own.
        self.assertEqual(sorted(self.fake.created), ["Server1", "Server2", "Server3"])
        self.assertEqual(serving(a), serving(b))
        keys = [new_key(random.Random(3)) for _ in range(300)]
        self.assertEqual(agreement(a, b, keys), 1.0)

        added = a.api("POST", "/add", {"n": 1, "hostnames": ["S4"]})
        self.assertEqual(added.status, 200, added.body)
        answered = time.monotonic()
        self.assertTrue(wait_until(lambda: "S4" in serving(b), timeout=5))
        report(f"swarm (fake manager, poll 100 ms): /add on one seen by the other after "
               f"{time.monotonic() - answered:.3f} s")
        self.assertEqual(agreement(a, b, keys), 1.0)

        removed = b.api("DELETE", "/rm", {"n": 1, "hostnames": ["S4"]})
        self.assertEqual(removed.status, 200, removed.body)
        answered = time.monotonic()
        # Seen from the manager, while the replica still serves its grace period: not
        # from failed heartbeats.
        seen = wait_until(lambda: "S4" not in serving(a), timeout=5)
        gone_after = time.monotonic() - answered
        if not seen or gone_after >= 1.5:
            # Seen once in CI (not explained yet): what the other balancer did meanwhile.
            print("balancer a's log:\n" + "\n".join(a.output().splitlines()[-60:]), flush=True)
        self.assertTrue(seen, "the /rm on b was not seen by a within 5 s")
        report(f"swarm (fake manager, poll 100 ms): /rm on one seen by the other after "
               f"{gone_after:.3f} s")
        self.assertLess(gone_after, 1.5)
        self.assertEqual(a.events("replica_down", "S4"), [])
        self.assertTrue(wait_until(lambda: "S4" not in self.fake.names(), timeout=5))
        self.assertEqual(agreement(a, b, keys), 1.0)

        # Created behind both balancers' backs (a third balancer): both take it.
        self.fake.create("Other", {"lbd.managed": "true", "lbd.instance": "fake",
                                   "lbd.name": "Other", "lbd.id": "40", "lbd.weight": "2"},
                         ["SERVER_ID=40"])
        self.assertTrue(wait_until(lambda: "Other" in serving(a) and "Other" in serving(b),
                                   timeout=5))
        self.assertEqual(agreement(a, b, keys), 1.0)

    def test_a_replica_removed_elsewhere_right_after_its_add_leaves(self):
        # Removed by another balancer before a poll of this one had listed it (the polls
        # during its own /add do not count): it was never reported gone and stayed a member.
        a = self.start()
        for attempt in range(3):
            name = f"Brief{attempt}"
            added = a.api("POST", "/add", {"n": 1, "hostnames": [name]})
            self.assertEqual(added.status, 200, added.body)
            self.fake.delete_service(name)
            self.assertTrue(wait_until(lambda: name not in serving(a), timeout=3),
                            f"{name} removed elsewhere is still a member")

    def test_one_name_added_on_both_at_once_one_gets_409(self):
        a = self.start()
        b = self.start()
        answers = {}
        barrier = threading.Barrier(2)

        def add(lbd, label):
            barrier.wait()
            answers[label] = lbd.api("POST", "/add", {"n": 1, "hostnames": ["Twin"]})

        threads = [threading.Thread(target=add, args=(lbd, label))
                   for lbd, label in ((a, "a"), (b, "b"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        statuses = sorted(answer.status for answer in answers.values())
        self.assertEqual(statuses, [200, 409], [answer.body for answer in answers.values()])
        loser = next(answer for answer in answers.values() if answer.status == 409)
        self.assertIn("Twin", loser.json()["message"])
        self.assertEqual(self.fake.names().count("Twin"), 1)
        self.assertTrue(wait_until(lambda: serving(a) == serving(b), timeout=5))

    def test_an_add_whose_task_never_runs_fails_clearly_and_leaves_nothing(self):
        a = self.start("--startup-timeout-ms", "1500")
        self.fake.unschedulable.add("Never")
        began = time.monotonic()
        added = a.api("POST", "/add", {"n": 1, "hostnames": ["Never"]}, timeout=10)
        self.assertLess(time.monotonic() - began, 5.0)
        self.assertEqual(added.status, 500, added.body)
        message = added.json()["message"]
        self.assertIn("no task of service 'Never' is running after 1500 ms", message)
        self.assertIn("no suitable node", message)  # the engine's own reason
        self.assertTrue(wait_until(lambda: "Never" not in self.fake.names(), timeout=3),
                        "the service it created was not removed")
        self.assertEqual(serving(a), ["Server1", "Server2", "Server3"])

    def test_an_add_whose_create_is_answered_too_late_takes_the_service_made(self):
        # The manager made the service but its answer came after lbd's 3 s call limit: the
        # /add finds the service by its name and labels and goes on, where it had answered
        # 500 and left a service that the next poll then made a member anyway.
        a = self.start()
        self.fake.late_answers["Slow"] = 4.0
        added = a.api("POST", "/add", {"n": 1, "hostnames": ["Slow"]}, timeout=20)
        self.assertEqual(added.status, 200, added.body)
        self.assertIn("Slow", added.json()["message"]["replicas"])
        self.assertEqual(self.fake.names().count("Slow"), 1)
        self.assertTrue(wait_until(lambda: server_of(a.home(new_key())) is not None, timeout=3))

    def test_a_create_answered_too_late_during_a_shutdown_leaves_no_service(self):
        a = balancer(self.fake, "--drain-timeout-ms", "500")
        self.addCleanup(a.close)
        self.fake.late_answers["Late"] = 4.0
        # The create is made but answered after lbd's 3 s limit; lbd is told to stop meanwhile.
        payload = {"n": 1, "hostnames": ["Late"]}
        adding = threading.Thread(target=lambda: a.api("POST", "/add", payload, timeout=15),
                                  daemon=True)
        adding.start()
        self.assertTrue(wait_until(lambda: "Late" in self.fake.names(), timeout=5))
        self.assertEqual(a.stop(), 0)
        self.assertEqual(self.fake.names(), ["Server1", "Server2", "Server3"])

    def test_an_add_cut_short_by_a_shutdown_leaves_no_service(self):
        # lbd stops while an /add waits: for the task to run (Pending), or for the running
        # task's first heartbeat (Silent), longer than the drain lets the request live. The
        # /add is cut (503, or its connection closed); its service goes, although shutting
        # down otherwise leaves the services to the other balancers.
        for name, knob in (("Pending", self.fake.unschedulable), ("Silent", self.fake.silent)):
            with self.subTest(name=name):
                a = balancer(self.fake, "--startup-timeout-ms", "20000",
                             "--drain-timeout-ms", "500")
                self.addCleanup(a.close)
                knob.add(name)
                answers = []

                def add():
                    try:
                        answers.append(a.api("POST", "/add", {"n": 1, "hostnames": [name]},
                                             timeout=15).status)
                    except (OSError, EOFError):
                        answers.append("closed")

                adding = threading.Thread(target=add)
                adding.start()
                self.assertTrue(wait_until(lambda: name in self.fake.names(), timeout=5))
                time.sleep(0.3)
                self.assertEqual(a.stop(), 0)
                adding.join(timeout=15)
                self.assertIn(answers, ([503], ["closed"]))
                self.assertEqual(self.fake.names(), ["Server1", "Server2", "Server3"])

    def test_a_replica_removed_while_its_task_is_awaited_loses_its_service(self):
        # /rm while the respawn waits for a task that never comes: once that wait ends, the
        # service goes too (a failed spawn leaves a shared backend's service behind).
        a = self.start("--startup-timeout-ms", "1500")
        self.fake.unschedulable.add("Server2")
        self.fake.stop_task("Server2", restart_after=0.1)
        self.assertTrue(wait_until(lambda: "Server2" not in serving(a), timeout=3))
        removed = a.api("DELETE", "/rm", {"n": 1, "hostnames": ["Server2"]})
        self.assertEqual(removed.status, 200, removed.body)
        self.assertTrue(wait_until(lambda: "Server2" not in self.fake.names(), timeout=5),
                        "the service of the removed replica is still there")
        self.assertEqual(serving(a), ["Server1", "Server3"])

    def test_a_stopped_task_leaves_picking_at_once_and_its_replacement_rejoins(self):
        a = self.start()
        loop = LoadLoop(a.port, threads=3, duration=4.0).start()
        time.sleep(1.0)
        stopped = time.monotonic()
        self.fake.stop_task("Server2", restart_after=0.5)
        out = wait_until(lambda: "Server2" not in serving(a), timeout=3, interval=0.01)
        out_after = time.monotonic() - stopped
        back = wait_until(lambda: "Server2" in serving(a), timeout=10, interval=0.02)
        report(f"swarm (fake manager): stopped task out of picking after {out_after:.3f} s, "
               f"its replacement serving after {time.monotonic() - stopped:.3f} s")
        failed = [r for r in loop.join().all() if r[1] != 200]
        self.assertTrue(out)
        self.assertTrue(back)
        self.assertEqual(failed, [])
        self.assertEqual(a.events("replica_exited", "Server2")[0][1].split("reason=")[1],
                         "task_stopped")

    def test_a_replica_that_dies_before_the_manager_notices_is_back_with_the_new_task(self):
        # Heartbeats find it dead first; the manager still lists its task as running for a
        # second: the respawn waits for another task instead of probing the dead one until
        # the start-up timeout (10 s).
        a = self.start()
        loop = LoadLoop(a.port, threads=3, duration=4.0).start()
        time.sleep(0.5)
        stopped = time.monotonic()
        self.fake.stop_task("Server1", restart_after=0.3, noticed_after=1.0)
        self.assertTrue(wait_until(lambda: "Server1" not in serving(a), timeout=3,
                                   interval=0.01))
        self.assertTrue(wait_until(lambda: "Server1" in serving(a), timeout=5, interval=0.02))
        back = time.monotonic() - stopped
        report(f"swarm (fake manager): a replica dead 1 s before its manager noticed is "
               f"serving again after {back:.3f} s")
        self.assertLess(back, 5.0)
        self.assertEqual([r for r in loop.join().all() if r[1] != 200], [])

    def test_a_hanging_manager_changes_nothing_and_is_followed_again_after(self):
        a = self.start()
        before = serving(a)
        loop = LoadLoop(a.port, threads=3, duration=6.0).start()
        self.fake.hanging.set()
        # Meanwhile another balancer adds a replica (the fake's calls hang for lbd only).
        time.sleep(0.5)
        threading.Thread(target=self.fake.create, daemon=True, args=(
            "Later", {"lbd.managed": "true", "lbd.instance": "fake", "lbd.name": "Later",
                      "lbd.id": "50"}, ["SERVER_ID=50"])).start()
        time.sleep(4.5)  # longer than a call's 3 s limit
        self.assertEqual(serving(a), before, "the last membership known")
        self.fake.hanging.clear()
        healed = time.monotonic()
        self.assertTrue(wait_until(lambda: "Later" in serving(a), timeout=10))
        report(f"swarm (fake manager): after a 5 s hang, a replica added meanwhile seen "
               f"{time.monotonic() - healed:.3f} s after the manager answered again")
        failed = [r for r in loop.join().all() if r[1] != 200]
        self.assertEqual(failed, [])
        self.assertEqual(a.events("replica_down"), [])

    def test_shutting_down_leaves_the_services_and_a_new_lbd_adopts_them(self):
        a = self.start()
        # A replica another balancer added whose task never runs: lbd waits for it, and
        # stops at once all the same.
        self.fake.create("Stuck", {"lbd.managed": "true", "lbd.instance": "fake",
                                   "lbd.name": "Stuck", "lbd.id": "60"}, start=False)
        self.assertTrue(wait_until(lambda: a.events("replica_found_elsewhere", "Stuck"), 5))
        began = time.monotonic()
        self.assertEqual(a.stop(), 0)
        report(f"swarm (fake manager): lbd stopped in {time.monotonic() - began:.3f} s while "
               f"waiting for a task")
        self.assertLess(time.monotonic() - began, 5.0)
        self.fake.delete_service("Stuck")
        self.assertEqual(self.fake.names(), ["Server1", "Server2", "Server3"])
        b = self.start()
        self.assertEqual(serving(b), ["Server1", "Server2", "Server3"])
        # Nothing made again: only the first lbd's three (and the test's own).
        self.assertEqual(sorted(self.fake.created), ["Server1", "Server2", "Server3", "Stuck"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
