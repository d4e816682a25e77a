"""Zicsr: reading and writing control and status registers (unprivileged spec chapter 9). In user
mode these are fflags, frm and fcsr, and the read-only counters cycle, time and instret."""

from vm.arch.riscv64.model import RvInstruction, instruction

# name, funct3, source operand, the new value from the old value t and the source {s}, doc
_CSR = [("csrrw", "001", "rs1", "{s}", "rs1"), ("csrrs", "010", "rs1", "t | {s}", "itself with rs1's bits set"),
        ("csrrc", "011", "rs1", "t & ~{s}", "itself with rs1's bits cleared"),
        ("csrrwi", "101", "uimm", "{s}", "the 5-bit immediate"),
        ("csrrsi", "110", "uimm", "t | {s}", "itself with the immediate's bits set"),
        ("csrrci", "111", "uimm", "t & ~{s}", "itself with the immediate's bits cleared")]


def instructions() -> list[RvInstruction]:
    out = []
    for name, f3, source, new, becomes in _CSR:
        write = f"csr_write(csr, {new.format(s=source)})"
        sets_bits = name not in ("csrrw", "csrrwi")  # these leave the CSR unwritten for a source field of 0
        body = "t = csr_read(csr)\n" + (f"if uimm != 0:\n    {write}\n" if sets_bits else write + "\n") + "rd = t"
        operands = "rd csr rs1 uimm" if source == "rs1" else "rd csr uimm"
        shown = "{rd}, {csr}, {rs1}" if source == "rs1" else "{rd}, {csr}, {uimm}"
        doc = f"rd = the CSR, which becomes {becomes}"
        if sets_bits:
            doc += " (unwritten when the source field is 0)"
        out.append(instruction(name, f"............ ..... {f3} ..... 1110011", operands, body, doc,
                               extension="Zicsr", syntax=shown))
    return out
