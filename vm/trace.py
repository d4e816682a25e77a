"""`vm run --trace`: one line per retired instruction, with the registers it wrote.

The trace is hw's: a TracingHw wraps each instruction's handler as it is installed, so an untraced
instruction costs what it always does, and a traced one its handler plus a line. The line's text (pc,
source line, disassembly from the live memory, so self-modified code shows as it runs) is made once
per decoded instruction. In para and os, the instructions before the traced span and after it run in
that engine, and the span runs in hw from the exact state the engine left: the engines agree on the
state after every instruction, so the run ends as an untraced one would.

    1202  0x001040  fib.asm:12   add r1, r2, r3               r1=55

A RISC-V Linux executable is traced the same way by TracingRiscvCpu, its instructions named by function
and offset, its registers by their ABI names (f as their bits in hex), fcsr shown when it changed:

         6  0x0000010120  _start+0x14              fdiv.d fa2, fa0, fa1         fa2=0x4005555555555555 fcsr=0x01
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from vm.arch.riscv64.disassembler import Symbols, instruction_text
from vm.arch.riscv64.model import OperandKind, RvInstruction
from vm.arch.riscv64.registers import F_NAMES, SYSCALL_ARGS, X_NAMES
from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.disassembler import Disassembler
from vm.arch.vm64.encoding import decode_word, operand_values, with_literal
from vm.arch.vm64.image import Image
from vm.arch.vm64.model import WORD
from vm.engines.hw import HwEngine, JumpFault
from vm.engines.hw_riscv64 import RiscvCpu
from vm.isa import DEFAULT_FUEL, Kind, Trap
from vm.isa.semantics import FIXED_FLOAT, FIXED_INT
from vm.machine import Halted, Machine, Outcome, RiscvMachine, fuel_outcome
from vm.monitor.cage import Limits
from vm.monitor.host import Captured, Host
from vm.monitor.monitor import Monitor
from vm.run import RunResult, run_caged_machine, run_machine

HYPERCALL_RESULT = 0  # a hypercall's result register (docs/isa.md)
M64 = (1 << 64) - 1
FLUSH_LINES = 4096


@dataclass(frozen=True)
class TraceSpan:
    """Which instructions to trace, by number (the first retired is 1), and where the lines go."""

    out: TextIO
    first: int = 1
    last: int | None = None


def describe(machine: Machine, isa: InstructionSet, disassembler: Disassembler, pc: int
             ) -> tuple[str, list[tuple[str, int]]]:
    """The instruction at pc as the live memory has it, `0x001040  fib.asm:12  add r1, r2, r3` padded
    for a trace, and the registers it writes, as ("r" or "f", number)."""
    mem = machine.mem
    fields = decode_word(bytes(mem[pc : pc + WORD]))
    ins = isa.by_opcode[fields.opcode]
    if ins.size > WORD:
        fields = with_literal(fields, bytes(mem[pc + WORD : pc + 2 * WORD]))
    texts = disassembler.operand_texts(ins, fields) or []
    values = operand_values(ins, fields)
    assigned = ins.semantics.assigned
    writes = [("f" if op.kind is Kind.FREG else "r", values[op.name]) for op in ins.operands
              if op.kind in (Kind.REG, Kind.FREG) and op.name in assigned]
    writes += [("r", FIXED_INT[name]) for name in sorted(assigned & FIXED_INT.keys())]
    writes += [("f", FIXED_FLOAT[name]) for name in sorted(assigned & FIXED_FLOAT.keys())]
    if "hypercall" in ins.semantics.effects:
        writes.append(("r", HYPERCALL_RESULT))
    info = machine.image.line_at(pc)
    where = f"{machine.image.source}:{info.line}" if info else ""
    text = f"{ins.mnemonic} {', '.join(texts)}".strip()
    return f"{pc:#08x}  {where:<16} {text:<28}", list(dict.fromkeys(writes))


class _LineBuffer:
    """Trace lines gathered in a list and written FLUSH_LINES at a time: a traced instruction costs its
    handler, a number and a list append. Both tracers (vm64's hw and RISC-V's) keep theirs in one."""

    def __init__(self, out: TextIO, first: int) -> None:
        self.out = out
        self.numbers = itertools.count(first)  # the next traced instruction's number
        self.lines: list[str] = []

    def flush(self) -> None:
        if self.lines:
            self.out.write("\n".join(self.lines) + "\n")
            self.lines.clear()
        self.out.flush()


class TracingHw(HwEngine, _LineBuffer):
    """hw with a line written for every instruction it retires."""

    def __init__(self, isa: InstructionSet, machine: Machine, monitor, out: TextIO) -> None:
        HwEngine.__init__(self, isa, machine, monitor)
        _LineBuffer.__init__(self, out, machine.retired + 1)
        self.disassembler = Disassembler(machine.image, isa)

    def install(self, pc: int) -> None:
        super().install(pc)
        w = pc >> 3
        table = self.monitor_handlers if w in self.monitor_handlers else self.handlers
        text, writes = describe(self.machine, self.isa, self.disassembler, pc)
        table[w] = self._traced(table[w], text, writes)

    def _traced(self, handler: Callable[[], int], prefix: str, writes: list[tuple[str, int]]) -> Callable[[], int]:
        lines, flush, numbers = self.lines, self.flush, self.numbers
        line = self._line_maker(prefix, writes)
        append = lines.append

        def traced() -> int:
            try:
                following = handler()
            except (Halted, JumpFault):  # the instruction retired; the run stops or faults after it
                append(line(next(numbers)))
                raise
            append(line(next(numbers)))
            if len(lines) >= FLUSH_LINES:
                flush()
            return following

        return traced

    def _line_maker(self, prefix: str, writes: list[tuple[str, int]]) -> Callable[[int], str]:
        """A function of the instruction's number that gives its line (the usual shapes made fast)."""
        regs, fregs = self.machine.regs, self.machine.fregs
        shown = " ".join(f"{kind}{n}=%{'d' if kind == 'r' else 'r'}" for kind, n in writes)
        template = f"%10d  {prefix} {shown}" if writes else f"%10d  {prefix}".rstrip()
        if not writes:
            return template.__mod__
        if len(writes) == 1:
            kind, n = writes[0]
            values = regs if kind == "r" else fregs
            return lambda number: template % (number, values[n])
        sources = [(regs if kind == "r" else fregs, n) for kind, n in writes]
        return lambda number: template % (number, *[values[n] for values, n in sources])


def run_traced(image: Image, mode: str, isa: InstructionSet, mem_size: int, fuel: int | None, span: TraceSpan, *,
               limits: Limits | None = None, stdin: bytes | None = None, capture: bool = False) -> RunResult:
    """Run to the end with the span traced: its instructions in hw, the others in `mode`."""
    machine = Machine.load(image, mem_size)
    budget = DEFAULT_FUEL if fuel is None else fuel
    if mode == "os" and stdin is None:
        stdin = sys.stdin.buffer.read()  # each segment takes up the input where the last one left it
    run = _Segments(machine, mode, isa, limits, stdin, capture)
    before = min(span.first - 1, budget)
    traced = budget - before if span.last is None else min(max(span.last - before, 0), budget - before)
    try:
        outcome = run.engine(before)
        if outcome is None:
            outcome = run.hw(traced, span.out)
        if outcome is None:
            outcome = run.engine(budget - before - traced)
    finally:
        run.close()
    return RunResult(outcome or fuel_outcome(machine), machine, mode, run.captured(), run.stats)


class _Segments:
    """The parts of a traced run, one after the other on one machine; each returns None when it
    stopped at its budget, with more to run."""

    def __init__(self, machine: Machine, mode: str, isa: InstructionSet, limits: Limits | None,
                 stdin: bytes | None, capture: bool) -> None:
        self.machine, self.mode, self.isa, self.limits, self.capture = machine, mode, isa, limits, capture
        self.stdin, self.consumed = stdin, 0
        self.output: list[Captured] = []
        self.stats: dict = {"engine": mode, "retired": 0, "run_seconds": 0.0, "vm_exits": 0, "hypercalls": 0}
        self.host = None if mode == "os" else Host(stdin=stdin, capture=capture)

    def engine(self, fuel: int) -> Outcome | None:
        if fuel == 0:
            return None
        start = self.machine.retired
        if self.mode == "os":
            result = run_caged_machine(self.machine, "os", self.isa, fuel, stdin=self.stdin[self.consumed:],
                                       capture=self.capture, limits=self.limits)
            self.consumed += result.stats.get("input_consumed", 0)
            if result.output is not None:
                self.output.append(result.output)
        else:
            result = run_machine(self.machine, self.mode, self.isa, fuel, self.host)
        self._add(result.stats)
        return self._ended(result.outcome, start + fuel)

    def hw(self, fuel: int, out: TextIO) -> Outcome | None:
        if fuel == 0:
            return None
        host = self.host or Host(stdin=self.stdin[self.consumed:], capture=self.capture)
        monitor = Monitor(self.machine, host)
        engine = TracingHw(self.isa, self.machine, monitor, out)
        monitor.memory_written = engine.forget_range
        start = self.machine.retired
        try:
            outcome = engine.run(fuel) or fuel_outcome(self.machine)
        finally:
            engine.flush()
            host.flush()
        self.stats["vm_exits"] += monitor.vm_exits
        self.stats["traced"] = self.machine.retired - start
        if self.host is None:  # os: this host serves the span alone
            self.consumed += host.input_consumed()
            if self.capture:
                self.output.append(host.captured())
            self.stats["hypercalls"] += host.hypercalls
            host.close()
        return self._ended(outcome, start + fuel)

    def _ended(self, outcome: Outcome, target: int) -> Outcome | None:
        self.stats["retired"] = self.machine.retired
        if outcome.trap is Trap.FUEL and outcome.limit is None and self.machine.retired == target:
            return None
        return outcome

    def _add(self, stats: dict) -> None:
        counted = ("run_seconds", "compile_seconds", "vm_exits") + (("hypercalls",) if self.mode == "os" else ())
        for key in counted:  # in this process, the one host counts the hypercalls of every part
            if key in stats:
                self.stats[key] = self.stats.get(key, 0) + stats[key]
        for key in ("cache", "cage"):
            if key in stats:
                self.stats[key] = stats[key]

    def close(self) -> None:
        if self.host is not None:
            self.host.flush()
            if self.capture:
                self.output.append(self.host.captured())
            self.stats["hypercalls"] += self.host.hypercalls
            self.host.close()

    def captured(self) -> Captured | None:
        if not self.capture:
            return None
        return Captured(b"".join(c.stdout for c in self.output), b"".join(c.stderr for c in self.output))


# -- RISC-V ----------------------------------------------------------------------------------------------
def riscv_writes(ins: RvInstruction, values: dict[str, int]) -> list[tuple[str, int]]:
    """The registers an instruction writes, as ("x" or "f", number): its assigned rd or fd (x0 never
    changes), and a0 for ecall, which the system call's result goes to."""
    assigned = ins.semantics.assigned
    writes = [("x" if op.kind is OperandKind.X else "f", values[op.name]) for op in ins.operands
              if op.name in assigned and op.kind in (OperandKind.X, OperandKind.F)]
    if "syscall" in ins.semantics.effects:
        writes.append(("x", SYSCALL_ARGS[0]))
    return [w for w in dict.fromkeys(writes) if w != ("x", 0)]


class TracingRiscvCpu(RiscvCpu, _LineBuffer):
    """RISC-V hw with a line written for every instruction it retires: each handler is wrapped as it is
    installed (a counter read's real handler too), so the line's text is made once per decoded pc."""

    def __init__(self, machine: RiscvMachine, syscall: Callable[[list[int]], None], out: TextIO,
                 symbols: Symbols) -> None:
        RiscvCpu.__init__(self, machine, syscall)
        _LineBuffer.__init__(self, out, machine.retired + 1)
        self.symbols = symbols

    def wrap(self, pc: int, ins: RvInstruction, values: dict[str, int], handler: Callable[[], int]) -> Callable:
        prefix = f"{pc:#012x}  {self.symbols.at(pc) or '':<24} {instruction_text(ins, values, pc):<28}"
        fcsr = bool(ins.semantics.effects & {"fp", "csr_write"})
        return self._traced(handler, prefix, riscv_writes(ins, values), fcsr)

    def _traced(self, handler: Callable[[], int], prefix: str, writes: list[tuple[str, int]],
                shows_fcsr: bool) -> Callable[[], int]:
        lines, flush, numbers, fcsr = self.lines, self.flush, self.numbers, self.fcsr
        line = self._line_maker(prefix, writes)
        head = f"%10d  {prefix}"
        bare = head.rstrip().__mod__

        def traced() -> int:
            try:
                following = handler()
            except Halted:  # exit: the ecall retired and wrote nothing
                lines.append(bare(next(numbers)))
                raise
            lines.append(line(next(numbers)))
            if len(lines) >= FLUSH_LINES:
                flush()
            return following

        if not shows_fcsr:
            return traced

        def traced_fcsr() -> int:
            before = fcsr[1] << 5 | fcsr[0]
            following = handler()
            number, after = next(numbers), fcsr[1] << 5 | fcsr[0]
            if after == before:
                lines.append(line(number))
            else:
                lines.append(f"{line(number) if writes else head % number} fcsr={after:#04x}")
            if len(lines) >= FLUSH_LINES:
                flush()
            return following

        return traced_fcsr

    def _line_maker(self, prefix: str, writes: list[tuple[str, int]]) -> Callable[[int], str]:
        """A function of the instruction's number that gives its line: x in decimal, f as 16 hex digits."""
        x, f = self.machine.x, self.machine.f
        shown = " ".join(f"{X_NAMES[n]}=%d" if kind == "x" else f"{F_NAMES[n]}=0x%016x" for kind, n in writes)
        template = f"%10d  {prefix} {shown}" if writes else f"%10d  {prefix}".rstrip()
        if not writes:
            return template.__mod__
        sources = [(x, n, -1) if kind == "x" else (f, n, M64) for kind, n in writes]
        if len(sources) == 1:
            values, n, mask = sources[0]
            return lambda number: template % (number, values[n] & mask)
        return lambda number: template % (number, *[values[n] & mask for values, n, mask in sources])


def run_riscv_traced(machine: RiscvMachine, syscall: Callable[[list[int]], None], fuel: int | None,
                     span: TraceSpan, symbols: Symbols) -> tuple[Outcome | None, int]:
    """Run a RISC-V machine on with the span traced, the instructions before and after it at hw's full
    speed: (the outcome, None if the budget ran out; how many instructions were traced).

    Each part has a CPU of its own, the span's one wrapping its handlers; a new CPU decodes afresh, so
    the one before it, dropped, leaves nothing stale behind."""
    budget = DEFAULT_FUEL if fuel is None else fuel
    before = min(max(span.first - 1 - machine.retired, 0), budget)
    if span.last is None:
        count = budget - before
    else:
        count = min(max(span.last - machine.retired - before, 0), budget - before)
    outcome = RiscvCpu(machine, syscall).run(before) if before else None
    traced = 0
    if outcome is None and count:
        cpu = TracingRiscvCpu(machine, syscall, span.out, symbols)
        start = machine.retired
        try:
            outcome = cpu.run(count)
        finally:
            cpu.flush()
            traced = machine.retired - start
    rest = budget - before - count
    if outcome is None and rest:
        outcome = RiscvCpu(machine, syscall).run(rest)
    return outcome, traced
