"""End-to-end on a real multi-node Docker Swarm: stack.yaml deployed on the lab swarm that
scripts/swarm-up builds (dockerd processes in network namespaces, 3 managers), 2 balancers
(--backend swarm) on nodes 1 and 2, 3 replicas spread over the 3 nodes. Checks every
endpoint through both balancers, that they route keys alike, that an /add or /rm on one is
seen by the other, and failures under load: a replica's container killed, a node cut off
and healed, a balancer killed, a whole node killed. Each measured figure is printed as a
`FIGURE name: value` line.

Skipped (exit code 77, which meson reports as SKIP) when no lab swarm answers:
scripts/swarm-e2e builds one, runs this suite and tears it down."""

import json
import os
import random
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import LoadLoop, new_key, request, server_of, wait_until  # noqa: E402

STACK = "lbde2e"
INSTANCE = "e2eswarm"
TOKEN = "e2e-swarm-token"
PORT = 5000
NODES_FILE = os.environ.get("SWARM_NODES_FILE", os.path.join(ROOT, "build-swarm", "nodes"))


class Node:
    def __init__(self, name, address, socket_path, role):
        self.name, self.address, self.socket, self.role = name, address, socket_path, role

    def docker(self, *args, check=True, timeout=120):
        return subprocess.run(["docker", "-H", f"unix://{self.socket}", *args], check=check,
                              capture_output=True, text=True, timeout=timeout)

    def alive(self):
        try:
            return self.docker("version", "--format", "{{.Server.Version}}", check=False,
                               timeout=5).returncode == 0
        except subprocess.TimeoutExpired:
            return False


def read_nodes():
    """`node NAME ADDRESS SOCKET ROLE` lines written by scripts/swarm-up."""
    try:
        with open(NODES_FILE) as lines:
            return [Node(*line.split()[1:5]) for line in lines if line.startswith("node ")]
    except OSError:
        return []


def figure(name, value):
    print(f"FIGURE {name}: {value}", flush=True)


class Balancer:
    def __init__(self, node):
        self.node = node
        self.host = node.address

    def api(self, method, path, payload=None, timeout=10.0):
        body = b"" if payload is None else json.dumps(payload).encode()
        headers = {"Authorization": f"Bearer {TOKEN}"} if method != "GET" else None
        return request(PORT, method, path, headers=headers, body=body, host=self.host,
                       timeout=timeout)

    def rep(self):
        try:
            r = self.api("GET", "/rep", timeout=3)
        except OSError:
            return None
        return sorted(r.json()["message"]["replicas"]) if r.status == 200 else None

    def server_for(self, key):
        return server_of(request(PORT, "GET", "/home", headers={"X-Request-ID": key},
                                 host=self.host, timeout=5))


class Swarm(unittest.TestCase):
    nodes = []

    @classmethod
    def setUpClass(cls):
        cls.nodes = read_nodes()
        cls.manager = cls.nodes[0]
        cls.cleanup()
        for node in cls.nodes[:2]:
            cls.manager.docker("node", "update", "--label-add", "lbd.balancer=true", node.name)
        for node in cls.nodes[2:]:
            cls.manager.docker("node", "update", "--label-rm", "lbd.balancer", node.name,
                               check=False)
        env = dict(os.environ, LB_ADMIN_TOKEN=TOKEN, LBD_INSTANCE=INSTANCE, LBD_PORT=str(PORT),
                   LBD_DOCKER_SOCKET="/run/lbsw/self/docker.sock")
        started = time.monotonic()
        subprocess.run(["docker", "-H", f"unix://{cls.manager.socket}", "stack", "deploy",
                        "--resolve-image", "never", "-c", os.path.join(ROOT, "stack.yaml"),
                        STACK], check=True, capture_output=True, text=True, env=env,
                       timeout=120)
        cls.balancers = [Balancer(node) for node in cls.nodes[:2]]
        ready = wait_until(lambda: all(b.rep() == ["Server1", "Server2", "Server3"]
                                       for b in cls.balancers), timeout=180, interval=0.5)
        if not ready:
            logs = cls.manager.docker("service", "logs", "--tail", "40", f"{STACK}_lbd",
                                      check=False)
            raise AssertionError(f"the balancers did not serve 3 replicas within 180 s:\n"
                                 f"{logs.stdout}{logs.stderr}")
        figure("stack_deploy_to_serving_s", f"{time.monotonic() - started:.1f}")
        cls.spread_replicas()

    @classmethod
    def spread_replicas(cls):
        """Swarm puts a new task on the node with the fewest tasks, balancers' included, and
        ties fall either way: 3 one-task services can land on 2 nodes. The operator's move
        (`docker service update --force`) puts one on the emptier node; the suite needs one
        replica per node."""
        names = ["Server1", "Server2", "Server3"]
        nodes = {name: cls.task_node(name) for name in names}
        figure("replica_nodes_at_deploy", len(set(nodes.values())))
        for _ in range(4):
            if len(set(nodes.values())) == len(cls.nodes):
                return
            crowded = next(name for name in names
                           if list(nodes.values()).count(nodes[name]) > 1)
            cls.manager.docker("service", "update", "--force", "--detach", crowded, timeout=60)
            wait_until(lambda: cls.task_node(crowded) not in (None, nodes[crowded]),
                       timeout=20, interval=0.2)
            # The balancers see the old task stop within a poll, then probe the new one.
            time.sleep(2.0)
            wait_until(lambda: all(b.rep() == names for b in cls.balancers), timeout=20,
                       interval=0.1)
            nodes = {name: cls.task_node(name) for name in names}

    @classmethod
    def tearDownClass(cls):
        if cls.nodes:
            # The balancers' logs, for whoever reads a failure (scripts/swarm-e2e keeps them).
            logs = cls.manager.docker("service", "logs", "--timestamps", f"{STACK}_lbd",
                                      check=False)
            with open(os.path.join(os.path.dirname(NODES_FILE), "lbd.log"), "w") as out:
                out.write(logs.stdout + logs.stderr)
            cls.cleanup()

    @classmethod
    def cleanup(cls):
        """The stack and the replica services of this suite's instance, gone: the balancers
        first (so that none makes a replica again), then the replicas."""
        def running(label):
            return [node for node in cls.nodes if node.alive() and node.docker(
                "ps", "-q", "--filter", f"label={label}", check=False).stdout.split()]

        cls.manager.docker("stack", "rm", STACK, check=False)
        wait_until(lambda: not running(f"com.docker.stack.namespace={STACK}"), timeout=40,
                   interval=0.5)
        listed = cls.manager.docker("service", "ls", "-q", "--filter",
                                    f"label=lbd.instance={INSTANCE}", check=False).stdout.split()
        if listed:
            cls.manager.docker("service", "rm", *listed, check=False)
        wait_until(lambda: not running(f"lbd.instance={INSTANCE}"), timeout=40, interval=0.5)

    # --- helpers ---

    @classmethod
    def task_node(cls, service):
        """The node name of the service's running task, or None."""
        out = cls.manager.docker("service", "ps", service, "--filter", "desired-state=running",
                                  "--format", "{{.Node}} {{.CurrentState}}", check=False).stdout
        for line in out.splitlines():
            node, state = line.split(" ", 1)
            if state.startswith("Running"):
                return node
        return None

    def node_named(self, name):
        return next(node for node in self.nodes if node.name == name)

    def agreement(self, keys):
        """The share of keys both balancers send to the same replica, and the servers seen,
        once both serve the same replicas. (/rep answers from the control thread; the
        workers route by the new table a few milliseconds later: half a second is ample.)"""
        self.assertTrue(wait_until(lambda: self.balancers[0].rep() == self.balancers[1].rep()
                                   is not None, timeout=15, interval=0.05))
        time.sleep(0.5)
        same = 0
        servers = set()
        for key in keys:
            a, b = (balancer.server_for(key) for balancer in self.balancers)
            same += a is not None and a == b
            servers.add(a)
        return same / len(keys), servers

    def load(self, balancers, seconds, threads=3):
        loops = [LoadLoop(PORT, threads=threads, duration=seconds, host=b.host, seed=i + 1)
                 for i, b in enumerate(balancers)]
        for loop in loops:
            loop.start()
        return loops

    @staticmethod
    def failures(loops):
        done = [loop.join() for loop in loops]
        total = sum(len(loop.all()) for loop in done)
        failed = [r for loop in done for r in loop.all() if r[1] != 200]
        return total, failed

    def wait_serving(self, names, timeout):
        return wait_until(lambda: all(set(names) <= set(b.rep() or []) for b in self.balancers),
                          timeout=timeout, interval=0.05)

    def replica_on(self, node):
        """A replica whose task runs on `node`, or None."""
        for name in self.balancers[0].rep() or []:
            if self.task_node(name) == node.name:
                return name
        return None

    # --- the checks, in order ---

    def test_1_every_endpoint_through_both_balancers(self):
        spread = {self.task_node(name) for name in ("Server1", "Server2", "Server3")}
        figure("replica_nodes", len(spread))
        self.assertEqual(len(spread), 3, "3 replicas spread over the 3 nodes")
        for balancer in self.balancers:
            with self.subTest(balancer=balancer.host):
                self.assertEqual(balancer.rep(), ["Server1", "Server2", "Server3"])
                home = request(PORT, "GET", "/home", host=balancer.host)
                self.assertEqual(home.status, 200)
                self.assertIsNotNone(server_of(home))
                self.assertEqual(request(PORT, "GET", "/heartbeat", host=balancer.host).status,
                                 200)
                missing = request(PORT, "GET", "/no-such-path", host=balancer.host)
                self.assertEqual(missing.status, 400)  # the assignment's answer
                self.assertIn("does not exist in server replicas", missing.body.decode())
                # /add and /rm need the token here: the port is open to the network.
                refused = request(PORT, "POST", "/add", body=b'{"n": 1}', host=balancer.host)
                self.assertEqual(refused.status, 401)
                bad = balancer.api("POST", "/add", {"n": 1, "hostnames": ["bad name!"]})
                self.assertEqual(bad.status, 400)
                self.assertIn("not a valid name", bad.body.decode())
        # An /add and an /rm through each of them.
        for i, balancer in enumerate(self.balancers):
            name = f"Extra{i + 1}"
            added = balancer.api("POST", "/add", {"n": 1, "hostnames": [name]}, timeout=90)
            self.assertEqual(added.status, 200, added.body)
            self.assertIn(name, added.json()["message"]["replicas"])
            self.assertTrue(self.wait_serving([name], 10), f"{name} not seen by both")
            removed = balancer.api("DELETE", "/rm", {"n": 1, "hostnames": [name]}, timeout=60)
            self.assertEqual(removed.status, 200, removed.body)
            self.assertTrue(wait_until(lambda: all(name not in (b.rep() or [name])
                                                   for b in self.balancers), timeout=10))

    def test_2_both_balancers_route_1000_keys_alike_before_and_after_an_add(self):
        rnd = random.Random(7)
        keys = [new_key(rnd) for _ in range(1000)]
        share, servers = self.agreement(keys)
        figure("keys_agreeing_before_add", f"{share:.3f} of 1000 over {len(servers)} replicas")
        self.assertEqual(share, 1.0)
        self.assertEqual(len(servers), 3)
        added = self.balancers[0].api("POST", "/add", {"n": 1, "hostnames": ["Server4"]},
                                      timeout=90)
        self.assertEqual(added.status, 200, added.body)
        answered = time.monotonic()
        self.assertTrue(wait_until(lambda: "Server4" in (self.balancers[1].rep() or []),
                                   timeout=10, interval=0.02), "the other balancer missed it")
        figure("add_on_one_seen_by_other_s", f"{time.monotonic() - answered:.3f}")
        share, servers = self.agreement(keys)
        figure("keys_agreeing_after_add", f"{share:.3f} of 1000 over {len(servers)} replicas")
        self.assertEqual(share, 1.0)
        self.assertEqual(len(servers), 4)
        removed = self.balancers[1].api("DELETE", "/rm", {"n": 1, "hostnames": ["Server4"]},
                                        timeout=60)
        self.assertEqual(removed.status, 200, removed.body)
        answered = time.monotonic()
        self.assertTrue(wait_until(lambda: "Server4" not in (self.balancers[0].rep() or ["?"]),
                                   timeout=10, interval=0.02))
        figure("rm_on_one_seen_by_other_s", f"{time.monotonic() - answered:.3f}")
        self.assertEqual(self.agreement(keys)[0], 1.0)

    def test_3_one_name_added_on_both_at_once_one_gets_409(self):
        statuses = {}
        barrier = threading.Barrier(2)

        def add(balancer):
            barrier.wait()
            statuses[balancer.host] = balancer.api("POST", "/add",
                                                   {"n": 1, "hostnames": ["Twin"]}, timeout=90)

        threads = [threading.Thread(target=add, args=(b,)) for b in self.balancers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        codes = sorted(answer.status for answer in statuses.values())
        figure("same_name_add_on_both_statuses", codes)
        self.assertEqual(codes, [200, 409], [a.body for a in statuses.values()])
        self.assertTrue(self.wait_serving(["Twin"], 10))
        self.assertEqual(self.balancers[0].rep(), self.balancers[1].rep())
        removed = self.balancers[0].api("DELETE", "/rm", {"n": 1, "hostnames": ["Twin"]},
                                        timeout=60)
        self.assertEqual(removed.status, 200, removed.body)
        self.assertTrue(wait_until(lambda: self.balancers[0].rep() == self.balancers[1].rep()
                                   == ["Server1", "Server2", "Server3"], timeout=10))

    def test_4_a_killed_replica_container_is_restarted_by_swarm_without_failed_gets(self):
        node = self.node_named(self.task_node("Server2"))
        container = node.docker("ps", "-q", "--filter",
                                "label=com.docker.swarm.service.name=Server2").stdout.split()[0]
        loops = self.load(self.balancers, 8)
        time.sleep(1.5)
        killed = time.monotonic()
        node.docker("kill", container)
        out = wait_until(lambda: any("Server2" not in (b.rep() or []) for b in self.balancers),
                         timeout=5, interval=0.02)
        back = self.wait_serving(["Server2"], 30)
        figure("replica_kill_back_serving_s", f"{time.monotonic() - killed:.2f}")
        total, failed = self.failures(loops)
        figure("replica_kill_failed_gets", f"{len(failed)} of {total}")
        self.assertTrue(out, "the killed replica was never taken out")
        self.assertTrue(back, "Swarm's new task never served")
        self.assertEqual(failed, [])

    def test_5_a_partitioned_node_is_healed(self):
        node = self.nodes[2]
        victim = self.replica_on(node)
        self.assertIsNotNone(victim, "a replica runs on the node to cut off")
        loops = self.load(self.balancers, 20)
        time.sleep(1.0)
        cut = time.monotonic()
        partition(node, True)
        try:
            moved = wait_until(lambda: self.task_node(victim) not in (None, node.name),
                               timeout=30, interval=0.2)
            served = self.wait_serving([victim], 20)
            figure("partition_replica_serving_again_s", f"{time.monotonic() - cut:.2f}")
            self.assertTrue(moved, f"{victim} was not rescheduled off the cut-off node")
            self.assertTrue(served)
        finally:
            partition(node, False)
        healed = wait_until(lambda: self.node_state(node) == "ready", timeout=60, interval=0.5)
        figure("partition_node_ready_again_s", f"{time.monotonic() - cut:.2f}")
        total, failed = self.failures(loops)
        # A request in flight to the cut-off replica can only time out: one per client at most.
        figure("partition_failed_gets", f"{len(failed)} of {total}")
        self.assertTrue(healed)
        self.assertLessEqual(len(failed), 6, failed[:10])
        # Health is each balancer's own: one that lost heartbeats to a replica during the cut
        # keeps it out of picking until a heartbeat passes again, so the two agree
        # again a moment after the heal, not at once.
        rnd = random.Random(11)
        keys = [new_key(rnd) for _ in range(300)]
        healed_at = time.monotonic()
        agreed = wait_until(lambda: self.agreement(keys)[0] == 1.0, timeout=20, interval=0.5)
        figure("partition_agreeing_again_after_ready_s", f"{time.monotonic() - healed_at:.2f}")
        self.assertTrue(agreed, f"after the heal the balancers agree on "
                                f"{self.agreement(keys)[0]:.3f} of the keys")

    def test_6_one_balancer_killed_while_clients_use_the_other(self):
        survivor, victim = self.balancers
        container = victim.node.docker("ps", "-q", "--filter",
                                       f"label=com.docker.swarm.service.name={STACK}_lbd"
                                       ).stdout.split()[0]
        loops = self.load([survivor], 8, threads=6)
        time.sleep(1.0)
        killed = time.monotonic()
        victim.node.docker("kill", container)
        total, failed = self.failures(loops)
        figure("balancer_kill_failed_gets_on_the_other", f"{len(failed)} of {total}")
        self.assertEqual(failed, [])
        back = wait_until(lambda: victim.rep() == survivor.rep(), timeout=60, interval=0.2)
        figure("balancer_restarted_and_agreeing_s", f"{time.monotonic() - killed:.1f}")
        self.assertTrue(back)
        rnd = random.Random(13)
        keys = [new_key(rnd) for _ in range(300)]
        self.assertEqual(self.agreement(keys)[0], 1.0)

    def test_7_a_whole_node_killed_under_load(self):
        node = self.nodes[2]
        on_node = [name for name in self.balancers[0].rep() if self.task_node(name) == node.name]
        if not on_node:
            # The partition moved its replica away: an operator's rebalance moves one back
            # (Swarm places a new task on the node with the fewest).
            name = self.balancers[0].rep()[0]
            self.manager.docker("service", "update", "--force", "--detach", name, timeout=60)
            wait_until(lambda: self.task_node(name) == node.name, timeout=30, interval=0.2)
            self.assertTrue(self.wait_serving([name], 15))
            on_node = [name] if self.task_node(name) == node.name else []
        self.assertTrue(on_node, "a replica runs on the node to kill")
        loops = self.load(self.balancers, 15)
        time.sleep(1.0)
        killed = time.monotonic()
        kill_node(node)
        gone = wait_until(lambda: any(set(on_node) - set(b.rep() or []) for b in self.balancers),
                          timeout=10, interval=0.02)
        back = wait_until(lambda: all(self.task_node(n) not in (None, node.name) for n in on_node)
                          and self.wait_serving(on_node, 0.01), timeout=30, interval=0.05)
        elapsed = time.monotonic() - killed
        figure("node_kill_every_replica_serving_again_s", f"{elapsed:.2f}")
        total, failed = self.failures(loops)
        figure("node_kill_failed_gets", f"{len(failed)} of {total}")
        self.assertTrue(gone, "the dead node's replicas were never taken out")
        self.assertTrue(back)
        self.assertLessEqual(elapsed, 10.0)
        self.assertEqual(failed, [])

    def node_state(self, node):
        return self.manager.docker("node", "inspect", "--format", "{{.Status.State}}",
                                   node.name, check=False).stdout.strip()


def partition(node, cut):
    """Cuts the node's only link (or restores it): nothing in or out, processes untouched."""
    subprocess.run(["nsenter", f"--net=/run/netns/{node.name}", "ip", "link", "set", "eth0",
                    "down" if cut else "up"], check=True, timeout=10)


def kill_node(node):
    """SIGKILL to everything of the node: its dockerd, containerd, shims and containers."""
    subprocess.run([os.path.join(ROOT, "scripts", "swarm-down"), "--kill-node", node.name],
                   check=True, timeout=60)


if __name__ == "__main__":
    if not read_nodes() or not all(node.alive() for node in read_nodes()):
        print(f"no lab swarm answers ({NODES_FILE}): run scripts/swarm-e2e", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
