"""The same experiments against the docker compose deployment (--compose)."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from .algorithms import add_references, measure
from .failure import experiment_a3
from .launch import (ALGORITHMS, DEFAULT_ALGORITHM, LOG_LINE, REPLICA_COUNTS, REPO, free_port,
                     http_call, log, parse_ts)


COMPOSE_PROJECT = "lbdanalysis"


# compose.yaml's LB_DOCKER_INSTANCE: lbd labels its replica containers lbd.instance=compose.
COMPOSE_INSTANCE = "compose"


# lbd's settings in the compose runs besides LB_HASH and LB_REPLICAS: those of the process
# runs (one worker thread, 100 ms heartbeats), so the two modes compare.
COMPOSE_SETTINGS = {"LB_THREADS": "1", "LB_HEARTBEAT_MS": "100"}


def compose_tool():
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def docker(*args, check=True, timeout=120):
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed ({done.returncode}): "
                           f"{done.stderr.strip()}")
    return done


def managed_containers(all_states=True):
    """{name: id} of the replica containers a compose lbd made (running only, or all)."""
    listing = docker("ps", *(["-a"] if all_states else []), "--filter",
                     f"label=lbd.instance={COMPOSE_INSTANCE}",
                     "--format", "{{.Names}} {{.ID}}").stdout.split()
    return dict(zip(listing[0::2], listing[1::2]))


class Compose:
    """The compose project of this run: one deployment at a time, each ended with
    `down`, and `down` again (plus any replica container it left) at the very end."""

    def __init__(self, work_dir):
        self.tool = compose_tool()
        self.work_dir = work_dir
        self.port = free_port()
        self.admin_port = free_port()
        self.env = dict(os.environ, LBD_PORT=str(self.port), LBD_ADMIN_PORT=str(self.admin_port))
        self.started = False

    def run(self, *args, override=None, check=True, timeout=900):
        files = ["-f", os.path.join(REPO, "compose.yaml")]
        if override:
            files += ["-f", override]
        # From the repository: compose.yaml's build context and seccomp profile are relative.
        done = subprocess.run(self.tool + ["-p", COMPOSE_PROJECT, *files, *args], cwd=REPO,
                              env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise RuntimeError(f"{' '.join(self.tool)} {' '.join(args)} failed "
                               f"({done.returncode}):\n{done.stdout}{done.stderr}")
        return done

    def preflight(self):
        if self.tool is None:
            sys.exit("analysis: --compose needs docker compose or docker-compose "
                     "(scripts/docker-up installs them)")
        if shutil.which("docker") is None or docker("info", check=False,
                                                    timeout=30).returncode != 0:
            sys.exit("analysis: --compose: no Docker daemon answers (scripts/docker-up starts one)")
        # What an interrupted earlier run of this script left.
        self.run("down", "--remove-orphans", check=False, timeout=120)
        # The replicas' container names (Server1..) and the network lbd-net are global: a
        # deployment of another project (docker-compose up in the checkout, the e2e suite)
        # would collide. Its containers are not this script's to remove.
        foreign = managed_containers()
        if foreign:
            sys.exit(f"analysis: --compose: containers labelled lbd.instance={COMPOSE_INSTANCE} "
                     f"exist ({', '.join(sorted(foreign))}): another lbd compose deployment "
                     "runs, or one was left behind. Stop it (docker-compose down in its "
                     "project) or remove them (docker rm -f NAME...) first.")

    def build(self):
        log("building the images (docker layer cache: quick when nothing changed)")
        started = time.monotonic()
        self.run("build", timeout=3600)
        log(f"images ready in {time.monotonic() - started:.0f} s")

    def up(self, settings, label):
        override = os.path.join(self.work_dir, f"compose-{label}.yaml")
        with open(override, "w") as out:
            out.write("services:\n  lbd:\n    environment:\n")
            for key, value in settings.items():
                out.write(f"      {key}: \"{value}\"\n")
        self.started = True
        self.run("up", "-d", "--no-build", override=override, timeout=300)
        return self.run("ps", "-q", "lbd").stdout.strip()

    def down(self):
        # lbd removes its replica containers on SIGTERM; compose then removes the network.
        return self.run("down", "--remove-orphans", check=False, timeout=180)

    def teardown(self):
        if not self.started:
            return
        done = self.down()
        if done.returncode != 0:
            log(f"compose down failed ({done.returncode}): {done.stderr.strip()}")
        # preflight() made sure none existed before: whatever is left, this run made.
        left = managed_containers()
        if left:
            log(f"removing replica containers lbd left behind: {', '.join(sorted(left))}")
            docker("rm", "-f", *left.values(), check=False)
            docker("network", "rm", "lbd-net", check=False)
            self.down()


class ComposeLbd:
    """One fresh compose deployment (down, up with these settings), as a context manager
    that always ends with `down`. The same calls as Lbd for the experiments."""

    # A new container takes lbd about 1.5 s: the load runs long enough to show it back.
    a3_seconds = (6.0, 4.5)
    victim_how = "its container, with `docker kill`"

    def __init__(self, compose, replicas, algorithm, label, settings=None):
        self.compose = compose
        self.replicas = replicas
        self.algorithm = algorithm
        self.label = label
        self.settings = settings or {}
        self.container = None

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.compose.port}"

    def __enter__(self):
        self.compose.down()
        log(f"compose up: {self.label} (LB_HASH={self.algorithm}, LB_REPLICAS={self.replicas})")
        try:
            self.container = self.compose.up(
                {"LB_HASH": self.algorithm, "LB_REPLICAS": str(self.replicas),
                 **COMPOSE_SETTINGS, **self.settings}, self.label)
            self.wait_ready(timeout=90)
        except BaseException:
            self.compose.down()
            raise
        return self

    def __exit__(self, *exc):
        self.compose.down()
        return False

    def logs(self):
        done = docker("logs", self.container, check=False, timeout=60)
        return done.stdout + done.stderr  # lbd logs to stderr

    def events(self):
        out = []
        for line in self.logs().splitlines():
            match = LOG_LINE.match(line.strip())
            if match:
                fields = dict(re.findall(r'(\w+)=("[^"]*"|\S+)', match.group(3)))
                out.append((parse_ts(match.group(1)), match.group(2), fields))
        return out

    def replicas_served(self):
        """N as /rep reports it through the published port, or None."""
        try:
            status, text = http_call(self.base_url, "GET", "/rep", timeout=2)
            return json.loads(text)["message"]["N"] if status == 200 else None
        except (OSError, ValueError, KeyError, TypeError):
            return None  # not listening yet (docker's proxy accepts, then resets)

    def wait_ready(self, timeout):
        names = {f"Server{i}" for i in range(1, self.replicas + 1)}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            up = {fields.get("name") for _, event, fields in events if event == "replica_up"}
            if names <= up and self.replicas_served() == self.replicas:
                return
            time.sleep(0.25)
        raise RuntimeError(f"compose lbd not ready within {timeout} s; its log ends:\n"
                           + "\n".join(self.logs().splitlines()[-20:]))

    def add_replica(self, name, timeout=60):
        """/add one replica called name, then make sure lbd has it in the ring (lbd answers
        /add once the replica is healthy and published, logging event=replica_added)."""
        asked = time.time()
        status, text = http_call(self.base_url, "POST", "/add", {"n": 1, "hostnames": [name]},
                                 timeout=timeout)
        if status != 200:
            raise RuntimeError(f"/add {name} -> {status}: {text.strip()}")
        self.replicas += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(event in ("replica_added", "replica_up") and fields.get("name") == name
                   and ts >= asked - 1 for ts, event, fields in self.events()) \
                    and self.replicas_served() == self.replicas:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not up within {timeout} s after /add")

    def pick_victim(self):
        running = managed_containers(all_states=False)
        name = "Server2" if "Server2" in running else sorted(running)[0]
        self.victim_id = running[name]
        return name

    def kill_victim(self):
        issued = time.time()
        docker("kill", self.victim_id)
        return issued

    def death_time(self, issued):
        """The daemon's own time of the victim's death, to the nanosecond (the docker CLI
        takes tens of milliseconds to start, so `issued` is early)."""
        died = docker("events", "--since", str(int(issued) - 1), "--until",
                      str(int(time.time()) + 1), "--filter", f"container={self.victim_id}",
                      "--filter", "event=die", "--format", "{{.TimeNano}}",
                      check=False).stdout.split()
        if not died:
            log("A-3: no die event from the daemon: counting from the docker kill command")
            return issued
        return int(died[0]) / 1e9


def experiment_a4_compose(args, compose):
    """A-1 and A-2 for every algorithm, one deployment each: it starts with N = 2 and grows
    to 6 by /add (Server3, Server4, ...: the names and ids a fresh start with N would give);
    A-1 is its own run at N = 3, next to A-2's."""
    results = {"a1": {}, "a2": {}}
    for algorithm in ALGORITHMS:
        with ComposeLbd(compose, REPLICA_COUNTS[0], algorithm, f"a4-{algorithm}") as lbd:
            rows = {}
            for replicas in REPLICA_COUNTS:
                while lbd.replicas < replicas:
                    lbd.add_replica(f"Server{lbd.replicas + 1}")
                if replicas == 3:
                    results["a1"][algorithm] = measure(args, lbd.base_url, algorithm, 3)
                rows[replicas] = measure(args, lbd.base_url, algorithm, replicas)
            results["a2"][algorithm] = rows
    return add_references(args, results)


def run_compose(args):
    """A-4 (whose default-algorithm rows are A-1 and A-2) and A-3 against docker compose;
    `down` at the end whatever happens, SIGTERM included."""
    compose = Compose(args.work_dir)
    compose.preflight()

    def terminated(signum, frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        compose.build()
        a4 = experiment_a4_compose(args, compose)
        a3 = experiment_a3(args, lambda: ComposeLbd(compose, 3, DEFAULT_ALGORITHM, "a3"))
        a3["new_name"] = experiment_a3(
            args, lambda: ComposeLbd(compose, 3, DEFAULT_ALGORITHM, "a3-new",
                                     {"LB_RESPAWN_NAME": "new"}), "new", endpoints=False)
        return a4, a3
    finally:
        compose.teardown()
        signal.signal(signal.SIGTERM, previous)


# ---------------------------------------------------------------- charts and files
