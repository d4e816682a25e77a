"""An instruction-set extension: bit operations, a fused multiply-add and a checked division.

Load it with `--ext extensions/bitops.py` on any `vm` command. Each instruction is one entry, in the
same form as the core's (vm/arch/vm64/instructions.py); both engines and the reference follow from it.
"""

from vm.arch.vm64 import instruction

NAME = "bitops"

INSTRUCTIONS = [
    instruction(
        "popcnt", 0xC0, "rd, rs",
        "x = rs\nn = 0\nfor i in range(64):\n    n = n + (ashr(x, i) & 1)\nrd = n",
        "rd = number of bits set in rs",
    ),
    instruction(
        "clz", 0xC1, "rd, rs",
        "x = rs\nn = 64\nwhile x != 0:\n    x = lshr(x, 1)\n    n = n - 1\nrd = n",
        "rd = number of leading zero bits of rs (64 for zero)",
    ),
    instruction(
        "bswap", 0xC2, "rd, rs",
        "x = rs\nv = 0\nfor i in range(8):\n    v = shl(v, 8) | (lshr(x, 8 * i) & 255)\nrd = v",
        "rd = rs with its 8 bytes in reverse order",
    ),
    instruction(
        "fmadd", 0xC3, "fd, fs1, fs2",
        "fd = fcanon(fma(fs1, fs2, fd))",
        "fd = fs1 * fs2 + fd with a single rounding; a NaN result is canonical",
    ),
    instruction(
        "divchk", 0xC4, "rd, rs1, rs2",
        "if rs2 == 0 or (rs1 == -9223372036854775807 - 1 and rs2 == -1):\n    trap(DIVZERO)\nrd = sdiv(rs1, rs2)",
        "rd = rs1 / rs2, trapping DIVZERO on a zero divisor and on INT64_MIN / -1 (overflow)",
    ),
]
