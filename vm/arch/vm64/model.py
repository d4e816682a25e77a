"""The shape of an instruction description, and the instruction set that collects them.

An instruction is described once, by an `Instruction`: its mnemonic, opcode, operands, semantics and
a line of documentation. Everything else (encoding, the assembler's syntax, the disassembler, both
engines and the reference) is derived from these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vm.isa.semantics import IsaError, Kind, Semantics, SemanticsError, parse_semantics

# Operand names are their kinds: `rd` is always an integer register, `fs1` a float register...
OPERAND_KINDS: dict[str, Kind] = {
    **{n: Kind.REG for n in ("rd", "rs", "rs1", "rs2", "rs3")},
    **{n: Kind.FREG for n in ("fd", "fs", "fs1", "fs2", "fs3")},
    "imm": Kind.IMM,
    "port": Kind.IMM,
    "n": Kind.IMM,
    "target": Kind.TARGET,
    "mem": Kind.MEM,
    "lit": Kind.LIT,
    "flit": Kind.FLIT,
}

REGISTER_FIELDS = ("A", "B", "C")
WORD = 8  # bytes in one instruction word
NO_BASE = 0xFF  # field B of a load or store: the address is the immediate alone


@dataclass(frozen=True)
class Operand:
    name: str
    kind: Kind
    field: str  # "A", "B", "C", "I", "BI" (memory: base in B, offset in I) or "X" (extra word)


@dataclass(frozen=True)
class Instruction:
    """One instruction, described once."""

    mnemonic: str
    opcode: int
    operands: tuple[Operand, ...]
    semantics: Semantics
    doc: str
    imm_form: str | None = None  # the mnemonic to use when the last operand is an immediate
    wide_form: str | None = None  # the mnemonic to use when the immediate does not fit 32 bits
    origin: str = "core"  # "core" or the extension that declared it
    flow: str | None = None  # "call" or "return": lets native code use the host's own call stack

    @property
    def size(self) -> int:
        return 2 * WORD if self.literal is not None else WORD

    @property
    def literal(self) -> Operand | None:
        return next((o for o in self.operands if o.field == "X"), None)

    @property
    def fields(self) -> str:
        """The encoding format, such as "A B I" or "A +lit64"."""
        parts = []
        for op in self.operands:
            parts += {"BI": ["B", "I"], "X": ["+" + op.name + "64"]}.get(op.field, [op.field])
        order = {"A": 0, "B": 1, "C": 2, "I": 3}
        return " ".join(sorted(parts, key=lambda p: order.get(p, 4)))

    def syntax(self) -> str:
        shown = {"mem": "[base+off]"}
        return " ".join([self.mnemonic, ", ".join(shown.get(o.name, o.name) for o in self.operands)]).strip()

    def register_fields(self) -> dict[str, Kind]:
        """The fields that hold registers, with their kind; decoding checks them."""
        out: dict[str, Kind] = {}
        for op in self.operands:
            if op.kind in (Kind.REG, Kind.FREG):
                out[op.field] = op.kind
            elif op.kind is Kind.MEM:
                out["B"] = Kind.REG
        return out


def instruction(
    mnemonic: str,
    opcode: int,
    operands: str,
    semantics: str,
    doc: str,
    *,
    imm_form: str | None = None,
    wide_form: str | None = None,
    origin: str = "core",
    flow: str | None = None,
) -> Instruction:
    """Build an `Instruction` from its textual description, checking every part of it."""
    where = f"instruction {mnemonic!r}" + (f" ({origin})" if origin != "core" else "")
    names = [n.strip() for n in operands.split(",") if n.strip()]
    ops: list[Operand] = []
    free_fields = list(REGISTER_FIELDS)
    for name in names:
        kind = OPERAND_KINDS.get(name)
        if kind is None:
            known = ", ".join(OPERAND_KINDS)
            raise IsaError(f"{where}: unknown operand kind {name!r}; use one of: {known}")
        if kind in (Kind.REG, Kind.FREG):
            if not free_fields:
                raise IsaError(f"{where}: more than three register operands do not fit fields A, B, C")
            fld = free_fields.pop(0)
        elif kind is Kind.MEM:
            if "B" not in free_fields:
                raise IsaError(f"{where}: a memory operand needs field B, already taken")
            free_fields.remove("B")
            fld = "BI"
        elif kind in (Kind.LIT, Kind.FLIT):
            fld = "X"
        else:
            fld = "I"
        ops.append(Operand(name, kind, fld))
    immediates = [o for o in ops if o.field in ("I", "BI")]
    if len(immediates) > 1:
        raise IsaError(f"{where}: only one operand can use the immediate field I")
    if flow not in (None, "call", "return"):
        raise IsaError(f"{where}: flow must be None, 'call' or 'return', not {flow!r}")
    if not 0 <= opcode <= 0xFF:
        raise IsaError(f"{where}: opcode {opcode:#x} is not a byte")
    try:
        sem = parse_semantics(semantics, operands=[o.name for o in ops])
    except SemanticsError as e:
        raise IsaError(f"{where}: semantics: {e}") from None
    if flow and "goto" not in sem.effects:
        raise IsaError(f"{where}: a {flow} instruction must goto() its target")
    return Instruction(mnemonic.lower(), opcode, tuple(ops), sem, doc, imm_form, wide_form, origin, flow)


@dataclass(frozen=True)
class Pseudo:
    """An assembler-only mnemonic that stands for a real instruction with its operands rearranged."""

    mnemonic: str
    operands: tuple[str, ...]
    expansion: str  # for example "blt rs2, rs1, target"
    doc: str

    @property
    def target(self) -> str:
        return self.expansion.split()[0]

    def expand(self, args: list[str]) -> list[str]:
        """The real instruction's operand texts, given this pseudo's operand texts."""
        binding = dict(zip(self.operands, args, strict=False))
        rest = self.expansion.split(None, 1)[1] if " " in self.expansion else ""
        return [binding[n.strip()] for n in rest.split(",") if n.strip()]


def pseudo(mnemonic: str, operands: str, expansion: str, doc: str) -> Pseudo:
    names = tuple(n.strip() for n in operands.split(",") if n.strip())
    return Pseudo(mnemonic, names, expansion, doc)


@dataclass
class InstructionSet:
    """All instructions of a machine, indexed for the assembler, decoder and engines."""

    instructions: list[Instruction]
    pseudos: list[Pseudo] = field(default_factory=list)
    extensions: tuple[str, ...] = ()  # names of the extensions included, recorded in images
    extension_files: tuple[str, ...] = ()  # the files they came from, for a child process to load again

    def __post_init__(self) -> None:
        self.by_opcode: dict[int, Instruction] = {}
        self.by_mnemonic: dict[str, Instruction] = {}
        for ins in self.instructions:
            self._check_free(ins)
            self.by_opcode[ins.opcode] = ins
            self.by_mnemonic[ins.mnemonic] = ins
        self.pseudo_by_mnemonic = {p.mnemonic: p for p in self.pseudos}
        for p in self.pseudos:
            if p.target not in self.by_mnemonic:
                raise IsaError(f"pseudo-instruction {p.mnemonic!r} expands to unknown {p.target!r}")
        for ins in self.instructions:
            for form in (ins.imm_form, ins.wide_form):
                if form is not None and form not in self.by_mnemonic:
                    raise IsaError(f"instruction {ins.mnemonic!r} names unknown form {form!r}")

    def _check_free(self, ins: Instruction) -> None:
        taken = self.by_opcode.get(ins.opcode)
        if taken is not None:
            raise IsaError(
                f"instruction {ins.mnemonic!r} ({ins.origin}): opcode {ins.opcode:#04x} is already "
                f"taken by {taken.mnemonic!r} ({taken.origin}); choose a free opcode"
            )
        if ins.mnemonic in self.by_mnemonic:
            other = self.by_mnemonic[ins.mnemonic]
            raise IsaError(
                f"instruction {ins.mnemonic!r} ({ins.origin}): the mnemonic is already used by "
                f"opcode {other.opcode:#04x} ({other.origin}); rename it"
            )

    def extended(self, instructions: list[Instruction], name: str) -> InstructionSet:
        """A new set with an extension's instructions added; errors name the extension."""
        ext_set = InstructionSet(list(self.instructions), list(self.pseudos), self.extensions + (name,))
        for ins in instructions:
            ext_set._check_free(ins)
            if ins.mnemonic in ext_set.pseudo_by_mnemonic:
                raise IsaError(f"instruction {ins.mnemonic!r} ({name}): the mnemonic is a pseudo-instruction")
            ext_set.instructions.append(ins)
            ext_set.by_opcode[ins.opcode] = ins
            ext_set.by_mnemonic[ins.mnemonic] = ins
        return ext_set
