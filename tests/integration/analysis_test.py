"""CI check of the analysis (issue 6): bench/analysis/run --quick against the binaries
of this build, then its outputs must exist and be sane: four non-empty PNGs, a summary
that covers every experiment, A-1 counts that add up to the requests sent, traffic on
every server, and the failure experiment's recovery and failed-request figures.

Environment: LB_BIN_DIR, the directory holding lbd, lb-replica, lb-load and lb-hash.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "bench", "analysis", "run")
PNGS = ["a1_requests_per_server.png", "a2_load_per_server.png", "a3_failure_timeline.png",
        "a4_algorithms.png"]


class AnalysisQuick(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="analysis-test-")
        cls.out = cls.tmp.name
        bin_dir = os.environ.get("LB_BIN_DIR", os.path.join(REPO, "build", "src", "cmd"))
        started = time.monotonic()
        cls.run_result = subprocess.run(
            [sys.executable, RUN, "--quick", "--out", cls.out, "--bin-dir", bin_dir],
            capture_output=True, text=True, timeout=170)
        cls.seconds = time.monotonic() - started

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        if self.run_result.returncode != 0:
            self.fail(f"run exited {self.run_result.returncode}:\n{self.run_result.stderr[-3000:]}")

    def load(self, name):
        with open(os.path.join(self.out, name)) as data:
            return json.load(data)

    def test_quick_is_quick(self):
        self.assertLess(self.seconds, 60, "--quick must stay well under a minute")

    def test_charts_exist(self):
        for name in PNGS:
            path = os.path.join(self.out, name)
            self.assertTrue(os.path.isfile(path), name)
            with open(path, "rb") as image:
                self.assertEqual(image.read(8), b"\x89PNG\r\n\x1a\n", name)
            self.assertGreater(os.path.getsize(path), 5000, name)

    def test_data_files_exist(self):
        for name in ["a1_requests_per_server.csv", "a2_load_per_server.csv", "a3_timeline.csv",
                     "a3_endpoints.csv", "a4_algorithms.csv", "a4_distribution.csv",
                     "a1.json", "a2.json", "a3.json", "a4.json", "results.json"]:
            path = os.path.join(self.out, name)
            self.assertTrue(os.path.isfile(path) and os.path.getsize(path) > 0, name)

    def test_summary_covers_every_experiment(self):
        with open(os.path.join(self.out, "summary.md")) as summary:
            text = summary.read()
        for heading in ["## A-1", "## A-2", "## A-3", "## A-4"]:
            self.assertIn(heading, text)
        for name in PNGS:
            self.assertIn(f"]({name})", text)

    def test_a1_counts_add_up_and_every_server_served(self):
        a1 = self.load("a1.json")
        self.assertEqual(a1["failed"], 0)
        self.assertEqual(sum(a1["counts"].values()), a1["requests"])
        self.assertEqual(sorted(a1["counts"]), ["Server1", "Server2", "Server3"])
        for server, count in a1["counts"].items():
            self.assertGreater(count, 0, server)
        # Loose: 2,000 random keys; the full run's target is 1.05.
        self.assertLess(a1["max_over_mean"], 1.2)

    def test_a2_every_n_and_server(self):
        a2 = self.load("a2.json")
        self.assertEqual(sorted(int(n) for n in a2), [2, 3, 4, 5, 6])
        for n, row in a2.items():
            self.assertEqual(len(row["counts"]), int(n))
            self.assertEqual(sum(row["counts"].values()), row["requests"])
            self.assertTrue(all(count > 0 for count in row["counts"].values()), n)

    def test_a3_endpoints_and_recovery(self):
        a3 = self.load("a3.json")
        for call in a3["endpoints"]:
            self.assertEqual(call["status"], call["expected"], f"{call['method']} {call['path']}")
        self.assertIsNotNone(a3["recovery_ms"], "no replica_up after the respawn")
        self.assertGreaterEqual(a3["recovery_ms"], 0)
        self.assertLess(a3["recovery_ms"], 5000)
        self.assertEqual(a3["ok"] + a3["failed"], a3["requests"])
        self.assertGreater(sum(a3["timeline"]["ok"]), 0)
        self.assertTrue(all(count > 0 for count in a3["after_recovery"].values()))
        # The same kill with --respawn-name new: a new name, and /rep shows the failure (the
        # victim's name gone) and the recovery (N = 3 again) within 2 s.
        new = a3["new_name"]
        self.assertEqual(new["respawn_name"], "new")
        self.assertNotEqual(new["replacement"], new["victim"])
        self.assertIsNotNone(new["rep_failure_ms"])
        self.assertIsNotNone(new["rep_recovery_ms"])
        self.assertLess(new["rep_recovery_ms"], 2000)

    def test_a4_every_algorithm(self):
        a4 = self.load("a4.json")
        algorithms = ["spec", "ring", "ketama", "maglev", "rendezvous", "bounded"]
        self.assertEqual(sorted(a4["a1"]), sorted(algorithms))
        self.assertEqual(sorted(a4["a2"]), sorted(algorithms))
        for algorithm in algorithms:
            self.assertEqual(sum(a4["a1"][algorithm]["counts"].values()),
                             a4["a1"][algorithm]["requests"])
        self.assertIn(a4["conclusion"]["recommended"], algorithms)


if __name__ == "__main__":
    unittest.main()
