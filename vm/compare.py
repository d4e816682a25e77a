"""`vm compare`: run one program in hw and para, check every observable agrees, and show the speed."""

from __future__ import annotations

from dataclasses import dataclass

from vm.image import Image
from vm.isa import InstructionSet
from vm.machine import DEFAULT_MEMORY
from vm.run import RunResult, run_image

OBSERVABLES = ("exit", "trap", "pc", "retired", "r", "f", "mem_sha256")


@dataclass
class Comparison:
    hw: RunResult
    para: RunResult

    @property
    def differences(self) -> list[str]:
        a, b = self.hw.state(), self.para.state()
        diffs = [key for key in OBSERVABLES if a[key] != b[key]]
        if self.hw.output.stdout != self.para.output.stdout:
            diffs.insert(0, "stdout")
        if self.hw.output.stderr != self.para.output.stderr:
            diffs.insert(1, "stderr")
        return diffs

    @property
    def same(self) -> bool:
        return not self.differences

    def table(self) -> str:
        def ips(r: RunResult) -> float:
            return r.stats["retired"] / r.stats["run_seconds"] if r.stats["run_seconds"] > 0 else float("inf")

        hw, para = self.hw.stats, self.para.stats
        speedup = hw["run_seconds"] / para["run_seconds"] if para["run_seconds"] > 0 else float("inf")
        rows = [
            ("", "hw", "para"),
            ("retired instructions", f"{hw['retired']:,}", f"{para['retired']:,}"),
            ("compile time (s)", "-", f"{para.get('compile_seconds', 0):.3f} ({para.get('cache', '-')})"),
            ("run time (s)", f"{hw['run_seconds']:.6f}", f"{para['run_seconds']:.6f}"),
            ("guest instructions/s", f"{ips(self.hw):,.0f}", f"{ips(self.para):,.0f}"),
            ("speedup (run time)", "1.0x", f"{speedup:,.1f}x"),
            ("VM exits", f"{hw['vm_exits']:,}", f"{para['vm_exits']:,}"),
            ("hypercalls", f"{hw['hypercalls']:,}", f"{para['hypercalls']:,}"),
            ("run by the interpreter", f"{hw['retired']:,}", f"{para.get('hw_instructions', 0):,}"),
        ]
        width = max(len(r[0]) for r in rows)
        lines = [f"{r[0]:<{width}}  {r[1]:>22}  {r[2]:>22}" for r in rows]
        outcome = self.hw.outcome
        result = f"trap {outcome.trap.name}" if outcome.trap else f"exit {outcome.exit}"
        if self.same:
            lines.append(f"identical: output, {result}, pc, registers, memory and instruction count")
        else:
            lines.append("DIFFERENT: " + ", ".join(self.differences))
            if self.para.outcome.trap is not None and self.para.outcome.trap.name == "UNSUPPORTED":
                lines.append(f"  para refused the program: {self.para.outcome.detail}")
            a, b = self.hw.state(), self.para.state()
            for key in self.differences:
                if key in a:
                    lines.append(f"  {key}: hw {a[key]!r} / para {b[key]!r}")
        return "\n".join(lines)


def compare_file(image: Image, isa: InstructionSet, *, mem_size: int = DEFAULT_MEMORY, fuel: int | None = None,
                 stdin: bytes = b"") -> Comparison:
    """Run hw, then para, on the same input, each with its output captured."""
    runs = [run_image(image, mode, isa=isa, mem_size=mem_size, fuel=fuel, stdin=stdin, capture=True)
            for mode in ("hw", "para")]
    return Comparison(*runs)
