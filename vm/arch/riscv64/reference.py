"""The RISC-V instruction reference (`vm isa --arch riscv64`), generated from the descriptions."""

from __future__ import annotations

from vm.arch.riscv64.isa import RiscvIsa, riscv64_isa
from vm.arch.riscv64.model import FIELDS, RV64

HEADER = """# RISC-V instruction reference (RV64GC, user level)

Generated from the descriptions in `vm/arch/riscv64/` by `vm isa --arch riscv64`. The contract is the
RISC-V unprivileged specification, version 20191213; each instruction's semantics are written in the
same statement language as vm64's. Encodings read most significant bit first: `0` and `1` are fixed,
`.` a bit of an operand's field. Operands come from the fields below (`pos:len` ranges concatenated,
`s` a sign bit, `<<n` a scale, `+8` the compressed registers x8..x15).
"""

CHOICES = """## Choices where the specification leaves room

- F registers hold raw bits; a single must be NaN-boxed, else it reads as the canonical NaN.
- A misaligned load or store works (as Linux emulates it for user programs); a misaligned LR, SC or
  AMO traps MISALIGNED.
- An SC succeeds while its LR's reservation is on the same address and the memory there, read at the
  SC's size, still holds the value the LR read (sign-extended), as QEMU decides; any SC ends the
  reservation.
- Fetching needs a page's execute permission only: code on an execute-only page (PROT_EXEC) runs.
- `cycle` and `instret` count the instructions retired before the reading one; `time` counts at
  10 MHz from the host's monotonic clock.
- A word that decodes to no instruction, a reserved compressed form, and a static rounding mode 5 or 6
  trap ILLEGAL when fetched; a dynamic rounding mode with frm above 4 traps ILLEGAL when executed.
- fence and fence.i do nothing more: hw drops decoded instructions whenever their memory is written.
"""


def markdown(isa: RiscvIsa | None = None) -> str:
    isa = isa or riscv64_isa()
    isa.check()
    parts = [HEADER]
    for ext in dict.fromkeys(i.extension for i in isa.instructions):
        rows = [f"| `{i.mnemonic}` | `{i.pattern.text}` | `{_cell(i.syntax)}` | `{_cell(i.source)}` | "
                f"{_cell(i.doc)} |" for i in isa.instructions if i.extension == ext]
        parts.append(f"## {ext}\n\n| instruction | encoding | operands | semantics | meaning |\n|---|---|---|---|---|\n"
                     + "\n".join(rows) + "\n")
    fields = [f"| `{name}` | `{f.spec}` |" for name, f in FIELDS.items()]
    parts.append("## Fields\n\n| field | bits |\n|---|---|\n" + "\n".join(fields) + "\n")
    functions = [f"| `{n}` | {doc} |" for n, (_, doc) in RV64.pure_functions.items()]
    effects = [f"| `{n}` | {doc} |" for n, (_, _, doc) in RV64.effects.items()]
    parts.append("## Functions and effects\n\n| function | meaning |\n|---|---|\n" + "\n".join(functions)
                 + "\n\n| effect | meaning |\n|---|---|\n" + "\n".join(effects) + "\n")
    parts.append(CHOICES)
    return "\n".join(parts)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")
