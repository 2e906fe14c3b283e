#!/usr/bin/env python3
"""openmmtools peer worker for clmd's REMD benchmarks (run by $CLMD_BENCH_OPENMMTOOLS_PYTHON or the
venv-omt Python: openmmtools and a recent OpenMM live there, not in /usr/bin/python3).

It builds the Amber system of a JSON spec (argv[1]) as prmtop.createSystem(implicitSolvent=OBC2,
constraints=HBonds, nonbondedMethod=NoCutoff) or with PME (explicit water), one ThermodynamicState
per temperature (or, with an alchemical ladder, one AlchemicalState per lambda pair), a
ReplicaExchangeSampler with a LangevinSplittingDynamicsMove (dt, friction, exchange_interval steps
per iteration, velocities kept), neighbour swaps, no online analysis, both context caches on the
requested platform, and storage in a temporary folder (removed at exit). It runs the warm-up
iteration(s), then serves timing requests on stdin:

    stdin  "run N"   -> stdout {"ok": true, "iterations": N, "replica_steps": R, "seconds": S}
    stdin  "quit"    -> exits
The first stdout line is {"ok": true, "ready": true, ...facts...} or {"ok": false, "error": "..."}.
The timed region is sampler.extend(N): propagation of every replica, the energy matrix, the swaps
and the storage writes of N iterations; "phases_s" splits it (seconds in _mix_replicas,
_propagate_replicas, _compute_energies, _report_iteration). Stdout carries only the protocol.
"""
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import traceback

_proto = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # anything the libraries print goes to stderr


def say(obj):
    _proto.write(json.dumps(obj) + "\n")
    _proto.flush()


def build(spec, mm, app, u):
    """The OpenMM System: an Amber prmtop without cutoff (implicit solvent or vacuum) or with PME
    (explicit water; the dispersion correction on, as clmd's deck says)."""
    if spec.get("kind") != "amber" or spec.get("method") not in ("nocutoff", "pme"):
        raise ValueError("the openmmtools peer builds Amber systems without cutoff or with PME only (got %s, %s)"
                         % (spec.get("kind"), spec.get("method")))
    implicit = {"obc2": app.OBC2, "obc1": app.OBC1, None: None}[spec.get("implicit")]
    cons = {"none": None, "hbonds": app.HBonds, "allbonds": app.AllBonds}[spec.get("constraints", "none")]
    top = app.AmberPrmtopFile(spec["prmtop"])
    crd = app.AmberInpcrdFile(spec["inpcrd"])
    if spec["method"] == "pme":
        system = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=spec["cutoff"] * u.nanometer,
                                  constraints=cons, rigidWater=spec.get("rigid_water", True),
                                  ewaldErrorTolerance=spec.get("ewald_tolerance", 5e-4))
        for f in system.getForces():
            if isinstance(f, mm.NonbondedForce):
                f.setUseDispersionCorrection(bool(spec.get("dispersion_correction", True)))
    else:
        system = top.createSystem(implicitSolvent=implicit, constraints=cons, nonbondedMethod=app.NoCutoff)
    for f in system.getForces():  # the COM remover every com_interval steps, as the OpenMM peer rows
        if isinstance(f, mm.CMMotionRemover) and spec.get("com_interval"):
            f.setFrequency(spec["com_interval"])
    box = system.getDefaultPeriodicBoxVectors() if system.usesPeriodicBoundaryConditions() else None
    return system, crd.positions, box


def thermodynamic_states(spec, system, u, states):
    """One ThermodynamicState per temperature, or, with an alchemical ladder, one
    CompoundThermodynamicState per (lambda_sterics, lambda_electrostatics) at the one temperature
    (AbsoluteAlchemicalFactory and AlchemicalRegion with their defaults: PME 'exact', soft-core
    alpha 0.5, sterics decoupled, the alchemical dispersion correction on)."""
    temps = spec["temperatures"]
    if not spec.get("alchemical_atoms"):
        return [states.ThermodynamicState(system=system, temperature=T * u.kelvin) for T in temps]
    from openmmtools import alchemy
    asys = alchemy.AbsoluteAlchemicalFactory().create_alchemical_system(
        system, alchemy.AlchemicalRegion(alchemical_atoms=list(spec["alchemical_atoms"])))
    astate = alchemy.AlchemicalState.from_system(asys)
    base = states.ThermodynamicState(system=asys, temperature=temps[0] * u.kelvin)
    out = []
    for ls, le in zip(spec["lambda_sterics"], spec["lambda_electrostatics"]):
        s = states.CompoundThermodynamicState(base, composable_states=[astate])
        s.lambda_sterics, s.lambda_electrostatics = ls, le
        out.append(s)
    return out


PHASES = (("mix", "_mix_replicas"), ("propagate", "_propagate_replicas"), ("energies", "_compute_energies"),
          ("report", "_report_iteration"))


def time_phases(sampler, acc):
    """Wraps the sampler's iteration steps (mixing, propagation, the energy matrix, the storage
    writes) so that acc[name] accumulates their seconds."""
    for name, attr in PHASES:
        fn = getattr(sampler, attr, None)
        if fn is None:
            continue

        def timed(*a, _fn=fn, _name=name, **k):
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                acc[_name] = acc.get(_name, 0.0) + time.perf_counter() - t
        setattr(sampler, attr, timed)


class LoopSampler:
    """The core of a replica-exchange iteration in plain OpenMM, without openmmtools (the
    "openmm-loop" peer): one Context on the platform; per iteration each replica's positions,
    velocities and bath temperature go in, n Langevin steps run, positions, velocities and the
    potential energy come out (the work openmmtools' ReplicaExchangeSampler does per replica, minus
    its storage writes and bookkeeping, so it is a lower bound of openmmtools' time), then the
    reduced-energy matrix and neighbour swaps of the temperature labels."""

    def __init__(self, spec, mm, app, u, system, pos, plat):
        self.mm, self.u = mm, u
        self.temps = spec["temperatures"]
        self.n = int(spec["exchange_interval"])
        self.K = len(self.temps)
        self.integ = mm.LangevinMiddleIntegrator(self.temps[0] * u.kelvin, spec.get("friction", 1.0) / u.picosecond,
                                                 spec["dt"] * u.picoseconds)
        self.ctx = mm.Context(system, self.integ, plat)
        self.ctx.setPositions(pos)
        self.state_of = list(range(self.K))
        self.pos, self.vel = [], []
        for T in self.temps:
            self.ctx.setVelocitiesToTemperature(T * u.kelvin)
            st = self.ctx.getState(getPositions=True, getVelocities=True)
            self.pos.append(st.getPositions(asNumpy=True))
            self.vel.append(st.getVelocities(asNumpy=True))
        self.iteration, self.energy = 0, 0.0

    def extend(self, n_iterations):
        import random
        kB = 0.00831446261815324
        rng = random.Random(11 + self.iteration)
        for _ in range(n_iterations):
            U = []
            for r in range(self.K):
                T = self.temps[self.state_of[r]]
                self.integ.setTemperature(T * self.u.kelvin)
                self.ctx.setPositions(self.pos[r])
                self.ctx.setVelocities(self.vel[r])
                self.integ.step(self.n)
                st = self.ctx.getState(getPositions=True, getVelocities=True, getEnergy=True)
                self.pos[r] = st.getPositions(asNumpy=True)
                self.vel[r] = st.getVelocities(asNumpy=True)
                U.append(st.getPotentialEnergy().value_in_unit(self.u.kilojoule_per_mole))
            rep_in = {s: r for r, s in enumerate(self.state_of)}
            for i in range(self.iteration % 2, self.K - 1, 2):
                a, b = rep_in[i], rep_in[i + 1]
                d = (1 / (kB * self.temps[i]) - 1 / (kB * self.temps[i + 1])) * (U[b] - U[a])
                if d <= 0 or rng.random() < math.exp(-d):
                    self.state_of[a], self.state_of[b] = i + 1, i
                    rep_in[i], rep_in[i + 1] = b, a
            self.energy = U[0]
            self.iteration += 1


def main_loop(spec):
    """The openmm-loop peer: the same protocol as main(), with LoopSampler."""
    try:
        t0 = time.perf_counter()
        import openmm as mm
        import openmm.app as app
        import openmm.unit as u
        system, pos, box = build(spec, mm, app, u)
        plat = mm.Platform.getPlatformByName(spec["platform"])
        sampler = LoopSampler(spec, mm, app, u, system, pos, plat)
        if box is not None:
            sampler.ctx.setPeriodicBoxVectors(*box)
        setup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        sampler.extend(int(spec.get("warmup_iterations", 1)))
        props = {n: plat.getPropertyValue(sampler.ctx, n) for n in plat.getPropertyNames()
                 if n in ("Precision", "OpenCLPlatformIndex", "DeviceIndex", "DeviceName", "OpenCLPlatformName")}
        say({"ok": True, "ready": True, "openmm": mm.version.full_version, "openmmtools": None,
             "platform": plat.getName(), "properties": props, "particles": system.getNumParticles(),
             "replicas": sampler.K, "setup_s": setup_s, "warmup_s": time.perf_counter() - t1})
    except Exception as e:
        traceback.print_exc()
        say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        return 0
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        try:
            n = int(words[1])
            t = time.perf_counter()
            sampler.extend(n)
            dt = time.perf_counter() - t
            if not math.isfinite(sampler.energy):
                say({"ok": False, "error": "potential energy is %r" % sampler.energy})
                continue
            say({"ok": True, "iterations": n, "replica_steps": n * sampler.n * sampler.K, "seconds": dt,
                 "potential_energy": sampler.energy})
        except Exception as e:
            traceback.print_exc()
            say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    return 0


def main():
    spec = json.loads(sys.argv[1])
    if spec.get("engine") == "openmm-loop":
        return main_loop(spec)
    store = None
    try:
        t0 = time.perf_counter()
        logging.basicConfig(level=logging.ERROR, stream=sys.stderr)
        import openmm as mm
        import openmm.app as app
        import openmm.unit as u
        import openmmtools
        from openmmtools import cache, mcmc, multistate, states
        logging.getLogger("openmmtools").setLevel(logging.ERROR)
        system, pos, box = build(spec, mm, app, u)
        plat = mm.Platform.getPlatformByName(spec["platform"])
        temps = spec["temperatures"]
        K, nsteps = len(temps), int(spec["exchange_interval"])
        thermo = thermodynamic_states(spec, system, u, states)
        move = mcmc.LangevinSplittingDynamicsMove(timestep=spec["dt"] * u.picoseconds,
                                                  collision_rate=spec.get("friction", 1.0) / u.picosecond,
                                                  n_steps=nsteps, reassign_velocities=False)
        sampler = multistate.ReplicaExchangeSampler(mcmc_moves=move, number_of_iterations=1,
                                                    online_analysis_interval=None,
                                                    replica_mixing_scheme="swap-neighbors")
        # every Context on the requested platform (the global cache would pick the fastest one)
        cache.global_context_cache.platform = plat
        sampler.energy_context_cache = cache.ContextCache(capacity=None, time_to_live=None, platform=plat)
        sampler.sampler_context_cache = cache.ContextCache(capacity=None, time_to_live=None, platform=plat)
        store = tempfile.mkdtemp(prefix="clmd-bench-openmmtools-")
        # positions/velocities checkpoints far apart: every iteration still writes energies and states
        reporter = multistate.MultiStateReporter(os.path.join(store, "remd.nc"), checkpoint_interval=1000)
        sampler_state = states.SamplerState(positions=pos, box_vectors=box)
        sampler.create(thermodynamic_states=thermo, sampler_states=sampler_state, storage=reporter)
        phases = {}
        time_phases(sampler, phases)
        setup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        warm = int(spec.get("warmup_iterations", 1))
        sampler.extend(n_iterations=warm)
        warm_s = time.perf_counter() - t1
        n_ctx = len(sampler.sampler_context_cache)
        # the Context the moves ran in (without an integrator, the cache returns any it holds for the state)
        ctx, _ = sampler.sampler_context_cache.get_context(thermo[0])
        props = {n: plat.getPropertyValue(ctx, n) for n in plat.getPropertyNames()
                 if n in ("Precision", "OpenCLPlatformIndex", "DeviceIndex", "DeviceName", "OpenCLPlatformName")}
        props["contexts"] = n_ctx
        say({"ok": True, "ready": True, "openmm": mm.version.full_version, "openmmtools": openmmtools.__version__,
             "platform": plat.getName(), "properties": props, "particles": system.getNumParticles(),
             "replicas": K, "setup_s": setup_s, "warmup_s": warm_s, "warmup_iterations": warm, "storage": store})
    except Exception as e:  # the harness turns this into a "blocked" row
        traceback.print_exc()
        say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        if store:
            shutil.rmtree(store, ignore_errors=True)
        return 0
    try:
        for line in sys.stdin:
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] != "run" or len(words) != 2:
                say({"ok": False, "error": "bad request %r" % line.strip()})
                continue
            try:
                n = int(words[1])
                phases.clear()
                t = time.perf_counter()
                sampler.extend(n_iterations=n)
                dt = time.perf_counter() - t
                e = sampler._sampler_states[0].potential_energy
                pe = e.value_in_unit(u.kilojoule_per_mole) if e is not None else 0.0
                if not math.isfinite(pe):
                    say({"ok": False, "error": "potential energy is %r after %d iterations" % (pe, n)})
                    continue
                say({"ok": True, "iterations": n, "replica_steps": n * nsteps * K, "seconds": dt,
                     "potential_energy": pe, "phases_s": dict(phases)})
            except Exception as e:
                traceback.print_exc()
                say({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    finally:
        try:
            reporter.close()
        except Exception:
            pass
        shutil.rmtree(store, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
