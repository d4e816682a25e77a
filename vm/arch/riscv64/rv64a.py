"""A: atomic instructions (unprivileged spec chapter 8), for one hart. An AMO or LR/SC at an address
that is not a multiple of its size traps MISALIGNED (Linux does not emulate misaligned atomics)."""

from vm.arch.riscv64.model import RvInstruction, instruction

# name, funct5, the value stored from the loaded value t and the operand b
_AMOS = [("amoswap", "00001", "b", "swap"), ("amoadd", "00000", "t + b", "add"),
         ("amoxor", "00100", "t ^ b", "exclusive or"), ("amoand", "01100", "t & b", "and"),
         ("amoor", "01000", "t | b", "or"), ("amomin", "10000", "t if t < b else b", "signed minimum"),
         ("amomax", "10100", "t if t > b else b", "signed maximum"),
         ("amominu", "11000", "t if ult(t, b) else b", "unsigned minimum"),
         ("amomaxu", "11100", "b if ult(t, b) else t", "unsigned maximum")]
_WIDTHS = [("w", "010", 4, "sext32(rs2)"), ("d", "011", 8, "rs2")]


def instructions() -> list[RvInstruction]:
    out = []
    for suffix, f3, size, operand in _WIDTHS:
        align = f"if rs1 & {size - 1}:\n    trap(MISALIGNED)\n"
        out += [
            instruction(f"lr.{suffix}", f"00010 . . 00000 ..... {f3} ..... 0101111", "rd rs1 aq rl",
                        align + f"rd = load_reserved(rs1, {size})",
                        f"load {size} bytes, sign-extended, and reserve the address", extension="A",
                        syntax="{rd}, ({rs1})"),
            instruction(f"sc.{suffix}", f"00011 . . ..... ..... {f3} ..... 0101111", "rd rs1 rs2 aq rl",
                        align + f"rd = store_conditional(rs1, {size}, rs2)",
                        f"store {size} bytes if the address is still reserved: rd = 0 if stored, else 1",
                        extension="A", syntax="{rd}, {rs2}, ({rs1})"),
        ]
        for name, f5, stored, doc in _AMOS:
            out.append(instruction(
                f"{name}.{suffix}", f"{f5} . . ..... ..... {f3} ..... 0101111", "rd rs1 rs2 aq rl",
                align + f"t = load(rs1, {size}, 1)\nb = {operand}\nstore(rs1, {size}, {stored})\nrd = t",
                f"atomically: rd = the {size} bytes at rs1, which become the {doc} of them and rs2",
                extension="A", syntax="{rd}, {rs2}, ({rs1})"))
    return out
