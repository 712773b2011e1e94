"""A-3: every endpoint exercised, then a replica SIGKILLed under load: time to recovery,
failed requests, a timeline, and what a client polling /rep saw."""

import json
import os
import subprocess
import threading
import time

from .launch import http_call, lb_load, log, per_server


class RepPoller:
    """Polls /rep every 50 ms, as the failure-recovery client scripts do: (time, names)."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.seen = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self):
        while not self.stopping.is_set():
            try:
                status, text = http_call(self.base_url, "GET", "/rep", timeout=2)
                if status == 200:
                    self.seen.append((time.time(), json.loads(text)["message"]["replicas"]))
            except (OSError, ValueError):
                pass
            self.stopping.wait(0.05)

    def failure_and_recovery(self, killed, victim, replicas):
        """When /rep first showed the failure (the victim gone) and then the recovery (N back,
        with the victim's name in `same` mode): seconds since the kill, or None."""
        gone = back = None
        for moment, names in self.seen:
            if moment < killed:
                continue
            if gone is None and victim not in names:
                gone = moment
            elif gone is not None and len(names) == replicas:
                back = moment
                break
        return gone, back


def experiment_a3(args, open_lbd, respawn_name="same", endpoints=True):
    """open_lbd() gives a fresh lbd with N = 3 and the default algorithm (Lbd or ComposeLbd),
    started with --respawn-name `respawn_name`."""
    result = {"endpoints": [], "respawn_name": respawn_name}
    with open_lbd() as lbd:
        calls = [
            ("GET", "/rep", None, 200),
            ("POST", "/add", {"n": 1, "hostnames": ["S5"]}, 200),
            ("GET", "/rep", None, 200),
            ("POST", "/add", {"n": 1, "hostnames": ["S6", "S7"]}, 400),
            ("DELETE", "/rm", {"n": 1, "hostnames": ["S5"]}, 200),
            ("DELETE", "/rm", {"n": 1, "hostnames": ["S8", "S9"]}, 400),
            ("GET", "/home", None, 200),
            ("GET", "/heartbeat", None, 200),
            ("GET", "/other", None, 400),
        ]
        for method, path, body, expected in (calls if endpoints else []):
            status, text = http_call(lbd.base_url, method, path, body)
            result["endpoints"].append({"method": method, "path": path,
                                        "body": "" if body is None else json.dumps(body),
                                        "expected": expected, "status": status,
                                        "answer": text.strip()[:160]})
            log(f"A-3 {method} {path} -> {status} (expected {expected})")

        # The run lasts about 3 s (1.5 s with --quick) at the rate this lbd just showed;
        # the kill comes at a third of it, so the chart shows steady state on both sides.
        rate = lb_load(args.bin_dir, lbd.base_url + "/home", 5000)["requests_per_second"]
        duration = lbd.a3_seconds[1 if args.quick else 0]
        kill_at = duration / 3
        # A short calibration run is faster than a sustained one (and the cores are
        # shared): half again as many requests keeps the run near its intended length.
        requests = max(2000, int(rate * duration * 1.5))
        victim_name = lbd.pick_victim()
        started = time.time()
        poller = RepPoller(lbd.base_url).__enter__()
        load = subprocess.Popen(
            [os.path.join(args.bin_dir, "lb-load"), "--url", lbd.base_url + "/home",
             "--requests", str(requests), "--connections", "64", "--request-id", "random",
             "--timeline-ms", "100", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(max(0.0, started + kill_at - time.time()))
        killed = lbd.kill_victim()
        out, err = load.communicate(timeout=120)
        if load.returncode not in (0, 1):
            raise RuntimeError(f"lb-load failed ({load.returncode}): {err.strip()}")
        report = json.loads(out)

        # The respawn normally lands long before the load ends; wait for it otherwise. With
        # --respawn-name new the replacement has another name (event=replica_replaced by=).
        deadline = time.monotonic() + 10
        down = respawned = up = None
        replacement = victim_name
        while time.monotonic() < deadline:
            down = respawned = up = None
            replacement = victim_name
            for ts, event, fields in lbd.events():
                if ts < killed - 0.05:
                    continue
                name = fields.get("name")
                if event == "replica_replaced" and name == victim_name:
                    replacement = fields.get("by", victim_name)
                if name == victim_name and event == "replica_down" and down is None:
                    down = ts
                elif name == replacement and event == "replica_respawned" and respawned is None:
                    respawned = ts
                elif (name == replacement and event == "replica_up" and respawned is not None
                      and up is None):
                    up = ts
            if up is not None:
                break
            time.sleep(0.05)
        time.sleep(0.2)  # one more /rep poll or so after the recovery
        poller.__exit__()
        rep_gone, rep_back = poller.failure_and_recovery(killed, victim_name, 3)
        # The moment of death, as well as this deployment knows it (the daemon's die event
        # under compose); recovery counts from there.
        killed = lbd.death_time(killed)
        after = lb_load(args.bin_dir, lbd.base_url + "/home", 3000)

    def offset_ms(moment):
        return None if moment is None else round((moment - started) * 1000, 1)

    def since_kill_ms(moment):
        return None if moment is None else round((moment - killed) * 1000, 1)

    result.update({
        "victim": victim_name, "victim_how": lbd.victim_how, "requests": requests, "ok": report["ok"],
        "failed": report["failed"], "errors": report["errors"], "status": report["status"],
        "requests_per_second": report["requests_per_second"],
        "kill_offset_ms": offset_ms(killed), "down_offset_ms": offset_ms(down),
        "respawned_offset_ms": offset_ms(respawned), "up_offset_ms": offset_ms(up),
        "detection_ms": since_kill_ms(down), "respawn_ms": since_kill_ms(respawned),
        "recovery_ms": since_kill_ms(up), "replacement": replacement,
        "rep_failure_ms": since_kill_ms(rep_gone), "rep_recovery_ms": since_kill_ms(rep_back),
        "timeline": report["timeline"], "latency_ms": report["latency_ms"],
        "after_recovery": per_server(after, 3),
    })
    log(f"A-3 (--respawn-name {respawn_name}) killed {victim_name}: recovery "
        f"{result['recovery_ms']} ms, /rep showed it after {result['rep_failure_ms']} and "
        f"{result['rep_recovery_ms']} ms, failed {result['failed']} of {requests}")
    return result


# ---------------------------------------------------------------- docker compose (--compose)
