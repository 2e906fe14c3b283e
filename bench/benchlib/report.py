"""bench/report: docs/benchmarks.md (and a hand-written SVG plot beside it) from one capsule:
provenance, steps/s tables with clmd's speedups, per-phase rows, the nonbonded split, fidelity,
blocked rows, a ranked optimization backlog computed from clmd's probe phases, and how to
reproduce. Standard library only.
"""
import math
import os

from . import remd

ENGINE_ORDER = ["clmd", "openmm-opencl", "openmm-cpu", "lammps", "gromacs"]
COLORS = {"clmd": "#d62728", "openmm-opencl": "#1f77b4", "openmm-cpu": "#17becf", "lammps": "#2ca02c",
          "gromacs": "#9467bd"}
SKIP_PHASES = ("md_loop", "setup")


def _fmt(v, digits=4):
    if v is None:
        return "-"
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    return ("%." + str(max(0, digits - 1 - mag)) + "f") % v if mag < digits else "%.0f" % v


def _cell(r):
    if r is None:
        return ""
    if r["status"] != "ok":
        return "blocked"
    if len(r["samples"]) > 1:
        return "%s (%s-%s)" % (_fmt(r["median"]), _fmt(r["min"]), _fmt(r["max"]))
    return _fmt(r["median"])


def md_rows(cap):
    """Whole-MD rows (steps/s, not phase rows), grouped by benchmark in capsule order."""
    out = {}
    for r in cap["rows"]:
        if r["metric"] == "steps_per_s" and not r.get("phase"):
            out.setdefault(r.get("bench") or r["name"].split("/")[0], []).append(r)
    return out


def engines_in(cap):
    seen = {r["engine"] for r in cap["rows"]}
    return [e for e in ENGINE_ORDER if e in seen] + sorted(seen - set(ENGINE_ORDER))


def backlog(cap, min_share=0.25):
    """Ranked list of (score, phase, evidence list) from clmd rows' probe phases.

    For each ok clmd MD row, the dominant phase (largest share of the MD loop) and any other
    phase taking >= min_share of it are candidates. A candidate's score is its share times how
    many times slower clmd is than the fastest peer on that row (1 when clmd is ahead or has no
    peer): a phase that owns most of a step on a row where clmd trails a peer ranks first.
    Items are grouped by phase; an item's score is its best row's.
    """
    items = {}
    for r in cap["rows"]:
        if r["engine"] != "clmd" or r.get("phase") or r["status"] != "ok" or not r.get("phases"):
            continue
        phases = [(n, p) for n, p in r["phases"].items() if n not in SKIP_PHASES and p.get("share") is not None]
        if not phases:
            continue
        phases.sort(key=lambda np_: -np_[1]["share"])
        ratios = [v for v in (r.get("ratios") or {}).values() if v]
        slowdown = max(1.0, 1.0 / min(ratios)) if ratios else 1.0
        best_peer = None
        if ratios:
            best_peer = min(r["ratios"].items(), key=lambda kv: kv[1] if kv[1] else float("inf"))[0]
        for i, (name, p) in enumerate(phases):
            if i > 0 and p["share"] < min_share:
                break
            score = p["share"] * slowdown
            ev = {"row": r["name"], "phase": name, "share": p["share"], "ms_per_step": p.get("ms_per_step"),
                  "device": p.get("device"), "rebuilds": _rebuilds(r),
                  "dominant": i == 0, "steps_per_s": r["median"], "slowdown": slowdown if ratios else None,
                  "best_peer": best_peer, "reproduce": r.get("reproduce"), "score": score}
            it = items.setdefault(name, {"phase": name, "score": 0.0, "evidence": []})
            it["evidence"].append(ev)
            it["score"] = max(it["score"], score)
    ranked = sorted(items.values(), key=lambda it: -it["score"])
    for it in ranked:
        it["evidence"].sort(key=lambda e: -e["score"])
    return ranked


def _rebuilds(r):
    """(neighbor-list builds, steps) of a clmd row's last run, when the probe counts them."""
    c, steps = r.get("counters") or {}, r.get("steps")
    n = c.get("nlist_builds", c.get("nlist_rebuilds"))
    return (n, steps) if n is not None and steps else None


# ---- plot -----------------------------------------------------------------------------------

def svg_plot(cap, width=720, height=440):
    """steps/s vs particle count (log-log), one colour per engine; lines join each engine's LJ sizes."""
    pts = {}
    for rows in md_rows(cap).values():
        for r in rows:
            if r["status"] == "ok" and r["median"] and r.get("particles"):
                pts.setdefault(r["engine"], []).append((r["particles"], r["median"], r.get("bench", "")))
    L, R, T, B = 70, 170, 30, 50
    pw, ph = width - L - R, height - T - B
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
           'font-family="sans-serif" font-size="12">' % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14">MD steps/s vs particles: %s, %s cores, %s</text>'
           % (L, _esc(((cap.get("hardware") or {}).get("cpu_model") or "?")[:40]), (cap.get("hardware") or {}).get("cores"),
              _esc(cap.get("timestamp", "")[:10]))]
    allp = [p for lst in pts.values() for p in lst]
    if not allp:
        out.append('<text x="%d" y="%d">no measurements in this capsule</text>' % (L + 20, T + ph // 2))
        out.append("</svg>")
        return "\n".join(out) + "\n"
    x0 = math.floor(math.log10(min(p[0] for p in allp)))
    x1 = math.ceil(math.log10(max(p[0] for p in allp)))
    y0 = math.floor(math.log10(min(p[1] for p in allp)))
    y1 = math.ceil(math.log10(max(p[1] for p in allp)))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def X(v):
        return L + pw * (math.log10(v) - x0) / (x1 - x0)

    def Y(v):
        return T + ph - ph * (math.log10(v) - y0) / (y1 - y0)

    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#444"/>' % (L, T, pw, ph))
    for e in range(x0, x1 + 1):
        x = X(10 ** e)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>' % (x, T, x, T + ph))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (x, T + ph + 16, _pow10(e)))
    for e in range(y0, y1 + 1):
        y = Y(10 ** e)
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (L, y, L + pw, y))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (L - 6, y + 4, _pow10(e)))
    out.append('<text x="%d" y="%d" text-anchor="middle">particles</text>' % (L + pw // 2, height - 12))
    out.append('<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">steps/s</text>'
               % (T + ph // 2, T + ph // 2))
    engines = [e for e in engines_in(cap) if e in pts]
    for k, eng in enumerate(engines):
        col = COLORS.get(eng, "#7f7f7f")
        series = sorted((p for p in pts[eng] if p[2].startswith("lj-fcc")), key=lambda p: p[0])
        if len(series) > 1:
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'
                       % (col, " ".join("%.1f,%.1f" % (X(p[0]), Y(p[1])) for p in series)))
        for p in pts[eng]:
            shape = ('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s %s: %s steps/s</title></circle>'
                     if p[2].startswith("lj-fcc") else
                     '<rect x="%.1f" y="%.1f" width="8" height="8" transform="translate(-4 -4)" fill="%s">'
                     '<title>%s %s: %s steps/s</title></rect>')
            out.append(shape % (X(p[0]), Y(p[1]), col, _esc(p[2]), eng, _fmt(p[1])))
        ly = T + 14 + 18 * k
        out.append('<circle cx="%d" cy="%d" r="4" fill="%s"/><text x="%d" y="%d">%s</text>'
                   % (L + pw + 16, ly - 4, col, L + pw + 26, ly, _esc(eng)))
    tops = {}
    for lst in pts.values():
        for p in lst:
            if not p[2].startswith("lj-fcc") and (p[2] not in tops or p[1] > tops[p[2]][1]):
                tops[p[2]] = p
    for name, p in tops.items():
        out.append('<text x="%.1f" y="%.1f" font-size="9" fill="#555">%s</text>' % (X(p[0]) + 6, Y(p[1]) - 6, _esc(name)))
    ly = T + 14 + 18 * len(engines) + 10
    out.append('<text x="%d" y="%d" fill="#555">circles: LJ fcc</text>' % (L + pw + 12, ly))
    out.append('<text x="%d" y="%d" fill="#555">squares: molecular</text>' % (L + pw + 12, ly + 16))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _pow10(e):
    return {0: "1", 1: "10", 2: "100", 3: "1k", 4: "10k", 5: "100k", 6: "1M"}.get(e, "1e%d" % e)


def _esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---- markdown -------------------------------------------------------------------------------

# clmd probe phases and GROMACS cycle-accounting rows that do the same work
GAP_PHASES = (
    ("nonbonded", ("nonbonded",), ("Force", "NB X/F buffer ops.")),
    ("pair search", ("nlist_build",), ("Neighbor search", "Domain decomp.")),
    # host time that waits for the kernels queued before it (the displacement flag read)
    ("list check, waiting for the device", ("nlist_check",), ()),
    ("PME mesh", ("pme_spread", "pme_grid_copy", "pme_fft_forward", "pme_convolve", "pme_influence", "pme_fft_inverse", "pme_gather"),
     ("PME mesh",)),
    # with constraints clmd's integrator kernels apply them in the same launch (cl/units.cl)
    ("integration and constraints", ("integrate", "constraints"), ("Update", "Constraints")),
    ("virtual sites", ("vsite_build", "vsite_spread"), ("Vsite constr.", "Vsite spread")),
)


def gromacs_gap_section(cap):
    """Markdown lines: per benchmark with a GROMACS row that holds its cycle accounting
    (facts.phases_ms_per_step), clmd's phases against GROMACS' in ms per step; [] when none."""
    rows = cap.get("rows", [])
    L = []
    for g in rows:
        ph = (g.get("facts") or {}).get("phases_ms_per_step")
        if g.get("engine") != "gromacs" or g.get("status") != "ok" or not ph:
            continue
        c = next((r for r in rows if r.get("bench") == g.get("bench") and r.get("engine") == "clmd"
                  and r.get("phase") is None and r.get("status") == "ok" and r.get("phases")), None)
        if not c:
            continue
        if not L:
            L = ["## Per-phase gap against GROMACS", "",
                 "ms per step of clmd's probe phases (medians over its samples; device phases are kernel times) "
                 "against the rows of GROMACS' cycle accounting that do the same work (its last sample, the "
                 "timed second half of the run), and clmd over GROMACS (> 1: clmd slower). clmd's host-timed "
                 "`nlist_check` waits for the kernels queued before it, so its phases overlap and add up to more "
                 "than its step.", ""]
        L += ["### %s" % g.get("bench"), "", "| work | clmd phases | clmd ms/step | GROMACS rows | GROMACS ms/step | clmd / GROMACS |",
              "|---|---|---:|---|---:|---:|"]
        for work, cp, gp in GAP_PHASES:
            cv = [c["phases"][n]["ms_per_step"] for n in cp if n in c["phases"]]
            gv = [ph[n] for n in gp if n in ph]
            if not cv and not gv:
                continue
            a, b = sum(cv) if cv else None, sum(gv) if gv else None
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                work, ", ".join(n for n in cp if n in c["phases"]) or "-", "%.3f" % a if a is not None else "-",
                ", ".join(n for n in gp if n in ph) or "-", "%.3f" % b if b is not None else "-",
                "%.2f" % (a / b) if a is not None and b else "-"))
        if c.get("median") and g.get("median"):
            L.append("| whole step | | %.3f | | %.3f | %.2f |" % (1000.0 / c["median"], 1000.0 / g["median"],
                                                                   g["median"] / c["median"]))
        L.append("")
    return L


def markdown(cap, capsule_path, svg_name):
    hw, ocl, osi, build, cl = cap["hardware"], cap.get("opencl") or {}, cap["os"], cap.get("build") or {}, cap["clmd"]
    L = ["# clmd benchmarks", "",
         "Generated by `bench/report %s` from a `%s` capsule; edit the harness, not this page." % (capsule_path, cap["schema"]),
         "Methodology: %s" % cap.get("methodology", ""), "",
         "## Where and how", "",
         "| | |", "|---|---|",
         "| host | %s, %s cores, %s GiB |" % (hw.get("cpu_model"), hw.get("cores"), hw.get("memory_gib")),
         "| OpenCL | %s%s |" % ("; ".join("%s: %s" % (k, v) for k, v in ocl.items() if k not in ("source", "clinfo")),
                               " (from %s)" % ocl["source"] if ocl.get("source") else ""),
         "| OpenCL (clinfo) | %s |" % ("; ".join("%s: %s" % (k, v) for k, v in (ocl.get("clinfo") or {}).items()) or "-"),
         "| OS | %s, kernel %s, Python %s |" % (osi.get("name"), osi.get("kernel"), osi.get("python")),
         "| clmd | %s, commit %s, binary `%s`, device `%s`; harness source tree %s |" % (
             cl.get("version") or "not built", cl.get("git_commit") or "-", cl.get("binary"), cl.get("device"),
             cl.get("source_commit") or "-"),
         "| compiler | %s %s |" % (build.get("compiler") or "-", ("`%s`" % build["flags"]) if build.get("flags") else ""),
         "| peers | %s |" % (", ".join("%s %s" % (k, v or "?") for k, v in sorted(cap.get("peers", {}).items())) or "none"),
         "| run | %s, %s mode, %s samples per row, %s s; `%s` |" % (cap["timestamp"], cap.get("mode"), cap.get("repeats"),
                                                                  cap.get("wall_s"), cap["command_line"]),
         ""]

    groups = md_rows(cap)
    engines = [e for e in engines_in(cap) if any(r["engine"] == e for rows in groups.values() for r in rows)]
    md_start = len(L)
    L += ["## Full MD: steps/s", "",
          "Median (min-max) over the samples; the last column is clmd's speedup over each peer (> 1: clmd faster).", "",
          "| benchmark | particles | " + " | ".join(engines) + " | clmd speedup |",
          "|---|---:|" + "---:|" * len(engines) + "---|"]
    for bench, rows in groups.items():
        by = {r["engine"]: r for r in rows}
        c = by.get("clmd")
        sp = ", ".join("%s x%.2f" % (k.split("/")[-1], v) for k, v in sorted((c or {}).get("ratios", {}).items()) if v)
        L.append("| %s | %s | %s | %s |" % (bench, rows[0].get("particles"), " | ".join(_cell(by.get(e)) for e in engines),
                                            sp or "-"))
    L += ["", "Throughput as atom-steps/s (steps/s x particles, median), the size-independent rate:", "",
          "| benchmark | particles | " + " | ".join(engines) + " |", "|---|---:|" + "---:|" * len(engines)]
    for bench, rows in groups.items():
        by = {r["engine"]: r for r in rows}
        n = rows[0].get("particles") or 0

        def rate(r):
            if not r or r.get("status") != "ok" or r.get("median") is None:
                return "-"
            return "%.3g" % (r["median"] * n)
        L.append("| %s | %s | %s |" % (bench, n, " | ".join(rate(by.get(e)) for e in engines)))
    mem = [(b, r) for b, rows in groups.items() for r in rows
           if r["engine"] == "clmd" and r.get("device_bytes_per_particle")]
    if mem:
        L += ["", "clmd's device memory: the most its buffers held at once (probe counter `device_bytes_peak`):", "",
              "| benchmark | particles | peak device MiB | bytes per particle |", "|---|---:|---:|---:|"]
        for b, r in mem:
            L.append("| %s | %s | %.1f | %.0f |" % (b, r.get("particles"), r["device_bytes_peak"] / 2 ** 20,
                                                    r["device_bytes_per_particle"]))
    L += ["", "![steps/s vs particles](%s)" % svg_name, ""]
    if not groups:  # a capsule of replica-exchange rows alone (bench/baseline/remd.json)
        del L[md_start:]
    facts = [(b, r) for b, rows in groups.items() for r in rows if r["engine"] == "clmd" and r["status"] == "ok"]
    if facts:
        L += ["clmd runs (last sample): steps timed, neighbor-list builds, setup time, the three largest phases.", "",
              "| benchmark | steps | list builds | setup ms | largest phases (share of the MD loop) |", "|---|---:|---:|---:|---|"]
        for b, r in facts:
            ph = r.get("phases") or {}
            top = sorted(((n, p) for n, p in ph.items() if n not in SKIP_PHASES and p.get("share") is not None),
                         key=lambda np_: -np_[1]["share"])[:3]
            rb = _rebuilds(r)
            setup = (ph.get("setup") or {}).get("ms_per_step")
            L.append("| %s | %s | %s | %s | %s |" % (
                b, r.get("steps", "-"), rb[0] if rb else "-",
                _fmt(setup * r["steps"]) if setup is not None and r.get("steps") else "-",
                ", ".join("%s %.0f%%%s" % (n, 100 * p["share"], " [dev]" if p.get("device") else "") for n, p in top) or "-"))
        L.append("")

    rel = [r for r in cap["rows"] if r.get("relative_cost")]
    if rel:
        byname = {r["name"]: r for r in cap["rows"]}
        L += ["## Step cost against a twin benchmark (NPT over NVT)", "",
              "A benchmark with a twin (`relative_to` in the registry: the same system without the addition, e.g. "
              "NVT for an NPT row) reports each row's time per step over the same row of the twin, from the "
              "medians (> 1: the step costs more).", "",
              "| row | twin row | ms/step | twin ms/step | ratio |", "|---|---|---:|---:|---:|"]

        def ms(r):
            return 1000.0 / r["median"] if r["metric"] == "steps_per_s" else r["median"]
        for r in rel:
            for other, ratio in r["relative_cost"].items():
                L.append("| %s | %s | %s | %s | %.3f |" % (r["name"], other, _fmt(ms(r)), _fmt(ms(byname[other])), ratio))
        L.append("")

    phase_rows = [r for r in cap["rows"] if r.get("phase")]
    if phase_rows:
        L += ["## Force terms and phases (clmd probes)", "",
              "Each row is one probe phase of the benchmark's clmd run: ms per MD step (amortized over the steps "
              "for phases that do not run every step) and its share of the MD loop.", "",
              "| row | ms/step | share | status |", "|---|---:|---:|---|"]
        blocked_by_bench = {}
        for r in phase_rows:
            if r["status"] != "ok":
                blocked_by_bench.setdefault(r.get("bench"), []).append(r["phase"])
                continue
            share = "%.1f%%" % (100 * r["share"]) if r.get("share") is not None else "-"
            L.append("| %s | %s | %s | ok |" % (r["name"], _cell(r), share))
        for b, phs in blocked_by_bench.items():
            L.append("| %s/clmd/{%s} | - | - | blocked |" % (b, ",".join(phs)))
        L.append("")
        split_benches = {r.get("bench") for r in phase_rows if r["phase"] == "nlist_build"}
        split = [(r.get("bench"), r) for r in phase_rows
                 if r["phase"] in ("nlist_build", "nonbonded") and r.get("bench") in split_benches]
        if split:
            L += ["### Nonbonded split: neighbor build vs force evaluation", "",
                  "| benchmark | particles | nlist_build ms/step | nonbonded ms/step | build / force |", "|---|---:|---:|---:|---:|"]
            benches = []
            for b, _ in split:
                if b not in benches:
                    benches.append(b)
            for b in benches:
                nl = next((r for bb, r in split if bb == b and r["phase"] == "nlist_build"), None)
                nb = next((r for bb, r in split if bb == b and r["phase"] == "nonbonded"), None)
                ratio = "-"
                if nl and nb and nl["status"] == nb["status"] == "ok" and nb["median"]:
                    ratio = "%.2f" % (nl["median"] / nb["median"])
                L.append("| %s | %s | %s | %s | %s |" % (b, (nl or nb)["particles"], _cell(nl) or "-", _cell(nb) or "-", ratio))
            L.append("")

    L += remd.report_section(cap)  # replica exchange: replica-steps/s, ns/day per replica, ratios

    fid = [(b, next((r for r in rows if r["engine"] == "clmd"), None)) for b, rows in groups.items()]
    fid = [(b, r) for b, r in fid if r]
    if fid:
        L += ["## Fidelity", "",
              "Global relative force error of clmd on the OpenCL device against its double-precision reference path, "
              "`sqrt(sum|F-Fref|^2 / sum|Fref|^2)` (OpenMM's own single-precision OpenCL path: 2e-5 to 9e-5 on the "
              "reference systems).", "",
              "| benchmark | fidelity | note |", "|---|---:|---|"]
        for b, r in fid:
            L.append("| %s | %s | %s |" % (b, "%.2e" % r["fidelity"] if r.get("fidelity") is not None else "-",
                                          "" if r.get("fidelity") is not None else (r.get("fidelity_note") or r.get("reason") or "")[:160]))
        L.append("")

    L += gromacs_gap_section(cap)
    L += ["## Ranked optimization backlog", ""]
    ranked = backlog(cap)
    if ranked:
        L += ["Computed from the probe phases: for each clmd row, the phase that dominates the MD step (and any "
              "phase above 25% of it), scored by share x how many times slower clmd is than the fastest peer "
              "on that row. Shares can add up to more than 100%: a host-timed phase that reads a result back "
              "(nlist_check, energy, download) includes waiting for the kernels queued before it, so when one "
              "of those leads, look at the device phases of the same row too.", ""]
        for i, it in enumerate(ranked, 1):
            top = it["evidence"][0]
            ev = "; ".join("`%s` %s %.1f%% of the step, %s ms/step (%s time)%s%s" % (
                e["row"], "dominated by it," if e["dominant"] else "spends", 100 * e["share"], _fmt(e["ms_per_step"]),
                "device" if e.get("device") else "host",
                (", list rebuilt %d times in %d steps" % e["rebuilds"]) if e.get("rebuilds") and e["phase"].startswith("nlist") else "",
                (", clmd %.2fx slower than %s" % (e["slowdown"], e["best_peer"])) if e["slowdown"] and e["slowdown"] > 1
                else (", clmd ahead of every peer" if e["slowdown"] else "")) for e in it["evidence"][:4])
            L.append("%d. **%s** (score %.2f). Evidence: %s. Reproducer: `%s`." % (i, it["phase"], it["score"], ev,
                                                                                   top.get("reproduce") or "bench/run"))
        L.append("")
    else:
        L += ["No clmd measurement in this capsule (every clmd row is blocked), so no phase ranking yet. "
              "The targets below are the fastest peer on each benchmark on this host.", "",
              "| benchmark | fastest peer | steps/s |", "|---|---|---:|"]
        for b, rows in groups.items():
            ok = [r for r in rows if r["engine"] != "clmd" and r["status"] == "ok"]
            if ok:
                best = max(ok, key=lambda r: r["median"])
                L.append("| %s | %s | %s |" % (b, best["engine"], _fmt(best["median"])))
        L.append("")

    blocked = [r for r in cap["rows"] if r["status"] != "ok"]
    if blocked:
        L += ["## Blocked rows", ""]
        by_reason = {}
        for r in blocked:
            why = r["reason"]
            if why.startswith("clmd blocked:"):
                why = why[len("clmd blocked:"):].strip()
            by_reason.setdefault(why, []).append(r["name"])
        for why, names in by_reason.items():
            shown = ", ".join("`%s`" % n for n in names[:8]) + (" and %d more" % (len(names) - 8) if len(names) > 8 else "")
            L.append("- %s: %s" % (shown, why))
        L.append("")

    L += ["## How to reproduce", "",
          "```sh",
          "cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2",
          "export CLMD_BENCH_DATA=/path/to/shared/data      # folder holding systems/",
          "bench/run --quick                                # < 3 min on 2 cores: 4k/32k LJ + molecular rows",
          "bench/run                                        # full mode: 256k LJ, longer runs, 5 samples",
          "bench/run --only '^lj-fcc-32k/' --repeats 7      # one benchmark",
          "bench/run --only remd --repeats 3                # replica exchange (openmmtools: CLMD_BENCH_OPENMMTOOLS_PYTHON)",
          "bench/run --quick --baseline bench/baseline/quick.json   # exits 1 on a regression",
          "bench/report out/bench-*/capsule.json            # regenerates this page",
          "```", "",
          "Each row's `reproduce` field in the capsule gives the exact `bench/run` line; clmd rows also carry the "
          "deck and the `clmd run` command line. Peers: OpenMM 7.7 (`/usr/bin/python3`), OpenCL (PoCL) and CPU "
          "platforms, LangevinMiddleIntegrator; LAMMPS `lmp` (real units, lj/cut, `neigh_modify every 10`); "
          "GROMACS `gmx mdrun -ntomp 2 -resethway` (sd integrator, PME 0.9 nm, amber99sb-ildn TIP4P-Ew).", ""]
    return "\n".join(L)


def write(cap, capsule_path, md_path):
    folder = os.path.dirname(os.path.abspath(md_path))
    os.makedirs(folder, exist_ok=True)
    svg_name = os.path.splitext(os.path.basename(md_path))[0] + "-steps.svg"
    with open(md_path, "w") as f:
        f.write(markdown(cap, capsule_path, svg_name))
    if not md_rows(cap):  # replica-exchange rows alone: the page has no steps/s plot
        return md_path, None
    with open(os.path.join(folder, svg_name), "w") as f:
        f.write(svg_plot(cap))
    return md_path, os.path.join(folder, svg_name)
