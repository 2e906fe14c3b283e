#!/usr/bin/python3
"""GBSA/OBC reference data for tests/test_gbsa.c, from OpenMM 7.7 (Debian python3-openmm), Reference
platform (double precision). Independent of clmd's Amber importer: the per-atom parameters written here are
exactly the ones OpenMM's GB force holds.

What OpenMM's app layer builds for an Amber prmtop (openmm/app/internal/amber_file_parser.py):
  OBC2 (kappa 0): the built-in GBSAOBCForce, radius = RADII/10 nm, scale = SCREEN, Coulomb 138.93545764438198 (ONE_4PI_EPS0),
                  ACE with 4*pi*2.25936 and probe 0.14 nm; the HCT integral includes the "atom i engulfed
                  by atom j" correction 2(1/or_i - 1/L), whose derivative the force leaves out.
  OBC1:           a CustomGBForce (internal/customgbforces.py GBSAOBC1Force), per-atom (q, or, sr) with
                  or = radius - 0.009, sr = scale*or, Coulomb 138.935485, ACE 28.3919551, no engulf
                  correction, forces are the exact gradient of that energy.
Both, with a cutoff: Born sums and pair terms restricted to r <= cutoff, pair energy shifted by
-q_i q_j/cutoff (self terms not), minimum image through OpenMM's reduced-box rule when periodic.

Writes one JSON per system (<system>_gbsa.json in this folder):
  atoms: charge, radius (nm), scale, positions (nm), source files
  cases: {name: {model, force_class, method, cutoff_nm, box, dielectrics, energy (GB + ACE, kJ/mol),
          forces (kJ/mol/nm), energy_nosa/forces_nosa (same force without the ACE term), born_radii (nm),
          numpy_check}}
born_radii are not readable from OpenMM; they are recomputed here with numpy from OpenMM's formulas,
and numpy_check records how closely the GB and ACE energies rebuilt from those radii match OpenMM's.
Run: /usr/bin/python3 make_gbsa_refs.py   (from anywhere; reads /work/shared/data/systems or $CLMD_SYSTEMS)."""
import json, math, os, sys
import numpy as np
import openmm as mm, openmm.app as app, openmm.unit as u

here = os.path.dirname(os.path.abspath(__file__))
sd = os.environ.get('CLMD_SYSTEMS', '/work/shared/data/systems')
kjmol, nm = u.kilojoule_per_mole, u.nanometer
OFFSET = 0.009
# OpenMM 7.7 ONE_4PI_EPS0 (SimTKOpenMMRealType.h, from CODATA 2018): two unit charges 1 nm apart in a
# NonbondedForce give exactly this energy. It is 1.2e-8 above the 138.935456 of older OpenMM versions.
ONE_4PI_EPS0 = 138.93545764438198
MODEL = {'OBC1': (0.8, 0.0, 2.909125), 'OBC2': (1.0, 0.8, 4.85)}  # alpha, beta, gamma as OpenMM uses them
# OBC1 gamma: the CustomGBForce writes 2.909125 (Amber's value), the built-in ObcTypeI would use 2.91.


def min_image(d, box):
    """OpenMM's ReferenceForce::getDeltaRPeriodic: reduce along c, then b, then a."""
    if box is None:
        return d
    d = d.copy()
    for k in (2, 1, 0):
        d -= np.floor(d[..., k] / box[k][k] + 0.5)[..., None] * np.array(box[k])
    return d


def numpy_obc(q, radius, scale, x, model, builtin, cutoff, box, eps_in, eps_out, sa):
    """Born radii and GB (polar, ACE) energies with OpenMM's formulas: an independent check of the radii."""
    alpha, beta, gamma = MODEL[model]
    coul = ONE_4PI_EPS0 if builtin else 138.935485
    n = len(q)
    d = min_image(x[None, :, :] - x[:, None, :], box)  # d[i, j] = x_j - x_i
    r = np.sqrt((d ** 2).sum(-1))
    inside = np.ones((n, n), bool) if cutoff is None else (r <= cutoff)
    np.fill_diagonal(inside, False)
    orad = radius - OFFSET
    sr = scale * orad
    with np.errstate(divide='ignore', invalid='ignore'):
        oi = orad[:, None]; sj = sr[None, :]
        U = r + sj
        L = np.maximum(oi, np.abs(r - sj))
        term = 1 / L - 1 / U + 0.25 * (r - sj ** 2 / r) * (1 / U ** 2 - 1 / L ** 2) + 0.5 * np.log(L / U) / r
        if builtin:
            term = term + np.where(oi < sj - r, 2 * (1 / oi - 1 / L), 0.0)
        use = inside & (oi < U)
        psi = 0.5 * np.where(use, term, 0.0).sum(1) * orad
    B = 1 / (1 / orad - np.tanh(alpha * psi - beta * psi ** 2 + gamma * psi ** 3) / radius)
    pre = -coul * (1 / eps_in - 1 / eps_out)
    e_self = 0.5 * pre * (q ** 2 / B).sum()
    bb = B[:, None] * B[None, :]
    with np.errstate(divide='ignore', invalid='ignore'):
        f = np.sqrt(r ** 2 + bb * np.exp(-r ** 2 / (4 * bb)))
        pair = q[:, None] * q[None, :] * (1 / f - (0 if cutoff is None else 1 / cutoff))
    e_pair = 0.5 * pre * np.where(inside, pair, 0.0).sum()
    e_sa = 0.0
    if sa:
        fac = 4 * math.pi * 2.25936 if builtin else 28.3919551
        e_sa = (fac * (radius + 0.14) ** 2 * (radius / B) ** 6).sum()
    engulfed = int(((orad[:, None] < sr[None, :] - r) & inside).sum())
    return B, e_self + e_pair, e_sa, engulfed


def gb_force(system):
    fs = [f for f in system.getForces() if isinstance(f, (mm.GBSAOBCForce, mm.CustomGBForce))]
    assert len(fs) == 1
    return fs[0]


def evaluate(system, x, box):
    # getForces() hands out fresh proxies on every call: pick the GB force by class, not by identity
    for f in system.getForces():
        f.setForceGroup(1 if isinstance(f, (mm.GBSAOBCForce, mm.CustomGBForce)) else 0)
    ctx = mm.Context(system, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
    if box is not None:
        ctx.setPeriodicBoxVectors(*[mm.Vec3(*v) for v in box])
    ctx.setPositions(x * nm)
    st = ctx.getState(getEnergy=True, getForces=True, groups={1})
    return (st.getPotentialEnergy().value_in_unit(kjmol),
            st.getForces(asNumpy=True).value_in_unit(kjmol / nm))


def gb_params(system, radius, scale):
    """Per-atom (charge, radius, scale) exactly as the GB force holds them; checks radius/scale against it."""
    gb = gb_force(system)
    q = []
    for i in range(gb.getNumParticles()):
        p = gb.getParticleParameters(i)
        if isinstance(gb, mm.GBSAOBCForce):
            c, rr, ss = p[0].value_in_unit(u.elementary_charge), p[1].value_in_unit(nm), p[2]
            assert rr == radius[i] and ss == scale[i], (i, rr, radius[i], ss, scale[i])
        else:
            c, orr, srr = p
            # the app layer computes or = r - 0.009 and sr = s*or in double: clmd must get the same bits
            assert orr == radius[i] - OFFSET and srr == scale[i] * (radius[i] - OFFSET), (i, p)
        q.append(c)
    return np.array(q)


def case(top, model, method, cutoff, x, box, radius, scale, charge):
    kw = dict(constraints=None, rigidWater=False, removeCMMotion=False,
              implicitSolvent=app.OBC2 if model == 'OBC2' else app.OBC1)
    # AmberPrmtopFile refuses CutoffPeriodic for a prmtop without a box, so periodic cases are built as
    # CutoffNonPeriodic (same expressions, same cutoff) and the GB force is switched to CutoffPeriodic after,
    # which is the one thing amber_file_parser does differently for a boxed prmtop.
    kw['nonbondedMethod'] = app.NoCutoff if method == 'NoCutoff' else app.CutoffNonPeriodic
    if cutoff is not None:
        kw['nonbondedCutoff'] = cutoff * nm
    out = {}
    for sa in (True, False):
        s = top.createSystem(gbsaModel='ACE' if sa else None, **kw)
        if method == 'CutoffPeriodic':
            s.setDefaultPeriodicBoxVectors(*[mm.Vec3(*v) * nm for v in box])
            gb_force(s).setNonbondedMethod(mm.GBSAOBCForce.CutoffPeriodic if model == 'OBC2'
                                           else mm.CustomGBForce.CutoffPeriodic)
        q = gb_params(s, radius, scale)
        assert np.array_equal(q, charge), 'GB charges differ between cases'
        gb = gb_force(s)
        e, f = evaluate(s, x, box)
        if sa:
            out.update(energy=e, forces=f.tolist(), force_class=gb.__class__.__name__)
        else:  # forces without ACE only where the ACE-alone test uses them, to keep the files small
            out.update(energy_nosa=e)
            if method == 'NoCutoff':
                out.update(forces_nosa=f.tolist())
    builtin = out['force_class'] == 'GBSAOBCForce'
    B, e_gb, e_sa, engulfed = numpy_obc(charge, radius, scale, x, model, builtin, cutoff, box, 1.0, 78.5, True)
    rel_gb = abs(e_gb - out['energy_nosa']) / abs(out['energy_nosa'])
    rel_sa = abs(e_sa - (out['energy'] - out['energy_nosa'])) / abs(e_sa)
    assert rel_gb < 1e-10 and rel_sa < 1e-8, (rel_gb, rel_sa)
    out.update(model=model, method=method, cutoff_nm=cutoff, box=box, solute_dielectric=1.0,
               solvent_dielectric=78.5, sa_energy=2.25936, probe_radius_nm=0.14,
               coulomb=ONE_4PI_EPS0 if builtin else 138.935485, born_radii=B.tolist(), engulfed_pairs=engulfed,
               numpy_check=dict(gb_rel=rel_gb, sa_rel=rel_sa, note='GB and ACE energies rebuilt with numpy from '
                                'born_radii, relative to OpenMM (energy_nosa and energy - energy_nosa)'))
    print('  %-22s %-14s %-18s E %.10f  E_nosa %.10f  numpy rel %.1e %.1e  engulfed %d' % (
        model + '/' + method, out['force_class'], cutoff, out['energy'], out['energy_nosa'], rel_gb, rel_sa, engulfed))
    return out


def amber_system(name, prmtop, crd, cases):
    top = app.AmberPrmtopFile(os.path.join(sd, prmtop))
    x = np.array(app.AmberInpcrdFile(os.path.join(sd, crd)).positions.value_in_unit(nm))
    raw = top._prmtop._raw_data
    radius = np.array([float(v) / 10 for v in raw['RADII']])  # what amber_file_parser hands the force
    scale = np.array([float(v) for v in raw['SCREEN']])
    charge = np.array([c for c in top._prmtop.getCharges()])
    print(name, len(x), 'atoms;', raw.get('RADIUS_SET', ['?'])[0].strip())
    # charges as the GB force holds them (checked against every case below)
    s = top.createSystem(implicitSolvent=app.OBC2, constraints=None, rigidWater=False)
    charge = gb_params(s, radius, scale)
    out = dict(system=name, openmm=mm.version.full_version, platform='Reference', prmtop='systems/' + prmtop,
               coordinates='systems/' + crd, particles=len(x),
               atoms=dict(charge=charge.tolist(), radius=radius.tolist(), scale=scale.tolist(),
                          positions=x.tolist()),
               cases={})
    for cname, model, method, cutoff, box in cases:
        out['cases'][cname] = case(top, model, method, cutoff, x, box, radius, scale, charge)
    with open(os.path.join(here, name + '_gbsa.json'), 'w') as f:
        json.dump(out, f)


def engulfed_system():
    """Three particles, the middle one small and deep inside a big neighbour: exercises the HCT engulf case,
    where the built-in GBSAOBCForce and the CustomGBForce differ (energy correction; force derivative)."""
    x = np.array([[0.0, 0.0, 0.0], [0.05, 0.01, -0.02], [0.42, 0.13, 0.07]])
    charge = np.array([-0.4, 0.7, -0.3])
    radius = np.array([0.30, 0.10, 0.15])
    scale = np.array([1.0, 0.85, 0.8])
    out = dict(system='engulfed', openmm=mm.version.full_version, platform='Reference', particles=3,
               atoms=dict(charge=charge.tolist(), radius=radius.tolist(), scale=scale.tolist(), positions=x.tolist()),
               cases={})
    print('engulfed 3 atoms')
    for model, builtin in (('OBC2', True), ('OBC1', False)):
        res = {}
        for sa in (True, False):
            s = mm.System()
            for _ in range(3):
                s.addParticle(1.0)
            if builtin:
                gb = mm.GBSAOBCForce()
                gb.setSolventDielectric(78.5); gb.setSoluteDielectric(1.0)
                if not sa:
                    gb.setSurfaceAreaEnergy(0)
                for i in range(3):
                    gb.addParticle(charge[i], radius[i], scale[i])
            else:
                from openmm.app.internal import customgbforces as cgb
                gb = cgb.GBSAOBC1Force(78.5, 1.0, 'ACE' if sa else None, None, 0.0)
                for i in range(3):
                    gb.addParticle([charge[i], radius[i], scale[i]])
                gb.finalize()
            s.addForce(gb)
            e, f = evaluate(s, x, None)
            if sa:
                res.update(energy=e, forces=f.tolist(), force_class=gb.__class__.__name__)
            else:
                res.update(energy_nosa=e, forces_nosa=f.tolist())
        B, e_gb, e_sa, engulfed = numpy_obc(charge, radius, scale, x, model, builtin, None, None, 1.0, 78.5, True)
        rel_gb = abs(e_gb - res['energy_nosa']) / abs(res['energy_nosa'])
        rel_sa = abs(e_sa - (res['energy'] - res['energy_nosa'])) / abs(e_sa)
        assert rel_gb < 1e-10 and rel_sa < 1e-8 and engulfed > 0, (rel_gb, rel_sa, engulfed)
        res.update(model=model, method='NoCutoff', cutoff_nm=None, box=None, solute_dielectric=1.0,
                   solvent_dielectric=78.5, sa_energy=2.25936, probe_radius_nm=0.14,
                   coulomb=ONE_4PI_EPS0 if builtin else 138.935485, born_radii=B.tolist(), engulfed_pairs=engulfed,
                   numpy_check=dict(gb_rel=rel_gb, sa_rel=rel_sa))
        print('  %-22s %-14s E %.10f  E_nosa %.10f  numpy rel %.1e %.1e  engulfed %d' % (
            model, res['force_class'], res['energy'], res['energy_nosa'], rel_gb, rel_sa, engulfed))
        out['cases'][model.lower()] = res
    with open(os.path.join(here, 'engulfed_gbsa.json'), 'w') as f:
        json.dump(out, f)


# Boxes for the periodic cases: the protein spans 2.6 x 3.1 x 2.6 nm, so with these boxes atoms near opposite
# faces interact through the boundary (gaps of 0.3-0.5 nm) while every edge stays >= 2 x cutoff as OpenMM asks.
RECT = [[3.0, 0.0, 0.0], [0.0, 3.5, 0.0], [0.0, 0.0, 3.1]]
TRIC = [[3.2, 0.0, 0.0], [0.9, 3.4, 0.0], [-0.7, 1.1, 3.2]]  # reduced form: |bx|,|cx| <= ax/2, |cy| <= by/2

amber_system('ala2', 'alanine-dipeptide-implicit.prmtop', 'alanine-dipeptide-implicit.inpcrd', [
    ('obc2', 'OBC2', 'NoCutoff', None, None),
    ('obc1', 'OBC1', 'NoCutoff', None, None),
    ('obc2_cutoff', 'OBC2', 'CutoffNonPeriodic', 0.6, None),
    ('obc1_cutoff', 'OBC1', 'CutoffNonPeriodic', 0.6, None),
])
amber_system('protein', 'lcpo_test.prmtop', 'lcpo_test.inpcrd', [
    ('obc2', 'OBC2', 'NoCutoff', None, None),
    ('obc1', 'OBC1', 'NoCutoff', None, None),
    ('obc2_cutoff', 'OBC2', 'CutoffNonPeriodic', 1.0, None),
    ('obc1_cutoff', 'OBC1', 'CutoffNonPeriodic', 1.0, None),
    ('obc2_periodic', 'OBC2', 'CutoffPeriodic', 1.0, RECT),
    ('obc1_periodic_triclinic', 'OBC1', 'CutoffPeriodic', 1.0, TRIC),
    ('obc2_periodic_triclinic', 'OBC2', 'CutoffPeriodic', 1.0, TRIC),
])
engulfed_system()
