"""The benchmark registry. Adding a benchmark is one entry in BENCHES:

    Bench("name", SystemSpec(...), particles, peers=[...], phases=(...), steps=Steps(quick, full))

- the system spec (systems.py) is the clmd deck generator and tells each peer what to build;
- `peers` are runners from peers.py, measured on the same system in the same run;
- `phases` are clmd probe phases reported as rows of their own ("<name>/clmd/<phase>", ms/step):
  this is how single force terms and the neighbor-build / force-evaluation split are measured;
- `steps` are the timed MD steps per sample in --quick and full mode (quick None: full mode only);
- `relative_to` names the benchmark of the same system without this one's addition (the NVT twin of
  an NPT benchmark): each of this benchmark's rows then carries `relative_cost`, its time per step
  over that of the same row of the twin (capsule.add_relative_costs), when both ran.
Rows: "<name>/clmd" and "<name>/<peer engine>" (steps/s), and the phase rows.
"""
import collections

from .peers import Gromacs, Lammps, OpenMM
from .systems import MD, Amber, Barostat, LJFcc, TiledWaterPdb, WaterPdb

Steps = collections.namedtuple("Steps", "quick full")


class Bench:
    def __init__(self, name, system, particles, peers=(), phases=(), steps=Steps(100, 1000), quick_peers=True,
                 note="", relative_to=None):
        if getattr(system, "particles", particles) != particles:
            raise ValueError("%s: system has %s particles, entry says %d" % (name, system.particles, particles))
        self.name, self.system, self.particles = name, system, particles
        self.peers, self.phases, self.steps = list(peers), tuple(phases), steps
        self.quick_peers, self.note, self.relative_to = quick_peers, note, relative_to

    def in_mode(self, quick):
        return (self.steps.quick if quick else self.steps.full) is not None

    def nsteps(self, quick):
        return self.steps.quick if quick else self.steps.full

    def peers_for(self, quick):
        return self.peers if (self.quick_peers or not quick) else []

    def clmd_row(self):
        return "%s/clmd" % self.name

    def peer_row(self, peer):
        return "%s/%s" % (self.name, peer.engine)

    def phase_row(self, phase):
        return "%s/clmd/%s" % (self.name, phase)

    def row_names(self, quick):
        return ([self.clmd_row()] + [self.peer_row(p) for p in self.peers_for(quick)]
                + [self.phase_row(ph) for ph in self.phases])


def openmm():
    return [OpenMM("OpenCL"), OpenMM("CPU")]


NB_SPLIT = ("nlist_build", "nonbonded")
PME = ("pme_spread", "pme_fft_forward", "pme_convolve", "pme_fft_inverse", "pme_gather")
# the 1-4 exceptions run in the nonbonded launch (cl/nonbonded.cl PAIRS14_TAIL)
BONDED = ("bonded",)
# TIP4P-Ew's M sites are placed, and their forces spread, in the integrator's launch (cl/units.cl)
# the ACE surface term is computed inside gb_force (no launch of its own, no probe phase)
GB = ("gb_radii", "gb_force")
ALA2 = ("alanine-dipeptide-explicit.prmtop", "alanine-dipeptide-explicit.inpcrd")


def benches():
    """Fresh runner objects each call (peers remember versions): the MD benchmarks, then the
    replica-exchange ones."""
    return md_benches() + remd_benches() + lambda_benches()


def md_benches():
    return [
        Bench("lj-fcc-4k", LJFcc(cells=10), 4000, peers=openmm() + [Lammps()], phases=NB_SPLIT,
              steps=Steps(50, 2000)),
        Bench("lj-fcc-32k", LJFcc(cells=20), 32000, peers=openmm() + [Lammps()], phases=NB_SPLIT,
              steps=Steps(20, 500)),
        # 200 steps: several pair-list lifetimes, not one build
        # GPU pair lists live 100 steps: the large rows time several lifetimes (1000 steps: 10
        # lists and their overlapped builds; PoCL's lists live ~10 steps)
        Bench("lj-fcc-256k", LJFcc(cells=40), 256000, peers=openmm() + [Lammps()], phases=NB_SPLIT,
              steps=Steps(None, 1000)),
        Bench("ala2-pme", Amber(*ALA2, label="alanine dipeptide in TIP3P, PME 0.9 nm, HBonds", particles=2269),
              2269, peers=openmm(), phases=NB_SPLIT + PME + BONDED + ("integrate",), steps=Steps(50, 2000)),
        Bench("ala2-rf", Amber(*ALA2, method="reaction_field",
                               label="alanine dipeptide in TIP3P, reaction field 0.9 nm, HBonds", particles=2269),
              2269, peers=openmm(), phases=("nonbonded",), steps=Steps(50, 2000), quick_peers=False),
        Bench("protein-obc2", Amber("lcpo_test.prmtop", "lcpo_test.inpcrd", method="nocutoff", implicit="obc2",
                                    label="697-atom protein, OBC2 + ACE, no cutoff, HBonds", particles=697),
              697, peers=openmm(), phases=GB + BONDED + ("nonbonded", "integrate"), steps=Steps(50, 1000)),
        # dt 1 fs: this structure is not equilibrated and blows up at 2 fs in OpenMM too
        Bench("18protein-pme", Amber("18protein.parm7", "18protein.rst7", label="18protein in water, PME 0.9 nm, HBonds",
                                     particles=21536,
                                     md=MD(dt=0.002, temperature=300.0, minimize={"max_steps": 200, "tolerance": 100.0})),
              21536, peers=openmm(), phases=NB_SPLIT + PME + BONDED + ("integrate",), steps=Steps(10, 200),
              note="the input structure is not equilibrated: every engine minimizes it (200 steps, untimed) before the 2 fs steps"),
        Bench("tip4pew-pme", WaterPdb("tip4pew_box.pdb", "tip4pew", label="TIP4P-Ew water box (886 waters), PME 0.9 nm",
                                      particles=3544, molecules=886),
              3544, peers=openmm() + [Gromacs()], phases=NB_SPLIT + PME + ("integrate",),
              steps=Steps(30, 1000)),
        # the same box repeated 2 and 3 times along each edge (out/bench-cache/): the GPU sizes
        Bench("tip4pew-pme-28k", TiledWaterPdb("tip4pew_box.pdb", 2, "tip4pew", particles=28352, molecules=7088,
                                               label="TIP4P-Ew water box (7,088 waters: the 886 tiled 2x2x2), PME 0.9 nm"),
              28352, peers=openmm(), phases=NB_SPLIT + PME + ("integrate",),
              steps=Steps(None, 500)),
        Bench("tip4pew-pme-96k", TiledWaterPdb("tip4pew_box.pdb", 3, "tip4pew", particles=95688, molecules=23922,
                                               label="TIP4P-Ew water box (23,922 waters: the 886 tiled 3x3x3), PME 0.9 nm"),
              95688, peers=openmm(), phases=NB_SPLIT + PME + ("integrate",),
              steps=Steps(None, 500)),
        # the same box at constant pressure: a Monte Carlo volume move every 25 steps (steps are a
        # multiple of 25, so every sample holds whole barostat periods); relative_cost is the NPT
        # step over the NVT step above (issue 9: at most 1.1)
        Bench("tip4pew-npt", WaterPdb("tip4pew_box.pdb", "tip4pew", particles=3544, molecules=886, barostat=Barostat(),
                                      label="TIP4P-Ew water box (886 waters), PME 0.9 nm, NPT: Monte Carlo barostat "
                                            "1 atm, a move every 25 steps"),
              3544, peers=openmm(), phases=("barostat", "box_scale", "nlist_build", "nonbonded"),
              steps=Steps(50, 1000), relative_to="tip4pew-pme"),
    ]


def remd_benches():
    """Temperature replica exchange (remd.py): rows in replica-steps/s, `<bench>/clmd` (batched),
    `<bench>/clmd-one-at-a-time` and `<bench>/openmmtools` (full mode only). Steps are per replica
    and per sample, whole 100-step rounds; ladder 300-450 K, Langevin 1/ps, 2 fs, HBonds, OBC2."""
    from .remd import Remd, RemdBench
    ala2 = Amber("alanine-dipeptide-implicit.prmtop", "alanine-dipeptide-implicit.inpcrd", method="nocutoff",
                 implicit="obc2", label="alanine dipeptide, OBC2 + ACE, no cutoff, HBonds", particles=22)
    protein = Amber("lcpo_test.prmtop", "lcpo_test.inpcrd", method="nocutoff", implicit="obc2",
                    label="697-atom protein, OBC2 + ACE, no cutoff, HBonds", particles=697)
    return [
        RemdBench("ala2-remd-8", Remd(ala2, 8), 22, steps=Steps(200, 1000)),
        RemdBench("ala2-remd-32", Remd(ala2, 32), 22, steps=Steps(100, 500)),
        # one round of the protein is 800 (8 replicas) or 3200 replica-steps, ~10 s or ~40 s one at
        # a time on PoCL: full mode only
        RemdBench("protein-remd-8", Remd(protein, 8), 697, steps=Steps(None, 200)),
        RemdBench("protein-remd-32", Remd(protein, 32), 697, steps=Steps(None, 100)),
    ]


def lambda_benches():
    """Alchemical (lambda) replica exchange (remd.LambdaRemd, issue 13): one TIP3P water of
    openmmtools' 216-water box (bench/fe/systems/, PME 0.9 nm, rigid water, 300 K, 2 fs) on the
    electrostatic ladder of bench/fe/hydration.py (charges 1 ... 0 in steps of 0.2, sterics on:
    a ladder whose energy matrix cannot meet a decoupled overlap, see bench/fe/README.md), a swap
    attempt every 100 steps. Rows in replica-steps/s plus the cost of an exchange round split into
    MD and the energy matrix (`round_ms`), and the phase rows remd_md and remd_exchange. --quick:
    one round, clmd only; full mode: 5 rounds with the one-at-a-time and openmmtools peers."""
    import os
    from .remd import AmberFile, LambdaRemd, RemdBench
    from .systems import REPO
    fe = os.path.join(REPO, "bench", "fe", "systems")
    water = AmberFile(os.path.join(fe, "watbox216.prmtop"), os.path.join(fe, "watbox216.crd"),
                      label="216 TIP3P waters (openmmtools' watbox216), PME 0.9 nm, rigid water", particles=648,
                      constraints="none")
    return [
        RemdBench("water-lambda-remd-6", LambdaRemd(water, [0, 1, 2], [1.0] * 6, [1.0, 0.8, 0.6, 0.4, 0.2, 0.0],
                                                    exchange_interval=100),
                  648, steps=Steps(100, 500), quick_engines=(), phases=("remd_md", "remd_exchange")),
    ]
