"""hw for RISC-V: a virtual RV64GC CPU in Python that fetches and decodes every instruction from guest
memory, so it runs any code the guest has, loaded or written at run time.

As vm64's hw does, each instruction's semantics are lowered once into a handler factory (Python source,
exec'd, and kept compiled on disk); the first fetch at an address decodes the 16- or 32-bit word
there and makes a closure for it, kept in a list indexed by pc >> 1. A page that holds decoded code is
marked in the address space, and a store there (from the guest or a system call) drops the page's
closures, so rewritten code takes effect at its next fetch.

Code the run comes back to is run in blocks: the instructions from an address through direct jumps up
to a branch, a computed jump or a system call, dispatched once and counted by their number. A block
first calls its instructions' handlers in turn; once hot it is compiled into one function of their
lowered bodies. Either way a trap, an exit or a store into decoded code inside it ends the run at
exactly the instruction one at a time would, and the end of a budget is run one at a time.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import marshal
import os
import re
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vm import address_space as address_space_module
from vm.address_space import CODE, EXEC, MAPPED, PAGE_SHIFT, READ, WRITE, AddressSpace, MemoryFault
from vm.arch.riscv64.isa import RiscvIsa, instruction_length, riscv64_isa
from vm.arch.riscv64.model import FP_OPERATIONS, OPERAND_KINDS, OperandKind, RvInstruction
from vm.arch.riscv64.registers import CYCLE, FCSR, FFLAGS, FRM, INSTRET, TIME, X_ZERO_SINK
from vm.engines import hw as hw_module
from vm.engines import lowering as lowering_module
from vm.engines.caching import engine_cache_dir
from vm.engines.hw import HW_FUNCTIONS, HwLowering
from vm.isa import DEFAULT_FUEL, Trap
from vm.isa import semantics as semantics_module
from vm.isa.semantics import memory_access
from vm.machine import GuestTrap, Halted, Outcome, RiscvMachine
from vm.monitor.host import ffi, lib

M64 = (1 << 64) - 1
_VIEW = {(1, 1): "b", (1, 0): "B", (2, 1): "h", (2, 0): "H", (4, 1): "i", (4, 0): "I", (8, 1): "q"}
_STORE_VIEW = {1: "B", 2: "H", 4: "I", 8: "q"}
_SHIFT = {1: 0, 2: 1, 4: 2, 8: 3}
_COUNTERS = (CYCLE, INSTRET)  # reading one needs the exact count of retired instructions
_OPERAND_ARGS = tuple(name.upper() for name in OPERAND_KINDS)  # every operand a description may have
_PLACE_ARGS = ("PC", "NPC", "NW", "TW")  # where the instruction is: its pc, the next one's, and both halved
SHARED_ARGS = ("X, F, mb, mB, mh, mH, mi, mI, mq, perm, B1, B2, B4, B8, load_slow, store_slow, syscall, csr_read, "
               "csr_write, fp, fcsr, lr, sc")  # what every handler of a CPU shares: its registers, memory, services
FACTORY_ARGS = ", ".join(_OPERAND_ARGS + _PLACE_ARGS) + ", " + SHARED_ARGS
_DECODED_NAME = re.compile(r"\b(" + "|".join(_OPERAND_ARGS + _PLACE_ARGS) + r")\b")
MAX_BLOCK = 32  # instructions fused into one block at most
HOT_BLOCK = 1000  # runs of a block before it is compiled
WARM_BLOCK = 2  # times the run reaches an address before a block is made there
COLD_RUN = 16  # instructions run one at a time from an address with no block


def _mulh(a: int, b: int) -> int:
    return (a * b) >> 64


def _mulhu(a: int, b: int) -> int:
    p = ((a & M64) * (b & M64)) >> 64
    return p - (1 << 64) if p >> 63 else p


def _mulhsu(a: int, b: int) -> int:
    return (a * (b & M64)) >> 64  # the floor of a product below 2^127 in size: already a signed 64-bit value


def _udiv(a: int, b: int) -> int:
    q = (a & M64) // (b & M64)
    return q - (1 << 64) if q >> 63 else q


def _urem(a: int, b: int) -> int:
    r = (a & M64) % (b & M64)
    return r - (1 << 64) if r >> 63 else r


_INLINE = {
    "sext32": "((({0}) + 2147483648 & 4294967295) - 2147483648)",
    "zext32": "(({0}) & 4294967295)",
}
_LOW_WORD = ("sext32", "zext32")  # functions of their argument's low 32 bits alone
_FUNCTIONS = {"_mulh": _mulh, "_mulhu": _mulhu, "_mulhsu": _mulhsu, "_udiv": _udiv, "_urem": _urem}


class RiscvLowering(HwLowering):
    """Semantics to the body of a CPython handler closure over RISC-V's registers and address space.

    The statements, expressions and wrapping arithmetic are vm64's hw lowering; what differs is where
    operands live (X and F lists, decode-time constants) and the effects (paged memory, system calls,
    CSRs, the C floating-point library)."""

    def __init__(self, ins: RvInstruction) -> None:
        super().__init__(ins, no_base=False, static_target=True)
        self.kinds = {op.name: op.lowering_kind for op in ins.operands}
        self.rv_kinds = {op.name: op.kind for op in ins.operands}
        self.unwrapped = False  # an address: any value outside the space fails its check, wrapped or not

    def wrapping(self, op: str, left: str, right: str) -> str:
        if self.unwrapped:
            return f"({left} {op} {right})"
        return super().wrapping(op, left, right)

    def expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
            return repr(-node.operand.value)  # a negative constant, not 0 - constant wrapped
        if isinstance(node, ast.Call) and node.func.id in _LOW_WORD:
            return self._unwrapped(node)  # only the low 32 bits count: wrapping at 64 first changes none of them
        return super().expr(node)

    def _unwrapped(self, node: ast.expr) -> str:
        """The expression with its arithmetic left unwrapped (and its shifts)."""
        outer, self.unwrapped = self.unwrapped, True
        try:
            return super().expr(node)
        finally:
            self.unwrapped = outer

    def operand(self, name: str) -> str:
        kind = self.rv_kinds.get(name)
        if kind is OperandKind.X:
            return f"X[{name.upper()}]"
        if kind is OperandKind.F:
            return f"F[{name.upper()}]"
        if kind is not None:
            return name.upper()
        return {"pc": "PC", "next_pc": "NPC"}[name]

    def pure(self, name: str, args: list[str]) -> str:
        if name == "shl" and self.unwrapped:  # under sext32/zext32: the low bits need no wrap
            return f"({args[0]} << ({args[1]} & 63))"
        if name in _INLINE:
            return _INLINE[name].format(*args)
        if f"_{name}" in _FUNCTIONS:
            return f"_{name}({', '.join(args)})"
        return super().pure(name, args)

    def effect(self, name: str, args: list[ast.expr], target: str | None) -> None:
        access = memory_access(name, args)
        if access is not None:
            self._memory(name, args, target, access[0])
        elif name == "goto":
            if _is_pc_relative(args[0]):
                self.emit("return TW")
            else:
                target = self.temp()
                self.emit(f"{target} = {self.expr(args[0])}")
                self.emit(f"return {target} >> 1 if {target} >= 0 else jump_fault({target})")
        elif name == "trap":
            self.emit(f"raise GuestTrap(Trap.{args[0].id})")
        elif name == "syscall":
            self.emit("syscall(X)")
        elif name == "csr_read":
            self.emit(f"{target} = csr_read({self.expr(args[0])})")
        elif name == "csr_write":
            self.emit(f"csr_write({self.expr(args[0])}, {self.expr(args[1])})")
        elif name == "fp":
            self._fp(args, target)
        elif name == "load_reserved":
            self.emit(f"{target} = lr({self.expr(args[0])}, {args[1].value})")
        elif name == "store_conditional":
            self.emit(f"{target} = sc({self.expr(args[0])}, {args[1].value}, {self.expr(args[2])})")
        else:
            raise ValueError(f"no RISC-V hw lowering for effect {name}")

    def _memory(self, name: str, args: list[ast.expr], target: str | None, size: int) -> None:
        """The common access inline: in the space, aligned, on a page that allows it; anything else
        (misaligned, across pages, a fault, a page of decoded code) goes through the slow path."""
        addr = self.temp()
        self.emit(f"{addr} = {self._unwrapped(args[0])}")
        if name == "load":
            signed = args[2].value
            self.emit(f"if {addr} & B{size} or not perm[{addr} >> {PAGE_SHIFT}] & {READ}:")
            self.emit(f"    {target} = load_slow({addr}, {size}, {signed})")
            self.emit("else:")
            self.emit(f"    {target} = m{_VIEW[size, signed]}[{addr} >> {_SHIFT[size]}]")
        else:
            value = self.expr(args[2])
            if size < 8:
                value = f"({value}) & {(1 << 8 * size) - 1}"
            self.emit(f"if {addr} & B{size} or perm[{addr} >> {PAGE_SHIFT}] & {WRITE | CODE} != {WRITE}:")
            self.emit(f"    store_slow({addr}, {size}, {value})")
            self.emit("else:")
            self.emit(f"    m{_STORE_VIEW[size]}[{addr} >> {_SHIFT[size]}] = {value}")

    def _fp(self, args: list[ast.expr], target: str) -> None:
        op = getattr(lib, "VM_RV_FP_" + args[0].id)
        fmt, a, b, c = (self.expr(x) for x in args[1:5])
        rm = args[5]
        if isinstance(rm, ast.Name) and rm.id == "rm":  # the instruction's field: 7 is frm, read now
            mode = self.temp()
            self.emit(f"{mode} = RM if RM != 7 else fcsr[1]")
            self.emit(f"if {mode} > 4: raise GuestTrap(Trap.ILLEGAL, f'rounding mode {{{mode}}} in frm')")
        else:
            mode = self.expr(rm)
        self.emit(f"{target} = fp({op}, {fmt}, {a}, {b}, {c}, {mode}, fcsr)")


def _is_pc_relative(node: ast.expr) -> bool:
    """`pc + offset`: a target known when the instruction is decoded."""
    return (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add) and isinstance(node.left, ast.Name)
            and node.left.id == "pc" and isinstance(node.right, ast.Name) and node.right.id == "offset")


def handler_source(ins: RvInstruction) -> str:
    """The Python source of one instruction's handler factory (shown by tests and tools).

    A handler returns the next instruction's address halved (pc >> 1, exact: instructions are 2-byte
    aligned): the run loop indexes a list with it, the cheapest dispatch CPython offers."""
    body = RiscvLowering(ins).lower()
    name = ins.mnemonic.replace(".", "_")
    lines = [f"def make_{name}({FACTORY_ARGS}):", f"    def do_{name}():"]
    lines += ["        " + line for line in body]
    lines += ["        return NW", f"    return do_{name}"]
    return "\n".join(lines) + "\n"


_BODIES: dict[str, tuple[list[str], str]] = {}


def _body(ins: RvInstruction) -> tuple[list[str], str]:
    """The lowered statements of an instruction, and how control leaves it in a block: "straight" on,
    "jump" (to its target, known at decode: the block may go on there), or "end" (a branch, a computed
    jump, or a system call, which may remap or rewrite code). Measured: blocks that also went on past
    branches not taken ran slower (longer blocks to compile, left early), so a branch ends its block."""
    found = _BODIES.get(ins.mnemonic)
    if found is None:
        lines = RiscvLowering(ins).lower()
        if not ins.semantics.effects & {"goto", "syscall"}:
            flow = "straight"
        elif "return TW" in lines and all(line == "return TW" for line in lines if "return" in line):
            flow = "jump"
        else:
            flow = "end"
        found = _BODIES[ins.mnemonic] = (lines, flow)
    return found


def _stores(ins: RvInstruction) -> bool:
    """Whether the instruction may write memory, and so code decoded into its block (it goes straight on)."""
    return bool(ins.semantics.effects & {"store", "store_conditional"})


@dataclass(frozen=True)
class BlockPart:
    """An instruction of a block: where it is, what its handler factory would be given, and where the
    block goes on after it (the next instruction, or a direct jump's target)."""

    ins: RvInstruction
    operands: tuple[int, ...]  # in _OPERAND_ARGS order, as _prepared gives them
    pc: int
    npc: int
    target: int  # pc + its offset (a branch's or jal's destination)
    then: int


def block_source(parts: list[BlockPart]) -> tuple[str, list[int]]:
    """The Python source of a block's factory: the instructions' bodies one after the other, each with
    its operands and addresses written in as constants; and the first line of each instruction.

    A direct jump inside the block is where the next part is. A store
    may rewrite code decoded into this very block: after each one, a set flag (STALE) ends the block
    there, by an exception the run loop catches (the store has retired; the code after it is decoded
    again). A trap leaves by an exception too: its line says which instruction raised it."""
    lines = [f"def make_block({SHARED_ARGS}, STALE):", "    def block():"]
    starts = []
    for part in parts:
        values = dict(zip(_OPERAND_ARGS, part.operands, strict=True))
        values |= {"PC": part.pc, "NPC": part.npc, "NW": part.npc >> 1, "TW": part.target >> 1}

        def constant(match: re.Match, values: dict[str, int] = values) -> str:
            value = values[match.group(1)]
            return str(value) if value >= 0 else f"({value})"

        body, flow = _body(part.ins)
        if flow == "jump" and part is not parts[-1]:
            body = [line for line in body if line != "return TW"]  # the block goes on at the target
        starts.append(len(lines) + 1)
        lines += ["        " + _DECODED_NAME.sub(constant, line) for line in body]
        if _stores(part.ins):
            lines.append("        if STALE[0]: code_stale()")
    lines.append(f"        return {parts[-1].npc >> 1}")  # after a branch not taken, or a straight last part
    lines.append("    return block")
    return "\n".join(lines) + "\n", starts


class CodeStale(Exception):
    """A store in a block wrote code that was decoded: the block ends after it."""


def _code_stale() -> None:
    raise CodeStale


class JumpFault(Exception):
    """A jump to a negative address retired; the fetch there traps (unless the budget ends first)."""

    def __init__(self, target: int) -> None:
        self.target = target


def _jump_fault(target: int) -> int:
    raise JumpFault(target)


_NAMESPACE = {"GuestTrap": GuestTrap, "Trap": Trap, "jump_fault": _jump_fault, "code_stale": _code_stale,
              **HW_FUNCTIONS, **_FUNCTIONS}
_FACTORIES: dict[str, Callable] = {}


class _CompiledFactories:
    """The factories' compiled code, kept on disk between processes: lowering and compiling them is
    most of a short program's start-up. The file is named by a digest of all that decides the code (the
    descriptions, the generators' sources, the Python version), so a change makes a new one."""

    def __init__(self) -> None:
        self.code: dict[str, types.CodeType] | None = None
        self.path: Path | None = None
        self.added = False

    def get(self, ins: RvInstruction) -> types.CodeType:
        if self.code is None:
            self.path = engine_cache_dir("hw-riscv64") / f"{_digest(riscv64_isa())}.marshal"
            try:
                loaded = marshal.loads(self.path.read_bytes())
            except (OSError, ValueError, EOFError, TypeError):
                loaded = None
            valid = isinstance(loaded, dict) and all(isinstance(c, types.CodeType) for c in loaded.values())
            self.code = loaded if valid else {}
        code = self.code.get(ins.mnemonic)
        if code is None:
            code = self.code[ins.mnemonic] = compile(handler_source(ins), f"<hw {ins.mnemonic}>", "exec")
            self.added = True
        return code

    def save(self) -> None:
        """Write the file again if this process compiled factories it did not have (atomically)."""
        if not self.added or self.path is None:
            return
        self.added = False
        try:
            with tempfile.NamedTemporaryFile(dir=self.path.parent, delete=False) as f:
                f.write(marshal.dumps(self.code))
        except OSError:
            return  # a cache that cannot be written is only slower
        try:
            os.replace(f.name, self.path)
        except OSError:
            os.unlink(f.name)


def _digest(isa: RiscvIsa) -> str:
    """Of all that the generated code depends on: the generators, the language and the page bits they
    read, the C library's operation numbers, every description."""
    h = hashlib.sha256(sys.version.encode())
    for module in (sys.modules[__name__], hw_module, lowering_module, semantics_module, address_space_module):
        h.update(Path(module.__file__).read_bytes())
    h.update(repr([getattr(lib, "VM_RV_FP_" + name) for name in FP_OPERATIONS]).encode())
    for ins in isa.instructions:
        ops = [(o.name, o.kind.name, o.field.spec if o.field else o.value) for o in ins.operands]
        h.update(repr((ins.mnemonic, ins.pattern.text, ops, ins.source)).encode())
    return h.hexdigest()[:32]


_COMPILED = _CompiledFactories()


def _factory(ins: RvInstruction) -> Callable:
    made = _FACTORIES.get(ins.mnemonic)
    if made is None:
        exec(_COMPILED.get(ins), _NAMESPACE)
        made = _FACTORIES[ins.mnemonic] = _NAMESPACE["make_" + ins.mnemonic.replace(".", "_")]
    return made


def prepare_handlers() -> None:
    """Make every instruction's handler factory now, reading (and writing back) the cache on disk: for a
    run that may open no file once it has started (the cage)."""
    for ins in riscv64_isa().instructions:
        _factory(ins)
    _COMPILED.save()


def fetch_word(space: AddressSpace, pc: int) -> tuple[int, int]:
    """The instruction word at pc and its size in bytes; traps as fetching it would."""
    if pc & 1:
        raise GuestTrap(Trap.MISALIGNED, f"fetch from {pc & M64:#x}")
    if not space.fetch_ok(pc, 2):
        raise GuestTrap(Trap.MEMFAULT, f"fetch from {pc & M64:#x}: {_fetch_problem(space, pc)}")
    mem = space.mem
    word = mem[pc] | mem[pc + 1] << 8
    size = instruction_length(word)
    if size == 4:
        if not space.fetch_ok(pc + 2, 2):
            raise GuestTrap(Trap.MEMFAULT, f"fetch from {pc + 2:#x}: {_fetch_problem(space, pc + 2)}")
        word |= (mem[pc + 2] | mem[pc + 3] << 8) << 16
    return word, size


def _fetch_problem(space: AddressSpace, addr: int) -> str:
    if not 0 <= addr < space.size or not space.perm[addr >> PAGE_SHIFT] & MAPPED:
        return "not mapped"
    return "page is not executable"


class _NeedsCount(Exception):
    """Raised in place of an instruction that reads the retired-instruction count: the run loop knows
    the count only between chunks, so it performs that instruction itself."""


def _needs_count() -> int:
    raise _NeedsCount


class RiscvCpu:
    """Runs a RISC-V machine instruction by instruction; `syscall` is the monitor's system calls.

    Handlers live in a list indexed by pc >> 1 over the program's code (the window); the list's last
    GUARD entries stay empty, so that a pc-relative jump below address 0 lands on one of them and traps
    at its fetch. Code outside the window (mapped at run time, say) runs one instruction at a time."""

    CHUNK = 1 << 22
    GUARD = 1 << 19  # a jal reaches 1 MiB back: 2^19 halfwords
    WINDOW_LIMIT = 1 << 26  # the window covers code below 64 MiB at most

    def __init__(self, machine: RiscvMachine, syscall: Callable[[list[int]], None],
                 isa: RiscvIsa | None = None) -> None:
        self.machine = machine
        self.isa = isa or riscv64_isa()
        self.syscall = syscall
        space = self.space = machine.space
        executable = [page for page in range(min(len(space.perm), self.WINDOW_LIMIT >> PAGE_SHIFT))
                      if space.perm[page] & EXEC]
        self.window = ((executable[-1] + 1) << PAGE_SHIFT) >> 1 if executable else 0
        self.handlers: list[Callable[[], int] | None] = [None] * (self.window + self.GUARD)
        self.far: dict[int, Callable[[], int]] = {}  # pc >> 1 -> handler, for code outside the window
        self.counted: dict[int, Callable[[], int]] = {}  # pc >> 1 -> the real handler of a counter read
        self.page_pcs: dict[int, set[int]] = {}  # page -> the decoded pcs on it
        self.prepared: dict[tuple[int, int], tuple] = {}
        self.fcsr = ffi.new("int32_t[2]")  # fflags, frm: the C library accrues flags in place
        mem = memoryview(space.mem)
        self.views = {code: mem.cast(code) for code in "bBhHiIq"}
        bad = {size: -space.size | (size - 1) for size in (1, 2, 4, 8)}  # set where an address is not fast
        v, m = self.views, machine
        self.shared = (m.x, m.f, v["b"], v["B"], v["h"], v["H"], v["i"], v["I"], v["q"], space.perm, bad[1], bad[2],
                       bad[4], bad[8], self.load_slow, space.store, self.syscall, self.csr_read, self.csr_write,
                       lib.vm_rv_fp, self.fcsr, self.load_reserved, self.store_conditional)
        space.code_changed = self.code_changed
        # Blocks: at pc >> 1, a function that runs the instructions from there (through direct jumps, up to
        # a branch, a computed jump or a system call) and returns where to go on; the loop counts `lengths`.
        self.blocks: list[Callable[[], int] | None] = [None] * len(self.handlers)
        self.lengths = [0] * len(self.handlers)
        self.visits = bytearray(len(self.handlers))  # how often the run reached an entry with no block
        self.block_parts: dict[int, tuple[types.CodeType, list[int], list[BlockPart]]] = {}
        self.block_pages: dict[int, set[int]] = {}  # page -> the entries of the blocks with code on it
        self.stale = bytearray(1)  # set when decoded code is written: a block that stored ends there
        self.fused = type(self).wrap is RiscvCpu.wrap  # a CPU whose wrap sees each instruction runs them alone

    # -- decoding ------------------------------------------------------------------------------------
    def fetch(self, pc: int) -> tuple[int, int]:
        return fetch_word(self.space, pc)

    def decode(self, pc: int) -> tuple[RvInstruction, dict[str, int]]:
        """The instruction at pc and its operands' values; traps as fetching it would."""
        word, size = self.fetch(pc)
        return self._prepared(word, size)[4:]

    def _prepared(self, word: int, size: int) -> tuple:
        """What every pc holding this word shares: its factory, its operands as the factory takes them
        (a write to x0 goes to the sink, a read of x0 reads 0), its jump offset, whether it reads a
        counter, and the instruction with its operands' values."""
        prepared = self.prepared.get((word, size))
        if prepared is not None:
            return prepared
        found = self.isa.decode(word, size)
        if found is None:
            bits = f"{word:#010x}" if size == 4 else f"{word:#06x}"
            raise GuestTrap(Trap.ILLEGAL, f"{bits} is not an RV64GC instruction")
        ins, values = found
        args = dict.fromkeys(_OPERAND_ARGS, 0)
        for name, value in values.items():
            args[name.upper()] = value
        if "rd" in values and args["RD"] == 0:  # rd is always an integer register
            args["RD"] = X_ZERO_SINK
        prepared = self.prepared[word, size] = (_factory(ins), tuple(args.values()), args["OFFSET"],
                                                values.get("csr") in _COUNTERS, ins, values)
        return prepared

    def install(self, pc: int) -> Callable[[], int]:
        """Decode the instruction at pc and put its handler in place; returns the handler to call now."""
        word, size = self.fetch(pc)
        factory, operands, offset, counted, ins, values = self._prepared(word, size)
        npc = pc + size
        tgt = pc + offset
        handler = self.wrap(pc, ins, values, factory(*operands, pc, npc, npc >> 1, tgt >> 1, *self.shared))
        for page in {pc >> PAGE_SHIFT, (npc - 1) >> PAGE_SHIFT}:
            pcs = self.page_pcs.get(page)
            if pcs is None:
                pcs = self.page_pcs[page] = set()
                self.space.perm[page] |= CODE
            pcs.add(pc)
        w = pc >> 1
        if w >= self.window:
            self.far[w] = handler  # run one at a time, with the count exact: a counter read needs nothing more
        elif counted:
            self.counted[w] = handler
            self.handlers[w] = _needs_count
        else:
            self.handlers[w] = handler
        return handler

    def wrap(self, pc: int, ins: RvInstruction, values: dict[str, int], handler: Callable[[], int]) -> Callable:
        """A hook for tools (the tracer) to wrap each handler as it is installed."""
        return handler

    def install_block(self, w: int) -> bool:
        """Decode the block at pc = w << 1 and put it in place, as a chain of the instructions' handlers
        until it has run HOT_BLOCK times, then compiled into one function (compiling costs what some
        thousand instructions do: code run a few times never pays it back). A block goes on through
        direct jumps, up to a branch, a computed jump or a system call. False where there is no block
        to make (its first instruction traps at its fetch or decode, or reads a counter): that one
        instruction runs alone."""
        parts: list[BlockPart] = []
        pc = w << 1
        while len(parts) < MAX_BLOCK and 0 <= pc >> 1 < self.window:
            try:
                word, size = self.fetch(pc)
                _, operands, offset, counted, ins, _ = self._prepared(word, size)
            except GuestTrap:
                break  # it traps when the run gets there, alone
            if counted:
                break
            flow = _body(ins)[1]
            then = pc + offset if flow == "jump" else pc + size
            parts.append(BlockPart(ins, operands, pc, pc + size, pc + offset, then))
            if flow == "end" or flow == "jump" and not 0 <= then >> 1 < self.window:
                break
            pc = then
        if not parts:
            return False
        handlers = tuple(self.handlers[part.pc >> 1] or self.install(part.pc) for part in parts)
        chain = self._chain(w, parts, handlers)
        for part in parts:
            for page in {part.pc >> PAGE_SHIFT, (part.npc - 1) >> PAGE_SHIFT}:
                self.block_pages.setdefault(page, set()).add(w)
                self.space.perm[page] |= CODE
        self.block_parts[w] = (chain.__code__, None, parts)
        self.blocks[w], self.lengths[w] = chain, len(parts)
        return True

    def _chain(self, w: int, parts: list[BlockPart], handlers: tuple) -> Callable[[], int]:
        """The block as its handlers called in turn (a jump's handler returns where the next one is);
        counts its runs, and once hot compiles the block."""
        stale = self.stale
        stores = tuple(_stores(part.ins) for part in parts)
        runs = 0

        def chain() -> int:
            nonlocal runs
            runs += 1
            if runs >= HOT_BLOCK and self.blocks[w] is chain:
                return self._compile_block(w, parts)()
            for index, handler in enumerate(handlers):  # noqa: B007 - `index` says which one raised
                following = handler()
                if stale[0] and stores[index]:
                    _code_stale()
            return following

        return chain

    def _compile_block(self, w: int, parts: list[BlockPart]) -> Callable[[], int]:
        """Compile the block at w and put it in place of its chain (which runs it this once)."""
        source, starts = block_source(parts)
        namespace: dict = {}
        exec(compile(source, f"<hw block {w << 1:#x}>", "exec"), _NAMESPACE, namespace)
        block = namespace["make_block"](*self.shared, self.stale)
        self.block_parts[w] = (block.__code__, starts, parts)
        self.blocks[w] = block
        return block

    def _raised_in(self, w: int, error: BaseException) -> tuple[int, BlockPart]:
        """Which instruction of the block at w raised `error`: (how many before it, that instruction)."""
        code, starts, parts = self.block_parts[w]
        tb = error.__traceback__
        while tb is not None and tb.tb_frame.f_code is not code:
            tb = tb.tb_next
        if starts is None:  # a chain: its loop's index
            index = tb.tb_frame.f_locals["index"]
        else:  # compiled: the line of the instruction's statements
            index = bisect.bisect_right(starts, tb.tb_lineno) - 1
        return index, parts[index]

    def code_changed(self, lo: int, hi: int) -> None:
        """Pages in [lo, hi) that held decoded code were written or remapped: decode them again."""
        self.stale[0] = 1
        for page in range(lo >> PAGE_SHIFT, ((hi - 1) >> PAGE_SHIFT) + 1):
            for w in self.block_pages.pop(page, ()):
                self.blocks[w], self.lengths[w] = None, 0  # its parts stay: a block that stored ends by them
            for pc in self.page_pcs.pop(page, ()):
                w = pc >> 1
                if w < self.window:
                    self.handlers[w] = None
                self.far.pop(w, None)
                self.counted.pop(w, None)
            self.space.perm[page] &= ~CODE

    # -- what handlers call ------------------------------------------------------------------------
    def load_slow(self, addr: int, size: int, signed: int) -> int:
        return self.space.load(addr, size, bool(signed))

    def csr_read(self, csr: int) -> int:
        if csr == FFLAGS:
            return self.fcsr[0] & 0x1F
        if csr == FRM:
            return self.fcsr[1] & 7
        if csr == FCSR:
            return (self.fcsr[1] & 7) << 5 | self.fcsr[0] & 0x1F
        if csr in _COUNTERS:
            return self.machine.retired
        if csr == TIME:
            return time.monotonic_ns() // 100  # a 10 MHz timebase, as QEMU's virt board has
        raise GuestTrap(Trap.ILLEGAL, f"CSR {csr:#05x} is not accessible in user mode")

    def csr_write(self, csr: int, value: int) -> None:
        if csr == FFLAGS:
            self.fcsr[0] = value & 0x1F
        elif csr == FRM:
            self.fcsr[1] = value & 7
        elif csr == FCSR:
            self.fcsr[0], self.fcsr[1] = value & 0x1F, value >> 5 & 7
        elif csr in _COUNTERS or csr == TIME:
            raise GuestTrap(Trap.ILLEGAL, f"CSR {csr:#05x} is read-only")
        else:
            raise GuestTrap(Trap.ILLEGAL, f"CSR {csr:#05x} is not accessible in user mode")

    def load_reserved(self, addr: int, size: int) -> int:
        value = self.space.load(addr, size, True)
        self.machine.reservation = (addr, size, value)
        return value

    def store_conditional(self, addr: int, size: int, value: int) -> int:
        """Succeeds while the reservation is on this address and memory, read at the SC's size, still
        holds the value the LR loaded (sign-extended), as QEMU decides."""
        held, self.machine.reservation = self.machine.reservation, None
        if held is None or held[0] != addr or self.space.load(addr, size, True) != held[2]:
            return 1
        self.space.store(addr, size, value)
        return 0

    # -- running -----------------------------------------------------------------------------------
    def run(self, fuel: int | None) -> Outcome | None:
        """Run until a stop, or until `fuel` (by default DEFAULT_FUEL) instructions retired (then None)."""
        machine = self.machine
        self.fcsr[0], self.fcsr[1] = machine.fflags, machine.frm
        try:
            return self._run(DEFAULT_FUEL if fuel is None else fuel)
        finally:
            machine.fflags, machine.frm = self.fcsr[0], self.fcsr[1]
            _COMPILED.save()

    def _run(self, remaining: int) -> Outcome | None:
        machine = self.machine
        if machine.pc & 1:
            return self._stopped(None, Trap.MISALIGNED, machine.pc, f"fetch from {machine.pc & M64:#x}")
        if self.fused:
            while remaining > MAX_BLOCK:
                done, stop = self._run_blocks(remaining - MAX_BLOCK)
                if stop is not None:
                    return stop
                remaining -= done
        return self._run_singles(remaining)

    def _run_blocks(self, limit: int) -> tuple[int, Outcome | None]:
        """Run whole blocks until `limit` or more instructions are counted (a block is never longer than
        MAX_BLOCK: the count stays below limit + MAX_BLOCK), or until the run stops: (how many retired,
        how it stopped or None). Where there is no block yet, instructions run one at a time for a while:
        a block is made at an entry reached WARM_BLOCK times (most of a program's code runs once or
        twice, as its start-up does, and decoding it into blocks would cost more than running it)."""
        machine = self.machine
        blocks, lengths, window, visits = self.blocks, self.lengths, self.window, self.visits
        w = machine.pc >> 1
        n = 0  # retired since machine.retired was last brought up to date
        done = 0
        while n < limit:
            try:
                while n < limit:
                    n += lengths[w]
                    w = blocks[w]()  # on an exception w is still the block's entry; n counts all of it
                continue
            except (TypeError, IndexError):  # no block there: None was called, or w is past the list
                if 0 <= w < window and blocks[w] is not None:
                    raise  # a block's own error: an engine bug, not a missing block
                count = 1  # outside the window: one instruction at a time
                if 0 <= w < window:
                    if visits[w] >= WARM_BLOCK and self.install_block(w):
                        continue
                    visits[w] = min(visits[w] + 1, 255)
                    count = min(COLD_RUN, limit - n)
                machine.retired += n
                done, limit, n = done + n, limit - n, 0
                machine.pc = w << 1
                stop = self._run_singles(count)
                if stop is not None:
                    return done, stop
                done, limit = done + count, limit - count
                w = machine.pc >> 1
                continue
            except CodeStale as stale:
                self.stale[0] = 0
                index, part = self._raised_in(w, stale)
                n -= len(self.block_parts[w][2]) - index - 1  # the store retired; the rest did not run
                w = part.then >> 1
                continue
            except (GuestTrap, MemoryFault, Halted, JumpFault) as error:
                index, part = self._raised_in(w, error)
                n -= len(self.block_parts[w][2]) - index
                machine.retired += n
                if isinstance(error, GuestTrap):
                    return done + n, self._stopped(None, error.trap, part.pc, error.detail)
                if isinstance(error, MemoryFault):
                    return done + n, self._stopped(None, Trap.MEMFAULT, part.pc, str(error))
                machine.retired += 1
                if isinstance(error, Halted):
                    return done + n + 1, self._stopped(error.status, None, part.pc)
                return done + n + 1, self._jump_faulted(error.target, limit + MAX_BLOCK - n - 1)
        machine.retired += n
        machine.pc = w << 1
        return done + n, None

    def _run_singles(self, remaining: int) -> Outcome | None:
        """Run `remaining` instructions one at a time (the count exact after each), or until a stop."""
        machine = self.machine
        handlers = self.handlers
        window = self.window
        w = machine.pc >> 1
        while True:
            chunk = min(remaining, self.CHUNK)
            if chunk == 0:
                machine.pc = w << 1
                return None
            done = 0
            try:
                for done in range(chunk):  # noqa: B007 - `done` counts retired instructions on exit
                    w = handlers[w]()
                done = chunk
            except (TypeError, IndexError):  # no handler there: None was called, or w is past the list
                if 0 <= w < window and handlers[w] is not None:
                    raise  # a handler's own error: an engine bug, not a missing handler
                machine.retired += done
                remaining -= done
                if 0 <= w < window:
                    try:
                        self.install(w << 1)
                    except GuestTrap as trap:
                        return self._stopped(None, trap.trap, w << 1, trap.detail)
                    continue
                try:  # outside the window: one instruction, decoded (or its fetch trapping) now
                    handler = self.far.get(w) or self.install(w << 1)
                except GuestTrap as trap:
                    return self._stopped(None, trap.trap, w << 1, trap.detail)
                w, stop = self._one(handler, w, remaining)
                if stop is not None or w is None:
                    return stop
                remaining -= 1
                continue
            except _NeedsCount:
                machine.retired += done
                remaining -= done
                w, stop = self._one(self.counted[w], w, remaining)
                if stop is not None or w is None:
                    return stop
                remaining -= 1
                continue
            except GuestTrap as trap:
                machine.retired += done
                return self._stopped(None, trap.trap, w << 1, trap.detail)
            except MemoryFault as fault:
                machine.retired += done
                return self._stopped(None, Trap.MEMFAULT, w << 1, str(fault))
            except Halted as halt:
                machine.retired += done + 1
                return self._stopped(halt.status, None, w << 1)
            except JumpFault as fault:
                machine.retired += done + 1
                return self._jump_faulted(fault.target, remaining - done - 1)
            machine.retired += done
            remaining -= done

    def _one(self, handler: Callable[[], int], w: int, remaining: int) -> tuple[int | None, Outcome | None]:
        """Run one instruction with the retired count exact: (the next pc >> 1, None), or (None, how the
        run stopped), or (None, None) when the budget ended at a jump to a negative address."""
        machine = self.machine
        try:
            following = handler()
        except GuestTrap as trap:
            return None, self._stopped(None, trap.trap, w << 1, trap.detail)
        except MemoryFault as fault:
            return None, self._stopped(None, Trap.MEMFAULT, w << 1, str(fault))
        except Halted as halt:
            machine.retired += 1
            return None, self._stopped(halt.status, None, w << 1)
        except JumpFault as fault:
            machine.retired += 1
            return None, self._jump_faulted(fault.target, remaining - 1)
        machine.retired += 1
        return following, None

    def _jump_faulted(self, target: int, left: int) -> Outcome | None:
        """The jump retired; the fetch at its target traps there, unless the budget is spent first."""
        if left == 0:
            self.machine.pc = target & M64
            return None
        try:
            self.fetch(target)
        except GuestTrap as trap:
            return self._stopped(None, trap.trap, target, trap.detail)
        raise AssertionError("a jump fault at a fetchable address")

    def _stopped(self, status: int | None, trap: Trap | None, pc: int, detail: str = "") -> Outcome:
        pc &= M64  # an address, as a jump below 0 reached it
        self.machine.pc = pc
        return Outcome(status, trap, pc, self.machine.retired, detail)
