"""A fake Docker Swarm manager on a Unix socket, for lbd's --backend swarm: the Engine API
calls lbd makes (version, info, networks, services, tasks, events), with real lb-replica
processes as tasks, each on a loopback address of its own (127.0.0.101, .102, ...: lbd
reaches a replica at its task's address, port 5000). Tests make it misbehave: a task that
stops (Swarm then starts a new one elsewhere), a manager whose calls hang (a leader
election), services created behind lbd's back (another balancer)."""

import http.server
import itertools
import json
import os
import socketserver
import sys
import tempfile
import threading
import time
import urllib.parse

from harness import LB_REPLICA, Process

NETWORK = "lbd-net"


class FakeSwarm:
    """`state` and `manager`: what GET /info says of this engine's swarm membership."""

    def __init__(self, state="active", manager=True):
        self.state, self.manager = state, manager
        self.lock = threading.RLock()
        self.services = {}  # id -> {"name", "labels", "env", "created"}
        self.tasks = {}  # id -> {"service", "state", "desired", "address", "process", "created"}
        self.created = []  # names of the services POSTed, in order
        self.posts = []  # every POST's path
        self.unschedulable = set()  # names whose tasks stay pending (no node takes them)
        self.silent = set()  # names whose tasks run but answer nothing (nothing listens)
        self.hanging = threading.Event()  # set: service and task calls hang until cleared
        self.late_answers = {}  # name -> seconds: its create is made at once, answered late
        self.closing = threading.Event()
        self.ids = itertools.count(1)
        self.addresses = (f"127.0.0.{n}" for n in itertools.count(101))
        self.directory = tempfile.mkdtemp(prefix="lbtest-swarm-")
        self.path = os.path.join(self.directory, "docker.sock")
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self):
                return "unix"

            def log_message(self, *args):
                pass

            def reply(self, status, payload=None):
                body = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                owner.get(self)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                owner.post(self, json.loads(self.rfile.read(length) or b"{}"))

            def do_DELETE(self):
                owner.delete(self)

        class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # lbd gave up on a call that hung (its 3 s limit): the answer finds it gone.
                if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                    super().handle_error(request, client_address)

        self.server = Server(self.path, Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    # --- what tests do ---

    def create(self, name, labels, env=(), start=True):
        """A service and its first task, as `docker service create` makes them (no task
        with start=False: one that never gets a node, say)."""
        with self.lock:
            if any(s["name"] == name for s in self.services.values()):
                return None
            service_id = f"svc{next(self.ids)}"
            self.services[service_id] = {"name": name, "labels": dict(labels), "env": list(env),
                                         "created": self.now()}
            self.created.append(name)
        if start:
            self.start_task(service_id)
        return service_id

    def stop_task(self, name, restart_after=0.2, noticed_after=0.0):
        """The running task of `name` fails (its replica is killed); the manager lists it as
        running for `noticed_after` seconds more, then starts another after `restart_after`."""
        with self.lock:
            service_id = self.service_id(name)
            task = next(t for t in self.tasks.values()
                        if t["service"] == service_id and t["state"] == "running")

        def noticed():
            with self.lock:
                task["state"], task["desired"] = "failed", "shutdown"
            self.later(restart_after, self.start_task, service_id)

        if noticed_after == 0:
            # Listed as failed first, the replica killed a moment later: lbd hears it from
            # the manager, not from the replica.
            noticed()
            self.later(0.5, task["process"].close)
        else:
            task["process"].close()
            self.later(noticed_after, noticed)

    @staticmethod
    def later(seconds, function, *args):
        timer = threading.Timer(seconds, function, args=args)
        timer.daemon = True
        timer.start()

    def delete_service(self, name):
        with self.lock:
            self.services.pop(self.service_id(name), None)

    def service_id(self, name):
        with self.lock:
            return next((i for i, s in self.services.items() if s["name"] == name), None)

    def names(self):
        with self.lock:
            return sorted(s["name"] for s in self.services.values())

    def close(self):
        self.closing.set()
        self.hanging.clear()
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for task in self.tasks.values():
                if task["process"] is not None:
                    task["process"].close()
        os.unlink(self.path)
        os.rmdir(self.directory)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- the engine ---

    @staticmethod
    def now():
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z"

    def start_task(self, service_id):
        with self.lock:
            service = self.services.get(service_id)
            if service is None or self.closing.is_set():
                return
            address = next(self.addresses)
            env = dict(entry.split("=", 1) for entry in service["env"])
            task_id = f"task{next(self.ids)}"
            task = {"service": service_id, "state": "starting", "desired": "running",
                    "address": address, "process": None, "created": self.now(), "error": ""}
            self.tasks[task_id] = task
            if service["name"] in self.unschedulable:
                task["state"], task["error"] = "pending", "no suitable node (1 node not available)"
                return
            if service["name"] in self.silent:
                task["state"] = "running"
                return
        process = Process([LB_REPLICA, "--listen", f"{address}:5000", "--threads", "1"],
                          env={"SERVER_ID": env.get("SERVER_ID", "0")},
                          ready_pattern="listening")
        with self.lock:
            task["process"] = process
            if self.services.get(service_id) is None:
                process.close()
                task["state"] = "shutdown"
            else:
                task["state"] = "running"

    def wait_while_hanging(self):
        while self.hanging.is_set() and not self.closing.is_set():
            time.sleep(0.05)

    def get(self, request):
        url = urllib.parse.urlparse(request.path)
        path = url.path.removeprefix("/v1.41")
        filters = json.loads(urllib.parse.parse_qs(url.query).get("filters", ["{}"])[0])
        if path == "/version":
            return request.reply(200, {"ApiVersion": "1.41", "Components": [{"Name": "Engine"}]})
        if path == "/info":
            return request.reply(200, {"Swarm": {"LocalNodeState": self.state,
                                                 "ControlAvailable": self.manager}})
        if path == f"/networks/{NETWORK}":
            return request.reply(200, {"Name": NETWORK})
        if path == "/events":
            request.send_response(200)
            request.send_header("Content-Type", "application/json")
            request.send_header("Transfer-Encoding", "chunked")
            request.end_headers()
            request.wfile.flush()
            while not self.closing.wait(0.2):
                pass
            return None
        self.wait_while_hanging()
        if path == "/services":
            wanted = filters.get("label", [])
            with self.lock:
                listed = [{"ID": i, "CreatedAt": s["created"],
                           "Spec": {"Name": s["name"], "Labels": s["labels"]}}
                          for i, s in self.services.items()
                          if all(label in [f"{k}={v}" for k, v in s["labels"].items()]
                                 for label in wanted)]
            return request.reply(200, listed)
        if path == "/tasks":
            services = set(filters.get("service", []))
            desired = set(filters.get("desired-state", []))
            with self.lock:
                unknown = services - set(self.services)
                if unknown:  # as the engine answers a filter naming a removed service
                    return request.reply(404, {"message": f"service {min(unknown)} not found"})
                listed = [{"ID": i, "ServiceID": t["service"], "NodeID": "node1",
                           "CreatedAt": t["created"],
                           "Status": {"State": t["state"], "Err": t.get("error", "")},
                           "DesiredState": t["desired"],
                           "NetworksAttachments": [{"Network": {"Spec": {"Name": NETWORK}},
                                                    "Addresses": [t["address"] + "/24"]}]}
                          for i, t in self.tasks.items()
                          if (not services or t["service"] in services)
                          and (not desired or t["desired"] in desired)]
            return request.reply(200, listed)
        return request.reply(404, {"message": f"no such path {path}"})

    def post(self, request, body):
        path = urllib.parse.urlparse(request.path).path.removeprefix("/v1.41")
        self.posts.append(path)
        if path == "/networks/create":
            return request.reply(201, {"Id": "net1"})
        self.wait_while_hanging()
        if path == "/services/create":
            spec = body["TaskTemplate"]["ContainerSpec"]
            service_id = self.create(body["Name"], body.get("Labels", {}), spec.get("Env", []))
            if service_id is None:
                return request.reply(409, {"message": f"rpc error: name conflicts with an "
                                                      f"existing object: {body['Name']}"})
            # A manager in a leader election: the service exists, its answer comes late.
            self.closing.wait(self.late_answers.get(body["Name"], 0))
            return request.reply(201, {"ID": service_id})
        return request.reply(404, {"message": f"no such path {path}"})

    def delete(self, request):
        path = urllib.parse.urlparse(request.path).path.removeprefix("/v1.41")
        self.wait_while_hanging()
        if path.startswith("/services/"):
            service_id = path.removeprefix("/services/")
            with self.lock:
                if self.services.pop(service_id, None) is None:
                    return request.reply(404, {"message": "service not found"})
                stopping = []
                for task in self.tasks.values():
                    if task["service"] == service_id and task["process"] is not None:
                        stopping.append(task["process"])
                        task["state"], task["desired"] = "shutdown", "shutdown"
            request.reply(200, None)
            # As Swarm does: the answer first; the tasks get their stop signal, and serve on
            # through their grace period (here 2 s) - lbd must not wait for them to die.
            for process in stopping:
                self.later(2.0, process.close)
            return None
        return request.reply(404, {"message": f"no such path {path}"})
