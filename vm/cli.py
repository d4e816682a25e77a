"""The `vm` command line: assemble, disassemble, run, compare and measure guest programs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from vm.asm.assembler import AssemblyError, assemble
from vm.asm.disassembler import disassemble
from vm.containers import daemon_commands, image_commands
from vm.containers.errors import ContainerError
from vm.elf import ElfError, is_executable
from vm.image import Image, ImageError
from vm.isa import DEFAULT_FUEL, InstructionSet, IsaError, Trap, core_isa, reference
from vm.machine import DEFAULT_MEMORY, LoadError, Machine
from vm.monitor.cage import Limits
from vm.run import MODES, RunResult, exit_status, load_program, outcome_message, run_image, run_loaded
from vm.snapshot import SnapshotError

EXIT_USAGE = 2  # bad usage, unreadable file, bad assembly or image
EXIT_DIFFERENT = 1  # `vm compare`: the engines disagree


class UsageError(Exception):
    """A user's mistake: printed as `vm: message`, exit status 2."""


def parse_size(text: str) -> int:
    """Bytes, with an optional K, M or G suffix (powers of 1024)."""
    t = text.strip().upper().removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    number = t[:-1] if scale > 1 else t
    try:
        return int(number, 0) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 1048576, 256K or 1M") from None


def parse_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError("a CPU limit is at least 1 second")
    return value


def parse_limit_size(text: str) -> int:
    """A size in bytes with an optional K, M or G suffix, at least 1."""
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 65536, 64K, 256M or 2G")
    return int(digits) * scale


def parse_fuel(text: str) -> int:
    try:
        value = int(text.replace("_", ""), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError("fuel must be from 0 to 2^63 - 1")
    return value


def load_isa(ext_files: list[str] | None) -> InstructionSet:
    """The core instruction set plus the extensions named by --ext and installed entry points."""
    from vm.extensions import load_extensions

    return load_extensions(core_isa(), ext_files or [])


def _read_program(path: str, isa: InstructionSet) -> Image:
    try:
        image = load_program(path, isa)
    except FileNotFoundError:
        raise UsageError(f"cannot read {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read {path}: it is a directory") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    missing = [e for e in image.extensions if e not in isa.extensions]
    if missing:
        raise UsageError(f"{path} needs the extension(s) {', '.join(missing)}: load them with --ext FILE")
    return image


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def print_stats(result: RunResult, wall: float) -> None:
    s = result.stats
    run_seconds = s["run_seconds"]
    ips = s["retired"] / run_seconds if run_seconds > 0 else float("inf")
    lines = [
        f"engine:           {result.mode}",
        f"retired:          {s['retired']}",
        f"wall time:        {wall:.6f} s",
        f"run time:         {run_seconds:.6f} s",
        f"guest ips:        {ips:,.0f}",
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
    limits = Limits(args.cpu_limit, args.mem_limit, args.output_limit)
    if args.snapshot_at is not None:
        return _run_to_snapshot(args, image, isa, limits)
    if tracing:
        result = _run_traced(args, image, isa, limits)
    else:
        result = run_image(image, args.mode, isa=isa, mem_size=args.mem, fuel=args.fuel, isolate=args.isolate,
                           limits=limits)
    return _report(args, result, limits, time.perf_counter() - start)


def _run_traced(args: argparse.Namespace, image: Image, isa: InstructionSet, limits: Limits) -> RunResult:
    from vm.trace import TraceSpan, run_traced

    first = 1 if args.trace_from is None else args.trace_from
    if first < 1:
        raise UsageError("instructions are numbered from 1: --trace-from 1 is the first")
    if args.trace_to is not None and args.trace_to < first:
        raise UsageError(f"--trace-to {args.trace_to} is before --trace-from {first}")
    try:
        out = open(args.trace_out, "w") if args.trace_out else sys.stderr  # noqa: SIM115 (closed below)
    except OSError as e:
        raise UsageError(f"cannot write {args.trace_out}: {e.strerror or e}") from None
    try:
        return run_traced(image, args.mode, isa, args.mem, args.fuel, TraceSpan(out, first, args.trace_to),
                          limits=limits)
    finally:
        if out is not sys.stderr:
            out.close()


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
    where = image.where(result.machine.pc)
    print(f"vm: snapshot after {at} instructions, at {result.machine.pc:#x}" + (f" ({where})" if where else "") +
          f", written to {args.snapshot_out}", file=sys.stderr)
    if args.stats:
        print_stats(result, time.perf_counter() - start)
    return 0


def cmd_debug(args: argparse.Namespace) -> int:
    from vm.debugger import Session, run_script, run_terminal

    isa = load_isa(args.ext)
    image = _read_program(args.file, isa)
    try:
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
        script = Path(args.commands).read_text().splitlines() if args.commands else None
    except OSError as e:
        raise UsageError(f"cannot read {e.filename}: {e.strerror}") from None
    session = Session(image, isa, args.mem, stdin, sys.stdout)
    if script is not None:
        return run_script(session, script)
    if not sys.stdin.isatty():
        raise UsageError("vm debug needs a terminal; give it commands with -x FILE")
    return run_terminal(session)


def cmd_resume(args: argparse.Namespace) -> int:
    from vm.snapshot import read_snapshot

    isa = load_isa(args.ext)
    try:
        data = Path(args.file).read_bytes()
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror or e}") from None
    snapshot = read_snapshot(data, args.file, isa)
    _skip_input(snapshot.input_consumed)
    start = time.perf_counter()
    limits = Limits(args.cpu_limit, args.mem_limit, args.output_limit)
    fuel = snapshot.budget if args.fuel is None else args.fuel
    result = run_loaded(snapshot.machine, args.mode, isa, fuel, isolate=args.isolate, limits=limits)
    return _report(args, result, limits, time.perf_counter() - start)


def _skip_input(count: int) -> None:
    """Read past the input the guest had read before its snapshot (given the same input again)."""
    while count > 0:
        chunk = os.read(0, min(count, 1 << 16))  # unbuffered: the guest reads on from exactly here
        if not chunk:
            return
        count -= len(chunk)


def _run_executable(args: argparse.Namespace) -> int:
    """`vm run` of a static Linux executable (RISC-V): hw runs it; para and os refuse it."""
    refused = [flag for flag, given in (("--trace", args.trace or args.trace_out or args.trace_from is not None
                                         or args.trace_to is not None), ("--snapshot-at", args.snapshot_at is not None),
                                        ("--isolate", args.isolate), ("--cpu-limit", args.cpu_limit is not None),
                                        ("--mem-limit", args.mem_limit is not None),
                                        ("--output-limit", args.output_limit is not None), ("--ext", args.ext))
               if given]
    if refused:
        raise UsageError(f"{' and '.join(refused)}: not available for Linux executables yet")
    for item in args.env or []:
        if "=" not in item:
            raise UsageError(f"--env {item}: expected NAME=VALUE")
    from vm.run_linux import DEFAULT_LINUX_MEMORY, run_executable

    start = time.perf_counter()
    result = run_executable(args.file, args.args, mode=args.mode, env=args.env or [],
                            mem_limit=args.mem or DEFAULT_LINUX_MEMORY, fuel=args.fuel, root=args.dir,
                            strict=args.strict_syscalls)
    return _report(args, result, Limits(), time.perf_counter() - start)


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
        raise UsageError(f"cannot read {path}: {getattr(e, 'strerror', None) or e}") from None
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
        from vm.asm.highlight import highlight

        text = highlight(text, isa)
    sys.stdout.write(text)
    return 0


def cmd_isa(args: argparse.Namespace) -> int:
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

    isa = load_isa(args.ext)
    image = _read_program(args.file, isa)
    if args.stdin is not None:
        try:
            stdin = Path(args.stdin).read_bytes()
        except OSError as e:
            raise UsageError(f"cannot read {args.stdin}: {e.strerror or e}") from None
    else:
        stdin = b"" if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
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


def cmd_bench(args: argparse.Namespace) -> int:
    from vm.benchmarks import main as bench_main

    return bench_main(args, load_isa(args.ext))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        p.add_argument("--ext", action="append", metavar="FILE", help="load an instruction-set extension")
        return p

    p = command("run", cmd_run, "run a guest program (.asm or .vmi, or a static RISC-V Linux executable)")
    p.add_argument("file")
    p.add_argument("args", nargs="*", metavar="ARG", help="a Linux executable's arguments (after -- if they "
                   "start with -)")
    p.add_argument("--mem", type=parse_size, default=None, metavar="BYTES",
                   help="guest memory size, a multiple of 4096 from 64K to 4G (default: 1M); for a Linux "
                   "executable, what it may map in all (default: 256M)")
    p.add_argument("--env", action="append", metavar="NAME=VALUE", help="a Linux executable's environment "
                   "(default: empty)")
    p.add_argument("--dir", metavar="PATH", help="the only directory a Linux executable's files come from "
                   "(default: none)")
    p.add_argument("--strict-syscalls", action="store_true", help="a system call vm does not emulate is a trap, "
                   "not -ENOSYS")
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
    p.add_argument("file", metavar="SNAPSHOT")
    _engine_options(p, "run N more instructions (default: what was left of the snapshotted run's budget)")

    p = command("debug", cmd_debug, "debug a program in hw: step, break, watch, and step backwards")
    p.add_argument("file")
    p.add_argument("--mem", type=parse_size, default=DEFAULT_MEMORY, metavar="BYTES", help="guest memory (default: 1M)")
    p.add_argument("--stdin", metavar="FILE", help="the guest's input (default: none: the terminal is the debugger's)")
    p.add_argument("-x", "--commands", metavar="FILE", help="run these commands, one a line, instead of a prompt")

    p = command("asm", cmd_asm, "assemble a program into a .vmi image")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="FILE.vmi")

    p = command("disasm", cmd_disasm, "disassemble an image or program")
    p.add_argument("file")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="highlight the assembly (default: auto, on a terminal unless $NO_COLOR is set)")

    p = command("isa", cmd_isa, "print the instruction reference")
    p.add_argument("--format", choices=("md", "text"), default="md")

    p = command("translate", cmd_translate, "print the source para (Python for Numba) or os (C) generates")
    p.add_argument("file")
    p.add_argument("--mode", choices=("para", "os"), default="para", help="whose translation (default: para)")

    p = command("compare", cmd_compare, "run hw, para and os, check they agree, and compare speed")
    p.add_argument("file")
    p.add_argument("--mem", type=parse_size, default=DEFAULT_MEMORY, metavar="BYTES")
    p.add_argument("--fuel", type=parse_fuel, default=None, metavar="N")
    p.add_argument("--stdin", metavar="FILE", help="guest input (default: this process's stdin)")
    p.add_argument("--trace-diff", action="store_true",
                   help="where an engine differs from hw, find the first instruction after which they part")

    p = command("bench", cmd_bench,
                "measure hw, para, os, C and Python on the benchmark programs, and RISC-V in hw beside qemu")
    p.add_argument("--quick", action="store_true", help="small sizes; finishes within a minute")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="draw the comparison (needs matplotlib)")

    image_commands.add_commands(command)
    daemon_commands.add_commands(command)
    return parser


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
    args = parser.parse_args(argv)
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
