"""The `vm` command line: assemble, disassemble, run, compare and measure guest programs."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from importlib.metadata import version as package_version
from pathlib import Path

from vm.arch.vm64 import InstructionSet, core_isa, reference
from vm.arch.vm64.asm.assembler import AssemblyError, assemble
from vm.arch.vm64.asm.disassembler import disassemble
from vm.arch.vm64.image import Image, ImageError
from vm.arguments import parse_duration, parse_fuel, parse_limit_size, parse_seconds, parse_size
from vm.containers import daemon_commands, image_commands
from vm.containers.errors import ContainerError
from vm.elf import ElfError, is_executable
from vm.isa import DEFAULT_FUEL, IsaError, Trap
from vm.machine import DEFAULT_MEMORY, LoadError, Machine
from vm.monitor.cage import Limits
from vm.run import MODES, RunResult, exit_status, load_program, outcome_message, run_image, run_loaded
from vm.snapshot import SnapshotError

PROGRAM_HELP = "the program: assembly (.asm, or any text) or an image (.vmi)"
EXIT_USAGE = 2  # bad usage, unreadable file, bad assembly or image
EXIT_DIFFERENT = 1  # `vm compare`: the engines disagree


class UsageError(Exception):
    """A user's mistake: printed as `vm: message`, exit status 2."""


def load_isa(ext_files: list[str] | None) -> InstructionSet:
    """The core instruction set plus the extensions named by --ext and installed entry points."""
    from vm.extensions import load_extensions

    return load_extensions(core_isa(), ext_files or [])


# What `vm container run` takes and a file seldom is called: NAME:TAG (a registry's HOST:PORT/ before it).
_IMAGE_REFERENCE = re.compile(r"([\w.-]+(:\d+)?/)?[\w./-]+:[\w.-]+")


def cannot_read(path: str | Path, error: OSError | UnicodeDecodeError) -> UsageError:
    """One message for a file that cannot be read, whichever command reads it."""
    reason = {FileNotFoundError: "no such file", IsADirectoryError: "it is a directory",
              PermissionError: "permission denied", UnicodeDecodeError: "not UTF-8 text"}.get(type(error))
    return UsageError(f"cannot read {path}: {reason or getattr(error, 'strerror', None) or error}")


def _read_program(path: str, isa: InstructionSet) -> Image:
    try:
        image = load_program(path, isa)
    except FileNotFoundError as e:
        hint = f"; to run the image {path}, use `vm container run {path}`" if _IMAGE_REFERENCE.fullmatch(path) else ""
        raise UsageError(f"{cannot_read(path, e)}{hint}") from None
    except OSError as e:
        raise cannot_read(path, e) from None
    except AssemblyError as e:
        if Path(path).suffix == ".asm":
            raise
        first, more = e.diagnostics[0], len(e.diagnostics) - 1
        raise UsageError(f"{path} is neither a vm image (.vmi) nor assembly: line {first.line}: {first.message}"
                         + (f" (and {more} more error{'s' if more > 1 else ''})" if more else "")) from None
    missing = [e for e in image.extensions if e not in isa.extensions]
    if missing:
        raise UsageError(f"{path} needs the extension(s) {', '.join(missing)}: load them with --ext FILE")
    return image


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


# No host core retires more guest instructions a second than this. A faster "rate" is a loop that
# changes nothing but the budget, which para's and os's compilers reduce to its count (the ISA allows it).
FASTEST_REAL_IPS = 1e11


def print_stats(result: RunResult, wall: float) -> None:
    s = result.stats
    run_seconds = s["run_seconds"]
    ips = s["retired"] / run_seconds if run_seconds > 0 else float("inf")
    rate = (f"{ips:,.0f}" if ips <= FASTEST_REAL_IPS else
            "none: counted, not run (the compiler reduced a loop that changes nothing but the budget to its count)")
    lines = [
        f"engine:           {result.mode}",
        f"retired:          {s['retired']}",
        f"wall time:        {wall:.6f} s",
        f"run time:         {run_seconds:.6f} s",
        f"guest ips:        {rate}",
        f"vm exits:         {s['vm_exits']}",
        f"hypercalls:       {s['hypercalls']}",
    ]
    for key, label in (("load_seconds", "engine load"), ("compile_seconds", "compile time"),
                       ("translated_regions", "regions"), ("cache", "compile cache"), ("hw_instructions", "ran in hw"),
                       ("syscalls", "system calls"), ("refused_syscalls", "refused calls")):
        if key in s:
            value = s[key]
            lines.append(f"{label + ':':<18}{value:.6f} s" if isinstance(value, float) else
                         f"{label + ':':<18}{value}")
    if "cage" in s:
        lines.append(f"{'cage:':<18}{', '.join(s['cage']) or 'none in force'}")
    print("\n".join(lines), file=sys.stderr)


# -- commands ----------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    if is_executable(args.file):
        return _run_executable(args)
    if args.args:
        raise UsageError(f"{args.file} is a vm64 program: arguments are for Linux executables")
    args.mem = args.mem or DEFAULT_MEMORY
    isa = load_isa(args.ext)
    image = _read_program(args.file, isa)
    tracing = args.trace or args.trace_out or args.trace_from is not None or args.trace_to is not None
    if tracing and (args.isolate or args.snapshot_at is not None):
        raise UsageError("--trace runs the traced instructions in this process, with nothing else: "
                         "not with --isolate or --snapshot-at")
    if (args.snapshot_at is None) != (args.snapshot_out is None):
        raise UsageError("--snapshot-at N and --snapshot-out FILE go together")
    start = time.perf_counter()
    limits = _cage_limits(args)
    if args.snapshot_at is not None:
        return _run_to_snapshot(args, image, isa, limits)
    if tracing:
        result = _run_traced(args, image, isa, limits)
    else:
        result = run_image(image, args.mode, isa=isa, mem_size=args.mem, fuel=args.fuel, isolate=args.isolate,
                           limits=limits)
    return _report(args, result, limits, time.perf_counter() - start)


def _run_traced(args: argparse.Namespace, image: Image, isa: InstructionSet, limits: Limits) -> RunResult:
    from vm.trace import run_traced

    span = _trace_span(args)
    try:
        return run_traced(image, args.mode, isa, args.mem, args.fuel, span, limits=limits)
    finally:
        if span.out is not sys.stderr:
            span.out.close()


def _trace_span(args: argparse.Namespace):  # -> vm.trace.TraceSpan, its file open (the caller closes it)
    from vm.trace import TraceSpan

    first = 1 if args.trace_from is None else args.trace_from
    if first < 1:
        raise UsageError("instructions are numbered from 1: --trace-from 1 is the first")
    if args.trace_to is not None and args.trace_to < first:
        raise UsageError(f"--trace-to {args.trace_to} is before --trace-from {first}")
    try:
        out = open(args.trace_out, "w") if args.trace_out else sys.stderr  # noqa: SIM115 (the caller closes it)
    except OSError as e:
        raise UsageError(f"cannot write {args.trace_out}: {e.strerror or e}") from None
    return TraceSpan(out, first, args.trace_to)


def _run_to_snapshot(args: argparse.Namespace, image: Image, isa: InstructionSet, limits: Limits) -> int:
    """Run N instructions, then write the machine as it is to a snapshot (or end as the guest did first)."""
    from vm.snapshot import write_snapshot

    start = time.perf_counter()
    at = args.snapshot_at
    result = run_loaded(Machine.load(image, args.mem), args.mode, isa, at if args.fuel is None else min(at, args.fuel),
                        isolate=args.isolate, limits=limits)
    outcome = result.outcome
    if outcome.trap is not Trap.FUEL or outcome.limit is not None or outcome.retired != at:
        print(f"vm: the guest ended before instruction {at}: no snapshot written", file=sys.stderr)
        return _report(args, result, limits, time.perf_counter() - start)
    budget = (DEFAULT_FUEL if args.fuel is None else args.fuel) - at
    _write(Path(args.snapshot_out), write_snapshot(result.machine, isa, result.stats.get("input_consumed", 0), budget))
    return _snapshot_written(args, result, at, start)


def cmd_debug(args: argparse.Namespace) -> int:
    from vm.debugger.session import run_script, run_terminal

    try:
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
        script = Path(args.commands).read_text().splitlines() if args.commands else None
    except OSError as e:
        raise cannot_read(e.filename, e) from None
    if is_executable(args.file):
        from vm.debugger.riscv64 import RiscvSession
        from vm.run_linux import DEFAULT_LINUX_MEMORY

        if args.ext:
            raise UsageError("--ext is for vm64 programs")
        _check_env(args.env)
        session = RiscvSession(args.file, args.args, args.env or [], stdin, sys.stdout, root=args.dir,
                               strict=args.strict_syscalls, mem_limit=args.mem or DEFAULT_LINUX_MEMORY)
    else:
        from vm.debugger.vm64 import Vm64Session

        if args.args or args.env or args.dir or args.strict_syscalls:
            raise UsageError(f"{args.file} is a vm64 program: arguments, --env, --dir and --strict-syscalls are for "
                             "Linux executables")
        isa = load_isa(args.ext)
        session = Vm64Session(_read_program(args.file, isa), isa, args.mem or DEFAULT_MEMORY, stdin, sys.stdout)
    if script is not None:
        return run_script(session, script)
    if not sys.stdin.isatty():
        raise UsageError("vm debug needs a terminal; give it commands with -x FILE")
    return run_terminal(session)


def cmd_resume(args: argparse.Namespace) -> int:
    from vm.snapshot import is_process_snapshot, read_snapshot

    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise cannot_read(args.file, e) from None
    if is_process_snapshot(data):
        return _resume_executable(args, data)
    isa = load_isa(args.ext)
    snapshot = read_snapshot(data, args.file, isa)
    _skip_input(snapshot.input_consumed)
    start = time.perf_counter()
    limits = _cage_limits(args)
    fuel = snapshot.budget if args.fuel is None else args.fuel
    result = run_loaded(snapshot.machine, args.mode, isa, fuel, isolate=args.isolate, limits=limits)
    return _report(args, result, limits, time.perf_counter() - start)


def _cage_limits(args: argparse.Namespace, os_cages: bool = True) -> Limits:
    """The cage's limits; refused where no cage would enforce them (hw, para and auto run uncaged
    unless --isolate; os is caged, unless `os_cages` is false: a RISC-V program, which os refuses),
    so a limit is never ignored in silence."""
    given = [f"--{name}-limit" for name in ("cpu", "mem", "output") if getattr(args, f"{name}_limit") is not None]
    if given and not args.isolate and (args.mode != "os" or not os_cages):
        raise UsageError(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} enforced by the cage: "
                         f"add --isolate{' (or use --mode os)' if os_cages else ''}")
    return Limits(args.cpu_limit, args.mem_limit, args.output_limit)


def _skip_input(count: int) -> None:
    """Read past the input the guest had read before its snapshot (given the same input again)."""
    while count > 0:
        chunk = os.read(0, min(count, 1 << 16))  # unbuffered: the guest reads on from exactly here
        if not chunk:
            return
        count -= len(chunk)


def _run_executable(args: argparse.Namespace) -> int:
    """`vm run` of a static Linux executable (RISC-V): hw runs it, in this process or caged (--isolate);
    para and os refuse it."""
    if args.ext:
        raise UsageError("--ext: extensions are vm64 instructions; a Linux executable is riscv64")
    _check_env(args.env)
    tracing = args.trace or args.trace_out or args.trace_from is not None or args.trace_to is not None
    if tracing and args.snapshot_at is not None:
        raise UsageError("--trace and --snapshot-at: one or the other in a run")
    if (args.snapshot_at is None) != (args.snapshot_out is None):
        raise UsageError("--snapshot-at N and --snapshot-out FILE go together")
    limits = _cage_limits(args, os_cages=False)
    if args.isolate:
        return _run_executable_caged(args, limits, tracing)
    from vm.run_linux import DEFAULT_LINUX_MEMORY, run_executable

    at = args.snapshot_at
    fuel = args.fuel if at is None else at if args.fuel is None else min(at, args.fuel)
    span = _trace_span(args) if tracing else None
    start = time.perf_counter()
    try:
        result = run_executable(args.file, args.args, mode=args.mode, env=args.env or [],
                                mem_limit=args.mem or DEFAULT_LINUX_MEMORY, fuel=fuel, root=args.dir,
                                strict=args.strict_syscalls, trace=span)
    finally:
        if span is not None and span.out is not sys.stderr:
            span.out.close()
    if at is None or result.mode != "hw":
        return _report(args, result, Limits(), time.perf_counter() - start)
    outcome = result.outcome
    if outcome.trap is not Trap.FUEL or outcome.retired != at:
        print(f"vm: the guest ended before instruction {at}: no snapshot written", file=sys.stderr)
        return _report(args, result, Limits(), time.perf_counter() - start)
    budget = (DEFAULT_FUEL if args.fuel is None else args.fuel) - at
    _write(Path(args.snapshot_out), result.snapshot(budget).to_bytes())
    return _snapshot_written(args, result, at, start)


def _run_executable_caged(args: argparse.Namespace, limits: Limits, tracing: bool) -> int:
    """`vm run --isolate` of a RISC-V executable: hw in a caged child, under the cage's limits."""
    from vm.isolate_linux import run_executable_isolated

    refused = [flag for flag, given in (("--dir", args.dir is not None), ("--trace", tracing),
                                        ("--snapshot-at", args.snapshot_at is not None)) if given]
    if refused:
        reasons = {"--dir": "the cage opens no file", "--trace": "a trace is written by an uncaged run",
                   "--snapshot-at": "a RISC-V process's snapshot is written by an uncaged run"}
        raise UsageError(f"{' and '.join(refused)} with --isolate: {'; '.join(reasons[f] for f in refused)}: "
                         "run it without --isolate")
    start = time.perf_counter()
    result = run_executable_isolated(args.file, args.args, mode=args.mode, env=args.env or [], mem_limit=args.mem,
                                     fuel=args.fuel, strict=args.strict_syscalls, limits=limits)
    return _report(args, result, limits, time.perf_counter() - start)


def _snapshot_written(args: argparse.Namespace, result: RunResult, at: int, start: float) -> int:
    """What `vm run --snapshot-at` says once its snapshot is written: where the guest stopped."""
    where = result.where(result.machine.pc)
    print(f"vm: snapshot after {at} instructions, at {result.machine.pc:#x}" + (f" ({where})" if where else "") +
          f", written to {args.snapshot_out}", file=sys.stderr)
    if args.stats:
        print_stats(result, time.perf_counter() - start)
    return 0


def _resume_executable(args: argparse.Namespace, data: bytes) -> int:
    """`vm resume` of a RISC-V process's snapshot: in hw, its input taken up where it had read to."""
    from vm.run_linux import resume_executable
    from vm.snapshot import read_process_snapshot

    snapshot = read_process_snapshot(data, args.file)
    if args.mode in ("para", "os"):
        raise UsageError(f"{args.file} is a riscv64 process: {args.mode} runs vm64 code; resume it in hw")
    limits = _cage_limits(args, os_cages=False)
    if args.isolate and snapshot.root is not None:
        raise UsageError(f"{args.file} is a process with --dir files: the cage opens no file; resume it without "
                         "--isolate")
    _skip_input(snapshot.input_consumed)
    start = time.perf_counter()
    if args.isolate:
        from vm.isolate_linux import resume_executable_isolated

        result = resume_executable_isolated(data, snapshot, fuel=args.fuel, limits=limits)
    else:
        result = resume_executable(snapshot, fuel=args.fuel)
    return _report(args, result, limits, time.perf_counter() - start)


def _report(args: argparse.Namespace, result: RunResult, limits: Limits, wall: float) -> int:
    """What `vm run` and `vm resume` say of a run that ended, and their exit status."""
    if args.state_out:
        _write(Path(args.state_out), (json.dumps(result.state(), indent=2) + "\n").encode())
    message = outcome_message(result, limits)
    if message:
        print(message, file=sys.stderr)
    if args.stats:
        print_stats(result, wall)
    return exit_status(result.outcome)


def cmd_asm(args: argparse.Namespace) -> int:
    isa = load_isa(args.ext)
    path = Path(args.file)
    try:
        source = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise cannot_read(path, e) from None
    image = assemble(source, str(path), isa)
    out = Path(args.output) if args.output else path.with_suffix(".vmi")
    _write(out, image.to_bytes())
    return 0


def cmd_disasm(args: argparse.Namespace) -> int:
    if is_executable(args.file):
        from vm.arch.riscv64.disassembler import executable_listing

        sys.stdout.write(executable_listing(args.file))
        return 0
    isa = load_isa(args.ext)
    text = disassemble(_read_program(args.file, isa), isa)
    if args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")):
        from vm.arch.vm64.asm.highlight import highlight

        text = highlight(text, isa)
    sys.stdout.write(text)
    return 0


def cmd_isa(args: argparse.Namespace) -> int:
    if args.arch == "riscv64":
        if args.ext or args.format != "md":
            raise UsageError("--arch riscv64 prints its reference as markdown, without extensions")
        from vm.arch.riscv64 import reference as riscv64_reference

        sys.stdout.write(riscv64_reference.markdown())
        return 0
    isa = load_isa(args.ext)
    sys.stdout.write(reference.markdown(isa) if args.format == "md" else reference.text(isa))
    return 0


def cmd_translate(args: argparse.Namespace) -> int:
    isa = load_isa(args.ext)
    image = _read_program(args.file, isa)
    if args.mode == "os":
        from vm.engines.os.translate import translate_to_c

        sys.stdout.write(translate_to_c(image, isa).source)
    else:
        from vm.engines.para.translate import translate_image

        sys.stdout.write(translate_image(image, isa).source)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from vm.compare import compare_file

    if args.stdin is not None:
        try:
            stdin = Path(args.stdin).read_bytes()
        except OSError as e:
            raise cannot_read(args.stdin, e) from None
    else:
        stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
    if is_executable(args.file):
        return _compare_executable(args, stdin)
    if args.args:
        raise UsageError(f"{args.file} is a vm64 program: arguments are for Linux executables")
    args.mem = args.mem or DEFAULT_MEMORY
    isa = load_isa(args.ext)
    image = _read_program(args.file, isa)
    report = compare_file(image, isa, mem_size=args.mem, fuel=args.fuel, stdin=stdin)
    print(report.table())
    if args.trace_diff:
        from vm.compare import first_divergence

        for engine, run in report.runs.items():
            if engine == "hw" or not report.differences(engine):
                continue
            if run.outcome.trap is Trap.UNSUPPORTED:
                print(f"{engine} refused the program, so it has no state to compare after that")
                continue
            found = first_divergence(image, isa, engine, mem_size=args.mem, stdin=stdin, fuel=args.fuel)
            print(found.describe() if found else f"hw and {engine} agree when run again: the difference comes and goes")
    return 0 if report.same else EXIT_DIFFERENT


def _compare_executable(args: argparse.Namespace, stdin: bytes) -> int:
    """`vm compare` of a RISC-V executable: hw against qemu-riscv64, the reference nobody here wrote."""
    from vm.compare import ReferenceMissing, compare_executable
    from vm.run_linux import DEFAULT_LINUX_MEMORY

    if args.trace_diff or args.ext:
        raise UsageError("--trace-diff and --ext are for vm64 programs")
    try:
        report = compare_executable(args.file, args.args, stdin=stdin, fuel=args.fuel,
                                    mem_limit=args.mem or DEFAULT_LINUX_MEMORY)
    except ReferenceMissing as e:
        raise UsageError(str(e)) from None
    print(report.table())
    return 0 if report.same else EXIT_DIFFERENT


def cmd_fuzz(args: argparse.Namespace) -> int:
    from vm.fuzz.campaign import FuzzError, Plan, run_campaign
    from vm.run import MODES

    for option, value, least in (("--size", args.size, 1), ("--batch", args.batch, 1), ("--workers", args.workers, 0)):
        if value is not None and value < least:
            raise UsageError(f"{option} is at least {least}, not {value}")
    if args.arch == "riscv64":
        from vm.fuzz import riscv64

        if args.engines is not None or args.ext:
            raise UsageError("--engines and --ext are vm64's: --arch riscv64 compares hw with qemu-riscv64")
        try:
            riscv64.tool(riscv64.CC, riscv64.CC_PACKAGE)
            riscv64.tool(riscv64.QEMU, riscv64.QEMU_PACKAGE)
        except riscv64.ToolMissing as e:
            raise UsageError(f"vm fuzz --arch riscv64: {e}") from None
        engines: tuple[str, ...] = ("hw", riscv64.QEMU)
    else:
        engines = tuple(dict.fromkeys(["hw", *(e.strip() for e in (args.engines or "hw,para,os").split(",")
                                               if e.strip())]))
        unknown = [e for e in engines if e not in MODES]
        if unknown:
            raise UsageError(f"--engines: unknown engine {unknown[0]!r}; use some of {', '.join(MODES)}")
        if len(engines) < 2:
            raise UsageError("--engines: name at least one engine besides hw to compare it with")
    if args.count is None and args.time is None:
        args.count = 1000
    if args.arch == "vm64":
        load_isa(args.ext)  # a bad extension is said here, once, not by every worker
    ext_files = tuple(str(Path(f).resolve()) for f in args.ext or [])
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    size = args.size if args.size is not None else (200 if args.arch == "riscv64" else 40)
    plan = Plan(args.arch, ext_files, engines, size, seed, args.batch)
    out_dir = Path(args.out)
    try:
        summary = run_campaign(plan, count=args.count, seconds=args.time, workers=args.workers,
                               scheduler=args.scheduler, out_dir=out_dir)
    except FuzzError as e:
        raise UsageError(str(e)) from None
    print(f"seeds from {seed}: " + summary.text())
    unit = "random items" if args.arch == "riscv64" else "instructions"
    for finding in summary.findings:
        shrunk = finding["shrunk"]
        print(f"seed {finding['seed']}: {finding['engine']} differs from hw in {', '.join(finding['differences'])}; "
              f"shrunk from {shrunk['from_instructions']} to {shrunk['instructions']} {unit}; "
              f"again: {finding['command']}")
    if args.json:
        _write(Path(args.json), (json.dumps(summary.__dict__, indent=2) + "\n").encode())
    return EXIT_DIFFERENT if summary.findings else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from vm.benchmarks import main as bench_main

    return bench_main(args, load_isa(args.ext))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vm", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vm {package_version('vm')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def plain_command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func, usage_of=p)
        return p

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        """A command on a guest program: it takes extensions (images and containers carry their own)."""
        p = plain_command(name, func, help_text)
        p.add_argument("--ext", action="append", metavar="FILE", help="load an instruction-set extension")
        return p

    p = command("run", cmd_run, "run a guest program (.asm or .vmi, or a static RISC-V Linux executable)")
    p.add_argument("file", help=PROGRAM_HELP)
    _linux_options(p)
    p.add_argument("--mem", type=parse_size, default=None, metavar="BYTES",
                   help="guest memory size, a multiple of 4096 from 64K to 4G (default: 1M); for a Linux "
                   "executable, what it may map in all (default: 256M)")
    _engine_options(p, "stop after N instructions")
    p.add_argument("--trace", action="store_true",
                   help="write a line per retired instruction (in hw: para and os hand the traced span to it)")
    p.add_argument("--trace-out", metavar="FILE", help="the trace's file (default: stderr); implies --trace")
    p.add_argument("--trace-from", type=parse_fuel, metavar="N", help="trace from the Nth instruction on")
    p.add_argument("--trace-to", type=parse_fuel, metavar="N", help="trace up to the Nth instruction")
    p.add_argument("--snapshot-at", type=parse_fuel, metavar="N",
                   help="stop after N instructions and write the machine to --snapshot-out")
    p.add_argument("--snapshot-out", metavar="FILE", help="the snapshot's file (docs/snapshot-format.md)")

    p = command("resume", cmd_resume, "continue a snapshot in any engine")
    p.add_argument("file", metavar="SNAPSHOT", help="a snapshot written by vm run --snapshot-out")
    _engine_options(p, "run N more instructions (default: what was left of the snapshotted run's budget)")

    p = command("debug", cmd_debug, "debug a program in hw: step, break, watch, and step backwards (a vm64 "
                "program or a static RISC-V Linux executable)")
    p.add_argument("file", help=PROGRAM_HELP)
    _linux_options(p)
    p.add_argument("--mem", type=parse_size, default=None, metavar="BYTES",
                   help="guest memory (default: 1M); for a Linux executable, what it may map in all (default: 256M)")
    p.add_argument("--stdin", metavar="FILE", help="the guest's input (default: none: the terminal is the debugger's)")
    p.add_argument("-x", "--commands", metavar="FILE", help="run these commands, one a line, instead of a prompt")

    p = command("asm", cmd_asm, "assemble a program into a .vmi image")
    p.add_argument("file", help="the assembly source")
    p.add_argument("-o", "--output", metavar="FILE.vmi", help="the image's file (default: FILE, its suffix .vmi)")

    p = command("disasm", cmd_disasm, "disassemble an image or program")
    p.add_argument("file", help=PROGRAM_HELP)
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="highlight the assembly (default: auto, on a terminal unless $NO_COLOR is set)")

    p = command("isa", cmd_isa, "print the instruction reference")
    p.add_argument("--format", choices=("md", "text"), default="md",
                   help="markdown, as docs/isa.md is made of it, or plain text (default: md)")
    p.add_argument("--arch", choices=("vm64", "riscv64"), default="vm64", help="whose instructions (default: vm64)")

    p = command("translate", cmd_translate, "print the source para (Python for Numba) or os (C) generates")
    p.add_argument("file", help=PROGRAM_HELP)
    p.add_argument("--mode", choices=("para", "os"), default="para", help="whose translation (default: para)")

    p = command("compare", cmd_compare, "run hw, para and os, check they agree, and compare speed (a RISC-V "
                "executable: hw against qemu-riscv64)")
    p.add_argument("file", help=PROGRAM_HELP)
    p.add_argument("args", nargs="*", metavar="ARG", help="a Linux executable's arguments")
    p.add_argument("--mem", type=parse_size, default=None, metavar="BYTES",
                   help="guest memory size, as vm run's (default: 1M; a Linux executable's: 256M)")
    p.add_argument("--fuel", type=parse_fuel, default=None, metavar="N",
                   help="stop each engine after N instructions, at the same one")
    p.add_argument("--stdin", metavar="FILE", help="guest input (default: this process's stdin)")
    p.add_argument("--trace-diff", action="store_true",
                   help="where an engine differs from hw, find the first instruction after which they part")

    p = command("fuzz", cmd_fuzz, "run generated programs in every engine, compare them with hw, and shrink each "
                "disagreement (on a Dask cluster: a local one by default)")
    p.add_argument("--arch", choices=("vm64", "riscv64"), default="vm64", help="vm64 (default), or riscv64: "
                   "random RV64GC programs in hw against qemu-riscv64")
    p.add_argument("--count", type=parse_fuel, default=None, metavar="N", help="programs to run (default: 1000, "
                   "unless --time is given)")
    p.add_argument("--time", type=parse_duration, default=None, metavar="DURATION",
                   help="stop starting programs after this long: 90, 30s, 10m, 2h")
    p.add_argument("--engines", default=None, metavar="LIST", help="engines to compare with hw "
                   "(default: hw,para,os; vm64 only)")
    p.add_argument("--seed", type=parse_fuel, default=None, metavar="N", help="the first program's seed (default: "
                   "random, printed at the end); program i has seed N+i")
    p.add_argument("--size", type=int, default=None, metavar="N", help="blocks of code a program has at most "
                   "(default: 40); for riscv64 its random items (default: 200)")
    p.add_argument("--batch", type=int, default=8, metavar="N", help="programs a task runs (default: 8)")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="local worker processes (default: one "
                   "a core); 0 runs in this process, without Dask")
    p.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, such as tcp://HOST:8786, "
                   "whose workers (`dask worker HOST:8786`, vm installed) run the programs")
    p.add_argument("--out", default="fuzz-findings", metavar="DIR", help="where disagreements are saved "
                   "(default: fuzz-findings)")
    p.add_argument("--json", metavar="FILE", help="write everything the campaign saw as JSON")

    p = command("bench", cmd_bench,
                "measure hw, para, os, C and Python on the benchmark programs, and RISC-V in hw beside qemu")
    p.add_argument("--quick", action="store_true", help="small sizes; finishes within a minute")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the comparison (needs matplotlib)")

    image_commands.add_commands(plain_command)
    daemon_commands.add_commands(plain_command)

    p = sub.add_parser("completion", help="print a shell completion script: eval \"$(vm completion bash)\"",
                       description="print a completion script of every command and option for the shell "
                       "(bash: eval \"$(vm completion bash)\"; zsh: vm completion zsh > ~/.zfunc/_vm)")
    p.set_defaults(func=lambda args: cmd_completion(args, parser), usage_of=p)
    p.add_argument("shell", choices=("bash", "zsh", "tcsh"), help="the shell to complete in")
    return parser


def cmd_completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    import shtab  # generates the script from the parser itself: it never falls behind the commands

    sys.stdout.write(shtab.complete(parser, args.shell))
    return 0


def _linux_options(p: argparse.ArgumentParser) -> None:
    """What `vm run` and `vm debug` take for a Linux executable: its arguments, environment, files."""
    p.add_argument("args", nargs="*", metavar="ARG", help="a Linux executable's arguments (after -- if they "
                   "start with -)")
    p.add_argument("--env", action="append", metavar="NAME=VALUE", help="a Linux executable's environment "
                   "(default: empty)")
    p.add_argument("--dir", metavar="PATH", help="the only directory a Linux executable's files come from "
                   "(default: none)")
    p.add_argument("--strict-syscalls", action="store_true", help="a system call vm does not emulate is a trap, "
                   "not -ENOSYS")


def _check_env(env: list[str] | None) -> None:
    for item in env or []:
        if "=" not in item:
            raise UsageError(f"--env {item}: expected NAME=VALUE")


def _engine_options(p: argparse.ArgumentParser, fuel_help: str) -> None:
    """How a run runs: its engine, budget, cage and reports (`vm run` and `vm resume`)."""
    p.add_argument("--mode", choices=MODES, default="hw", help="engine (default: hw)")
    p.add_argument("--fuel", type=parse_fuel, default=None, metavar="N", help=fuel_help)
    p.add_argument("--stats", action="store_true", help="print engine statistics to stderr")
    p.add_argument("--state-out", metavar="FILE.json", help="write the final machine state as JSON")
    p.add_argument("--isolate", action="store_true",
                   help="run the guest in a caged child process (always so with --mode os)")
    p.add_argument("--cpu-limit", type=parse_seconds, default=None, metavar="SECONDS",
                   help="caged: stop the guest after this much CPU time")
    p.add_argument("--mem-limit", type=parse_limit_size, default=None, metavar="BYTES",
                   help="caged: the guest process's address space (K/M/G suffixes)")
    p.add_argument("--output-limit", type=parse_limit_size, default=None, metavar="BYTES",
                   help="caged: stop the guest after this much output")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the usage of the command given, not the top level's
        args.usage_of.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return args.func(args)
    except AssemblyError as e:
        print(e, file=sys.stderr)
        n = len(e.diagnostics)
        print(f"vm: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
    except (UsageError, ImageError, LoadError, IsaError, ContainerError, SnapshotError, ElfError) as e:
        print(f"vm: {e}", file=sys.stderr)
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        print("vm: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
