"""What `vm debug` is the same for on every architecture: the command language, breakpoints and
watches, the run loop's stop conditions, going back, the messages, and the terminal or script around it.

A Session subclass is a target: it says what its machine is (registers, memory, code, symbols, its call
convention) and how to run it one stop at a time and go back (vm64: vm/debugger/vm64.py, RISC-V:
vm/debugger/riscv64.py).
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from vm.arch.vm64.asm.expr import ExprError, evaluate
from vm.machine import Outcome

FOREVER = 1 << 62  # a run's budget when it stops only where something says so
M64 = (1 << 64) - 1


class DebugError(Exception):
    """A command that cannot be done: one line for the user."""


class Session(ABC):
    """One guest under the debugger, and the commands a user gives it; the target's part is the abstract
    methods."""

    register_names: list[str] = []  # for completion at the prompt
    register_help = ""  # the register names as a user is told them: "r0..r15, sp"

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.color = out.isatty()
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

    # -- the target's part -----------------------------------------------------------------------------
    @property
    @abstractmethod
    def pc(self) -> int:
        """The address of the instruction that runs next."""

    @property
    @abstractmethod
    def symbols(self) -> dict[str, int]:
        """Names a user may give for an address (labels, functions)."""

    @abstractmethod
    def stack_pointer(self) -> int:
        """sp, as an address."""

    @abstractmethod
    def execute(self, fuel: int, check: Callable[[int], bool] | None, breakpoints: set[int]
                ) -> tuple[Outcome | None, bool]:
        """Run up to `fuel` instructions, stopping before one where `check(pc)` says so or (but for the
        first) one at a breakpoint: (how the guest ended, or None; whether a breakpoint stopped it)."""

    @abstractmethod
    def interrupt(self) -> None:
        """From a signal handler: make the run under way stop before its next instruction."""

    @abstractmethod
    def ending(self, outcome: Outcome) -> str:
        """How the guest ended, in words: `exited with status 3`, `trap MEMFAULT at 0x10 (...)`."""

    @abstractmethod
    def place(self, address: int) -> str:
        """`0x1040 fib.asm:12: add r1, r2, r3`: the instruction at `address` in live memory."""

    @abstractmethod
    def location(self, text: str) -> int:
        """The instruction address a `break` names."""

    @abstractmethod
    def call_return(self, pc: int) -> int | None:
        """Where the call at pc returns to; None if the instruction there is not a call."""

    @abstractmethod
    def finish_check(self) -> Callable[[int], bool]:
        """A stop check: the function the guest is in has returned."""

    @abstractmethod
    def register(self, name: str) -> tuple[Callable[[], object], bool] | None:
        """A register's value getter and whether it holds a float; None for a name that is not one."""

    @abstractmethod
    def readable(self, address: int, size: int) -> int:
        """How many of the `size` bytes from `address` the guest's memory has (0 if none)."""

    @abstractmethod
    def read_memory(self, address: int, size: int) -> bytes:
        """The guest's bytes; a DebugError for any not in its memory."""

    @abstractmethod
    def undoable(self) -> int:
        """How many instructions going back can undo."""

    @abstractmethod
    def go_back(self, count: int) -> None:
        """Undo the last `count` instructions (at most undoable())."""

    @abstractmethod
    def back_to(self, stop_here: Callable[[], bool]) -> bool:
        """Go back to the latest earlier state where `stop_here()` holds; else to the start (False)."""

    @abstractmethod
    def flush_output(self) -> None:
        """The guest's buffered output, out before the debugger says anything."""

    @abstractmethod
    def regs(self, args: list[str]) -> None:
        """regs: the integer registers."""

    @abstractmethod
    def floats(self, args: list[str]) -> None:
        """floats: the float registers."""

    @abstractmethod
    def backtrace(self, args: list[str]) -> None:
        """backtrace: where it is, then each return address on the guest's stack, innermost first."""

    @abstractmethod
    def disasm(self, args: list[str]) -> None:
        """disasm [N]: N instructions around pc (default 5 each side)."""

    @abstractmethod
    def list(self, args: list[str]) -> None:
        """list: the source lines around pc."""

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
            raise DebugError(f"the guest has ended ({self.ending(self.ended)}); reverse-step to go back")
        watches = {n: value() for n, (_, value) in self.watches.items()}
        hits: list[str] = []

        def stop_here(pc: int) -> bool:
            for n, (what, value) in self.watches.items():
                now = value()
                if now != watches[n] and not (now != now and watches[n] != watches[n]):  # NaN stays NaN
                    hits.append(f"watch {n}: {what} {watches[n]!r} -> {now!r}")
                    watches[n] = now
            return bool(hits) or bool(check and check(pc))

        interrupted: list[bool] = []

        def interrupt(signum, frame) -> None:  # Ctrl-C, as in gdb: stop before the next instruction
            interrupted.append(True)
            self.interrupt()

        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, interrupt) if on_main_thread else None
        sys.stdout.flush()
        try:
            outcome, at_breakpoint = self.execute(fuel, stop_here if (self.watches or check) else None,
                                                  set(self.breakpoints.values()) if breakpoints else set())
        finally:
            if on_main_thread:
                signal.signal(signal.SIGINT, previous)
            self.flush_output()
        if at_breakpoint:
            number = next(n for n, a in self.breakpoints.items() if a == self.pc)
            hits.insert(0, f"breakpoint {number}")  # said once the guest's output is out, after it
        if interrupted and outcome is None:
            self.say("interrupted")
        for hit in hits:
            self.say(hit)
        if outcome is not None and not (outcome.trap is not None and outcome.trap.name == "FUEL"):
            self.ended = outcome
            self.say(self.ending(outcome))
        self.where()

    # -- commands ----------------------------------------------------------------------------------------
    def step(self, args: list[str]) -> None:
        """step [N]: run N instructions (default 1)."""
        self._run(parse_count(args), breakpoints=False)

    def next(self, args: list[str]) -> None:
        """next [N]: as step, but a call runs until it returns."""
        for _ in range(parse_count(args)):
            back = self.call_return(self.pc)
            if back is None:
                self._run(1)
            else:
                sp = self.stack_pointer()
                self._run(FOREVER, lambda pc, back=back, sp=sp: pc == back and self.stack_pointer() >= sp)
            if self.ended is not None or self.pc in self.breakpoints.values():
                return

    def cont(self, args: list[str]) -> None:
        """continue: run until a breakpoint, a watch or the end."""
        self._run(FOREVER)

    def finish(self, args: list[str]) -> None:
        """finish: run until the current function returns."""
        self._run(FOREVER, self.finish_check())

    def add_break(self, args: list[str]) -> None:
        """break LOC: stop before the instruction at LOC (a label, an address, *ADDRESS, or FILE:LINE)."""
        if len(args) != 1:
            raise DebugError("break takes one location: a label, 0xADDRESS or FILE:LINE")
        address = self.location(args[0].removeprefix("*"))
        self.numbers += 1
        self.breakpoints[self.numbers] = address
        self.say(f"breakpoint {self.numbers} at {self.place(address)}")

    def delete(self, args: list[str]) -> None:
        """delete N: remove breakpoint or watch N."""
        for text in args or ["?"]:
            n = parse_number(text, "delete takes the number of a breakpoint or watch")
            if self.breakpoints.pop(n, None) is None and self.watches.pop(n, None) is None:
                raise DebugError(f"no breakpoint or watch {n}")

    def watch(self, args: list[str]) -> None:
        """watch REG | ADDR: stop when the register or the memory word changes."""
        if len(args) != 1:
            raise DebugError(f"watch takes a register ({self.register_help}) or a memory address")
        what = args[0]
        reg = self.register(what)
        if reg is not None:
            value = reg[0]
        else:
            address = self.address(what)
            self.read_memory(address, 8)

            def value() -> object:  # None while the word is not in memory (unmapped since)
                if self.readable(address, 8) < 8:
                    return None
                return int.from_bytes(self.read_memory(address, 8), "little", signed=True)
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
                self.say(f"{n}: {self.place(address)}")
        elif args[:1] in (["watch"], ["watches"]):
            for n, (what, value) in sorted(self.watches.items()):
                self.say(f"{n}: {what} = {value()!r}")
        else:
            raise DebugError("info break, info watch or info registers")

    def examine(self, args: list[str]) -> None:
        """x ADDR [N] [x|d|b|s], or x/NF ADDR: N memory words in hex (default) or decimal, bytes, or a
        string of at most N bytes."""
        if not args:
            raise DebugError("x takes an address (a number, a label or a register), then a count and x, d, b or s")
        address = self.address(args[0])
        form = {"w": "x"}.get(args[2], args[2]) if len(args) > 2 else "x"
        count = parse_number(args[1], "the count must be a number") if len(args) > 1 else (256 if form == "s" else 1)
        if form in ("x", "d"):
            data = self.read_memory(address, 8 * count)
            for i in range(count):
                word = int.from_bytes(data[8 * i : 8 * i + 8], "little", signed=form == "d")
                self.say(f"{address + 8 * i:#08x}: {word if form == 'd' else f'{word:#018x}'}")
        elif form == "b":
            self.say(f"{address:#08x}: {self.read_memory(address, count).hex(' ')}")
        elif form == "s":
            self.read_memory(address, 1)
            data = self.read_memory(address, self.readable(address, count)).split(b"\0")[0]  # up to a NUL
            self.say(f"{address:#08x}: {data.decode('utf-8', 'replace')!r}")
        else:
            raise DebugError(f"x shows x (words in hex), d (words in decimal), b (bytes) or s (a string), not {form!r}")

    def print(self, args: list[str]) -> None:
        """print EXPR: a register, label or number, or arithmetic on them (sp + 8, values+16)."""
        if not args:
            raise DebugError("print takes an expression: a register, a label, a number, or + - * / on them")
        text = " ".join(args)
        reg = self.register(text)
        if reg is not None and reg[1]:
            self.say(f"{text} = {reg[0]()!r}")
            return

        def resolve(name: str, offset: int) -> int:
            if name == "pc":
                return self.pc
            found = self.register(name)
            if found is not None and not found[1]:
                return found[0]()
            if name in self.symbols:
                return self.symbols[name]
            raise ExprError(f"{name!r} is neither a register ({self.register_help}, pc) nor a label", offset)

        try:
            value = evaluate(text, resolve)
        except ExprError as e:
            raise DebugError(str(e)) from None
        self.say(f"{text} = {value} ({value & M64:#x})")

    def reverse_step(self, args: list[str]) -> None:
        """reverse-step [N]: undo N instructions (default 1)."""
        count = parse_count(args)
        done = self.undoable()
        if count > done:
            raise DebugError(f"only {done} instructions have run; reverse-step {done} goes back to the start")
        self.go_back(count)
        self.ended = None
        self.where()

    def reverse_continue(self, args: list[str]) -> None:
        """reverse-continue: undo back to the previous breakpoint or watch change, or to the start."""
        watches = {n: value() for n, (_, value) in self.watches.items()}
        stops = set(self.breakpoints.values())

        def changed() -> list[int]:
            return [n for n, (_, value) in self.watches.items() if value() != watches[n]]

        found = self.back_to(lambda: bool(changed()) or self.pc in stops)
        self.ended = None
        if not found:
            self.say("at the start")
        elif changed():
            for n in changed():
                self.say(f"watch {n}: {self.watches[n][0]} {watches[n]!r} <- {self.watches[n][1]()!r}")
        else:
            self.say(f"breakpoint {next(n for n, a in self.breakpoints.items() if a == self.pc)}")
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
        self.say(self.place(self.pc))

    def address(self, text: str) -> int:
        """A label, an integer register's value or a number."""
        if text in self.symbols:
            return self.symbols[text]
        reg = self.register(text)
        if reg is not None and not reg[1]:
            return reg[0]() & M64
        try:
            return int(text, 0)
        except ValueError:
            raise DebugError(f"{text!r} is neither a label, a register nor a number") from None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def parse_number(text: str, message: str) -> int:
    """An integer the user typed (0x.. too); a DebugError with `message` for anything else."""
    try:
        return int(text, 0)
    except ValueError:
        raise DebugError(message) from None


def _gdb_format(spec: str) -> list[str]:
    """gdb's /NF of x as this x's [N] [F] (x/s ADDR, x/4x ADDR, x/8d ADDR)."""
    digits = spec[: len(spec) - len(spec.lstrip("0123456789"))]
    form = spec[len(digits):] or "x"
    return [digits or ("256" if form == "s" else "1"), form]


def parse_count(args: list[str]) -> int:
    count = parse_number(args[0], "the count must be a number") if args else 1
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
    words = sorted(set(session.commands) | {"quit"} | set(session.symbols) | set(session.register_names))
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
