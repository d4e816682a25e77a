"""RISC-V in hw, measured: the static RV64GC Linux executables of guest_programs/riscv64 in hw beside
qemu-riscv64 on the same executable and arguments, and hw on each one's vm64 twin of bench/programs
at the same N.

    python bench/riscv64.py [--quick] [--rounds 5] [--json FILE]

hw's rate is its retired instructions over its own run clock; its time, loading the ELF and running
it, is set beside qemu's whole process (qemu translates the guest to host code, hw interprets every
instruction). After a warm-up run of each, every round runs each program once in hw, once under qemu
and its twin once in vm64's hw, one after the other, and each figure is the best of the rounds (on a
shared machine another process's work only ever adds time). Without qemu-riscv64, hw is measured
alone. The same section is part of `vm bench` (at the quick sizes there).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vm.arch.vm64 import core_isa
from vm.benchmarks import machine_description, riscv64, riscv64_json, riscv64_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes that take hw a few tenths of a second")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds after the warm-up (default 5)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")
    if args.json:
        try:
            Path(args.json).touch()  # find out now, not after the measuring
        except OSError as e:
            parser.error(f"cannot write {args.json}: {e.strerror or e}")
    report = riscv64(core_isa(), args.quick, args.rounds, lambda label: print(label, file=sys.stderr, flush=True))
    print(riscv64_table(report))
    if args.json:
        figures = {"machine": machine_description(), **riscv64_json(report)}
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(r.outputs_agree is not False for r in report.results) else 1


if __name__ == "__main__":
    sys.exit(main())
