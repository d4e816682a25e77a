"""The core instruction set, version 1: every instruction of the spec, each described once.

To add a core instruction, add one `instruction(...)` line here. The assembler, disassembler, both
engines and docs/isa.md (regenerate it with `vm isa > docs/isa.md`) follow from it.
"""

from vm.arch.vm64.model import Instruction, InstructionSet, instruction, pseudo

I = instruction  # noqa: E741 - the table reads better with a one-letter constructor

# The 13 integer operations: a register form (0x10 + k) and an immediate form (0x20 + k).
_ALU = [
    ("add", "{a} + {b}", "sum"),
    ("sub", "{a} - {b}", "difference"),
    ("mul", "{a} * {b}", "product, low 64 bits"),
    ("div", "sdiv({a}, {b})", "quotient, truncated toward zero; a zero divisor traps DIVZERO"),
    ("rem", "srem({a}, {b})", "remainder with the dividend's sign; a zero divisor traps DIVZERO"),
    ("and", "{a} & {b}", "bitwise and"),
    ("or", "{a} | {b}", "bitwise or"),
    ("xor", "{a} ^ {b}", "bitwise exclusive or"),
    ("shl", "shl({a}, {b})", "shift left by the low 6 bits of the amount"),
    ("shr", "lshr({a}, {b})", "logical shift right by the low 6 bits of the amount"),
    ("sar", "ashr({a}, {b})", "arithmetic shift right by the low 6 bits of the amount"),
    ("slt", "1 if {a} < {b} else 0", "1 if less (signed), else 0"),
    ("sltu", "ult({a}, {b})", "1 if less (unsigned), else 0"),
]


def _alu() -> list[Instruction]:
    out = []
    for k, (name, expr, doc) in enumerate(_ALU):
        imm_name = name[:-1] + "iu" if name.endswith("u") else name + "i"  # sltu -> sltiu
        for mnemonic, opcode, src in ((name, 0x10, "rs2"), (imm_name, 0x20, "imm")):
            guard = f"if {src} == 0:\n    trap(DIVZERO)\n" if name in ("div", "rem") else ""
            body = guard + "rd = " + expr.format(a="rs1", b=src)
            out.append(
                I(mnemonic, opcode + k, f"rd, rs1, {src}", body, f"rd = rs1 {name} {src}: {doc}",
                  imm_form=imm_name if src == "rs2" else None)
            )
    return out


def _loads_stores() -> list[Instruction]:
    loads = [("ld", 8, 1), ("lw", 4, 1), ("lwu", 4, 0), ("lh", 2, 1), ("lhu", 2, 0), ("lb", 1, 1), ("lbu", 1, 0)]
    out = [
        I(name, 0x30 + k, "rd, mem", f"rd = load(addr, {size}, {signed})",
          f"load {size} byte(s), {'sign' if signed else 'zero'}-extended")
        for k, (name, size, signed) in enumerate(loads)
    ]
    out += [
        I(name, 0x38 + k, "rs, mem", f"store(addr, {size}, rs)", f"store the low {size} byte(s) of rs")
        for k, (name, size) in enumerate([("sd", 8), ("sw", 4), ("sh", 2), ("sb", 1)])
    ]
    return out


_BRANCHES = [("beq", "rs1 == rs2"), ("bne", "rs1 != rs2"), ("blt", "rs1 < rs2"), ("bge", "rs1 >= rs2"),
             ("bltu", "ult(rs1, rs2)"), ("bgeu", "not ult(rs1, rs2)")]

_FLOAT_BINARY = [("fadd", "fs1 + fs2"), ("fsub", "fs1 - fs2"), ("fmul", "fs1 * fs2"), ("fdiv", "fs1 / fs2"),
                 ("fmin", "fmin(fs1, fs2)"), ("fmax", "fmax(fs1, fs2)")]

CORE: list[Instruction] = [
    I("halt", 0x01, "", "halt(r0)", "stop; the exit status is r0"),
    I("nop", 0x02, "", "pass", "do nothing"),
    I("mov", 0x03, "rd, rs", "rd = rs", "rd = rs"),
    I("li", 0x04, "rd, imm", "rd = imm", "rd = sign-extended 32-bit immediate", wide_form="liw"),
    I("liw", 0x05, "rd, lit", "rd = lit", "rd = 64-bit literal (the word after the instruction)"),
    I("neg", 0x0E, "rd, rs", "rd = -rs", "rd = -rs, wrapping"),
    I("not", 0x0F, "rd, rs", "rd = ~rs", "rd = bitwise complement of rs"),
    *_alu(),
    *_loads_stores(),
    I("jmp", 0x40, "target", "goto(target)", "jump to target"),
    I("jr", 0x41, "rs", "goto(rs)", "jump to the address in rs"),
    I("call", 0x42, "target",
      "a = sp - 8\nstore(a, 8, next_pc)\nsp = a\ngoto(target)",
      "push the return address, jump to target", flow="call"),
    I("callr", 0x43, "rs",
      "t = rs\na = sp - 8\nstore(a, 8, next_pc)\nsp = a\ngoto(t)",
      "push the return address, jump to the address in rs (read before sp changes)", flow="call"),
    I("ret", 0x44, "", "t = load(sp, 8, 1)\nsp = sp + 8\ngoto(t)", "pop the return address and jump to it",
      flow="return"),
    I("push", 0x45, "rs", "a = sp - 8\nstore(a, 8, rs)\nsp = a", "sp -= 8; mem[sp] = rs (the old value)"),
    I("pop", 0x46, "rd", "v = load(sp, 8, 1)\nsp = sp + 8\nrd = v", "rd = mem[sp]; sp += 8 (pop sp loads sp)"),
    *[I(name, 0x48 + k, "rs1, rs2, target", f"if {cond}:\n    goto(target)", f"branch if {cond}")
      for k, (name, cond) in enumerate(_BRANCHES)],
    I("beqz", 0x4E, "rs, target", "if rs == 0:\n    goto(target)", "branch if rs is zero"),
    I("bnez", 0x4F, "rs, target", "if rs != 0:\n    goto(target)", "branch if rs is not zero"),
    *[I(name, 0x50 + k, "fd, fs1, fs2", f"fd = fcanon({expr})", f"fd = {expr}; a NaN result is canonical")
      for k, (name, expr) in enumerate(_FLOAT_BINARY)],
    I("fsqrt", 0x56, "fd, fs", "fd = fcanon(fsqrt(fs))", "square root; negative gives NaN, -0.0 gives -0.0"),
    I("fneg", 0x57, "fd, fs", "fd = bits2f(f2bits(fs) ^ (-9223372036854775807 - 1))", "flip the sign bit"),
    I("fabs", 0x58, "fd, fs", "fd = bits2f(f2bits(fs) & 9223372036854775807)", "clear the sign bit"),
    I("fmov", 0x59, "fd, fs", "fd = fs", "fd = fs, bits unchanged"),
    I("fli", 0x5A, "fd, flit", "fd = flit", "fd = binary64 literal (the word after the instruction)"),
    I("fld", 0x5B, "fd, mem", "fd = fload(addr)", "load 8 bytes as a binary64"),
    I("fsd", 0x5C, "fs, mem", "fstore(addr, fs)", "store fs as 8 bytes"),
    I("itof", 0x5D, "fd, rs", "fd = itof(rs)", "fd = nearest binary64 to rs"),
    I("ftoi", 0x5E, "rd, fs", "if not ftoi_ok(fs):\n    trap(FPCONV)\nrd = ftoi(fs)",
      "truncate toward zero; NaN or outside int64 traps FPCONV"),
    I("fmvi", 0x5F, "rd, fs", "rd = f2bits(fs)", "raw bits, float to integer register"),
    I("imvf", 0x60, "fd, rs", "fd = bits2f(rs)", "raw bits, integer to float register"),
    I("feq", 0x61, "rd, fs1, fs2", "rd = 1 if fs1 == fs2 else 0", "1 if equal, else 0; NaN gives 0"),
    I("flt", 0x62, "rd, fs1, fs2", "rd = 1 if fs1 < fs2 else 0", "1 if less, else 0; NaN gives 0"),
    I("fle", 0x63, "rd, fs1, fs2", "rd = 1 if fs1 <= fs2 else 0", "1 if less or equal, else 0; NaN gives 0"),
    I("out", 0x70, "port, rs", "port_out(port, rs)", "write rs to device port"),
    I("in", 0x71, "rd, port", "rd = port_in(port)", "read device port into rd"),
    I("hcall", 0x72, "n", "hypercall(n)", "hypercall n: arguments r1, r2, r3, f0; result r0"),
    I("brk", 0x7F, "", "trap(BREAK)", "trap BREAK (a debugger's breakpoint)"),
]

PSEUDOS = [
    pseudo("la", "rd, imm", "li rd, imm", "load an address (= li)"),
    pseudo("j", "target", "jmp target", "jump (= jmp)"),
    pseudo("bgt", "rs1, rs2, target", "blt rs2, rs1, target", "branch if rs1 > rs2 (signed)"),
    pseudo("ble", "rs1, rs2, target", "bge rs2, rs1, target", "branch if rs1 <= rs2 (signed)"),
    pseudo("bgtu", "rs1, rs2, target", "bltu rs2, rs1, target", "branch if rs1 > rs2 (unsigned)"),
    pseudo("bleu", "rs1, rs2, target", "bgeu rs2, rs1, target", "branch if rs1 <= rs2 (unsigned)"),
]


def core_isa() -> InstructionSet:
    """A fresh instruction set holding the core instructions."""
    return InstructionSet(list(CORE), list(PSEUDOS))
