#!/usr/bin/python3
"""OpenMM side of the NPT validation (bench/npt/run): starting structures and the reference run.

    openmm_npt.py start MODEL NWATERS OUT.pdb
        A cubic box of NWATERS waters of MODEL (tip4pew | tip3p) from OpenMM's Modeller, written as
        PDB with a CRYST1 box. Both engines start from this file.
    openmm_npt.py run SPEC.json
        The NPT protocol with OpenMM's MonteCarloBarostat; SPEC holds pdb, model, cutoff,
        ewald_tolerance, temperature, pressure_bar, friction, dt, interval, steps, sample_steps,
        minimize_steps, seed, threads, platform, out (CSV path), final_pdb (optional: the last
        configuration is written there). The CSV has clmd's energies.csv
        column names for what both engines write: step, time_ps, potential, temperature_K,
        volume_nm3, density_g_cm3. The last stdout line is a JSON summary (acceptance is not
        exposed by OpenMM 7.7's Python API, so it is not reported).

Runs with /usr/bin/python3 (Debian's OpenMM 7.7) or any Python with the openmm package.
"""
import json
import sys
import time

try:
    import openmm as mm
    import openmm.app as app
    import openmm.unit as u
except ImportError:  # OpenMM < 7.6 spells it simtk.openmm
    import simtk.openmm as mm
    import simtk.openmm.app as app
    import simtk.unit as u

AVOGADRO = 6.02214076e23
KB = 0.00831446261815324  # kJ/mol/K, the value clmd uses


def make_start(model, nwaters, out):
    ff = app.ForceField(model + ".xml")
    m = app.Modeller(app.Topology(), [])
    m.addSolvent(ff, model=model, numAdded=nwaters, neutralize=False)
    with open(out, "w") as f:
        app.PDBFile.writeFile(m.topology, m.positions, f)
    box = m.topology.getPeriodicBoxVectors()
    print(json.dumps({"pdb": out, "model": model, "waters": nwaters, "atoms": m.topology.getNumAtoms(),
                      "box_nm": box[0][0].value_in_unit(u.nanometer)}))


def run(spec):
    pdb = app.PDBFile(spec["pdb"])
    ff = app.ForceField(spec["model"] + ".xml")
    system = ff.createSystem(pdb.topology, nonbondedMethod=app.PME,
                             nonbondedCutoff=spec["cutoff"] * u.nanometer,
                             ewaldErrorTolerance=spec["ewald_tolerance"], rigidWater=True,
                             constraints=None, removeCMMotion=True)
    for f in system.getForces():
        if isinstance(f, mm.NonbondedForce):
            f.setUseDispersionCorrection(True)
        if isinstance(f, mm.CMMotionRemover):
            f.setFrequency(spec.get("com_interval", 100))  # as clmd's default com_interval
    T = spec["temperature"]
    baro = mm.MonteCarloBarostat(spec["pressure_bar"] * u.bar, T * u.kelvin, spec["interval"])
    baro.setRandomNumberSeed(spec["seed"])
    system.addForce(baro)
    integ = mm.LangevinMiddleIntegrator(T * u.kelvin, spec["friction"] / u.picosecond,
                                        spec["dt"] * u.picoseconds)
    integ.setRandomNumberSeed(spec["seed"])
    plat = mm.Platform.getPlatformByName(spec.get("platform", "CPU"))
    props = {"Threads": str(spec["threads"])} if spec.get("platform", "CPU") == "CPU" else {}
    ctx = mm.Context(system, integ, plat, props)
    ctx.setPeriodicBoxVectors(*pdb.topology.getPeriodicBoxVectors())
    ctx.setPositions(pdb.positions)
    if spec.get("minimize_steps"):
        mm.LocalEnergyMinimizer.minimize(ctx, 10.0, spec["minimize_steps"])
    ctx.setVelocitiesToTemperature(T * u.kelvin, spec["seed"])

    mass = sum(system.getParticleMass(i).value_in_unit(u.dalton) for i in range(system.getNumParticles()))
    real = sum(1 for i in range(system.getNumParticles()) if system.getParticleMass(i).value_in_unit(u.dalton) > 0)
    dof = 3 * real - system.getNumConstraints() - 3

    def sample(f, step):
        st = ctx.getState(getEnergy=True)
        V = st.getPeriodicBoxVolume().value_in_unit(u.nanometer ** 3)
        pe = st.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        ke = st.getKineticEnergy().value_in_unit(u.kilojoule_per_mole)
        rho = mass / AVOGADRO / (V * 1e-21)  # g/cm^3
        f.write("%d,%.6f,%.6f,%.4f,%.8f,%.8f\n" % (step, step * spec["dt"], pe, 2 * ke / (dof * KB), V, rho))

    t0 = time.perf_counter()
    with open(spec["out"], "w") as f:
        f.write("step,time_ps,potential,temperature_K,volume_nm3,density_g_cm3\n")
        sample(f, 0)
        step = 0
        while step < spec["steps"]:
            n = min(spec["sample_steps"], spec["steps"] - step)
            integ.step(n)
            step += n
            sample(f, step)
            f.flush()
    wall = time.perf_counter() - t0
    if spec.get("final_pdb"):  # the last configuration, for bench/npt/pressure_check
        st = ctx.getState(getPositions=True, enforcePeriodicBox=True)
        top = pdb.topology
        top.setPeriodicBoxVectors(st.getPeriodicBoxVectors())
        with open(spec["final_pdb"], "w") as f:
            app.PDBFile.writeFile(top, st.getPositions(), f)
    print(json.dumps({"engine": "openmm", "version": mm.version.full_version, "platform": plat.getName(),
                      "threads": spec.get("threads"), "steps": spec["steps"], "wall_s": wall,
                      "steps_per_s": spec["steps"] / wall, "particles": system.getNumParticles(),
                      "molecules": pdb.topology.getNumResidues()}))


def main(argv):
    if len(argv) == 4 and argv[0] == "start":
        make_start(argv[1], int(argv[2]), argv[3])
    elif len(argv) == 2 and argv[0] == "run":
        with open(argv[1]) as f:
            run(json.load(f))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
