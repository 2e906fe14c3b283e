"""Runs clmd through its command-line contract (../shared/INPUT.md) and reads its probe JSON
("clmd-probes/1"). Nothing here parses clmd's text output: measurements come from the probe file,
forces from `clmd eval --json`. Every failure becomes a Blocked with a reason the row carries.
"""
import json
import math
import os
import subprocess

from . import Blocked
from .systems import REPO

PROBE_SCHEMA = "clmd-probes/1"


def binary():
    return os.environ.get("CLMD_BIN") or os.path.join(REPO, "build", "clmd")


def binary_problem(path=None):
    """Reason clmd cannot be run, or None."""
    path = path or binary()
    if not os.path.isfile(path):
        return ("clmd binary not found at %s (build it: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && "
                "cmake --build build -j2, or set CLMD_BIN)" % path)
    if not os.access(path, os.X_OK):
        return "clmd binary %s is not executable" % path
    return None


def _tail(text, n=3):
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return " | ".join(lines[-n:])[-400:]


def run_cmd(cmd, timeout, cwd=None):
    """Runs a command; returns stdout+stderr or raises Blocked naming the failure."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise Blocked("`%s` timed out after %g s" % (" ".join(os.path.basename(c) if i == 0 else c
                                                              for i, c in enumerate(cmd[:3])), timeout))
    except OSError as e:
        raise Blocked("cannot start %s: %s" % (cmd[0], e))
    if p.returncode != 0:
        what = "killed by signal %d" % -p.returncode if p.returncode < 0 else "exited %d" % p.returncode
        raise Blocked("`clmd %s` %s: %s" % (cmd[1] if len(cmd) > 1 else "", what, _tail(p.stderr or p.stdout) or "no message"))
    return p.stdout + p.stderr


def read_probe(path):
    """The probe JSON as a dict, checked for the fields the harness needs."""
    try:
        with open(path) as f:
            pr = json.load(f)
    except (OSError, ValueError) as e:
        raise Blocked("cannot read clmd's probe JSON %s: %s" % (path, e))
    if pr.get("schema", PROBE_SCHEMA) != PROBE_SCHEMA:
        raise Blocked("probe JSON schema %r is not %s" % (pr.get("schema"), PROBE_SCHEMA))
    for k in ("steps", "loop_ms", "steps_per_s", "phases"):
        if k not in pr:
            raise Blocked("probe JSON %s lacks %r" % (path, k))
    return pr


def phase(probe, name):
    for p in probe.get("phases", []):
        if p.get("name") == name:
            return p
    return None


def loop_steps_per_s(probe, warmup_fraction=0.1):
    """Steps/s of the MD loop. When the md_loop phase holds one sample per step, the first 10% of
    the steps (first-launch and first-list costs) are left out, as the peers' warm-up is;
    otherwise the loop's time over its steps, less the pressure observable's evaluations at the
    deck's energy rows (the first and the last step: two energies of scaled boxes each, work the
    peers' loops do not do), or the probe's own steps_per_s when the loop time is missing."""
    steps = int(probe.get("steps") or 0)
    ph = phase(probe, "md_loop")
    samples = (ph or {}).get("samples_ns") or []
    if ph and steps >= 20 and ph.get("calls") == steps and len(samples) == steps:
        kept = samples[max(1, int(steps * warmup_fraction)):]
        total = sum(kept)
        if total > 0:
            return len(kept) / (total * 1e-9)
    loop_ms = float(probe.get("loop_ms") or 0)
    pressure_ms = float((phase(probe, "pressure") or {}).get("total_ms") or 0)
    if steps > 0 and loop_ms > 0 and 0 <= pressure_ms < loop_ms:
        return steps / ((loop_ms - pressure_ms) * 1e-3)
    v = probe.get("steps_per_s")
    if not v or v <= 0 or not math.isfinite(v):
        raise Blocked("probe JSON reports steps_per_s=%r for %d steps" % (v, steps))
    return float(v)


def phase_summary(probe):
    """{phase: {ms_per_step, share, level, device, calls}} of one run."""
    out = {}
    for p in probe.get("phases", []):
        out[p["name"]] = {"ms_per_step": p.get("ms_per_step"), "share": p.get("share"), "level": p.get("level", 1),
                          "device": bool(p.get("device", False)), "calls": p.get("calls")}
    return out


class ClmdSession:
    """One benchmark's clmd runs: the deck is written once, each sample is a fresh `clmd run`."""

    def __init__(self, bench, workdir, device, timeout, steps):
        self.bench, self.workdir, self.device, self.timeout, self.steps = bench, workdir, device, timeout, steps
        self.deck = os.path.join(workdir, "deck.yaml")
        self.count, self.probe_paths = 0, []
        os.makedirs(workdir, exist_ok=True)
        with open(self.deck, "w") as f:
            f.write(bench.system.clmd_deck("clmd bench %s" % bench.name, steps, os.path.join(workdir, "out"), device))

    def command(self, probe_path, steps=None):
        return [binary(), "run", self.deck, "--steps", str(steps or self.steps), "--device", self.device,
                "--probe-json", probe_path, "--overwrite", "--quiet"]

    def warmup(self):
        """One untimed run of the same length: PoCL compiles a kernel at its first launch (per
        launch configuration) and caches the binary on disk, so the first process on a fresh cache
        pays compilation inside the MD loop, including paths such as the first list rebuild."""
        path = os.path.join(self.workdir, "probe-warmup.json")
        run_cmd(self.command(path), self.timeout)
        read_probe(path)

    def sample(self):
        """One run; returns (steps_per_s, probe dict)."""
        self.count += 1
        probe_path = os.path.join(self.workdir, "probe-%d.json" % self.count)
        if os.path.exists(probe_path):
            os.remove(probe_path)
        run_cmd(self.command(probe_path), self.timeout)
        pr = read_probe(probe_path)
        self.probe_paths.append(probe_path)
        if int(pr["steps"]) != self.steps:
            raise Blocked("clmd ran %s steps, asked for %d" % (pr["steps"], self.steps))
        return loop_steps_per_s(pr), pr

    def close(self):
        pass

    def fidelity(self, timeout):
        """(error, reason): sqrt(sum|F-Fref|^2 / sum|Fref|^2) between `clmd eval` on the run's device
        and on the double-precision reference path; error is None with a reason when unavailable."""
        try:
            forces = {}
            deck = os.path.join(self.workdir, "eval.yaml")
            with open(deck, "w") as f:
                f.write(self.bench.system.fidelity_deck("clmd bench %s (fidelity)" % self.bench.name,
                                                        os.path.join(self.workdir, "out-eval"), self.device, self.workdir))
            for tag, dev in (("device", self.device), ("reference", "reference")):
                path = os.path.join(self.workdir, "eval-%s.json" % tag)
                if os.path.exists(path):
                    os.remove(path)
                run_cmd([binary(), "eval", deck, "--json", path, "--device", dev], timeout)
                with open(path) as f:
                    forces[tag] = json.load(f)["forces"]
            return force_error(forces["device"], forces["reference"]), None
        except Blocked as e:
            return None, str(e)
        except (OSError, ValueError, KeyError, TypeError) as e:
            return None, "cannot read clmd eval output: %s" % e


def force_error(f, ref):
    """Global relative force error sqrt(sum |F - Fref|^2 / sum |Fref|^2)."""
    if len(f) != len(ref):
        raise ValueError("force lists differ in length (%d vs %d)" % (len(f), len(ref)))
    num = den = 0.0
    for a, b in zip(f, ref):
        for x, y in zip(a, b):
            num += (x - y) ** 2
            den += y * y
    if den == 0:
        raise ValueError("reference forces are all zero")
    return math.sqrt(num / den)
