"""A Pygments lexer for the guest assembly, and ANSI highlighting for the terminal.

The lexer knows the syntax; the words come from elsewhere: mnemonics from the instruction set it is
given (so an instruction added to the description, or an extension's, is highlighted with no change
here) and register names from the assembler's own test. A mnemonic the instruction set does not have
is an `Error` token, as the assembler would reject it. It is installed as the Pygments lexer `vmasm`.
"""

from __future__ import annotations

from collections.abc import Iterator
from re import Match

from pygments import highlight as pygments_highlight
from pygments.formatters.terminal import TERMINAL_COLORS, TerminalFormatter
from pygments.lexer import RegexLexer, bygroups
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
    _TokenType,
)

from vm.arch.vm64 import InstructionSet, core_isa
from vm.arch.vm64.asm.assembler import is_register_name

_NAME = r"[A-Za-z_.$][\w.$]*"  # the assembler's names: labels, constants, mnemonics and directives
_ESCAPE = r"\\x[0-9a-fA-F]{2}|\\."


def _statement_word(lexer: VmAsmLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    """A line's first word: an instruction, a pseudo-instruction, a directive (any word with a dot:
    which ones exist is the assembler's to say), or a mistake."""
    word = match.group()
    lower = word.lower()
    if lower in lexer.instructions:
        token = Keyword
    elif lower in lexer.pseudos:
        token = Keyword.Pseudo
    elif lower.startswith("."):
        token = Name.Attribute
    else:
        token = Error
    yield match.start(), token, word


def _operand_name(lexer: VmAsmLexer, match: Match[str]) -> Iterator[tuple[int, _TokenType, str]]:
    """A register, or a label or constant used in an expression."""
    yield match.start(), Name.Builtin if is_register_name(match.group()) else Name, match.group()


class VmAsmLexer(RegexLexer):
    """The guest assembly; `VmAsmLexer(isa=...)` highlights that instruction set's mnemonics."""

    name = "vm assembly"
    aliases = ["vmasm"]
    filenames = ["*.asm"]
    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r";.*", Comment.Single),
            (rf"({_NAME})([ \t]*)(:)", bygroups(Name.Label, Whitespace, Punctuation)),
            (r"(?i)(\.equ)([ \t]+)" + rf"({_NAME})", bygroups(Name.Attribute, Whitespace, Name.Constant), "operands"),
            (_NAME, _statement_word, "operands"),
        ],
        "operands": [
            (r"\n", Whitespace, "#pop"),
            (r"[ \t\r\f\v]+", Whitespace),
            (r";.*", Comment.Single),
            (r'"', String.Double, "string"),
            (rf"'(?:{_ESCAPE}|[^'\\])'", String.Char),
            (r"(?:\d[\d_]*\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d[\d_]*[eE][+-]?\d+", Number.Float),
            (r"0[xX][0-9a-fA-F_]+", Number.Hex),
            (r"0[bB][01_]+", Number.Bin),
            (r"\d[\d_]*", Number.Integer),
            (_NAME, _operand_name),
            (r"[-+*]", Operator),
            (r"[\[\](),]", Punctuation),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (_ESCAPE, String.Escape),
            (r'[^"\\\n]+', String.Double),
        ],
    }

    def __init__(self, isa: InstructionSet | None = None, **options) -> None:
        options.setdefault("stripnl", False)  # keep blank lines at the ends, and add no newline at the end:
        options.setdefault("ensurenl", False)  # the highlighted text is the same text, even a single line
        super().__init__(**options)
        isa = isa or core_isa()
        self.instructions = frozenset(isa.by_mnemonic)
        self.pseudos = frozenset(isa.pseudo_by_mnemonic)


# Pygments' terminal colours, changed so that labels stand out, numbers differ from mnemonics and
# whitespace carries no escapes.
_COLORS = {**TERMINAL_COLORS, Name.Label: ("green", "brightgreen"), Number: ("magenta", "brightmagenta"),
           Whitespace: ("", "")}


def highlight(text: str, isa: InstructionSet | None = None) -> str:
    """Assembly text with ANSI colours for a terminal; stripped of them, it is `text` again."""
    return pygments_highlight(text, VmAsmLexer(isa), TerminalFormatter(colorscheme=_COLORS))
