"""C: the 16-bit compressed forms of RV64 (unprivileged spec chapter 16), each described with its own
encoding and semantics. Registers written rd_c/rs1_c/rs2_c are x8..x15 in three bits; `sp` is x2."""

from vm.arch.riscv64.model import RvInstruction, instruction

_LOAD = "rd = load(rs1 + imm, {size}, 1)"
_STORE = "store(rs1 + imm, {size}, rs2)"
_MEM = "{rd}, {imm}({rs1})"
_STORE_MEM = "{rs2}, {imm}({rs1})"

# mnemonic, pattern, operands, semantics, doc, syntax, valid
_TABLE = [
    # quadrant 0
    ("c.addi4spn", "000 ........ ... 00", "rd=rd_c rs1=2 imm=uimm_addi4spn", "rd = rs1 + imm",
     "rd' = sp + a scaled, non-zero immediate", None, "imm != 0"),
    ("c.fld", "001 ... ... .. ... 00", "fd=fd_c rs1=rs1_c imm=uimm_ld", "fd = load(rs1 + imm, 8, 1)",
     "load a double", "{fd}, {imm}({rs1})", None),
    ("c.lw", "010 ... ... .. ... 00", "rd=rd_c rs1=rs1_c imm=uimm_lw", _LOAD.format(size=4),
     "load 4 bytes, sign-extended", _MEM, None),
    ("c.ld", "011 ... ... .. ... 00", "rd=rd_c rs1=rs1_c imm=uimm_ld", _LOAD.format(size=8),
     "load 8 bytes", _MEM, None),
    ("c.fsd", "101 ... ... .. ... 00", "fs2=fs2_c rs1=rs1_c imm=uimm_ld", "store(rs1 + imm, 8, fs2)",
     "store a double", "{fs2}, {imm}({rs1})", None),
    ("c.sw", "110 ... ... .. ... 00", "rs2=rs2_c rs1=rs1_c imm=uimm_lw", _STORE.format(size=4),
     "store 4 bytes", _STORE_MEM, None),
    ("c.sd", "111 ... ... .. ... 00", "rs2=rs2_c rs1=rs1_c imm=uimm_ld", _STORE.format(size=8),
     "store 8 bytes", _STORE_MEM, None),
    # quadrant 1
    ("c.nop", "000 0 00000 00000 01", "", "pass", "no operation", "", None),
    ("c.addi", "000 . ..... ..... 01", "rd=rd_full rs1=rd_full imm=imm_ci", "rd = rs1 + imm",
     "rd += a 6-bit signed immediate", "{rd}, {imm}", None),
    ("c.addiw", "001 . ..... ..... 01", "rd=rd_full rs1=rd_full imm=imm_ci", "rd = sext32(rs1 + imm)",
     "rd = rd + imm on 32 bits, sign-extended", "{rd}, {imm}", "rd != 0"),
    ("c.li", "010 . ..... ..... 01", "rd=rd_full imm=imm_ci", "rd = imm", "rd = a 6-bit signed immediate",
     None, None),
    ("c.addi16sp", "011 . 00010 ..... 01", "rd=2 rs1=2 imm=imm_addi16sp", "rd = rs1 + imm",
     "sp += a non-zero multiple of 16", "{rd}, {imm}", "imm != 0"),
    ("c.lui", "011 . ..... ..... 01", "rd=rd_full imm=imm_lui", "rd = imm",
     "rd = a non-zero 6-bit immediate << 12, sign-extended (to x0: a hint)", None, "rd != 2 and imm != 0"),
    ("c.srli", "100 . 00 ... ..... 01", "rd=rs1_c rs1=rs1_c shamt=uimm_ci", "rd = lshr(rs1, shamt)",
     "rd' = rd' shifted right logically", "{rd}, {shamt}", None),
    ("c.srai", "100 . 01 ... ..... 01", "rd=rs1_c rs1=rs1_c shamt=uimm_ci", "rd = ashr(rs1, shamt)",
     "rd' = rd' shifted right arithmetically", "{rd}, {shamt}", None),
    ("c.andi", "100 . 10 ... ..... 01", "rd=rs1_c rs1=rs1_c imm=imm_ci", "rd = rs1 & imm",
     "rd' &= a 6-bit signed immediate", "{rd}, {imm}", None),
    ("c.sub", "100 0 11 ... 00 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = rs1 - rs2", "rd' -= rs2'",
     "{rd}, {rs2}", None),
    ("c.xor", "100 0 11 ... 01 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = rs1 ^ rs2", "rd' ^= rs2'",
     "{rd}, {rs2}", None),
    ("c.or", "100 0 11 ... 10 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = rs1 | rs2", "rd' |= rs2'",
     "{rd}, {rs2}", None),
    ("c.and", "100 0 11 ... 11 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = rs1 & rs2", "rd' &= rs2'",
     "{rd}, {rs2}", None),
    ("c.subw", "100 1 11 ... 00 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = sext32(rs1 - rs2)",
     "rd' = rd' - rs2' on 32 bits, sign-extended", "{rd}, {rs2}", None),
    ("c.addw", "100 1 11 ... 01 ... 01", "rd=rs1_c rs1=rs1_c rs2=rs2_c", "rd = sext32(rs1 + rs2)",
     "rd' = rd' + rs2' on 32 bits, sign-extended", "{rd}, {rs2}", None),
    ("c.j", "101 ........... 01", "offset=imm_cj", "goto(pc + offset)", "jump to pc + offset", None, None),
    ("c.beqz", "110 ... ... ..... 01", "rs1=rs1_c offset=imm_cb", "if rs1 == 0:\n    goto(pc + offset)",
     "branch to pc + offset if rs1' is 0", None, None),
    ("c.bnez", "111 ... ... ..... 01", "rs1=rs1_c offset=imm_cb", "if rs1 != 0:\n    goto(pc + offset)",
     "branch to pc + offset if rs1' is not 0", None, None),
    # quadrant 2
    ("c.slli", "000 . ..... ..... 10", "rd=rd_full rs1=rd_full shamt=uimm_ci", "rd = shl(rs1, shamt)",
     "rd = rd shifted left", "{rd}, {shamt}", None),
    ("c.fldsp", "001 . ..... ..... 10", "fd rs1=2 imm=uimm_ldsp", "fd = load(rs1 + imm, 8, 1)",
     "load a double from sp + imm", "{fd}, {imm}({rs1})", None),
    ("c.lwsp", "010 . ..... ..... 10", "rd=rd_full rs1=2 imm=uimm_lwsp", _LOAD.format(size=4),
     "load 4 bytes from sp + imm, sign-extended", _MEM, "rd != 0"),
    ("c.ldsp", "011 . ..... ..... 10", "rd=rd_full rs1=2 imm=uimm_ldsp", _LOAD.format(size=8),
     "load 8 bytes from sp + imm", _MEM, "rd != 0"),
    ("c.jr", "100 0 ..... 00000 10", "rs1=rd_full", "goto(rs1 & -2)", "jump to rs1", "{rs1}", "rs1 != 0"),
    ("c.mv", "100 0 ..... ..... 10", "rd=rd_full rs2=rs2_full", "rd = rs2", "rd = rs2", None, "rs2 != 0"),
    ("c.ebreak", "100 1 00000 00000 10", "", "trap(BREAK)", "a breakpoint: trap BREAK", "", None),
    ("c.jalr", "100 1 ..... 00000 10", "rs1=rd_full rd=1", "target = rs1 & -2\nrd = next_pc\ngoto(target)",
     "jump to rs1, ra = the next instruction's address", "{rs1}", "rs1 != 0"),
    ("c.add", "100 1 ..... ..... 10", "rd=rd_full rs1=rd_full rs2=rs2_full", "rd = rs1 + rs2", "rd += rs2",
     "{rd}, {rs2}", "rs2 != 0"),
    ("c.fsdsp", "101 ...... ..... 10", "fs2=fs2_full rs1=2 imm=uimm_sdsp", "store(rs1 + imm, 8, fs2)",
     "store a double at sp + imm", "{fs2}, {imm}({rs1})", None),
    ("c.swsp", "110 ...... ..... 10", "rs2=rs2_full rs1=2 imm=uimm_swsp", _STORE.format(size=4),
     "store 4 bytes at sp + imm", _STORE_MEM, None),
    ("c.sdsp", "111 ...... ..... 10", "rs2=rs2_full rs1=2 imm=uimm_sdsp", _STORE.format(size=8),
     "store 8 bytes at sp + imm", _STORE_MEM, None),
]


def instructions() -> list[RvInstruction]:
    return [instruction(name, pattern, operands, sem, doc, extension="C", syntax=syntax, valid=valid)
            for name, pattern, operands, sem, doc, syntax, valid in _TABLE]
