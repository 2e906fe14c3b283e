#!/usr/bin/env python3
"""Reference energies, forces and dU/dlambda for clmd's alchemical (soft-core lambda) support, from
openmmtools' AbsoluteAlchemicalFactory (default options) and OpenMM's Reference platform (double precision).

Each case writes alchemical/<case>_s<lambda_sterics>_e<lambda_electrostatics>.json with the layout of the
other references (settings, energies, energy, forces) plus lambda_sterics, lambda_electrostatics,
dUdlambda_sterics, dUdlambda_electrostatics, force_groups (what each energy entry is), and checks.
Every force of the alchemical System is put in its own force group, so `energies` has one entry per force,
keyed by a label that says which OpenMM force it is (see force_groups for its class, expression, cutoff,
switching and long-range correction).

dU/dlambda: five-point central finite difference of the energy in lambda,
(8 (U(l+h) - U(l-h)) - (U(l+2h) - U(l-2h))) / 12h with h = FD_STEP = 1e-4 (error O(h^4)), evaluated over the
force groups that depend on that lambda (the others are constant in it); lambda is set in the Context directly
(context.setParameter), so lambda < 0 and > 1 are used at the ends of [0, 1]: every expression is smooth there.
The plain three-point difference (U(l+h) - U(l-h)) / 2h is stored too (dUdlambda_fd_3point). The
alchemical sterics long-range corrections are differenced separately with h = FD_STEP_LRC = 1e-2, because
OpenMM integrates them in single precision (their share is dUdlambda_sterics_long_range_correction).
Where the lambda-dependent forces are Custom*Forces, OpenMM's own parameter derivatives
(addEnergyParameterDerivative, including the derivative of the long-range correction) are stored too as
dUdlambda_*_openmm. OpenMM's NonbondedForce has no parameter derivatives, so with PME (exact treatment:
lambda_electrostatics drives charge offsets in the NonbondedForce) dU/dlambda_e is by finite difference only;
the energy is then an exact quadratic in lambda_e and checks.quadratic_dUdlambda_electrostatics gives the
derivative of the quadratic through U(0), U(1/2), U(1), which must agree.

Run (from this folder): /work/venv-omt/bin/python make_alchemical_refs.py   (PyPI openmm, openmmtools, teqp)
It also writes alchemical/lj_mu_ex.json (teqp; see lj_mu_ex()).
"""
import copy, json, logging, math, os, sys
import numpy as np
import openmm as mm, openmm.app as app, openmm.unit as u
import openmmtools
from openmmtools.alchemy import AbsoluteAlchemicalFactory, AlchemicalRegion, AlchemicalState
from scipy import integrate

logging.disable(logging.WARNING)  # openmmtools warns that reaction field is experimental; recorded in notes
here = os.path.dirname(os.path.abspath(__file__)); sd = os.path.join(here, 'systems')
outdir = os.path.join(here, 'alchemical'); os.makedirs(outdir, exist_ok=True)
kjmol = u.kilojoule_per_mole
FD_STEP = 1e-4
FD_STEP_LRC = 1e-2  # for the alchemical long-range corrections, see run_case
from openmmtools.constants import ONE_4PI_EPS0  # 138.93545764438198 kJ/mol nm/e^2, as OpenMM 8

# openmmtools' defaults, spelled out so a change of default in a later openmmtools shows up here.
FACTORY = dict(consistent_exceptions=False, switch_width=1.0 * u.angstrom, alchemical_pme_treatment='exact',
               alchemical_rf_treatment='switched', disable_alchemical_dispersion_correction=False,
               split_alchemical_forces=True)
REGION_DEFAULTS = dict(annihilate_electrostatics=True, annihilate_sterics=False, softcore_alpha=0.5, softcore_a=1,
                       softcore_b=1, softcore_c=6, softcore_beta=0.0, softcore_d=1, softcore_e=1, softcore_f=2)


ELEC_EXACT = ('Electrostatics (exact PME): the region charges are lambda_e q in the NonbondedForce, so direct, reciprocal, '
              'self and exclusion terms scale as lambda_e for region-environment pairs and lambda_e^2 inside the region; '
              'but every 1-4 exception with a region atom has chargeprod lambda_e * chargeprod, linear in lambda_e even '
              'when both atoms are in the region (plain charge scaling would give lambda_e^2).')
ELEC_SCALED = ('Electrostatics (no PME): every Coulomb pair and 1-4 exception with a region atom, region-environment '
               'and region-region alike, is multiplied by lambda_e (linear): energies are scaled, not charges '
               '(softcore_beta = 0, so no soft core).')
STERICS_NOTE = ('Sterics: region-environment LJ pairs and region-environment 1-4 exceptions use the soft-core form with '
                'lambda_s; region-region pairs and region-region 1-4 exceptions are plain LJ unless annihilate_sterics, '
                'then soft-core with lambda_s too. The sterics CustomNonbondedForces take the NonbondedForce cutoff, '
                'switching and dispersion-correction flag (the correction is integrated numerically at the current '
                'lambda_s and counts only the pairs of the interaction group, i = j excluded).')
NB_METHODS = ['NoCutoff', 'CutoffNonPeriodic', 'CutoffPeriodic', 'Ewald', 'PME', 'LJPME']


def build(prmtop, crd, **kw):
    top = app.AmberPrmtopFile(os.path.join(sd, prmtop)); c = app.AmberInpcrdFile(os.path.join(sd, crd))
    s = top.createSystem(constraints=None, rigidWater=False, removeCMMotion=False, **kw)
    box = c.boxVectors
    if box is not None: s.setDefaultPeriodicBoxVectors(*box)
    return top, s, c.positions, box


def label_forces(system, region):
    """One label per force, saying which OpenMM force it is and which pairs it holds."""
    region = set(region); out = []; seen = {}
    for f in system.getForces():
        cl = f.__class__.__name__
        gp = [f.getGlobalParameterName(k) for k in range(f.getNumGlobalParameters())] if hasattr(f, 'getNumGlobalParameters') else []
        lam = [p for p in gp if p.startswith('lambda_')]
        d = {'class': cl, 'lambda_parameters': lam}
        if isinstance(f, mm.NonbondedForce):
            lab = 'NonbondedForce'
            if f.getNumParticleParameterOffsets():
                d['description'] = ('the original NonbondedForce as modified by openmmtools (exact PME): region atoms epsilon 0 '
                                    '(their LJ is in the sterics forces), region charges 0 plus the offset lambda_electrostatics*q, '
                                    'exceptions with a region atom chargeprod 0 plus the offset lambda_electrostatics*chargeprod '
                                    '(epsilon 0); everything else unchanged')
            else:
                d['description'] = ('the original NonbondedForce as modified by openmmtools: region atoms charge 0 and epsilon 0, '
                                    'exceptions with a region atom chargeprod 0 and epsilon 0 (all moved to the Custom forces)'
                                    + ('; all other particle charges 0 too, their reaction field is in the '
                                       'UnshiftedReactionFieldForce, the environment exceptions stay here'
                                       if all(f.getParticleParameters(i)[0]._value == 0 for i in range(f.getNumParticles())) else ''))
            d.update(nonbonded_method=NB_METHODS[f.getNonbondedMethod()], cutoff=f.getCutoffDistance().value_in_unit(u.nanometer),
                     switching=f.getUseSwitchingFunction(), dispersion_correction=f.getUseDispersionCorrection(),
                     particle_offsets=f.getNumParticleParameterOffsets(), exception_offsets=f.getNumExceptionParameterOffsets())
        elif isinstance(f, mm.CustomNonbondedForce):
            pp = [f.getPerParticleParameterName(k) for k in range(f.getNumPerParticleParameters())]
            if pp == ['charge'] and f.getNumInteractionGroups() == 0:
                lab = 'reaction field CustomNonbondedForce (UnshiftedReactionFieldForce)'
                d['description'] = ('openmmtools.forcefactories.replace_reaction_field: the environment charges with c_rf = 0 '
                                    'and a switch over the last switch_width; replaces the NonbondedForce reaction field, whose '
                                    'particle charges are set to 0 (its exceptions stay)')
            else:
                kind = 'sterics' if pp == ['sigma', 'epsilon'] else 'electrostatics'
                s1, s2 = f.getInteractionGroupParameters(0)
                pair = 'region-region' if set(s1) == region and set(s2) == region else 'region-environment'
                assert (set(s1) | set(s2)) >= region
                lab = '%s CustomNonbondedForce %s' % (kind, pair)
                d['description'] = '%s of non-excluded %s pairs (interaction group)' % (kind, pair)
            d.update(nonbonded_method=NB_METHODS[f.getNonbondedMethod()], cutoff=f.getCutoffDistance().value_in_unit(u.nanometer),
                     switching=f.getUseSwitchingFunction(), switching_distance=f.getSwitchingDistance().value_in_unit(u.nanometer),
                     long_range_correction=f.getUseLongRangeCorrection(), energy_function=f.getEnergyFunction())
        elif isinstance(f, mm.CustomBondForce) and f.getNumPerBondParameters() == 2 and f.getPerBondParameterName(0) in ('sigma', 'chargeprod'):
            kind = 'sterics' if f.getPerBondParameterName(0) == 'sigma' else 'electrostatics'
            # openmmtools adds the region-environment force before the region-region one
            k = seen.get(kind, 0); seen[kind] = k + 1
            pair = ('region-environment', 'region-region')[k]
            for b in range(f.getNumBonds()):
                i, j, _ = f.getBondParameters(b)
                assert (i in region and j in region) == (pair == 'region-region')
            lab = '%s exceptions CustomBondForce %s' % (kind, pair)
            d['description'] = '%s of the 1-4 exceptions between %s atoms (%d pairs, no cutoff)' % (kind, pair, f.getNumBonds())
            d.update(energy_function=f.getEnergyFunction(), bonds=f.getNumBonds())
        else:
            lab = cl; d['description'] = 'unchanged bonded force'
        assert lab not in [o[0] for o in out], lab
        d['label'] = lab
        out.append((lab, d))
    return out


def fd5(f, x, h):
    """Five-point and three-point central differences of f at x."""
    v = {k: f(x + k * h) for k in (-2, -1, 1, 2)}
    return (8 * (v[1] - v[-1]) - (v[2] - v[-2])) / (12 * h), (v[1] - v[-1]) / (2 * h)


def set_lambdas(ctx, names, ls, le):
    if 'lambda_sterics' in names: ctx.setParameter('lambda_sterics', ls)
    if 'lambda_electrostatics' in names: ctx.setParameter('lambda_electrostatics', le)


def energy(ctx, groups):
    return ctx.getState(getEnergy=True, groups=set(groups)).getPotentialEnergy().value_in_unit(kjmol)


def softcore(r, sig, eps, ls, alpha=0.5):
    """The form clmd implements (issue 13); checked here against OpenMM's energies."""
    x = 1.0 / (alpha * (1.0 - ls) + (r / sig) ** 6)
    return ls * 4.0 * eps * x * (x - 1.0)


def nb_params(nb):
    q, s, e = zip(*[[v.value_in_unit_system(u.md_unit_system) for v in nb.getParticleParameters(i)] for i in range(nb.getNumParticles())])
    return np.array(q), np.array(s), np.array(e)


def check_sterics_periodic(ref_nb, pos, box, region, ls, cutoff, natoms):
    """Direct-space soft-core LJ region x environment with minimum image and plain truncation, and its
    long-range correction as OpenMM counts it: (2 pi N^2 / (N (N+1) / 2)) sum_pairs int_rc^inf r^2 U(r) dr / V,
    N = all particles of the System."""
    q, sg, ep = nb_params(ref_nb)
    R = np.array(sorted(region)); E = np.array(sorted(set(range(natoms)) - set(region)))
    L = np.array([box[k][k].value_in_unit(u.nanometer) for k in range(3)])
    x = np.array(pos.value_in_unit(u.nanometer))
    direct = 0.0
    for i in R:
        d = x[E] - x[i]; d -= L * np.round(d / L); r = np.sqrt((d * d).sum(1)); m = r < cutoff
        s = 0.5 * (sg[i] + sg[E[m]]); e = np.sqrt(ep[i] * ep[E[m]])
        direct += softcore(r[m], s, e, ls).sum()
    classes = {}
    for i in R:
        for j in E:
            key = (sg[i], ep[i], sg[j], ep[j]); classes[key] = classes.get(key, 0) + 1
    tot = 0.0
    for (si, ei, sj, ej), n in classes.items():
        s = 0.5 * (si + sj); e = math.sqrt(ei * ej)
        if e == 0: continue
        tot += n * integrate.quad(lambda r: r * r * softcore(r, s, e, ls), cutoff, np.inf, epsabs=0, epsrel=1e-12, limit=200)[0]
    N = natoms; V = L.prod()
    return direct, 2 * math.pi * N * N * tot / (N * (N + 1) / 2) / V


def check_vacuum(ref_nb, pos, region, ls, le):
    """All nonbonded energy of the alchemical vacuum system from openmmtools' rules, pair by pair:
    region-environment LJ (and 1-4 LJ) soft-core with lambda_s; region-region LJ unchanged; every Coulomb
    pair or 1-4 pair with at least one region atom times lambda_e (linear: energies, not charges, are scaled)."""
    q, sg, ep = nb_params(ref_nb); n = len(q); R = set(region)
    x = np.array(pos.value_in_unit(u.nanometer))
    exc = {}
    for k in range(ref_nb.getNumExceptions()):
        i, j, cp, s, e = ref_nb.getExceptionParameters(k)
        exc[(min(i, j), max(i, j))] = (cp.value_in_unit_system(u.md_unit_system), s.value_in_unit(u.nanometer), e.value_in_unit(kjmol))
    tot = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r = np.linalg.norm(x[i] - x[j]); nin = (i in R) + (j in R)
            if (i, j) in exc:
                cp, s, e = exc[(i, j)]
            else:
                cp, s, e = q[i] * q[j], 0.5 * (sg[i] + sg[j]), math.sqrt(ep[i] * ep[j])
            if e != 0:
                tot += softcore(r, s, e, ls) if nin == 1 else 4 * e * ((s / r) ** 12 - (s / r) ** 6)
            tot += ONE_4PI_EPS0 * cp / r * (le if nin else 1.0)
    return tot


def charge_scaled_nonbonded(ref, pos, box, region, le, exc_power):
    """The reference NonbondedForce with the region's LJ removed (moved to the sterics forces), its charges times
    le, and the chargeprod of 1-4 exceptions with a region atom times le (one region atom) or le^exc_power (both).
    exc_power 1 is what openmmtools' exact PME treatment does; 2 is plain charge scaling."""
    R = set(region); nb = copy.deepcopy([f for f in ref.getForces() if isinstance(f, mm.NonbondedForce)][0])
    for i in R:
        q, sg, ep = nb.getParticleParameters(i); nb.setParticleParameters(i, q * le, sg, 0.0 * ep)
    for k in range(nb.getNumExceptions()):
        i, j, cp, sg, ep = nb.getExceptionParameters(k); n = (i in R) + (j in R)
        if n: nb.setExceptionParameters(k, i, j, cp * (le if n == 1 else le ** exc_power), sg, 0.0 * ep)
    s = mm.System()
    for i in range(ref.getNumParticles()): s.addParticle(ref.getParticleMass(i))
    s.setDefaultPeriodicBoxVectors(*box); s.addForce(nb)
    ctx = mm.Context(s, mm.VerletIntegrator(0.001), mm.Platform.getPlatformByName('Reference'))
    ctx.setPeriodicBoxVectors(*box); ctx.setPositions(pos)
    return energy(ctx, [0])


def region_self_dispersion(ref_nb, box, region, natoms):
    """The i = j terms of the region atoms in OpenMM's NonbondedForce dispersion correction (it counts
    n (n + 1) / 2 pairs per class); the CustomNonbondedForce region-region correction leaves them out."""
    q, sg, ep = nb_params(ref_nb); rc = ref_nb.getCutoffDistance().value_in_unit(u.nanometer)
    V = np.prod([box[k][k].value_in_unit(u.nanometer) for k in range(3)]); N = natoms
    tot = sum(4 * ep[i] * (sg[i] ** 12 / (9 * rc ** 9) - sg[i] ** 6 / (3 * rc ** 3)) for i in region)
    return 2 * math.pi * N * N / (N * (N + 1) / 2) * tot / V


def run_case(case, prmtop, crd, region, lambdas, annihilate_sterics=False, factory_opts=None, note=None, **kw):
    top, ref, pos, box = build(prmtop, crd, **kw)
    fo = dict(FACTORY); fo.update(factory_opts or {})
    factory = AbsoluteAlchemicalFactory(**fo)
    reg = AlchemicalRegion(alchemical_atoms=list(region), annihilate_sterics=annihilate_sterics)
    alch = factory.create_alchemical_system(ref, reg)
    labels = label_forces(alch, region)
    for g, f in enumerate(alch.getForces()):
        f.setForceGroup(g)
        if isinstance(f, (mm.CustomNonbondedForce, mm.CustomBondForce)):
            gp = [f.getGlobalParameterName(k) for k in range(f.getNumGlobalParameters())]
            for p in ('lambda_sterics', 'lambda_electrostatics'):
                if p in gp: f.addEnergyParameterDerivative(p)
    # Same System with the alchemical sterics long-range corrections off: splits each sterics force
    # into its direct part and its correction.
    nolrc = copy.deepcopy(alch); lrc_groups = []
    for g, f in enumerate(nolrc.getForces()):
        if isinstance(f, mm.CustomNonbondedForce) and f.getUseLongRangeCorrection():
            f.setUseLongRangeCorrection(False); lrc_groups.append(g)
    plat = mm.Platform.getPlatformByName('Reference')

    def context(s):
        ctx = mm.Context(s, mm.VerletIntegrator(0.001), plat)
        if box is not None: ctx.setPeriodicBoxVectors(*box)
        ctx.setPositions(pos); return ctx
    ctx = context(alch); ctx2 = context(nolrc) if lrc_groups else None; rctx = context(ref)
    names = set(ctx.getParameters().keys())
    ref_energy = energy(rctx, range(ref.getNumForces()))
    dep = {p: [g for g, (_, d) in enumerate(labels) if p in d['lambda_parameters']] for p in ('lambda_sterics', 'lambda_electrostatics')}
    ref_nb = [f for f in ref.getForces() if isinstance(f, mm.NonbondedForce)][0]
    natoms = ref.getNumParticles()
    resnames = sorted({a.residue.name for a in top.topology.atoms() if a.index in set(region)})
    settings = {k: str(v) for k, v in kw.items()}
    settings.update(prmtop='systems/' + prmtop, coordinates='systems/' + crd, constraints=None, rigidWater=False,
                    dispersion_correction=ref_nb.getUseDispersionCorrection(), switching=ref_nb.getUseSwitchingFunction(),
                    region=list(region), region_residues=resnames,
                    factory={k: (str(v) if isinstance(v, u.Quantity) else v) for k, v in fo.items()},
                    alchemical_region=dict(REGION_DEFAULTS, annihilate_sterics=annihilate_sterics),
                    fd_step=FD_STEP)
    if ref_nb.getNonbondedMethod() == mm.NonbondedForce.CutoffPeriodic:
        settings['reaction_field_dielectric'] = ref_nb.getReactionFieldDielectric()
    # Setting lambdas with context.setParameter must be what openmmtools' AlchemicalState does.
    st = AlchemicalState.from_system(alch); st.lambda_sterics = 0.5; st.lambda_electrostatics = 0.25; st.apply_to_context(ctx)
    e_state = energy(ctx, range(alch.getNumForces()))
    set_lambdas(ctx, names, 0.5, 0.25); assert energy(ctx, range(alch.getNumForces())) == e_state

    for ls, le in lambdas:
        set_lambdas(ctx, names, ls, le)
        per = {lab: energy(ctx, [g]) for g, (lab, _) in enumerate(labels)}
        s = ctx.getState(getEnergy=True, getForces=True, getParameterDerivatives=True)
        etot = s.getPotentialEnergy().value_in_unit(kjmol)
        pd = dict(s.getEnergyParameterDerivatives())
        fd, fd2, fdl = {}, {}, {}
        for p, lam in (('lambda_sterics', ls), ('lambda_electrostatics', le)):
            if p not in names: fd[p] = fd2[p] = 0.0; continue
            both = [c for c in (ctx, ctx2) if c is not None]
            direct = ctx2 or ctx  # without the alchemical long-range corrections: double precision throughout
            five, three = fd5(lambda l: [c.setParameter(p, l) for c in both] and energy(direct, dep[p]), lam, FD_STEP)
            lg = [g for g in lrc_groups if g in dep[p]]
            if lg:
                # OpenMM integrates the long-range correction in single precision (noise ~1e-7 relative), too rough
                # for the step above; the correction is smooth in lambda, so a wider step costs nothing.
                fdl[p], _ = fd5(lambda l: [c.setParameter(p, l) for c in both] and energy(ctx, lg) - energy(ctx2, lg), lam, FD_STEP_LRC)
                five += fdl[p]; three += fdl[p]
            for c in both: c.setParameter(p, lam)
            fd[p], fd2[p] = five, three
        out = dict(case=case, openmm=mm.version.full_version, openmmtools=openmmtools.__version__, platform='Reference',
                   particles=natoms, settings=settings, lambda_sterics=ls, lambda_electrostatics=le,
                   energies=per, energy=etot,
                   forces=[list(v) for v in s.getForces().value_in_unit(kjmol / u.nanometer)],
                   dUdlambda_sterics=fd['lambda_sterics'], dUdlambda_electrostatics=fd['lambda_electrostatics'],
                   dUdlambda_fd_3point={'lambda_sterics': fd2['lambda_sterics'], 'lambda_electrostatics': fd2['lambda_electrostatics']},
                   dUdlambda_sterics_long_range_correction=fdl.get('lambda_sterics'),
                   dUdlambda_sterics_openmm=pd.get('lambda_sterics'),
                   dUdlambda_electrostatics_openmm=pd.get('lambda_electrostatics') if dep['lambda_electrostatics'] and all(
                       labels[g][1]['class'] != 'NonbondedForce' for g in dep['lambda_electrostatics']) else None,
                   force_groups=[dict(d, group=g) for g, (_, d) in enumerate(labels)],
                   reference_system_energy=ref_energy)
        checks = {}
        if ctx2 is not None:
            set_lambdas(ctx2, names, ls, le)
            out['sterics_long_range_correction'] = {labels[g][0]: per[labels[g][0]] - energy(ctx2, [g]) for g in lrc_groups}
            if box is not None:
                # Independent evaluation of the soft-core region-environment sterics (numpy + scipy quad).
                d, l = check_sterics_periodic(ref_nb, pos, box, region, ls, kw['nonbondedCutoff'].value_in_unit(u.nanometer), natoms)
                lab = 'sterics CustomNonbondedForce region-environment'
                checks['sterics_region_environment_direct_numpy'] = d
                checks['sterics_region_environment_direct_openmm'] = per[lab] - out['sterics_long_range_correction'][lab]
                checks['sterics_region_environment_lrc_numpy'] = l
                checks['sterics_region_environment_lrc_openmm'] = out['sterics_long_range_correction'][lab]
        if box is not None and ref_nb.getUseDispersionCorrection() and (ls, le) == (1, 1):
            checks['dispersion_correction_region_self_pairs'] = region_self_dispersion(ref_nb, box, region, natoms)
            checks['energy_minus_reference_system_energy'] = etot - ref_energy
        if kw.get('nonbondedMethod') == app.NoCutoff:
            nbg = [g for g, (lab, d) in enumerate(labels) if d['class'] in ('NonbondedForce', 'CustomNonbondedForce', 'CustomBondForce')]
            checks['nonbonded_numpy'] = check_vacuum(ref_nb, pos, region, ls, le)
            checks['nonbonded_openmm'] = energy(ctx, nbg)
        if 'sterics_region_environment_direct_numpy' in checks:
            assert abs(checks['sterics_region_environment_direct_numpy'] - checks['sterics_region_environment_direct_openmm']) < 1e-9 * (1 + abs(d))
            assert abs(checks['sterics_region_environment_lrc_numpy'] - checks['sterics_region_environment_lrc_openmm']) < 1e-5 * (1 + abs(l))
        if 'nonbonded_numpy' in checks:
            assert abs(checks['nonbonded_numpy'] - checks['nonbonded_openmm']) < 1e-9 * (1 + abs(checks['nonbonded_openmm']))
        for p in ('lambda_sterics', 'lambda_electrostatics'):
            po = out['dUdlambda_%s_openmm' % p[7:]]
            if po is not None:
                assert abs(po - fd[p]) <= 1e-5 * (1 + abs(po)), (case, p, po, fd[p])
        if pme_exact(ref_nb, fo) and 'lambda_electrostatics' in names:
            # The energy is exactly quadratic in lambda_e: U = a + b l + c l^2 from U(0), U(1/2), U(1).
            g = dep['lambda_electrostatics']; U = []
            for lam in (0.0, 0.5, 1.0):
                ctx.setParameter('lambda_electrostatics', lam); U.append(energy(ctx, g))
            ctx.setParameter('lambda_electrostatics', le)
            c = 2 * (U[2] - 2 * U[1] + U[0]); b = U[2] - U[0] - c
            checks['quadratic_dUdlambda_electrostatics'] = b + 2 * c * le
            assert abs(checks['quadratic_dUdlambda_electrostatics'] - fd['lambda_electrostatics']) < 1e-5 * (1 + abs(b) + abs(c))
            checks['nonbonded_charge_scaled_14_linear'] = charge_scaled_nonbonded(ref, pos, box, region, le, 1)
            checks['nonbonded_charge_scaled_14_quadratic'] = charge_scaled_nonbonded(ref, pos, box, region, le, 2)
            checks['nonbonded_openmm'] = per['NonbondedForce']
            assert abs(checks['nonbonded_charge_scaled_14_linear'] - per['NonbondedForce']) < 1e-8 * abs(per['NonbondedForce'])
            a, nx, ny, nz = [f for f in alch.getForces() if isinstance(f, mm.NonbondedForce)][0].getPMEParametersInContext(ctx)
            out['pme'] = dict(alpha=a, grid=[nx, ny, nz])
        if checks: out['checks'] = checks
        out['note'] = ((ELEC_EXACT if pme_exact(ref_nb, fo) else ELEC_SCALED) + ' ' + STERICS_NOTE
                       + (' ' + note if note else ''))
        name = '%s_s%.2f_e%.2f' % (case, ls, le)
        with open(os.path.join(outdir, name + '.json'), 'w') as f: json.dump(out, f)
        print('%-34s U %.6f (ref system %.6f) dU/dls %.6f [openmm %s, 3-point %.6f] dU/dle %.6f [openmm %s, 3-point %.6f] %s' % (
            name, etot, ref_energy, fd['lambda_sterics'], pd.get('lambda_sterics'), fd2['lambda_sterics'],
            fd['lambda_electrostatics'], out['dUdlambda_electrostatics_openmm'], fd2['lambda_electrostatics'],
            {k: round(v, 6) for k, v in checks.items()}))
        sys.stdout.flush()


def pme_exact(nb, fo):
    return nb.getNonbondedMethod() in (mm.NonbondedForce.PME, mm.NonbondedForce.Ewald) and fo['alchemical_pme_treatment'] == 'exact'


def alchemical():
    exp = ('alanine-dipeptide-explicit.prmtop', 'alanine-dipeptide-explicit.inpcrd')
    pme = dict(nonbondedMethod=app.PME, nonbondedCutoff=0.9 * u.nanometer, ewaldErrorTolerance=5e-4)
    rf = dict(nonbondedMethod=app.CutoffPeriodic, nonbondedCutoff=0.9 * u.nanometer)
    solute = range(22)
    run_case('ala2_pme', *exp, solute, [(1, 1), (1, 0.5), (1, 0), (0.75, 0), (0.5, 0), (0.25, 0), (0, 0), (0.5, 0.5)], **pme)
    run_case('ala2_pme_annihilate', *exp, solute, [(0.5, 0)], annihilate_sterics=True, **pme)
    rf_note = ('openmmtools calls reaction field "still experimental". With alchemical_rf_treatment "switched" (default) '
               'it replaces the reaction field of the whole System: every pair, environment too, uses c_rf = 0 and a '
               'switch from cutoff - switch_width to the cutoff, so even lambda = (1, 1) is not OpenMM\'s reaction field. '
               'With "shifted" the NonbondedForce keeps OpenMM\'s reaction field (c_rf != 0, no switch) and the region\'s '
               'Custom electrostatics use the same k_rf, c_rf without switching.')
    run_case('ala2_rf_switched', *exp, solute, [(1, 1), (0.5, 0.5)], note=rf_note, **rf)
    run_case('ala2_rf_shifted', *exp, solute, [(1, 1), (0.5, 0.5)], factory_opts=dict(alchemical_rf_treatment='shifted'),
             note=rf_note, **rf)
    run_case('ala2_vacuum', 'alanine-dipeptide-implicit.prmtop', 'alanine-dipeptide-implicit.inpcrd', range(10),
             [(1, 1), (0.5, 0.5), (0.25, 0)], nonbondedMethod=app.NoCutoff)


LJ_MODELS = {'KolafaNezbeda1994': 'LJ126_KolafaNezbeda1994', 'Johnson1993': 'LJ126_Johnson1993',
             'Thol2016': 'LJ126_TholJPCRD2016'}
LJ_STATES = [(2.0, 0.5, 'supercritical fluid'), (1.5, 0.6, 'supercritical fluid'),
             (1.2, 0.75, 'compressed liquid (T < Tc ~ 1.32, above the saturated liquid density ~ 0.62)'),
             (2.0, 0.8, 'dense supercritical fluid')]


def lj_b2_exact(T):
    """Second virial coefficient of the full LJ potential (sigma = epsilon = 1) by quadrature; below r = 0.6
    exp(-u/T) underflows to 0 for T <= 2."""
    f = lambda r: np.expm1(-4 * (r ** -12 - r ** -6) / T) * r * r
    s = -0.6 ** 3 / 3
    for lo, hi in ((0.6, 0.9), (0.9, 1.0), (1.0, 1.2), (1.2, 2.0), (2.0, 5.0), (5.0, np.inf)):
        s += integrate.quad(f, lo, hi, limit=400, epsabs=1e-15, epsrel=1e-13)[0]
    return -2 * math.pi * s


def lj_mu_ex():
    """Excess chemical potential of the full (untruncated) Lennard-Jones fluid from teqp's equations of state,
    in reduced units (sigma = epsilon = k = 1): mu_ex/kT = a_res + Z - 1, where a_res = A_res/(N k T) is teqp's
    alphar (get_Ar00) and Z = p/(rho k T) = 1 + rho d(a_res)/d(rho) (1 + get_Ar01). This is the excess over the
    ideal gas at the same T and density, i.e. what decoupling one particle at constant volume gives
    (Widom insertion / alchemical FEP); it equals teqp's ln(fugacity coefficient) + ln Z."""
    import teqp
    z = np.array([1.0]); models = {k: teqp.make_model({'kind': v, 'model': {}}) for k, v in LJ_MODELS.items()}
    states = []
    for T, rho, phase in LJ_STATES:
        vals = {}
        for k, m in models.items():
            ar = m.get_Ar00(T, rho, z); Z = 1 + m.get_Ar01(T, rho, z); mu = ar + Z - 1
            lnphi = math.log(m.get_fugacity_coefficients(T, np.array([rho]))[0])
            assert abs(lnphi + math.log(Z) - mu) < 1e-12
            dpdrho = T * (1 + 2 * m.get_Ar01(T, rho, z) + m.get_Ar02(T, rho, z))
            assert dpdrho > 0, (k, T, rho)  # mechanically stable single phase
            vals[k] = dict(mu_ex_over_kT=mu, mu_ex_over_epsilon=mu * T, a_res=ar, Z=Z, p=rho * T * Z,
                           u_res_per_particle=T * m.get_Ar10(T, rho, z))
        mus = [v['mu_ex_over_kT'] for v in vals.values()]
        states.append(dict(T=T, rho=rho, phase=phase, models=vals,
                           KolafaNezbeda1994_minus_Johnson1993=vals['KolafaNezbeda1994']['mu_ex_over_kT'] - vals['Johnson1993']['mu_ex_over_kT'],
                           spread=max(mus) - min(mus)))
        print('LJ T* %.2f rho* %.2f  mu_ex/kT %s  KN-JZG %+.4f spread %.4f' % (
            T, rho, {k: round(v['mu_ex_over_kT'], 5) for k, v in vals.items()}, states[-1]['KolafaNezbeda1994_minus_Johnson1993'], states[-1]['spread']))
    # Checks of teqp's implementations against values computed by others.
    kn, jzg, thol = models['KolafaNezbeda1994'], models['Johnson1993'], models['Thol2016']
    checks = dict(
        KolafaNezbeda1994_vs_sklogwiki_fortran=dict(
            source='SklogWiki FORTRAN code for the Kolafa-Nezbeda EOS, as quoted in github.com/alexei-matveev/bgy3d eos.f90 '
                   '("A few values for confidence, cp. Fig. 3 of the original paper")',
            U_1p3_0p2=[1.3 * kn.get_Ar10(1.3, 0.2, z), -1.5371511277396868],
            U_1p3_0p4=[1.3 * kn.get_Ar10(1.3, 0.4, z), -2.806016725054152],
            p_1p3_0p2=[0.2 * 1.3 * (1 + kn.get_Ar01(1.3, 0.2, z)), 0.12147936810578708],
            p_1p3_0p4=[0.4 * 1.3 * (1 + kn.get_Ar01(1.3, 0.4, z)), 0.11253334756806482]),
        Johnson1993_vs_Stephan=dict(source='teqp src/tests/catch_test_LJmodels.cxx: values calculated by S. Stephan',
                                    a_res_1p35_0p6=[jzg.get_Ar00(1.35, 0.6, z), -1.237403479]),
        Thol2016_vs_ljfeos=dict(source='teqp src/tests/catch_test_LJmodels.cxx: ljfeos.cpp distributed with Thol et al. 2016',
                                a_res_1p32_0p31=[thol.get_Ar00(1.32, 0.31, z), -0.848655028421735],
                                rho_da_drho_1p32_0p31=[thol.get_Ar01(1.32, 0.31, z), -0.682159784922984]),
        second_virial=dict(note='low-density limit mu_ex/kT -> 2 B2 rho; B2 of the full LJ potential by quadrature vs each EOS',
                           values={str(T): dict(exact=lj_b2_exact(T), **{k: m.get_B2vir(T, z) for k, m in models.items()})
                                   for T in (1.2, 1.5, 2.0)}))
    out = dict(description='Excess chemical potential of the full (untruncated) Lennard-Jones fluid, reduced units '
                           '(sigma = epsilon = k_B = 1; T* = kT/epsilon, rho* = N sigma^3 / V)',
               formula='mu_ex/kT = a_res + Z - 1 with a_res = A_res/(N k T) = teqp get_Ar00(T, rho, [1]) and '
                       'Z = p/(rho k T) = 1 + get_Ar01(T, rho, [1]) (get_Ar01 = rho d a_res / d rho); '
                       'u_res_per_particle = T get_Ar10 (get_Ar10 = (1/T) d a_res / d(1/T)); p = rho T Z',
               teqp=teqp.__version__, models=LJ_MODELS,
               references={'KolafaNezbeda1994': 'J. Kolafa, I. Nezbeda, Fluid Phase Equilib. 100, 1-34 (1994)',
                           'Johnson1993': 'J. K. Johnson, J. A. Zollweg, K. E. Gubbins, Mol. Phys. 78, 591-618 (1993)',
                           'Thol2016': 'M. Thol et al., J. Phys. Chem. Ref. Data 45, 023101 (2016)'},
               note='The spread between the models is the uncertainty of "the published EOS" for a simulated mu_ex; '
                    'a simulation with a truncated potential must add its long-range correction (for an inserted '
                    'particle, 2 * 8 pi rho (1/(9 rc^9) - 1/(3 rc^3)) / T in mu_ex/kT, twice the per-particle energy correction).',
               state_points=states, checks=checks)
    with open(os.path.join(outdir, 'lj_mu_ex.json'), 'w') as f: json.dump(out, f, indent=1)
    for k, v in checks.items():
        if k != 'second_virial': print(k, {a: b for a, b in v.items() if a != 'source'})
    print('B2', checks['second_virial']['values'])


if __name__ == '__main__':
    what = sys.argv[1:] or ['alchemical', 'lj']
    if 'alchemical' in what: alchemical()
    if 'lj' in what: lj_mu_ex()
