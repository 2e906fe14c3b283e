#!/usr/bin/python3
"""OpenMM peer worker for clmd's benchmark harness (run by /usr/bin/python3, where OpenMM 7.7 lives).

It builds one system from a JSON spec given as argv[1], creates the Context on the requested
platform, warms up (kernel compilation, first neighbor list), then serves timing requests on
stdin so that the harness can interleave OpenMM runs with clmd runs without paying setup again:

    stdin  "run N"   -> stdout {"ok": true, "steps": N, "seconds": S}
    stdin  "quit"    -> exits
The first stdout line is {"ok": true, "ready": true, ...facts...} or {"ok": false, "error": "..."}.
Only the stepping loop is timed, ending with a state download so that queued device work is done.
Stdout carries only the protocol: anything OpenMM prints goes to stderr.
"""
import json
import math
import os
import sys
import time
import traceback

_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)


def say(obj):
    _proto.write(json.dumps(obj) + "\n")
    _proto.flush()


def fcc_positions(cells, a):
    basis = ((0, 0, 0), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5))
    pos = []
    for i in range(cells):
        for j in range(cells):
            for k in range(cells):
                for b in basis:
                    pos.append(((i + b[0]) * a, (j + b[1]) * a, (k + b[2]) * a))
    return pos


def build(spec, mm, app, u):
    """Returns (system, positions, box_vectors or None)."""
    kind = spec["kind"]
    if kind == "lj_fcc":
        cells, sigma = spec["cells"], spec["sigma"]
        a = (4.0 / spec["reduced_density"]) ** (1.0 / 3.0) * sigma
        L = a * cells
        s = mm.System()
        box = (mm.Vec3(L, 0, 0), mm.Vec3(0, L, 0), mm.Vec3(0, 0, L))
        s.setDefaultPeriodicBoxVectors(*box)
        nb = mm.NonbondedForce()
        nb.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
        nb.setCutoffDistance(spec["cutoff"])
        nb.setUseDispersionCorrection(bool(spec.get("dispersion_correction", True)))
        # CutoffPeriodic applies reaction field to charges; every charge is zero, so this is plain
        # truncated LJ, the same potential as clmd's `cutoff` method and LAMMPS lj/cut.
        for _ in range(4 * cells ** 3):
            s.addParticle(spec["mass"])
            nb.addParticle(0.0, sigma, spec["epsilon"])
        s.addForce(nb)
        if spec.get("com_interval"):
            s.addForce(mm.CMMotionRemover(spec["com_interval"]))
        pos = [mm.Vec3(*p) for p in fcc_positions(cells, a)] * u.nanometer
        return s, pos, box
    method = {"pme": app.PME, "reaction_field": app.CutoffPeriodic, "cutoff": app.CutoffPeriodic,
              "nocutoff": app.NoCutoff}[spec["method"]]
    cons = {"none": None, "hbonds": app.HBonds, "allbonds": app.AllBonds}[spec.get("constraints", "none")]
    kw = dict(nonbondedMethod=method, constraints=cons, rigidWater=bool(spec.get("rigid_water", True)),
              removeCMMotion=bool(spec.get("com_interval")))
    if spec["method"] != "nocutoff":
        kw["nonbondedCutoff"] = spec["cutoff"] * u.nanometer
    if spec["method"] == "pme":
        kw["ewaldErrorTolerance"] = spec.get("ewald_tolerance", 5e-4)
    if kind == "amber":
        top = app.AmberPrmtopFile(spec["prmtop"])
        crd = app.AmberInpcrdFile(spec["inpcrd"])
        if spec.get("implicit") == "obc2":
            kw["implicitSolvent"] = app.OBC2
        elif spec.get("implicit") == "obc1":
            kw["implicitSolvent"] = app.OBC1
        s = top.createSystem(**kw)
        box = crd.boxVectors
        pos = crd.positions
    elif kind == "pdb_water":
        pdb = app.PDBFile(spec["pdb"])
        ff = app.ForceField(spec["model"] + ".xml")
        s = ff.createSystem(pdb.topology, **kw)
        box = pdb.topology.getPeriodicBoxVectors()
        pos = pdb.positions
    else:
        raise ValueError("no OpenMM builder for system kind %r" % kind)
    if box is not None:
        s.setDefaultPeriodicBoxVectors(*box)
    for f in s.getForces():
        if isinstance(f, mm.NonbondedForce) and spec["method"] != "nocutoff":
            f.setUseDispersionCorrection(bool(spec.get("dispersion_correction", True)))
        if isinstance(f, mm.CMMotionRemover) and spec.get("com_interval"):
            f.setFrequency(spec["com_interval"])
    if spec.get("barostat"):  # NPT: isotropic Monte Carlo moves at the integrator's temperature
        b = spec["barostat"]
        baro = mm.MonteCarloBarostat(b["pressure_bar"] * u.bar, spec["temperature"] * u.kelvin, b["interval"])
        baro.setRandomNumberSeed(b.get("seed", 0))
        s.addForce(baro)
    return s, pos, box


def main():
    spec = json.loads(sys.argv[1])
    try:
        t0 = time.perf_counter()
        import openmm as mm
        import openmm.app as app
        import openmm.unit as u
        system, pos, box = build(spec, mm, app, u)
        integ = mm.LangevinMiddleIntegrator(spec["temperature"] * u.kelvin, spec.get("friction", 1.0) / u.picosecond,
                                            spec["dt"] * u.picoseconds)
        integ.setRandomNumberSeed(spec.get("seed", 1))
        plat = mm.Platform.getPlatformByName(spec["platform"])
        props = {}
        if spec["platform"] == "CPU" and spec.get("threads"):
            props["Threads"] = str(spec["threads"])
        ctx = mm.Context(system, integ, plat, props)
        if box is not None:
            ctx.setPeriodicBoxVectors(*box)
        ctx.setPositions(pos)
        if spec.get("minimize"):  # the same untimed preparation clmd's deck asks for
            mm.LocalEnergyMinimizer.minimize(ctx, spec["minimize"]["tolerance"], spec["minimize"]["max_steps"])
        ctx.setVelocitiesToTemperature(spec["temperature"] * u.kelvin, spec.get("seed", 1))
        setup_s = time.perf_counter() - t0
        # warm-up: kernel compilation, first neighbor lists, buffer resizing; up to `warmup` steps,
        # stopping early (after at least 10) once `warmup_s` seconds have gone
        t1 = time.perf_counter()
        done, want, limit = 0, int(spec.get("warmup", 20)), float(spec.get("warmup_s", 3.0))
        while done < want:
            n = min(10, want - done)
            integ.step(n)
            st = ctx.getState(getEnergy=True, getPositions=True)
            done += n
            if time.perf_counter() - t1 > limit:
                break
        warm_s = time.perf_counter() - t1
        pe = st.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        facts = {name: plat.getPropertyValue(ctx, name) for name in plat.getPropertyNames()
                 if name in ("Precision", "Threads", "OpenCLPlatformIndex", "DeviceIndex")}
        if spec.get("barostat"):
            facts["barostat"] = "MonteCarloBarostat %g bar every %d steps" % (spec["barostat"]["pressure_bar"],
                                                                             spec["barostat"]["interval"])
        say({"ok": True, "ready": True, "openmm": mm.version.full_version, "platform": plat.getName(),
             "properties": facts, "particles": system.getNumParticles(), "setup_s": setup_s,
             "warmup_s": warm_s, "warmup_steps": done, "potential_energy": pe})
    except Exception as e:  # the harness turns this into a "blocked" row
        traceback.print_exc()
        say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        return 0
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] != "run" or len(words) != 2:
            say({"ok": False, "error": "bad request %r" % line.strip()})
            continue
        try:
            n = int(words[1])
            t = time.perf_counter()
            integ.step(n)
            st = ctx.getState(getEnergy=True, getPositions=True)  # waits for the queued steps
            dt = time.perf_counter() - t
            pe = st.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
            if not math.isfinite(pe):
                say({"ok": False, "error": "potential energy is %r after %d steps" % (pe, n)})
                continue
            say({"ok": True, "steps": n, "seconds": dt, "potential_energy": pe})
        except Exception as e:
            say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
