#!/usr/bin/python3
"""A stand-in for build/clmd used by the harness self-tests (CLMD_BIN=this file). It follows the
command-line contract (run/eval/--version) and writes clmd-probes/1 and eval JSON with known values:

  FAKE_CLMD_SPEED  steps/s of the loop after warm-up (default 100); the first 10% of steps take 5x longer
  FAKE_CLMD_FERR   relative error of the "device" forces against the "reference" ones (default 1e-5)
  FAKE_CLMD_MODE   ok | fail (exit 2 with a message) | noprobe (exit 0, no file) | badschema
  FAKE_CLMD_NPT_COST  with a `barostat:` deck key, steps take this many times longer (default 1.08)
                   and the probe has barostat and box_scale phases
"""
import json
import os
import sys


def arg(args, name, default=None):
    return args[args.index(name) + 1] if name in args else default


def main(argv):
    if argv[:1] == ["--version"]:
        print("clmd 0.0.0-fake (fakecommit)")
        return 0
    mode = os.environ.get("FAKE_CLMD_MODE", "ok")
    if mode == "fail":
        print("deck.yaml:3:5: system: device lost while building kernels", file=sys.stderr)
        return 2
    if len(argv) < 2 or argv[0] not in ("run", "eval"):
        print("usage: clmd run|eval DECK ...", file=sys.stderr)
        return 1
    deck = open(argv[1]).read()
    if argv[0] == "eval":
        ref = [[1.0 + i, -2.0 * i, 0.5] for i in range(10)]
        if arg(argv, "--device") != "reference":
            e = float(os.environ.get("FAKE_CLMD_FERR", "1e-5"))
            ref = [[v * (1 + e) for v in f] for f in ref]
        with open(arg(argv, "--json"), "w") as f:
            json.dump({"clmd_version": "0.0.0-fake", "device": arg(argv, "--device"), "particles": 10,
                       "energies": {"total": -1.0}, "forces": ref}, f)
        return 0
    steps = int(arg(argv, "--steps", "10"))
    speed = float(os.environ.get("FAKE_CLMD_SPEED", "100"))
    npt = "barostat:" in deck
    if npt:
        speed /= float(os.environ.get("FAKE_CLMD_NPT_COST", "1.08"))
    if mode == "noprobe":
        return 0
    per = 1e9 / speed
    warm = max(1, int(steps * 0.1))
    samples = [per * 5 if i < warm else per for i in range(steps)]
    loop = sum(samples)
    names = [("nlist_build", 0.1, 1), ("nonbonded", 0.6, 1), ("integrate", 0.1, 1)]
    if "method: pme" in deck:
        names += [("pme_spread", 0.05, 2), ("pme_fft_forward", 0.03, 2), ("pme_convolve", 0.01, 2),
                  ("pme_fft_inverse", 0.03, 2), ("pme_gather", 0.04, 2)]
    if npt:
        names += [("barostat", 0.07, 1), ("box_scale", 0.001, 2)]
    phases = [{"name": "md_loop", "level": 0, "device": False, "calls": steps, "total_ms": loop * 1e-6,
               "ms_per_step": loop * 1e-6 / steps, "share": 1.0, "samples_ns": samples}]
    for n, share, level in names:
        phases.append({"name": n, "level": level, "device": n != "nlist_build", "calls": steps,
                       "total_ms": share * loop * 1e-6, "ms_per_step": share * loop * 1e-6 / steps, "share": share,
                       "samples_ns": [share * s for s in samples]})
    probe = {"schema": "clmd-probes/1" if mode != "badschema" else "other/9",
             "build": {"version": "0.0.0-fake", "git_commit": "fakecommit", "compiler": "cc 0", "flags": "-O2"},
             "info": {"device": "fake device", "driver": "fake 1.0", "platform": "Fake CL"},
             "steps": steps, "loop_ms": loop * 1e-6, "steps_per_s": steps / (loop * 1e-9),
             "counters": {"nlist_rebuilds": steps // 10, "device_bytes_peak": 4000 * 1200}, "phases": phases}
    with open(arg(argv, "--probe-json"), "w") as f:
        json.dump(probe, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
