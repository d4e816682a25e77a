"""`vm debug` of a vm64 program: a debugger on hw that can also run backwards.

RecordingHw runs hw's own handlers, generated from the same descriptions with a prologue
(`recording_source`: no wrapper, no extra call) that, before the instruction runs, stops it at a
breakpoint or where a watch or a step's condition says, and otherwise saves what it can change: the
registers its description assigns, the bytes each store overwrites (every store asks `forget` first,
as stores into code do), the memory a hypercall is about to write, and the input position. Undoing
an instruction puts them back. Output already written stays written; input given whole (`--stdin`) is read again.

Vm64Session is vm64's target of the shared Session (vm/debugger/session.py): registers r0..r15 and
f0..f15, vm64's disassembly and source lines, and its call convention (a call pushes its return address).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.disassembler import Disassembler
from vm.arch.vm64.image import Image
from vm.arch.vm64.model import WORD
from vm.debugger.session import DebugError, Session, parse_number
from vm.engines.hw import HandlerFactories, HwEngine, HwLowering, handler_namespace, handler_source
from vm.isa import Kind
from vm.isa.semantics import FIXED_FLOAT, FIXED_INT
from vm.machine import Machine, Outcome
from vm.monitor.cage import Limits
from vm.monitor.host import WRITES_MEMORY, Host
from vm.monitor.monitor import Monitor
from vm.run import RunResult, outcome_message
from vm.trace import describe


class _Stop(Exception):
    """Raised from inside a run where a breakpoint, a watch or a step's condition says so."""

    def __init__(self, pc: int, reason: str = "") -> None:
        super().__init__(reason)
        self.pc, self.reason = pc, reason


RECORD = 5  # items of the undo log per instruction (RecordingHw.undo)


class RecordingHw(HwEngine):
    """hw whose handlers record, before each instruction runs, how to undo it."""

    def __init__(self, isa: InstructionSet, machine: Machine, monitor: Monitor, host: Host) -> None:
        super().__init__(isa, machine, monitor)
        self.host = host
        self.code_end = [1 << 64]  # every store calls forget() first: the memory log takes the old bytes
        self.decoded_end = 0  # where decoded instructions end: a store below it drops their handlers
        # Per instruction that began, RECORD items: its pc, the memory log's length before it ran,
        # the input consumed before it or -1, the registers it writes (16 + n for fn) and their values
        # before it ran (one value, or a tuple of them). Flat: no object per instruction for a
        # garbage collection to walk.
        self.undo: list = []
        self.memory_log: list = []  # flat too: an address, then the bytes there before a change, ...
        self.breakpoints: set[int] = set()  # addresses
        self.hook: list[Callable[[int], bool] | None] = [None]  # before each instruction: stop here?
        namespace = handler_namespace() | {
            "LOG": self.undo.extend, "MEMLOG": self.memory_log, "BP": self.breakpoints, "HOOK": self.hook,
            "POS": host.input_consumed, "HC": self._hypercall_memory, "Stop": _Stop}
        self.factories = HandlerFactories(isa, recording_source, namespace, "debug")  # hw's, with a prologue
        monitor.memory_written = self._drop_decoded

    def install(self, pc: int) -> None:
        super().install(pc)
        self.decoded_end = max(self.decoded_end, pc + self.isa.by_opcode[self.machine.mem[pc]].size)

    def forget(self, addr: int) -> None:
        start = addr & ~7
        self.memory_log += start, self.machine.mem[start : start + WORD]  # a copy: a bytearray's slice
        if addr < self.decoded_end:
            super().forget(addr)

    def _hypercall_memory(self, number: int) -> None:
        """Before hypercall `number` runs: the guest memory it will write, if it writes any."""
        written = WRITES_MEMORY.get(number)
        if written:
            regs, mem = self.machine.regs, self.machine.mem
            lo, length = regs[written[0]], regs[written[1]]
            if 0 <= lo and 0 < length and lo + length <= len(mem):
                self.memory_log += lo, mem[lo : lo + length]

    def _drop_decoded(self, lo: int, hi: int) -> None:
        for addr in range(max(lo & ~7, 0), min(hi, self.decoded_end), WORD):
            super().forget(addr)

    @property
    def records(self) -> int:
        """How many instructions have begun (and can be undone, but for one that trapped)."""
        return len(self.undo) // RECORD

    def discard_unretired(self, count: int) -> None:
        """Forget the last `count` records: instructions that began but trapped, changing nothing."""
        for _ in range(count):
            mark = self.undo[-RECORD + 1]
            del self.undo[-RECORD:], self.memory_log[mark:]

    def step_back(self) -> None:
        """Undo the last retired instruction."""
        pc, memory_mark, input_position, written, saved = self.undo[-RECORD:]
        del self.undo[-RECORD:]
        regs, fregs = self.machine.regs, self.machine.fregs
        for n, value in zip(written, (saved,) if len(written) == 1 else saved, strict=True):
            if n < 16:
                regs[n] = value
            else:
                fregs[n - 16] = value
        mem = self.machine.mem
        while len(self.memory_log) > memory_mark:
            old, start = self.memory_log.pop(), self.memory_log.pop()
            mem[start : start + len(old)] = old
            self._drop_decoded(start, start + len(old))
        if input_position >= 0:
            self.host.rewind_input(input_position)
        self.machine.pc = pc
        self.machine.retired -= 1


def recording_source(ins, no_base: bool, static_target: bool) -> str:
    """hw's handler factory for `ins` with the debugger's prologue (the registers saved are the ones
    its description assigns, plus r0 for a hypercall: as the trace shows them)."""
    lowering = HwLowering(ins, no_base, static_target)
    assigned = ins.semantics.assigned
    names = [op.name for op in ins.operands if op.kind in (Kind.REG, Kind.FREG) and op.name in assigned]
    names += sorted(assigned & (FIXED_INT.keys() | FIXED_FLOAT.keys()))
    if "hypercall" in ins.semantics.effects:
        names.append("r0")
    indices, values = [], []
    for name in dict.fromkeys(names):
        value = lowering.operand(name)  # R[A], F[B], R[15]...
        values.append(value)
        inner = value[2:-1]
        indices.append(inner if value[0] == "R" else f"16 + {inner}")
    reads_input = bool(ins.semantics.effects & {"port_in", "hypercall"})
    lines = handler_source(ins, no_base, static_target).splitlines()
    prologue = ["        if pc in BP: raise Stop(pc, 'breakpoint')",
                "        if HOOK[0] is not None and HOOK[0](pc): raise Stop(pc, 'check')"]
    saved = values[0] if len(values) == 1 else f"({', '.join(values)}{',' if values else ''})"
    prologue.append(f"        LOG((pc, len(MEMLOG), {'POS()' if reads_input else '-1'}, WRITTEN, {saved}))")
    if "hypercall" in ins.semantics.effects:  # after LOG: the memory log's mark is from before it
        prologue.append("        HC(I)")
    written = f"    WRITTEN = ({', '.join(indices)}{',' if len(indices) == 1 else ''})"
    return "\n".join([lines[0], written, lines[1], *prologue, *lines[2:]]) + "\n"


class Vm64Session(Session):
    """A vm64 program under the debugger, on RecordingHw."""

    register_names = [f"r{i}" for i in range(16)] + [f"f{i}" for i in range(16)] + ["sp", "pc"]
    register_help = "r0..r15, f0..f15, sp"

    def __init__(self, image: Image, isa: InstructionSet, mem_size: int, stdin: bytes, out: TextIO,
                 capture: bool = False) -> None:
        super().__init__(out)
        self.image, self.isa = image, isa
        self.machine = Machine.load(image, mem_size)
        self.host = Host(stdin=stdin, capture=capture)  # the guest's output: the terminal's, or kept
        self.monitor = Monitor(self.machine, self.host)
        self.engine = RecordingHw(isa, self.machine, self.monitor, self.host)
        self.disassembler = Disassembler(image, isa)

    # -- the machine -----------------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.machine.pc

    @property
    def symbols(self) -> dict[str, int]:
        return self.image.symbols

    def stack_pointer(self) -> int:
        return self.machine.regs[15]

    def register(self, name: str) -> tuple[Callable[[], object], bool] | None:
        regs, fregs = self.machine.regs, self.machine.fregs
        if name == "sp":
            return (lambda: regs[15]), False
        if len(name) > 1 and name[0] in "rf" and name[1:].isdigit() and int(name[1:]) < 16:
            n = int(name[1:])
            return ((lambda: regs[n]), False) if name[0] == "r" else ((lambda: fregs[n]), True)
        return None

    def readable(self, address: int, size: int) -> int:
        return max(min(size, self.machine.mem_size - address), 0) if address >= 0 else 0

    def read_memory(self, address: int, size: int) -> bytes:
        if address < 0 or address + size > self.machine.mem_size:
            raise DebugError(f"{address:#x} is outside guest memory (0 to {self.machine.mem_size:#x})")
        return bytes(self.machine.mem[address : address + size])

    def flush_output(self) -> None:
        self.host.flush()

    # -- running ---------------------------------------------------------------------------------------
    def execute(self, fuel: int, check: Callable[[int], bool] | None, breakpoints: set[int]
                ) -> tuple[Outcome | None, bool]:
        engine, machine = self.engine, self.machine
        engine.hook[0] = check
        engine.breakpoints.clear()
        base, logged = machine.retired, engine.records
        at_breakpoint = False
        try:
            outcome = engine.run(1)  # the instruction it stands at runs, even where a breakpoint is
            if outcome is None and fuel > 1:
                engine.breakpoints.update(breakpoints)
                outcome = engine.run(fuel - 1)
        except _Stop as stop:
            machine.retired = base + engine.records - logged
            machine.pc = stop.pc
            outcome = None
            at_breakpoint = stop.reason == "breakpoint"
        finally:
            engine.hook[0] = None
            engine.breakpoints.clear()
        engine.discard_unretired(engine.records - logged - (machine.retired - base))
        return outcome, at_breakpoint

    def interrupt(self) -> None:
        self.engine.hook[0] = lambda pc: True

    def ending(self, outcome: Outcome) -> str:
        message = outcome_message(RunResult(outcome, self.machine, "hw", None), Limits())
        return message.removeprefix("vm: ") if message else f"exited with status {outcome.exit}"

    def call_return(self, pc: int) -> int | None:
        ins = self._instruction_at(pc)
        return pc + ins.size if ins is not None and ins.flow == "call" else None

    def finish_check(self) -> Callable[[int], bool]:
        sp, previous = self.machine.regs[15], [None]

        def returned(pc: int) -> bool:  # before each instruction: the one before it returned past sp
            ins = self._instruction_at(previous[0]) if previous[0] is not None else None
            previous[0] = pc
            return ins is not None and ins.flow == "return" and self.machine.regs[15] > sp

        return returned

    def undoable(self) -> int:
        return self.engine.records

    def go_back(self, count: int) -> None:
        for _ in range(count):
            self.engine.step_back()

    def back_to(self, stop_here: Callable[[], bool]) -> bool:
        while self.engine.undo:
            self.engine.step_back()
            if stop_here():
                return True
        return False

    # -- what it shows -----------------------------------------------------------------------------------
    def regs(self, args: list[str]) -> None:
        """regs: the integer registers."""
        r = self.machine.regs
        for row in range(0, 16, 4):
            self.say("  ".join(f"{'sp' if i == 15 else f'r{i}':>3} {r[i]:>20}" for i in range(row, row + 4)))
        self.say(f" pc {self.machine.pc:#x}  retired {self.machine.retired}")

    def floats(self, args: list[str]) -> None:
        """floats: the float registers."""
        f = self.machine.fregs
        for row in range(0, 16, 4):
            self.say("  ".join(f"f{i:<2} {f[i]!r:>22}" for i in range(row, row + 4)))

    def backtrace(self, args: list[str]) -> None:
        """backtrace: where it is, then each return address on the guest's stack, innermost first."""
        self.say(f"#0  {self.place(self.machine.pc)}")
        mem, sp = self.machine.mem, self.machine.regs[15]
        depth = 1
        for slot in range(max(sp, 0) & ~7, self.machine.mem_size - WORD + 1, WORD):
            back = struct.unpack_from("<Q", mem, slot)[0]
            call = self._call_before(back)
            if call is not None:
                self.say(f"#{depth}  {back:#x} in {self._label(call)}, back from the call at {call:#x} "
                         f"(stack {slot:#x})")
                depth += 1

    def _call_before(self, back: int) -> int | None:
        """The address of the call whose return address `back` is, if the word there is one."""
        for size in (WORD, 2 * WORD):
            ins = self._instruction_at(back - size)
            if ins is not None and ins.flow == "call" and ins.size == size and back - size < self.image.text_end:
                return back - size
        return None

    def _label(self, address: int) -> str:
        """label+offset of the function an address is in (the nearest label at or before it)."""
        named = [(a, n) for n, a in self.image.symbols.items() if a <= address and a < self.image.text_end]
        if not named:
            return f"{address:#x}"
        start, name = max(named)
        return name if start == address else f"{name}+{address - start:#x}"

    def disasm(self, args: list[str]) -> None:
        """disasm [N]: N instructions around pc (default 5 each side)."""
        around = parse_number(args[0], "disasm takes a number") if args else 5
        pc = self.machine.pc
        for address in range(max(pc - 8 * around, 0x1000), pc + 8 * around + 8, WORD):
            if address + WORD > self.machine.mem_size:
                break
            mark = "=>" if address == pc else "  "
            self.say(f"{mark} {self.place(address)}")

    def list(self, args: list[str]) -> None:
        """list: the source lines around pc."""
        info = self.image.line_at(self.machine.pc)
        if info is None:
            raise DebugError(f"no source line for {self.machine.pc:#x}")
        lines = sorted({(i.line, i.text) for i in self.image.lines})
        for number, text in lines:
            if abs(number - info.line) <= 3:
                self.say(f"{'=>' if number == info.line else '  '} {number:>4}  {text}")

    # -- places ------------------------------------------------------------------------------------------
    def place(self, address: int) -> str:
        try:
            text = describe(self.machine, self.isa, self.disassembler, address)[0].split(None, 2)
        except (KeyError, IndexError, ValueError):
            return f"{address:#x} (no instruction)"
        info = self.image.line_at(address)
        where = f" {self.image.source}:{info.line}:" if info else ""
        instruction = text[-1].strip() if len(text) == 3 else text[-1]
        if self.color:
            from vm.arch.vm64.asm.highlight import highlight

            instruction = highlight(instruction, self.isa)
        return f"{address:#x}{where} {instruction}"

    def _instruction_at(self, pc: int):
        if pc < 0x1000 or pc + WORD > self.machine.mem_size or pc & 7:
            return None
        return self.isa.by_opcode.get(self.machine.mem[pc])

    def location(self, text: str) -> int:
        if ":" in text:
            name, _, line = text.rpartition(":")
            number = parse_number(line, f"{text}: the line must be a number")
            found = [i.address for i in self.image.lines if i.line == number
                     and (Path(self.image.source).name == Path(name).name or self.image.source == name)]
            if not found:
                raise DebugError(f"no instruction on line {number} of {name}")
            return min(found)
        address = self.address(text)
        if address & 7 or not 0x1000 <= address < self.machine.mem_size:
            raise DebugError(f"{text} is not an instruction address (a multiple of 8 inside memory)")
        return address
