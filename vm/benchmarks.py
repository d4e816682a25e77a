"""`vm bench`: hw, para, os, C and plain Python on the same programs, measured side by side in one run.

Every figure is a ratio of measurements taken in the same run (the machines are shared and noisy):
each timing is repeated after a warm-up, the spread (min..max) is kept, and ratios compare the best
of each (another process's work only ever adds time). The para, os and C runs of a program come one
after the other, in rounds over all the programs: they see the machine in the same state, and each
program's samples are spread over the whole measurement.
The programs live in bench/programs/ of the source tree: NAME.asm, NAME.c and NAME.py print the same
output for the same size N (the `.equ N, ...` line of the assembly).
A last section runs the RISC-V executables of guest_programs/riscv64 in hw, beside qemu-riscv64 and
hw on their vm64 twins (also on its own: bench/riscv64.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image
from vm.run import load_program, run_image
from vm.run_linux import LinuxRun, run_executable

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "bench" / "programs"
GUEST_PROGRAMS = ROOT / "guest_programs"
_RUN_CLOCK = re.compile(rb"^run_clock_ns (\d+)$", re.MULTILINE)  # what run_clock.c writes to stderr
_EQU_N = re.compile(r"^(\s*\.equ\s+N\s*,\s*)(.+?)(\s*(;.*)?)$", re.MULTILINE)


@dataclass(frozen=True)
class Sizes:
    """N for the native runs (para, os, C) and for the slow ones (hw, Python); --quick uses the second pair."""

    native: int
    slow: int
    quick_native: int
    quick_slow: int


# The compute programs are the ones the targets (para/C, os/C, para/hw) speak of.
SIZES: dict[str, Sizes] = {
    "intloop": Sizes(20_000_000, 1_000_000, 2_000_000, 200_000),
    "fib": Sizes(30, 20, 25, 16),
    "ackermann": Sizes(9, 6, 8, 5),
    "binary_trees": Sizes(13, 8, 11, 6),  # 13: the largest whose trees fit 1 MiB of guest memory
    "sieve": Sizes(1_000_000, 100_000, 200_000, 20_000),  # the largest sizes that fit 1 MiB of guest memory
    "quicksort": Sizes(100_000, 10_000, 20_000, 2_000),
    "matmul": Sizes(120, 24, 50, 12),
    "nbody": Sizes(200_000, 2_000, 20_000, 500),
    "spectralnorm": Sizes(300, 40, 100, 20),
    "fannkuch": Sizes(9, 7, 8, 6),
    "mandelbrot": Sizes(200, 40, 80, 20),
    "crc32": Sizes(1_000_000, 50_000, 200_000, 10_000),
    "sha256": Sizes(2_000_000, 100_000, 200_000, 10_000),  # the message is made block by block: any N fits
    "output_out": Sizes(20_000, 2_000, 2_000, 500),
    "output_write": Sizes(20_000, 2_000, 2_000, 500),
}
NATIVE_ENGINES = ("para", "os")  # the engines that run the guest as native code, measured at the native size
HW_ROUNDS = 5  # hw runs in this many of the rounds, spread over them: a run of it takes up to seconds
COMPUTE = ("fib", "ackermann", "binary_trees", "sieve", "quicksort", "matmul", "nbody", "spectralnorm", "fannkuch",
           "mandelbrot", "crc32", "sha256")


@dataclass
class Timing:
    median: float
    low: float
    high: float
    runs: int = 1

    @classmethod
    def of(cls, samples: list[float]) -> Timing:
        return cls(statistics.median(samples), min(samples), max(samples), len(samples))


@dataclass
class ProgramResult:
    name: str
    retired: int
    hw_retired: int
    native_n: int
    slow_n: int
    hw: Timing
    native: dict[str, Timing]  # by engine, NATIVE_ENGINES
    c: Timing | None
    python: Timing | None
    compile_seconds: dict[str, float]  # by engine: its first run's translation and compilation (or cache load)
    outputs_agree: bool
    notes: list[str] = field(default_factory=list)

    @property
    def hw_ips(self) -> float:
        return self.hw_retired / self.hw.low

    def ips(self, engine: str) -> float:
        return self.retired / self.native[engine].low

    def speedup_over_hw(self, engine: str) -> float:
        return self.ips(engine) / self.hw_ips

    def time_over_c(self, engine: str) -> float | None:
        return self.native[engine].low / self.c.low if self.c else None


def with_size(source: str, n: int) -> str:
    if not _EQU_N.search(source):
        raise ValueError("the program has no `.equ N, ...` line")
    return _EQU_N.sub(lambda m: f"{m.group(1)}{n}{m.group(3)}", source, count=1)


class Progress:
    """A one-line progress bar on stderr (only where stderr is a terminal, else one line per step)."""

    def __init__(self, total: int) -> None:
        self.total, self.done, self.tty = total, 0, sys.stderr.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        width = 30
        filled = int(width * self.done / self.total)
        text = f"[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} {label}"
        if self.tty:
            print(f"\r{text:<90}", end="", file=sys.stderr, flush=True)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _time(run, repeat: int) -> tuple[Timing, object]:
    """Median of `repeat` timed calls after one warm-up call; returns the last call's value too."""
    value = run()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        value = run()
        samples.append(time.perf_counter() - start)
    return Timing.of(samples), value


def _guest(image: Image, mode: str, isa: InstructionSet):
    result = run_image(image, mode, isa=isa, capture=True)
    if result.outcome.trap is not None:
        raise RuntimeError(f"{image.source}: trap {result.outcome.trap.name} in {mode}")
    return result


def _run_guest(image: Image, mode: str, isa: InstructionSet, repeat: int):
    """Engine run time only (not process start or compilation), from the engine's own clock."""
    results = [_guest(image, mode, isa) for _ in range(repeat + 1)]
    timings = [r.stats["run_seconds"] for r in results[1:]]
    return Timing.of(timings), results[0]


def _run_c(argv: list[str]) -> tuple[float, bytes]:
    """Run a C twin built by `build_c`: (its run time from its run clock, its standard output)."""
    done = subprocess.run(argv, check=True, capture_output=True)
    found = _RUN_CLOCK.search(done.stderr)
    if found is None:
        raise RuntimeError(f"{argv[0]} did not report its run time on standard error")
    return int(found.group(1)) / 1e9, done.stdout


def build_c(name: str, workdir: Path) -> Path | None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    exe = workdir / name
    sources = [str(PROGRAMS / f"{name}.c"), str(PROGRAMS / "run_clock.c")]
    subprocess.run([cc, "-O2", "-o", str(exe), *sources, "-lm"], check=True, capture_output=True)
    return exe


def _run_process(argv: list[str], repeat: int, startup: float = 0.0) -> tuple[Timing, bytes]:
    """Wall time of a process, less `startup` (the time to start and end an empty process)."""
    def once() -> bytes:
        return subprocess.run(argv, check=True, capture_output=True).stdout
    timing, out = _time(once, repeat)
    return Timing(*(max(t - startup, 1e-9) for t in (timing.median, timing.low, timing.high))), out


def python_startup(repeat: int = 9) -> float:
    """What starting and ending a Python process costs, to take out of the Python timings: the
    engines' run times do not include their own process start either (C's run clock leaves it out)."""
    return _time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)[0].median


@dataclass
class _Subject:
    """A program made ready for the rounds of para, os and C runs, and their samples."""

    name: str
    native_n: int
    slow_n: int
    native_image: Image
    slow_image: Image
    c_argv: list[str] | None
    compile_seconds: dict[str, float]
    results: dict[str, object]  # each native engine's latest run
    c_out: bytes | None
    samples: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in NATIVE_ENGINES})
    c_samples: list[float] = field(default_factory=list)
    hw_result: object = None  # hw's latest run, at the slow size
    hw_samples: list[float] = field(default_factory=list)


def prepare(name: str, isa: InstructionSet, quick: bool, workdir: Path) -> _Subject:
    """Assemble the program at both sizes, compile it for para and os (timed: their first runs) and
    build its C twin; then one run of each, and of hw, as a warm-up."""
    sizes = SIZES[name]
    native_n, slow_n = (sizes.quick_native, sizes.quick_slow) if quick else (sizes.native, sizes.slow)
    source = (PROGRAMS / f"{name}.asm").read_text()
    native_image = assemble(with_size(source, native_n), f"{name}.asm", isa)
    compile_seconds = {e: _guest(native_image, e, isa).stats["compile_seconds"] for e in NATIVE_ENGINES}
    exe = build_c(name, workdir)
    c_argv = [str(exe), str(native_n)] if exe else None
    slow_image = assemble(with_size(source, slow_n), f"{name}.asm", isa)
    return _Subject(name, native_n, slow_n, native_image, slow_image, c_argv, compile_seconds,
                    {e: _guest(native_image, e, isa) for e in NATIVE_ENGINES}, _run_c(c_argv)[1] if c_argv else None,
                    hw_result=_guest(slow_image, "hw", isa))


def native_rounds(subjects: list[_Subject], isa: InstructionSet, rounds: int, progress: Progress) -> None:
    """Each round runs every program once in para, once in os and once in C, one after the other (and
    in HW_ROUNDS of them, spread evenly, once in hw at the slow size): a program's samples are spread
    over the whole measurement, so that a slow spell of the shared machine (they last seconds to tens
    of seconds here) does not decide its ratios."""
    hw_every = max(1, rounds // HW_ROUNDS)
    for k in range(rounds):
        for subject in subjects:
            if k % hw_every == 0 and len(subject.hw_samples) < HW_ROUNDS:
                subject.hw_result = _guest(subject.slow_image, "hw", isa)
                subject.hw_samples.append(subject.hw_result.stats["run_seconds"])
            for engine in NATIVE_ENGINES:
                subject.results[engine] = _guest(subject.native_image, engine, isa)
                subject.samples[engine].append(subject.results[engine].stats["run_seconds"])
            if subject.c_argv:
                seconds, subject.c_out = _run_c(subject.c_argv)
                subject.c_samples.append(seconds)
        progress.step(f"hw, para, os and C, round {k + 1} of {rounds}")


def finish(subject: _Subject, isa: InstructionSet, python_start: float, progress: Progress) -> ProgramResult:
    """Python at the small size, and the program's figures."""
    name, para_result = subject.name, subject.results["para"]
    notes = [] if subject.c_argv else ["no C compiler: C not measured"]
    agree = subject.results["os"].output.stdout == para_result.output.stdout
    agree &= subject.c_out is None or subject.c_out == para_result.output.stdout
    hw, hw_result = Timing.of(subject.hw_samples), subject.hw_result
    python, py_out = _run_process([sys.executable, str(PROGRAMS / f"{name}.py"), str(subject.slow_n)], 1,
                                  python_start)
    agree &= py_out == hw_result.output.stdout
    progress.step(f"{name}: Python")
    if not agree:
        notes.append("OUTPUTS DIFFER between the twins")
    c = Timing.of(subject.c_samples) if subject.c_samples else None
    native = {e: Timing.of(samples) for e, samples in subject.samples.items()}
    return ProgramResult(name, para_result.outcome.retired, hw_result.outcome.retired, subject.native_n,
                         subject.slow_n, hw, native, c, python, subject.compile_seconds, agree, notes)


# -- the compatibility matrix -------------------------------------------------------------------------
COMPATIBILITY_MODES = ("hw", "para", "os", "auto")


def compatibility(isa: InstructionSet) -> list[dict]:
    """What each mode makes of every program: runs and agrees with hw, refuses (and why), or differs."""
    rows = []
    paths = sorted(GUEST_PROGRAMS.glob("*.asm")) + sorted(PROGRAMS.glob("*.asm"))
    for path in paths:
        image = load_program(path, isa)
        if path.parent == PROGRAMS:
            image = assemble(with_size(path.read_text(), SIZES[path.stem].quick_slow), str(path), isa)
        stdin = path.with_suffix(".in").read_bytes() if path.with_suffix(".in").exists() else b""
        runs = {m: run_image(image, m, isa=isa, stdin=stdin, capture=True) for m in COMPATIBILITY_MODES}
        reference = (runs["hw"].state(), runs["hw"].output.stdout)
        row = {"program": f"{path.parent.name}/{path.name}"}
        for mode in COMPATIBILITY_MODES:
            r = runs[mode]
            if (r.state(), r.output.stdout) == reference:
                row[mode] = "runs, agrees"
            elif r.outcome.trap is not None and r.outcome.trap.name == "UNSUPPORTED":
                row[mode] = "refused: " + r.outcome.detail.split(";")[0].removeprefix(f"{mode} cannot run ")
            else:
                row[mode] = "DIFFERENT"
        rows.append(row)
    return rows


def compatibility_table(matrix: list[dict]) -> str:
    """A line a program, a column a mode; the reasons for the refusals below."""
    width = max(len(row["program"]) for row in matrix)
    lines = ["compatibility (every program in every mode; agrees: same output and final state as hw):",
             (f"  {'':<{width}}" + "".join(f"  {mode:<9}" for mode in COMPATIBILITY_MODES)).rstrip()]
    reasons = []
    for row in matrix:
        cells = [row[mode].split(":")[0].removeprefix("runs, ") for mode in COMPATIBILITY_MODES]
        lines.append((f"  {row['program']:<{width}}" + "".join(f"  {cell:<9}" for cell in cells)).rstrip())
        reasons += [f"  {mode} refuses {row['program']}: {row[mode].removeprefix('refused: ')}"
                    for mode in COMPATIBILITY_MODES if row[mode].startswith("refused")]
    return "\n".join(lines + reasons)


# -- the cost of leaving native code ---------------------------------------------------------------
EXIT_COST = {
    "plain instruction": "nop",
    "out (para: batched VM exits)": "out 0, r2",  # para records it, the monitor performs a batch; os writes
    "hypercall (CLOCK)": "hcall 5",
}


def exit_costs(isa: InstructionSet, quick: bool) -> dict[str, dict[str, float]]:
    """Nanoseconds per instruction of each kind: a loop with it, minus the same loop without it."""
    native = 20_000 if quick else 200_000
    n = {"hw": 20_000 if quick else 100_000, "para": native, "os": native}
    costs: dict[str, dict[str, float]] = {}
    for mode in n:
        base = _per_iteration("", mode, n[mode], isa)
        costs[mode] = {label: max(_per_iteration(body, mode, n[mode], isa) - base, 0.0)
                       for label, body in EXIT_COST.items()}
    return costs


TIGHT_LOOP = """main:   li r1, {n}
        li r2, 0
        li r3, 12345
loop:   add r2, r2, r1
        xor r2, r2, r3
        addi r1, r1, -1
        bnez r1, loop
        halt
"""


def hw_tight_loop(isa: InstructionSet, quick: bool) -> Timing:
    """hw's guest instructions per second on the tight loop of the hw target (add, xor, addi, bnez)."""
    n = 250_000 if quick else 1_000_000
    image = assemble(TIGHT_LOOP.format(n=n), "tightloop.asm", isa)
    timing, result = _run_guest(image, "hw", isa, 3)
    retired = result.outcome.retired
    return Timing(retired / timing.median, retired / timing.high, retired / timing.low)


def _per_iteration(body: str, mode: str, n: int, isa: InstructionSet) -> float:
    image = assemble(f"main: li r1, {n}\n li r2, 46\nloop: {body}\n subi r1, r1, 1\n bnez r1, loop\n halt\n",
                     "exitcost.asm", isa)
    timing, _ = _run_guest(image, mode, isa, 5)
    return timing.low / n * 1e9  # the best run, as elsewhere: medians of a few made differences of noise


# -- what a run costs before the guest starts ------------------------------------------------------
START_UP_PROGRAM = "sha256"  # the largest benchmark (295 instructions): compile time grows with the program


FIRST_RUNS = 3  # the first run of the start-up program is timed this often, each into an empty cache


def start_up(isa: InstructionSet, workdir: Path, repeat: int) -> dict:
    """Wall time of whole `vm run` processes on the largest benchmark at N=1 (so the guest's own work
    is negligible), medians: hw; para's and os's first runs, which translate and compile into an
    empty cache (Numba's cache of para's own helpers stays warm: they are compiled once per
    installation); and their later runs, which find the compiled code in the cache."""
    from vm.engines.text import decode_text

    source = with_size((PROGRAMS / f"{START_UP_PROGRAM}.asm").read_text(), 1)
    path = workdir / f"{START_UP_PROGRAM}.asm"
    path.write_text(source)

    def vm_run(mode: str, cache: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "vm", "run", str(path), "--mode", mode, "--stats"]
        env = {**os.environ, "VM_CACHE_DIR": str(workdir / cache)}
        return subprocess.run(argv, check=True, capture_output=True, text=True, env=env)

    report = {"program": START_UP_PROGRAM, "instructions": len(decode_text(assemble(source, path.name, isa), isa))}
    for engine in NATIVE_ENGINES:
        walls, compiles = [], []
        for k in range(FIRST_RUNS):
            started = time.perf_counter()
            first = vm_run(engine, f"start-up-cache-{k}")
            walls.append(time.perf_counter() - started)
            compiles.append(float(re.search(r"compile time:\s+([\d.]+)", first.stderr).group(1)))  # --stats
        report[f"{engine}_first_run_seconds"] = statistics.median(walls)
        report[f"{engine}_first_compile_seconds"] = statistics.median(compiles)
    # hw and the cached runs take turns, so that each sees the machine as the others do
    samples: dict[str, list[float]] = {"hw": [], **{e: [] for e in NATIVE_ENGINES}}
    for _ in range(repeat + 1):
        for engine, walls in samples.items():
            started = time.perf_counter()
            vm_run(engine, "start-up-cache-0")
            walls.append(time.perf_counter() - started)
    report["hw_seconds"] = statistics.median(samples.pop("hw")[1:])
    report.update({f"{e}_cached_seconds": statistics.median(walls[1:]) for e, walls in samples.items()})
    return report


# -- RISC-V: another architecture in hw -------------------------------------------------------------
RISCV_PROGRAMS = GUEST_PROGRAMS / "riscv64"
QEMU_RISCV = "qemu-riscv64"
QEMU_SECONDS = 60.0  # a run that takes qemu longer is stuck
QEMU_START = ("hello", 0)  # what a whole qemu process costs with almost no work: glibc's start, no output


@dataclass(frozen=True)
class RiscvBenchmark:
    """A RISC-V program of guest_programs/riscv64 and its vm64 twin of bench/programs, both run at the same
    N; hw takes 1 to 3 s on the full sizes here, and a few tenths of a second on the quick ones."""

    name: str
    twin: str
    full: int
    quick: int


RISCV_BENCHMARKS = (
    RiscvBenchmark("fib", "fib", 27, 19),
    RiscvBenchmark("sieve", "sieve", 400_000, 40_000),
    RiscvBenchmark("sort", "quicksort", 20_000, 2_000),  # merge sort beside vm64's quicksort: both n log n
    RiscvBenchmark("nbody", "nbody", 3_000, 300),
    RiscvBenchmark("sha256", "sha256", 36_864, 2_048),
)


@dataclass
class RiscvResult:
    """One RISC-V program's figures: hw's run (its own clock) and wall time (loading the ELF included),
    qemu's whole process, and hw on the vm64 twin."""

    name: str
    n: int
    retired: int
    hw_run: Timing
    hw_wall: Timing
    qemu: Timing | None
    twin: str
    twin_retired: int
    twin_run: Timing
    output: bytes  # hw's standard output
    outputs_agree: bool | None  # hw's output and exit status against qemu's; None without qemu

    @property
    def hw_ips(self) -> float:
        return self.retired / self.hw_run.low

    @property
    def twin_ips(self) -> float:
        return self.twin_retired / self.twin_run.low

    @property
    def rate_of_vm64(self) -> float:
        """RISC-V hw's instructions per second as a fraction of vm64 hw's on the twin."""
        return self.hw_ips / self.twin_ips

    @property
    def hw_over_qemu(self) -> float | None:
        return self.hw_wall.low / self.qemu.low if self.qemu else None

    def qemu_ips(self, qemu_start: float) -> float | None:
        """The guest instructions per second of qemu's work beyond its own start, where that work is
        a quarter of the start or more (below that it is within the noise of a process start)."""
        if self.qemu is None or self.qemu.low - qemu_start < qemu_start / 4:
            return None
        return self.retired / (self.qemu.low - qemu_start)


@dataclass
class RiscvReport:
    """The RISC-V section: every program's figures and how they were taken."""

    quick: bool
    rounds: int
    qemu: str | None  # qemu-riscv64's version line, None where it is missing
    qemu_start: Timing | None
    results: list[RiscvResult]

    def geomeans(self) -> dict[str, float | None]:
        return {"hw_ips": geomean([r.hw_ips for r in self.results]),
                "rate_of_vm64": geomean([r.rate_of_vm64 for r in self.results]),
                "hw_over_qemu": geomean([r.hw_over_qemu for r in self.results]) if self.qemu else None}


def _qemu_version(qemu: str) -> str:
    done = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=QEMU_SECONDS, check=False)
    return done.stdout.splitlines()[0] if done.stdout else qemu


def _qemu_run(qemu: str, path: Path, n: int) -> tuple[float, bytes, int]:
    """Wall time, standard output and exit status of a whole qemu-riscv64 process."""
    start = time.perf_counter()
    done = subprocess.run([qemu, str(path), str(n)], capture_output=True, timeout=QEMU_SECONDS, check=False)
    return time.perf_counter() - start, done.stdout, done.returncode


def _riscv_hw_run(path: Path, n: int) -> tuple[float, LinuxRun]:
    """The wall time of a run in hw, loading the ELF included, and the run; a trap or a failure status
    is the benchmark's error, not a figure."""
    start = time.perf_counter()
    run = run_executable(path, [str(n)], capture=True)
    wall = time.perf_counter() - start
    if run.outcome.trap is not None or run.outcome.exit != 0:
        raise RuntimeError(f"{path} {n}: hw ended with {run.outcome.trap or run.outcome.exit} {run.outcome.detail}")
    return wall, run


def riscv64(isa: InstructionSet, quick: bool, rounds: int, step: Callable[[str], None] | None = None) -> RiscvReport:
    """Each RISC-V program in hw and under qemu-riscv64, and its vm64 twin in hw, at one N; after a
    warm-up run of each, `rounds` rounds run them all one after the other, and each figure is the best.
    qemu's start is taken beside each program's qemu run, so that it sees the machine as they do."""
    qemu = shutil.which(QEMU_RISCV)
    samples: dict[str, dict[str, list[float]]] = {b.name: {"run": [], "wall": [], "qemu": [], "twin": []}
                                                  for b in RISCV_BENCHMARKS}
    starts: list[float] = []
    sizes = {b.name: b.quick if quick else b.full for b in RISCV_BENCHMARKS}
    twins = {b.name: assemble(with_size((PROGRAMS / f"{b.twin}.asm").read_text(), sizes[b.name]), f"{b.twin}.asm",
                              isa) for b in RISCV_BENCHMARKS}
    last: dict[str, tuple] = {}
    for k in range(rounds + 1):  # round 0 is the warm-up
        for b in RISCV_BENCHMARKS:
            path, n, got = RISCV_PROGRAMS / b.name, sizes[b.name], samples[b.name]
            wall, run = _riscv_hw_run(path, n)
            reference = _qemu_run(qemu, path, n) if qemu else None
            start = _qemu_run(qemu, RISCV_PROGRAMS / QEMU_START[0], QEMU_START[1])[0] if qemu else None
            twin = _guest(twins[b.name], "hw", isa)
            if k:
                got["run"].append(run.stats["run_seconds"])
                got["wall"].append(wall)
                got["twin"].append(twin.stats["run_seconds"])
                if qemu:
                    got["qemu"].append(reference[0])
                    starts.append(start)
            last[b.name] = (run, reference, twin)
        if step:
            step(f"RISC-V, round {k} of {rounds}" if k else "RISC-V, warm-up")
    results = []
    for b in RISCV_BENCHMARKS:
        run, reference, twin = last[b.name]
        got = samples[b.name]
        agree = None if reference is None else (reference[1], reference[2]) == (run.output.stdout, 0)
        results.append(RiscvResult(b.name, sizes[b.name], run.outcome.retired, Timing.of(got["run"]),
                                   Timing.of(got["wall"]), Timing.of(got["qemu"]) if qemu else None, b.twin,
                                   twin.outcome.retired, Timing.of(got["twin"]), run.output.stdout, agree))
    return RiscvReport(quick, rounds, _qemu_version(qemu) if qemu else None,
                       Timing.of(starts) if qemu else None, results)


def riscv64_table(report: RiscvReport) -> str:
    """A line a program: hw's rate and time, qemu's time and hw's time over it, vm64 hw's rate on the
    twin and RISC-V's rate as a share of it; the geometric means below."""
    qemu, start = report.qemu is not None, report.qemu_start.low if report.qemu_start else 0.0
    head = f"{'program':<8} {'N':>8} {'retired':>11} {'hw ips':>11} {'hw s':>6}"
    if qemu:
        head += f" {'qemu s':>7} {'hw/qemu':>8} {'qemu ips':>13}"
    head += f"  {'vm64 twin':<10} {'twin retired':>12} {'vm64 hw ips':>11} {'RISC-V/vm64':>11}"
    lines = ["RISC-V (RV64GC, static glibc executables of guest_programs/riscv64) in hw"
             + (f", beside {report.qemu}" if qemu else "") + ", and vm64's hw on each one's twin at the same N:"]
    if not qemu:
        lines.append(f"{QEMU_RISCV} not found (Debian's qemu-user package): hw alone, its outputs not checked")
    lines += [head, "-" * len(head)]
    for r in report.results:
        line = f"{r.name:<8} {r.n:>8,} {r.retired:>11,} {r.hw_ips:>11,.0f} {r.hw_wall.low:>6.2f}"
        if qemu:
            ips = r.qemu_ips(start)
            line += f" {r.qemu.low:>7.3f} {r.hw_over_qemu:>7,.0f}x {f'{ips:,.0f}' if ips else '-':>13}"
        line += (f"  {r.twin + '.asm':<10} {r.twin_retired:>12,} {r.twin_ips:>11,.0f} {r.rate_of_vm64:>10.0%}"
                 + ("  OUTPUT DIFFERS from qemu's" if r.outputs_agree is False else ""))
        lines.append(line)
    lines.append("-" * len(head))
    means = report.geomeans()
    summary = (f"geometric means: hw {means['hw_ips']:,.0f} RISC-V instructions/s, "
               f"{means['rate_of_vm64']:.0%} of vm64 hw's rate")
    if qemu:
        summary += f"; hw takes {means['hw_over_qemu']:,.0f}x qemu's time"
    lines.append(summary)
    notes = [f"hw s: loading the ELF and running it, in this process; best of {report.rounds} rounds"]
    if qemu:
        notes.append(f"qemu s: a whole process, {start * 1e3:.1f} ms of which is qemu's start (hello, N=0); "
                     "qemu ips counts only the time beyond that start")
    notes.append("no pure-Python emulator column: none on PyPI runs these static glibc executables (README.md)")
    return "\n".join(lines + notes)


def riscv64_json(report: RiscvReport) -> dict:
    start = report.qemu_start.low if report.qemu_start else 0.0

    def program(r: RiscvResult) -> dict:
        return {"name": r.name, "n": r.n, "retired": r.retired, "hw_ips": r.hw_ips, "hw_seconds": r.hw_wall.low,
                "hw_run_seconds": r.hw_run.low, "qemu_seconds": r.qemu.low if r.qemu else None,
                "hw_over_qemu": r.hw_over_qemu, "qemu_ips": r.qemu_ips(start), "twin": r.twin,
                "twin_n": r.n, "twin_retired": r.twin_retired, "twin_hw_ips": r.twin_ips,
                "rate_of_vm64": r.rate_of_vm64, "outputs_agree": r.outputs_agree,
                "timings": {"hw_run": asdict(r.hw_run), "hw_wall": asdict(r.hw_wall),
                            "qemu": asdict(r.qemu) if r.qemu else None, "twin_run": asdict(r.twin_run)}}

    return {"quick": report.quick, "rounds": report.rounds, "qemu": report.qemu,
            "qemu_start_seconds": asdict(report.qemu_start) if report.qemu_start else None,
            "programs": [program(r) for r in report.results], "geomean": report.geomeans()}


# -- reporting ---------------------------------------------------------------------------------------
def geomean(values: list[float]) -> float:
    values = [v for v in values if v and v > 0 and math.isfinite(v)]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def machine_description() -> dict:
    return {"platform": platform.platform(), "python": platform.python_version(), "processor": platform.processor()
            or platform.machine(), "cpus": os.cpu_count()}


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value else "-"


def table(results: list[ProgramResult]) -> str:
    """One line a program: instructions per second in each engine, the speedups over hw, the time
    ratios to C (lower is better) and the compile times of the first runs."""
    head = (f"{'program':<13} {'retired':>12} {'hw ips':>11} {'para ips':>13} {'os ips':>14} {'para/hw':>8} "
            f"{'os/hw':>8} {'para/C':>7} {'os/C':>7} {'compile s para':>14} {'os':>5}")
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(f"{r.name:<13} {r.retired:>12,} {r.hw_ips:>11,.0f} {r.ips('para'):>13,.0f} {r.ips('os'):>14,.0f} "
                     f"{r.speedup_over_hw('para'):>7,.0f}x {r.speedup_over_hw('os'):>7,.0f}x "
                     f"{_ratio(r.time_over_c('para')):>7} {_ratio(r.time_over_c('os')):>7} "
                     f"{r.compile_seconds['para']:>14.2f} {r.compile_seconds['os']:>5.2f}"
                     + ("  " + "; ".join(r.notes) if r.notes else ""))
    lines.append("-" * len(head))
    means = geomeans(results)
    lines.append("geometric mean over the compute programs: "
                 + ", ".join(f"{e}/hw {means[f'{e}_speedup_over_hw']:,.0f}x" for e in NATIVE_ENGINES) + "; "
                 + ", ".join(f"{e}/C {means[f'{e}_time_over_c']:.2f}x" for e in NATIVE_ENGINES) + " (time)")
    return "\n".join(lines)


def geomeans(results: list[ProgramResult]) -> dict[str, float]:
    compute = [r for r in results if r.name in COMPUTE]
    means = {}
    for engine in NATIVE_ENGINES:
        means[f"{engine}_speedup_over_hw"] = geomean([r.speedup_over_hw(engine) for r in compute])
        means[f"{engine}_time_over_c"] = geomean([r.time_over_c(engine) for r in compute])
    return means


def report_json(results: list[ProgramResult], matrix: list[dict], costs: dict) -> dict:
    def program(r: ProgramResult) -> dict:
        figures = {"name": r.name, "retired": r.retired, "hw_ips": r.hw_ips, "native_n": r.native_n,
                   "slow_n": r.slow_n, "outputs_agree": r.outputs_agree}
        for e in NATIVE_ENGINES:
            figures.update({f"{e}_ips": r.ips(e), f"{e}_speedup_over_hw": r.speedup_over_hw(e),
                            f"{e}_time_over_c": r.time_over_c(e), f"{e}_compile_seconds": r.compile_seconds[e]})
        timings = {"hw": r.hw, **r.native, "c": r.c, "python": r.python}
        figures["timings"] = {k: asdict(t) if t else None for k, t in timings.items()}
        return figures

    return {
        "machine": machine_description(),
        "programs": [program(r) for r in results],
        "geomean": geomeans(results),
        "compatibility": matrix,
        "exit_cost_ns": costs,
    }


def plot(results: list[ProgramResult], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.name for r in results]
    places = range(len(names))
    width = 0.8 / len(NATIVE_ENGINES)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for k, engine in enumerate(NATIVE_ENGINES):
        shifted = [x + (k - (len(NATIVE_ENGINES) - 1) / 2) * width for x in places]
        left.bar(shifted, [r.speedup_over_hw(engine) for r in results], width, label=engine)
        right.bar(shifted, [r.time_over_c(engine) or 0 for r in results], width, label=engine)
    left.set_yscale("log")
    left.set_title("speedup over hw (higher is better)")
    right.axhline(1.0, color="black", linewidth=0.8)
    right.set_title("time / C time (lower is better)")
    for ax in (left, right):
        ax.set_xticks(list(places), names, rotation=45)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(args: argparse.Namespace, isa: InstructionSet) -> int:
    if not PROGRAMS.is_dir():
        print(f"vm: bench needs the source tree's bench/programs/ ({PROGRAMS} is missing)", file=sys.stderr)
        return 2
    for path in (args.json, args.plot):  # find out now, not after minutes of measuring
        if path:
            try:
                Path(path).touch()
            except OSError as e:
                print(f"vm: cannot write {path}: {e.strerror or e}", file=sys.stderr)
                return 2
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print("vm: --plot needs matplotlib: pip install -e '.[plot]'", file=sys.stderr)
            return 2
    names = [n for n in SIZES if (PROGRAMS / f"{n}.asm").exists()]
    rounds = 5 if args.quick else 15  # cheap: the runs take a second or two a round
    riscv_rounds = 2 if args.quick else 3  # at the quick sizes either way: a few seconds in all
    progress = Progress(2 * len(names) + rounds + 3 + riscv_rounds + 1)
    with tempfile.TemporaryDirectory() as tmp:
        python_start = python_startup()
        subjects = []
        for name in names:
            subjects.append(prepare(name, isa, args.quick, Path(tmp)))
            progress.step(f"{name}: compiled")
        native_rounds(subjects, isa, rounds, progress)
        results = [finish(subject, isa, python_start, progress) for subject in subjects]
    matrix = compatibility(isa)
    progress.step("compatibility")
    costs = exit_costs(isa, args.quick)
    tight = hw_tight_loop(isa, args.quick)
    progress.step("exit costs")
    with tempfile.TemporaryDirectory() as tmp:
        launch = start_up(isa, Path(tmp), 3 if args.quick else 5)
    progress.step("start-up")
    riscv = riscv64(isa, True, riscv_rounds, progress.step)
    progress.close()
    print(table(results))
    print()
    print(f"hw on the tight loop (add, xor, addi, bnez): {tight.median:,.0f} guest instructions/s "
          f"(spread {tight.low:,.0f}..{tight.high:,.0f})")
    print()
    print("cost of one instruction, in nanoseconds (loop with it minus loop without it):")
    for label in EXIT_COST:
        print(f"  {label:<28} " + "   ".join(f"{mode} {costs[mode][label]:>9,.1f}" for mode in costs))
    print()
    print(f"start-up, whole `vm run` processes ({launch['program']}, {launch['instructions']} instructions, N=1), "
          f"medians: hw {launch['hw_seconds'] * 1e3:.0f} ms")
    for engine in NATIVE_ENGINES:
        extra = launch[f"{engine}_cached_seconds"] - launch["hw_seconds"]
        print(f"  {engine:<4} first run {launch[f'{engine}_first_run_seconds'] * 1e3:.0f} ms (translate and compile "
              f"{launch[f'{engine}_first_compile_seconds'] * 1e3:.0f} ms); with its code cached "
              f"{launch[f'{engine}_cached_seconds'] * 1e3:.0f} ms ({extra * 1e3:+.0f} ms over hw)")
    print()
    print(riscv64_table(riscv))
    print()
    print(compatibility_table(matrix))
    print()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine_description().items()))
    print(f"C times are the C twin's own clock around main (bench/programs/run_clock.c); Python times exclude "
          f"process start ({python_start * 1e3:.1f} ms, measured in this run); hw, para and os times exclude "
          "compilation and process start (os: the guest process's own clock, as C's).")
    print(f"Ratios compare the best of {rounds} runs of para, os and C and of {min(rounds, HW_ROUNDS)} of hw, in "
          f"{rounds} rounds over all the programs (one after the other).")
    if args.json:
        report = report_json(results, matrix, costs)
        report["hw_tight_loop_ips"] = asdict(tight)
        report["python_start_seconds"] = python_start
        report["start_up"] = launch
        report["riscv64"] = riscv64_json(riscv)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        plot(results, args.plot)
    agree = all(r.outputs_agree for r in results) and all(r.outputs_agree is not False for r in riscv.results)
    return 0 if agree else 1
