"""`vm debug`: a debugger on hw that can also run backwards.

RecordingHw wraps each instruction's handler as it is installed (as the tracer does) so that, before
the instruction runs, it saves what the instruction can change: the registers its description
assigns, the bytes each store overwrites (every store asks `forget` first, as stores into code do),
the memory a hypercall is about to write, and the input position. Undoing an instruction puts them
back. Output already written stays written; input given whole (`--stdin`) is read again.

Session holds the breakpoints and watches and runs the commands; `main` is the terminal around it
(prompt_toolkit, with history and completion) or, with `-x FILE`, a script.
"""

from __future__ import annotations

import gc
import shlex
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from vm.asm.disassembler import Disassembler
from vm.engines.hw import HwEngine, JumpFault
from vm.image import Image
from vm.isa import InstructionSet
from vm.isa.encoding import decode_word, operand_values
from vm.isa.model import WORD
from vm.machine import GuestTrap, Halted, Machine, Outcome
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


class RecordingHw(HwEngine):
    """hw that records, for every instruction it retires, how to undo it."""

    def __init__(self, isa: InstructionSet, machine: Machine, monitor: Monitor, host: Host) -> None:
        super().__init__(isa, machine, monitor)
        self.host = host
        self.code_end = [1 << 64]  # every store calls forget() first: the memory log takes the old bytes
        self.decoded_end = 0  # where decoded instructions end: a store below it drops their handlers
        # Per retired instruction: (its pc // 8, the registers it writes, their values before it ran, the
        # memory log's length before it ran, the input consumed before it ran or -1). Tuples: cheap to make.
        self.undo: list[tuple] = []
        self.memory_log: list[tuple[int, bytes]] = []
        self.disassembler = Disassembler(machine.image, isa)
        self.breakpoints: set[int] = set()  # word indices
        self.check: Callable[[int, object], str | None] | None = None  # after each instruction: stop why?
        monitor.memory_written = self._drop_decoded

    def install(self, pc: int) -> None:
        super().install(pc)
        ins = self.isa.by_opcode[self.machine.mem[pc]]  # decoded just now: the opcode is byte 0
        self.decoded_end = max(self.decoded_end, pc + ins.size)
        w = pc >> 3
        table = self.monitor_handlers if w in self.monitor_handlers else self.handlers
        table[w] = self._recorded(table[w], pc, ins)

    def forget(self, addr: int) -> None:
        start = addr & ~7
        self.memory_log.append((start, bytes(self.machine.mem[start : start + WORD])))
        if addr < self.decoded_end:
            super().forget(addr)

    def _drop_decoded(self, lo: int, hi: int) -> None:
        for addr in range(max(lo & ~7, 0), min(hi, self.decoded_end), WORD):
            super().forget(addr)

    def _recorded(self, handler: Callable[[], int], pc: int, ins) -> Callable[[], int]:
        _, writes = describe(self.machine, self.isa, self.disassembler, pc)
        regs, fregs, mem, log, memory_log = self.machine.regs, self.machine.fregs, self.machine.mem, self.undo, \
            self.memory_log
        save = _saver([(regs if kind == "r" else fregs, n) for kind, n in writes])
        effects = ins.semantics.effects
        reads_input = bool(effects & {"port_in", "hypercall"})
        fields = decode_word(bytes(mem[pc : pc + WORD]))
        number = operand_values(ins, fields).get("n") if "hypercall" in effects else None
        written = WRITES_MEMORY.get(number)
        w, breakpoints, consumed = pc >> 3, self.breakpoints, self.host.input_consumed

        def plain() -> int:  # nearly every instruction: no input read, no memory written by the host
            if w in breakpoints:
                raise _Stop(pc, "breakpoint")
            mark = len(memory_log)
            saved = save()
            try:
                following = handler()
            except (Halted, JumpFault):
                log.append((w, writes, saved, mark, -1))
                raise
            except GuestTrap:
                del memory_log[mark:]
                raise
            log.append((w, writes, saved, mark, -1))
            if self.check is not None and self.check(following, ins):
                raise _Stop(following << 3, "check")
            return following

        def with_host() -> int:  # in, and hypercalls: the input position, and what the host will write
            if w in breakpoints:
                raise _Stop(pc, "breakpoint")
            mark = len(memory_log)
            saved = save()
            position = consumed()
            if written:  # the memory the hypercall will write, if it is guest memory
                lo, length = regs[written[0]], regs[written[1]]
                if 0 <= lo and 0 < length and lo + length <= len(mem):
                    memory_log.append((lo, bytes(mem[lo : lo + length])))
            try:
                following = handler()
            except (Halted, JumpFault):
                log.append((w, writes, saved, mark, position))
                raise
            except GuestTrap:
                del memory_log[mark:]
                raise
            log.append((w, writes, saved, mark, position))
            if self.check is not None and self.check(following, ins):
                raise _Stop(following << 3, "check")
            return following

        return with_host if reads_input else plain

    def step_back(self) -> None:
        """Undo the last retired instruction."""
        word, writes, saved, memory_mark, input_position = self.undo.pop()
        for (kind, n), value in zip(writes, saved, strict=True):
            (self.machine.regs if kind == "r" else self.machine.fregs)[n] = value
        mem = self.machine.mem
        while len(self.memory_log) > memory_mark:
            start, old = self.memory_log.pop()
            mem[start : start + len(old)] = old
            self._drop_decoded(start, start + len(old))
        if input_position >= 0:
            self.host.rewind_input(input_position)
        self.machine.pc = word << 3
        self.machine.retired -= 1


def _saver(sources: list[tuple[list, int]]) -> Callable[[], tuple]:
    """A function giving the values of these registers: the shapes of nearly every instruction made fast."""
    if not sources:
        return tuple
    if len(sources) == 1:
        (values, n), = sources
        return lambda: (values[n],)
    return lambda: tuple([values[n] for values, n in sources])


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
            "step": self.step, "s": self.step, "next": self.next, "n": self.next, "continue": self.cont,
            "c": self.cont, "finish": self.finish, "break": self.add_break, "b": self.add_break,
            "delete": self.delete, "watch": self.watch, "info": self.info, "regs": self.regs, "floats": self.floats,
            "x": self.examine, "disasm": self.disasm, "list": self.list, "where": lambda a: self.where(),
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
        handler = self.commands.get(words[0])
        if handler is None:
            raise DebugError(f"unknown command {words[0]!r}; `help` lists them")
        handler(words[1:])
        return True

    def _run(self, fuel: int, check: Callable[[int, object], str | None] | None = None, breakpoints: bool = True
             ) -> None:
        """Run up to `fuel` instructions, stopping where a breakpoint, watch or `check` says."""
        if self.ended is not None:
            raise DebugError(f"the guest has ended ({self._ending()}); reverse-step to go back")
        watches = {n: value() for n, (_, value) in self.watches.items()}
        hits: list[str] = []

        def stop_after(following: int, ins) -> str | None:
            for n, (what, value) in self.watches.items():
                now = value()
                if now != watches[n] and not (now != now and watches[n] != watches[n]):  # NaN stays NaN
                    hits.append(f"watch {n}: {what} {watches[n]!r} -> {now!r}")
                    watches[n] = now
            if hits:
                return "watch"
            return check(following, ins) if check else None

        engine, machine = self.engine, self.machine
        engine.check = stop_after if (self.watches or check) else None
        engine.breakpoints.clear()
        base, logged = machine.retired, len(engine.undo)
        sys.stdout.flush()
        gc.disable()  # the undo log grows by a tuple an instruction: collections would only walk it again
        try:
            outcome = engine.run(1)  # the instruction it stands at runs, even where a breakpoint is
            if outcome is None and fuel > 1:
                if breakpoints:
                    engine.breakpoints.update(a >> 3 for a in self.breakpoints.values())
                outcome = engine.run(fuel - 1)
        except _Stop as stop:
            machine.retired = base + len(engine.undo) - logged
            machine.pc = stop.pc
            outcome = None
            if stop.reason == "breakpoint":
                number = next(n for n, a in self.breakpoints.items() if a == stop.pc)
                self.say(f"breakpoint {number}")
        finally:
            gc.enable()
            engine.check = None
            self.host.flush()
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
                self._run(1 << 62, self._returned_to((self.machine.pc + ins.size) >> 3, self.machine.regs[15]))
            if self.ended is not None or self.machine.pc >> 3 in {a >> 3 for a in self.breakpoints.values()}:
                return

    def _returned_to(self, back: int, sp: int) -> Callable[[int, object], str | None]:
        """A stop check: the call has returned (to `back`, its stack where it was)."""
        return lambda following, _: "next" if following == back and self.machine.regs[15] >= sp else None

    def cont(self, args: list[str]) -> None:
        """continue: run until a breakpoint, a watch or the end."""
        self._run(1 << 62)

    def finish(self, args: list[str]) -> None:
        """finish: run until the current function returns."""
        sp = self.machine.regs[15]
        self._run(1 << 62, lambda following, ins: "finish" if ins.flow == "return" and self.machine.regs[15] > sp
                  else None)

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
        """info break | watch: list them."""
        if args[:1] in (["break"], ["b"], ["breakpoints"]):
            for n, address in sorted(self.breakpoints.items()):
                self.say(f"{n}: {self._place(address)}")
        elif args[:1] in (["watch"], ["watches"]):
            for n, (what, value) in sorted(self.watches.items()):
                self.say(f"{n}: {what} = {value()!r}")
        else:
            raise DebugError("info break, or info watch")

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
        """x ADDR [N] [w|b|s]: N memory words (default), bytes, or a string of at most N bytes."""
        if not args:
            raise DebugError("x takes an address (a number, a label or a register), then a count and w, b or s")
        address = self._address(args[0])
        form = args[2] if len(args) > 2 else "w"
        count = _number(args[1], "the count must be a number") if len(args) > 1 else (256 if form == "s" else 1)
        mem = self.machine.mem
        if form == "w":
            self._check_range(address, 8 * count)
            for i in range(count):
                a = address + 8 * i
                self.say(f"{a:#08x}: {struct.unpack_from('<q', mem, a)[0]}")
        elif form == "b":
            self._check_range(address, count)
            self.say(f"{address:#08x}: {bytes(mem[address:address + count]).hex(' ')}")
        elif form == "s":
            self._check_range(address, 1)
            data = bytes(mem[address : min(address + count, len(mem))]).split(b"\0")[0]  # up to a NUL
            self.say(f"{address:#08x}: {data.decode('utf-8', 'replace')!r}")
        else:
            raise DebugError(f"x shows w (words), b (bytes) or s (a string), not {form!r}")

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
        if count > len(self.engine.undo):
            done = len(self.engine.undo)
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
        seen = set()
        for handler in self.commands.values():
            if handler not in seen and handler.__doc__:
                seen.add(handler)
                self.say("  " + handler.__doc__)
        self.say("  where: the current instruction\n  quit: leave the debugger\n"
                 "  Going back restores registers, memory and input; output already written stays written.")

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
            from vm.asm.highlight import highlight

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
    while True:
        try:
            line = prompt.prompt("(vm) ")
        except (EOFError, KeyboardInterrupt):
            return 0
        try:
            if not session.command(line):
                return 0
        except DebugError as e:
            session.say(f"vm: {e}")
