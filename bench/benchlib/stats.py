"""Statistics of repeated samples, the clmd-vs-peer speedup, and the regression rule.

Every metric has a direction: steps_per_s is better when higher, ms_per_step when lower. All
comparisons go through `faster_factor` so that a ratio > 1 always means "the first is faster".
"""
import statistics

HIGHER_IS_BETTER = {"steps_per_s": True, "replica_steps_per_s": True, "ns_per_day": True, "ms_per_step": False, "ms_per_call": False,
                    "ms_per_eval": False, "seconds": False}

# A regression must exceed this fraction even when the repeated samples agree perfectly: below it,
# differences are within what a shared 2-core machine gives from one run to the next.
MIN_TOLERANCE = 0.05


def higher_is_better(metric):
    if metric not in HIGHER_IS_BETTER:
        raise ValueError("unknown metric %r (add it to stats.HIGHER_IS_BETTER)" % metric)
    return HIGHER_IS_BETTER[metric]


def summarize(samples):
    """(median, min, max) of a non-empty list, or (None, None, None)."""
    vals = [float(s) for s in samples if s is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def faster_factor(metric, a, b):
    """How many times faster a is than b (> 1: a is faster). None when either is missing or zero."""
    if a is None or b is None or a <= 0 or b <= 0:
        return None
    return a / b if higher_is_better(metric) else b / a


def speedup(metric, clmd_median, peer_median):
    """Speedup of clmd over a peer: > 1 means clmd is faster, whatever the metric's direction."""
    return faster_factor(metric, clmd_median, peer_median)


def rel_spread(row):
    """(max - min) / median of a row's samples; 0 for a single sample or a missing row."""
    if not row or row.get("median") in (None, 0) or row.get("min") is None or row.get("max") is None:
        return 0.0
    return abs(row["max"] - row["min"]) / abs(row["median"])


def judge(new, base, min_tol=MIN_TOLERANCE):
    """Compares one row with the baseline's row of the same name.

    A regression is a new median slower than the slowest baseline sample (min for higher-is-better
    metrics, max otherwise) by more than tol = max(min_tol, relative spread of either row's
    samples). "faster" is the mirror image against the fastest baseline sample. Returns a dict
    with name, metric, base/new medians, change (new vs base median, > 0 means faster), tol and
    verdict: ok | regression | faster | blocked | was-blocked | new | not-run.
    """
    out = {"name": (new or base)["name"], "metric": (new or base).get("metric"), "engine": (new or base).get("engine"),
           "base": None, "new": None, "change": None, "tol": None, "verdict": "ok", "note": ""}
    if new is None:
        out.update(base=base.get("median"), verdict="not-run", note="row not in the new capsule")
        return out
    if base is None:
        out.update(new=new.get("median"), verdict="new", note="row not in the baseline")
        return out
    out["base"], out["new"] = base.get("median"), new.get("median")
    if new.get("status") != "ok":
        if base.get("status") == "ok":
            out.update(verdict="blocked", note="now blocked: %s" % new.get("reason", ""))
        else:
            out.update(verdict="was-blocked", note="blocked in both")
        return out
    if base.get("status") != "ok" or base.get("median") is None:
        out.update(verdict="new", note="blocked in the baseline")
        return out
    metric = new["metric"]
    if metric != base.get("metric"):
        out.update(verdict="new", note="metric changed from %s" % base.get("metric"))
        return out
    tol = max(min_tol, rel_spread(new), rel_spread(base))
    out["tol"] = tol
    out["change"] = faster_factor(metric, new["median"], base["median"]) - 1.0
    if higher_is_better(metric):
        slowest, fastest = base["min"], base["max"]
        if new["median"] < slowest * (1.0 - tol):
            out["verdict"] = "regression"
        elif new["median"] > fastest * (1.0 + tol):
            out["verdict"] = "faster"
    else:
        slowest, fastest = base["max"], base["min"]
        if new["median"] > slowest * (1.0 + tol):
            out["verdict"] = "regression"
        elif new["median"] < fastest * (1.0 - tol):
            out["verdict"] = "faster"
    return out


def gating(result):
    """Whether a judged row fails the comparison: only clmd's own rows gate (peers are context)."""
    return result.get("engine") == "clmd" and result["verdict"] in ("regression", "blocked")


def compare(new_capsule, base_capsule, min_tol=MIN_TOLERANCE):
    """Judges every row of either capsule; returns (results, failed)."""
    base = {r["name"]: r for r in base_capsule.get("rows", [])}
    new = {r["name"]: r for r in new_capsule.get("rows", [])}
    names = list(new) + [n for n in base if n not in new]
    results = [judge(new.get(n), base.get(n), min_tol) for n in names]
    return results, any(gating(r) for r in results)


def format_compare(results, base_capsule=None, new_capsule=None):
    """The comparison as a fixed-width text table."""
    lines = []
    if base_capsule and new_capsule:
        hb, hn = base_capsule.get("hardware", {}), new_capsule.get("hardware", {})
        if hb.get("cpu_model") != hn.get("cpu_model") or hb.get("cores") != hn.get("cores"):
            lines.append("warning: baseline hardware (%s, %s cores) differs from this run (%s, %s cores)"
                         % (hb.get("cpu_model"), hb.get("cores"), hn.get("cpu_model"), hn.get("cores")))
    if base_capsule and new_capsule and base_capsule.get("mode") != new_capsule.get("mode"):
        lines.append("warning: baseline is a %s-mode capsule, this run is %s mode (different step counts)"
                     % (base_capsule.get("mode"), new_capsule.get("mode")))
    lines.append("%-44s %-12s %12s %12s %8s %6s  %s" % ("row", "metric", "baseline", "new", "change", "tol", "verdict"))

    def num(v):
        return "-" if v is None else "%.4g" % v

    for r in results:
        change = "-" if r["change"] is None else "%+.1f%%" % (100 * r["change"])
        tol = "-" if r["tol"] is None else "%.0f%%" % (100 * r["tol"])
        verdict = r["verdict"].upper() if gating(r) else r["verdict"]
        lines.append("%-44s %-12s %12s %12s %8s %6s  %s%s" % (r["name"], r["metric"] or "-", num(r["base"]), num(r["new"]),
                                                            change, tol, verdict, ("  (" + r["note"] + ")") if r["note"] else ""))
    return "\n".join(lines)
