"""Delta debugging of a disagreement: drop blocks, then lines, then simplify values, keeping each change
only while the program still assembles and the same engine still disagrees with hw."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.assembler import AssemblyError
from vm.fuzz.check import check
from vm.fuzz.generate import Program

# A number in an operand, not part of a register or label name.
_NUMBER = re.compile(r"(?<![\w.])-?(?:0x[0-9a-fA-F]+|\d+(?:\.\d*)?(?:e-?\d+)?)(?![\w.])")
_SIMPLER = ("0", "1", "-1")


def ddmin(items: list, still_fails: Callable[[list], bool], spent: Callable[[], bool]) -> list:
    """Drop chunks of `items`, halving the chunk size, while `still_fails(rest)`, until `spent()`."""
    chunk = max(1, len(items) // 2)
    while items and not spent():
        k = 0
        while k < len(items) and not spent():
            rest = items[:k] + items[k + chunk:]
            if still_fails(rest):
                items = rest
            else:
                k += chunk
        if chunk == 1:
            break
        chunk //= 2
    return items


class Shrinker:
    """Reduces a program that makes `engine` disagree with hw, within a budget of runs and seconds."""

    def __init__(self, isa: InstructionSet, engine: str, *, max_tests: int = 400, max_seconds: float = 120.0) -> None:
        self.isa = isa
        self.engine = engine
        self.tests = 0
        self.max_tests = max_tests
        self.deadline = time.monotonic() + max_seconds

    def _spent(self) -> bool:
        return self.tests >= self.max_tests or time.monotonic() > self.deadline

    def disagrees(self, program: Program) -> bool:
        """The program assembles and `engine` still disagrees with hw."""
        self.tests += 1
        try:
            verdict = check(program, self.isa, ("hw", self.engine))
        except AssemblyError:
            return False
        return self.engine in verdict.differences

    def _ddmin(self, items: list, rebuild: Callable[[list], Program]) -> list:
        """Drop chunks of `items` while `rebuild(rest)` still disagrees."""
        return ddmin(items, lambda rest: self.disagrees(rebuild(rest)), self._spent)

    def shrink(self, program: Program) -> Program:
        """The smallest program found that still disagrees (the program itself if none is smaller)."""
        blocks = self._ddmin(program.blocks, lambda rest: replace(program, blocks=rest))
        program = replace(program, blocks=blocks)
        functions = self._ddmin(program.functions, lambda rest: replace(program, functions=rest))
        program = replace(program, functions=functions)
        lines = self._ddmin([[line] for block in program.blocks for line in block],
                            lambda rest: replace(program, blocks=rest))
        program = replace(program, blocks=lines)
        for k in range(len(program.functions)):
            program = self._shrink_function(program, k)
        for change in ({"data": bytes(len(program.data))}, {"stdin": b""}):
            candidate = replace(program, **change)
            if not self._spent() and self.disagrees(candidate):
                program = candidate
        return self._simplify_values(program)

    def _shrink_function(self, program: Program, k: int) -> Program:
        """The body of function k shrunk; its label and return stay."""
        label, *body, ret = program.functions[k]

        def with_body(rest: list[str]) -> Program:
            return replace(program, functions=[*program.functions[:k], [label, *rest, ret], *program.functions[k + 1:]])

        return with_body(self._ddmin(body, with_body))

    def _simplify_values(self, program: Program) -> Program:
        """Each number in each line, tried as 0, 1 and -1."""
        for k in range(len(program.blocks)):
            for j in range(len(program.blocks[k])):
                line = program.blocks[k][j]
                for match in reversed(list(_NUMBER.finditer(line.partition(" ")[2]))):
                    start = len(line.partition(" ")[0]) + 1 + match.start()
                    for simpler in _SIMPLER:
                        if self._spent() or match.group() in _SIMPLER:
                            break
                        new = line[:start] + simpler + line[start + len(match.group()):]
                        candidate = replace(program, blocks=[*program.blocks[:k],
                                                             [*program.blocks[k][:j], new, *program.blocks[k][j + 1:]],
                                                             *program.blocks[k + 1:]])
                        if self.disagrees(candidate):
                            program, line = candidate, new
                            break
        return program
