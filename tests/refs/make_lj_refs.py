#!/usr/bin/python3
"""Reference for LJ with OpenMM's switching function and the switched dispersion correction:
the shared argon system (../../../shared/data/systems/lj_argon.pdb), cutoff 0.85 nm, switch from
0.75 nm, OpenMM 7.7 Reference platform. Writes lj_argon_switch.json (energy, forces).
Run: /usr/bin/python3 make_lj_refs.py [path to shared/data]"""
import json, os, sys
import openmm as mm, openmm.app as app, openmm.unit as u
data = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/data')
pdb = app.PDBFile(os.path.join(data, 'systems/lj_argon.pdb'))
L = pdb.topology.getPeriodicBoxVectors()[0][0].value_in_unit(u.nanometer)
s = mm.System()
s.setDefaultPeriodicBoxVectors(mm.Vec3(L, 0, 0), mm.Vec3(0, L, 0), mm.Vec3(0, 0, L))
nb = mm.NonbondedForce()
nb.setNonbondedMethod(mm.NonbondedForce.CutoffPeriodic)
nb.setCutoffDistance(0.85)
nb.setUseSwitchingFunction(True)
nb.setSwitchingDistance(0.75)
nb.setUseDispersionCorrection(True)
for _ in pdb.positions:
    s.addParticle(39.948)
    nb.addParticle(0, 0.3405, 0.996)
s.addForce(nb)
c = mm.Context(s, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
c.setPositions(pdb.positions)
st = c.getState(getEnergy=True, getForces=True)
kj = u.kilojoule_per_mole
out = dict(case='lj_argon_switch', openmm=mm.version.full_version, platform='Reference',
           settings=dict(cutoff=0.85, switch_distance=0.75, dispersion_correction=True),
           energy=st.getPotentialEnergy().value_in_unit(kj),
           forces=[list(v) for v in st.getForces().value_in_unit(kj / u.nanometer)])
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'lj_argon_switch.json'), 'w'))
print(out['energy'])
