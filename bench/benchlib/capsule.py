"""The repro capsule (schema "clmd-bench/1"): rows of measurements plus everything needed to say
where and how they were taken (hardware, OpenCL device, OS, compiler, versions, command line).

A row: name, engine, system, particles, metric, median, min, max, samples, status (ok|blocked),
reason, fidelity, and for clmd rows ratios {peer row name: speedup of clmd over that peer}.
"""
import datetime
import json
import os
import platform
import re
import shutil
import subprocess

from . import stats

SCHEMA = "clmd-bench/1"
ROW_KEYS = ("name", "engine", "system", "particles", "metric", "median", "min", "max", "samples", "status",
            "reason", "fidelity")


def make_row(name, engine, system, particles, metric, samples, reason=None, fidelity=None, **extra):
    """A row from its samples; status is ok only when there are samples and no reason to block."""
    stats.higher_is_better(metric)  # rejects unknown metrics early
    samples = [float(s) for s in samples] if not reason else []
    med, lo, hi = stats.summarize(samples)
    if reason is None and med is None:
        reason = "no samples"
    row = {"name": name, "engine": engine, "system": system, "particles": particles, "metric": metric,
           "median": med, "min": lo, "max": hi, "samples": samples,
           "status": "ok" if reason is None else "blocked", "reason": reason or "",
           "fidelity": fidelity}
    if engine == "clmd":
        row["ratios"] = {}
    row.update(extra)
    return row


def add_ratios(rows):
    """Fills each clmd row's ratios with its speedup over every ok peer row of the same benchmark
    and metric (rows carry the benchmark name in "bench")."""
    for r in rows:
        if r["engine"] != "clmd":
            continue
        r["ratios"] = {}
        if r["status"] != "ok":
            continue
        for p in rows:
            if (p["engine"] != "clmd" and p.get("bench") == r.get("bench") and p["metric"] == r["metric"]
                    and p["status"] == "ok"):
                r["ratios"][p["name"]] = stats.speedup(r["metric"], r["median"], p["median"])
    return rows


def add_relative_costs(rows, twins):
    """Rows of a benchmark that has a twin (twins: {benchmark: twin benchmark}, e.g. NPT: NVT of the
    same system) get `relative_cost` {twin row name: this row's time per step / the twin row's}
    from the medians (> 1: this row's step costs more). The twin row is the one whose name has the
    twin's benchmark name in place of this one's; rows without an ok twin get an empty mapping."""
    by_name = {r["name"]: r for r in rows}
    for r in rows:
        twin = twins.get(r.get("bench"))
        if not twin or not r["name"].startswith(r["bench"] + "/"):
            continue
        other = twin + r["name"][len(r["bench"]):]
        o = by_name.get(other)
        r["relative_cost"] = {}
        if o and r["status"] == o["status"] == "ok" and r["metric"] == o["metric"] and r["median"] and o["median"]:
            # steps/s: time per step is 1/rate; ms_per_step is a time already
            ratio = o["median"] / r["median"] if stats.higher_is_better(r["metric"]) else r["median"] / o["median"]
            r["relative_cost"][other] = ratio
    return rows


def validate(capsule):
    """Problems with a capsule's shape, as a list of strings (empty when it is well formed)."""
    errs = []
    if capsule.get("schema") != SCHEMA:
        errs.append("schema is %r, not %r" % (capsule.get("schema"), SCHEMA))
    for key in ("hardware", "opencl", "os", "build", "clmd", "peers", "timestamp", "command_line", "rows"):
        if key not in capsule:
            errs.append("missing top-level key %r" % key)
    names = set()
    for i, r in enumerate(capsule.get("rows", [])):
        where = "row %d (%s)" % (i, r.get("name"))
        for k in ROW_KEYS:
            if k not in r:
                errs.append("%s: missing %r" % (where, k))
        if r.get("name") in names:
            errs.append("%s: duplicate name" % where)
        names.add(r.get("name"))
        if r.get("status") not in ("ok", "blocked"):
            errs.append("%s: status %r" % (where, r.get("status")))
        if r.get("status") == "blocked" and not r.get("reason"):
            errs.append("%s: blocked without a reason" % where)
        if r.get("status") == "ok":
            if not r.get("samples") or r.get("median") is None:
                errs.append("%s: ok without samples" % where)
            elif not (r["min"] <= r["median"] <= r["max"]):
                errs.append("%s: median outside [min, max]" % where)
        if r.get("metric") not in stats.HIGHER_IS_BETTER:
            errs.append("%s: unknown metric %r" % (where, r.get("metric")))
        if r.get("engine") == "clmd" and not isinstance(r.get("ratios"), dict):
            errs.append("%s: clmd row without ratios" % where)
        f = r.get("fidelity")
        if f is not None and not isinstance(f, (int, float)):
            errs.append("%s: fidelity %r is not a number or null" % (where, f))
    return errs


def load(path):
    with open(path) as f:
        cap = json.load(f)
    errs = validate(cap)
    if errs:
        raise ValueError("%s is not a valid %s capsule: %s" % (path, SCHEMA, "; ".join(errs[:5])))
    return cap


def write(capsule, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(capsule, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


# ---- facts about the host -------------------------------------------------------------------

def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _run(cmd, timeout=20):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.stdout + p.stderr
    except (OSError, subprocess.SubprocessError):
        return ""


def hardware():
    cpuinfo = _read("/proc/cpuinfo")
    m = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+)\s*kB", _read("/proc/meminfo"), re.M)
    return {"cpu_model": m.group(1).strip() if m else platform.processor() or None,
            "cores": len(re.findall(r"^processor\s*:", cpuinfo, re.M)) or os.cpu_count(),
            "memory_gib": round(int(mem.group(1)) / 1048576.0, 1) if mem else None,
            "machine": platform.machine()}


def os_info():
    rel = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', _read("/etc/os-release"), re.M))
    return {"name": rel.get("PRETTY_NAME") or platform.system(), "kernel": platform.release(),
            "python": platform.python_version()}


def clinfo():
    """OpenCL platform/device/driver of the first device, from `clinfo` (None when unavailable)."""
    if not shutil.which("clinfo"):
        return None
    out = _run(["clinfo"])
    facts = {}
    for key, pat in (("platform", r"^\s*Platform Name\s+(.+)$"), ("platform_version", r"^\s*Platform Version\s+(.+)$"),
                     ("device", r"^\s*Device Name\s+(.+)$"), ("driver", r"^\s*Driver Version\s+(.+)$"),
                     ("compute_units", r"^\s*Max compute units\s+(.+)$")):
        m = re.search(pat, out, re.M)
        if m:
            facts[key] = m.group(1).strip()
    return facts or None


def now_utc():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
