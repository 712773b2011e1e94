"""WebSocket through lbd: the upgrade goes to the replica the key picks, then the two
connections are joined byte for byte. lb-replica's /ws is an RFC 6455 echo; the client is
tests/integration/websocket_client.py.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
         python3 tests/integration/websocket_test.py -v
"""

import json
import os
import re
import resource
import signal
import socket
import struct
import time
import unittest

from harness import Lbd, build, new_key, report, request, wait_until, Reader
from websocket_client import BINARY, CLOSE, PING, PONG, TEXT, Closed, WebSocket


def stats(lbd):
    return request(lbd.admin_port, "GET", "/stats").json()["message"]


def home_id(lbd, key):
    body = request(lbd.port, "GET", "/home", headers={"X-Request-ID": key}).body.decode()
    return body.split(": ")[1].split('"')[0]


class Echo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lbd = Lbd()

    @classmethod
    def tearDownClass(cls):
        cls.lbd.close()

    def test_messages_both_ways(self):
        ws = WebSocket(self.lbd.port, headers={"X-Request-ID": "chat-room-7"})
        try:
            self.assertEqual(ws.status, 101)
            self.assertEqual(ws.headers["upgrade"].lower(), "websocket")
            self.assertIn(ws.headers["x-server-id"], {"1", "2", "3"})
            ws.send_text("hello")
            self.assertEqual(ws.receive(), (True, TEXT, b"hello"))
            big = os.urandom(70_000)
            ws.send(BINARY, big)
            self.assertEqual(ws.receive(), (True, BINARY, big))
            # A fragmented message comes back fragmented alike.
            ws.send(TEXT, b"frag", fin=False)
            ws.send(0, b"ment")
            self.assertEqual(ws.receive(), (False, TEXT, b"frag"))
            self.assertEqual(ws.receive(), (True, 0, b"ment"))
            ws.send(PING, b"are you there")
            self.assertEqual(ws.receive(), (True, PONG, b"are you there"))
            ws.send(CLOSE, struct.pack("!H", 1000))
            self.assertEqual(ws.receive(), (True, CLOSE, struct.pack("!H", 1000)))
            with self.assertRaises(Closed):
                ws.receive()
        finally:
            ws.sock.close()

    def test_the_same_key_reaches_the_same_replica_for_tunnels_and_requests(self):
        for _ in range(30):
            key = new_key()
            ws = WebSocket(self.lbd.port, headers={"X-Request-ID": key})
            try:
                self.assertEqual(ws.headers["x-server-id"], home_id(self.lbd, key), key)
            finally:
                ws.close()

    def test_an_upgrade_the_replica_does_not_take_is_an_ordinary_answer(self):
        # lb-replica ignores Upgrade on /home: its 200 goes back and the connection closes.
        with socket.create_connection(("127.0.0.1", self.lbd.port), timeout=5) as sock:
            sock.sendall(build("GET", "/home", {"Connection": "Upgrade", "Upgrade": "h2c"}))
            reader = Reader(sock)
            answer = reader.response()
            self.assertEqual(answer.status, 200)
            self.assertTrue(reader.closed())
        # /ws without a WebSocket handshake: the replica's 400.
        r = request(self.lbd.port, "GET", "/ws")
        self.assertEqual(r.status, 400)
        self.assertIn("WebSocket handshake", r.json()["message"])


class TunnelEnds(unittest.TestCase):
    def test_a_replica_killed_mid_tunnel_closes_the_client(self):
        with Lbd() as lbd:
            ws = WebSocket(lbd.port, headers={"X-Request-ID": "k1"})
            ws.send_text("before")
            self.assertEqual(ws.receive()[2], b"before")
            pid = lbd.replica_pids()[ws.headers["x-server-id"]]
            os.kill(pid, signal.SIGKILL)
            started = time.monotonic()
            with self.assertRaises((Closed, ConnectionResetError)):
                while True:
                    ws.receive()
            self.assertLess(time.monotonic() - started, 2.0)
            ws.sock.close()
            self.assertTrue(wait_until(lambda: stats(lbd)["connections"]["tunnels"] == 0, 3))

    def test_a_quiet_tunnel_closes_after_the_idle_timeout_a_busy_one_does_not(self):
        with Lbd("--tunnel-idle-timeout-ms", "400") as lbd:
            quiet = WebSocket(lbd.port, headers={"X-Request-ID": "quiet"})
            busy = WebSocket(lbd.port, headers={"X-Request-ID": "busy"})
            opened = time.monotonic()
            for i in range(12):  # 1.2 s of messages every 100 ms
                busy.send_text(f"m{i}")
                self.assertEqual(busy.receive()[2], f"m{i}".encode())
                time.sleep(0.1)
            with self.assertRaises(Closed):
                quiet.receive()
            self.assertLess(time.monotonic() - opened, 2.0)
            busy.close()
            quiet.sock.close()

    def test_tunnels_to_a_removed_replica_close_after_the_drain_timeout(self):
        with Lbd("--drain-timeout-ms", "500") as lbd:
            ws = WebSocket(lbd.port, headers={"X-Request-ID": "leaving"})
            name = f"Server{ws.headers['x-server-id']}"
            r = lbd.api("DELETE", "/rm", {"n": 1, "hostnames": [name]})
            self.assertEqual(r.status, 200, r.body)
            removed = time.monotonic()
            # Within the drain time the tunnel still carries messages...
            ws.send_text("still here")
            self.assertEqual(ws.receive()[2], b"still here")
            # ... then it ends.
            with self.assertRaises((Closed, ConnectionResetError)):
                while True:
                    ws.receive()
            self.assertGreater(time.monotonic() - removed, 0.4)
            self.assertLess(time.monotonic() - removed, 3.0)
            ws.sock.close()


class ManyTunnels(unittest.TestCase):
    def test_a_thousand_open_tunnels(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        count = 1000
        with Lbd() as lbd:
            sockets = []
            try:
                started = time.monotonic()
                for i in range(count):
                    sockets.append(WebSocket(lbd.port, headers={"X-Request-ID": f"t{i}"}))
                opened = time.monotonic() - started
                self.assertTrue(all(ws.status == 101 for ws in sockets))
                for i, ws in enumerate(sockets):
                    ws.send_text(f"n{i}")
                for i, ws in enumerate(sockets):
                    self.assertEqual(ws.receive()[2], f"n{i}".encode())
                figures = stats(lbd)
                self.assertEqual(figures["connections"]["tunnels"], count)
                self.assertEqual(sum(r["tunnels"] for r in figures["replicas"]), count)
                metrics = request(lbd.admin_port, "GET", "/metrics").body.decode()
                gauges = re.findall(r'^lbd_tunnels\{replica="[^"]+"\} (\d+)$', metrics, re.M)
                self.assertEqual(sum(int(g) for g in gauges), count)
                report(f"{count} WebSocket tunnels through lbd opened in {opened:.2f} s, each "
                       f"echoed a message; /stats: {figures['connections']}")
            finally:
                for ws in sockets:
                    ws.close()
            self.assertTrue(wait_until(lambda: stats(lbd)["connections"]["tunnels"] == 0, 5))


if __name__ == "__main__":
    unittest.main(verbosity=2)
