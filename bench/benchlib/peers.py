"""Peer engines run on the same systems as clmd: OpenMM (OpenCL and CPU platforms), LAMMPS, GROMACS.

A peer is a runner with an `engine` name (the row name's suffix); `prepare(bench, workdir, steps,
timeout)` does the setup outside the timed region and returns a session whose `sample()` returns
steps/s of the stepping loop alone (setup, JIT and warm-up excluded), and `close()`. Anything that
stops a peer raises Blocked with the reason. Peers use `threads` CPU threads (default: 2, or the
core count if fewer), the same budget clmd's OpenCL device has on a 2-core host.
"""
import math
import os
import re
import select
import shutil
import subprocess
import sys
import time
import json

from . import Blocked
from .systems import data_file

HERE = os.path.dirname(os.path.abspath(__file__))


def default_threads():
    env = os.environ.get("CLMD_BENCH_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, min(2, os.cpu_count() or 1))


def _tail_file(path, n=3):
    try:
        with open(path, errors="replace") as f:
            lines = [l.strip() for l in f if l.strip() and "warning" not in l.lower()]
        return " | ".join(lines[-n:])[-400:]
    except OSError:
        return ""


def _version_line(cmd, pattern):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        m = re.search(pattern, out.stdout + out.stderr, re.M)
        return m.group(1).strip() if m else None
    except (OSError, subprocess.SubprocessError):
        return None


# ---- OpenMM ---------------------------------------------------------------------------------

def openmm_python():
    env = os.environ.get("CLMD_BENCH_OPENMM_PYTHON")
    if env:
        return env
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class _LineReader:
    """Reads whole lines from a pipe with a timeout (select + os.read, no hidden buffering)."""

    def __init__(self, fd):
        self.fd, self.buf = fd, b""

    def readline(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return ""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")


class OpenMMSession:
    def __init__(self, peer, bench, workdir, steps, timeout):
        self.peer, self.steps, self.timeout = peer, steps, timeout
        spec = bench.system.openmm_spec()
        spec.update(platform=peer.platform, threads=peer.threads, warmup=100, warmup_s=3.0)
        os.makedirs(workdir, exist_ok=True)
        self.errpath = os.path.join(workdir, "openmm-%s.err" % peer.platform.lower())
        self.err = open(self.errpath, "w")
        try:
            self.proc = subprocess.Popen([openmm_python(), os.path.join(HERE, "openmm_worker.py"), json.dumps(spec)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err)
        except OSError as e:
            self.err.close()
            raise Blocked("cannot start OpenMM worker with %s: %s" % (openmm_python(), e))
        self.reader = _LineReader(self.proc.stdout.fileno())
        ready = self._reply(timeout, "setup")
        self.facts = ready
        peer.version = ready.get("openmm")
        if ready.get("particles") != bench.particles:
            self.close()
            raise Blocked("OpenMM built %s particles, the benchmark expects %d" % (ready.get("particles"), bench.particles))

    def _reply(self, timeout, what):
        line = self.reader.readline(timeout)
        if line is None:
            self.close()
            raise Blocked("OpenMM %s %s timed out after %g s" % (self.peer.platform, what, timeout))
        if line == "":
            rc = self.proc.wait()
            why = "killed by signal %d" % -rc if rc < 0 else "exited %d" % rc
            self.close()
            raise Blocked("OpenMM %s worker %s during %s: %s" % (self.peer.platform, why, what, _tail_file(self.errpath)))
        try:
            msg = json.loads(line)
        except ValueError:
            self.close()
            raise Blocked("OpenMM worker said %r" % line[:200])
        if not msg.get("ok"):
            self.close()
            raise Blocked("OpenMM %s: %s" % (self.peer.platform, msg.get("error", "failed")))
        return msg

    def sample(self):
        if self.proc.poll() is not None:
            raise Blocked("OpenMM %s worker is gone" % self.peer.platform)
        try:
            self.proc.stdin.write(b"run %d\n" % self.steps)
            self.proc.stdin.flush()
        except OSError as e:
            raise Blocked("OpenMM worker pipe: %s" % e)
        msg = self._reply(self.timeout, "run")
        return self.steps / msg["seconds"]

    def close(self):
        stop_worker(getattr(self, "proc", None), self.err, 10)


def stop_worker(p, err, wait_s):
    """Ends a worker process of the line protocol ("quit", then a kill after wait_s seconds)
    and closes its stderr file."""
    if p and p.poll() is None:
        try:
            p.stdin.write(b"quit\n")
            p.stdin.close()
            p.wait(timeout=wait_s)
        except (OSError, subprocess.TimeoutExpired):
            p.kill()
            p.wait()
    if err is not None and not err.closed:
        err.close()


class OpenMM:
    kinds = ("lj_fcc", "amber", "pdb_water")

    def __init__(self, platform, threads=None):
        self.platform = platform
        self.engine = "openmm-" + platform.lower()
        self.threads = threads or default_threads()
        self.version = None

    def describe(self):
        return "OpenMM %s platform (LangevinMiddleIntegrator%s)" % (
            self.platform, ", %d threads" % self.threads if self.platform == "CPU" else "")

    def prepare(self, bench, workdir, steps, timeout):
        if bench.system.kind not in self.kinds:
            raise Blocked("no OpenMM builder for system kind %s" % bench.system.kind)
        return OpenMMSession(self, bench, workdir, steps, timeout)

    def get_version(self):
        if not self.version:
            self.version = _version_line([openmm_python(), "-c", "import openmm; print('openmm', openmm.version.full_version)"],
                                         r"^openmm (.+)$")
        return self.version


# ---- LAMMPS ---------------------------------------------------------------------------------

KJ_PER_KCAL = 4.184


def lammps_input(system, steps, warmup):
    """LAMMPS real-units input for an lj_fcc system: the same lattice, potential, cutoff + skin,
    Langevin thermostat, and a neighbor list checked every 10 steps; the last `run` is the timed one."""
    md = system.md
    return "\n".join([
        "# generated by bench/run: %s" % system.label,
        "units real", "atom_style atomic", "boundary p p p",
        "lattice fcc %.6f" % (system.lattice_nm * 10.0),
        "region box block 0 %d 0 %d 0 %d" % ((system.cells,) * 3),
        "create_box 1 box", "create_atoms 1 box",
        "mass 1 %g" % system.mass,
        "velocity all create %g %d mom yes rot no dist gaussian" % (md.temperature, 4928459 + md.seed),
        "pair_style lj/cut %g" % (system.cutoff * 10.0),
        "pair_coeff 1 1 %.6f %g" % (system.epsilon / KJ_PER_KCAL, system.sigma * 10.0),
        "pair_modify tail %s" % ("yes" if system.dispersion_correction else "no"),
        "neighbor %g bin" % (system.skin * 10.0),
        "neigh_modify every 10 delay 0 check yes",
        "fix 1 all nve",
        "fix 2 all langevin %g %g %g %d" % (md.temperature, md.temperature, 1000.0 / md.friction, 48279 + md.seed),
        "timestep %g" % (md.dt * 1000.0),
        "thermo 0",
        "run %d" % warmup,
        "run %d" % steps, ""])


LOOP_RE = re.compile(r"^Loop time of ([0-9.eE+-]+) on (\d+) procs for (\d+) steps", re.M)


def parse_lammps_loop(text):
    """(seconds, procs, steps) of the last `run` in a LAMMPS log."""
    runs = LOOP_RE.findall(text)
    if not runs:
        return None
    s, p, n = runs[-1]
    return float(s), int(p), int(n)


class LammpsSession:
    def __init__(self, peer, bench, workdir, steps, timeout):
        self.peer, self.steps, self.timeout, self.workdir = peer, steps, timeout, workdir
        os.makedirs(workdir, exist_ok=True)
        self.inp = os.path.join(workdir, "in.lj")
        with open(self.inp, "w") as f:
            f.write(lammps_input(bench.system, steps, warmup=max(5, min(steps, 20))))
        self.count = 0

    def sample(self):
        self.count += 1
        log = os.path.join(self.workdir, "log.%d" % self.count)
        cmd = self.peer.command(self.inp, log)
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMP_NUM_THREADS="1")
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, cwd=self.workdir, env=env)
        except subprocess.TimeoutExpired:
            raise Blocked("LAMMPS timed out after %g s" % self.timeout)
        except OSError as e:
            raise Blocked("cannot start LAMMPS: %s" % e)
        text = ""
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                text = f.read()
        if p.returncode != 0:
            raise Blocked("LAMMPS exited %d: %s" % (p.returncode, (p.stdout + p.stderr).strip()[-300:]))
        loop = parse_lammps_loop(text)
        if not loop or loop[2] != self.steps or loop[0] <= 0:
            raise Blocked("no timed LAMMPS run of %d steps in %s" % (self.steps, log))
        return loop[2] / loop[0]

    def close(self):
        pass


class Lammps:
    kinds = ("lj_fcc",)
    engine = "lammps"

    def __init__(self, threads=None):
        self.threads = threads or default_threads()
        self.exe = os.environ.get("CLMD_BENCH_LMP", "lmp")
        self.version = None

    def command(self, inp, log):
        base = [self.exe, "-in", inp, "-log", log, "-screen", "none", "-echo", "none", "-nocite"]
        mpirun = shutil.which("mpirun")
        if self.threads > 1 and mpirun:  # this LAMMPS has no OPENMP package: MPI ranks use the cores
            return [mpirun, "-np", str(self.threads), "--oversubscribe"] + base
        return base

    def describe(self):
        return "LAMMPS lj/cut, real units, %d MPI rank(s)" % self.threads

    def prepare(self, bench, workdir, steps, timeout):
        if bench.system.kind not in self.kinds:
            raise Blocked("no LAMMPS input for system kind %s" % bench.system.kind)
        if not shutil.which(self.exe):
            raise Blocked("LAMMPS (%s) not installed (apt-get install lammps)" % self.exe)
        return LammpsSession(self, bench, workdir, steps, timeout)

    def get_version(self):
        if not self.version and shutil.which(self.exe):
            self.version = _version_line([self.exe, "-h"], r"^Large-scale Atomic.*? - (.+)$")
        return self.version


# ---- GROMACS --------------------------------------------------------------------------------

GMX_NAMES = {"tip4pew": {"O": "OW", "H1": "HW1", "H2": "HW2", "M": "MW"},
             "tip3p": {"O": "OW", "H1": "HW1", "H2": "HW2"}}


def pdb_to_gro(pdb_path, model):
    """GROMACS .gro text for a water PDB (nm, SOL residues), and the molecule count."""
    names = GMX_NAMES[model]
    atoms, box = [], None
    with open(pdb_path) as f:
        for l in f:
            if l.startswith("CRYST1"):
                box = [float(l[6:15]) / 10.0, float(l[15:24]) / 10.0, float(l[24:33]) / 10.0]
            elif l.startswith(("ATOM", "HETATM")):
                atoms.append((l[12:16].strip(), float(l[30:38]) / 10.0, float(l[38:46]) / 10.0, float(l[46:54]) / 10.0))
    if box is None:
        raise Blocked("%s has no CRYST1 box" % pdb_path)
    per = len(names)
    if len(atoms) % per:
        raise Blocked("%s: %d atoms is not a whole number of %s molecules" % (pdb_path, len(atoms), model))
    out = ["%s water box from %s" % (model, os.path.basename(pdb_path)), "%d" % len(atoms)]
    for i, (name, x, y, z) in enumerate(atoms):
        if name not in names:
            raise Blocked("%s: atom name %r is not one of %s" % (pdb_path, name, "/".join(names)))
        out.append("%5d%-5s%5s%5d%8.3f%8.3f%8.3f" % ((i // per + 1) % 100000, "SOL", names[name], (i + 1) % 100000, x, y, z))
    out.append("%10.5f%10.5f%10.5f" % tuple(box))
    return "\n".join(out) + "\n", len(atoms) // per


def _smooth_size(k):
    """The smallest n >= k with no prime factor above 7 (clmd's PME grid sizes)."""
    n = max(int(k), 1)
    while True:
        m = n
        for p in (2, 3, 5, 7):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def clmd_pme_params(cutoff, tol, box_nm):
    """clmd's (and OpenMM's) PME parameters for a box: alpha (1/nm) and the grid, so a peer can be
    given the same ones (src/ff/pme_ref.c: alpha = sqrt(-ln(2 tol)) / rc, n = ceil(2 alpha L /
    (3 tol^(1/5))), at least 6, rounded up to a 2-3-5-7 number)."""
    alpha = math.sqrt(-math.log(2.0 * tol)) / cutoff
    return alpha, [_smooth_size(max(6, math.ceil(2 * alpha * L / (3 * tol ** 0.2)))) for L in box_nm]


def gromacs_mdp(system, nsteps, box_nm=None):
    """The mdp of a GROMACS run of `system`; with box_nm (edges in nm), PME as clmd sets it up for
    that box: the same order (5), grid and Ewald splitting (ewald-rtol = erfc(alpha rc))."""
    md = system.md
    if box_nm:
        alpha, grid = clmd_pme_params(system.cutoff, system.ewald_tolerance, box_nm)
        pme = ["fourier-nx = %d" % grid[0], "fourier-ny = %d" % grid[1], "fourier-nz = %d" % grid[2],
               "pme-order = 5", "ewald-rtol = %.6g" % math.erfc(alpha * system.cutoff)]
    else:
        pme = ["fourierspacing = 0.12", "pme-order = 4"]
    return "\n".join([
        "; generated by bench/run: %s" % system.label,
        "integrator = sd", "dt = %g" % md.dt, "nsteps = %d" % nsteps,
        "cutoff-scheme = Verlet", "nstlist = 10", "pbc = xyz",
        "coulombtype = PME", "rcoulomb = %g" % system.cutoff, "vdwtype = Cut-off", "rvdw = %g" % system.cutoff,
        "DispCorr = EnerPres"] + pme + [
        "tc-grps = System", "tau-t = %g" % (1.0 / md.friction), "ref-t = %g" % md.temperature,
        "gen-vel = yes", "gen-temp = %g" % md.temperature, "gen-seed = %d" % md.seed,
        "constraints = h-bonds",
        "nstxout = 0", "nstvout = 0", "nstfout = 0", "nstlog = 0", "nstenergy = 0", "nstcalcenergy = 100",
        "comm-mode = Linear", "nstcomm = %d" % md.com_interval, ""])


PERF_RE = re.compile(r"^Performance:\s+([0-9.]+)\s+([0-9.]+)", re.M)


def parse_gromacs_perf(text, dt_ps):
    """Steps/s from an mdrun log's Performance line (ns/day over the timed part of the run)."""
    m = PERF_RE.search(text)
    if not m:
        return None
    ns_per_day = float(m.group(1))
    return ns_per_day * 1000.0 / 86400.0 / dt_ps


def parse_gromacs_cycles(text, steps):
    """ms per step of each row of an mdrun log's cycle accounting ("R E A L   C Y C L E   A N D
    T I M E   A C C O U N T I N G": the counted part of the run, `steps` steps with -resethway),
    e.g. {"Force": 1.9, "PME mesh": 0.35, "PME spread": 0.2, ...}; {} when the log has none."""
    i = text.find("R E A L   C Y C L E")
    if i < 0 or steps <= 0:
        return {}
    out = {}
    for line in text[i:].splitlines()[1:]:
        if line.startswith(" Total") or "Core t (s)" in line:
            if line.startswith(" Total"):
                continue
            break
        m = re.match(r"^ (\S.*?)\s{2,}(?:\d+\s+\d+\s+\d+\s+)?([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)\s*$", line)
        if m:
            out[m.group(1).strip()] = float(m.group(2)) * 1000.0 / steps
    return out


class GromacsSession:
    def __init__(self, peer, bench, workdir, steps, timeout):
        self.peer, self.steps, self.timeout, self.workdir = peer, steps, timeout, workdir
        self.dt = bench.system.md.dt
        os.makedirs(workdir, exist_ok=True)
        gro, nmol = pdb_to_gro(bench.system.pdb_path(), bench.system.model)
        box = [float(x) for x in gro.rstrip("\n").splitlines()[-1].split()[:3]]
        ff = "amber99sb-ildn.ff"
        files = {"conf.gro": gro,
                 "topol.top": '#include "%s/forcefield.itp"\n#include "%s/%s.itp"\n[ system ]\n%s\n[ molecules ]\nSOL %d\n'
                              % (ff, ff, bench.system.model, bench.system.label, nmol),
                 # twice the steps: mdrun -resethway times the second half only
                 "md.mdp": gromacs_mdp(bench.system, 2 * steps, box)}
        for name, text in files.items():
            with open(os.path.join(workdir, name), "w") as f:
                f.write(text)
        self._gmx(["grompp", "-f", "md.mdp", "-c", "conf.gro", "-p", "topol.top", "-o", "topol.tpr"], "grompp.log")
        self.count = 0
        self.phases = {}

    def _gmx(self, args, logname):
        log = os.path.join(self.workdir, logname)
        try:
            with open(log, "w") as f:
                p = subprocess.run([self.peer.exe, "-quiet"] + args, stdout=f, stderr=subprocess.STDOUT,
                                   timeout=self.timeout, cwd=self.workdir, env=dict(os.environ, GMX_MAXBACKUP="-1"))
        except subprocess.TimeoutExpired:
            raise Blocked("gmx %s timed out after %g s" % (args[0], self.timeout))
        except OSError as e:
            raise Blocked("cannot start gmx: %s" % e)
        if p.returncode != 0:
            raise Blocked("gmx %s exited %d: %s" % (args[0], p.returncode, _tail_file(log)))

    def sample(self):
        self.count += 1
        name = "md%d" % self.count
        self._gmx(["mdrun", "-s", "topol.tpr", "-deffnm", name, "-ntmpi", "1", "-ntomp", str(self.peer.threads),
                   "-nsteps", str(2 * self.steps), "-resethway", "-notunepme", "-noconfout", "-nb", "cpu"],
                  name + ".out")
        try:
            with open(os.path.join(self.workdir, name + ".log"), errors="replace") as f:
                text = f.read()
            v = parse_gromacs_perf(text, self.dt)
            # the phases of the last sample (the harness stores them with the row's facts)
            self.phases = parse_gromacs_cycles(text, self.steps)
        except OSError as e:
            raise Blocked("cannot read the mdrun log: %s" % e)
        if not v:
            raise Blocked("no Performance line in %s.log" % name)
        return v

    def close(self):
        pass


class Gromacs:
    kinds = ("pdb_water",)
    engine = "gromacs"

    def __init__(self, threads=None):
        self.threads = threads or default_threads()
        self.exe = os.environ.get("CLMD_BENCH_GMX", "gmx")
        self.version = None

    def describe(self):
        return "GROMACS mdrun, sd integrator, -ntmpi 1 -ntomp %d, -resethway" % self.threads

    def prepare(self, bench, workdir, steps, timeout):
        if bench.system.kind not in self.kinds or bench.system.model not in GMX_NAMES:
            raise Blocked("no GROMACS input for system kind %s" % bench.system.kind)
        if not shutil.which(self.exe):
            raise Blocked("GROMACS (%s) not installed (apt-get install gromacs)" % self.exe)
        return GromacsSession(self, bench, workdir, steps, timeout)

    def get_version(self):
        if not self.version and shutil.which(self.exe):
            self.version = _version_line([self.exe, "--version"], r"^\s*GROMACS version:\s*(.+)$")
        return self.version
