"""Lowering instruction semantics to Python source, shared by the engines' code generators.

A `Lowering` walks the semantics' syntax tree and writes source lines. Each engine subclasses it and
says what an operand, a pure function and an effect become in its own code: the hw engine writes
handlers for CPython, the para engine writes code for Numba. The walk itself (statements,
expressions, which integer operations must wrap) is here once.
"""

from __future__ import annotations

import ast

from vm.arch.vm64.model import Instruction, Kind
from vm.isa.semantics import SemanticsError

WRAPPING_OPS = (ast.Add, ast.Sub, ast.Mult)


class Lowering:
    """Turns one instruction's semantics into indented source lines."""

    indent_unit = "    "

    def __init__(self, ins: Instruction) -> None:
        self.ins = ins
        self.kinds = {op.name: op.kind for op in ins.operands}
        language = ins.semantics.language
        self.fixed_int, self.fixed_float = language.fixed_int, language.fixed_float
        self.pure_functions, self.float_functions = language.pure_functions, language.float_functions
        self.constants = language.constants
        self.local_types: dict[str, str] = {}
        self.lines: list[str] = []
        self.depth = 0
        self.temp_count = 0
        self.in_loop_test = False  # a loop test is re-evaluated: nothing may be hoisted out of it

    # -- hooks for the engines ------------------------------------------------------------------
    def operand(self, name: str) -> str:
        """Source that reads an operand, fixed register or special name."""
        raise NotImplementedError

    def register_target(self, name: str) -> str:
        """Source that an integer or float register assignment writes to."""
        raise NotImplementedError

    def local(self, name: str) -> str:
        return "t_" + name

    def pure(self, name: str, args: list[str]) -> str:
        raise NotImplementedError

    def if_expression(self, test: str, body: str, orelse: str) -> str:
        return f"({body} if {test} else {orelse})"

    def bool_operation(self, is_and: bool, values: list[str]) -> str:
        return "(" + (" and " if is_and else " or ").join(values) + ")"

    def divide(self, left: str, right: str) -> str:
        """IEEE-754 float division: by zero gives an infinity or NaN, never an exception."""
        return f"({left} / {right})"

    def wrapping(self, op: str, left: str, right: str) -> str:
        """Integer `left op right` (op: + - *), wrapping modulo 2^64 as the ISA requires."""
        raise NotImplementedError

    def effect(self, name: str, args: list[ast.expr], target: str | None) -> None:
        """Emit an effect statement; `target` is where a value-returning effect stores its result."""
        raise NotImplementedError

    # The statement syntax; Python's by default, C overrides it.
    def assign(self, target: str, value: str) -> None:
        self.emit(f"{target} = {value}")

    def begin_if(self, test: str) -> None:
        self.emit(f"if {test}:")

    def begin_else(self) -> None:
        self.emit("else:")

    def begin_while(self, test: str) -> None:
        self.emit(f"while {test}:")

    def begin_for(self, variable: str, args: list[str]) -> None:
        self.emit(f"for {variable} in range({', '.join(args)}):")

    def end_block(self) -> None:
        """After the body of an if, else, while or for: nothing in Python, a brace in C."""

    def empty_statement(self) -> str:
        return "pass"

    # -- output ----------------------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append(self.indent_unit * self.depth + line)

    def temp(self) -> str:
        self.temp_count += 1
        return f"t__{self.temp_count}"

    def lower(self) -> list[str]:
        self.block(self.ins.semantics.tree.body)
        return self.lines

    # -- statements ------------------------------------------------------------------------------
    def block(self, body: list[ast.stmt]) -> None:
        start = len(self.lines)
        for stmt in body:
            self.statement(stmt)
        if len(self.lines) == start:
            self.emit(self.empty_statement())

    def statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Assign):
            name = stmt.targets[0].id
            if isinstance(stmt.value, ast.Call) and stmt.value.func.id not in self.pure_functions:
                self.effect(stmt.value.func.id, stmt.value.args, self.assign_target(name, stmt.value))
            else:
                self.assign(self.assign_target(name, stmt.value), self.expr(stmt.value))
        elif isinstance(stmt, ast.AugAssign):
            value = ast.BinOp(left=ast.Name(stmt.target.id, ast.Load()), op=stmt.op, right=stmt.value)
            self.statement(ast.Assign(targets=[stmt.target], value=value))
        elif isinstance(stmt, ast.If):
            self.begin_if(self.expr(stmt.test))
            self.nested(stmt.body)
            if stmt.orelse:
                self.begin_else()
                self.nested(stmt.orelse)
            self.end_block()
        elif isinstance(stmt, ast.While):
            self.in_loop_test = True
            test = self.expr(stmt.test)
            self.in_loop_test = False
            self.begin_while(test)
            self.nested(stmt.body)
            self.end_block()
        elif isinstance(stmt, ast.For):
            args = [self.expr(a) for a in stmt.iter.args]
            self.local_types[stmt.target.id] = "int"
            self.begin_for(self.local(stmt.target.id), args)
            self.nested(stmt.body)
            self.end_block()
        elif isinstance(stmt, ast.Expr):
            self.effect(stmt.value.func.id, stmt.value.args, None)
        else:
            self.emit(self.empty_statement())

    def nested(self, body: list[ast.stmt]) -> None:
        self.depth += 1
        self.block(body)
        self.depth -= 1

    def assign_target(self, name: str, value: ast.expr) -> str:
        """Where an assignment writes; refuses a value of the wrong type, which native code cannot hold."""
        value_type = self.type_of(value)
        if self.kinds.get(name) is Kind.REG or name in self.fixed_int:
            if value_type == "float":
                raise SemanticsError(f"{name} is an integer register but gets a float: convert with ftoi() or "
                                     "f2bits()")
            return self.register_target(name)
        if self.kinds.get(name) is Kind.FREG or name in self.fixed_float:
            if value_type == "int":
                raise SemanticsError(f"{name} is a float register but gets an integer: convert with itof() or "
                                     "bits2f()")
            return self.register_target(name)
        known = self.local_types.setdefault(name, value_type)
        if known != value_type:
            raise SemanticsError(f"the temporary {name!r} holds a {known} and then a {value_type}: use two names")
        return self.local(name)

    # -- expressions -----------------------------------------------------------------------------
    def expr(self, node: ast.expr) -> str:
        """Source for an expression, with integer arithmetic wrapped as the ISA requires."""
        if isinstance(node, ast.Name):
            if node.id in self.local_types:
                return self.local(node.id)
            if node.id in self.constants:
                return repr(self.constants[node.id])
            return self.operand(node.id)
        if isinstance(node, ast.Constant):
            return repr(node.value)
        if isinstance(node, ast.Call):
            return self.pure(node.func.id, [self.expr(a) for a in node.args])
        bitwise = isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr | ast.BitXor)
        inverted = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert)
        if (bitwise or inverted) and self.type_of(node) == "float":
            raise SemanticsError("bitwise operators take integers: use f2bits() and bits2f() for a float's bits")
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return self.divide(self.expr(node.left), self.expr(node.right))
            if isinstance(node.op, WRAPPING_OPS) and self.type_of(node) == "int":
                return self.wrapping(_OPS[type(node.op)], self.expr(node.left), self.expr(node.right))
            return f"({self.expr(node.left)} {_OPS[type(node.op)]} {self.expr(node.right)})"
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub) and self.type_of(node) == "int":
                return self.wrapping("-", "0", self.expr(node.operand))
            return f"({_UNARY[type(node.op)]}{self.expr(node.operand)})"
        if isinstance(node, ast.BoolOp):
            return self.bool_operation(isinstance(node.op, ast.And), [self.expr(v) for v in node.values])
        if isinstance(node, ast.Compare):
            parts = [self.expr(node.left)]
            for op, right in zip(node.ops, node.comparators, strict=False):
                parts += [_CMP[type(op)], self.expr(right)]
            return "(" + " ".join(parts) + ")"
        if isinstance(node, ast.IfExp):
            return self.if_expression(self.expr(node.test), self.expr(node.body), self.expr(node.orelse))
        raise TypeError(f"cannot lower {ast.dump(node)}")

    def type_of(self, node: ast.expr) -> str:
        """"int" or "float": decides wrapping here and the local's type in native code."""
        if isinstance(node, ast.Name):
            if node.id in self.local_types:
                return self.local_types[node.id]
            if self.kinds.get(node.id) in (Kind.FREG, Kind.FLIT) or node.id in self.fixed_float:
                return "float"
            return "int"
        if isinstance(node, ast.Constant):
            return "float" if isinstance(node.value, float) else "int"
        if isinstance(node, ast.Call):
            return "float" if node.func.id in self.float_functions else "int"
        if isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Div):
                return "float"
            sides = {self.type_of(node.left), self.type_of(node.right)}
            return "float" if "float" in sides else "int"
        if isinstance(node, ast.UnaryOp):
            return "int" if isinstance(node.op, ast.Not) else self.type_of(node.operand)
        if isinstance(node, ast.IfExp):
            sides = {self.type_of(node.body), self.type_of(node.orelse)}
            return "float" if "float" in sides else "int"
        return "int"


_OPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.BitAnd: "&", ast.BitOr: "|",
        ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>"}
_UNARY = {ast.USub: "-", ast.UAdd: "+", ast.Invert: "~", ast.Not: "not "}
_CMP = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
