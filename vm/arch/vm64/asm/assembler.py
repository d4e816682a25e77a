"""The assembler: assembly text to an `Image`, reporting every error of a file at once.

Its syntax for instructions comes from the instruction set: each operand's kind decides how it is
parsed and which field it fills, so an instruction added to the description is assembled with no
change here.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass

from vm.arch.vm64 import InstructionSet, core_isa
from vm.arch.vm64.asm.expr import ExprError, evaluate, parse_escape, parse_float
from vm.arch.vm64.encoding import Fields, encode, float_bits
from vm.arch.vm64.image import LOAD_ADDRESS, Image, LineInfo
from vm.arch.vm64.model import NO_BASE, WORD, Instruction
from vm.isa import Kind
from vm.machine import MAX_MEMORY

INT32 = (-(2**31), 2**31 - 1)
DEFAULT_ENTRY = LOAD_ADDRESS


@dataclass
class Diagnostic:
    """One assembly error: where it is, the line, and what was expected."""

    file: str
    line: int
    col: int
    message: str
    source: str

    def __str__(self) -> str:
        caret = " " * (self.col - 1) + "^"
        return f"{self.file}:{self.line}:{self.col}: error: {self.message}\n    {self.source}\n    {caret}"


class AssemblyError(Exception):
    """Raised with every diagnostic of the file."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("\n".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics


class _LineError(Exception):
    def __init__(self, message: str, col: int) -> None:
        super().__init__(message)
        self.col = col


@dataclass
class _Statement:
    """One instruction or data directive, laid out at `address`."""

    line: int
    source: str
    section: str
    kind: str  # "insn", "label", or a directive such as ".quad"
    name: str  # mnemonic, label name or directive
    args: list[tuple[str, int]]  # operand texts with their 1-based columns
    col: int
    address: int = 0
    size: int = 0
    wide: bool = False  # li that needs its 64-bit form


_REGISTER = re.compile(r"(?:r(1[0-5]|[0-9])|sp)$", re.IGNORECASE)
_FREGISTER = re.compile(r"f(1[0-5]|[0-9])$", re.IGNORECASE)
_LABEL = re.compile(r"\s*([A-Za-z_.$][\w.$]*)\s*:")
_NAME = re.compile(r"[A-Za-z_.$][\w.$]*$")
_DATA_SIZES = {".byte": 1, ".half": 2, ".word": 4, ".quad": 8}


def register_number(text: str) -> int | None:
    m = _REGISTER.match(text.strip())
    if not m:
        return None
    return 15 if text.strip().lower() == "sp" else int(m.group(1))


def fregister_number(text: str) -> int | None:
    m = _FREGISTER.match(text.strip())
    return int(m.group(1)) if m else None


def is_register_name(text: str) -> bool:
    return register_number(text) is not None or fregister_number(text) is not None


def _strip_comment(line: str) -> str:
    """The line without its comment; a ';' inside a string or character literal is kept."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == ";":
            return line[:i]
        i += 1
    return line


def _split_operands(text: str, col0: int) -> list[tuple[str, int]]:
    """Split on commas outside brackets, parentheses and quotes; keep each part's column."""
    parts: list[tuple[str, int]] = []
    quote, start, quote_at = None, 0, 0
    opened: list[int] = []  # positions of the brackets and parentheses not yet closed
    i = 0
    while i <= len(text):
        ch = text[i] if i < len(text) else ","
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'" and i < len(text):
            quote, quote_at = ch, i
        elif ch in "[(":
            opened.append(i)
        elif ch in "])":
            if not opened:
                raise _LineError(f"unexpected '{ch}': there is no open bracket or parenthesis to close", col0 + i)
            opened.pop()
        elif ch == "," and not opened:
            piece = text[start:i]
            lead = len(piece) - len(piece.lstrip())
            parts.append((piece.strip(), col0 + start + lead))
            start = i + 1
        i += 1
    if quote:
        what = "string" if quote == '"' else "character literal"
        raise _LineError(f"unterminated {what}: expected a closing {quote}", col0 + quote_at)
    if opened:
        bracket = text[opened[-1]]
        raise _LineError(f"'{bracket}' is not closed: expected '{']' if bracket == '[' else ')'}'", col0 + opened[-1])
    if len(parts) == 1 and not parts[0][0]:
        return []
    return parts


def _parse_string(text: str, col: int) -> bytes:
    t = text.strip()
    if len(t) < 2 or t[0] != '"' or t[-1] != '"':
        raise _LineError('expected a string literal in double quotes, such as "hello\\n"', col)
    out, i, body = [], 0, t[1:-1]
    while i < len(body):
        if body[i] == "\\":
            try:
                ch, i = parse_escape(body, i)
            except ExprError as e:
                raise _LineError(str(e), col + 1 + e.offset) from None
            out.append(ch)
        elif body[i] == '"':
            raise _LineError("unescaped '\"' inside a string", col + 1 + i)
        else:
            out.append(body[i])
            i += 1
    try:
        return "".join(out).encode("latin-1")
    except UnicodeEncodeError:
        raise _LineError("strings hold bytes: use \\xNN for characters above 255", col) from None


def _nearest(word: str, names: list[str]) -> str | None:
    """The name most like `word` (of those difflib finds close), ties going to the longer shared start:
    `adi` is `addi`, not `andi`."""
    def likeness(name: str) -> tuple[float, int]:
        shared = len(os.path.commonprefix([word, name]))
        return difflib.SequenceMatcher(None, word, name).ratio(), shared

    close = difflib.get_close_matches(word, names, 5, cutoff=0.75)  # bogus is not bgtu
    return max(close, key=likeness) if close else None


class Assembler:
    """Assembles one source file with a given instruction set."""

    def __init__(self, isa: InstructionSet | None = None) -> None:
        self.isa = isa or core_isa()

    def assemble(self, source: str, filename: str = "<input>") -> Image:
        self.file = filename
        self.lines = source.splitlines()
        self.errors: list[Diagnostic] = []
        self.equs: dict[str, tuple[str, int, int]] = {}  # name -> (expr, line, col)
        self.labels: dict[str, int] = {}
        statements = self._parse()
        self._layout(statements)
        for expr, line, col in self.equs.values():  # a bad constant is an error even where it is not used
            try:
                self._value(expr, line, col)
            except _LineError as e:
                self._error(line, e.col, str(e))
        if self.end > MAX_MEMORY:
            first = next((st for st in statements if st.address + st.size > MAX_MEMORY), statements[-1])
            self._error(first.line, first.col, f"the program ends at {self.end:#x}, beyond the largest memory "
                        f"({MAX_MEMORY:#x} bytes)")
        else:
            image = self._emit(statements)
        if not self.errors and all(st.kind == "label" for st in statements):  # an image of nothing would trap
            self._error(1, 1, "no instructions: a program needs at least one to run (`main: halt` is the least)")
        if self.errors:
            self.errors.sort(key=lambda d: (d.line, d.col))
            raise AssemblyError(self.errors)
        return image

    # -- reporting ---------------------------------------------------------------------------
    def _error(self, line: int, col: int, message: str) -> None:
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if any(d.line == line and d.message == message for d in self.errors):
            return
        self.errors.append(Diagnostic(self.file, line, max(col, 1), message, source.rstrip()))

    # -- pass 1: statements --------------------------------------------------------------------
    def _parse(self) -> list[_Statement]:
        statements: list[_Statement] = []
        section = ".text"
        for n, raw in enumerate(self.lines, 1):
            try:
                section = self._parse_line(n, raw, section, statements)
            except _LineError as e:
                self._error(n, e.col, str(e))
        return statements

    def _parse_line(self, n: int, raw: str, section: str, out: list[_Statement]) -> str:
        text = _strip_comment(raw)
        pos = 0
        while m := _LABEL.match(text, pos):
            name = m.group(1)
            col = m.start(1) + 1
            if is_register_name(name):
                raise _LineError(f"{name!r} is a register name and cannot be a label", col)
            if name in self.labels or name in self.equs:
                raise _LineError(f"{name!r} is already defined", col)
            self.labels[name] = 0
            out.append(_Statement(n, raw, section, "label", name, [], col))
            pos = m.end()
        rest = text[pos:]
        if not rest.strip():
            return section
        lead = len(rest) - len(rest.lstrip())
        col = pos + lead + 1
        word = rest.split(None, 1)[0]
        operand_text = rest.lstrip()[len(word):]
        operand_col = col + len(word) + (len(operand_text) - len(operand_text.lstrip()))
        args = _split_operands(operand_text.strip(), operand_col)
        lower = word.lower()
        if lower in (".text", ".data"):
            if args:
                raise _LineError(f"{lower} takes no operands", args[0][1])
            return lower
        if lower == ".equ":
            if len(args) != 2 or not _NAME.match(args[0][0]):
                raise _LineError(".equ takes a name and an expression: .equ NAME, expr", operand_col)
            name = args[0][0]
            if is_register_name(name):
                raise _LineError(f"{name!r} is a register name and cannot be a constant", args[0][1])
            if name in self.equs or name in self.labels:
                raise _LineError(f"{name!r} is already defined", args[0][1])
            self.equs[name] = (args[1][0], n, args[1][1])
            return section
        if lower.startswith("."):
            if lower not in (*_DATA_SIZES, ".double", ".ascii", ".asciz", ".zero", ".align"):
                raise _LineError(
                    f"unknown directive {word!r}; expected .text .data .byte .half .word .quad .double "
                    ".ascii .asciz .zero .align or .equ", col)
            if not args:
                raise _LineError(f"{lower} needs an operand", operand_col)
            out.append(_Statement(n, raw, section, "dir", lower, args, col))
            return section
        if lower not in self.isa.by_mnemonic and lower not in self.isa.pseudo_by_mnemonic:
            nearest = _nearest(lower, [*self.isa.by_mnemonic, *self.isa.pseudo_by_mnemonic])
            raise _LineError(f"unknown instruction {word!r}" + (f"; did you mean {nearest}?" if nearest else ""), col)
        out.append(_Statement(n, raw, section, "insn", lower, args, col))
        return section

    # -- symbols -------------------------------------------------------------------------------
    def _resolver(self, line: int, col: int, strict: bool, stack: tuple[str, ...] = ()):
        def resolve(name: str, offset: int) -> int:
            if name in self.labels:
                return self.labels[name]
            if name in self.equs:
                if name in stack:
                    raise ExprError(f"constant {name!r} is defined in terms of itself", offset)
                expr, eline, ecol = self.equs[name]
                try:
                    return evaluate(expr, self._resolver(eline, ecol, strict, stack + (name,)))
                except ExprError as e:  # the offset is in the constant's text: point at the name used here
                    raise ExprError(str(e), offset) from None
            if is_register_name(name):
                raise ExprError(f"a register ({name}) cannot be used here; expected a number or label", offset)
            if not strict:
                return 0
            raise ExprError(f"undefined symbol {name!r}", offset)
        return resolve

    def _value(self, text: str, line: int, col: int, strict: bool = True) -> int:
        try:
            return evaluate(text, self._resolver(line, col, strict))
        except ExprError as e:
            raise _LineError(str(e), col + e.offset) from None

    # -- pass 2: layout ------------------------------------------------------------------------
    def _layout(self, statements: list[_Statement]) -> None:
        """Give every statement an address; `li` grows to `liw` until the layout is stable."""
        for _ in range(64):
            address = LOAD_ADDRESS
            for section in (".text", ".data"):
                if section == ".data":
                    address = (address + 7) & ~7
                    self.data_start = address
                else:
                    self.text_end = address
                for st in statements:
                    if st.section != section:
                        continue
                    st.address = address
                    if st.kind == "label":
                        self.labels[st.name] = address
                    else:
                        st.size = self._size(st)
                    address += st.size
                if section == ".text":
                    self.text_end = address
            self.end = address
            if not self._grow_li(statements):
                return

    def _grow_li(self, statements: list[_Statement]) -> bool:
        grew = False
        for st in statements:
            if st.kind != "insn":
                continue
            ins = self._instruction(st)
            if ins.wide_form is None or st.wide or len(st.args) != 2:
                continue
            try:
                value = self._value(st.args[1][0], st.line, st.args[1][1], strict=False)
            except _LineError:
                continue
            wrapped = (value + 2**63) % 2**64 - 2**63
            if not INT32[0] <= wrapped <= INT32[1]:
                st.wide = grew = True
        return grew

    def _size(self, st: _Statement) -> int:
        if st.kind == "insn":
            ins = self._instruction(st)
            if st.wide:
                return self.isa.by_mnemonic[ins.wide_form].size
            return ins.size
        name = st.name
        try:
            if name in _DATA_SIZES:
                return _DATA_SIZES[name] * len(st.args)
            if name == ".double":
                return 8 * len(st.args)
            if name in (".ascii", ".asciz"):
                return len(_parse_string(st.args[0][0], st.args[0][1])) + (name == ".asciz")
            if name == ".zero":
                return max(self._value(st.args[0][0], st.line, st.args[0][1], strict=False), 0)
            if name == ".align":
                n = self._value(st.args[0][0], st.line, st.args[0][1], strict=False)
                return (-st.address) % n if n > 0 else 0
        except _LineError:
            return 0
        return 0

    def _instruction(self, st: _Statement) -> Instruction:
        """The real instruction a statement assembles to (pseudos expanded, immediate forms chosen)."""
        pseudo = self.isa.pseudo_by_mnemonic.get(st.name)
        name = pseudo.target if pseudo else st.name
        ins = self.isa.by_mnemonic[name]
        if ins.imm_form and st.args:
            last = st.args[-1][0]
            if not is_register_name(last):
                ins = self.isa.by_mnemonic[ins.imm_form]
        return ins

    # -- pass 3: encoding ----------------------------------------------------------------------
    def _emit(self, statements: list[_Statement]) -> Image:
        memory = bytearray(self.end - LOAD_ADDRESS)
        lines: list[LineInfo] = []
        for st in statements:
            if st.kind == "label":
                continue
            try:
                if st.kind == "insn":
                    data = self._encode_instruction(st)
                    lines.append(LineInfo(st.address, st.line, _strip_comment(st.source).strip()))
                else:
                    data = self._encode_data(st)
            except _LineError as e:
                self._error(st.line, e.col, str(e))
                continue
            offset = st.address - LOAD_ADDRESS
            memory[offset : offset + len(data)] = data
        entry = self.labels.get("main", DEFAULT_ENTRY)
        return Image(
            entry=entry,
            text_end=self.text_end,
            memory=bytes(memory),
            symbols=dict(self.labels),
            lines=lines,
            source=self.file,
            extensions=list(self.isa.extensions),
        )

    def _encode_instruction(self, st: _Statement) -> bytes:
        if st.address % WORD:
            raise _LineError(
                f"instruction at {st.address:#x} does not start at a multiple of 8; add .align 8 before it",
                st.col)
        pseudo = self.isa.pseudo_by_mnemonic.get(st.name)
        ins = self._instruction(st)
        args = st.args
        if pseudo:
            if len(args) != len(pseudo.operands):
                raise _LineError(f"{st.name} takes {len(pseudo.operands)} operand(s): "
                                 f"{st.name} {', '.join(pseudo.operands)}", st.col)
            texts = pseudo.expand([a for a, _ in args])
            cols = {a: c for a, c in args}
            args = [(t, cols[t]) for t in texts]
        if st.wide:
            ins = self.isa.by_mnemonic[ins.wide_form]
        if len(args) != len(ins.operands):
            raise _LineError(f"{ins.mnemonic} takes {len(ins.operands)} operand(s): {ins.syntax()}", st.col)
        fields = {"opcode": ins.opcode}
        for op, (text, col) in zip(ins.operands, args, strict=False):
            self._encode_operand(ins, op.kind, op.field, text, col, st, fields)
        return encode(Fields(**fields), ins.size)

    def _encode_operand(self, ins, kind, fld, text, col, st, fields) -> None:
        key = {"A": "a", "B": "b", "C": "c", "I": "imm"}
        if kind is Kind.REG:
            reg = register_number(text)
            if reg is None:
                raise _LineError(f"expected an integer register r0..r15 or sp, not {text!r}", col)
            fields[key[fld]] = reg
        elif kind is Kind.FREG:
            reg = fregister_number(text)
            if reg is None:
                raise _LineError(f"expected a float register f0..f15, not {text!r}", col)
            fields[key[fld]] = reg
        elif kind is Kind.MEM:
            fields["b"], fields["imm"] = self._memory_operand(text, col, st.line)
        elif kind is Kind.LIT:
            value = self._value(text, st.line, col)
            if not -(2**63) <= value < 2**64:
                raise _LineError(f"value {value} does not fit in 64 bits", col)
            fields["literal"] = (value + 2**63) % 2**64 - 2**63
        elif kind is Kind.FLIT:
            try:
                fields["literal"] = float_bits(parse_float(text))
            except ExprError as e:
                raise _LineError(str(e), col) from None
        else:
            if is_register_name(text):
                raise _LineError(f"expected an immediate or label, not register {text!r}", col)
            value = self._value(text, st.line, col)
            if ins.wide_form:  # li: the value is taken modulo 2^64
                value = (value + 2**63) % 2**64 - 2**63
            if kind is Kind.TARGET and not 0 <= value <= INT32[1]:
                raise _LineError(f"target {value:#x} is outside the 31-bit address range of branches", col)
            if not INT32[0] <= value <= INT32[1]:
                raise _LineError(f"immediate {value} does not fit in a signed 32-bit field", col)
            fields["imm"] = value

    def _memory_operand(self, text: str, col: int, line: int) -> tuple[int, int]:
        t = text.strip()
        if not (t.startswith("[") and t.endswith("]")):
            raise _LineError(f"expected a memory operand such as [r1], [r1+8], [r1-8] or [label], not {t!r}", col)
        inner = t[1:-1]
        inner_col = col + 1
        m = re.match(r"\s*([A-Za-z]\w*)\s*(?:([-+])(.*))?$", inner, re.DOTALL)
        if m and register_number(m.group(1)) is not None:
            base = register_number(m.group(1))
            if m.group(2) is None:
                return base, 0
            expr = m.group(3)
            value = self._value(expr, line, inner_col + m.start(3))
            offset = value if m.group(2) == "+" else -value
        elif m and fregister_number(m.group(1)) is not None:
            raise _LineError("a float register cannot be a base address", inner_col + m.start(1))
        else:
            base = NO_BASE
            offset = self._value(inner, line, inner_col)
        if not INT32[0] <= offset <= INT32[1]:
            raise _LineError(f"offset {offset} does not fit in a signed 32-bit field", col)
        return base, offset

    def _encode_data(self, st: _Statement) -> bytes:
        name = st.name
        if name in _DATA_SIZES:
            size = _DATA_SIZES[name]
            out = bytearray()
            for text, col in st.args:
                value = self._value(text, st.line, col)
                if not -(2 ** (8 * size - 1)) <= value < 2 ** (8 * size):
                    raise _LineError(f"value {value} does not fit in {size} byte(s)", col)
                out += (value % 2 ** (8 * size)).to_bytes(size, "little")
            return bytes(out)
        if name == ".double":
            out = bytearray()
            for text, col in st.args:
                try:
                    value = parse_float(text)
                except ExprError as e:
                    raise _LineError(str(e), col) from None
                out += (float_bits(value) % 2**64).to_bytes(8, "little")
            return bytes(out)
        if name in (".ascii", ".asciz"):
            self._one_operand(st)
            return _parse_string(st.args[0][0], st.args[0][1]) + (b"\0" if name == ".asciz" else b"")
        self._one_operand(st)
        text, col = st.args[0]
        value = self._value(text, st.line, col)
        if name == ".zero":
            if value < 0:
                raise _LineError(".zero takes a count of bytes, 0 or more", col)
            return bytes(value)
        if value <= 0 or value & (value - 1):
            raise _LineError(f".align takes a power of two, not {value}", col)
        return bytes(st.size)

    def _one_operand(self, st: _Statement) -> None:
        if len(st.args) != 1:
            raise _LineError(f"{st.name} takes one operand", st.args[1][1] if len(st.args) > 1 else st.col)


def assemble(source: str, filename: str = "<input>", isa: InstructionSet | None = None) -> Image:
    """Assemble source text into an image; raises AssemblyError listing every error."""
    return Assembler(isa).assemble(source, filename)


__all__ = ["AssemblyError", "Diagnostic", "assemble"]
