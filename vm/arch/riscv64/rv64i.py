"""RV64I, the base integer instruction set (unprivileged spec chapters 2 and 5), and Zifencei."""

import re

from vm.arch.riscv64.model import RvInstruction, instruction


def _i(mnemonic: str, pattern: str, operands: str, semantics: str, doc: str, **kw) -> RvInstruction:
    return instruction(mnemonic, pattern, operands, semantics, doc, extension="I", **kw)


_BRANCHES = [("beq", "000", "rs1 == rs2", "rs1 == rs2"), ("bne", "001", "rs1 != rs2", "rs1 != rs2"),
             ("blt", "100", "rs1 < rs2", "rs1 < rs2, signed"), ("bge", "101", "rs1 >= rs2", "rs1 >= rs2, signed"),
             ("bltu", "110", "ult(rs1, rs2)", "rs1 < rs2, unsigned"),
             ("bgeu", "111", "not ult(rs1, rs2)", "rs1 >= rs2, unsigned")]
_LOADS = [("lb", "000", 1, 1), ("lh", "001", 2, 1), ("lw", "010", 4, 1), ("ld", "011", 8, 1),
          ("lbu", "100", 1, 0), ("lhu", "101", 2, 0), ("lwu", "110", 4, 0)]
_STORES = [("sb", "000", 1), ("sh", "001", 2), ("sw", "010", 4), ("sd", "011", 8)]
# (mnemonic, funct7, funct3, expression over a and b, doc): the register forms; the immediate
# forms and the W forms are derived below.
_ALU = [("add", "0000000", "000", "a + b", "sum"), ("sub", "0100000", "000", "a - b", "difference"),
        ("sll", "0000000", "001", "shl(a, b)", "shift left by the low 6 bits of b"),
        ("slt", "0000000", "010", "1 if a < b else 0", "1 if less (signed)"),
        ("sltu", "0000000", "011", "ult(a, b)", "1 if less (unsigned)"),
        ("xor", "0000000", "100", "a ^ b", "exclusive or"),
        ("srl", "0000000", "101", "lshr(a, b)", "logical shift right by the low 6 bits of b"),
        ("sra", "0100000", "101", "ashr(a, b)", "arithmetic shift right by the low 6 bits of b"),
        ("or", "0000000", "110", "a | b", "or"), ("and", "0000000", "111", "a & b", "and")]
_IMMEDIATE = {"add": "addi", "slt": "slti", "sltu": "sltiu", "xor": "xori", "or": "ori", "and": "andi"}
_SHIFTS = {"sll": ("slli", "000000"), "srl": ("srli", "000000"), "sra": ("srai", "010000")}
# The W forms compute on the low 32 bits and sign-extend the 32-bit result.
_WORD = {"add": "sext32(a + b)", "sub": "sext32(a - b)", "sll": "sext32(shl(a, b & 31))",
         "srl": "sext32(lshr(zext32(a), b & 31))", "sra": "ashr(sext32(a), b & 31)"}
_MEM = "{rd}, {imm}({rs1})"


def instructions() -> list[RvInstruction]:
    out = [
        _i("lui", ".................... ..... 0110111", "rd imm=imm_u", "rd = imm",
           "rd = the 20-bit immediate << 12, sign-extended"),
        _i("auipc", ".................... ..... 0010111", "rd imm=imm_u", "rd = pc + imm",
           "rd = pc + (the 20-bit immediate << 12)"),
        _i("jal", ".................... ..... 1101111", "rd offset=imm_j", "rd = next_pc\ngoto(pc + offset)",
           "jump to pc + offset, rd = the next instruction's address"),
        _i("jalr", "............ ..... 000 ..... 1100111", "rd rs1 imm=imm_i",
           "target = (rs1 + imm) & -2\nrd = next_pc\ngoto(target)",
           "jump to (rs1 + imm) with bit 0 cleared, rd = the next instruction's address", syntax=_MEM),
    ]
    for name, f3, test, doc in _BRANCHES:
        out.append(_i(name, f". ...... ..... ..... {f3} .... . 1100011", "rs1 rs2 offset=imm_b",
                      f"if {test}:\n    goto(pc + offset)", f"branch to pc + offset if {doc}"))
    for name, f3, size, signed in _LOADS:
        out.append(_i(name, f"............ ..... {f3} ..... 0000011", "rd rs1 imm=imm_i",
                      f"rd = load(rs1 + imm, {size}, {signed})",
                      f"load {size} byte(s) at rs1 + imm, {'sign' if signed else 'zero'}-extended", syntax=_MEM))
    for name, f3, size in _STORES:
        out.append(_i(name, f"....... ..... ..... {f3} ..... 0100011", "rs2 rs1 imm=imm_s",
                      f"store(rs1 + imm, {size}, rs2)", f"store the low {size} byte(s) of rs2 at rs1 + imm",
                      syntax="{rs2}, {imm}({rs1})"))
    for name, f7, f3, expr, doc in _ALU:
        out.append(_i(name, f"{f7} ..... ..... {f3} ..... 0110011", "rd rs1 rs2",
                      "rd = " + _over(expr, "rs1", "rs2"), f"rd = rs1 {name} rs2: {doc}"))
        if name in _IMMEDIATE:
            out.append(_i(_IMMEDIATE[name], f"............ ..... {f3} ..... 0010011", "rd rs1 imm=imm_i",
                          "rd = " + _over(expr, "rs1", "imm"), f"rd = rs1 {name} imm: {doc}"))
        if name in _SHIFTS:
            mnemonic, f6 = _SHIFTS[name]
            out.append(_i(mnemonic, f"{f6} ...... ..... {f3} ..... 0010011", "rd rs1 shamt",
                          "rd = " + _over(expr, "rs1", "shamt"), f"rd = rs1 {name} shamt (0..63)"))
        if name in _WORD:
            out.append(_i(name + "w", f"{f7} ..... ..... {f3} ..... 0111011", "rd rs1 rs2",
                          "rd = " + _over(_WORD[name], "rs1", "rs2"), f"rd = rs1 {name} rs2 on 32 bits, sign-extended"))
            if name == "add":
                out.append(_i("addiw", "............ ..... 000 ..... 0011011", "rd rs1 imm=imm_i",
                              "rd = " + _over(_WORD[name], "rs1", "imm"), "rd = rs1 + imm on 32 bits, sign-extended"))
            elif name != "sub":
                out.append(_i(name + "iw", f"{f7} ..... ..... {f3} ..... 0011011", "rd rs1 shamt=shamtw",
                              "rd = " + _over(_WORD[name], "rs1", "shamt"),
                              f"rd = rs1 {name} shamt (0..31) on 32 bits, sign-extended"))
    out += [
        _i("fence", ".... .... .... ..... 000 ..... 0001111", "pred succ", "pass",
           "order memory accesses: nothing to do for one hart", syntax="{pred}, {succ}"),
        instruction("fence.i", "............ ..... 001 ..... 0001111", "", "pass",
                    "make earlier stores visible to instruction fetch: hw drops decoded code on every store to it",
                    extension="Zifencei", syntax=""),
        _i("ecall", "000000000000 00000 000 00000 1110011", "", "syscall()",
           "call the execution environment: a Linux system call", syntax=""),
        _i("ebreak", "000000000001 00000 000 00000 1110011", "", "trap(BREAK)",
           "a breakpoint: trap BREAK", syntax=""),
    ]
    return out


def _over(expr: str, a: str, b: str) -> str:
    """The expression with its operands a and b named (letters are replaced as whole words)."""
    return re.sub(r"\bb\b", b, re.sub(r"\ba\b", a, expr))
