"""One generated program run in every engine asked for, and compared with hw on every observable."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.assembler import assemble
from vm.compare import Comparison, shown
from vm.fuzz.generate import FUZZ_MEMORY, Program
from vm.in_process import RunResult
from vm.isa import Trap
from vm.run import run_image

# What the ISA reference lets an engine refuse (trap UNSUPPORTED): code it did not translate, which a
# program meets by storing into its text or jumping outside it. Any other refusal is a disagreement.
ALLOWED_REFUSALS = ("into translated code", "outside the translated text", "whose literal lies beyond the text")
UP_TO_REFUSAL = ("pc", "retired", "r", "f", "mem_sha256")  # what a refusing engine must agree on until it refuses


@dataclass
class Verdict:
    """What one program did in each engine, and where an engine's answer is not hw's."""

    seed: int
    differences: dict[str, list[str]] = field(default_factory=dict)  # engine -> the observables that differ
    refusals: dict[str, str] = field(default_factory=dict)  # engine -> the allowed reason it gave
    answers: dict[str, dict] = field(default_factory=dict)  # engine -> its observables, in words
    seconds: dict[str, float] = field(default_factory=dict)  # engine -> wall time, compiling included
    compile_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return not self.differences


def answer(run: RunResult) -> dict:
    """A run's observables in words: what a person compares, and what JSON can hold."""
    state = run.state()
    out = {key: shown(key, value) for key, value in state.items()}
    out["stdout"] = shown("stdout", run.output.stdout)
    out["stderr"] = shown("stderr", run.output.stderr)
    if "input_consumed" in run.stats:
        out["input_consumed"] = run.stats["input_consumed"]
    if run.outcome.detail:
        out["detail"] = run.outcome.detail
    return out


def allowed_refusal(run: RunResult) -> bool:
    return run.outcome.trap is Trap.UNSUPPORTED and any(r in (run.outcome.detail or "") for r in ALLOWED_REFUSALS)


def check(program: Program, isa: InstructionSet, engines: tuple[str, ...]) -> Verdict:
    """Run the program in hw and the other engines; a difference in any observable is recorded."""
    image = assemble(program.source(), f"seed-{program.seed}.asm", isa)
    verdict = Verdict(program.seed)
    runs: dict[str, RunResult] = {}
    for engine in ("hw", *(e for e in engines if e != "hw")):
        start = time.perf_counter()
        try:
            runs[engine] = run_image(image, engine, isa=isa, mem_size=FUZZ_MEMORY, fuel=program.fuel,
                                     stdin=program.stdin, capture=True)
        except Exception as e:  # an engine's bug: a finding like any other, and the campaign goes on
            verdict.differences[engine] = ["crash"]
            verdict.answers[engine] = {"crash": f"{type(e).__name__}: {e}"}
            if engine == "hw":
                return verdict
            continue
        verdict.seconds[engine] = time.perf_counter() - start
        verdict.compile_seconds[engine] = runs[engine].stats.get("compile_seconds", 0.0)
        verdict.answers[engine] = answer(runs[engine])
    comparison = Comparison(runs)
    for engine, run in runs.items():
        if engine == "hw":
            continue
        if allowed_refusal(run):
            verdict.refusals[engine] = run.outcome.detail
            differences = _before_refusal(image, isa, program, run)
            if differences:
                verdict.differences[engine] = differences
            continue
        differences = comparison.differences(engine)
        if "input_consumed" in run.stats and run.stats["input_consumed"] != runs["hw"].stats["input_consumed"]:
            differences.append("input_consumed")
        if differences:
            verdict.differences[engine] = differences
    return verdict


def _before_refusal(image, isa: InstructionSet, program: Program, refused: RunResult) -> list[str]:
    """What differs between the refusing engine's state and hw's after as many instructions: a refusal
    leaves the machine as it was before the instruction it refused, so up to there they agree."""
    hw = run_image(image, "hw", isa=isa, mem_size=FUZZ_MEMORY, fuel=refused.outcome.retired, stdin=program.stdin,
                   capture=True)
    a, b = hw.state(), refused.state()
    streams = [name for name in ("stdout", "stderr") if getattr(hw.output, name) != getattr(refused.output, name)]
    return [f"{key} before the refusal" for key in streams + [k for k in UP_TO_REFUSAL if a[k] != b[k]]]
