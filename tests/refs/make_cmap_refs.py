#!/usr/bin/python3
"""CMAP references for clmd's tests (tests/test_cmap.c), from OpenMM 7.7 (Reference platform, double).

OpenMM 7.7's AmberPrmtopFile reads CMAP_COUNT / CMAP_RESOLUTION / CMAP_PARAMETER_nn / CMAP_INDEX and
createSystem adds a CMAPTorsionForce (16 maps, 16 torsions for 18protein.parm7), so the prmtop's own
force is the reference. Three parts:
  protein18_cmap  the CMAPTorsionForce of 18protein.parm7/.rst7 in its own force group: its maps as OpenMM
                  holds them (kJ/mol, energy[i + size*j] at phi = i*2pi/size, psi = j*2pi/size), its
                  torsions (a, b, c, d, e, map), energy, and the forces of the atoms the torsions involve
                  (the others are exactly zero);
  sweep           the same 16 maps (copied from that force) on synthetic 5-atom chains whose (phi, psi)
                  cover each map: grid nodes, both periodic seams (0 and +-pi), random points;
                  positions, torsions, energy and every force, so the interpolation is checked over the
                  whole map and not only at 16 points;
  protein18_full  the whole system, PME (cutoff 0.9 nm, ewald error tolerance 5e-4, dispersion correction
                  as the prmtop asks), constraints none, flexible water: energy per force class, total,
                  PME alpha/grid, and every force (7 significant digits).
Run: /usr/bin/python3 make_cmap_refs.py [path/to/shared/data/systems]   (writes cmap_refs.json here)."""
import json, math, os, random, sys
import openmm as mm, openmm.app as app, openmm.unit as u

here = os.path.dirname(os.path.abspath(__file__))
sd = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', '..', '..', 'shared', 'data', 'systems')
kjmol, nm = u.kilojoule_per_mole, u.nanometer
ref = mm.Platform.getPlatformByName('Reference')
g10 = lambda v: float('%.10g' % v)
g7 = lambda v: float('%.7g' % v)

top = app.AmberPrmtopFile(os.path.join(sd, '18protein.parm7'))
crd = app.AmberInpcrdFile(os.path.join(sd, '18protein.rst7'))
system = top.createSystem(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * nm, ewaldErrorTolerance=5e-4,
                          constraints=None, rigidWater=False, removeCMMotion=False)
system.setDefaultPeriodicBoxVectors(*crd.boxVectors)
classes = [f.__class__.__name__ for f in system.getForces()]
print('createSystem forces:', classes)
cmap = [f for f in system.getForces() if isinstance(f, mm.CMAPTorsionForce)]
assert cmap, 'OpenMM did not add a CMAPTorsionForce: build it by hand from the prmtop sections instead'
cmap = cmap[0]
for i, f in enumerate(system.getForces()):
    f.setForceGroup(i)

ctx = mm.Context(system, mm.VerletIntegrator(0.001), ref)
ctx.setPositions(crd.positions)
energies = {cl: ctx.getState(getEnergy=True, groups={i}).getPotentialEnergy().value_in_unit(kjmol)
            for i, cl in enumerate(classes)}
st = ctx.getState(getEnergy=True, getForces=True)
nb = [f for f in system.getForces() if isinstance(f, mm.NonbondedForce)][0]
alpha, nx, ny, nz = nb.getPMEParametersInContext(ctx)
full = dict(settings=dict(nonbondedMethod='PME', nonbondedCutoff=0.9, ewaldErrorTolerance=5e-4,
                          dispersion_correction=nb.getUseDispersionCorrection(), constraints=None,
                          rigidWater=False),
            energies=energies, energy=st.getPotentialEnergy().value_in_unit(kjmol),
            pme=dict(alpha=alpha, grid=[nx, ny, nz]),
            forces=[[g7(c) for c in f] for f in st.getForces().value_in_unit(kjmol / nm)])

# CMAP alone, at the file's coordinates
gi = classes.index('CMAPTorsionForce')
cst = ctx.getState(getEnergy=True, getForces=True, groups={gi})
fc = cst.getForces().value_in_unit(kjmol / nm)
torsions, atoms = [], set()
for k in range(cmap.getNumTorsions()):
    m, a1, a2, a3, a4, b1, b2, b3, b4 = cmap.getTorsionParameters(k)
    assert (a2, a3, a4) == (b1, b2, b3), 'CMAP torsions of an Amber file share three atoms'
    torsions.append([a1, a2, a3, a4, b4, m])
    atoms.update((a1, a2, a3, a4, b4))
atoms = sorted(atoms)
assert all(fc[i] == mm.Vec3(0, 0, 0) for i in range(system.getNumParticles()) if i not in set(atoms))
maps = [dict(size=cmap.getMapParameters(m)[0], energy=[g10(v) for v in cmap.getMapParameters(m)[1].value_in_unit(kjmol)])
        for m in range(cmap.getNumMaps())]
protein = dict(maps=maps, torsions=torsions,
               energy=cst.getPotentialEnergy().value_in_unit(kjmol), atoms=atoms,
               forces=[[g10(c) for c in fc[i]] for i in atoms])
print('CMAP energy %.10f kJ/mol over %d torsions, %d atoms' % (protein['energy'], len(torsions), len(atoms)))

# Sweep: chains a-b-c-d-e built by the natural extension reference frame, 0.15 nm bonds, 111 degree angles.
def place(a, b, c, bond, angle, dihedral):
    """Point d with |cd| = bond, angle bcd, dihedral abcd (IUPAC sign, as OpenMM's)."""
    sub = lambda p, q: [p[k] - q[k] for k in range(3)]
    cross = lambda p, q: [p[1] * q[2] - p[2] * q[1], p[2] * q[0] - p[0] * q[2], p[0] * q[1] - p[1] * q[0]]
    unit = lambda p: [x / math.sqrt(sum(y * y for y in p)) for x in p]
    bc = unit(sub(c, b))
    n = unit(cross(sub(b, a), bc))
    m = cross(n, bc)
    d2 = [-bond * math.cos(angle), bond * math.sin(angle) * math.cos(dihedral), bond * math.sin(angle) * math.sin(dihedral)]
    return [c[k] + d2[0] * bc[k] + d2[1] * m[k] + d2[2] * n[k] for k in range(3)]

rng = random.Random(11)
bond, ang = 0.15, math.radians(111.0)
pos, sweep_torsions = [], []
for m in range(cmap.getNumMaps()):
    size = cmap.getMapParameters(m)[0]
    step = 2 * math.pi / size
    pts = [(0.0, 0.0), (math.pi, math.pi), (-math.pi + 1e-9, 0.3), (0.4, math.pi - 1e-9), (-1e-9, 1e-9),
           (3 * step, 5 * step), (-7 * step, 2 * step)]
    pts += [(rng.uniform(-math.pi, math.pi), rng.uniform(-math.pi, math.pi)) for _ in range(9)]
    for phi, psi in pts:
        base = len(pos)
        ox, oy, oz = (base % 40) * 0.6, (base // 40) * 0.6, 0.1 * m
        a = [ox, oy, oz]
        b = [ox + bond, oy, oz]
        c = [b[0] + bond * math.cos(math.pi - ang), oy + bond * math.sin(math.pi - ang), oz]
        d = place(a, b, c, bond, ang, phi)
        e = place(b, c, d, bond, ang, psi)
        pos += [a, b, c, d, e]
        sweep_torsions.append([base, base + 1, base + 2, base + 3, base + 4, m])
ss = mm.System()
for _ in pos:
    ss.addParticle(12.0)
sf = mm.CMAPTorsionForce()
for m in range(cmap.getNumMaps()):
    size, energy = cmap.getMapParameters(m)
    sf.addMap(size, energy)
for a, b, c, d, e, m in sweep_torsions:
    sf.addTorsion(m, a, b, c, d, b, c, d, e)
ss.addForce(sf)
sctx = mm.Context(ss, mm.VerletIntegrator(0.001), ref)
sctx.setPositions([mm.Vec3(*p) for p in pos])
sst = sctx.getState(getEnergy=True, getForces=True)
sweep = dict(positions=[[float('%.15g' % c) for c in p] for p in pos], torsions=sweep_torsions,
             energy=sst.getPotentialEnergy().value_in_unit(kjmol),
             forces=[[g10(c) for c in f] for f in sst.getForces().value_in_unit(kjmol / nm)])
print('sweep: %d torsions, energy %.10f kJ/mol' % (len(sweep_torsions), sweep['energy']))

out = dict(openmm=mm.version.full_version, platform='Reference', system='18protein.parm7/.rst7',
           note=__doc__.split('Run:')[0].strip(), protein18_cmap=protein, sweep=sweep, protein18_full=full)
json.dump(out, open(os.path.join(here, 'cmap_refs.json'), 'w'), separators=(',', ':'))
print('full: total %.6f kJ/mol' % full['energy'], {k: round(v, 6) for k, v in energies.items()}, full['pme'])
