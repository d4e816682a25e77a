"""Access windows: one check at a block's start for the accesses that share a base register.

Every load and store is checked before it happens (alignment, range, no store into the text). In a
block, the accesses at one register's value at the block's start plus a constant (a function's pushes
and pops, a record's fields) lie in one window. When the window is inside memory and its base is
aligned, none of them can fault, and they run unchecked; when it is not, the block leaves native code
at its start and the interpreter runs it, faulting exactly where hw does. Every instruction of a block
runs unless one before it leaves, so a window that fails its check means a fault (or an earlier exit):
the interpreter runs a block only where a run is about to end or leave native code anyway.

The addresses come from the instructions' semantics, walked as the lowering walks them: a register is
known as (a register's value at the block's start, or None for a constant; an offset) through moves and
the adding and subtracting of constants, and anything else makes it unknown.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

from vm.isa import Kind
from vm.isa.encoding import operand_values
from vm.isa.model import NO_BASE, Instruction
from vm.isa.semantics import EFFECTS, FIXED_INT

MEMORY_EFFECTS = {"load": False, "fload": False, "store": True, "fstore": True}  # name -> is a store
_FAR = 1 << 31  # offsets beyond this are not tracked: the window's arithmetic stays far from wrapping

Value = tuple[int | None, int] | None  # (register at the block's start, or None; offset), or unknown


@dataclass(frozen=True)
class Window:
    """Bytes [base + offset, base + offset + span) of the memory, base a register at the block's start."""

    base: int
    offset: int
    span: int
    align: int  # the accesses are aligned exactly when the base is a multiple of this
    stores: int | None  # offset of the lowest byte stored to: from there on, no byte may be in the text


@dataclass
class BlockAccesses:
    windows: list[Window]
    covered: set[tuple[int, int]]  # (pc, n): the n-th access of the instruction at pc needs no check of its own


def block_accesses(block: list, semantics: Callable[[Instruction], list[ast.stmt]]) -> BlockAccesses:
    """The windows of a block of decoded instructions, and the accesses they cover."""
    tracker = _Tracker()
    for d in block:
        if d.ins is not None and not d.untranslated:
            tracker.instruction(d, semantics(d.ins))
    groups: dict[int, list[tuple[int, int, int, int, bool]]] = {}
    for pc, n, value, size, store in tracker.accesses:
        if value is not None and value[0] is not None and value[1] % size == 0:
            groups.setdefault(value[0], []).append((pc, n, value[1], size, store))
    windows, covered = [], set()
    for base, group in sorted(groups.items()):
        if len(group) < 2:
            continue
        low = min(offset for _, _, offset, _, _ in group)
        high = max(offset + size for _, _, offset, size, _ in group)
        stores = [offset for _, _, offset, _, store in group if store]
        windows.append(Window(base, low, high - low, max(size for *_, size, _ in group), min(stores, default=None)))
        covered |= {(pc, n) for pc, n, *_ in group}
    return BlockAccesses(windows, covered)


class _Tracker:
    """Walks a block's semantics in the lowering's order, keeping the integer registers' known values."""

    def __init__(self) -> None:
        self.registers: dict[int, Value] = {n: (n, 0) for n in range(16)}
        self.accesses: list[tuple[int, int, Value, int, bool]] = []  # pc, n, address, size, store

    def instruction(self, d, body: list[ast.stmt]) -> None:
        self.d, self.values = d, operand_values(d.ins, d.fields)
        self.kinds = {op.name: op.kind for op in d.ins.operands}
        self.locals: dict[str, Value] = {}
        self.count = 0
        for stmt in body:
            self.statement(stmt, conditional=False)

    def statement(self, stmt: ast.stmt, conditional: bool) -> None:
        """What runs conditionally or repeatedly is not tracked: its accesses keep their own checks,
        and what it assigns is unknown afterwards."""
        if isinstance(stmt, ast.If | ast.While | ast.For):
            if isinstance(stmt, ast.For):
                self.assign(stmt.target.id, None)
            for child in stmt.body + stmt.orelse:
                self.statement(child, conditional=True)
        elif isinstance(stmt, ast.Assign | ast.AugAssign):
            target = stmt.targets[0].id if isinstance(stmt, ast.Assign) else stmt.target.id
            value = stmt.value
            if isinstance(stmt, ast.AugAssign):
                value = ast.BinOp(left=ast.Name(target, ast.Load()), op=stmt.op, right=value)
            if isinstance(value, ast.Call) and value.func.id in EFFECTS:
                self.effect(value, conditional)
                self.assign(target, None)
            else:
                self.assign(target, None if conditional else self.eval(value))
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self.effect(stmt.value, conditional)

    def effect(self, call: ast.Call, conditional: bool) -> None:
        name = call.func.id
        if name in MEMORY_EFFECTS:
            size = call.args[1].value if name in ("load", "store") else 8
            self.accesses.append((self.d.pc, self.count, None if conditional else self.eval(call.args[0]),
                                  size, MEMORY_EFFECTS[name]))
            self.count += 1
        elif name not in ("goto", "halt", "trap"):  # a hypercall or a device: it may change any register
            self.registers = dict.fromkeys(self.registers)

    def assign(self, name: str, value: Value) -> None:
        if self.kinds.get(name) is Kind.REG:
            self.registers[self.values[name]] = value
        elif name in FIXED_INT:
            self.registers[FIXED_INT[name]] = value
        elif self.kinds.get(name) is None:
            self.locals[name] = value

    def eval(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return _known(None, node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, right = self.eval(node.left), self.eval(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Sub):
                return _known(left[0], left[1] - right[1]) if right[0] is None else None
            if left[0] is not None and right[0] is not None:
                return None
            return _known(left[0] if left[0] is not None else right[0], left[1] + right[1])
        return None

    def name(self, name: str) -> Value:
        if name in self.locals:
            return self.locals[name]
        kind = self.kinds.get(name)
        if kind is Kind.REG:
            return self.registers[self.values[name]]
        if kind in (Kind.IMM, Kind.TARGET, Kind.LIT):
            return _known(None, self.values[name])
        if name == "addr":
            base, offset = self.values["mem.base"], self.values["mem.off"]
            if base == NO_BASE:
                return _known(None, offset)
            register = self.registers[base]
            return None if register is None else _known(register[0], register[1] + offset)
        if name in FIXED_INT:
            return self.registers[FIXED_INT[name]]
        if name == "pc":
            return _known(None, self.d.pc)
        if name == "next_pc":
            return _known(None, self.d.pc + self.d.size)
        return None


def _known(base: int | None, offset: int) -> Value:
    return (base, offset) if base is None or -_FAR < offset < _FAR else None
