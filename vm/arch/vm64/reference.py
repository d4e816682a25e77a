"""The instruction reference (docs/isa.md), generated from the instruction descriptions."""

from __future__ import annotations

from vm.arch.vm64.model import OPERAND_KINDS, InstructionSet, Kind
from vm.isa.semantics import EFFECTS, PURE_FUNCTIONS
from vm.isa.traps import TRAP_DOCS

HEADER = """# Instruction reference

Generated from the instruction descriptions in `vm/arch/vm64/` by `vm isa`; a test fails if this file is
stale. It stands on its own: the machine, every instruction's encoding and semantics, the traps, and
the project's choices where an instruction's semantics leave something open (see "Choices"). Every
instruction is one 8-byte word: byte 0 opcode, bytes 1-3 fields A B C,
bytes 4-7 the signed immediate I; `+lit64` marks a second word holding a 64-bit literal.
"""

MACHINE = """## The machine

- Registers: `r0..r15`, 64-bit two's complement (`sp` is `r15`); `f0..f15`, IEEE binary64; `pc`.
- Memory: one flat little-endian byte array of the machine's size (1 MiB unless `--mem` says
  otherwise); every access, fetch or hypercall buffer below 0x1000 (the guard page) or past the end
  traps MEMFAULT; an access of n bytes must be at a multiple of n, an instruction at a multiple of
  8 (else MISALIGNED).
- Start: the image's bytes are placed from 0x1000; `pc` is its entry (`main`, else 0x1000); `sp` is
  the memory's size (the stack grows down); every other register is 0.
- Devices, on ports: 0 the console (`out` writes the low byte, `in` reads a byte, -1 at the end of
  input); 1 decimal (`out` writes the signed number in decimal); 2 the counter (`in` reads the
  instructions retired before the `in`). Any other port traps BADPORT.
- Hypercalls, `hcall n` (arguments r1, r2, r3, f0; the result in r0): 0 EXIT (status r1); 1 WRITE
  (r3 bytes at r2 to stream r1, 1 stdout or 2 stderr; r0 = r3, or -1 for another stream); 2 READ
  (up to r3 bytes of input, stream r1 = 0, to r2; r0 = how many, 0 at its end, -1 for another
  stream); 3 PUTINT (r1 in decimal); 4 PUTFLOAT (f0 with r1 digits after the point, 0 to 17);
  5 CLOCK (r0 = a monotonic clock in nanoseconds); 6 MEMMOVE (r3 bytes from r2 to r1; r0 = r1);
  7 MEMSET (r3 bytes at r1 with the low byte of r2; r0 = r1). Any other n traps BADHCALL.
- `halt` ends the run with status r0, EXIT with status r1; a host exit status is its low 8 bits.
"""

CHOICES = """## Choices

- Immediates, offsets and branch targets must fit the signed 32-bit field; the assembler rejects
  larger values (except `li`, which becomes `liw`). Branch targets must be 0..2^31-1.
- A jump to an address that cannot be fetched retires; the fetch then traps at the target
  (MISALIGNED or MEMFAULT, with pc = the target).
- `in rd, 2` (counter) reads the number of instructions retired before the `in`.
- A hypercall that faults (MEMFAULT, BADHCALL) does not retire, like any other trap.
- A run given no instruction budget has one of 2^62 instructions, in every engine: unlimited in
  practice, and the same where an engine's compiled code runs a loop that does nothing in closed form
  (it traps FUEL at once, after exactly 2^62 instructions, as every engine would).
- The `.vmi` image records the extensions it needs; see docs/image-format.md.
"""


def _operands_doc() -> str:
    names: dict[Kind, list[str]] = {}
    for name, kind in OPERAND_KINDS.items():
        names.setdefault(kind, []).append(name)
    rows = [f"| `{'`, `'.join(v)}` | {k.value} |" for k, v in names.items()]
    return "## Operand kinds\n\n| names | kind |\n|---|---|\n" + "\n".join(rows) + "\n"


def _semantics_doc() -> str:
    rows = [f"| `{name}` | {n} | {doc} |" for name, (n, doc) in PURE_FUNCTIONS.items()]
    effects = [f"| `{name}` | {doc} |" for name, (_, _, doc) in EFFECTS.items()]
    return (
        "## Semantics language\n\nStatements: assignment, `if`/`else`, `while`, `for name in range(...)` (name a "
        "temporary, not an operand or register), `pass`. "
        "Operators: `+ - * / & | ^`, `not`, comparisons, and `a if c else b`; integer arithmetic wraps "
        "at 64 bits. Shifts are the functions `shl`, `lshr`, `ashr` (the amount uses its low 6 bits); "
        "`and`/`or` join comparisons; bitwise operators take integers; effects stay outside loops. "
        "Anything else is refused with the reason.\n\nFunctions:\n\n| function | arguments | meaning |\n|---|---|---|\n"
        + "\n".join(rows)
        + "\n\nEffects (each a statement of its own):\n\n| effect | meaning |\n|---|---|\n"
        + "\n".join(effects)
        + "\n"
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def markdown(isa: InstructionSet) -> str:
    out = [HEADER, MACHINE]
    groups: dict[str, list] = {}
    for ins in sorted(isa.instructions, key=lambda i: i.opcode):
        groups.setdefault(ins.origin, []).append(ins)
    for origin, instructions in groups.items():
        title = "Core instructions" if origin == "core" else f"Extension `{origin}`"
        out.append(f"## {title}\n\n| op | syntax | fields | semantics | description |\n|---|---|---|---|---|")
        for ins in instructions:
            out.append(f"| {ins.opcode:02X} | `{ins.syntax()}` | {ins.fields} | `{_cell(ins.semantics.source)}` "
                       f"| {_cell(ins.doc)} |")
        out.append("")
    out.append("## Pseudo-instructions\n\n| syntax | assembles to | description |\n|---|---|---|")
    for p in isa.pseudos:
        out.append(f"| `{p.mnemonic} {', '.join(p.operands)}` | `{p.expansion}` | {p.doc} |")
    out.append("")
    out.append("## Traps\n\n| code | trap | cause |\n|---|---|---|")
    out += [f"| {t.value} | {t.name} | {doc} |" for t, doc in TRAP_DOCS.items()]
    out.append("")
    out.append(_operands_doc())
    out.append(_semantics_doc())
    out.append(CHOICES)
    return "\n".join(out)


def text(isa: InstructionSet) -> str:
    lines = []
    for ins in sorted(isa.instructions, key=lambda i: i.opcode):
        lines.append(f"{ins.opcode:02X}  {ins.syntax():<28} {ins.fields:<12} {ins.doc}")
    for p in isa.pseudos:
        lines.append(f"--  {p.mnemonic + ' ' + ', '.join(p.operands):<28} {'pseudo':<12} {p.doc} = {p.expansion}")
    return "\n".join(lines) + "\n"
