"""Numbers, character literals and expressions of the assembly language.

An expression combines numbers, labels and `.equ` constants with `+`, `-`, `*` and parentheses.
Errors carry the 0-based offset into the text, so the assembler can point a caret at them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"'}

_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F_]+|0[bB][01_]+|\d[\d_]*)"
    r"|(?P<char>'(?:\\x[0-9a-fA-F]{2}|\\.|[^'\\])')"
    r"|(?P<name>[A-Za-z_.$][\w.$]*)"
    r"|(?P<op>[-+*()]))"
)


class ExprError(ValueError):
    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


def parse_escape(text: str, i: int) -> tuple[str, int]:
    """Decode the escape starting at text[i] == '\\'; returns the character and the next index."""
    if i + 1 >= len(text):
        raise ExprError("a backslash must be followed by an escape such as \\n", i)
    ch = text[i + 1]
    if ch == "x":
        digits = text[i + 2 : i + 4]
        if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
            raise ExprError("\\x must be followed by two hex digits", i)
        return chr(int(digits, 16)), i + 4
    if ch not in ESCAPES:
        raise ExprError(f"unknown escape \\{ch}; expected one of \\n \\t \\r \\0 \\\\ \\' \\\" \\xNN", i)
    return ESCAPES[ch], i + 2


def char_value(literal: str) -> int:
    body = literal[1:-1]
    if body.startswith("\\"):
        ch, _ = parse_escape(body, 0)
    else:
        ch = body
    return ord(ch)


Resolver = Callable[[str, int], int]


class _Parser:
    def __init__(self, text: str, resolve: Resolver) -> None:
        self.text = text
        self.resolve = resolve
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if not m:
                start = len(text) - len(text[pos:].lstrip())
                raise ExprError(f"unexpected {text[start]!r} in expression", start)
            kind = m.lastgroup
            self.tokens.append((kind, m.group(kind), m.start(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise ExprError("expected a number, label or '(' at the end of the expression", len(self.text))
        self.i += 1
        return tok

    def expression(self) -> int:
        value = self.term()
        while (tok := self.peek()) and tok[1] in "+-" and tok[0] == "op":
            self.i += 1
            value = value + self.term() if tok[1] == "+" else value - self.term()
        return value

    def term(self) -> int:
        value = self.unary()
        while (tok := self.peek()) and tok[1] == "*":
            self.i += 1
            value *= self.unary()
        return value

    def unary(self) -> int:
        tok = self.peek()
        if tok and tok[1] in "+-" and tok[0] == "op":
            self.i += 1
            return -self.unary() if tok[1] == "-" else self.unary()
        return self.atom()

    def atom(self) -> int:
        kind, text, offset = self.take()
        if kind == "num":
            digits = text.replace("_", "")
            base = {"0x": 16, "0b": 2}.get(digits[:2].lower(), 10)  # decimal may have leading zeros: 08 is 8
            try:
                return int(digits, base)
            except ValueError:
                raise ExprError(f"{text!r} is not a number", offset) from None
        if kind == "char":
            return char_value(text)
        if kind == "name":
            return self.resolve(text, offset)
        if text == "(":
            value = self.expression()
            close = self.peek()
            if close is None or close[1] != ")":
                raise ExprError("expected ')'", close[2] if close else len(self.text))
            self.i += 1
            return value
        raise ExprError(f"expected a number, label or '(' but found {text!r}", offset)


def evaluate(text: str, resolve: Resolver) -> int:
    """Evaluate an expression; `resolve(name, offset)` gives a symbol's value or raises ExprError."""
    if not text.strip():
        raise ExprError("expected an expression", 0)
    parser = _Parser(text, resolve)
    value = parser.expression()
    rest = parser.peek()
    if rest is not None:
        raise ExprError(f"unexpected {rest[1]!r} after the expression", rest[2])
    return value


_FLOAT = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F]+)$")


def parse_float(text: str) -> float:
    """A C float literal, an integer, inf, -inf, nan or -nan."""
    t = text.strip().lower()
    special = {"inf": float("inf"), "+inf": float("inf"), "-inf": float("-inf"),
               "nan": float("nan"), "+nan": float("nan")}
    if t in special:
        return special[t]
    if t == "-nan":
        return -float("nan")
    if not _FLOAT.match(t):
        raise ExprError(f"expected a float literal such as 1.5, -2e10, inf or nan, not {text.strip()!r}", 0)
    return float(int(t, 16)) if "x" in t else float(t)
