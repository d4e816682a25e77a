"""Translation of a guest program's text into Python source for Numba, from the ISA description.

The text is decoded once and cut into basic blocks; the blocks are grouped into regions (the code
from one function entry to the next, at most MAX_REGION_BLOCKS blocks each, so compile time grows
linearly with the program). Each region becomes one njit function: guest registers live in native
locals, a `while` loop dispatches on the block address, and each instruction is its semantics lowered
by `ParaLowering`. Guest calls into another region are native calls, and so are jumps forward into
another region, and returns to them are native returns; a call from a region into itself is a jump,
and a return to it continues in the region (`RegionWriter.calls_within`), in a copy of the block
at its call site where that is small (`RegionWriter.continued`), as does a loop's exit. A block's
accesses at one base register are checked together at its start (`windows.py`).
"""

from __future__ import annotations

import ast
import functools
import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import bits_float, operand_values
from vm.arch.vm64.image import LOAD_ADDRESS, Image
from vm.arch.vm64.model import NO_BASE, Instruction
from vm.engines.lowering import Lowering
from vm.engines.para import abi
from vm.engines.para.windows import LoopAccesses, Stride, Window, block_accesses, loop_accesses
from vm.engines.text import Decoded, cut_blocks, decode_text, static_target
from vm.isa import Kind, Trap
from vm.isa.semantics import FIXED_FLOAT, FIXED_INT, memory_access
from vm.monitor.monitor import PORTS

ENGINE_VERSION = "para-4"
MAX_REGION_BLOCKS = 16


@dataclass
class Region:
    name: str
    blocks: list[list[Decoded]]

    @property
    def start(self) -> int:
        return self.blocks[0][0].pc

    @property
    def instructions(self) -> int:
        return sum(len(block) for block in self.blocks)


@dataclass
class Translation:
    """The generated source and the tables the engine needs to run it."""

    source: str
    regions: list[Region]
    leaders: dict[int, int]  # block start -> region index
    text_end: int


def form_regions(image: Image, words: list[Decoded], max_blocks: int = MAX_REGION_BLOCKS) -> list[Region]:
    """Cut the text into blocks, and the blocks into regions (function entry to function entry)."""
    blocks, entries = cut_blocks(image, words)
    regions: list[Region] = []
    for block in blocks:
        start = block[0].pc
        if not regions or start in entries or len(regions[-1].blocks) >= max_blocks:
            regions.append(Region(f"region_{start:x}", []))
        regions[-1].blocks.append(block)
    return regions

# -- deferred NaN canonicalisation -------------------------------------------------------------------
# The ISA makes every NaN from arithmetic the canonical one (`fd = fcanon(...)`). Doing that at once
# puts a compare and a select on every float result, on the dependency chain of a float loop, which
# doubled the time of the float benchmarks. Para defers it to where a float's bits can be seen:
# `fd = fcanon(e)` leaves e's own result in fd and sets fd's NaN flag (a byte in the region call's
# stack frame); a flagged register is canonicalised (`fexact`) where its bits are read (f2bits,
# fstore, a plain assignment, a hypercall) and when it is stored to the guest's registers. Until
# then, only whether it is a NaN, and its value otherwise, can matter, and both are the same before
# and after canonicalisation. Such reads are "blind": the operands of comparisons and of the
# functions in _NAN_BLIND, and whatever passes through _NAN_PRESERVING operations on the way there.
_NAN_BLIND = {"fcanon", "fmin", "fmax", "isnan", "ftoi_ok", "ftoi"}  # see only NaN or not, and the value
_NAN_PRESERVING = {"fsqrt", "fma"}  # a NaN in gives a NaN out; the value is exact otherwise


def _mark_reads(node: ast.expr, blind: bool, is_float_register) -> ast.expr:
    """The expression with each float register read that must be exact wrapped in `fexact(...)`."""
    def mark(child: ast.expr, child_blind: bool) -> ast.expr:
        return _mark_reads(child, child_blind, is_float_register)

    if isinstance(node, ast.Name):
        return _call("fexact", node) if is_float_register(node.id) and not blind else node
    if isinstance(node, ast.Call):
        name = node.func.id
        inner = True if name in _NAN_BLIND else blind and name in _NAN_PRESERVING
        return ast.Call(node.func, [mark(a, inner) for a in node.args], [])
    if isinstance(node, ast.BinOp):  # float + - * /: a NaN in gives a NaN out
        return ast.BinOp(mark(node.left, blind), node.op, mark(node.right, blind))
    if isinstance(node, ast.UnaryOp):
        return ast.UnaryOp(node.op, mark(node.operand, blind))
    if isinstance(node, ast.Compare):
        return ast.Compare(mark(node.left, True), node.ops, [mark(c, True) for c in node.comparators])
    if isinstance(node, ast.BoolOp):
        return ast.BoolOp(node.op, [mark(v, True) for v in node.values])
    if isinstance(node, ast.IfExp):
        return ast.IfExp(mark(node.test, True), mark(node.body, blind), mark(node.orelse, blind))
    return node


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.Name(name, ast.Load()), list(args), [])


def _mark_statements(body: list[ast.stmt], is_float_register) -> list[ast.stmt]:
    """Statements with float reads marked; `fd = fcanon(e)` becomes `fd = flazy(e)` (deferred)."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.AugAssign):
            value = ast.BinOp(ast.Name(stmt.target.id, ast.Load()), stmt.op, stmt.value)
            stmt = ast.Assign([ast.Name(stmt.target.id, ast.Store())], value)
        if isinstance(stmt, ast.Assign):
            target, value = stmt.targets[0].id, stmt.value
            if is_float_register(target) and isinstance(value, ast.Call) and value.func.id == "fcanon":
                value = _call("flazy", _mark_reads(value.args[0], True, is_float_register))
            elif not (is_float_register(target) and isinstance(value, ast.Name) and is_float_register(value.id)):
                value = _mark_reads(value, False, is_float_register)  # (a move keeps its source's flag)
            out.append(ast.Assign(stmt.targets, value))
        elif isinstance(stmt, ast.If):
            out.append(ast.If(_mark_reads(stmt.test, True, is_float_register),
                              _mark_statements(stmt.body, is_float_register),
                              _mark_statements(stmt.orelse, is_float_register)))
        elif isinstance(stmt, ast.While):
            out.append(ast.While(_mark_reads(stmt.test, True, is_float_register),
                                 _mark_statements(stmt.body, is_float_register), []))
        elif isinstance(stmt, ast.For):
            out.append(ast.For(stmt.target, stmt.iter, _mark_statements(stmt.body, is_float_register), []))
        elif isinstance(stmt, ast.Expr):
            out.append(ast.Expr(_mark_reads(stmt.value, False, is_float_register)))
        else:
            out.append(stmt)
    return out


# Each of these depends on the instruction alone, and translation runs on every para run (it gives the
# cache key): each is worked out once per instruction.
@functools.cache
def float_register_names(ins: Instruction) -> frozenset[str]:
    return frozenset({op.name for op in ins.operands if op.kind is Kind.FREG} | set(FIXED_FLOAT))


@functools.cache
def marked_semantics(ins: Instruction) -> list[ast.stmt]:
    """An instruction's semantics with its float reads marked for deferred canonicalisation."""
    return _mark_statements(ins.semantics.tree.body, float_register_names(ins).__contains__)


@functools.cache
def deferred_assignments(ins: Instruction) -> tuple[tuple[str, str | None], ...]:
    """Each assignment that may leave a NaN to canonicalise in a float register, as (target, None)
    for `flazy` and (target, source) for a move from another float register."""
    floats = float_register_names(ins)
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.Module(marked_semantics(ins), [])):
        if isinstance(node, ast.Assign) and node.targets[0].id in floats:
            value = node.value
            if isinstance(value, ast.Call) and value.func.id == "flazy":
                found.append((node.targets[0].id, None))
            elif isinstance(value, ast.Name) and value.id in floats:
                found.append((node.targets[0].id, value.id))
    return tuple(found)


def _float_register(values: dict[str, int], name: str) -> int:
    """The number of the float register that an operand name (or a fixed name such as f0) means."""
    return values[name] if name in values else FIXED_FLOAT[name]


class ParaLowering(Lowering):
    """Semantics of one instruction, at one address, to statements inside a region function."""

    def __init__(self, unit: RegionWriter, d: Decoded, index: int, block_length: int) -> None:
        super().__init__(d.ins)
        self.unit = unit
        self.d = d
        self.index = index  # position in its block, for the retired count on an early exit
        self.block_length = block_length
        self.values = operand_values(d.ins, d.fields)
        self.accesses = 0  # the instruction's accesses so far, in the order `block_accesses` counts them

    def lower(self) -> list[str]:
        self.block(marked_semantics(self.ins))
        return self.lines

    def local(self, name: str) -> str:
        return f"t{self.d.pc:x}_{name}"

    def float_register(self, name: str) -> int:
        return _float_register(self.values, name)

    def statement(self, stmt: ast.stmt) -> None:
        """An assignment to a float register also says whether it holds a NaN still to canonicalise."""
        if isinstance(stmt, ast.If | ast.While | ast.For):
            self.flush_nan_flags()  # what runs conditionally is not tracked (RegionWriter.flag_update)
            if isinstance(stmt, ast.While | ast.For):
                self.unit.flags.clear()  # a later turn sees what the body assigned: read the flags
        if not (isinstance(stmt, ast.Assign) and stmt.targets[0].id in float_register_names(self.ins)):
            super().statement(stmt)
            return
        target, value = stmt.targets[0].id, stmt.value
        n = self.float_register(target)
        if isinstance(value, ast.Call) and value.func.id == "flazy":
            self.emit(f"{self.assign_target(target, value)} = {self.expr(value.args[0])}")
            source = None
        else:
            super().statement(stmt)
            moved = isinstance(value, ast.Name) and value.id in float_register_names(self.ins)
            source = self.float_register(value.id) if moved else -1
        if n in self.unit.deferred:
            for line in self.unit.flag_update(n, source, tracked=self.depth == 0):
                self.emit(line)

    def flush_nan_flags(self) -> None:
        for line in self.unit.flush_nan_flags():
            self.emit(line)

    def expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call) and node.func.id == "fexact":
            return self.unit.exact_float(self.float_register(node.args[0].id))
        return super().expr(node)

    def type_of(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call) and node.func.id in ("fexact", "flazy"):
            return "float"
        return super().type_of(node)

    def operand(self, name: str) -> str:
        kind = self.kinds.get(name)
        if kind is Kind.REG:
            return self.unit.use_int(self.values[name])
        if kind is Kind.FREG:
            return self.unit.use_float(self.values[name])
        if kind in (Kind.IMM, Kind.TARGET, Kind.LIT):
            return str(self.values[name])
        if kind is Kind.FLIT:
            return float_literal(self.values[name])
        if name == "addr":
            base, off = self.values["mem.base"], self.values["mem.off"]
            return str(off) if base == NO_BASE else f"wrapping_add({self.unit.use_int(base)}, {off})"
        if name in FIXED_INT:
            return self.unit.use_int(FIXED_INT[name])
        if name in FIXED_FLOAT:
            return self.unit.use_float(FIXED_FLOAT[name])
        if name == "pc":
            return str(self.d.pc)
        if name == "next_pc":
            return str(self.d.pc + self.d.size)
        raise KeyError(name)

    def register_target(self, name: str) -> str:
        return self.operand(name)

    def pure(self, name: str, args: list[str]) -> str:
        return f"{name}({', '.join(args)})"

    def wrapping(self, op: str, left: str, right: str) -> str:
        # An intrinsic, not Python's operator: Numba marks int64 + - * as never overflowing (nsw),
        # and LLVM then folds comparisons as if no guest value could wrap.
        return f"{_WRAPPING[op]}({left}, {right})"

    def if_expression(self, test: str, body: str, orelse: str) -> str:
        return f"select({test}, {body}, {orelse})"

    def bool_operation(self, is_and: bool, values: list[str]) -> str:
        return "(" + (" & " if is_and else " | ").join(values) + ")"

    def temp(self) -> str:
        self.temp_count += 1
        return f"t{self.d.pc:x}__{self.temp_count}"

    def leave(self, reason: int, detail: int | str | None = None, retires: bool | str = False) -> None:
        """Leave native code at this instruction; `retires` may be a run-time condition."""
        self.flush_nan_flags()
        unused = self.block_length - self.index
        unused = f"{unused} - ({retires})" if isinstance(retires, str) else unused - retires
        for line in leave_lines(self.d.pc, unused, reason, detail):
            self.emit(line)

    def nested_leave(self, reason: int, detail: int | str | None = None, retires: bool | str = False) -> None:
        self.depth += 1
        self.leave(reason, detail, retires)
        self.depth -= 1

    def address(self, node: ast.expr) -> tuple[str, int]:
        """An access's address as a base (source) and an offset: the ISA's `base + offset` wraps,
        and the check and the access both add them (LLVM computes the sum once)."""
        if isinstance(node, ast.Name) and node.id == "addr":
            base, offset = self.values["mem.base"], self.values["mem.off"]
            return ("0", offset) if base == NO_BASE else (self.unit.use_int(base), offset)
        value = self.expr(node)
        if not value.isidentifier():
            temp = self.temp()
            self.emit(f"{temp} = {value}")
            value = temp
        return value, 0

    def check_access(self, base: str, offset: int, size: int, store: bool) -> None:
        """Trap (or refuse a write into the text) before the access, as the hw engine would. The
        check is one compare; which fault it is, is worked out off the fast path. An access in one of
        the block's windows was checked with it at the block's start."""
        self.accesses += 1
        if (self.d.pc, self.accesses - 1) in self.unit.covered:
            return
        unused = self.block_length - self.index
        kind, text_end = ("store", f"{self.unit.text_end}, ") if store else ("load", "")
        self.emit(f"leave = check_{kind}({base}, {offset}, {size}, mem_size, {text_end}{unused})")
        self.emit("if leave:")
        self.emit(f"    pc = {self.d.pc}")
        self.emit("    break")

    # -- effects ---------------------------------------------------------------------------------
    def effect(self, name: str, args: list[ast.expr], target: str | None) -> None:
        self.flush_nan_flags()  # an effect may leave native code, or the region
        if name == "trap":
            self.leave(abi.REASON_TRAP, int(Trap[args[0].id]))
            return
        access = memory_access(name, args)
        if access is not None:
            size, store = access
            base, offset = self.address(args[0])
            value = self.expr(args[-1]) if store else None
            self.check_access(base, offset, size, store)
            at = f"mem, {base}, {offset}"
            if name == "load":
                self.emit(f"{target} = load_{'i' if args[2].value else 'u'}{8 * size}({at})")
            elif name == "fload":
                self.emit(f"{target} = load_f64({at})")
            else:
                self.emit(f"store_{'f64' if name == 'fstore' else 8 * size}({at}, {value})")
            return
        a = [self.expr(x) for x in args]
        if name == "goto":
            self.goto(args[0], a[0])
        elif name == "halt":
            self.emit(f"set_slot(ctx_address, {abi.CTX_DETAIL}, {a[0]})")
            self.leave(abi.REASON_HALT, retires=True)
        elif name == "hypercall":
            self.hypercall(a[0])
        elif name == "port_out":  # an output device (batched_output): recorded, performed at the next exit
            n = self.temp()
            self.emit(f"{n} = slot(ctx_address, {abi.CTX_OUT_COUNT})")
            self.emit(f"if {n} == {abi.OUT_BATCH}:")  # the batch is full: the monitor performs it, then this
            self.nested_leave(abi.REASON_DEVICE)
            self.emit(f"store_64(slot(ctx_address, {abi.CTX_OUT_BATCH}), {n} * 16, 0, {a[0]})")
            self.emit(f"store_64(slot(ctx_address, {abi.CTX_OUT_BATCH}), {n} * 16, 8, {a[1]})")
            self.emit(f"set_slot(ctx_address, {abi.CTX_OUT_COUNT}, {n} + 1)")
        else:
            raise ValueError(f"no para lowering for effect {name}")

    def goto(self, node: ast.expr, target: str) -> None:
        local_returns = self.unit.local_returns
        if self.ins.flow == "return":
            self.emit(f"pc = {target}")
            if local_returns:  # a return from a call in this region continues here (RegionWriter.body)
                self.emit(RETURN_SITES)
            self.emit(f"status = {abi.STATUS_RETURN}")
            self.emit("break")
        elif self.ins.flow == "call" and self.d.pc + self.d.size not in local_returns:
            self.native_call(target)
        else:
            self.emit(f"pc = {target}")
            self.emit("continue")

    def native_call(self, target: str) -> None:
        """Call the region at target as a native function; it returns here when the guest returns."""
        return_pc = self.d.pc + self.d.size
        t = self.temp()
        region = self.unit.leaders.get(int(target)) if target.isdigit() else None
        self.emit("SPILL")
        if region is None:
            self.emit(f"{t} = call_guest({target}, ctx_address, {return_pc})")
        else:  # a static target: its region is known
            self.emit(f"{t} = call_guest_region({region}, {target}, ctx_address, {return_pc})")
        self.emit("RELOAD")
        self.emit(f"if {t}:")
        self.emit(f"    pc = slot(ctx_address, {abi.CTX_PC})")
        self.emit(f"    status = {t} - 1")
        self.emit("    break")
        self.emit(f"pc = {return_pc}")
        self.emit("continue")

    def hypercall(self, number: str) -> None:
        u = self.unit
        # Output the monitor has not yet performed comes first: the interpreter runs this one after it.
        self.emit(f"if slot(ctx_address, {abi.CTX_OUT_COUNT}):")
        self.nested_leave(abi.REASON_INTERPRET)
        st = self.temp()
        r1, r2, r3, r0 = (u.use_int(i) for i in (1, 2, 3, 0))
        self.emit(f"{st} = call_hypercall(slot(ctx_address, {abi.CTX_HYPERCALL}), slot(ctx_address, {abi.CTX_HOST}), "
                  f"{number}, {r1}, {r2}, {r3}, {u.exact_float(0)}, mem, mem_size, ctx_address + {8 * abi.CTX_R0})")
        self.emit(f"{r0} = hypercall_result({st}, {r0}, ctx_address)")
        self.emit(f"if {st} > 1:")
        self.nested_leave(0, f"hypercall_leave({st}, ctx_address)", retires=f"{st} == 100")


_WRAPPING = {"+": "wrapping_add", "-": "wrapping_sub", "*": "wrapping_mul"}
# Lines of a block's code that RegionWriter.continued replaces: where a return checks for this
# region's call sites, and where a loop's exits (the numbers after EXITS) go on through the dispatch.
RETURN_SITES, EXITS = "RETURN_SITES", "EXITS"
MAX_COPIED_BLOCK = 24  # a block is copied to where it is known to come next if at most this long
MAX_COPY_DEPTH = 3  # copies in copies in copies, and no further
COPY_ROOM = 12  # the copies of a region hold at most this many times its instructions


def leave_lines(pc: int, unused: int | str, reason: int, detail: int | str | None = None) -> list[str]:
    """Leave native code at pc, as one `leave` word that the function's epilogue unpacks.

    The block took its whole length from the budget at its start, so the instructions that do not
    retire (this one, unless it does, and the rest) give theirs back: `unused` of them.
    `detail` is a trap code, or a `leave` word computed at run time (then `reason` is 0).
    """
    word = abi.leave_word(reason, 0, int(detail) if isinstance(detail, int) else 0)
    if isinstance(detail, str):
        value = f"{detail} + (({unused}) << 8)" if unused != 0 else detail
    else:
        value = str(word + (unused << 8)) if isinstance(unused, int) else f"{word} + (({unused}) << 8)"
    return [f"leave = {value}", f"pc = {pc}", "break"]


def safe_text(text: str) -> str:
    """Text for a comment of generated code: no line breaks or other control characters can end the
    comment and inject code (an image's metadata is untrusted)."""
    return repr(str(text))[1:-1]


def float_literal(bits: int) -> str:
    value = bits_float(bits)
    return repr(value) if math.isfinite(value) else f"bits2f({bits})"


class RegionWriter:
    """Writes one region function."""

    def __init__(self, region: Region, text_end: int, image: Image, leaders: dict[int, int]) -> None:
        self.region = region
        self.leaders = leaders  # block start -> index of its region
        self.text_end = text_end
        self.image = image
        self.ints: set[int] = set()
        self.floats: set[int] = set()
        self.deferred = self.deferred_registers()
        self.local_returns = self.calls_within()
        self.flags: dict[int, int] = {}  # NaN flags known in the block so far (see flag_update)
        self.covered: set[tuple[int, int]] = set()  # accesses of the block that a window checks
        self.unflushed: set[int] = set()

    def calls_within(self) -> set[int]:
        """Return addresses of the calls from this region into itself (a function calling itself):
        such a call is a jump, and a return to its return address continues in the region. The
        guest's stack is the only stack: no native call, no registers moved, however deep the
        recursion. Other calls are native calls, and a return to them returns natively."""
        own = self.leaders[self.region.start]
        return {d.pc + d.size for block in self.region.blocks for d in block
                if d.ins is not None and not d.untranslated and d.ins.flow == "call"
                and self.leaders.get(static_target(d)) == own and self.leaders.get(d.pc + d.size) == own}

    def describe(self, d: Decoded) -> str:
        """The source line of an instruction, for the comment above its code. It comes from the
        image's metadata, which anyone can write: `safe_text` keeps it inside the comment."""
        info = self.image.line_at(d.pc)
        if info is not None:
            return f"{safe_text(info.text)} (line {info.line})"
        return d.ins.syntax() if d.ins else f"not an instruction: {d.trap.name}"

    def use_int(self, n: int) -> str:
        self.ints.add(n)
        return f"r{n}"

    def use_float(self, n: int) -> str:
        self.floats.add(n)
        return f"f{n}"

    def deferred_registers(self) -> set[int]:
        """The float registers that may hold a NaN still to canonicalise somewhere in this region:
        those assigned by `flazy`, and by a move from one of them."""
        moves: list[tuple[int, int]] = []
        deferred: set[int] = set()
        for d in (d for block in self.region.blocks for d in block if d.ins is not None and not d.untranslated):
            values = operand_values(d.ins, d.fields)
            for target, source in deferred_assignments(d.ins):
                n = _float_register(values, target)
                if source is None:
                    deferred.add(n)
                else:
                    moves.append((n, _float_register(values, source)))
        while True:
            more = {target for target, source in moves if source in deferred} - deferred
            if not more:
                return deferred
            deferred |= more

    def flag_update(self, n: int, source: int | None, tracked: bool) -> list[str]:
        """Statements for float register n's NaN flag after an assignment: from `flazy` (source
        None), a move from float register `source`, or anything else (source -1). In straight-line
        code (`tracked`) the flag is known here and stored only before the code can leave
        (`flush_nan_flags`): a float loop stores each flag once a turn, not once per result."""
        known = 1 if source is None else self.flags.get(source) if source in self.deferred else 0
        if tracked and known is not None:
            self.flags[n] = known
            self.unflushed.add(n)
            return []
        self.flags.pop(n, None)
        self.unflushed.discard(n)
        if known is not None:
            return [f"set_nan_flag(nan_flags, {n}, {known})"]
        return [f"move_nan_flag(nan_flags, {source}, {n})"]

    def flush_nan_flags(self) -> list[str]:
        """Store the flags known but not yet stored: before anything that may leave the code here."""
        lines = [f"set_nan_flag(nan_flags, {n}, {self.flags[n]})" for n in sorted(self.unflushed)]
        self.unflushed.clear()
        return lines

    def exact_float(self, n: int) -> str:
        """Source for float register n with exactly the bits the ISA gives it."""
        register = self.use_float(n)
        if n not in self.deferred:
            return register
        if n in self.flags:
            return f"fcanon({register})" if self.flags[n] else register
        return f"fexact({register}, nan_flags, {n})"

    def body(self) -> list[str]:
        code = {block[0].pc: self.block(block) for block in self.region.blocks}
        unchecked = {}
        for block in self.region.blocks:
            found = loop_accesses(block, marked_semantics)
            if found is not None:
                unchecked[block[0].pc] = (*self.loop_guard(found, block[0].pc), self.block(block, found.covered))
        sizes = {block[0].pc: len(block) for block in self.region.blocks}
        loops = _Loops(code, sizes, unchecked)
        own = {pc: loops.loop(pc) if pc in loops.latches else code[pc] for pc in code}
        for depth in range(MAX_COPY_DEPTH, -1, -1):  # the deepest copies that keep the code small
            lines, copied = [], 0
            for k, pc in enumerate(own):
                body, n = self.continued(own[pc], code, sizes, depth)
                lines += [f"{'elif' if k else 'if'} pc == {pc}:", *("    " + line for line in body)]
                copied += n
            if copied <= COPY_ROOM * self.region.instructions:
                break
        # A jump forward into another region continues there natively; a jump back (perhaps a loop
        # over several regions) returns to the dispatcher, so the native stack cannot grow with it.
        lines += [f"elif pc > {self.region.start}:", "    SPILL", "    return jump_guest(pc, ctx_address)",
                  "else:", f"    status = {abi.STATUS_JUMP}", "    break"]
        return lines

    def continued(self, lines: list[str], code: dict[int, list[str]], sizes: dict[int, int], depth: int
                  ) -> tuple[list[str], int]:
        """A block's code where it goes on to one of a few known blocks (a return to this region's
        call sites, a loop's exits) going on into copies of their code rather than through the
        dispatch, and how many instructions the copies hold. A jump through the dispatch costs a
        second chain of compares on pc (LLVM does not thread jumps into a loop's header), and the
        branch on where to go on is then where the guest's jump is. Copies have copies in them, to
        `depth`."""
        out: list[str] = []
        copied = 0
        for line in lines:
            word = line.split()[0] if line.strip() else ""
            if word not in (RETURN_SITES, EXITS):
                out.append(line)
                continue
            indent = _indent(line)
            targets = sorted(self.local_returns) if word == RETURN_SITES else [int(t) for t in line.split()[1:]]
            copies = [t for t in targets if t in code and sizes[t] <= MAX_COPIED_BLOCK] if depth else []
            for k, target in enumerate(copies):
                body, n = self.continued(code[target], code, sizes, depth - 1)
                out += [f"{indent}{'elif' if k else 'if'} pc == {target}:",
                        f"{indent}    if budget < {sizes[target]}:", f"{indent}        leave = {abi.REASON_FUEL}",
                        f"{indent}        break", *(f"{indent}    {x}" for x in body)]
                copied += sizes[target] + n
            rest = [t for t in targets if t not in copies]
            if word == RETURN_SITES and rest:  # (a loop's exits go on through the dispatch anyway)
                out += [f"{indent}if {' or '.join(f'pc == {r}' for r in rest)}:", f"{indent}    continue"]
        return out, copied

    def loop_guard(self, found: LoopAccesses, pc: int) -> tuple[list[str], str]:
        """Statements and a condition, true when none of the accesses of a loop's windows can fault
        in any of its turns (`windows.loop_accesses`)."""
        turns = f"turns_{pc:x}"
        lines = [f"{turns} = loop_turns({self.use_int(found.counter)}, {self.stride(found.stride)}, "
                 f"{self.use_int(found.bound)})"]
        tests = [turns]
        for w, stride in ((lw.window, lw.stride) for lw in found.windows):
            tests.append(f"loop_window_fits({self.window(w)}, {self.stride(stride)}, {turns}, mem_size)")
        return lines, " and ".join(tests)

    def window(self, w: Window) -> str:
        """A window's arguments: base, offset, span, alignment, and where its stores start and the text
        ends (0, 0 without stores)."""
        stores = f"{w.stores}, {self.text_end}" if w.stores is not None else "0, 0"
        return f"{self.use_int(w.base)}, {w.offset}, {w.span}, {w.align}, {stores}"

    def stride(self, stride: Stride) -> str:
        if stride.register is None:
            return str(stride.constant)
        register = self.use_int(stride.register)
        return f"wrapping_add({register}, {stride.constant})" if stride.constant else register

    def block(self, block: list[Decoded], checked: AbstractSet[tuple[int, int]] = frozenset()) -> list[str]:
        """A block's code; it ends in a jump (`pc = target` then `continue` to the dispatcher) or an exit.
        The accesses `checked` before a loop of it get no check."""
        n = len(block)
        lines = [f"budget -= {n}"]  # the loop's head made sure that the budget holds any block
        self.flags.clear()  # a block may be entered from anywhere: read the flags
        accesses = block_accesses(block, marked_semantics, checked)
        self.covered = accesses.covered | checked
        for w in accesses.windows:
            lines += [f"leave = check_window({self.window(w)}, mem_size, {n})", "if leave:", f"    pc = {block[0].pc}",
                      "    break"]
        for i, d in enumerate(block):
            lines.append(f"# {d.pc:#x}: {self.describe(d)}")
            lines += self.instruction(d, i, n)
        last = block[-1]
        lines += self.flush_nan_flags()
        if not _always_leaves(last):
            lines += [f"pc = {last.pc + last.size}", "continue"]
        return lines

    def instruction(self, d: Decoded, index: int, block_length: int) -> list[str]:
        unused = block_length - index
        if d.untranslated:  # the interpreter runs it, reading its literal from memory
            return self.flush_nan_flags() + leave_lines(d.pc, unused, abi.REASON_INTERPRET)
        if d.ins is None:
            return self.flush_nan_flags() + leave_lines(d.pc, unused, abi.REASON_TRAP, int(d.trap))
        if d.ins.semantics.exits_to_monitor and not batched_output(d):
            return self.flush_nan_flags() + leave_lines(d.pc, unused, abi.REASON_DEVICE)
        return ParaLowering(self, d, index, block_length).lower()

    def function(self) -> str:
        body = self.body()
        name = self.region.name
        ints, floats = tuple(sorted(self.ints)), tuple(sorted(self.floats))
        deferred = tuple(n for n in floats if n in self.deferred)
        saved = [f"r{n}" for n in ints] + [f"f{n}" for n in floats]
        state = ", ".join(["budget", *saved])
        # Moving registers between native locals and the guest's arrays is one intrinsic call each way:
        # Numba compiles a call far faster than one statement per register, and an intrinsic is not
        # a function of its own to compile. The spill canonicalises what the flags say; the reload
        # clears them.
        flags = "nan_flags" if deferred else "0"
        spill = f"spill_{name}(ctx_address, {flags}, {state})"
        reload = f"{state}, = reload_{name}(ctx_address, {flags})"
        out = [
            f"spill_{name}, reload_{name} = register_transfer({ints}, {floats}, {deferred})",
            "",
            "",
            f"def {name}(pc, ctx_address):",
            f"    mem_size = slot(ctx_address, {abi.CTX_MEM_SIZE})",
            f"    mem = slot(ctx_address, {abi.CTX_MEM})",
        ]
        if deferred:
            out.append("    nan_flags = nan_flag_bytes()")
        longest = max(len(block) for block in self.region.blocks)
        out += [f"    {reload}", f"    status = {abi.STATUS_EXIT}", "    leave = 0", "    while True:",
                # One fuel check per turn of the loop, not per block: when the budget might not hold
                # the next block, the interpreter runs the last few instructions and stops exactly.
                f"        if budget < {longest}:", f"            leave = {abi.REASON_FUEL}", "            break"]
        for line in body:
            stripped = line.strip()
            indent = _indent(line)
            replacement = {"SPILL": spill, "RELOAD": reload}.get(stripped)
            out.append("        " + (indent + replacement if replacement else line))
        out += ["    if leave:", "        budget += unpack_leave(leave, ctx_address)", f"    {spill}",
                f"    set_slot(ctx_address, {abi.CTX_PC}, pc)", "    return status", ""]
        return "\n".join(out)


MAX_LOOP_INSTRUCTIONS = 48  # a loop's body, with the blocks copied into it, is at most this long


class _Loops:
    """Loops of blocks, each as a `while` of its own: a jump through the region's dispatch on pc costs
    a chain of compares (LLVM does not thread jumps into a loop's header), where a `while` keeps the
    loop tight. A loop's head is a block that a block at or after it jumps back to (its latch, the
    last such). The loop's body is the head's code with the code of each block that it jumps to
    between head and latch copied in place of the jump, and so on from those: a jump to the head is
    the `while`'s `continue`, any other jump leaves the loop (`break`) for the block it goes to (its
    copy after the loop, or the dispatcher: `EXITS`), and an exit (its `leave`) for the dispatcher.
    A block in the body that loops on itself is a `while` nested in the loop's (quicksort's
    partition: two such loops in one). Blocks that return or call (`status = ...`) stay
    out: their `break` would leave only the loop."""

    def __init__(self, code: dict[int, list[str]], sizes: dict[int, int],
                 unchecked: dict[int, tuple[list[str], str, list[str]]]) -> None:
        self.code, self.sizes = code, sizes
        self.unchecked = unchecked  # a block that loops on itself -> guard, its condition, code without checks
        self.closed = {pc for pc, lines in code.items()
                       if not any(line.strip().startswith("status =") for line in lines)}
        self.latches: dict[int, int] = {}
        for pc, lines in code.items():
            for _, target in _jumps(lines):
                if target in self.closed and target <= pc:
                    self.latches[target] = max(pc, self.latches.get(target, pc))

    def loop(self, head: int) -> list[str]:
        """The loop at head, or the head's own code where no copied path leads back to it."""
        room, closes, exits = MAX_LOOP_INSTRUCTIONS - self.sizes[head], False, set()
        fuel = f"leave = {abi.REASON_FUEL}"

        def jump(target: int) -> tuple[list[str], int]:
            """Code for a jump to target in the loop's body, and the longest run of instructions in
            it before a check of the budget."""
            nonlocal room, closes
            if target == head:
                closes = True
                return [f"pc = {target}", "continue"], 0
            if head < target <= self.latches[head] and target in self.closed and self.sizes[target] <= room:
                if target not in self.latches:
                    room -= self.sizes[target]
                    return body(target)
                if self.latches[target] == target and len(self._exits(target)) <= 1:
                    room -= self.sizes[target]
                    return nested(target), 0
            exits.add(target)
            return [f"pc = {target}", "break"], 0

        def body(pc: int) -> tuple[list[str], int]:
            nonlocal room
            lines, skipped = self._joined(pc, room)
            room -= skipped
            out, longest = _replace_jumps(lines, jump)
            return out, self.sizes[pc] + skipped + longest

        def nested(pc: int) -> list[str]:
            """A block that loops on itself, inside the loop: a `while` of its own, then (without an
            exit) the code after it, whose run of instructions the budget is checked for again."""
            def turns(code: list[str]) -> list[str]:
                out, _ = _replace_jumps(code, lambda target: (
                    [f"pc = {target}", "continue" if target == pc else "break"], 0))
                return self._while(self.sizes[pc], out)

            code = [f"pc = {pc}", *self._checked_or_not(pc, turns), "if leave:", "    break"]
            for after in self._exits(pc):
                rest, longest = jump(after)
                if longest:
                    code += [f"if budget < {longest}:", f"    {fuel}", "    break"]
                code += rest
            return code

        code, longest = body(head)
        if not closes:
            return self.code[head]
        if self.latches[head] == head:  # a block that loops on itself
            loop = self._checked_or_not(head, lambda own: self._while(longest, _replace_jumps(own, jump)[0]))
        else:
            loop = self._while(longest, code)
        return loop + ["if leave:", "    break", *([f"{EXITS} {' '.join(map(str, sorted(exits)))}"] if exits else []),
                       "continue"]

    def _while(self, longest: int, code: list[str]) -> list[str]:
        """A `while` around a loop's body that leaves when the budget may not hold its longest run."""
        return ["while True:", f"    if budget < {longest}:", f"        leave = {abi.REASON_FUEL}", "        break",
                *("    " + line for line in code)]

    def _checked_or_not(self, pc: int, loop) -> list[str]:
        """`loop(code)` for a block that loops on itself; where its windows are known
        (`RegionWriter.loop_guard`), once without the checks they cover, under their guard, and once with."""
        if pc not in self.unchecked:
            return loop(self.code[pc])
        guard, condition, code = self.unchecked[pc]
        return [*guard, f"if {condition}:", *("    " + line for line in loop(code)), "else:",
                *("    " + line for line in loop(self.code[pc]))]

    def _joined(self, pc: int, room: int) -> tuple[list[str], int]:
        """Block pc's code, and where it ends in a branch over one block of plain statements (no
        exit, no control flow) to the block after it, that block's code under `if not` instead, with
        one jump after it (and the number of instructions it adds): the two paths join again, so LLVM
        can make the skipped statements selects rather than a branch on data (sieve's count of the
        zero bytes). Without the join, the code of the block after it is copied into both paths."""
        lines = self.code[pc]
        jumps = _jumps(lines)
        if len(jumps) < 2 or [i for i, _ in jumps[-2:]] != [len(lines) - 4, len(lines) - 2]:
            return lines, 0
        (_, after), (_, skipped) = jumps[-2:]
        branch, indent = lines[-5], _indent(lines[-2])
        over = self.code.get(skipped, [])
        if not (branch.startswith(indent + "if ") and branch.endswith(":") and _indent(lines[-4]) > indent
                and skipped in self.closed and skipped not in self.latches and self.sizes[skipped] <= room
                and _jumps(over) == [(len(over) - 2, after)]):
            return lines, 0
        plain = over[:-2]
        if any(line != line.lstrip() or line.startswith(("if ", "while ", "break", "continue")) for line in plain):
            return lines, 0
        condition = branch.strip()[len("if "):-1]
        code = [f"{indent}if not ({condition}):", *(f"{indent}    {line}" for line in plain),
                f"{indent}pc = {after}", f"{indent}continue"]
        return lines[:-5] + code, self.sizes[skipped]

    def _exits(self, pc: int) -> set[int]:
        """Where a block jumps other than to itself."""
        return {target for _, target in _jumps(self.code[pc]) if target != pc}


def _jumps(lines: list[str]) -> list[tuple[int, int]]:
    """(index, target) of each jump in a block's code: `pc = <number>` and then `continue`."""
    found = []
    for i in range(len(lines) - 1):
        line, after = lines[i], lines[i + 1]
        if (after.strip() == "continue" and _indent(after) == _indent(line)
                and line.strip().startswith("pc = ") and line.strip()[5:].isdigit()):
            found.append((i, int(line.strip()[5:])))
    return found


def _replace_jumps(lines: list[str], replace) -> tuple[list[str], int]:
    """A block's code with each jump replaced by `replace(target)`'s lines, and the largest number
    that `replace` gave with them."""
    jumps, out, largest, i = dict(_jumps(lines)), [], 0, 0
    while i < len(lines):
        if i not in jumps:
            out.append(lines[i])
            i += 1
            continue
        code, number = replace(jumps[i])
        out += [_indent(lines[i]) + line for line in code]
        largest = max(largest, number)
        i += 2
    return out, largest


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _always_leaves(d: Decoded) -> bool:
    """The instruction never falls through (its last statement jumps, stops or traps)."""
    if d.ins is None or d.untranslated:
        return True
    last = d.ins.semantics.tree.body[-1]
    return isinstance(last, ast.Expr) and isinstance(last.value, ast.Call) and last.value.func.id in (
        "goto", "halt", "trap") or d.ins.semantics.exits_to_monitor and not batched_output(d)


def batched_output(d: Decoded) -> bool:
    """An `out` to a port with a device that writes: native code records it in the output batch."""
    if d.ins is None or d.ins.semantics.effects & {"port_in", "port_out"} != {"port_out"}:
        return False
    port = operand_values(d.ins, d.fields).get("port")
    return port in PORTS and PORTS[port].writer is not None


HEADER = '''# Generated by vm {version} from {source}: the guest text as native code. Do not edit.
# Each region_* function is compiled by runtime.compile_region (Numba, nopython), regions in parallel.
from numba import njit, types
from vm.engines.para.runtime import (
    NATIVE_OPTIONS, ashr, bits2f, call_guest, call_guest_region, call_hypercall, check_load,
    check_store, check_window, f2bits, fcanon, fexact, fma, fmax, fmin, fsqrt, ftoi, ftoi_ok,
    hypercall_leave, hypercall_result, isnan, itof, jump_guest, load_f64, load_i16, load_i32,
    load_i64, load_i8, load_u16, load_u32, load_u8, loop_turns, loop_window_fits, lshr,
    move_nan_flag, nan_flag_bytes, register_transfer, sdiv, select, set_nan_flag, set_slot, shl,
    slot, srem, store_16, store_32, store_64, store_8, store_f64, ult, unpack_leave, wrapping_add,
    wrapping_mul, wrapping_sub,
)
from vm.engines.para.runtime import dispatch as run_regions


@njit(types.int64(types.int64), **NATIVE_OPTIONS)
def dispatch(ctx_address):  # the dispatcher, linked into this program's object
    return run_regions(ctx_address)

'''


def translate_image(image: Image, isa: InstructionSet, max_blocks: int = MAX_REGION_BLOCKS) -> Translation:
    """The whole text of an image as a module of region functions of at most `max_blocks` blocks."""
    words = decode_text(image, isa)
    regions = form_regions(image, words, max_blocks)
    leaders = {block[0].pc: k for k, region in enumerate(regions) for block in region.blocks}
    text_end = words[-1].pc + words[-1].size if words else LOAD_ADDRESS
    parts = [HEADER.format(version=ENGINE_VERSION, source=safe_text(image.source))]
    for region in regions:
        parts.append(RegionWriter(region, text_end, image, leaders).function())
    return Translation("\n".join(parts), regions, leaders, text_end)
