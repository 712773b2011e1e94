"""The dashboard (GET / on the admin listener) in a real browser: lbd with 3 replicas under a
light load, then dashboard_check.js drives Debian's chromium through playwright-core (see
there for the steps). Also the page's own bytes and the admin listener's /add and /rm rules.

Run: LBD=build/src/cmd/lbd LB_REPLICA=build/src/cmd/lb-replica \
     NODE_PATH=build-node/node_modules python3 tests/dashboard/dashboard_test.py -v
DASHBOARD_SCREENSHOT=docs/dashboard.png keeps a screenshot of the page at the end.
"""

import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import Lbd, LoadLoop, SlowStartReplicaBin, report, request  # noqa: E402


class Dashboard(unittest.TestCase):
    def test_the_page_in_a_browser(self):
        # Replicas that take 1.5 s to start, as containers do: a replacement is out of the
        # ring for long enough that the page, which polls every 500 ms, shows it down.
        with SlowStartReplicaBin(1.5) as replica_bin, \
                Lbd("--replica-bin", replica_bin, replicas=3, threads=1) as lbd:
            load = LoadLoop(lbd.port, threads=1, duration=20.0, per_thread=100000).start()
            try:
                victim = "Server2"
                pid = lbd.replica_pids()[lbd.ids_by_name()[victim]]
                argv = ["node", os.path.join(HERE, "dashboard_check.js"),
                        f"http://127.0.0.1:{lbd.admin_port}/", victim, str(pid)]
                if os.environ.get("DASHBOARD_SCREENSHOT"):
                    argv.append(os.path.abspath(os.environ["DASHBOARD_SCREENSHOT"]))
                done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
                for line in done.stdout.splitlines():
                    report(line)
                self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
                self.assertEqual(lbd.rep()["N"], 4)
            finally:
                load.stop()

    def test_the_page_is_served_whole_from_lbd(self):
        with Lbd(replicas=1, threads=1) as lbd:
            r = request(lbd.admin_port, "GET", "/")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.headers["content-type"], "text/html; charset=utf-8")
            page = r.body.decode()
            self.assertTrue(page.startswith("<!doctype html>"))
            for path in ('"/stats"', '"/ring"', '"/add"', '"/rm"'):
                self.assertIn(path, page)
            # Nothing fetched from elsewhere: no URL with a scheme or a host of its own.
            self.assertNotIn("http://", page)
            self.assertNotIn("https://", page)
            self.assertNotIn("//cdn", page)

    def test_add_and_rm_on_the_admin_listener_follow_the_control_api(self):
        with Lbd("--admin-token", "s3cret", replicas=1, threads=1) as lbd:
            r = request(lbd.admin_port, "POST", "/add", body=b'{"n": 1}')
            self.assertEqual((r.status, r.json()["message"]),
                             (401, "<Error> Missing or wrong bearer token"))
            auth = {"Authorization": "Bearer s3cret"}
            r = request(lbd.admin_port, "POST", "/add", headers=auth, body=b"{not json")
            self.assertEqual((r.status, r.json()["message"]),
                             (400, "<Error> Payload is not valid JSON"))
            r = request(lbd.admin_port, "POST", "/add", headers=auth,
                        body=b'{"n": 1, "hostnames": ["S7"]}')
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.json()["message"]["replicas"], ["Server1", "S7"])
            r = request(lbd.admin_port, "GET", "/add")
            self.assertEqual(r.status, 405)
            r = request(lbd.admin_port, "POST", "/rm", headers=auth,
                        body=b'{"n": 1, "hostnames": ["S7"]}')
            self.assertEqual((r.status, r.json()["message"]["N"]), (200, 1))


if __name__ == "__main__":
    unittest.main(verbosity=2)
