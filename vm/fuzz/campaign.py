"""A fuzzing campaign: batches of seeds run where Dask puts them (a local cluster, or a scheduler's
workers), each disagreement shrunk on the worker that found it, and everything counted once.

A batch is a task: if its worker dies, Dask runs it again elsewhere, and the campaign counts a batch
when its result arrives, so no program is lost or counted twice.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vm.arch.vm64 import InstructionSet, core_isa
from vm.fuzz.check import check
from vm.fuzz.generate import FUZZ_MEMORY, Generator
from vm.fuzz.shrink import Shrinker


class FuzzError(Exception):
    """A campaign that cannot go on (no Dask, no scheduler, its workers lost): said in one line."""


@dataclass(frozen=True)
class Plan:
    """What to fuzz: the architecture, the extensions, the engines, the programs' size and the seeds.

    For riscv64 the engines are hw and qemu-riscv64, there are no extensions, and the size is the
    number of random items."""

    arch: str = "vm64"
    ext_files: tuple[str, ...] = ()
    engines: tuple[str, ...] = ("hw", "para", "os")
    size: int = 40
    first_seed: int = 0
    batch: int = 8
    shrink_tests: int = 400


@functools.lru_cache(maxsize=8)
def _isa(ext_files: tuple[str, ...]) -> InstructionSet:
    from vm.extensions import load_extensions

    return load_extensions(core_isa(), list(ext_files))


def run_batch(plan: Plan, seeds: list[int]) -> dict:
    """Run one batch of seeds (on a worker): every program's verdict, and each disagreement shrunk.
    The architecture decides the work; the batching, counting and saving around it are shared."""
    if plan.arch == "riscv64":
        from vm.fuzz import riscv64

        return riscv64.run_batch(seeds, plan.size, plan.shrink_tests)
    return _run_vm64_batch(plan, seeds)


def _run_vm64_batch(plan: Plan, seeds: list[int]) -> dict:
    isa = _isa(plan.ext_files)
    generator = Generator(isa, plan.size)
    records, findings = [], []
    for seed in seeds:
        program = generator.program(seed)
        verdict = check(program, isa, plan.engines)
        records.append({"seed": seed, "agrees": verdict.agrees, "seconds": verdict.seconds,
                        "compile_seconds": verdict.compile_seconds, "refusals": verdict.refusals})
        for engine, differences in verdict.differences.items():
            shrinker = Shrinker(isa, engine, max_tests=plan.shrink_tests)
            small = shrinker.shrink(program)
            again = check(small, isa, ("hw", engine))
            findings.append({"seed": seed, "engine": engine, "differences": differences,
                             "answers": {e: verdict.answers[e] for e in ("hw", engine) if e in verdict.answers},
                             "shrunk": {"source": small.source(), "stdin": small.stdin.hex(), "fuel": small.fuel,
                                        "instructions": small.size(), "from_instructions": program.size(),
                                        "tests": shrinker.tests, "differences": again.differences.get(engine, []),
                                        "answers": {e: again.answers[e] for e in ("hw", engine)
                                                    if e in again.answers}}})
    return {"seeds": seeds, "records": records, "findings": findings, "worker": os.getpid()}


@dataclass
class Summary:
    """Everything a campaign saw, as `--json` writes it."""

    plan: dict
    programs: int = 0
    agreed: int = 0
    seeds: list[int] = field(default_factory=list)
    refusals: int = 0
    findings: list[dict] = field(default_factory=list)
    engine_seconds: dict[str, float] = field(default_factory=dict)
    compile_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0  # from the first program started to the last result, the cluster's start not counted
    startup_seconds: float = 0.0  # starting or reaching the cluster and its workers
    workers: int = 0  # that ran its programs (a scheduler's workers may come and go during a campaign)
    programs_by_worker: dict[str, int] = field(default_factory=dict)  # worker process id -> programs it ran

    def add(self, result: dict) -> None:
        worker = str(result["worker"])
        self.programs_by_worker[worker] = self.programs_by_worker.get(worker, 0) + len(result["records"])
        for record in result["records"]:
            self.programs += 1
            self.seeds.append(record["seed"])
            self.agreed += record["agrees"]
            self.refusals += bool(record["refusals"])
            for engine, seconds in record["seconds"].items():
                self.engine_seconds[engine] = self.engine_seconds.get(engine, 0.0) + seconds
                self.compile_seconds[engine] = self.compile_seconds.get(engine, 0.0) + record["compile_seconds"][engine]
        self.findings += result["findings"]

    def text(self) -> str:
        rate = self.programs / self.wall_seconds if self.wall_seconds else 0.0
        started = f", {self.startup_seconds:.1f} s to start them" if self.startup_seconds else ""
        lines = [f"{self.programs:,} programs in {self.wall_seconds:.1f} s ({rate:,.1f} programs/s, "
                 f"{self.workers} worker{'s' if self.workers != 1 else ''}{started}): {self.agreed:,} agreed, "
                 f"{len(self.findings)} disagreement{'s' if len(self.findings) != 1 else ''}, "
                 f"{self.refusals:,} refused by an engine for a reason the ISA gives"]
        for engine, seconds in self.engine_seconds.items():
            compiling = self.compile_seconds.get(engine, 0.0)
            share = f", {compiling:.1f} s of it compiling ({100 * compiling / seconds:.0f}%)" if compiling else ""
            lines.append(f"  {engine}: {seconds:.1f} s{share}")
        return "\n".join(lines)


def reproduce_command(finding: dict, plan: Plan, asm: Path, stdin: Path) -> str:
    """The one line that shows the shrunk disagreement again."""
    ext = "".join(f" --ext {f}" for f in plan.ext_files)
    return f"vm compare {asm} --mem {FUZZ_MEMORY} --fuel {finding['shrunk']['fuel']} --stdin {stdin}{ext}"


def save_finding(finding: dict, plan: Plan, out_dir: Path) -> Path:
    """The shrunk program, its input and a JSON record (seed, both answers, the command) in out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"seed-{finding['seed']}-{finding['engine']}"
    if plan.arch == "riscv64":
        return _save_riscv64_finding(finding, plan, stem)
    asm, stdin = stem.with_suffix(".asm"), stem.with_suffix(".in")
    asm.write_text(finding["shrunk"]["source"])
    stdin.write_bytes(bytes.fromhex(finding["shrunk"]["stdin"]))
    ext = "".join(f" --ext {f}" for f in plan.ext_files)
    finding["command"] = reproduce_command(finding, plan, asm, stdin)
    finding["original_command"] = (f"vm fuzz --workers 0 --seed {finding['seed']} --count 1 --size {plan.size} "
                                   f"--engines hw,{finding['engine']}{ext}")
    finding["files"] = [str(asm), str(stdin)]
    record = stem.with_suffix(".json")
    record.write_text(json.dumps(finding, indent=2) + "\n")
    return record


def _save_riscv64_finding(finding: dict, plan: Plan, stem: Path) -> Path:
    """The shrunk source (.S), its executable, and the JSON record; `vm compare` on the executable runs
    it in hw and under qemu-riscv64 again."""
    executable = stem
    stem.with_suffix(".S").write_text(finding["shrunk"]["source"])
    executable.write_bytes(bytes.fromhex(finding["shrunk"].pop("executable")))
    executable.chmod(0o755)
    finding["command"] = f"vm compare {executable} --fuel {finding['shrunk']['fuel']}"
    finding["original_command"] = (f"vm fuzz --arch riscv64 --workers 0 --seed {finding['seed']} --count 1 "
                                   f"--size {plan.size}")
    finding["files"] = [str(stem.with_suffix(".S")), str(executable)]
    record = stem.with_suffix(".json")
    record.write_text(json.dumps(finding, indent=2) + "\n")
    return record


def _batches(plan: Plan, count: int | None) -> Iterator[list[int]]:
    seed = plan.first_seed
    while count is None or seed < plan.first_seed + count:
        end = seed + plan.batch if count is None else min(seed + plan.batch, plan.first_seed + count)
        yield list(range(seed, end))
        seed = end


def run_campaign(plan: Plan, *, count: int | None, seconds: float | None, workers: int, scheduler: str | None,
                 out_dir: Path, progress: bool = True) -> Summary:
    """Run batches until `count` programs have run or `seconds` have passed (whichever is given first)."""
    summary = Summary(asdict(plan))
    bar = _Progress(progress, count)
    try:
        if workers == 0 and scheduler is None:
            summary.workers = 1
            start = time.monotonic()
            deadline = None if seconds is None else start + seconds
            for seeds in _batches(plan, count):
                if deadline is not None and time.monotonic() > deadline:
                    break
                _collect(summary, run_batch(plan, seeds), plan, out_dir, bar)
            summary.wall_seconds = time.monotonic() - start
        else:
            _run_on_dask(plan, summary, count, seconds, workers, scheduler, out_dir, bar)
    finally:
        bar.stop()
    return summary


def _collect(summary: Summary, result: dict, plan: Plan, out_dir: Path, bar: _Progress) -> None:
    summary.add(result)
    for finding in result["findings"]:
        save_finding(finding, plan, out_dir)
    bar.update(summary)


def _run_on_dask(plan: Plan, summary: Summary, count: int | None, seconds: float | None, workers: int,
                 scheduler: str | None, out_dir: Path, bar: _Progress) -> None:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise FuzzError("vm fuzz runs on Dask: pip install dask distributed (the fuzz extra), or use --workers 0 "
                        "to run in this process") from None
    cluster = None
    begun = time.monotonic()
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
                                   host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
    except (OSError, TimeoutError, ValueError) as e:
        raise FuzzError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {e}") from None
    try:
        summary.workers = len(client.scheduler_info(n_workers=-1)["workers"]) or 1
        start = time.monotonic()
        summary.startup_seconds = start - begun
        deadline = None if seconds is None else start + seconds
        batches = _batches(plan, count)
        in_flight = as_completed()
        seeds_of: dict[str, list[int]] = {}

        def submit(seeds: list[int]) -> None:
            future = client.submit(run_batch, plan, seeds, pure=False)
            seeds_of[future.key] = seeds
            in_flight.add(future)

        for seeds in batches:
            submit(seeds)
            if in_flight.count() >= 2 * summary.workers:
                break
        for future in in_flight:
            try:
                result = future.result()
            except Exception as e:  # the task's workers died as often as the scheduler allows, or it was lost
                seeds = seeds_of[future.key]
                raise FuzzError(f"seeds {seeds[0]}..{seeds[-1]} could not be run: {type(e).__name__}: {e}") from None
            _collect(summary, result, plan, out_dir, bar)
            future.release()
            if deadline is None or time.monotonic() < deadline:
                seeds = next(batches, None)
                if seeds is not None:
                    submit(seeds)
        summary.wall_seconds = time.monotonic() - start
        summary.workers = max(len(summary.programs_by_worker), 1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


class _Progress:
    """A rich progress bar on stderr: programs run, programs/s, disagreements."""

    def __init__(self, enabled: bool, total: int | None) -> None:
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("fuzz"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                                TextColumn("{task.fields[rate]} programs/s, {task.fields[found]} disagreements"),
                                console=Console(stderr=True))
            self.task = self.bar.add_task("fuzz", total=total, rate="0.0", found=0)
            self.start = time.monotonic()
            self.bar.start()

    def update(self, summary: Summary) -> None:
        if self.bar is not None:
            elapsed = time.monotonic() - self.start
            self.bar.update(self.task, completed=summary.programs, found=len(summary.findings),
                            rate=f"{summary.programs / elapsed:.1f}" if elapsed else "0.0")

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
