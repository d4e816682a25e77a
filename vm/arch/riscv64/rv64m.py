"""M: integer multiplication and division (unprivileged spec chapter 7). Division never traps: by
zero the quotient is all ones and the remainder the dividend; INT_MIN / -1 is INT_MIN, remainder 0."""

from vm.arch.riscv64.model import RvInstruction, instruction

_OPS = [
    ("mul", "000", "rd = rs1 * rs2", "the low 64 bits of the product"),
    ("mulh", "001", "rd = mulh(rs1, rs2)", "the high 64 bits of the signed product"),
    ("mulhsu", "010", "rd = mulhsu(rs1, rs2)", "the high 64 bits of signed rs1 times unsigned rs2"),
    ("mulhu", "011", "rd = mulhu(rs1, rs2)", "the high 64 bits of the unsigned product"),
    ("div", "100", "rd = -1 if rs2 == 0 else sdiv(rs1, rs2)", "signed quotient, rounded toward zero"),
    ("divu", "101", "rd = -1 if rs2 == 0 else udiv(rs1, rs2)", "unsigned quotient"),
    ("rem", "110", "rd = rs1 if rs2 == 0 else srem(rs1, rs2)", "signed remainder, the dividend's sign"),
    ("remu", "111", "rd = rs1 if rs2 == 0 else urem(rs1, rs2)", "unsigned remainder"),
]
_WORD_OPS = [
    ("mulw", "000", "rd = sext32(rs1 * rs2)", "the low 32 bits of the product, sign-extended"),
    ("divw", "100", "a = sext32(rs1)\nb = sext32(rs2)\nrd = -1 if b == 0 else sext32(sdiv(a, b))",
     "signed 32-bit quotient, sign-extended"),
    ("divuw", "101", "a = zext32(rs1)\nb = zext32(rs2)\nrd = -1 if b == 0 else sext32(udiv(a, b))",
     "unsigned 32-bit quotient, sign-extended"),
    ("remw", "110", "a = sext32(rs1)\nb = sext32(rs2)\nrd = a if b == 0 else srem(a, b)",
     "signed 32-bit remainder, sign-extended"),
    ("remuw", "111", "a = zext32(rs1)\nb = zext32(rs2)\nrd = sext32(a) if b == 0 else sext32(urem(a, b))",
     "unsigned 32-bit remainder, sign-extended"),
]


def instructions() -> list[RvInstruction]:
    return [instruction(name, f"0000001 ..... ..... {f3} ..... {opcode}", "rd rs1 rs2", sem, doc, extension="M")
            for table, opcode in ((_OPS, "0110011"), (_WORD_OPS, "0111011"))
            for name, f3, sem, doc in table]
