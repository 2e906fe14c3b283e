#!/usr/bin/python3
"""Electrostatics-only reference for clmd's PME tests, from OpenMM 7.7 (Reference platform, double).
Alanine dipeptide in TIP3P water (alanine-dipeptide-explicit.prmtop/.inpcrd, 2,269 atoms), PME with cutoff
0.9 nm, constraints off, flexible water, and every Lennard-Jones epsilon (particles and exceptions) set to 0,
so NonbondedForce holds only Coulomb: real space erfc + exclusion corrections + 1-4 exceptions + reciprocal
+ self. Dumps what the test needs to rebuild that energy without the Amber importer: charges, positions,
box, every exception (= excluded pair) with its chargeProd (nonzero for scaled 1-4 pairs), and for each
ewald_error_tolerance the energy (total, direct space, reciprocal space + self), forces, and the PME
alpha/grid chosen by the Reference platform and by the OpenCL platform (which rounds grid sizes to
factors 2, 3, 5, 7).
Run: /usr/bin/python3 make_pme_refs.py [path/to/shared/data/systems]   (writes ala2_pme_elec.json here)."""
import json, os, sys
import openmm as mm, openmm.app as app, openmm.unit as u

here = os.path.dirname(os.path.abspath(__file__))
sd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', '..', '..', 'shared', 'data', 'systems')
kjmol, nm = u.kilojoule_per_mole, u.nanometer
top = app.AmberPrmtopFile(os.path.join(sd, 'alanine-dipeptide-explicit.prmtop'))
crd = app.AmberInpcrdFile(os.path.join(sd, 'alanine-dipeptide-explicit.inpcrd'))
box = [list(v.value_in_unit(nm)) for v in crd.boxVectors]
pos = crd.positions
g = lambda v: float('%.15g' % v)

def system(tol):
    s = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * nm, ewaldErrorTolerance=tol,
                         constraints=None, rigidWater=False, removeCMMotion=False)
    s.setDefaultPeriodicBoxVectors(*crd.boxVectors)
    for k in reversed(range(s.getNumForces())):
        if not isinstance(s.getForce(k), mm.NonbondedForce):
            s.removeForce(k)
    nb = s.getForces()[0]
    for i in range(nb.getNumParticles()):
        q, sig, eps = nb.getParticleParameters(i); nb.setParticleParameters(i, q, sig, 0.0)
    for k in range(nb.getNumExceptions()):
        i, j, qq, sig, eps = nb.getExceptionParameters(k); nb.setExceptionParameters(k, i, j, qq, sig, 0.0)
    nb.setForceGroup(1); nb.setReciprocalSpaceForceGroup(2)
    return s, nb

out = dict(openmm=mm.version.full_version, platform='Reference', system='alanine-dipeptide-explicit.prmtop/.inpcrd',
           note=__doc__.split('Run:')[0].strip(), cutoff=0.9, box=box, cases=[])
s, nb = system(5e-4)
out['charges'] = [g(nb.getParticleParameters(i)[0].value_in_unit(u.elementary_charge)) for i in range(nb.getNumParticles())]
out['positions'] = [[g(c) for c in p] for p in pos.value_in_unit(nm)]
exc = []
for k in range(nb.getNumExceptions()):
    i, j, qq, sig, eps = nb.getExceptionParameters(k)
    exc.append([i, j, g(qq.value_in_unit(u.elementary_charge ** 2))])
out['exceptions'] = exc
for tol in (1e-6, 5e-4):
    s, nb = system(tol)
    ctx = mm.Context(s, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
    ctx.setPositions(pos)
    e = lambda grp: ctx.getState(getEnergy=True, groups=grp).getPotentialEnergy().value_in_unit(kjmol)
    st = ctx.getState(getEnergy=True, getForces=True)
    a, nx, ny, nz = nb.getPMEParametersInContext(ctx)
    case = dict(ewald_error_tolerance=tol, alpha=a, grid=[nx, ny, nz], energy=st.getPotentialEnergy().value_in_unit(kjmol),
                energy_direct=e({1}), energy_reciprocal_and_self=e({2}),
                forces=[[g(c) for c in f] for f in st.getForces().value_in_unit(kjmol / nm)])
    try:
        cctx = mm.Context(s, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('OpenCL'))
        cctx.setPositions(pos)
        a2, mx, my, mz = nb.getPMEParametersInContext(cctx)
        case['opencl'] = dict(alpha=a2, grid=[mx, my, mz])
    except Exception as ex:
        print('OpenCL platform unavailable:', ex)
    out['cases'].append(case)
    print(tol, case['alpha'], case['grid'], case.get('opencl'), case['energy'], case['energy_direct'], case['energy_reciprocal_and_self'])
json.dump(out, open(os.path.join(here, 'ala2_pme_elec.json'), 'w'), separators=(',', ':'))
