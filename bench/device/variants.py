#!/usr/bin/env python3
"""Table of a GPU list-settings study: reads the log of bench/device/list-study (one `clmd run`
per benchmark deck and setting, each followed by its probe summary line "steps/s N ...") and
prints a markdown table of steps/s per benchmark and setting, with each setting's ratio to the
first. Usage: bench/device/variants.py LOG ['label=description' ...] (a label may hold '=': the
description follows the last one); bench/device/variants.py --pick LOG prints the setting whose
geometric-mean speedup over "default" is largest, if above 1.03 (nothing otherwise)."""
import math
import re
import sys


def parse(path):
    res, order, cur = {}, [], None
    for line in open(path):
        m = re.match(r"^(\S+) (\S+): performance", line)
        if m:
            cur = m.groups()
            continue
        m = re.match(r"^\s+steps/s ([0-9.]+) ", line)
        if m and cur:
            row, lab = cur
            res.setdefault(row, {})[lab] = float(m.group(1))
            if lab not in order:
                order.append(lab)
            cur = None
    return res, order


def pick(path):
    res, order = parse(path)
    best, best_g = None, 1.03
    for lab in order:
        if lab == "default":
            continue
        common = [r for r in res if lab in res[r] and "default" in res[r]]
        if not common:
            continue
        g = math.exp(sum(math.log(res[r][lab] / res[r]["default"]) for r in common) / len(common))
        sys.stderr.write("%s: geometric-mean speedup %.3f over %d benchmarks\n" % (lab, g, len(common)))
        if g > best_g:
            best, best_g = lab, g
    if best:
        print(best.replace("+", " "))


def main():
    if sys.argv[1] == "--pick":
        return pick(sys.argv[2])
    res, order = parse(sys.argv[1])
    desc = dict(a.rsplit("=", 1) for a in sys.argv[2:])
    labs = [l for l in desc if l in order] or order
    print("| benchmark | " + " | ".join(desc.get(l, l) for l in labs) + " |")
    print("|---|" + "---:|" * len(labs))
    for row, v in res.items():
        base = v.get(labs[0])
        cells = []
        for l in labs:
            if l not in v:
                cells.append("")
            elif l == labs[0] or not base:
                cells.append("%.0f" % v[l])
            else:
                cells.append("%.0f (%.2fx)" % (v[l], v[l] / base))
        print("| %s | %s |" % (row, " | ".join(cells)))


if __name__ == "__main__":
    main()
