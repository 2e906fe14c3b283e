"""Self-tests of the benchmark harness; they need neither clmd nor the peers (a fake clmd stands in).
Run: bench/selftest   (or /usr/bin/python3 -m unittest discover -s bench/tests)."""
import contextlib
import copy
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from benchlib import Blocked, capsule, clmd, harness, peers, registry, report, stats, systems  # noqa: E402

FAKE = os.path.join(HERE, "fake_clmd.py")


def row(name, engine, metric, samples, bench="b", reason=None, **kw):
    return capsule.make_row(name, engine, "sys", 100, metric, samples, reason=reason, bench=bench, **kw)


def synthetic_capsule(rows):
    cap = {"schema": capsule.SCHEMA, "timestamp": "2026-01-01T00:00:00+00:00", "command_line": "bench/run --quick",
           "mode": "quick", "repeats": 3, "hardware": {"cpu_model": "X", "cores": 2, "memory_gib": 8},
           "opencl": {"device": "fake"}, "os": {"name": "test"}, "build": {}, "clmd": {"version": "t", "device": "auto"},
           "peers": {"openmm-opencl": "7.7"}, "rows": capsule.add_ratios(rows)}
    assert capsule.validate(cap) == [], capsule.validate(cap)
    return cap


class Env:
    """Sets environment variables for a block and restores them."""

    def __init__(self, **kw):
        self.kw, self.old = kw, {}

    def __enter__(self):
        for k, v in self.kw.items():
            self.old[k] = os.environ.get(k)
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def __exit__(self, *a):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_harness(args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = harness.main(args)
    return rc, out.getvalue(), err.getvalue()


class StatsTest(unittest.TestCase):
    def test_summary_is_median_min_max(self):
        self.assertEqual(stats.summarize([3, 1, 2, 10]), (2.5, 1, 10))
        self.assertEqual(stats.summarize([]), (None, None, None))

    def test_speedup_above_one_means_clmd_faster_for_both_directions(self):
        self.assertAlmostEqual(stats.speedup("steps_per_s", 200.0, 100.0), 2.0)   # rate: clmd / peer
        self.assertAlmostEqual(stats.speedup("ms_per_step", 5.0, 10.0), 2.0)      # time: peer / clmd
        self.assertAlmostEqual(stats.speedup("steps_per_s", 50.0, 100.0), 0.5)
        self.assertIsNone(stats.speedup("steps_per_s", None, 100.0))

    def test_regression_needs_more_than_five_percent_below_slowest_baseline_sample(self):
        base = row("a/clmd", "clmd", "steps_per_s", [100, 100, 100])
        self.assertEqual(stats.judge(row("a/clmd", "clmd", "steps_per_s", [96, 96, 96]), base)["verdict"], "ok")
        self.assertEqual(stats.judge(row("a/clmd", "clmd", "steps_per_s", [94, 94, 94]), base)["verdict"], "regression")
        self.assertEqual(stats.judge(row("a/clmd", "clmd", "steps_per_s", [106, 106, 106]), base)["verdict"], "faster")

    def test_regression_tolerance_widens_with_sample_spread(self):
        base = row("a/clmd", "clmd", "steps_per_s", [80, 100, 120])  # spread 40% of the median
        new = row("a/clmd", "clmd", "steps_per_s", [60, 60, 60])     # 25% below the slowest sample
        self.assertEqual(stats.judge(new, base)["verdict"], "ok")
        new = row("a/clmd", "clmd", "steps_per_s", [47, 47, 47])     # > 40% below the slowest sample
        self.assertEqual(stats.judge(new, base)["verdict"], "regression")

    def test_time_metric_regresses_when_larger(self):
        base = row("a/clmd/nonbonded", "clmd", "ms_per_step", [1.0, 1.0])
        self.assertEqual(stats.judge(row("a/clmd/nonbonded", "clmd", "ms_per_step", [1.2]), base)["verdict"], "regression")
        self.assertEqual(stats.judge(row("a/clmd/nonbonded", "clmd", "ms_per_step", [0.8]), base)["verdict"], "faster")
        self.assertEqual(stats.judge(row("a/clmd/nonbonded", "clmd", "ms_per_step", [1.04]), base)["verdict"], "ok")

    def test_clmd_row_newly_blocked_fails_but_peer_rows_never_gate(self):
        base = synthetic_capsule([row("a/clmd", "clmd", "steps_per_s", [100]),
                                  row("a/openmm-cpu", "openmm-cpu", "steps_per_s", [100])])
        new = synthetic_capsule([row("a/clmd", "clmd", "steps_per_s", [100]),
                                 row("a/openmm-cpu", "openmm-cpu", "steps_per_s", [10])])
        results, failed = stats.compare(new, base)
        self.assertFalse(failed)
        self.assertEqual({r["name"]: r["verdict"] for r in results}["a/openmm-cpu"], "regression")
        new = synthetic_capsule([row("a/clmd", "clmd", "steps_per_s", [], reason="device lost"),
                                 row("a/openmm-cpu", "openmm-cpu", "steps_per_s", [100])])
        results, failed = stats.compare(new, base)
        self.assertTrue(failed)
        self.assertIn("now blocked: device lost", stats.format_compare(results))

    def test_rows_missing_on_either_side_are_reported_not_failed(self):
        base = synthetic_capsule([row("a/clmd", "clmd", "steps_per_s", [100])])
        new = synthetic_capsule([row("b/clmd", "clmd", "steps_per_s", [100])])
        results, failed = stats.compare(new, base)
        self.assertFalse(failed)
        self.assertEqual(sorted(r["verdict"] for r in results), ["new", "not-run"])


class CapsuleTest(unittest.TestCase):
    def test_blocked_row_has_reason_and_no_numbers(self):
        r = row("x/clmd", "clmd", "steps_per_s", [1, 2], reason="clmd binary not found")
        self.assertEqual((r["status"], r["median"], r["samples"]), ("blocked", None, []))
        self.assertEqual(r["ratios"], {})

    def test_row_without_samples_is_blocked(self):
        self.assertEqual(row("x/lammps", "lammps", "steps_per_s", [])["status"], "blocked")

    def test_ratios_are_clmd_speedups_over_ok_peers_of_the_same_benchmark(self):
        rows = [row("a/clmd", "clmd", "steps_per_s", [300, 310, 290]),
                row("a/openmm-opencl", "openmm-opencl", "steps_per_s", [100, 90, 110]),
                row("a/lammps", "lammps", "steps_per_s", [600]),
                row("a/gromacs", "gromacs", "steps_per_s", [], reason="not installed"),
                row("b/openmm-cpu", "openmm-cpu", "steps_per_s", [1], bench="b2")]
        capsule.add_ratios(rows)
        self.assertEqual(rows[0]["ratios"], {"a/openmm-opencl": 3.0, "a/lammps": 0.5})

    def test_relative_cost_is_time_per_step_over_the_twin_benchmarks_same_row(self):
        rows = [row("nvt/clmd", "clmd", "steps_per_s", [100, 101, 99], bench="nvt"),
                row("nvt/openmm-cpu", "openmm-cpu", "steps_per_s", [50], bench="nvt"),
                row("nvt/clmd/nlist_build", "clmd", "ms_per_step", [1.0], bench="nvt", phase="nlist_build"),
                row("npt/clmd", "clmd", "steps_per_s", [80, 80, 81], bench="npt"),
                row("npt/openmm-cpu", "openmm-cpu", "steps_per_s", [40], bench="npt"),
                row("npt/openmm-opencl", "openmm-opencl", "steps_per_s", [10], bench="npt"),
                row("npt/clmd/nlist_build", "clmd", "ms_per_step", [1.5], bench="npt", phase="nlist_build"),
                row("npt/clmd/barostat", "clmd", "ms_per_step", [0.3], bench="npt", phase="barostat")]
        capsule.add_relative_costs(rows, {"npt": "nvt"})
        got = {r["name"]: r.get("relative_cost") for r in rows}
        self.assertEqual(got["npt/clmd"], {"nvt/clmd": 100 / 80})
        self.assertEqual(got["npt/openmm-cpu"], {"nvt/openmm-cpu": 50 / 40})
        self.assertEqual(got["npt/clmd/nlist_build"], {"nvt/clmd/nlist_build": 1.5})
        self.assertEqual(got["npt/openmm-opencl"], {})   # no twin row ran
        self.assertEqual(got["npt/clmd/barostat"], {})
        self.assertIsNone(got["nvt/clmd"])                # the twin itself is not annotated
        blocked = [row("nvt/clmd", "clmd", "steps_per_s", [], bench="nvt", reason="x"),
                   row("npt/clmd", "clmd", "steps_per_s", [80], bench="npt")]
        self.assertEqual(capsule.add_relative_costs(blocked, {"npt": "nvt"})[1]["relative_cost"], {})

    def test_validate_catches_malformed_capsules(self):
        cap = synthetic_capsule([row("a/clmd", "clmd", "steps_per_s", [1])])
        bad = copy.deepcopy(cap)
        bad["rows"].append(copy.deepcopy(bad["rows"][0]))
        bad["rows"][0].update(status="blocked", reason="")
        del bad["hardware"]
        errs = capsule.validate(bad)
        self.assertTrue(any("duplicate" in e for e in errs))
        self.assertTrue(any("without a reason" in e for e in errs))
        self.assertTrue(any("hardware" in e for e in errs))
        self.assertEqual(capsule.validate(cap), [])

    def test_host_facts_come_from_proc(self):
        hw = capsule.hardware()
        self.assertGreaterEqual(hw["cores"], 1)
        if os.path.exists("/proc/meminfo"):
            self.assertGreater(hw["memory_gib"], 0)


class ClmdRunnerTest(unittest.TestCase):
    def test_force_error_is_global_relative_rms(self):
        ref = [[3.0, 0.0, 0.0], [0.0, 4.0, 0.0]]
        f = [[3.0, 0.0, 0.0], [0.0, 4.0, 0.5]]
        self.assertAlmostEqual(clmd.force_error(f, ref), 0.5 / 5.0)
        with self.assertRaises(ValueError):
            clmd.force_error(f[:1], ref)

    def test_loop_rate_leaves_out_warmup_steps_when_samples_are_per_step(self):
        samples = [5e7] * 10 + [1e7] * 90
        pr = {"steps": 100, "steps_per_s": 1.0, "phases": [{"name": "md_loop", "calls": 100, "samples_ns": samples}]}
        self.assertAlmostEqual(clmd.loop_steps_per_s(pr), 100.0)
        pr["phases"][0]["calls"] = 1  # one sample for the whole loop: the probe's own figure
        self.assertAlmostEqual(clmd.loop_steps_per_s(pr), 1.0)
        # with the loop time: the loop less the pressure observable at the energy rows
        pr["loop_ms"] = 1000.0
        self.assertAlmostEqual(clmd.loop_steps_per_s(pr), 100.0)
        pr["phases"].append({"name": "pressure", "calls": 2, "total_ms": 200.0})
        self.assertAlmostEqual(clmd.loop_steps_per_s(pr), 125.0)
        pr["phases"][-1]["total_ms"] = 1000.0  # not less than the loop: the probe's figure
        self.assertAlmostEqual(clmd.loop_steps_per_s(pr), 1.0)
        del pr["loop_ms"]
        pr["steps_per_s"] = 0
        with self.assertRaises(Blocked):
            clmd.loop_steps_per_s(pr)

    def test_missing_binary_is_a_reason_not_an_exception(self):
        self.assertIn("not found", clmd.binary_problem("/nonexistent/clmd"))


class PeerInputTest(unittest.TestCase):
    def test_lammps_input_matches_clmd_lj_fcc(self):
        s = systems.LJFcc(cells=20)
        text = peers.lammps_input(s, 30, 10)
        self.assertIn("lattice fcc 5.7190", text)                # (4/0.8442)^(1/3) * 3.405 A = 5.71903
        self.assertIn("region box block 0 20 0 20 0 20", text)
        self.assertIn("pair_style lj/cut 8.5", text)
        self.assertIn("pair_coeff 1 1 0.238050 3.405", text)       # 0.996 kJ/mol in kcal/mol
        self.assertIn("neighbor 1 bin", text)
        self.assertIn("timestep 5", text)
        self.assertTrue(text.rstrip().endswith("run 30"))
        self.assertEqual(s.particles, 32000)

    def test_lammps_and_gromacs_logs_parse(self):
        log = ("Loop time of 0.1 on 2 procs for 20 steps with 32000 atoms\n\n"
               "Loop time of 3.5 on 2 procs for 200 steps with 32000 atoms\n")
        self.assertEqual(peers.parse_lammps_loop(log), (3.5, 2, 200))
        self.assertIsNone(peers.parse_lammps_loop("ERROR: Lost atoms"))
        glog = "               (ns/day)    (hour/ns)\nPerformance:       86.400        0.278\n"
        self.assertAlmostEqual(peers.parse_gromacs_perf(glog, 0.002), 500.0)
        cycles = """     R E A L   C Y C L E   A N D   T I M E   A C C O U N T I N G

On 1 MPI rank, each using 2 OpenMP threads

 Computing:          Num   Num      Call    Wall time         Giga-Cycles
                     Ranks Threads  Count      (s)         total sum    %
-----------------------------------------------------------------------------
 Neighbor search        1    2         11       0.030          0.150   3.0
 Force                  1    2        101       0.800          4.000  80.0
 PME mesh               1    2        101       0.100          0.500  10.0
 Rest                                           0.070          0.350   7.0
-----------------------------------------------------------------------------
 Total                                          1.000          5.000 100.0
-----------------------------------------------------------------------------
 Breakdown of PME mesh computation
-----------------------------------------------------------------------------
 PME spread             1    2        101       0.040          0.200   4.0
-----------------------------------------------------------------------------

               Core t (s)   Wall t (s)        (%)
"""
        # the GROMACS row gets clmd's PME: order 5, its grid, the same Ewald splitting
        alpha, grid = peers.clmd_pme_params(0.9, 5e-4, [3.0, 3.0, 3.0])
        self.assertAlmostEqual(alpha, 2.9202898720871846)
        self.assertEqual(grid, [27, 27, 27])
        self.assertEqual(peers.clmd_pme_params(0.9, 5e-4, [6.0] * 3)[1], [54, 54, 54])
        self.assertEqual(peers._smooth_size(37), 40)
        ph = peers.parse_gromacs_cycles(cycles, 100)
        self.assertEqual(sorted(ph), ["Force", "Neighbor search", "PME mesh", "PME spread", "Rest"])
        self.assertAlmostEqual(ph["Force"], 8.0)
        self.assertAlmostEqual(ph["Neighbor search"], 0.3)
        self.assertEqual(peers.parse_gromacs_cycles("no table", 100), {})
        # the report's gap table from those phases and a clmd row's probe phases
        cp = {"nonbonded": {"ms_per_step": 16.0}, "nlist_build": {"ms_per_step": 0.5},
              "nlist_check": {"ms_per_step": 0.1}, "pme_spread": {"ms_per_step": 0.3}}
        cap = synthetic_capsule([row("w/clmd", "clmd", "steps_per_s", [50], bench="w", phases=cp),
                                 row("w/gromacs", "gromacs", "steps_per_s", [100], bench="w",
                                     facts={"phases_ms_per_step": ph})])
        md = "\n".join(report.gromacs_gap_section(cap))
        self.assertIn("| nonbonded | nonbonded | 16.000 | Force | 8.000 | 2.00 |", md)
        self.assertIn("| pair search | nlist_build | 0.500 | Neighbor search | 0.300 | 1.67 |", md)
        self.assertIn("| list check, waiting for the device | nlist_check | 0.100 | - | - | - |", md)
        self.assertIn("| whole step | | 20.000 | | 10.000 | 2.00 |", md)

    def test_pdb_water_converts_to_gro(self):
        d = tempfile.mkdtemp()
        try:
            p = os.path.join(d, "w.pdb")
            with open(p, "w") as f:
                f.write("CRYST1   30.000   30.000   30.000  90.00  90.00  90.00 P 1           1\n")
                for i, (n, x) in enumerate((("O", 1.0), ("H1", 2.0), ("H2", 3.0), (" M", 4.0))):
                    f.write("HETATM%5d %-4s HOH A   1    %8.3f%8.3f%8.3f  1.00  0.00\n" % (i + 1, n, x, 0.0, -10.0))
            gro, n = peers.pdb_to_gro(p, "tip4pew")
            lines = gro.splitlines()
            self.assertEqual((n, lines[1]), (1, "4"))
            self.assertEqual("    1SOL     MW    4   0.400   0.000  -1.000", lines[5])
            self.assertEqual(lines[-1].split(), ["3.00000"] * 3)
        finally:
            shutil.rmtree(d)

    def test_decks_carry_the_shared_settings(self):
        lj = systems.LJFcc(cells=10).clmd_deck("t", 50, "/tmp/o")
        for key in ("builtin: lj_fcc", "cells: 10", "reduced_density: 0.8442", "method: cutoff", "cutoff: 0.85",
                    "dispersion_correction: true", "timestep: 0.005", "steps: 50", "type: langevin"):
            self.assertIn(key, lj)
        b = registry.benches()
        pme = next(x for x in b if x.name == "ala2-pme").system.clmd_deck("t", 10, "/tmp/o")
        for key in ("amber: {prmtop:", "method: pme", "cutoff: 0.9", "ewald_error_tolerance: 0.0005", "constraints: hbonds"):
            self.assertIn(key, pme)
        gb = next(x for x in b if x.name == "protein-obc2").system
        self.assertIn("implicit_solvent: {model: obc2", gb.clmd_deck("t", 10, "/tmp/o"))
        self.assertEqual(gb.openmm_spec()["implicit"], "obc2")


    def test_npt_benchmark_is_the_nvt_box_plus_a_barostat_in_every_engine(self):
        b = {x.name: x for x in registry.benches()}
        npt, nvt = b["tip4pew-npt"], b["tip4pew-pme"]
        self.assertEqual(npt.relative_to, "tip4pew-pme")
        self.assertEqual(npt.steps.quick % 25, 0)   # whole barostat periods per sample
        self.assertEqual(npt.steps.full % 25, 0)
        deck = npt.system.clmd_deck("t", 50, "/tmp/o")
        self.assertIn("barostat: {type: isotropic, pressure: 1.01325, interval: 25, adapt: true, seed: 13}", deck)
        self.assertNotIn("barostat", nvt.system.clmd_deck("t", 50, "/tmp/o"))
        # apart from the barostat, the decks are the same system and settings
        strip = lambda d: [l for l in d.splitlines() if not l.startswith(("barostat", "# generated", "title"))]
        self.assertEqual(strip(deck), strip(nvt.system.clmd_deck("t", 50, "/tmp/o")))
        spec = npt.system.openmm_spec()
        self.assertEqual(spec["barostat"], {"pressure_bar": 1.01325, "interval": 25, "seed": 13})
        self.assertNotIn("barostat", nvt.system.openmm_spec())
        self.assertEqual({k: v for k, v in spec.items() if k != "barostat"}, nvt.system.openmm_spec())


class FidelityDeckTest(unittest.TestCase):
    def test_lj_fidelity_uses_a_jittered_copy_of_the_builtin_lattice(self):
        d = tempfile.mkdtemp()
        try:
            s = systems.LJFcc(cells=2)
            deck = s.fidelity_deck("t", os.path.join(d, "o"), "auto", d)
            self.assertIn("coordinates:", deck)
            self.assertIn("argon.yaml", deck)
            with open(os.path.join(d, "fidelity-lattice.xyz")) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "32")
            L = 10 * 2 * s.lattice_nm
            self.assertIn('Lattice="%.6f 0 0 0 %.6f 0 0 0 %.6f"' % (L, L, L), lines[1])
            a = 10 * s.lattice_nm
            x0 = [float(v) for v in lines[2].split()[1:]]
            for v in x0:  # first atom: (0.25 a, 0.25 a, 0.25 a) moved by at most 0.1 A
                self.assertLessEqual(abs(v - 0.25 * a), 0.1 + 1e-9)
            self.assertNotEqual(len(set(round(v - 0.25 * a, 5) for v in x0)), 1)
        finally:
            shutil.rmtree(d)


def openmm_available():
    import subprocess
    try:
        return subprocess.run([peers.openmm_python(), "-c", "import openmm"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@unittest.skipUnless(openmm_available(), "OpenMM not importable by %s: worker test skipped" % peers.openmm_python())
class OpenMMWorkerTest(unittest.TestCase):
    def test_worker_builds_lj_fcc_and_times_steps(self):
        b = registry.Bench("t", systems.LJFcc(cells=3), 108, steps=registry.Steps(5, 5))
        d = tempfile.mkdtemp()
        try:
            sess = peers.OpenMM("Reference").prepare(b, d, 5, 60)
            try:
                self.assertEqual(sess.facts["particles"], 108)
                self.assertGreater(sess.sample(), 0)
            finally:
                sess.close()
            self.assertIsNotNone(sess.proc.poll())
            with self.assertRaises(Blocked) as e:
                peers.OpenMM("DefinitelyMissing").prepare(b, d, 5, 60)
            self.assertIn("DefinitelyMissing", str(e.exception))
        finally:
            shutil.rmtree(d)


@unittest.skipUnless(openmm_available(), "OpenMM not importable by %s: worker test skipped" % peers.openmm_python())
class OpenMMBarostatTest(unittest.TestCase):
    def test_worker_adds_a_monte_carlo_barostat_to_npt_water(self):
        import subprocess
        d = tempfile.mkdtemp()
        try:
            pdb = os.path.join(d, "w.pdb")
            with open(pdb, "w") as f:  # two TIP4P-Ew waters in a 2 nm box (PME 0.9 nm fits)
                f.write("CRYST1   20.000   20.000   20.000  90.00  90.00  90.00 P 1           1\n")
                k = 0
                for m, x0 in ((1, 2.0), (2, 8.0)):
                    for n, dx, dy in (("O", 0.0, 0.0), ("H1", 0.9572, 0.0), ("H2", -0.2400, 0.9266), ("M", 0.0, 0.15)):
                        k += 1
                        f.write("HETATM%5d %-4s HOH A%4d    %8.3f%8.3f%8.3f  1.00  0.00\n" % (k, n if len(n) == 4 else " " + n,
                                                                                       m, x0 + dx, 5.0 + dy, 5.0))
                f.write("END\n")
            s = systems.WaterPdb(pdb, "tip4pew", label="t", particles=8, molecules=2, barostat=systems.Barostat(2.5, 10, 7))
            spec = s.openmm_spec()
            code = ("import json, sys; sys.path.insert(0, %r); import openmm_worker as w, openmm as mm, openmm.app as app, "
                    "openmm.unit as u; s, pos, box = w.build(json.loads(sys.argv[1]), mm, app, u); "
                    "b = [f for f in s.getForces() if isinstance(f, mm.MonteCarloBarostat)]; "
                    "sys.stderr.write(json.dumps([len(b), b[0].getDefaultPressure().value_in_unit(u.bar), b[0].getFrequency(), "
                    "b[0].getDefaultTemperature().value_in_unit(u.kelvin), b[0].getRandomNumberSeed(), s.getNumParticles()]))"
                    % os.path.join(os.path.dirname(HERE), "benchlib"))
            p = subprocess.run([peers.openmm_python(), "-c", code, json.dumps(spec)], capture_output=True, text=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            got = json.loads(p.stderr.strip().splitlines()[-1])
            self.assertEqual(got, [1, 2.5, 10, 300.0, 7, 8])
        finally:
            shutil.rmtree(d)


class RegistryTest(unittest.TestCase):
    def test_row_names_unique_and_quick_mode_drops_256k(self):
        names = [n for b in registry.benches() for n in b.row_names(False)]
        self.assertEqual(len(names), len(set(names)))
        quick = [b.name for b in registry.benches() if b.in_mode(True)]
        self.assertNotIn("lj-fcc-256k", quick)
        for want in ("lj-fcc-4k", "lj-fcc-32k", "ala2-pme", "protein-obc2", "18protein-pme", "tip4pew-pme", "tip4pew-npt"):
            self.assertIn(want, quick)
        self.assertEqual([b.particles for b in registry.benches() if b.name.startswith("lj-fcc")], [4000, 32000, 256000])


class HarnessTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="clmd-bench-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def cap(self, sub):
        with open(os.path.join(self.tmp, sub, "capsule.json")) as f:
            return json.load(f)

    def test_missing_clmd_gives_blocked_rows_and_a_valid_capsule(self):
        with Env(CLMD_BIN="/nonexistent/clmd"):
            rc, out, _ = run_harness(["--quick", "--only", "^lj-fcc-4k/clmd", "--out", os.path.join(self.tmp, "a")])
        self.assertEqual(rc, 0)
        cap = self.cap("a")
        self.assertEqual(capsule.validate(cap), [])
        self.assertEqual([r["name"] for r in cap["rows"]],
                         ["lj-fcc-4k/clmd", "lj-fcc-4k/clmd/nlist_build", "lj-fcc-4k/clmd/nonbonded"])
        for r in cap["rows"]:
            self.assertEqual(r["status"], "blocked")
            self.assertIn("clmd binary not found", r["reason"])
            self.assertIsNone(r["fidelity"])

    def test_pme_row_blocks_with_reason_when_its_input_is_missing(self):
        empty = os.path.join(self.tmp, "nodata")
        os.makedirs(empty)
        with Env(CLMD_BIN=FAKE, CLMD_BENCH_DATA=empty):
            rc, _, _ = run_harness(["--quick", "--only", "^ala2-pme/", "--out", os.path.join(self.tmp, "b")])
        self.assertEqual(rc, 0)
        rows = self.cap("b")["rows"]
        self.assertTrue(any(r["name"] == "ala2-pme/clmd/pme_spread" for r in rows))
        self.assertTrue(any(r["name"] == "ala2-pme/openmm-opencl" for r in rows))
        for r in rows:
            self.assertEqual(r["status"], "blocked")
            self.assertIn("input missing", r["reason"])
            self.assertIn("alanine-dipeptide-explicit", r["reason"])

    def test_fake_clmd_rows_phases_and_fidelity(self):
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_SPEED="250", FAKE_CLMD_FERR="3e-5", FAKE_CLMD_MODE="ok"):
            rc, out, _ = run_harness(["--quick", "--repeats", "2", "--only", "^lj-fcc-4k/clmd", "--out",
                                      os.path.join(self.tmp, "c")])
        self.assertEqual(rc, 0, out)
        cap = self.cap("c")
        rows = {r["name"]: r for r in cap["rows"]}
        main = rows["lj-fcc-4k/clmd"]
        self.assertEqual(main["status"], "ok")
        self.assertEqual(len(main["samples"]), 2)
        self.assertAlmostEqual(main["median"], 250.0, places=6)   # warm-up steps left out
        self.assertAlmostEqual(main["fidelity"], 3e-5, places=12)
        self.assertIn("builtin: lj_fcc", main["deck"])
        self.assertEqual(rows["lj-fcc-4k/clmd/nonbonded"]["status"], "ok")
        self.assertAlmostEqual(rows["lj-fcc-4k/clmd/nonbonded"]["median"], 0.6 * 1000.0 / 250.0 * 1.4, places=6)
        self.assertEqual(cap["build"]["git_commit"], "fakecommit")
        self.assertEqual(cap["opencl"]["device"], "fake device")
        # the probe's peak device bytes over the particles, and its table on the page
        self.assertEqual(main["device_bytes_peak"], 4800000)
        self.assertAlmostEqual(main["device_bytes_per_particle"], 1200.0)
        self.assertIn("| lj-fcc-4k | 4000 | 4.6 | 1200 |", report.markdown(cap, "c.json", "p.svg"))

    def test_steps_scale_multiplies_every_rows_steps(self):
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_SPEED="250", FAKE_CLMD_MODE="ok"):
            for sub, scale in (("s1", []), ("s3", ["--steps-scale", "3"])):
                rc, out, _ = run_harness(["--quick", "--repeats", "1", "--no-fidelity", "--only", "^lj-fcc-4k/clmd$",
                                          "--out", os.path.join(self.tmp, sub)] + scale)
                self.assertEqual(rc, 0, out)
        one, three = self.cap("s1"), self.cap("s3")
        self.assertEqual(one["steps_scale"], 1.0)
        self.assertEqual(three["steps_scale"], 3.0)
        self.assertEqual(three["rows"][0]["steps"], 3 * one["rows"][0]["steps"])
        self.assertEqual(capsule.validate(three), [])
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            harness.parse_args(["--steps-scale", "0"])

    def test_failing_clmd_run_blocks_with_its_message(self):
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="fail"):
            rc, _, _ = run_harness(["--quick", "--only", "^lj-fcc-4k/clmd$", "--out", os.path.join(self.tmp, "d")])
        self.assertEqual(rc, 0)
        r = self.cap("d")["rows"][0]
        self.assertEqual(r["status"], "blocked")
        self.assertIn("exited 2", r["reason"])
        self.assertIn("device lost", r["reason"])

    def test_bad_probe_file_blocks(self):
        for mode, words in (("noprobe", "cannot read"), ("badschema", "schema")):
            with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE=mode):
                run_harness(["--quick", "--only", "^lj-fcc-4k/clmd$", "--out", os.path.join(self.tmp, mode)])
            r = self.cap(mode)["rows"][0]
            self.assertEqual(r["status"], "blocked")
            self.assertIn(words, r["reason"])

    def test_missing_phase_blocks_only_that_row(self):
        data = os.path.join(self.tmp, "data", "systems")
        os.makedirs(data)
        for f in ("alanine-dipeptide-explicit.prmtop", "alanine-dipeptide-explicit.inpcrd"):
            open(os.path.join(data, f), "w").close()  # the fake clmd does not read them
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok", FAKE_CLMD_SPEED="100", CLMD_BENCH_DATA=os.path.dirname(data)):
            run_harness(["--quick", "--repeats", "1", "--no-fidelity", "--only", "^ala2-pme/clmd", "--out",
                         os.path.join(self.tmp, "e")])
        rows = {r["name"]: r for r in self.cap("e")["rows"]}
        self.assertEqual(rows["ala2-pme/clmd"]["status"], "ok")
        self.assertEqual(rows["ala2-pme/clmd/pme_spread"]["status"], "ok")
        # the fake clmd reports no bonded phase
        self.assertEqual(rows["ala2-pme/clmd/bonded"]["status"], "blocked")
        self.assertIn("not in clmd's probe report", rows["ala2-pme/clmd/bonded"]["reason"])

    def test_npt_rows_report_their_step_cost_over_the_nvt_twin(self):
        data = os.path.join(self.tmp, "data", "systems")
        os.makedirs(data)
        open(os.path.join(data, "tip4pew_box.pdb"), "w").close()  # the fake clmd does not read it
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok", FAKE_CLMD_SPEED="100", FAKE_CLMD_NPT_COST="1.25",
                 CLMD_BENCH_DATA=os.path.dirname(data)):
            rc, out, _ = run_harness(["--quick", "--repeats", "1", "--no-fidelity", "--only",
                                      "^tip4pew-(pme|npt)/clmd(/barostat|/nlist_build)?$", "--out", os.path.join(self.tmp, "n")])
        self.assertEqual(rc, 0, out)
        cap = self.cap("n")
        self.assertEqual(capsule.validate(cap), [])
        rows = {r["name"]: r for r in cap["rows"]}
        self.assertAlmostEqual(rows["tip4pew-npt/clmd"]["relative_cost"]["tip4pew-pme/clmd"], 1.25, places=6)
        self.assertIn("barostat: {type: isotropic", rows["tip4pew-npt/clmd"]["deck"])
        self.assertEqual(rows["tip4pew-npt/clmd/barostat"]["status"], "ok")
        self.assertIn("tip4pew-pme/clmd/nlist_build", rows["tip4pew-npt/clmd/nlist_build"]["relative_cost"])
        self.assertIn("step cost x1.250 of tip4pew-pme/clmd", out)

    def test_exhausted_budget_blocks_the_benchmarks_not_started(self):
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok"):
            rc, _, _ = run_harness(["--quick", "--budget", "1e-9", "--only", "^lj-fcc-(4k|32k)/clmd$", "--out",
                                    os.path.join(self.tmp, "g")])
        self.assertEqual(rc, 0)
        cap = self.cap("g")
        self.assertEqual(capsule.validate(cap), [])
        self.assertEqual([r["status"] for r in cap["rows"]], ["blocked", "blocked"])
        self.assertIn("--budget exhausted", cap["rows"][1]["reason"])

    def test_baseline_compare_exits_nonzero_on_regression_only(self):
        args = ["--quick", "--repeats", "2", "--no-fidelity", "--only", "^lj-fcc-4k/clmd$"]
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok", FAKE_CLMD_SPEED="100"):
            self.assertEqual(run_harness(args + ["--out", os.path.join(self.tmp, "base")])[0], 0)
        base = os.path.join(self.tmp, "base", "capsule.json")
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok", FAKE_CLMD_SPEED="98"):
            rc, out, _ = run_harness(args + ["--out", os.path.join(self.tmp, "same"), "--baseline", base])
        self.assertEqual(rc, 0, out)
        self.assertIn("no regression", out)
        with Env(CLMD_BIN=FAKE, FAKE_CLMD_MODE="ok", FAKE_CLMD_SPEED="80"):
            rc, out, _ = run_harness(args + ["--out", os.path.join(self.tmp, "slow"), "--baseline", base])
        self.assertEqual(rc, 1, out)
        self.assertIn("REGRESSION", out)


class ReportTest(unittest.TestCase):
    def test_report_tables_plot_and_backlog_ranking(self):
        ph = lambda d: {k: {"ms_per_step": v * 10, "share": v, "level": 1, "device": True, "calls": 10} for k, v in d.items()}
        rows = [row("lj/clmd", "clmd", "steps_per_s", [50, 52], bench="lj", phases=ph({"nonbonded": 0.7, "nlist_build": 0.2})),
                row("lj/openmm-opencl", "openmm-opencl", "steps_per_s", [100], bench="lj"),
                row("gb/clmd", "clmd", "steps_per_s", [200], bench="gb", phases=ph({"gb_force": 0.5, "gb_radii": 0.3})),
                row("gb/openmm-cpu", "openmm-cpu", "steps_per_s", [100], bench="gb"),
                row("gb/clmd/gb_force", "clmd", "ms_per_step", [5.0], bench="gb", phase="gb_force", share=0.5),
                row("lj/clmd/nlist_build", "clmd", "ms_per_step", [2.0], bench="lj", phase="nlist_build", share=0.2),
                row("lj/clmd/nonbonded", "clmd", "ms_per_step", [7.0], bench="lj", phase="nonbonded", share=0.7),
                row("pme/clmd", "clmd", "steps_per_s", [], bench="pme", reason="input missing: x.prmtop")]
        cap = synthetic_capsule(rows)
        ranked = report.backlog(cap)
        # nonbonded: 0.7 of a step where clmd (51) is 100/51 times slower than OpenMM; gb_force: 0.5, clmd ahead
        self.assertEqual([it["phase"] for it in ranked], ["nonbonded", "gb_force", "gb_radii"])
        self.assertAlmostEqual(ranked[0]["score"], 0.7 * 100.0 / 51.0)
        self.assertAlmostEqual(ranked[1]["score"], 0.5)
        md = report.markdown(cap, "capsule.json", "plot.svg")
        self.assertIn("| lj | 100 | 51.00 (50.00-52.00) | 100.0 |", md)
        self.assertIn("openmm-opencl x0.51", md)  # 51 / 100
        self.assertIn("1. **nonbonded**", md)
        self.assertIn("input missing: x.prmtop", md)
        self.assertIn("| lj | 100 | 2.000 | 7.000 | 0.29 |", md)
        svg = report.svg_plot(cap)
        self.assertTrue(svg.startswith("<svg") and svg.rstrip().endswith("</svg>"))
        self.assertEqual(svg.count("<title>"), 4)

    def test_report_lists_step_costs_against_twin_benchmarks(self):
        rows = capsule.add_relative_costs([row("nvt/clmd", "clmd", "steps_per_s", [100], bench="nvt"),
                                           row("npt/clmd", "clmd", "steps_per_s", [80], bench="npt")], {"npt": "nvt"})
        md = report.markdown(synthetic_capsule(rows), "c.json", "p.svg")
        self.assertIn("| npt/clmd | nvt/clmd | 12.50 | 10.00 | 1.250 |", md)
        self.assertNotIn("Step cost against", report.markdown(synthetic_capsule([row("nvt/clmd", "clmd", "steps_per_s", [100],
                                                                                    bench="nvt")]), "c.json", "p.svg"))

    def test_report_of_an_all_blocked_capsule_lists_peer_targets(self):
        cap = synthetic_capsule([row("lj/clmd", "clmd", "steps_per_s", [], bench="lj", reason="clmd binary not found"),
                                 row("lj/lammps", "lammps", "steps_per_s", [800], bench="lj")])
        md = report.markdown(cap, "c.json", "p.svg")
        self.assertIn("No clmd measurement", md)
        self.assertIn("| lj | lammps | 800.0 |", md)
        self.assertIn("no measurements" if "lammps" not in report.svg_plot(cap) else "lammps", report.svg_plot(cap))


if __name__ == "__main__":
    unittest.main()
