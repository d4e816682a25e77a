"""`vm compare`: run one program in hw, para and os, check every observable agrees with hw, and show the speed."""

from __future__ import annotations

from dataclasses import dataclass

from vm.image import Image
from vm.isa import InstructionSet
from vm.machine import DEFAULT_MEMORY
from vm.run import RunResult, run_image

OBSERVABLES = ("exit", "trap", "pc", "retired", "r", "f", "mem_sha256")
ENGINES = ("hw", "para", "os")  # hw is the reference the others are checked against


def _ips(r: RunResult) -> float:
    return r.stats["retired"] / r.stats["run_seconds"] if r.stats["run_seconds"] > 0 else float("inf")


def _result(r: RunResult) -> str:
    if r.outcome.limit is not None:
        return f"limit {r.outcome.limit}"
    return f"trap {r.outcome.trap.name}" if r.outcome.trap else f"exit {r.outcome.exit}"


@dataclass
class Comparison:
    runs: dict[str, RunResult]

    def differences(self, engine: str) -> list[str]:
        """What differs between `engine`'s run and hw's: output streams first, then the machine state."""
        reference, run = self.runs["hw"], self.runs[engine]
        a, b = reference.state(), run.state()
        streams = [name for name in ("stdout", "stderr")
                   if getattr(reference.output, name) != getattr(run.output, name)]
        return streams + [key for key in OBSERVABLES if a[key] != b[key]]

    @property
    def same(self) -> bool:
        return not any(self.differences(engine) for engine in self.runs)

    def table(self) -> str:
        hw = self.runs["hw"].stats

        def row(label: str, value) -> tuple:
            return (label, *(value(engine, r, r.stats) for engine, r in self.runs.items()))

        def compile_time(engine: str, r: RunResult, s: dict) -> str:
            return "-" if "compile_seconds" not in s else f"{s['compile_seconds']:.3f} ({s.get('cache', '-')})"

        def speedup(engine: str, r: RunResult, s: dict) -> str:
            return f"{hw['run_seconds'] / s['run_seconds']:,.1f}x" if s["run_seconds"] > 0 else "-"

        def interpreted(engine: str, r: RunResult, s: dict) -> str:
            return f"{s['retired'] if engine == 'hw' else s.get('hw_instructions', 0):,}"

        rows = [
            ("", *self.runs),
            row("result", lambda e, r, s: _result(r)),
            row("retired instructions", lambda e, r, s: f"{s['retired']:,}"),
            row("compile time (s)", compile_time),
            row("run time (s)", lambda e, r, s: f"{s['run_seconds']:.6f}"),
            row("guest instructions/s", lambda e, r, s: f"{_ips(r):,.0f}"),
            row("speedup (run time)", speedup),
            row("VM exits", lambda e, r, s: f"{s['vm_exits']:,}"),
            row("hypercalls", lambda e, r, s: f"{s['hypercalls']:,}"),
            row("run by the interpreter", interpreted),
            row("caged", lambda e, r, s: "yes" if "cage" in s else "no"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = ["  ".join([f"{r[0]:<{width}}", *(f"{cell:>22}" for cell in r[1:])]) for r in rows]
        if "cage" in self.runs["os"].stats:
            lines.append(f"os cage: {', '.join(self.runs['os'].stats['cage']) or 'no protections in force'}")
        if self.same:
            lines.append(f"identical: output, {_result(self.runs['hw'])}, pc, registers, memory and instruction count")
            return "\n".join(lines)
        a = self.runs["hw"].state()
        for engine, run in self.runs.items():
            differences = self.differences(engine)
            if not differences:
                continue
            lines.append(f"DIFFERENT in {engine}: " + ", ".join(differences))
            if run.outcome.trap is not None and run.outcome.trap.name == "UNSUPPORTED":
                lines.append(f"  {engine} refused the program: {run.outcome.detail}")
            b = run.state()
            lines.extend(f"  {key}: hw {a[key]!r} / {engine} {b[key]!r}" for key in differences if key in a)
        return "\n".join(lines)


def compare_file(image: Image, isa: InstructionSet, *, mem_size: int = DEFAULT_MEMORY, fuel: int | None = None,
                 stdin: bytes = b"") -> Comparison:
    """Run hw, then para, then os, on the same input, each with its output captured."""
    return Comparison({mode: run_image(image, mode, isa=isa, mem_size=mem_size, fuel=fuel, stdin=stdin, capture=True)
                       for mode in ENGINES})
