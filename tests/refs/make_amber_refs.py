#!/usr/bin/python3
"""Facts OpenMM 7.7 sees in the Amber test systems, for tests/test_amber.c and tests/test_bonded.c.

Writes tests/refs/amber_refs.json: per system the counts (atoms, bonds, angles, torsions, exceptions =
excluded pairs, 1-4 pairs), charges and masses (small systems), per-particle sigma/epsilon, box vectors,
and for alanine dipeptide in vacuum the energy and forces of every bonded force class and of the 1-4
exceptions alone (Reference platform, double precision). Also a 4-atom torsion with an odd phase that
pins down OpenMM's dihedral sign convention.
Run: /usr/bin/python3 tests/refs/make_amber_refs.py [data folder, default /work/shared/data]
"""
import json, math, os, sys
import openmm as mm, openmm.app as app, openmm.unit as u

data = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/data'
sd = os.path.join(data, 'systems')
here = os.path.dirname(os.path.abspath(__file__))
kjmol, nm = u.kilojoule_per_mole, u.nanometer


def r(v, digits=15):
    return float('%.*g' % (digits, v))


def class_eval(system, positions, box=None):
    """Energy and forces per force class (force groups), Reference platform."""
    names = []
    for i, f in enumerate(system.getForces()):
        f.setForceGroup(i)
        names.append(f.__class__.__name__)
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
    if box is not None:
        ctx.setPeriodicBoxVectors(*box)
    ctx.setPositions(positions)
    out = {}
    for i, n in enumerate(names):
        st = ctx.getState(getEnergy=True, getForces=True, groups={i})
        out[n] = dict(energy=st.getPotentialEnergy().value_in_unit(kjmol),
                      forces=[[r(c) for c in v] for v in st.getForces().value_in_unit(kjmol / nm)])
    return out


def exceptions_only(system):
    """A copy of the system whose NonbondedForce keeps only its exceptions (particle charges and
    epsilons zeroed, no cutoff): its energy is the sum over the 1-4 pairs of qq*138.935456/r + LJ."""
    s = mm.System()
    for i in range(system.getNumParticles()):
        s.addParticle(system.getParticleMass(i))
    nb = [f for f in system.getForces() if isinstance(f, mm.NonbondedForce)][0]
    e = mm.NonbondedForce()
    e.setNonbondedMethod(mm.NonbondedForce.NoCutoff)
    for i in range(nb.getNumParticles()):
        e.addParticle(0.0, 0.1, 0.0)
    for k in range(nb.getNumExceptions()):
        e.addException(*nb.getExceptionParameters(k))
    s.addForce(e)
    return s


def facts(name, prmtop, crd, detail):
    top = app.AmberPrmtopFile(os.path.join(sd, prmtop))
    c = app.AmberInpcrdFile(os.path.join(sd, crd))
    s = top.createSystem(nonbondedMethod=app.NoCutoff, constraints=None, rigidWater=False, removeCMMotion=False)
    f = {type(x).__name__: x for x in s.getForces()}
    nb = f['NonbondedForce']
    pairs14 = []
    for k in range(nb.getNumExceptions()):
        i, j, qq, sig, eps = nb.getExceptionParameters(k)
        qq, sig, eps = qq.value_in_unit(u.elementary_charge ** 2), sig.value_in_unit(nm), eps.value_in_unit(kjmol)
        if qq != 0 or eps != 0:
            pairs14.append([min(i, j), max(i, j), r(qq), r(sig), r(eps)])
    out = dict(prmtop=prmtop, inpcrd=crd, atoms=s.getNumParticles(),
               bonds=f['HarmonicBondForce'].getNumBonds(), angles=f['HarmonicAngleForce'].getNumAngles(),
               torsions=f['PeriodicTorsionForce'].getNumTorsions(), exceptions=nb.getNumExceptions(),
               pairs14=len(top._prmtop.get14Interactions()), pairs14_nonzero=len(pairs14),
               cmap_torsions=f['CMAPTorsionForce'].getNumTorsions() if 'CMAPTorsionForce' in f else 0,
               total_charge=r(sum(nb.getParticleParameters(i)[0].value_in_unit(u.elementary_charge) for i in range(s.getNumParticles()))),
               total_mass=r(sum(s.getParticleMass(i).value_in_unit(u.dalton) for i in range(s.getNumParticles()))),
               box=None if c.boxVectors is None else [[r(x) for x in v.value_in_unit(nm)] for v in c.boxVectors],
               atomic_numbers=[a.element.atomic_number if a.element else 0 for a in top.topology.atoms()])
    if detail:
        out['charges'] = [r(nb.getParticleParameters(i)[0].value_in_unit(u.elementary_charge)) for i in range(s.getNumParticles())]
        out['masses'] = [r(s.getParticleMass(i).value_in_unit(u.dalton)) for i in range(s.getNumParticles())]
        out['sigma'] = [r(nb.getParticleParameters(i)[1].value_in_unit(nm)) for i in range(s.getNumParticles())]
        out['epsilon'] = [r(nb.getParticleParameters(i)[2].value_in_unit(kjmol)) for i in range(s.getNumParticles())]
        out['pairs14_list'] = pairs14
        ev = class_eval(s, c.positions)
        out['terms'] = {k: ev[k] for k in ('HarmonicBondForce', 'HarmonicAngleForce', 'PeriodicTorsionForce')}
        out['terms']['Exceptions14'] = class_eval(exceptions_only(s), c.positions)['NonbondedForce']
    else:
        ev = class_eval(s, c.positions)
        out['energies'] = {k: ev[k]['energy'] for k in ('HarmonicBondForce', 'HarmonicAngleForce', 'PeriodicTorsionForce')}
        out['energies']['Exceptions14'] = class_eval(exceptions_only(s), c.positions)['NonbondedForce']['energy']
    print('%-10s atoms %6d bonds %6d angles %6d torsions %6d exceptions %6d 1-4 %6d' % (
        name, out['atoms'], out['bonds'], out['angles'], out['torsions'], out['exceptions'], out['pairs14']))
    return out


def torsion_sign():
    """One torsion, periodicity 1, phase 1.0 rad: E = k (1 + cos(phi - 1)) fixes the sign of phi."""
    pos = [[0.10, 0.02, -0.03], [0.21, 0.05, 0.01], [0.24, 0.16, 0.04], [0.33, 0.20, -0.05]]
    s = mm.System()
    for _ in pos:
        s.addParticle(12.0)
    t = mm.PeriodicTorsionForce()
    t.addTorsion(0, 1, 2, 3, 1, 1.0, 5.0)
    s.addForce(t)
    ev = class_eval(s, pos)['PeriodicTorsionForce']
    return dict(positions=pos, periodicity=1, phase=1.0, k=5.0, energy=ev['energy'], forces=ev['forces'])


refs = dict(openmm=mm.version.full_version, platform='Reference',
            note='made by tests/refs/make_amber_refs.py; createSystem(NoCutoff, constraints=None, rigidWater=False)',
            ala2_implicit=facts('ala2_implicit', 'alanine-dipeptide-implicit.prmtop', 'alanine-dipeptide-implicit.inpcrd', True),
            ala2_explicit=facts('ala2_explicit', 'alanine-dipeptide-explicit.prmtop', 'alanine-dipeptide-explicit.inpcrd', False),
            lcpo_test=facts('lcpo_test', 'lcpo_test.prmtop', 'lcpo_test.inpcrd', False),
            protein18=facts('protein18', '18protein.parm7', '18protein.rst7', False),
            torsion_sign=torsion_sign())
for k in ('ala2_explicit', 'lcpo_test', 'protein18'):
    del refs[k]['atomic_numbers'][200:]  # the first 200 are enough to check the element guess
with open(os.path.join(here, 'amber_refs.json'), 'w') as fh:
    json.dump(refs, fh, indent=None, separators=(',', ':'))
    fh.write('\n')
