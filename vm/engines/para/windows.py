"""Access windows: one check at a block's start for the accesses that share a base register.

Every load and store is checked before it happens (alignment, range, no store into the text). In a
block, the accesses at one register's value at the block's start plus a constant (a function's pushes
and pops, a record's fields) lie in one window. When the window is inside memory and its base is
aligned, none of them can fault, and they run unchecked; when it is not, the block leaves native code
at its start and the interpreter runs it, faulting exactly where hw does. Every instruction of a block
runs unless one before it leaves, so a window that fails its check means a fault (or an earlier exit):
the interpreter runs a block only where a run is about to end or leave native code anyway.

A block that loops on itself (matmul's dot product, sieve's marking) can do better: where its branch
back compares a counter that grows by a constant or an unchanging register with a bound that does not
change, the number of turns is known when the loop starts, and so is the window of every base that
moves by such a stride a turn. `loop_accesses` finds them; the loop runs without their checks when
all its windows are inside memory, and as it is otherwise.

The addresses come from the instructions' semantics, walked as the lowering walks them: a register is
known as a sum of at most two registers' values at the block's start and a constant, through moves,
additions, and subtractions of constants, and anything else makes it unknown.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

from vm.arch.vm64.encoding import operand_values
from vm.arch.vm64.model import NO_BASE, Instruction
from vm.isa import Kind
from vm.isa.semantics import CONTROL_EFFECTS, EFFECTS, FIXED_FLOAT, FIXED_INT, memory_access

_FAR = 1 << 31  # offsets beyond this are not tracked: the window's arithmetic stays far from wrapping

Value = tuple[tuple[int, ...], int] | None  # (registers at the block's start, sorted; constant), or unknown


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


@dataclass(frozen=True)
class Stride:
    """A register's change in one turn of a loop: a constant, plus an unchanging register's value."""

    constant: int
    register: int | None = None


@dataclass(frozen=True)
class LoopWindow:
    """The window of a base's accesses in one turn (as `Window`), moving by `stride` each turn."""

    window: Window
    stride: Stride


@dataclass
class LoopAccesses:
    """A block that loops on itself while `counter` (after adding its stride) is below `bound`."""

    counter: int
    stride: Stride
    bound: int  # a register that does not change in the loop
    windows: list[LoopWindow]
    covered: set[tuple[int, int]]


def block_accesses(block: list, semantics: Callable[[Instruction], list[ast.stmt]],
                   checked: AbstractSet[tuple[int, int]] = frozenset()) -> BlockAccesses:
    """The windows of a block of decoded instructions, and the accesses they cover, leaving out
    those `checked` already (by a loop's windows)."""
    tracker = _Tracker.of(block, semantics)
    groups = _by_base(a for a in tracker.accesses if a[:2] not in checked)
    windows, covered = [], set()
    for base, group in groups.items():
        if len(group) >= 2:
            windows.append(_window(base, group))
            covered |= {(pc, n) for pc, n, *_ in group}
    return BlockAccesses(windows, covered)


def loop_accesses(block: list, semantics: Callable[[Instruction], list[ast.stmt]]) -> LoopAccesses | None:
    """The windows over all turns of a block that loops on itself, if its branch back continues while
    a counter is below a bound (`blt`, `bltu`) and some of its bases move by a known stride."""
    last = block[-1]
    if last.ins is None or last.untranslated or len(last.ins.semantics.tree.body) != 1:
        return None
    branch = last.ins.semantics.tree.body[0]
    if not (isinstance(branch, ast.If) and not branch.orelse and len(branch.body) == 1):
        return None
    goto = branch.body[0]
    kinds, values = {op.name: op.kind for op in last.ins.operands}, operand_values(last.ins, last.fields)
    if not (isinstance(goto, ast.Expr) and isinstance(goto.value, ast.Call) and goto.value.func.id == "goto"
            and isinstance(goto.value.args[0], ast.Name) and kinds.get(goto.value.args[0].id) is Kind.TARGET
            and values[goto.value.args[0].id] == block[0].pc):
        return None  # not a branch back to the block's start
    test = branch.test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Lt):
        sides = [test.left, test.comparators[0]]
    elif isinstance(test, ast.Call) and test.func.id == "ult":
        sides = test.args
    else:
        return None
    if not all(isinstance(side, ast.Name) and kinds.get(side.id) is Kind.REG for side in sides):
        return None
    counter, bound = (values[side.id] for side in sides)
    tracker = _Tracker.of(block, semantics)
    if counter == bound or tracker.stride(bound) != Stride(0):
        return None
    stride = tracker.stride(counter)
    if stride is None or stride.register is None and stride.constant <= 0:
        return None
    windows, covered = [], set()
    for base, group in _by_base(tracker.accesses).items():
        base_stride = tracker.stride(base)
        if base_stride is not None:
            windows.append(LoopWindow(_window(base, group), base_stride))
            covered |= {(pc, n) for pc, n, *_ in group}
    return LoopAccesses(counter, stride, bound, windows, covered) if windows else None


def _by_base(accesses) -> dict[int, list[tuple[int, int, int, int, bool]]]:
    """Unconditional accesses at a register plus a multiple of their size, by register."""
    groups: dict[int, list[tuple[int, int, int, int, bool]]] = {}
    for pc, n, value, size, store in accesses:
        if value is not None and len(value[0]) == 1 and value[1] % size == 0:
            groups.setdefault(value[0][0], []).append((pc, n, value[1], size, store))
    return dict(sorted(groups.items()))


def _window(base: int, group: list[tuple[int, int, int, int, bool]]) -> Window:
    low = min(offset for _, _, offset, _, _ in group)
    high = max(offset + size for _, _, offset, size, _ in group)
    stores = [offset for _, _, offset, _, store in group if store]
    return Window(base, low, high - low, max(size for *_, size, _ in group), min(stores, default=None))


class _Tracker:
    """Walks a block's semantics in the lowering's order, keeping the integer registers' known values."""

    def __init__(self) -> None:
        self.registers: dict[int, Value] = {n: ((n,), 0) for n in range(16)}
        self.accesses: list[tuple[int, int, Value, int, bool]] = []  # pc, n, address, size, store

    @classmethod
    def of(cls, block: list, semantics: Callable[[Instruction], list[ast.stmt]]) -> _Tracker:
        tracker = cls()
        for d in block:
            if d.ins is not None and not d.untranslated:
                tracker.instruction(d, semantics(d.ins))
        return tracker

    def stride(self, n: int) -> Stride | None:
        """Register n's change from the block's start to its end, if it is a `Stride`: n's value plus
        a constant, and perhaps plus another register's that does not change."""
        value = self.registers[n]
        if value is None or value[0].count(n) != 1:
            return None
        others = [m for m in value[0] if m != n]
        if not others:
            return Stride(value[1])
        other = others[0]
        return Stride(value[1], other) if self.registers[other] == ((other,), 0) else None

    def instruction(self, d, body: list[ast.stmt]) -> None:
        self.d, self.values = d, operand_values(d.ins, d.fields)
        self.kinds = {op.name: op.kind for op in d.ins.operands}
        self.locals: dict[str, Value] = {}  # the names that the lowering reads as locals
        self.count = 0
        skipped = False  # a jump inside an `if` may skip what follows: it is conditional too
        for stmt in body:
            self.statement(stmt, conditional=skipped)
            skipped = skipped or isinstance(stmt, ast.If | ast.While | ast.For) and any(
                isinstance(node, ast.Call) and node.func.id == "goto" for node in ast.walk(stmt))

    def statement(self, stmt: ast.stmt, conditional: bool) -> None:
        """What runs conditionally or repeatedly is not tracked: its accesses keep their own checks,
        and what it assigns is unknown afterwards."""
        if isinstance(stmt, ast.If | ast.While | ast.For):
            if isinstance(stmt, ast.For):  # the lowering reads its variable as a local from here on,
                self.locals[stmt.target.id] = None  # even where it has an operand's name
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
        access = memory_access(call.func.id, call.args)
        if access is not None:
            address = None if conditional else self.eval(call.args[0])
            self.accesses.append((self.d.pc, self.count, address, *access))
            self.count += 1
        elif call.func.id not in CONTROL_EFFECTS:  # a hypercall or a device: it may change any register
            self.registers = dict.fromkeys(self.registers)

    def assign(self, name: str, value: Value) -> None:
        """As `Lowering.assign_target` resolves the name: a register first, else a local."""
        if self.kinds.get(name) is Kind.REG:
            self.registers[self.values[name]] = value
        elif name in FIXED_INT:
            self.registers[FIXED_INT[name]] = value
        elif self.kinds.get(name) is None and name not in FIXED_FLOAT:
            self.locals[name] = value

    def eval(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return _known((), node.value)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub):
            left, right = self.eval(node.left), self.eval(node.right)
            if left is None or right is None:
                return None
            if isinstance(node.op, ast.Sub):
                return _known(left[0], left[1] - right[1]) if not right[0] else None
            return _known(tuple(sorted(left[0] + right[0])), left[1] + right[1])
        return None

    def name(self, name: str) -> Value:
        """As `Lowering.expr` resolves a name: a local first, else an operand."""
        if name in self.locals:
            return self.locals[name]
        kind = self.kinds.get(name)
        if kind is Kind.REG:
            return self.registers[self.values[name]]
        if kind in (Kind.IMM, Kind.TARGET, Kind.LIT):
            return _known((), self.values[name])
        if name == "addr":
            base, offset = self.values["mem.base"], self.values["mem.off"]
            if base == NO_BASE:
                return _known((), offset)
            register = self.registers[base]
            return None if register is None else _known(register[0], register[1] + offset)
        if name in FIXED_INT:
            return self.registers[FIXED_INT[name]]
        if name == "pc":
            return _known((), self.d.pc)
        if name == "next_pc":
            return _known((), self.d.pc + self.d.size)
        return None


def _known(terms: tuple[int, ...], constant: int) -> Value:
    """A value, unless it has too many terms or (with a register) too large a constant to be of use."""
    if len(terms) > 2 or terms and not -_FAR < constant < _FAR:
        return None
    return terms, constant
