"""Instruction semantics: a small statement language over named operands.

The semantics of an instruction are a few lines of Python syntax, such as `rd = rs1 + rs2` or
`if rs1 == rs2: goto(target)`. They are never run as written: each engine parses them and lowers
them to its own code (CPython's instruction DSL works the same way). The language is:

- Operand names (`rd`, `rs1`, `fs`, `imm`, `target`, ...) read and write the operands; `addr` is the
  effective address of a memory operand; `pc` and `next_pc` are this and the next instruction's
  address; `r0`..`r15`, `sp` and `f0`..`f15` are fixed registers. Other names are local temporaries.
- Integer values are signed 64-bit and every write to an integer register wraps modulo 2^64.
- Pure functions, usable in any expression: see `PURE_FUNCTIONS`.
- Effects, each a statement of its own: see `EFFECTS`.
- Statements: assignment, `if`/`elif`/`else`, `while`, `for i in range(...)`, `pass`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from enum import Enum

from vm.isa.traps import Trap


class IsaError(ValueError):
    """An instruction description that cannot be used; the message says which and how to fix it."""


class Kind(Enum):
    """What an operand is: vm64's kinds decide its assembly syntax and encoding field; the lowering of
    any architecture reads REG (an integer register), FREG (a float register) and the rest as values."""

    REG = "integer register"
    FREG = "float register"
    IMM = "signed 32-bit immediate"
    TARGET = "code address"
    MEM = "memory operand [base+off]"
    LIT = "64-bit integer literal"
    FLIT = "binary64 literal"


class SemanticsError(ValueError):
    """Semantics text that is not in the language; the message says what and where."""


# name -> (number of arguments, meaning). Each engine implements every one of them.
PURE_FUNCTIONS: dict[str, tuple[int, str]] = {
    "sdiv": (2, "signed division truncating toward zero; INT64_MIN / -1 = INT64_MIN"),
    "srem": (2, "remainder with the dividend's sign; INT64_MIN % -1 = 0"),
    "shl": (2, "shift left by the low 6 bits of the amount"),
    "lshr": (2, "logical shift right by the low 6 bits of the amount"),
    "ashr": (2, "arithmetic shift right by the low 6 bits of the amount"),
    "ult": (2, "1 if a < b as unsigned 64-bit numbers, else 0"),
    "fcanon": (1, "the value, or the canonical quiet NaN if it is a NaN"),
    "fsqrt": (1, "square root; NaN for a negative input; sqrt(-0.0) = -0.0"),
    "fmin": (2, "minimum; NaN if either is NaN; -0.0 below +0.0"),
    "fmax": (2, "maximum; NaN if either is NaN; -0.0 below +0.0"),
    "fma": (3, "a * b + c with one rounding"),
    "isnan": (1, "1 if the float is a NaN, else 0"),
    "ftoi_ok": (1, "1 if the float truncates to a value inside int64, else 0"),
    "ftoi": (1, "the float truncated toward zero (check ftoi_ok first)"),
    "itof": (1, "the nearest binary64 to an integer"),
    "f2bits": (1, "the raw bits of a float, as a signed integer"),
    "bits2f": (1, "the float with these raw bits"),
}

# name -> (number of arguments, returns a value, meaning)
EFFECTS: dict[str, tuple[int, bool, str]] = {
    "load": (3, True, "x = load(addr, size, signed): read 1, 2, 4 or 8 bytes (checks first)"),
    "store": (3, False, "store(addr, size, value): write the low size bytes (checks first)"),
    "fload": (1, True, "x = fload(addr): read a binary64"),
    "fstore": (2, False, "fstore(addr, value): write a binary64"),
    "goto": (1, False, "goto(address): the next instruction is at address; ends the semantics"),
    "halt": (1, False, "halt(status): stop the machine with this exit status"),
    "trap": (1, False, "trap(NAME): stop with a trap; nothing of this instruction happens"),
    "port_out": (2, False, "port_out(port, value): a device write, emulated by the monitor"),
    "port_in": (1, True, "x = port_in(port): a device read, emulated by the monitor"),
    "hypercall": (1, False, "hypercall(n): a host service call (arguments r1, r2, r3, f0; result r0)"),
}

SPECIAL_NAMES = ("pc", "next_pc", "addr")
# The engines agree on these operators for any operand; shifts are functions (their amounts wrap).
ALLOWED_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.BitAnd, ast.BitOr, ast.BitXor)
ALLOWED_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_OPERATOR_HINTS = {
    ast.LShift: "use shl(a, n): a shift amount uses its low 6 bits",
    ast.RShift: "use ashr(a, n) or lshr(a, n): a shift amount uses its low 6 bits",
    ast.FloorDiv: "use sdiv() for integer division", ast.Mod: "use srem() for the remainder",
}
FIXED_INT = {f"r{i}": i for i in range(16)} | {"sp": 15}
FIXED_FLOAT = {f"f{i}": i for i in range(16)}
CONTROL_EFFECTS = ("goto", "halt", "trap")
MEMORY_SIZES = (1, 2, 4, 8)
FLOAT_FUNCTIONS = frozenset({"fcanon", "fsqrt", "fmin", "fmax", "fma", "itof", "bits2f", "fload"})


@dataclass(frozen=True, eq=False)
class Language:
    """What one architecture's semantics may name: the statement syntax is shared, the vocabulary is
    the architecture's (its fixed registers, functions, effects and named constants). Each is made
    once, so it compares and hashes as itself: its dicts could not be hashed, and Semantics (hashed
    where para caches by instruction) holds one."""

    name: str
    pure_functions: dict[str, tuple[int, str]]
    effects: dict[str, tuple[int, bool, str]]
    fixed_int: dict[str, int]
    fixed_float: dict[str, int]
    float_functions: frozenset[str] = frozenset()  # calls whose value is a float (the rest are integers)
    constants: dict[str, int] = field(default_factory=dict)  # names that read as integer constants


VM64 = Language("vm64", PURE_FUNCTIONS, EFFECTS, FIXED_INT, FIXED_FLOAT, FLOAT_FUNCTIONS)


def memory_access(name: str, args: list[ast.expr]) -> tuple[int, bool] | None:
    """The size in bytes of a memory effect's access and whether it stores; None for other effects."""
    if name in ("load", "store"):
        return args[1].value, name == "store"
    if name in ("fload", "fstore"):
        return 8, name == "fstore"
    return None


@dataclass(frozen=True)
class Semantics:
    """Parsed, checked semantics and the facts the engines need about them."""

    source: str
    tree: ast.Module
    effects: frozenset[str]  # the effect names used
    assigned: frozenset[str]  # the names it assigns: operands, fixed registers and its own locals
    language: Language = field(default=VM64, compare=False)  # its vocabulary: the same text means the same

    @property
    def exits_to_monitor(self) -> bool:
        """Device I/O: a VM exit in an engine that runs native code."""
        return bool(self.effects & {"port_in", "port_out"})

    @property
    def always_traps(self) -> bool:
        """Its last statement is a trap: the instruction never completes (brk)."""
        return "trap" in self.effects and _always_traps(self.tree)

    @property
    def ends_block(self) -> bool:
        """Control may leave the straight line after this instruction."""
        return bool(self.effects & {"goto", "halt", "port_in", "port_out"}) or self.always_traps



def _always_traps(tree: ast.Module) -> bool:
    last = tree.body[-1]
    return isinstance(last, ast.Expr) and _call_name(last.value) == "trap"


def _is_truth_value(node: ast.expr) -> bool:
    """A comparison or a logical combination of them: the only operands of `and`/`or`."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _is_truth_value(node.operand) or isinstance(node.operand, ast.Call)
    return isinstance(node, ast.Compare | ast.BoolOp)


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def parse_semantics(source: str, operands: list[str], language: Language = VM64) -> Semantics:
    """Parse and check semantics text against the instruction's operand names."""
    text = source.strip()
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise SemanticsError(f"line {e.lineno}: {e.msg}") from None
    if not tree.body:
        tree = ast.parse("pass")
    checker = _Checker(operands, language)
    checker.block(tree.body)
    return Semantics(
        source=text,
        tree=tree,
        effects=frozenset(checker.effects),
        assigned=frozenset(node.id for node in ast.walk(tree)
                           if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)),
        language=language,
    )


class _Checker:
    """Walks the syntax tree and rejects anything outside the language, with a reason."""

    def __init__(self, operands: list[str], language: Language) -> None:
        self.operands = set(operands)
        self.language = language
        self.fixed = set(language.fixed_int) | set(language.fixed_float)
        self.pure = language.pure_functions
        self.effects_known = language.effects
        self.readable = set(operands) | self.fixed | set(language.constants) | {"pc", "next_pc"}
        if "mem" in operands:
            self.readable.add("addr")
        self.effects: set[str] = set()

    def fail(self, node: ast.AST, message: str) -> None:
        raise SemanticsError(f"line {getattr(node, 'lineno', 1)}: {message}")

    def block(self, body: list[ast.stmt]) -> None:
        for i, stmt in enumerate(body):
            self.statement(stmt)
            ends = isinstance(stmt, ast.Expr) and _call_name(stmt.value) in CONTROL_EFFECTS
            if ends and i != len(body) - 1:
                self.fail(body[i + 1], f"nothing may follow {_call_name(stmt.value)}() in a block")

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
                self.fail(stmt, "assign to one name at a time")
            self.assignment(stmt, stmt.targets[0].id, stmt.value)
        elif isinstance(stmt, ast.AugAssign):
            if not isinstance(stmt.target, ast.Name):
                self.fail(stmt, "assign to a name")
            self.expression(stmt.target)
            self.expression(stmt.value)
            self.assign_target(stmt, stmt.target.id)
        elif isinstance(stmt, ast.If):
            self.expression(stmt.test)
            self.block(stmt.body)
            if stmt.orelse:
                self.block(stmt.orelse)
        elif isinstance(stmt, ast.While):
            if stmt.orelse:
                self.fail(stmt, "while ... else is not part of the semantics language")
            self.expression(stmt.test)
            self.loop_body(stmt)
        elif isinstance(stmt, ast.For):
            self.for_loop(stmt)
        elif isinstance(stmt, ast.Expr):
            name = _call_name(stmt.value)
            if name not in self.effects_known or self.effects_known[name][1]:
                self.fail(stmt, "a statement on its own must be an effect such as store(...) or goto(...)")
            self.effect(stmt.value)
        elif not isinstance(stmt, ast.Pass):
            self.fail(stmt, f"{type(stmt).__name__} statements are not part of the semantics language")

    def for_loop(self, stmt: ast.For) -> None:
        if not isinstance(stmt.target, ast.Name) or _call_name(stmt.iter) != "range" or stmt.orelse:
            self.fail(stmt, "loops are `for name in range(...)`")
        for arg in stmt.iter.args:
            self.expression(arg)
        name = stmt.target.id
        if name in self.operands or name in self.fixed or name in SPECIAL_NAMES:
            self.fail(stmt, f"the loop variable {name!r} must be a temporary, not an operand or register")
        self.assign_target(stmt, name)
        self.loop_body(stmt)

    def loop_body(self, loop: ast.While | ast.For) -> None:
        """Loops compute values; effects (memory, jumps, traps, I/O) stay outside them, where every
        engine can stop the instruction precisely."""
        for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
            if isinstance(node, ast.Call) and _call_name(node) in self.effects_known:
                self.fail(node, f"{_call_name(node)}() inside a loop: compute in the loop, act after it")
        self.block(loop.body)

    def assignment(self, stmt: ast.stmt, target: str, value: ast.expr) -> None:
        name = _call_name(value)
        if name in self.effects_known:
            if not self.effects_known[name][1]:
                self.fail(stmt, f"{name}() has no value")
            self.effect(value)
        else:
            self.expression(value)
        self.assign_target(stmt, target)

    def assign_target(self, stmt: ast.stmt, target: str) -> None:
        """Registers may be assigned; any other new name is a temporary, readable from then on."""
        if target in self.operands:
            if not target.startswith(("r", "f")):
                self.fail(stmt, f"operand {target!r} is not a register and cannot be assigned")
        elif (target in SPECIAL_NAMES or target in self.pure or target in self.effects_known
              or target in self.language.constants):
            self.fail(stmt, f"{target!r} cannot be assigned")
        elif target not in self.fixed:
            self.readable.add(target)

    def effect(self, call: ast.Call) -> None:
        name = call.func.id
        nargs = self.effects_known[name][0]
        if len(call.args) != nargs or call.keywords:
            self.fail(call, f"{name}() takes {nargs} argument(s)")
        self.effects.add(name)
        if name == "trap":
            arg = call.args[0]
            if not isinstance(arg, ast.Name) or arg.id not in Trap.__members__:
                self.fail(call, f"trap() takes a trap name: {', '.join(Trap.__members__)}")
            return
        if name in ("load", "store"):
            size = call.args[1]
            if not (isinstance(size, ast.Constant) and size.value in MEMORY_SIZES):
                self.fail(call, f"{name}() size must be one of {MEMORY_SIZES}")
            if name == "load" and not (isinstance(call.args[2], ast.Constant) and call.args[2].value in (0, 1)):
                self.fail(call, "load() signed must be 0 or 1")
        for arg in call.args:
            self.expression(arg)

    def expression(self, node: ast.expr) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                if sub.id not in self.readable and sub.id not in self.pure:
                    self.fail(sub, f"unknown name {sub.id!r}")
            elif isinstance(sub, ast.Call):
                name = _call_name(sub)
                if name in self.effects_known:
                    self.fail(sub, f"{name}() is an effect: use it as a statement of its own")
                if name not in self.pure:
                    self.fail(sub, f"unknown function {name!r}; known: {', '.join(self.pure)}")
                if len(sub.args) != self.pure[name][0] or sub.keywords:
                    self.fail(sub, f"{name}() takes {self.pure[name][0]} argument(s)")
            elif isinstance(sub, ast.Constant):
                if not isinstance(sub.value, int | float) or isinstance(sub.value, bool):
                    self.fail(sub, "constants are integers or floats")
            elif not isinstance(
                sub,
                ast.BinOp | ast.UnaryOp | ast.BoolOp | ast.Compare | ast.IfExp | ast.operator
                | ast.unaryop | ast.boolop | ast.cmpop | ast.expr_context,
            ):
                self.fail(sub, f"{type(sub).__name__} is not part of the semantics language")
            if isinstance(sub, ast.BinOp) and not isinstance(sub.op, ALLOWED_OPERATORS):
                self.fail(sub, _OPERATOR_HINTS.get(type(sub.op), "this operator is not part of the semantics "
                                                   "language: use + - * / & | ^ or a function"))
            if isinstance(sub, ast.Compare) and not all(isinstance(op, ALLOWED_COMPARISONS) for op in sub.ops):
                self.fail(sub, "compare with == != < <= > >=")
            if isinstance(sub, ast.BoolOp) and not all(_is_truth_value(v) for v in sub.values):
                self.fail(sub, "`and`/`or` join comparisons (such as `a != 0 and b != 0`), not numbers")
