#!/usr/bin/python3
"""A stand-in for build/clmd that runs replica-exchange decks (CLMD_BIN=this file) for the REMD
self-tests; any other command or deck goes to fake_clmd.py. A campaign's probe JSON is what clmd
writes for one: steps and the counter replica_steps are replica-steps, md_loop is one call.

  FAKE_REMD_BATCHED  replica-steps/s with --replicas-per-device auto (default 4000)
  FAKE_REMD_ONE      replica-steps/s with --replicas-per-device 1 (default 1000)
  FAKE_REMD_MODE     ok | nocounter (a probe without replica_steps, as a clmd that ran plain MD)
A lambda campaign (replica_exchange.lambdas) also gets the phases remd_md (80% of the loop) and
remd_exchange (20%).
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_clmd  # noqa: E402


def main(argv):
    if len(argv) < 2 or argv[0] != "run":
        return fake_clmd.main(argv)
    deck = open(argv[1]).read()
    m = re.search(r"^replica_exchange:\n  temperatures: \{min: [0-9.]+, max: [0-9.]+, count: (\d+)\}", deck, re.M)
    lam = re.search(r"^replica_exchange:\n  lambdas:\n    sterics: \[([^]]*)\]", deck, re.M)
    if not m and not lam:
        return fake_clmd.main(argv)
    K = int(m.group(1)) if m else len(lam.group(1).split(","))
    steps = int(fake_clmd.arg(argv, "--steps", "100"))
    rpd = fake_clmd.arg(argv, "--replicas-per-device", "auto")
    speed = float(os.environ.get("FAKE_REMD_ONE" if rpd == "1" else "FAKE_REMD_BATCHED", "1000" if rpd == "1" else "4000"))
    done = steps * K
    loop_ms = done / speed * 1e3
    counters = {"replica_steps": done, "exchange_rounds": steps // 100}
    if os.environ.get("FAKE_REMD_MODE") == "nocounter":
        counters = {}
    phases = [{"name": "md_loop", "level": 0, "device": False, "calls": 1, "total_ms": loop_ms,
               "ms_per_step": loop_ms / done, "share": 1.0, "samples_ns": [loop_ms * 1e6]},
              {"name": "setup", "level": 0, "device": False, "calls": K if rpd == "1" else 1, "total_ms": 5.0,
               "ms_per_step": 5.0 / done, "share": 0.0, "samples_ns": []},
              {"name": "nlist_check", "level": 1, "device": False, "calls": steps * K, "total_ms": 0.5 * loop_ms,
               "ms_per_step": 0.5 * loop_ms / done, "share": 0.5, "samples_ns": []}]
    if lam:  # a lambda campaign: 80% MD, 20% exchanges (the energy matrix)
        phases += [{"name": n, "level": 1, "device": False, "calls": steps // 100, "total_ms": f * loop_ms,
                    "ms_per_step": f * loop_ms / done, "share": f, "samples_ns": []}
                   for n, f in (("remd_md", 0.8), ("remd_exchange", 0.2))]
    probe = {"schema": "clmd-probes/1",
             "build": {"version": "0.0.0-fake", "git_commit": "fakecommit", "compiler": "cc 0", "flags": "-O2"},
             "info": {"device": "fake device", "platform": "Fake CL"},
             "steps": done, "loop_ms": loop_ms, "steps_per_s": speed, "counters": counters, "phases": phases}
    with open(fake_clmd.arg(argv, "--probe-json"), "w") as f:
        json.dump(probe, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
