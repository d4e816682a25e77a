"""hw: hardware virtualization. A virtual CPU emulated in pure Python, one instruction at a time.

Each instruction's semantics are lowered once per instruction set into a handler factory (Python
source, exec'd). When the CPU first fetches an address it decodes the word there and asks the factory
for a closure specialised to that instruction's fields; the closure does the work and returns the
next pc. The closures are cached by address, and a store over a decoded instruction drops its closure,
so self-modifying code takes effect at its next fetch.
"""

from __future__ import annotations

import ast
import math
import struct
from collections.abc import Callable

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import bad_register_field, bits_float, decode_word, has_memory_operand, with_literal
from vm.arch.vm64.model import NO_BASE, WORD, Instruction
from vm.engines.lowering import Lowering
from vm.isa import DEFAULT_FUEL, Kind, Trap
from vm.isa.semantics import memory_access
from vm.machine import GuestTrap, Halted, Machine, Outcome, fuel_outcome
from vm.monitor.host import lib as host_library

B63 = 1 << 63
M64 = (1 << 64) - 1
CANONICAL_NAN = bits_float(0x7FF8000000000000)
_VIEW = {(1, 1): "b", (1, 0): "B", (2, 1): "h", (2, 0): "H", (4, 1): "i", (4, 0): "I", (8, 1): "q", (8, 0): "q"}
_SHIFT = {1: 0, 2: 1, 4: 2, 8: 3}
_PACK_D = struct.Struct("<d")
_PACK_Q = struct.Struct("<q")


# -- pure functions of the semantics language, for CPython ----------------------------------------
def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    q = -q if (a < 0) != (b < 0) else q
    return q - (1 << 64) if q >= B63 else q


def _srem(a: int, b: int) -> int:
    return a - b * (abs(a) // abs(b) * (-1 if (a < 0) != (b < 0) else 1))


def _fdiv(a: float, b: float) -> float:
    if b == 0.0:  # CPython raises here; IEEE-754 gives a signed infinity, or NaN for 0/0 and NaN/0
        if a != a or a == 0.0:
            return CANONICAL_NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _fcanon(x: float) -> float:
    return x if x == x else CANONICAL_NAN


def _fsqrt(x: float) -> float:
    if x != x or x < 0:
        return CANONICAL_NAN
    return math.sqrt(x)


def _fmin(a: float, b: float) -> float:
    if a != a or b != b:
        return CANONICAL_NAN
    if a == b:  # -0.0 orders below +0.0
        return a if math.copysign(1.0, a) < 0 else b
    return a if a < b else b


def _fmax(a: float, b: float) -> float:
    if a != a or b != b:
        return CANONICAL_NAN
    if a == b:
        return b if math.copysign(1.0, a) < 0 else a
    return a if a > b else b


def _ftoi_ok(x: float) -> int:
    return 1 if -9223372036854775808.0 <= x < 9223372036854775808.0 else 0


def _f2bits(x: float) -> int:
    return _PACK_Q.unpack(_PACK_D.pack(x))[0]


def _bits2f(x: int) -> float:
    return _PACK_D.unpack(_PACK_Q.pack(x))[0]


HW_FUNCTIONS: dict[str, object] = {
    "_sdiv": _sdiv, "_srem": _srem, "_fdiv": _fdiv, "_fcanon": _fcanon, "_fsqrt": _fsqrt, "_fmin": _fmin,
    "_fmax": _fmax, "_ftoi_ok": _ftoi_ok, "_f2bits": _f2bits, "_bits2f": _bits2f,
    "_fma": host_library.vm_fma,  # C's fma(): CPython 3.11 has none, and its single rounding matters
}
_INLINE = {
    "shl": "((({0} << ({1} & 63)) + 9223372036854775808 & 18446744073709551615) - 9223372036854775808)",
    "lshr": "((({0} & 18446744073709551615) >> ({1} & 63)) + 9223372036854775808 & 18446744073709551615)"
            " - 9223372036854775808",
    "ashr": "({0} >> ({1} & 63))",
    "ult": "(1 if ({0} ^ -9223372036854775808) < ({1} ^ -9223372036854775808) else 0)",
    "isnan": "(1 if {0} != {0} else 0)",
    "ftoi": "int({0})",
    "itof": "float({0})",
}


class VmExit(Exception):
    """Raised by the handler of a device instruction: the run loop hands it to the monitor."""


class JumpFault(Exception):
    """A jump retired, but its target cannot be fetched (negative or misaligned)."""

    def __init__(self, target: int) -> None:
        self.target = target & M64  # an address: a negative register value is a huge unsigned one


def _jump_fault(target: int) -> int:
    raise JumpFault(target)


_VM_EXIT = VmExit()


class HwLowering(Lowering):
    """Semantics to the body of a CPython handler closure."""

    def __init__(self, ins: Instruction, no_base: bool, static_target: bool) -> None:
        super().__init__(ins)
        self.no_base = no_base
        self.static_target = static_target  # the target operand is a valid, aligned address

    def operand(self, name: str) -> str:
        kind = self.kinds.get(name)
        if kind in (Kind.REG, Kind.FREG):
            op = next(o for o in self.ins.operands if o.name == name)
            return f"{'R' if kind is Kind.REG else 'F'}[{op.field}]"
        if kind in (Kind.IMM, Kind.TARGET):
            return "I"
        if kind is Kind.LIT:
            return "X"
        if kind is Kind.FLIT:
            return "XF"
        if name == "addr":
            return "I" if self.no_base else "(R[B] + I)"
        if name == "sp":
            return "R[15]"
        if name[0] == "r" and name[1:].isdigit():
            return f"R[{name[1:]}]"
        if name[0] == "f" and name[1:].isdigit():
            return f"F[{name[1:]}]"
        return name  # pc, next_pc

    def register_target(self, name: str) -> str:
        return self.operand(name)

    def wrapping(self, op: str, left: str, right: str) -> str:
        source = f"({left} {op} {right})"
        full = f"(({source} + 9223372036854775808 & 18446744073709551615) - 9223372036854775808)"
        if self.in_loop_test:
            return full
        # Most results are in range: a comparison is cheaper than three big-integer operations.
        t = self.temp()
        self.emit(f"{t} = {source}")
        self.emit(f"if not -9223372036854775808 <= {t} <= 9223372036854775807:")
        self.emit(f"    {t} = ({t} + 9223372036854775808 & 18446744073709551615) - 9223372036854775808")
        return t

    def divide(self, left: str, right: str) -> str:
        return f"_fdiv({left}, {right})"

    def pure(self, name: str, args: list[str]) -> str:
        if name in _INLINE:
            return _INLINE[name].format(*args)
        return f"_{name}({', '.join(args)})"

    def effect(self, name: str, args: list[ast.expr], target: str | None) -> None:
        a = [self.expr(x) for x in args]
        access = memory_access(name, args)
        if access is not None:
            size = access[0]
            addr = self.temp()
            self.emit(f"{addr} = {a[0]}")
            if size > 1:
                self.emit(f"if {addr} & {size - 1}: raise GuestTrap(Trap.MISALIGNED)")
            self.emit(f"if {addr} < 4096 or {addr} > mem_end - {size}: raise GuestTrap(Trap.MEMFAULT)")
            if name == "load":
                self.emit(f"{target} = m{_VIEW[size, args[2].value]}[{addr} >> {_SHIFT[size]}]")
            elif name == "fload":
                self.emit(f"{target} = md[{addr} >> 3]")
            else:
                view, value = ("md", a[1]) if name == "fstore" else self._store_view(size, a[2])
                self.emit(f"if {addr} < code_end[0]: forget({addr})")  # before the store: it may refuse it
                self.emit(f"{view}[{addr} >> {_SHIFT[size]}] = {value}")
        elif name == "goto":
            if self.static_target and isinstance(args[0], ast.Name) and self.kinds.get(args[0].id) is Kind.TARGET:
                self.emit("return TW")
            else:
                t = self.temp()
                self.emit(f"{t} = {a[0]}")
                self.emit(f"return {t} >> 3 if {t} > 0 and not {t} & 7 else jump_fault({t})")
        elif name == "halt":
            self.emit(f"raise Halted({a[0]})")
        elif name == "trap":
            self.emit(f"raise GuestTrap(Trap.{args[0].id})")
        elif name == "port_out":
            self.emit(f"monitor.port_out({a[0]}, {a[1]})")
        elif name == "port_in":
            self.emit(f"{target} = monitor.port_in({a[0]})")
        elif name == "hypercall":
            self.emit(f"monitor.hypercall({a[0]})")
        else:
            raise ValueError(f"no hw lowering for effect {name}")

    @staticmethod
    def _store_view(size: int, value: str) -> tuple[str, str]:
        if size == 8:
            return "mq", value
        return f"m{_VIEW[size, 0]}", f"({value}) & {(1 << 8 * size) - 1}"


FACTORY_ARGS = ("A, B, C, I, X, XF, pc, next_pc, NW, TW, R, F, mb, mB, mh, mH, mi, mI, mq, md, mem_end, code_end, "
                "forget, monitor")


def handler_source(ins: Instruction, no_base: bool = False, static_target: bool = True) -> str:
    """The Python source of the handler factory for one instruction (shown by tests and tools).

    A handler returns the word index (pc / 8) of the next instruction: the run loop indexes a list
    with it, which is the cheapest dispatch CPython offers.
    """
    body = HwLowering(ins, no_base, static_target).lower()
    lines = [f"def make_{ins.mnemonic}({FACTORY_ARGS}):", f"    def do_{ins.mnemonic}():"]
    lines += ["        " + line for line in body]
    lines += ["        return NW", f"    return do_{ins.mnemonic}"]
    return "\n".join(lines) + "\n"


def has_target_operand(ins: Instruction) -> bool:
    return any(o.kind is Kind.TARGET for o in ins.operands)


def handler_variants(ins: Instruction) -> list[tuple[bool, bool]]:
    """(no_base, static_target) pairs: memory operands may lack a base; a target may be invalid."""
    bases = (False, True) if any(o.kind is Kind.MEM for o in ins.operands) else (False,)
    targets = (True, False) if has_target_operand(ins) else (True,)
    return [(b, t) for b in bases for t in targets]


def handler_namespace() -> dict[str, object]:
    """The names a handler factory's source uses, for exec."""
    return {"GuestTrap": GuestTrap, "Halted": Halted, "Trap": Trap, "jump_fault": _jump_fault, **HW_FUNCTIONS}


class HandlerFactories(dict):
    """Handler factories keyed by (opcode, no_base, static_target). An instruction's are made (their
    source generated and exec'd) when the first instruction with its opcode is decoded: a run
    decodes a few of the hundred opcodes, and making them all cost 15 ms of every process. `source`
    gives a factory's source (hw's own, or the debugger's with its prologue), `namespace` its names."""

    def __init__(self, isa: InstructionSet, source: Callable[..., str] = handler_source,
                 namespace: dict | None = None, label: str = "hw") -> None:
        super().__init__()
        self.isa, self.source, self.label = isa, source, label
        self.namespace = handler_namespace() if namespace is None else namespace

    def __missing__(self, key: tuple[int, bool, bool]) -> Callable:
        ins = self.isa.by_opcode[key[0]]
        for no_base, static_target in handler_variants(ins):
            source = self.source(ins, no_base, static_target)
            exec(compile(source, f"<{self.label} {ins.mnemonic}>", "exec"), self.namespace)
            self[ins.opcode, no_base, static_target] = self.namespace[f"make_{ins.mnemonic}"]
        return self[key]


_FACTORY_CACHE: dict[int, tuple[InstructionSet, HandlerFactories]] = {}


def factories_for(isa: InstructionSet) -> HandlerFactories:
    cached = _FACTORY_CACHE.get(id(isa))
    if cached is None or cached[0] is not isa:
        cached = _FACTORY_CACHE[id(isa)] = (isa, HandlerFactories(isa))
    return cached[1]


def _raise_vm_exit() -> int:
    raise _VM_EXIT


class HwEngine:
    """Runs a machine instruction by instruction; `monitor` provides devices and hypercalls."""

    CHUNK = 1 << 22

    def __init__(self, isa: InstructionSet, machine: Machine, monitor, protect_below: int = 0) -> None:
        """`protect_below`: stores below this address trap UNSUPPORTED instead of changing code (the
        para engine's interpreter must not change code that it has translated)."""
        self.isa = isa
        self.machine = machine
        self.monitor = monitor
        self.factories = factories_for(isa)
        self.mem_end = machine.mem_size
        # handlers[pc // 8]: the closure for the instruction at pc, or None until it is decoded. Sized
        # for the text; it doubles when code runs beyond (in data).
        self.handlers: list[Callable[[], int] | None] = [None] * (machine.image.text_end // WORD + 1)
        self.monitor_handlers: dict[int, Callable[[], int]] = {}
        self.protect_below = protect_below
        self.refused_write: int | None = None  # the address of the last store refused below protect_below
        self.code_end = [protect_below]
        mem = memoryview(machine.mem)
        self.views = {code: mem.cast(code) for code in "bBhHiIqd"}

    # -- decoding ---------------------------------------------------------------------------------
    def check_fetch(self, pc: int) -> None:
        self.check_fetch_at(pc, self.mem_end)

    @staticmethod
    def check_fetch_at(pc: int, mem_end: int) -> None:
        """Trap as fetching an instruction at pc would, if it would."""
        if pc & 7:
            raise GuestTrap(Trap.MISALIGNED, f"fetch from {pc:#x}")
        if pc < 0x1000 or pc > mem_end - WORD:
            raise GuestTrap(Trap.MEMFAULT, f"fetch from {pc:#x}")

    def decode(self, pc: int) -> tuple[Instruction, Callable[[], int]]:
        """Decode the instruction at pc into a handler closure; traps as a fetch would."""
        self.check_fetch(pc)
        mem = self.machine.mem
        fields = decode_word(bytes(mem[pc : pc + WORD]))
        ins = self.isa.by_opcode.get(fields.opcode)
        if ins is None:
            raise GuestTrap(Trap.ILLEGAL, f"opcode {fields.opcode:#04x}")
        bad = bad_register_field(ins, fields)
        if bad:
            raise GuestTrap(Trap.ILLEGAL, bad)
        no_base = has_memory_operand(ins) and fields.b == NO_BASE
        if ins.size > WORD:
            if pc + ins.size > self.mem_end:
                raise GuestTrap(Trap.MEMFAULT, f"literal of {ins.mnemonic} beyond memory")
            fields = with_literal(fields, bytes(mem[pc + WORD : pc + 2 * WORD]))
        # A jump's handler checks its target unless the target is known to be fine.
        static_target = fields.imm > 0 and not fields.imm & 7 or not has_target_operand(ins)
        v = self.views
        machine = self.machine
        next_pc = pc + ins.size
        handler = self.factories[ins.opcode, no_base, static_target](
            fields.a, fields.b, fields.c, fields.imm, fields.literal, bits_float(fields.literal), pc, next_pc,
            next_pc >> 3, fields.imm >> 3, machine.regs, machine.fregs, v["b"], v["B"], v["h"], v["H"], v["i"],
            v["I"], v["q"], v["d"], self.mem_end, self.code_end, self.forget, self.monitor,
        )
        self.code_end[0] = max(self.code_end[0], next_pc)
        return ins, handler

    def forget(self, addr: int) -> None:
        """A store is about to hit decoded code: drop the closures of the word it changes (and of a
        literal's owner)."""
        if addr < self.protect_below:
            self.refused_write = addr  # para's report names it
            raise GuestTrap(Trap.UNSUPPORTED, f"a store into translated code at {addr:#x}")
        word = addr >> 3
        handlers = self.handlers
        for w in (word, word - 1):
            if w < len(handlers):
                handlers[w] = None
            self.monitor_handlers.pop(w, None)

    def forget_range(self, lo: int, hi: int) -> None:
        if lo < self.code_end[0]:
            for addr in range(max(lo & ~7, 0), min(hi, self.code_end[0]), WORD):
                self.forget(addr)

    def install(self, pc: int) -> None:
        ins, handler = self.decode(pc)
        w = pc >> 3
        if w >= len(self.handlers):
            size = min(max(w + 1, 2 * len(self.handlers)), self.mem_end // WORD)
            self.handlers.extend([None] * (size - len(self.handlers)))
        if ins.semantics.exits_to_monitor:
            self.monitor_handlers[w] = handler
            handler = _raise_vm_exit
        self.handlers[w] = handler

    # -- running ----------------------------------------------------------------------------------
    def run(self, fuel: int | None) -> Outcome | None:
        """Run until a stop, or until `fuel` (by default DEFAULT_FUEL) instructions retired (then None;
        the caller decides)."""
        machine = self.machine
        handlers = self.handlers
        pc = machine.pc
        if fuel == 0:
            return None  # the budget is spent before the next fetch, whatever is there
        if pc & 7 or pc <= 0:
            return self._trapped(GuestTrap(Trap.MISALIGNED if pc & 7 else Trap.MEMFAULT), pc)
        w = pc >> 3
        remaining = DEFAULT_FUEL if fuel is None else fuel
        while True:
            chunk = min(remaining, self.CHUNK)
            if chunk == 0:
                machine.pc = w << 3
                return None
            done = 0
            try:
                for done in range(chunk):  # noqa: B007 - `done` counts retired instructions on exit
                    w = handlers[w]()
                done = chunk
            except (TypeError, IndexError):
                if w < len(handlers) and handlers[w] is not None:
                    raise
                machine.retired += done
                try:
                    self.install(w << 3)
                except GuestTrap as trap:
                    return self._trapped(trap, w << 3)
            except VmExit:
                machine.retired += done
                machine.pc = w << 3
                try:
                    w = self.monitor_handlers[w]()
                except GuestTrap as trap:
                    return self._trapped(trap, w << 3)
                except Halted as halt:
                    return self._halted(halt, w << 3)
                except JumpFault as fault:
                    return self._jump_faulted(fault, remaining - done - 1)
                machine.retired += 1
                done += 1
            except GuestTrap as trap:
                machine.retired += done
                return self._trapped(trap, w << 3)
            except Halted as halt:
                machine.retired += done
                return self._halted(halt, w << 3)
            except JumpFault as fault:
                machine.retired += done
                return self._jump_faulted(fault, remaining - done - 1)
            else:
                machine.retired += done
            remaining -= done

    def _trapped(self, trap: GuestTrap, pc: int) -> Outcome:
        self.machine.pc = pc
        return Outcome(None, trap.trap, pc, self.machine.retired, trap.detail)

    def _halted(self, halt: Halted, pc: int) -> Outcome:
        self.machine.retired += 1
        self.machine.pc = pc
        return Outcome(halt.status, None, pc, self.machine.retired)

    def _jump_faulted(self, fault: JumpFault, fuel_left: int) -> Outcome | None:
        """The jump retired; the fetch at its target traps there, unless the budget is spent first."""
        self.machine.retired += 1
        if fuel_left == 0:
            self.machine.pc = fault.target
            return None
        try:
            self.check_fetch(fault.target)
        except GuestTrap as trap:
            return self._trapped(trap, fault.target)
        raise AssertionError("a jump fault at a fetchable address")


def run_in_hw(isa: InstructionSet, machine: Machine, monitor, fuel: int | None) -> Outcome:
    """The rest of a run in hw, to its end: a stop, or FUEL when the budget is spent."""
    engine = HwEngine(isa, machine, monitor)
    monitor.memory_written = engine.forget_range
    return engine.run(fuel) or fuel_outcome(machine)
