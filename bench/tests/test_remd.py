"""Self-tests of the replica-exchange benchmarks (benchlib/remd.py): fake clmd campaigns and a fake
openmmtools Python stand in for the real ones."""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from benchlib import Blocked, capsule, registry, remd, report  # noqa: E402
from test_bench import Env, run_harness  # noqa: E402

FAKE_REMD = os.path.join(HERE, "fake_clmd_remd.py")
FAKE_OMT = os.path.join(HERE, "fake_openmmtools.py")


def remd_bench(name="ala2-remd-8"):
    return next(b for b in registry.benches() if b.name == name)


class RemdSpecTest(unittest.TestCase):
    def test_ladder_is_clmds_geometric_ladder(self):
        t = remd.ladder(300.0, 450.0, 8)
        self.assertEqual((t[0], t[-1], len(t)), (300.0, 450.0, 8))
        ratios = [b / a for a, b in zip(t, t[1:])]
        for r in ratios:
            self.assertAlmostEqual(r, 1.5 ** (1 / 7.0), places=12)

    def test_ns_per_day_per_replica(self):
        # 8 replicas at 4000 replica-steps/s: 500 steps/s each, 2 fs: 1 ps/s = 86.4 ns/day
        self.assertAlmostEqual(remd.ns_per_day(4000.0, 8, 0.002), 86.4)

    def test_registry_rows_and_modes(self):
        names = {b.name: b for b in registry.benches()}
        for n, k in (("ala2-remd-8", 8), ("ala2-remd-32", 32), ("protein-remd-8", 8), ("protein-remd-32", 32)):
            b = names[n]
            self.assertEqual(b.system.replicas, k)
            self.assertEqual(b.metric, "replica_steps_per_s")
            self.assertEqual(b.row_names(False),
                             [n + "/clmd", n + "/clmd-one-at-a-time", n + "/openmmtools", n + "/openmm-loop"])
            for steps in b.steps:
                self.assertTrue(steps is None or steps % b.system.exchange_interval == 0)
        # --quick: short ala2 campaigns without the openmmtools peer (its setup alone takes ~10 s)
        self.assertEqual(names["ala2-remd-32"].row_names(True), ["ala2-remd-32/clmd", "ala2-remd-32/clmd-one-at-a-time"])
        self.assertFalse(names["protein-remd-32"].in_mode(True))
        self.assertEqual(names["protein-remd-8"].particles, 697)

    def test_deck_is_a_campaign_of_whole_rounds(self):
        b = remd_bench("ala2-remd-32")
        deck = b.system.clmd_deck("t", 300, "/tmp/out")
        for want in ("temperatures: {min: 300, max: 450, count: 32}", "exchange_interval: 100", "exchanges: 3",
                     "scheme: neighbors", "method: nocutoff", "model: obc2", "constraints: hbonds", "timestep: 0.002",
                     "friction: 1", "steps: 300", "energies: null", "checkpoint: null"):
            self.assertIn(want, deck)
        with self.assertRaises(ValueError):
            b.system.clmd_deck("t", 150, "/tmp/out")
        # fidelity: one replica's plain deck
        self.assertNotIn("replica_exchange", b.system.fidelity_deck("t", "/tmp/o", "auto", "/tmp"))
        spec = b.system.openmmtools_spec()
        self.assertEqual(spec["temperatures"], remd.ladder(300.0, 450.0, 32))
        self.assertEqual((spec["dt"], spec["friction"], spec["exchange_interval"], spec["implicit"], spec["method"]),
                         (0.002, 1.0, 100, "obc2", "nocutoff"))

    def test_replica_rate_reads_the_counter_and_md_loop(self):
        pr = {"counters": {"replica_steps": 800}, "phases": [{"name": "md_loop", "total_ms": 400.0}]}
        self.assertAlmostEqual(remd.replica_rate(pr, 800), 2000.0)
        with self.assertRaises(Blocked):
            remd.replica_rate(pr, 1600)
        with self.assertRaises(Blocked) as e:
            remd.replica_rate({"counters": {}, "phases": []}, 800)
        self.assertIn("replica_steps", str(e.exception))


class RemdHarnessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clmd-bench-remd-test-")
        data = os.path.join(self.tmp, "data", "systems")
        os.makedirs(data)
        for f in ("alanine-dipeptide-implicit.prmtop", "alanine-dipeptide-implicit.inpcrd"):
            open(os.path.join(data, f), "w").close()  # the fakes do not read them
        self.data = os.path.dirname(data)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def run_rows(self, sub, args, **env):
        base = dict(CLMD_BIN=FAKE_REMD, CLMD_BENCH_DATA=self.data, CLMD_BENCH_OPENMMTOOLS_PYTHON=FAKE_OMT,
                    CLMD_BENCH_OPENMM_PYTHON=FAKE_OMT,
                    FAKE_REMD_BATCHED="4000", FAKE_REMD_ONE="1000", FAKE_OMT_SPEED="500", FAKE_OMT_MODE="ok",
                    FAKE_REMD_MODE="ok")
        base.update(env)
        with Env(**base):
            rc, out, err = run_harness(args + ["--no-fidelity", "--out", os.path.join(self.tmp, sub)])
        self.assertEqual(rc, 0, out + err)
        with open(os.path.join(self.tmp, sub, "capsule.json")) as f:
            cap = json.load(f)
        self.assertEqual(capsule.validate(cap), [])
        return cap, {r["name"]: r for r in cap["rows"]}

    def test_three_rows_with_ratios_and_ns_per_day(self):
        cap, rows = self.run_rows("a", ["--repeats", "2", "--only", "^ala2-remd-8/(clmd|clmd-one-at-a-time|openmmtools)$"])
        self.assertEqual(list(rows), ["ala2-remd-8/clmd", "ala2-remd-8/clmd-one-at-a-time", "ala2-remd-8/openmmtools"])
        c, one, omt = rows["ala2-remd-8/clmd"], rows["ala2-remd-8/clmd-one-at-a-time"], rows["ala2-remd-8/openmmtools"]
        for r, v in ((c, 4000.0), (one, 1000.0), (omt, 500.0)):
            self.assertEqual(r["status"], "ok", r["reason"])
            self.assertEqual(r["metric"], "replica_steps_per_s")
            self.assertEqual(len(r["samples"]), 2)
            self.assertAlmostEqual(r["median"], v, places=6)
            self.assertEqual((r["replicas"], r["replica_steps"]), (8, 8 * 1000))
            self.assertAlmostEqual(r["ns_per_day_per_replica"]["median"], remd.ns_per_day(v, 8, 0.002))
        self.assertAlmostEqual(c["ratios"]["ala2-remd-8/clmd-one-at-a-time"], 4.0)
        self.assertAlmostEqual(c["ratios"]["ala2-remd-8/openmmtools"], 8.0)
        self.assertIn("--replicas-per-device auto", c["command"])
        self.assertEqual(one["facts"]["replicas_per_device"], 1)
        self.assertEqual((c["engines_built"], one["engines_built"]), (1, 8))
        self.assertIn("nlist_check", one["phases"])
        self.assertEqual(cap["peers"]["openmmtools"], "openmmtools 0.0-fake, openmm 0.0-fake")
        md = report.markdown(cap, "c.json", "p.svg")
        self.assertIn("## Temperature replica exchange", md)
        self.assertIn("| ala2-remd-8 | 22 | 8 | 1000 | 4000 (4000-4000) | 1000 (1000-1000) | 500 (500-500) | 4.00 | 8.00 |", md)
        self.assertIn("| ala2-remd-8/clmd-one-at-a-time | 8 | nlist_check", md)
        # replica-exchange rows alone: no steps/s table, no plot
        self.assertNotIn("## Full MD", md)
        page, svg = report.write(cap, "c.json", os.path.join(self.tmp, "page.md"))
        self.assertIsNone(svg)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "page-steps.svg")))

    def test_openmm_loop_row_speaks_the_worker_protocol(self):
        cap, rows = self.run_rows("l", ["--repeats", "1", "--only", "^ala2-remd-8/(clmd|openmm-loop)$"],
                                  FAKE_OMT_SPEED="2000")
        self.assertEqual(list(rows), ["ala2-remd-8/clmd", "ala2-remd-8/openmm-loop"])
        loop = rows["ala2-remd-8/openmm-loop"]
        self.assertEqual(loop["status"], "ok", loop["reason"])
        self.assertAlmostEqual(loop["median"], 2000.0, places=6)
        self.assertAlmostEqual(rows["ala2-remd-8/clmd"]["ratios"]["ala2-remd-8/openmm-loop"], 2.0)
        _, rows = self.run_rows("lm", ["--repeats", "1", "--only", "^ala2-remd-8/openmm-loop$"],
                                CLMD_BENCH_OPENMM_PYTHON="/nonexistent/python3")
        self.assertEqual(rows["ala2-remd-8/openmm-loop"]["status"], "blocked")
        self.assertIn("/nonexistent/python3", rows["ala2-remd-8/openmm-loop"]["reason"])

    def test_quick_mode_leaves_out_openmmtools(self):
        _, rows = self.run_rows("q", ["--quick", "--repeats", "1", "--only", "^ala2-remd-32/"])
        self.assertEqual(list(rows), ["ala2-remd-32/clmd", "ala2-remd-32/clmd-one-at-a-time"])
        self.assertEqual(rows["ala2-remd-32/clmd"]["replica_steps"], 32 * 100)

    def test_openmmtools_missing_is_blocked_with_the_reason(self):
        _, rows = self.run_rows("m", ["--repeats", "1", "--only", "^ala2-remd-8/(clmd|openmmtools)$"],
                                CLMD_BENCH_OPENMMTOOLS_PYTHON="/nonexistent/python")
        self.assertEqual(rows["ala2-remd-8/clmd"]["status"], "ok")
        self.assertEqual(rows["ala2-remd-8/openmmtools"]["status"], "blocked")
        self.assertIn("/nonexistent/python", rows["ala2-remd-8/openmmtools"]["reason"])
        _, rows = self.run_rows("n", ["--repeats", "1", "--only", "^ala2-remd-8/openmmtools$"], FAKE_OMT_MODE="noimport")
        self.assertEqual(rows["ala2-remd-8/openmmtools"]["status"], "blocked")
        self.assertIn("No module named 'openmmtools'", rows["ala2-remd-8/openmmtools"]["reason"])

    def test_clmd_without_campaign_counter_blocks(self):
        _, rows = self.run_rows("x", ["--quick", "--repeats", "1", "--only", "^ala2-remd-8/clmd"], FAKE_REMD_MODE="nocounter")
        for r in rows.values():
            self.assertEqual(r["status"], "blocked")
            self.assertIn("replica_steps", r["reason"])

    def test_lambda_campaign_rows_split_the_round(self):
        cap, rows = self.run_rows("l", ["--repeats", "2", "--only", "^water-lambda-remd-6/"], FAKE_OMT_PARTICLES="648")
        c, one, omt = (rows["water-lambda-remd-6/" + e] for e in ("clmd", "clmd-one-at-a-time", "openmmtools"))
        for r, v in ((c, 4000.0), (one, 1000.0), (omt, 500.0)):
            self.assertEqual(r["status"], "ok", r["reason"])
            self.assertEqual(r["ladder"], "lambda")
            self.assertEqual(r["replica_steps"], 6 * 500)
            # a round is 100 steps of 6 replicas
            self.assertAlmostEqual(r["round_ms"]["round"], 600 / v * 1e3, places=6)
        for r in (c, one):  # the fake clmd spends 80% in remd_md, 20% in remd_exchange
            self.assertAlmostEqual(r["round_ms"]["md"], 0.8 * r["round_ms"]["round"], places=6)
            self.assertAlmostEqual(r["round_ms"]["energy_matrix_share"], 0.2, places=6)
        self.assertAlmostEqual(omt["round_ms"]["energy_matrix"], 0.25 * 1200.0, places=6)
        self.assertAlmostEqual(omt["round_ms"]["md"], 0.7 * 1200.0, places=6)
        self.assertEqual(rows["water-lambda-remd-6/clmd/remd_exchange"]["status"], "ok")
        self.assertIn("lambdas:\n    sterics: [1, 1, 1, 1, 1, 1]\n    electrostatics: [1, 0.8, 0.6, 0.4, 0.2, 0]",
                      c["deck"])
        self.assertIn('alchemical: {atoms: ["0-2"]}', c["deck"])
        md = report.markdown(cap, "c.json", "p.svg")
        self.assertIn("## Alchemical (lambda) replica exchange", md)
        self.assertIn("| water-lambda-remd-6/openmmtools | 648 | 6 | 500 | 500 (500-500) | 1200 | 840 | 300 | 25.0% |", md)
        self.assertNotIn("## Temperature replica exchange", md)

    def test_lambda_spec_for_openmmtools(self):
        s = remd_bench("water-lambda-remd-6").system.openmmtools_spec()
        self.assertEqual((s["method"], s["alchemical_atoms"], s["temperatures"]), ("pme", [0, 1, 2], [300.0] * 6))
        self.assertEqual(s["lambda_electrostatics"], [1.0, 0.8, 0.6, 0.4, 0.2, 0.0])
        self.assertTrue(s["prmtop"].endswith("bench/fe/systems/watbox216.prmtop"))
        self.assertEqual(remd._atoms_text([0, 1, 2, 7, 9, 10]), '"0-2", 7, "9-10"')

    def test_no_section_without_remd_rows(self):
        self.assertEqual(remd.report_section({"rows": []}), [])


if __name__ == "__main__":
    unittest.main()
