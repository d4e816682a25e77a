"""`vm debug`: a debugger on hw that can also run backwards.

RecordingHw runs hw's own handlers, generated from the same descriptions with a prologue
(`recording_source`: no wrapper, no extra call) that, before the instruction runs, stops it at a
breakpoint or where a watch or a step's condition says, and otherwise saves what it can change: the
registers its description assigns, the bytes each store overwrites (every store asks `forget` first,
as stores into code do), the memory a hypercall is about to write, and the input position. Undoing
an instruction puts them back. Output already written stays written; input given whole (`--stdin`) is read again.

Session holds the breakpoints and watches and runs the commands; `main` is the terminal around it
(prompt_toolkit, with history and completion) or, with `-x FILE`, a script.
"""

from __future__ import annotations

import shlex
import signal
import struct
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.asm.disassembler import Disassembler
from vm.arch.vm64.asm.expr import ExprError, evaluate
from vm.arch.vm64.image import Image
from vm.arch.vm64.model import WORD
from vm.engines.hw import HwEngine, HwLowering, handler_namespace, handler_source, handler_variants
from vm.isa import Kind
from vm.isa.semantics import FIXED_FLOAT, FIXED_INT
from vm.machine import Machine, Outcome
from vm.monitor.cage import Limits
from vm.monitor.host import WRITES_MEMORY, Host
from vm.monitor.monitor import Monitor
from vm.run import RunResult, outcome_message
from vm.trace import describe

REGISTER_NAMES = [f"r{i}" for i in range(16)] + [f"f{i}" for i in range(16)] + ["sp", "pc"]


class DebugError(Exception):
    """A command that cannot be done: one line for the user."""


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
        self.factories = _RecordingFactories(isa, namespace)
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


class _RecordingFactories(dict):
    """hw's handler factories with a prologue: a breakpoint or the hook stops before the instruction,
    else its undo is logged. The handlers are hw's own source, so recording adds no call."""

    def __init__(self, isa: InstructionSet, namespace: dict) -> None:
        super().__init__()
        self.isa, self.namespace = isa, namespace

    def __missing__(self, key: tuple[int, bool, bool]) -> Callable:
        ins = self.isa.by_opcode[key[0]]
        for no_base, static_target in handler_variants(ins):
            source = recording_source(ins, no_base, static_target)
            exec(compile(source, f"<debug {ins.mnemonic}>", "exec"), self.namespace)
            self[ins.opcode, no_base, static_target] = self.namespace[f"make_{ins.mnemonic}"]
        return self[key]


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


class Session:
    """One guest under the debugger, and the commands a user gives it."""

    def __init__(self, image: Image, isa: InstructionSet, mem_size: int, stdin: bytes, out: TextIO,
                 capture: bool = False) -> None:
        self.image, self.isa, self.out = image, isa, out
        self.color = out.isatty()  # instructions highlighted as `vm disasm --color` does
        self.machine = Machine.load(image, mem_size)
        self.host = Host(stdin=stdin, capture=capture)  # the guest's output: the terminal's, or kept
        self.monitor = Monitor(self.machine, self.host)
        self.engine = RecordingHw(isa, self.machine, self.monitor, self.host)
        self.disassembler = Disassembler(image, isa)
        self.breakpoints: dict[int, int] = {}  # number -> address
        self.watches: dict[int, tuple[str, Callable[[], object]]] = {}  # number -> (what, value)
        self.numbers = 0
        self.ended: Outcome | None = None
        self.commands: dict[str, Callable[[list[str]], None]] = {
            "step": self.step, "s": self.step, "si": self.step, "stepi": self.step, "next": self.next,
            "n": self.next, "ni": self.next, "nexti": self.next, "continue": self.cont, "c": self.cont,
            "finish": self.finish, "break": self.add_break, "b": self.add_break, "delete": self.delete,
            "watch": self.watch, "info": self.info, "regs": self.regs, "floats": self.floats, "x": self.examine,
            "print": self.print, "p": self.print, "backtrace": self.backtrace, "bt": self.backtrace,
            "disasm": self.disasm, "list": self.list, "where": self.where_command,
            "reverse-step": self.reverse_step, "rs": self.reverse_step, "reverse-continue": self.reverse_continue,
            "rc": self.reverse_continue, "help": self.help, "h": self.help,
        }

    # -- running ---------------------------------------------------------------------------------------
    def command(self, line: str) -> bool:
        """Run one command line; False once the user asks to quit."""
        try:
            words = shlex.split(line)
        except ValueError as e:
            raise DebugError(str(e)) from None
        if not words:
            return True
        if words[0] in ("quit", "q", "exit"):
            return False
        if words[0].startswith("x/"):  # gdb's x/NF ADDR
            words = ["x", *words[1:2], *_gdb_format(words[0][2:])]
        handler = self.commands.get(words[0])
        if handler is None:
            raise DebugError(f"unknown command {words[0]!r}; `help` lists them")
        handler(words[1:])
        return True

    def _run(self, fuel: int, check: Callable[[int], bool] | None = None, breakpoints: bool = True) -> None:
        """Run up to `fuel` instructions, stopping before one where a breakpoint, a watch or `check` says."""
        if self.ended is not None:
            raise DebugError(f"the guest has ended ({self._ending()}); reverse-step to go back")
        watches = {n: value() for n, (_, value) in self.watches.items()}
        hits: list[str] = []

        def stop_here(pc: int) -> bool:
            for n, (what, value) in self.watches.items():
                now = value()
                if now != watches[n] and not (now != now and watches[n] != watches[n]):  # NaN stays NaN
                    hits.append(f"watch {n}: {what} {watches[n]!r} -> {now!r}")
                    watches[n] = now
            return bool(hits) or bool(check and check(pc))

        engine, machine = self.engine, self.machine
        engine.hook[0] = stop_here if (self.watches or check) else None
        engine.breakpoints.clear()
        base, logged = machine.retired, engine.records
        interrupted: list[bool] = []

        def interrupt(signum, frame) -> None:  # Ctrl-C, as in gdb: stop before the next instruction
            interrupted.append(True)
            engine.hook[0] = lambda pc: True

        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, interrupt) if on_main_thread else None
        sys.stdout.flush()
        try:
            outcome = engine.run(1)  # the instruction it stands at runs, even where a breakpoint is
            if outcome is None and fuel > 1:
                if breakpoints:
                    engine.breakpoints.update(self.breakpoints.values())
                outcome = engine.run(fuel - 1)
        except _Stop as stop:
            machine.retired = base + engine.records - logged
            machine.pc = stop.pc
            outcome = None
            if stop.reason == "breakpoint":
                number = next(n for n, a in self.breakpoints.items() if a == stop.pc)
                hits.insert(0, f"breakpoint {number}")  # said once the guest's output is out, after it
        finally:
            if on_main_thread:
                signal.signal(signal.SIGINT, previous)
            engine.hook[0] = None
            engine.breakpoints.clear()
            self.host.flush()
        engine.discard_unretired(engine.records - logged - (machine.retired - base))
        if interrupted and outcome is None:
            self.say("interrupted")
        for hit in hits:
            self.say(hit)
        if outcome is not None and not (outcome.trap is not None and outcome.trap.name == "FUEL"):
            self.ended = outcome
            self.say(self._ending())
        self.where()

    def _ending(self) -> str:
        message = outcome_message(RunResult(self.ended, self.machine, "hw", None), Limits())
        return message.removeprefix("vm: ") if message else f"exited with status {self.ended.exit}"

    # -- commands ----------------------------------------------------------------------------------------
    def step(self, args: list[str]) -> None:
        """step [N]: run N instructions (default 1)."""
        self._run(_count(args), breakpoints=False)

    def next(self, args: list[str]) -> None:
        """next [N]: as step, but a call runs until it returns."""
        for _ in range(_count(args)):
            ins = self._instruction_at(self.machine.pc)
            if ins is None or ins.flow != "call":
                self._run(1)
            else:
                self._run(1 << 62, self._returned_to(self.machine.pc + ins.size, self.machine.regs[15]))
            if self.ended is not None or self.machine.pc >> 3 in {a >> 3 for a in self.breakpoints.values()}:
                return

    def _returned_to(self, back: int, sp: int) -> Callable[[int], bool]:
        """A stop check: the call has returned (to `back`, its stack where it was)."""
        return lambda pc: pc == back and self.machine.regs[15] >= sp

    def cont(self, args: list[str]) -> None:
        """continue: run until a breakpoint, a watch or the end."""
        self._run(1 << 62)

    def finish(self, args: list[str]) -> None:
        """finish: run until the current function returns."""
        sp, previous = self.machine.regs[15], [None]

        def returned(pc: int) -> bool:  # before each instruction: the one before it returned past sp
            ins = self._instruction_at(previous[0]) if previous[0] is not None else None
            previous[0] = pc
            return ins is not None and ins.flow == "return" and self.machine.regs[15] > sp

        self._run(1 << 62, returned)

    def add_break(self, args: list[str]) -> None:
        """break LOC: stop before the instruction at LOC (a label, an address, or FILE:LINE)."""
        if len(args) != 1:
            raise DebugError("break takes one location: a label, 0xADDRESS or FILE:LINE")
        address = self._location(args[0])
        self.numbers += 1
        self.breakpoints[self.numbers] = address
        self.say(f"breakpoint {self.numbers} at {self._place(address)}")

    def delete(self, args: list[str]) -> None:
        """delete N: remove breakpoint or watch N."""
        for text in args or ["?"]:
            n = _number(text, "delete takes the number of a breakpoint or watch")
            if self.breakpoints.pop(n, None) is None and self.watches.pop(n, None) is None:
                raise DebugError(f"no breakpoint or watch {n}")

    def watch(self, args: list[str]) -> None:
        """watch rN | fN | ADDR: stop when the register or the memory word changes."""
        if len(args) != 1:
            raise DebugError("watch takes a register (r0..r15, f0..f15, sp) or a memory address")
        what = args[0]
        reg = _register(what)
        if reg is not None:
            registers, n = reg

            def value() -> object:
                return registers(self)[n]
        else:
            address = self._address(what)
            self._check_range(address, 8)

            def value() -> object:
                return struct.unpack_from("<q", self.machine.mem, address)[0]
            what = f"[{address:#x}]"
        self.numbers += 1
        self.watches[self.numbers] = (what, value)
        self.say(f"watch {self.numbers}: {what} = {value()!r}")

    def info(self, args: list[str]) -> None:
        """info break | watch | registers: list them (registers: as regs)."""
        if args[:1] in (["registers"], ["reg"], ["r"]):
            self.regs([])
        elif args[:1] in (["break"], ["b"], ["breakpoints"]):
            for n, address in sorted(self.breakpoints.items()):
                self.say(f"{n}: {self._place(address)}")
        elif args[:1] in (["watch"], ["watches"]):
            for n, (what, value) in sorted(self.watches.items()):
                self.say(f"{n}: {what} = {value()!r}")
        else:
            raise DebugError("info break, info watch or info registers")

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

    def examine(self, args: list[str]) -> None:
        """x ADDR [N] [x|d|b|s], or x/NF ADDR: N memory words in hex (default) or decimal, bytes, or a
        string of at most N bytes."""
        if not args:
            raise DebugError("x takes an address (a number, a label or a register), then a count and x, d, b or s")
        address = self._address(args[0])
        form = {"w": "x"}.get(args[2], args[2]) if len(args) > 2 else "x"
        count = _number(args[1], "the count must be a number") if len(args) > 1 else (256 if form == "s" else 1)
        mem = self.machine.mem
        if form in ("x", "d"):
            self._check_range(address, 8 * count)
            for i in range(count):
                a = address + 8 * i
                word = struct.unpack_from("<q" if form == "d" else "<Q", mem, a)[0]
                self.say(f"{a:#08x}: {word if form == 'd' else f'{word:#018x}'}")
        elif form == "b":
            self._check_range(address, count)
            self.say(f"{address:#08x}: {bytes(mem[address:address + count]).hex(' ')}")
        elif form == "s":
            self._check_range(address, 1)
            data = bytes(mem[address : min(address + count, len(mem))]).split(b"\0")[0]  # up to a NUL
            self.say(f"{address:#08x}: {data.decode('utf-8', 'replace')!r}")
        else:
            raise DebugError(f"x shows x (words in hex), d (words in decimal), b (bytes) or s (a string), not {form!r}")

    def print(self, args: list[str]) -> None:
        """print EXPR: a register, label or number, or arithmetic on them (r1 + 8, values+16)."""
        if not args:
            raise DebugError("print takes an expression: a register, a label, a number, or + - * / on them")
        text = " ".join(args)
        reg = _register(text)
        if reg is not None and reg[0] is _FLOATS:
            self.say(f"{text} = {self.machine.fregs[reg[1]]!r}")
            return

        def resolve(name: str, offset: int) -> int:
            if name == "pc":
                return self.machine.pc
            found = _register(name)
            if found is not None and found[0] is _INTS:
                return self.machine.regs[found[1]]
            if name in self.image.symbols:
                return self.image.symbols[name]
            raise ExprError(f"{name!r} is neither a register (r0..r15, sp, pc) nor a label", offset)

        try:
            value = evaluate(text, resolve)
        except ExprError as e:
            raise DebugError(str(e)) from None
        self.say(f"{text} = {value} ({value & (2**64 - 1):#x})")

    def backtrace(self, args: list[str]) -> None:
        """backtrace: where it is, then each return address on the guest's stack, innermost first."""
        self.say(f"#0  {self._place(self.machine.pc)}")
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
        around = _number(args[0], "disasm takes a number") if args else 5
        pc = self.machine.pc
        for address in range(max(pc - 8 * around, 0x1000), pc + 8 * around + 8, WORD):
            if address + WORD > self.machine.mem_size:
                break
            mark = "=>" if address == pc else "  "
            self.say(f"{mark} {self._place(address, 8)}")

    def list(self, args: list[str]) -> None:
        """list: the source lines around pc."""
        info = self.image.line_at(self.machine.pc)
        if info is None:
            raise DebugError(f"no source line for {self.machine.pc:#x}")
        lines = sorted({(i.line, i.text) for i in self.image.lines})
        for number, text in lines:
            if abs(number - info.line) <= 3:
                self.say(f"{'=>' if number == info.line else '  '} {number:>4}  {text}")

    def reverse_step(self, args: list[str]) -> None:
        """reverse-step [N]: undo N instructions (default 1)."""
        count = _count(args)
        if count > self.engine.records:
            done = self.engine.records
            raise DebugError(f"only {done} instructions have run; reverse-step {done} goes back to the start")
        for _ in range(count):
            self.engine.step_back()
        self.ended = None
        self.where()

    def reverse_continue(self, args: list[str]) -> None:
        """reverse-continue: undo back to the previous breakpoint or watch change, or to the start."""
        watches = {n: value() for n, (_, value) in self.watches.items()}
        stops = {a for a in self.breakpoints.values()}
        self.ended = None
        while self.engine.undo:
            self.engine.step_back()
            changed = [n for n, (_, value) in self.watches.items() if value() != watches[n]]
            if changed:
                for n in changed:
                    self.say(f"watch {n}: {self.watches[n][0]} {watches[n]!r} <- {self.watches[n][1]()!r}")
                break
            if self.machine.pc in stops:
                self.say(f"breakpoint {next(n for n, a in self.breakpoints.items() if a == self.machine.pc)}")
                break
        else:
            self.say("at the start")
        self.where()

    def help(self, args: list[str]) -> None:
        """help: this list."""
        names: dict[Callable, list[str]] = {}
        for name, handler in self.commands.items():
            names.setdefault(handler, []).append(name)
        for handler, aliases in names.items():
            if handler.__doc__:
                also = f"  [also {', '.join(aliases[1:])}]" if len(aliases) > 1 else ""
                self.say("  " + " ".join(handler.__doc__.split()) + also)
        self.say("  quit (q, exit): leave the debugger\n  Enter repeats the last command.\n"
                 "  Going back restores registers, memory and input; output already written stays written.")

    def where_command(self, args: list[str]) -> None:
        """where: the current instruction."""
        self.where()

    # -- places ------------------------------------------------------------------------------------------
    def where(self) -> None:
        self.say(self._place(self.machine.pc))

    def _place(self, address: int, width: int = 0) -> str:
        """`0x1040 fib.asm:12: add r1, r2, r3` for the instruction at `address` in live memory."""
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

    def _location(self, text: str) -> int:
        if ":" in text:
            name, _, line = text.rpartition(":")
            number = _number(line, f"{text}: the line must be a number")
            found = [i.address for i in self.image.lines if i.line == number
                     and (Path(self.image.source).name == Path(name).name or self.image.source == name)]
            if not found:
                raise DebugError(f"no instruction on line {number} of {name}")
            return min(found)
        address = self._address(text)
        if address & 7 or not 0x1000 <= address < self.machine.mem_size:
            raise DebugError(f"{text} is not an instruction address (a multiple of 8 inside memory)")
        return address

    def _address(self, text: str) -> int:
        if text in self.image.symbols:
            return self.image.symbols[text]
        reg = _register(text)
        if reg is not None and reg[0] is _INTS:
            return self.machine.regs[reg[1]] & (2**64 - 1)
        try:
            return int(text, 0)
        except ValueError:
            raise DebugError(f"{text!r} is neither a label, a register nor a number") from None

    def _check_range(self, address: int, size: int) -> None:
        if address < 0 or address + size > self.machine.mem_size:
            raise DebugError(f"{address:#x} is outside guest memory (0 to {self.machine.mem_size:#x})")

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _INTS(session: Session) -> list:
    return session.machine.regs


def _FLOATS(session: Session) -> list:
    return session.machine.fregs


def _register(text: str):
    """(getter of the register file, index) for r0..r15, sp or f0..f15; else None."""
    if text == "sp":
        return _INTS, 15
    if len(text) > 1 and text[0] in "rf" and text[1:].isdigit() and int(text[1:]) < 16:
        return (_INTS if text[0] == "r" else _FLOATS), int(text[1:])
    return None


def _number(text: str, message: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise DebugError(message) from None


def _gdb_format(spec: str) -> list[str]:
    """gdb's /NF of x as this x's [N] [F] (x/s ADDR, x/4x ADDR, x/8d ADDR)."""
    digits = spec[: len(spec) - len(spec.lstrip("0123456789"))]
    form = spec[len(digits):] or "x"
    return [digits or ("256" if form == "s" else "1"), form]


def _count(args: list[str]) -> int:
    count = _number(args[0], "the count must be a number") if args else 1
    if count < 1:
        raise DebugError("the count must be at least 1")
    return count


# -- the terminal ----------------------------------------------------------------------------------------
def run_script(session: Session, lines: list[str]) -> int:
    """Each line as a command, echoed after the prompt; a command that fails says why and the rest run."""
    status = 0
    for line in lines:
        session.say(f"(vm) {line}")
        try:
            if not session.command(line):
                break
        except DebugError as e:
            session.say(f"vm: {e}")
            status = 2
    return status


def run_terminal(session: Session) -> int:
    """The prompt: history in ~/.local/share/vm/debug_history, completion of commands, labels, registers."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    history_file = Path.home() / ".local" / "share" / "vm" / "debug_history"
    try:
        history_file.parent.mkdir(parents=True, exist_ok=True)
        history = FileHistory(str(history_file))
    except OSError:
        history = InMemoryHistory()
    words = sorted(set(session.commands) | {"quit"} | set(session.image.symbols) | set(REGISTER_NAMES))
    prompt = PromptSession(history=history, completer=WordCompleter(words, sentence=True))
    session.where()
    last = ""
    while True:
        try:
            line = prompt.prompt("(vm) ") or last  # Enter repeats the last command, as in gdb
            last = line
        except KeyboardInterrupt:  # as at gdb's prompt: a new line, not the end
            continue
        except EOFError:
            return 0
        try:
            if not session.command(line):
                return 0
        except DebugError as e:
            session.say(f"vm: {e}")
