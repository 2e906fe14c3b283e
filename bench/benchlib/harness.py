"""bench/run: runs the registry's benchmarks, clmd and peers interleaved (clmd, peer, peer, clmd,
peer, peer, ...), writes DIR/capsule.json (clmd-bench/1), prints a summary and optionally compares
with a baseline capsule (exit 1 on a regression of a clmd row).
"""
import argparse
import os
import re
import subprocess
import sys
import time

from . import Blocked, capsule, clmd, stats
from .registry import benches
from .systems import REPO, data_dir


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description="clmd performance-regression suite")
    ap.add_argument("--quick", action="store_true", help="short runs, no 256k system (< 3 min on 2 cores)")
    ap.add_argument("--out", help="output folder (default out/bench-<time> in the repository)")
    ap.add_argument("--baseline", help="capsule to compare with; exits 1 on a regression")
    ap.add_argument("--repeats", type=int, help="samples per row (default 3 quick, 5 full)")
    ap.add_argument("--only", help="regular expression: run only rows whose name matches")
    ap.add_argument("--device", default=os.environ.get("CLMD_BENCH_DEVICE", "auto"), help="clmd --device SPEC")
    ap.add_argument("--budget", type=float, help="seconds; past it, benchmarks not started are blocked and "
                                                  "started ones stop after the current round of samples "
                                                  "(default 150 with --quick, none otherwise)")
    ap.add_argument("--no-fidelity", action="store_true", help="skip the clmd eval force comparison")
    ap.add_argument("--steps-scale", type=float, default=1.0,
                    help="times every row's steps (peers run the same count); GPUs: 10 makes the "
                         "large rows cover many list lifetimes")
    ap.add_argument("--list", action="store_true", help="print the registry's row names and exit")
    a = ap.parse_args(argv)
    if a.repeats is not None and a.repeats < 1:
        ap.error("--repeats must be >= 1")
    if not a.steps_scale > 0:
        ap.error("--steps-scale must be > 0")
    if a.only:
        try:
            re.compile(a.only)
        except re.error as e:
            ap.error("--only: %s" % e)
    return a


class Options:
    def __init__(self, a):
        self.quick = a.quick
        self.steps_scale = a.steps_scale
        self.repeats = a.repeats or (3 if a.quick else 5)
        self.only = re.compile(a.only) if a.only else None
        self.device = a.device
        self.fidelity = not a.no_fidelity
        self.budget = a.budget if a.budget is not None else (150.0 if a.quick else None)
        self.timeout = 120.0 if a.quick else 3600.0
        self.eval_timeout = 60.0 if a.quick else 1800.0

    def wants(self, row_name):
        return self.only is None or bool(self.only.search(row_name))


def nsteps(bench, opt):
    """The row's steps, times --steps-scale (REMD rows: steps per replica, scaled alike)."""
    n = bench.nsteps(opt.quick)
    return n if n is None or opt.steps_scale == 1.0 else max(1, int(round(n * opt.steps_scale)))


def _row_base(bench):
    return dict(bench=bench.name, system=bench.system.label, particles=bench.particles)


def run_bench(bench, opt, workdir, deadline, cut):
    """All rows of one benchmark (only the selected ones), measured interleaved."""
    quick, steps = opt.quick, nsteps(bench, opt)
    metric = getattr(bench, "metric", "steps_per_s")  # REMD benchmarks: replica_steps_per_s
    peers = [p for p in bench.peers_for(quick) if opt.wants(bench.peer_row(p))]
    phases = [ph for ph in bench.phases if opt.wants(bench.phase_row(ph))]
    want_clmd = opt.wants(bench.clmd_row()) or bool(phases)
    engines = (["clmd"] if want_clmd else []) + [p.engine for p in peers]
    by_engine = {p.engine: p for p in peers}
    blocked, sessions, samples = {}, {}, {e: [] for e in engines}
    probes, facts = [], {}

    reason = None
    if deadline is not None and time.monotonic() > deadline:
        reason = "not run: --budget exhausted before this benchmark (use full mode or --only)"
    reason = reason or bench.system.missing_inputs()
    if reason:
        blocked = {e: reason for e in engines}
    else:
        for e in engines:
            try:
                if e == "clmd":
                    why = clmd.binary_problem()
                    if why:
                        raise Blocked(why)
                    # a benchmark may bring its own clmd session (remd.RemdBench: campaigns)
                    session = getattr(bench, "clmd_session", clmd.ClmdSession)
                    sessions[e] = session(bench, os.path.join(workdir, "clmd"), opt.device, opt.timeout, steps)
                    sessions[e].warmup()
                else:
                    t = time.monotonic()
                    sessions[e] = by_engine[e].prepare(bench, os.path.join(workdir, e), steps, opt.timeout)
                    facts[e] = dict(getattr(sessions[e], "facts", {}) or {}, prepare_s=round(time.monotonic() - t, 2))
            except Blocked as b:
                blocked[e] = str(b)
                log("  %-14s blocked: %s" % (e, b))
            except Exception as x:  # a harness bug or an odd environment must not stop the suite
                blocked[e] = "harness error during setup: %s: %s" % (type(x).__name__, x)
                log("  %-14s blocked: %s" % (e, blocked[e]))
        for rep in range(opt.repeats):
            if rep > 0 and deadline is not None and time.monotonic() > deadline:
                log("  --budget exhausted: %d sample(s) per row instead of %d" % (rep, opt.repeats))
                cut.append(bench.name)
                break
            for e in engines:
                if e in blocked:
                    continue
                try:
                    if e == "clmd":
                        v, pr = sessions[e].sample()
                        probes.append(pr)
                    else:
                        v = sessions[e].sample()
                    samples[e].append(v)
                    log("  %-14s %d/%d  %10.3f %s" % (e, rep + 1, opt.repeats, v, metric.replace("_per_s", "/s")))
                except Blocked as b:
                    blocked[e] = str(b)
                    log("  %-14s blocked: %s" % (e, b))
                except Exception as x:
                    blocked[e] = "harness error during a run: %s: %s" % (type(x).__name__, x)
                    log("  %-14s blocked: %s" % (e, blocked[e]))
        for e, s in sessions.items():
            if getattr(s, "phases", None):  # a peer's own phase timings (GROMACS' cycle accounting)
                facts.setdefault(e, {})["phases_ms_per_step"] = s.phases
        for s in sessions.values():
            try:
                s.close()
            except Exception as x:
                log("  closing a session: %s: %s" % (type(x).__name__, x))

    fidelity, fid_reason = None, "clmd not run"
    if want_clmd and "clmd" not in blocked and opt.fidelity and deadline is not None and time.monotonic() > deadline:
        fid_reason = "skipped: --budget exhausted"
    elif want_clmd and "clmd" not in blocked and opt.fidelity:
        try:
            fidelity, fid_reason = sessions["clmd"].fidelity(opt.eval_timeout)
        except Exception as x:
            fidelity, fid_reason = None, "harness error: %s: %s" % (type(x).__name__, x)
        log("  %-14s fidelity %s" % ("clmd", ("%.3g" % fidelity) if fidelity is not None else fid_reason))
    elif not opt.fidelity:
        fid_reason = "--no-fidelity"

    rows = []
    if want_clmd:
        sess = sessions.get("clmd")
        extra = dict(_row_base(bench), steps=steps, device=opt.device, fidelity_note=None if fidelity is not None else fid_reason,
                     reproduce="bench/run%s --only '^%s/clmd'" % (" --quick" if quick else "", bench.name))
        if sess:
            extra.update(deck=open(sess.deck).read(), command=" ".join(sess.command("probe.json")))
        if probes:
            extra.update(probe_files=[os.path.relpath(p, os.path.dirname(os.path.dirname(workdir))) for p in sess.probe_paths],
                         phases=_median_phases(probes), counters=probes[-1].get("counters", {}),
                         probe_info=probes[-1].get("info", {}), probe_build=probes[-1].get("build", {}))
            peak = (probes[-1].get("counters") or {}).get("device_bytes_peak")
            if peak and bench.particles:
                extra.update(device_bytes_peak=peak, device_bytes_per_particle=round(peak / bench.particles, 1))
        if opt.wants(bench.clmd_row()):
            rows.append(capsule.make_row(bench.clmd_row(), "clmd", reason=blocked.get("clmd"), samples=samples.get("clmd", []),
                                         metric=metric, fidelity=fidelity, **extra))
        for ph in phases:
            rows.append(_phase_row(bench, ph, probes, blocked.get("clmd"), fidelity, steps, quick))
    for p in peers:
        e = p.engine
        rows.append(capsule.make_row(bench.peer_row(p), e, reason=blocked.get(e), samples=samples[e], metric=metric,
                                     steps=steps, peer=p.describe(), version=p.get_version(), facts=facts.get(e, {}),
                                     reproduce="bench/run%s --only '^%s/%s$'" % (" --quick" if quick else "",
                                                                                 bench.name, e),
                                     **_row_base(bench)))
    if hasattr(bench, "finish_rows"):
        bench.finish_rows(rows)
    return rows, probes


def _median_phases(probes):
    per = {}
    for pr in probes:
        for name, ph in clmd.phase_summary(pr).items():
            per.setdefault(name, []).append(ph)
    out = {}
    for name, lst in per.items():
        med = lambda k: stats.summarize([p[k] for p in lst if p.get(k) is not None])[0]
        out[name] = {"ms_per_step": med("ms_per_step"), "share": med("share"), "level": lst[0]["level"],
                     "device": lst[0]["device"], "calls": lst[-1]["calls"]}
    return out


def _phase_row(bench, ph, probes, clmd_reason, fidelity, steps, quick):
    reason, vals, shares = None, [], []
    if clmd_reason:
        reason = "clmd blocked: %s" % clmd_reason
    else:
        for pr in probes:
            p = clmd.phase(pr, ph)
            if p is None or p.get("ms_per_step") is None:
                seen = ", ".join(q.get("name", "?") for q in pr.get("phases", []))
                reason = "phase %s not in clmd's probe report (phases: %s)" % (ph, seen or "none")
                break
            vals.append(p["ms_per_step"])
            shares.append(p.get("share") or 0.0)
    return capsule.make_row(bench.phase_row(ph), "clmd", reason=reason, samples=vals, metric="ms_per_step",
                            fidelity=fidelity, phase=ph, share=stats.summarize(shares)[0], steps=steps,
                            reproduce="bench/run%s --only '^%s/clmd/%s$'" % (" --quick" if quick else "",
                                                                            bench.name, ph),
                            **_row_base(bench))


def _git_commit():
    try:
        p = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return p.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "") if p.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _cmake_build_facts():
    facts = {}
    try:
        with open(os.path.join(os.path.dirname(clmd.binary()), "CMakeCache.txt")) as f:
            for line in f:
                m = re.match(r"^(CMAKE_C_COMPILER|CMAKE_BUILD_TYPE|CMAKE_C_FLAGS|CMAKE_C_FLAGS_RELEASE):\w+=(.*)$", line)
                if m:
                    facts[m.group(1)] = m.group(2)
    except OSError:
        pass
    if not facts:
        return {}
    return {"compiler": facts.get("CMAKE_C_COMPILER"), "build_type": facts.get("CMAKE_BUILD_TYPE"),
            "flags": " ".join(v for v in (facts.get("CMAKE_C_FLAGS"), facts.get("CMAKE_C_FLAGS_RELEASE")) if v),
            "source": "CMakeCache.txt"}


def _clmd_version():
    if clmd.binary_problem():
        return None
    try:
        p = subprocess.run([clmd.binary(), "--version"], capture_output=True, text=True, timeout=10)
        return (p.stdout or p.stderr).strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def build_capsule(rows, probes, opt, argv, peers_seen, started):
    first = probes[0] if probes else {}
    build = dict(first.get("build") or {})
    if build:
        build["source"] = "clmd probe JSON"
    else:
        build = _cmake_build_facts()
    # the probe's info also holds deck facts (title, system...): keep the OpenCL ones
    info = {k: v for k, v in (first.get("info") or {}).items()
            if re.search(r"device|driver|platform|opencl|compute|mem|vendor", k, re.I)}
    ocl = dict(info, source="clmd probe JSON") if info else {}
    ci = capsule.clinfo()
    if ci:
        ocl["clinfo"] = ci
    if not info:
        ocl.update({k: v for k, v in (ci or {}).items()}, source="clinfo" if ci else "none: no clmd probe and no clinfo")
    cap = {
        "schema": capsule.SCHEMA,
        "timestamp": capsule.now_utc(),
        "command_line": " ".join([os.path.relpath(sys.argv[0], REPO) if sys.argv and sys.argv[0] else "bench/run"] + list(argv)),
        "mode": "quick" if opt.quick else "full",
        "repeats": opt.repeats,
        "steps_scale": opt.steps_scale,
        "wall_s": round(time.monotonic() - started, 1),
        "hardware": capsule.hardware(),
        "opencl": ocl,
        "os": capsule.os_info(),
        "build": build,
        "clmd": {"binary": clmd.binary(), "available": clmd.binary_problem() is None,
                 "version": build.get("version") or _clmd_version(), "git_commit": build.get("git_commit"),
                 "source_commit": _git_commit(), "device": opt.device},
        "peers": {name: ver for name, ver in peers_seen.items()},
        "data_dir": data_dir(),
        "methodology": ("Rows of one benchmark are measured interleaved (clmd, peers, clmd, peers, ...), "
                        "%d samples each; median/min/max over samples. Peers time only their stepping loop "
                        "after setup and warm-up; clmd rows use the probe JSON's MD loop (first 10%% of steps "
                        "left out when per-step samples exist; otherwise less the pressure observable at "
                        "the deck's two energy rows, which the peers do not compute). Ratios are speedups of clmd over each peer "
                        "(> 1: clmd faster). Fidelity: sqrt(sum|F-Fref|^2/sum|Fref|^2) between clmd eval on "
                        "the OpenCL device and on --device reference." % opt.repeats),
        "rows": capsule.add_ratios(rows),
    }
    return cap


def summary_table(cap):
    lines = ["%-36s %-14s %8s %12s %12s %12s  %s" % ("row", "metric", "n", "median", "min", "max", "status")]
    for r in cap["rows"]:
        if r["status"] == "ok":
            ratio = ""
            if r.get("ratios"):
                ratio = "  " + " ".join("x%.2f vs %s" % (v, k.split("/")[-1]) for k, v in r["ratios"].items() if v)
            if r.get("relative_cost"):
                ratio += "  " + " ".join("step cost x%.3f of %s" % (v, k) for k, v in r["relative_cost"].items())
            lines.append("%-36s %-14s %8d %12.4g %12.4g %12.4g  ok%s" % (r["name"], r["metric"], len(r["samples"]),
                                                                        r["median"], r["min"], r["max"], ratio))
        else:
            why = r["reason"]
            if why.startswith("clmd blocked:") and r.get("phase"):
                why = "as %s/clmd" % r.get("bench")
            lines.append("%-36s %-14s %8s %12s %12s %12s  blocked: %s" % (r["name"], r["metric"], "-", "-", "-", "-",
                                                                         why[:100]))
    return "\n".join(lines)


def main(argv):
    a = parse_args(argv)
    if a.list:
        for b in benches():
            quick = set(b.row_names(True)) if b.in_mode(True) else set()
            for n in b.row_names(False):
                print("%-40s %-10s %s" % (n, "quick+full" if n in quick else "full only", b.system.label))
        return 0
    opt = Options(a)
    started = time.monotonic()
    deadline = started + opt.budget if opt.budget else None
    out = os.path.abspath(a.out or os.path.join(REPO, "out", "bench-" + time.strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out, exist_ok=True)
    base = None
    if a.baseline:
        try:
            base = capsule.load(a.baseline)
        except (OSError, ValueError) as e:
            log("bench/run: cannot use baseline: %s" % e)
            return 2
    rows, probes, peers_seen, cut = [], [], {}, []
    for b in benches():
        if not b.in_mode(opt.quick) or not any(opt.wants(n) for n in b.row_names(opt.quick)):
            continue
        log("[%s] %s, %d particles, %d steps x %d" % (b.name, b.system.label, b.particles, nsteps(b, opt),
                                                       opt.repeats))
        t0 = time.monotonic()
        brows, bprobes = run_bench(b, opt, os.path.join(out, "work", b.name), deadline, cut)
        log("  (%.1f s)" % (time.monotonic() - t0))
        rows += brows
        probes += bprobes
        for p in b.peers_for(opt.quick):
            if opt.wants(b.peer_row(p)) and not peers_seen.get(p.engine):
                peers_seen[p.engine] = p.get_version()
    capsule.add_relative_costs(rows, {b.name: b.relative_to for b in benches() if b.relative_to})
    cap = build_capsule(rows, probes, opt, argv, peers_seen, started)
    cap["budget"] = {"seconds": opt.budget, "cut_short": cut}
    errs = capsule.validate(cap)
    path = os.path.join(out, "capsule.json")
    capsule.write(cap, path)
    print(summary_table(cap))
    print("\ncapsule: %s (%.0f s)" % (path, cap["wall_s"]))
    if errs:
        log("bench/run: internal error, capsule does not validate: %s" % "; ".join(errs))
        return 2
    if base is not None:
        results, failed = stats.compare(cap, base)
        print("\nbaseline: %s\n" % a.baseline + stats.format_compare(results, base, cap))
        if failed:
            print("\nREGRESSION: a clmd row is slower than the baseline beyond the noise, or now blocked")
            return 1
        print("\nno regression")
    return 0
