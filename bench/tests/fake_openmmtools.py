#!/usr/bin/python3
"""A stand-in for the openmmtools Python (CLMD_BENCH_OPENMMTOOLS_PYTHON=this file) for the REMD
self-tests: called as `PYTHON openmmtools_worker.py SPEC`, it speaks the worker's protocol without
OpenMM. FAKE_OMT_SPEED: replica-steps/s (default 500); FAKE_OMT_MODE: ok | noimport. It reports
22 particles, or the spec's alchemical campaign's FAKE_OMT_PARTICLES, and splits each run's time
into the worker's phases (70% propagate, 25% energies, 5% report)."""
import json
import os
import sys


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv):
    spec = json.loads(argv[1])
    if os.environ.get("FAKE_OMT_MODE") == "noimport":
        say({"ok": False, "error": "ModuleNotFoundError: No module named 'openmmtools'"})
        return 0
    K, n = len(spec["temperatures"]), spec["exchange_interval"]
    speed = float(os.environ.get("FAKE_OMT_SPEED", "500"))
    say({"ok": True, "ready": True, "openmm": "0.0-fake", "openmmtools": "0.0-fake", "platform": spec["platform"],
         "particles": int(os.environ.get("FAKE_OMT_PARTICLES", "22")) if spec.get("alchemical_atoms") else 22,
         "replicas": K, "setup_s": 0.0, "warmup_s": 0.0, "dt": spec["dt"],
         "friction": spec["friction"], "temperatures": spec["temperatures"]})
    for line in sys.stdin:
        w = line.split()
        if not w or w[0] == "quit":
            break
        rs = int(w[1]) * n * K
        t = rs / speed
        say({"ok": True, "iterations": int(w[1]), "replica_steps": rs, "seconds": t,
             "phases_s": {"mix": 0.0, "propagate": 0.7 * t, "energies": 0.25 * t, "report": 0.05 * t}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
