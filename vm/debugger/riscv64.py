"""`vm debug` of a static RISC-V Linux executable: the shared Session on hw's RISC-V CPU.

The CPU runs one instruction at a time (`run(1)`, the retired count exact), and the stop checks run
between instructions. Going back is by re-running: the process is deterministic given its input and
its random bytes (drawn from one seed for the whole session), so the debugger keeps a checkpoint of
the whole process every CHECKPOINT_EVERY instructions (registers, mapped memory, the system calls'
state, the input position) and goes back to instruction N by restoring the last checkpoint before N and
running on to N, the output of that re-run dropped. What a re-run cannot repeat: the clock (a guest
that reads the time may take another path), and files the guest wrote stay written.
"""

from __future__ import annotations

import bisect
import dataclasses
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from vm.address_space import MAPPED, PAGE_SHIFT, AddressSpace
from vm.arch.riscv64.disassembler import disassemble_word
from vm.arch.riscv64.model import RvInstruction
from vm.arch.riscv64.registers import F_NAMES, STACK_POINTER, X_NAMES
from vm.debugger.session import DebugError, Session, parse_number
from vm.elf import read_executable
from vm.engines.hw_riscv64 import RiscvCpu, fetch_word
from vm.machine import GuestTrap, Outcome, RiscvMachine
from vm.monitor.cage import Limits
from vm.monitor.host import Host
from vm.monitor.linux import Linux
from vm.monitor.linux_process import SeededRandom, new_process
from vm.run import outcome_message
from vm.run_linux import DEFAULT_LINUX_MEMORY, LinuxRun, process_symbols

# Instructions between checkpoints: going back re-runs at most this many, at hw's full speed (some 20 000 in
# 40 ms); a checkpoint of a small program's process takes about as long as stepping 10 000 instructions.
CHECKPOINT_EVERY = 100_000
RETURN_ADDRESS = 1  # ra
M64 = (1 << 64) - 1
X_INDEX = {name: i for i, name in enumerate(X_NAMES)} | {f"x{i}": i for i in range(32)} | {"fp": 8}
F_INDEX = {name: i for i, name in enumerate(F_NAMES)} | {f"f{i}": i for i in range(32)}
_CALLS = ("jal", "jalr", "c.jalr")  # a call when it links through ra
_RETURNS = ("jalr", "c.jr")  # a return when it jumps to ra, linking nothing
_CONTROL = ("jal", "jalr", "c.j", "c.jr", "c.jalr", "ecall", "ebreak")
_ADD_IMMEDIATE = ("addi", "c.addi", "c.addi16sp")
_STORE_DOUBLE = ("sd", "c.sdsp")
MAX_FRAMES = 256


def float_value(bits: int) -> float:
    """An f register's value: a single NaN-boxed in the upper 32 bits, else a double."""
    bits &= M64
    if bits >> 32 == 0xFFFFFFFF:
        return struct.unpack("<f", (bits & 0xFFFFFFFF).to_bytes(4, "little"))[0]
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


@dataclass
class Checkpoint:
    """The process between two instructions, as plain data: what going back restores."""

    retired: int
    pc: int
    x: list[int]
    f: list[int]
    fcsr: tuple[int, int]  # fflags, frm
    reservation: tuple[int, int, int] | None
    space: dict  # AddressSpace.save
    linux: dict  # Linux.save
    input_consumed: int


class RiscvSession(Session):
    """A RISC-V Linux process under the debugger."""

    register_names = [*X_NAMES, *(f"x{i}" for i in range(32)), "fp", *F_NAMES, *(f"f{i}" for i in range(32)), "pc"]
    register_help = "zero, ra, sp, ..., x0..x31, ft0.., fa0.., f0..f31"

    def __init__(self, path: str | Path, args: list[str], env: list[str], stdin: bytes, out: TextIO, *,
                 root: str | Path | None = None, strict: bool = False, mem_limit: int = DEFAULT_LINUX_MEMORY,
                 capture: bool = False) -> None:
        super().__init__(out)
        program = read_executable(path)
        random = SeededRandom(os.urandom(32))  # one seed: a re-run draws the same random bytes
        argv = [str(path).encode(), *(a.encode() for a in args)]
        self.process = new_process(program, argv, [e.encode() for e in env], mem_limit, random.take(16))
        self.machine = RiscvMachine(self.process.space, self.process.entry, self.process.sp)
        self.stdin = stdin
        self.host = Host(stdin=stdin, capture=capture)  # the guest's output: the terminal's, or kept
        self.root, self.strict = (Path(root) if root is not None else None), strict
        self.linux = Linux(self.process, self.host, root=self.root, strict=strict, random=random)
        self.cpu = RiscvCpu(self.machine, self._syscall)
        self.isa = self.cpu.isa
        self.functions = process_symbols(self.process)
        self._symbols: dict[str, int] = {}
        for start, _, name in self.functions.entries:
            self._symbols.setdefault(name, start)
        self.checkpoints: dict[int, Checkpoint] = {0: self._save()}
        self._interrupted = False

    def _syscall(self, x: list[int]) -> None:
        self.linux.syscall(x)  # through self: going back gives the session a restored Linux

    # -- the machine -----------------------------------------------------------------------------------
    @property
    def pc(self) -> int:
        return self.machine.pc

    @property
    def symbols(self) -> dict[str, int]:
        return self._symbols

    def stack_pointer(self) -> int:
        return self.machine.x[STACK_POINTER] & M64

    def register(self, name: str) -> tuple[Callable[[], object], bool] | None:
        if name in X_INDEX:
            n = X_INDEX[name]
            return (lambda: self.machine.x[n] if n else 0), False
        if name in F_INDEX:
            n = F_INDEX[name]
            return (lambda: float_value(self.machine.f[n])), True
        return None

    def readable(self, address: int, size: int) -> int:
        space, count = self.machine.space, 0
        while count < size:
            at = address + count
            if not 0 <= at < space.size or not space.perm[at >> PAGE_SHIFT] & MAPPED:
                break
            count = min(size, (((at >> PAGE_SHIFT) + 1) << PAGE_SHIFT) - address)
        return count

    def read_memory(self, address: int, size: int) -> bytes:
        have = self.readable(address, size)
        if have < size:
            raise DebugError(f"{(address + have) & M64:#x} is not mapped in the guest's address space")
        return bytes(self.machine.space.mem[address : address + size])

    def flush_output(self) -> None:
        self.host.flush()

    # -- running ---------------------------------------------------------------------------------------
    def execute(self, fuel: int, check: Callable[[int], bool] | None, breakpoints: set[int]
                ) -> tuple[Outcome | None, bool]:
        self._interrupted = False
        machine, cpu = self.machine, self.cpu
        for i in range(fuel):
            pc = machine.pc
            if i and pc in breakpoints:  # the instruction it stands at runs, even where a breakpoint is
                return None, True
            if self._interrupted or (check is not None and check(pc)):
                return None, False
            outcome = cpu.run(1)
            if machine.retired % CHECKPOINT_EVERY == 0 and machine.retired not in self.checkpoints:
                self.checkpoints[machine.retired] = self._save()
            if outcome is not None:
                return outcome, False
        return None, False

    def interrupt(self) -> None:
        self._interrupted = True

    def ending(self, outcome: Outcome) -> str:
        message = outcome_message(LinuxRun(outcome, self.machine, self.process, "hw", None), Limits())
        return message.removeprefix("vm: ") if message else f"exited with status {outcome.exit}"

    def call_return(self, pc: int) -> int | None:
        decoded = self._decoded(pc)
        if decoded is None:
            return None
        ins, values, size = decoded
        return pc + size if ins.mnemonic in _CALLS and values.get("rd") == RETURN_ADDRESS else None

    def _is_return(self, pc: int) -> bool:
        decoded = self._decoded(pc)
        if decoded is None:
            return False
        ins, values, _ = decoded
        return ins.mnemonic in _RETURNS and values.get("rd", 0) == 0 and values.get("rs1") == RETURN_ADDRESS

    def finish_check(self) -> Callable[[int], bool]:
        """Stop after a return (a jump to ra) that leaves sp above where it is now, or at it and back at
        the address ra held: at a function's first instruction, before it moved sp. ra counts only while
        it may still be the caller's: at the function's start, or pointing outside the function."""
        sp, ra, pc = self.stack_pointer(), self.machine.x[RETURN_ADDRESS] & M64, self.pc
        function = self._function(pc)
        ra_is_callers = function is None or pc == function[0] or not function[0] <= ra < function[0] + function[1]
        previous: list[int | None] = [None]
        returns: dict[int, bool] = {}

        def returned(pc: int) -> bool:
            last, previous[0] = previous[0], pc
            if last is None:
                return False
            if last not in returns:
                returns[last] = self._is_return(last)
            if not returns[last]:
                return False
            now = self.stack_pointer()
            return now > sp or (now == sp and ra_is_callers and pc == ra)

        return returned

    # -- going back ------------------------------------------------------------------------------------
    def undoable(self) -> int:
        return self.machine.retired

    def go_back(self, count: int) -> None:
        target = self.machine.retired - count
        start = max(k for k in self.checkpoints if k <= target)
        self._rerun(start, target - start)

    def back_to(self, stop_here: Callable[[], bool]) -> bool:
        """Each stretch between checkpoints, the latest first, run again with the check before each
        instruction; the latest state it held in is where to go."""
        current = self.machine.retired
        starts = sorted(k for k in self.checkpoints if k < current)
        for i in range(len(starts) - 1, -1, -1):
            start = starts[i]
            end = starts[i + 1] if i + 1 < len(starts) else current
            found: list[int] = []

            def note(start: int = start, found: list[int] = found) -> None:
                if stop_here():
                    found.append(self.machine.retired)

            self._rerun(start, end - start, note)
            if found:
                self._rerun(start, found[-1] - start)
                return True
        self._rerun(0, 0)
        return False

    def _save(self) -> Checkpoint:
        m = self.machine
        return Checkpoint(m.retired, m.pc, list(m.x), list(m.f), (m.fflags, m.frm), m.reservation, m.space.save(),
                          self.linux.save(), self.host.input_consumed())

    def _rerun(self, start: int, count: int, each: Callable[[], None] | None = None) -> None:
        """Back to the checkpoint after `start` instructions, then `count` instructions on with their
        output dropped, `each` called before each one; the input ends up where the guest had read to."""
        saved = self.checkpoints[start]
        space = AddressSpace.restore(saved.space)
        process = dataclasses.replace(self.process, space=space)
        quiet = Host(stdin=self.stdin[saved.input_consumed:], capture=True)
        try:
            linux = Linux.restore(process, quiet, saved.linux, root=self.root, strict=self.strict)
        except OSError as e:
            quiet.close()
            raise DebugError(f"cannot go back: {e.strerror}: a file the guest had open is gone") from None
        self.linux.close()
        machine = RiscvMachine(space, saved.pc, 0)
        machine.x[:], machine.f[:] = saved.x, saved.f
        machine.fflags, machine.frm = saved.fcsr
        machine.reservation, machine.retired = saved.reservation, saved.retired
        self.machine, self.process, self.linux = machine, process, linux
        self.cpu = RiscvCpu(machine, self._syscall)  # a new CPU: nothing decoded from the later memory
        try:
            if each is None:
                self.cpu.run(count)
            else:
                for _ in range(count):
                    each()
                    if self.cpu.run(1) is not None:
                        break
        finally:
            linux.host = self.host
            self.host.rewind_input(saved.input_consumed + quiet.input_consumed())
            quiet.close()

    # -- what it shows -----------------------------------------------------------------------------------
    def regs(self, args: list[str]) -> None:
        """regs: the integer registers."""
        x = self.machine.x
        for row in range(0, 32, 4):
            self.say("  ".join(f"{X_NAMES[i]:>4} {x[i] & M64:#018x}" for i in range(row, row + 4)))
        self.say(f"  pc {self.machine.pc:#x}  retired {self.machine.retired}")

    def floats(self, args: list[str]) -> None:
        """floats: the float registers."""
        f = self.machine.f
        for row in range(0, 32, 4):
            self.say("  ".join(f"{F_NAMES[i]:>4} {float_value(f[i])!r:>22}" for i in range(row, row + 4)))

    def backtrace(self, args: list[str]) -> None:
        """backtrace: where it is, then each caller, innermost first (found from each function's prologue:
        how far it moves sp and where it saves ra; a best guess, as without debugging information)."""
        self.say(f"#0  {self.place(self.pc)}")
        pc, sp, depth = self.pc, self.stack_pointer(), 1
        ra: int | None = self.machine.x[RETURN_ADDRESS] & M64  # the register: the innermost frame's alone
        while depth < MAX_FRAMES:
            function = self._function(pc)
            if function is None:
                return
            moved, slot = self._prologue(function[0], pc)
            caller_sp = sp - moved
            if slot is not None:
                if self.readable(caller_sp + slot, 8) < 8:
                    return
                ra = int.from_bytes(self.read_memory(caller_sp + slot, 8), "little")
                where = f"stack {caller_sp + slot:#x}"
            else:
                where = "ra"
            call = self._call_before(ra) if ra is not None else None
            if call is None:
                return
            self.say(f"#{depth}  {ra:#x} in {self._label(call)}, back from the call at {call:#x} ({where})")
            pc, sp, ra, depth = ra, caller_sp, None, depth + 1

    def _prologue(self, start: int, pc: int) -> tuple[int, int | None]:
        """What the function starting at `start` has done before pc, read from its straight-line start:
        how far it moved sp (negative: down) and where it saved ra, from the sp it was called with."""
        moved, slot, at = 0, None, start
        while at < pc and (decoded := self._decoded(at)) is not None:
            ins, values, size = decoded
            if ins.mnemonic in _CONTROL or ins.mnemonic.startswith(("b", "c.b")):
                break  # the prologue is over (or shrink-wrapped past a branch: not followed)
            if ins.mnemonic in _ADD_IMMEDIATE and values.get("rd") == values.get("rs1") == STACK_POINTER:
                moved += values["imm"]
            elif (ins.mnemonic in _STORE_DOUBLE and values.get("rs1") == STACK_POINTER
                  and values.get("rs2") == RETURN_ADDRESS):
                slot = moved + values["imm"]
            at += size
        return moved, slot

    def _call_before(self, back: int) -> int | None:
        """The address of the call whose return address `back` is, if the instruction before it is one."""
        for size in (4, 2):
            decoded = self._decoded(back - size)
            if decoded is not None and decoded[2] == size and self.call_return(back - size) == back:
                return back - size
        return None

    def _label(self, address: int) -> str:
        return self.functions.at(address) or f"{address:#x}"

    def disasm(self, args: list[str]) -> None:
        """disasm [N]: N instructions around pc (default 5 each side)."""
        around = parse_number(args[0], "disasm takes a number") if args else 5
        pc = self.pc
        function = self._function(pc)
        before: list[int] = []
        if function is not None:  # instructions are 2 or 4 bytes: found by decoding from the function's start
            at = function[0]
            while at < pc and (decoded := self._decoded(at)) is not None:
                before.append(at)
                at += decoded[2]
            if at != pc:
                before = []
        shown = before[len(before) - around:] if around else []
        at = pc
        for _ in range(around + 1):
            shown.append(at)
            decoded = self._decoded(at)
            if decoded is None:
                break
            at += decoded[2]
        for address in shown:
            self.say(f"{'=>' if address == pc else '  '} {self.place(address)}")

    def list(self, args: list[str]) -> None:
        """list: the source lines around pc (a RISC-V executable's are not read)."""
        raise DebugError("vm reads no source lines from a RISC-V executable; disasm shows the code around pc")

    # -- places ------------------------------------------------------------------------------------------
    def place(self, address: int) -> str:
        name = self.functions.at(address)
        where = f" {name}:" if name else ""
        try:
            word, size = fetch_word(self.machine.space, address)
        except GuestTrap:
            return f"{address & M64:#x}{where} (no instruction)"
        return f"{address:#x}{where} {disassemble_word(word, size, address, self.isa)}"

    def location(self, text: str) -> int:
        if ":" in text:
            raise DebugError(f"{text}: vm reads no source lines from a RISC-V executable; break at a function "
                             "or *ADDRESS")
        address = self.address(text)
        if address & 1 or not self.machine.space.fetch_ok(address, 2):
            raise DebugError(f"{text} is not an instruction address (an even address in executable memory)")
        return address

    def _decoded(self, pc: int) -> tuple[RvInstruction, dict[str, int], int] | None:
        """The instruction at pc in live memory, its operands and its size; None where there is none."""
        try:
            word, size = fetch_word(self.machine.space, pc)
        except GuestTrap:
            return None
        found = self.isa.decode(word, size)
        return None if found is None else (*found, size)

    def _function(self, address: int) -> tuple[int, int, str] | None:
        """(start, size, name) of the function symbol address is in."""
        entries = self.functions.entries
        i = bisect.bisect_right(self.functions.starts, address) - 1
        if i < 0 or address >= entries[i][0] + max(entries[i][1], 1):
            return None
        return entries[i]
