"""Tracing, recording and snapshots, measured: hw with `--trace`, and hw recording every instruction's
undo for the debugger's reverse-step, each beside hw alone; and a 1 MiB machine's snapshot written
and read back.

    python bench/trace_snapshot.py [--rounds 5] [--json FILE]

The trace goes to a file (writing it is part of its cost). Each figure is the best of `--rounds`,
taken in turns (traced, untraced, traced, ...), so both see the machine in the same state.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from vm.arch.vm64 import core_isa
from vm.debugger.vm64 import Vm64Session
from vm.engines.hw import run_in_hw
from vm.machine import Machine
from vm.monitor.host import Host
from vm.monitor.monitor import Monitor
from vm.run import load_program
from vm.snapshot import read_snapshot, write_snapshot
from vm.trace import TraceSpan, run_traced

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "guest_programs" / "fib_rec.asm"  # calls, returns, pushes, pops and branches: 204,762 of them
MIB = 1 << 20


def _untraced(image, isa) -> tuple[float, int]:
    machine = Machine.load(image, MIB)
    host = Host(stdin=b"", capture=True)
    start = time.perf_counter()
    outcome = run_in_hw(isa, machine, Monitor(machine, host), None)
    return time.perf_counter() - start, outcome.retired


def _traced(image, isa, out) -> float:
    out.seek(0)
    out.truncate()
    start = time.perf_counter()
    run_traced(image, "hw", isa, MIB, None, TraceSpan(out), stdin=b"", capture=True)
    return time.perf_counter() - start


def _recorded(image, isa) -> float:
    session = Vm64Session(image, isa, MIB, b"", io.StringIO(), capture=True)
    start = time.perf_counter()
    session.command("continue")
    return time.perf_counter() - start


def _snapshot_round(machine: Machine, isa, path: Path) -> tuple[float, float]:
    start = time.perf_counter()
    path.write_bytes(write_snapshot(machine, isa, 0, 1000))
    written = time.perf_counter() - start
    start = time.perf_counter()
    read_snapshot(path.read_bytes(), str(path), isa)
    return written, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    isa = core_isa()
    image = load_program(PROGRAM, isa)
    plain, traced, recorded, writes, reads = [], [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        trace_file = Path(scratch) / "trace.txt"
        machine = Machine.load(image, MIB)
        machine.mem[MIB // 2 :] = bytes(range(256)) * (MIB // 512)  # half of it not zero
        with open(trace_file, "w+") as out:
            for _ in range(args.rounds):
                seconds, retired = _untraced(image, isa)
                plain.append(seconds)
                traced.append(_traced(image, isa, out))
                recorded.append(_recorded(image, isa))
                w, r = _snapshot_round(machine, isa, Path(scratch) / "s.snap")
                writes.append(w)
                reads.append(r)
            lines = trace_file.read_text().count("\n")
    if lines != retired:
        raise SystemExit(f"the trace has {lines} lines for {retired} instructions")
    figures = {"program": PROGRAM.name, "instructions": retired, "untraced_seconds": min(plain),
               "traced_seconds": min(traced), "trace_cost": min(traced) / min(plain),
               "recording_seconds": min(recorded), "recording_cost": min(recorded) / min(plain),
               "snapshot_1mib_write_seconds": min(writes), "snapshot_1mib_read_seconds": min(reads)}
    print(f"{PROGRAM.name}, {retired:,} instructions in hw, best of {args.rounds} in turns:")
    print(f"  untraced {1000 * figures['untraced_seconds']:8.1f} ms")
    print(f"  traced   {1000 * figures['traced_seconds']:8.1f} ms  ({figures['trace_cost']:.1f}x, a line each)")
    print(f"  recorded {1000 * figures['recording_seconds']:8.1f} ms  ({figures['recording_cost']:.1f}x, "
          "vm debug's continue: every instruction can be undone)")
    print(f"snapshot of a 1 MiB machine: written in {1000 * min(writes):.1f} ms, read back in "
          f"{1000 * min(reads):.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
