"""Programs generated from the instruction descriptions: every instruction of the set (core and loaded
extensions), inside loops, calls, self-modifying stores, device I/O and hypercalls, from a seed.

A program is kept as blocks of assembly lines, each block self-contained (its labels are its own), so
that the shrinker can drop blocks, lines and values and still have something the assembler reads.
"""

from __future__ import annotations

import ast
import random
import struct
from dataclasses import dataclass, field

from vm.arch.vm64 import Instruction, InstructionSet
from vm.isa import Kind
from vm.isa.semantics import memory_access
from vm.machine import MIN_MEMORY

FUZZ_MEMORY = MIN_MEMORY  # small memory: its end, where out-of-bounds accesses begin, is near
BUFFER = 256  # bytes of data at `buf`; r13 points at its middle
BASE, COUNTER, ADDRESS = 13, 12, 14  # registers the generator keeps for itself: buffer base, loop count, jumps
INT_EDGES = [0, 1, -1, 2, -2, 7, 63, 64, 65, 0x7FFFFFFF, -(2**31), 2**31, 2**32 - 1, 2**63 - 1, -(2**63),
             -(2**63) + 1, 0xFF, 0x8000]
FLOAT_EDGES = ["0.0", "-0.0", "1.0", "-1.5", "0.1", "inf", "-inf", "nan", "-nan", "1e308", "-1.7976931348623157e308",
               "5e-324", "-5e-324", "2.2250738585072014e-308", "2.225073858507201e-308", "9.223372036854775807e18",
               "-9.223372036854775808e18", "4503599627370496.5", "0.5", "-0.5", "3.0"]
NAN_BITS = [0x7FF0000000000001, 0xFFF8000000000000, 0x7FFFFFFFFFFFFFFF, 0xFFF0000000000001, 0x7FF4000000000000]
HYPERCALLS = 8  # 0..7 are defined; 8 and above trap BADHCALL
PORTS = 3  # 0..2 are devices; 3 traps BADPORT


@dataclass
class Program:
    """A generated program: its blocks of main code, its functions, data, input and budget."""

    seed: int
    blocks: list[list[str]]
    functions: list[list[str]] = field(default_factory=list)
    data: bytes = bytes(BUFFER)
    stdin: bytes = b""
    fuel: int = 10_000

    def source(self) -> str:
        """The program as assembly text: the setup, the blocks, halt, the functions and the data."""
        lines = [f"; vm fuzz, seed {self.seed}", "main:", f"    la r{BASE}, buf+{BUFFER // 2}"]
        for block in self.blocks:
            lines += [line if line.endswith(":") else "    " + line for line in block]
        lines += ["    halt"]
        for function in self.functions:
            lines += [line if line.endswith(":") else "    " + line for line in function]
        lines += [".data", ".align 8", "buf:"]
        words = [int.from_bytes(self.data[i:i + 8], "little") for i in range(0, len(self.data), 8)]
        lines += ["    .quad " + ", ".join(f"{w:#x}" for w in words[i:i + 4]) for i in range(0, len(words), 4)]
        return "\n".join(lines) + "\n"

    def size(self) -> int:
        """Its number of instruction lines, labels not counted."""
        return sum(1 for part in (*self.blocks, *self.functions) for line in part if not line.endswith(":"))


def _access_size(ins: Instruction) -> int:
    for node in ast.walk(ins.semantics.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            found = memory_access(node.func.id, node.args)
            if found:
                return found[0]
    return 8


class Generator:
    """Draws programs for one instruction set; a seed gives the same program every time."""

    def __init__(self, isa: InstructionSet, size: int = 40) -> None:
        self.isa = isa
        self.size = size
        effects = {ins.mnemonic: ins.semantics.effects for ins in isa.instructions}
        self.straight = [ins for ins in isa.instructions
                         if not effects[ins.mnemonic] & {"goto", "halt", "hypercall", "port_in", "port_out"}
                         and not ins.semantics.always_traps and "sp" not in ins.semantics.assigned]
        self.stack = [ins for ins in isa.instructions if "sp" in ins.semantics.assigned and ins.flow is None
                      and "goto" not in effects[ins.mnemonic]]
        self.branches = [ins for ins in isa.instructions if "goto" in effects[ins.mnemonic] and ins.flow is None
                         and any(o.kind is Kind.TARGET for o in ins.operands)]
        self.indirect = [ins for ins in isa.instructions if "goto" in effects[ins.mnemonic] and ins.flow is None
                         and not any(o.kind is Kind.TARGET for o in ins.operands)]
        self.calls = [ins for ins in isa.instructions if ins.flow == "call"]
        self.returns = [ins for ins in isa.instructions if ins.flow == "return"]
        self.ports = [ins for ins in isa.instructions if effects[ins.mnemonic] & {"port_in", "port_out"}]
        self.hypercalls = [ins for ins in isa.instructions if "hypercall" in effects[ins.mnemonic]]
        self.enders = [ins for ins in isa.instructions if "halt" in effects[ins.mnemonic] or ins.semantics.always_traps]

    # -- operands -------------------------------------------------------------------------------------
    def _int(self, rng: random.Random, bits: int = 64) -> int:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if rng.random() < 0.5:
            return rng.choice([v for v in INT_EDGES if lo <= v <= hi])
        return rng.choice([rng.randint(lo, hi), rng.randint(-300, 300)])

    def _mem(self, rng: random.Random, size: int) -> str:
        roll = rng.random()
        if roll < 0.95:
            offset = rng.randrange(-BUFFER // 2, BUFFER // 2, size)
        elif roll < 0.975:
            offset = rng.randrange(-BUFFER // 2, BUFFER // 2) | 1 if size > 1 else rng.randrange(-128, 128)
        else:
            return rng.choice(["[16]", f"[{FUZZ_MEMORY - size}]", f"[{FUZZ_MEMORY}]", f"[r{BASE}+100000]",
                               f"[r{BASE}-{2**31}]", "[r0]", f"[r{rng.randrange(12)}+8]"])
        return f"[r{BASE}{'+' if offset >= 0 else '-'}{abs(offset)}]"

    def _operand(self, rng: random.Random, ins: Instruction, name: str, kind: Kind) -> str:
        if kind is Kind.REG:
            if name == "rd" and rng.random() > 0.03:
                return f"r{rng.randrange(12)}"
            return f"r{rng.randrange(16)}"
        if kind is Kind.FREG:
            return f"f{rng.randrange(16)}"
        if kind is Kind.IMM:
            return str(self._int(rng, 32))
        if kind is Kind.LIT:
            return str(self._int(rng, 64))
        if kind is Kind.FLIT:
            if rng.random() < 0.6:
                return rng.choice(FLOAT_EDGES)
            return repr(rng.choice([rng.uniform(-1e6, 1e6), struct.unpack("<d", rng.randbytes(8))[0]]))
        if kind is Kind.MEM:
            return self._mem(rng, _access_size(ins))
        raise ValueError(f"no operand of kind {kind} outside control flow")

    def instruction(self, rng: random.Random, ins: Instruction, target: str | None = None) -> str:
        ops = [target if op.kind is Kind.TARGET else self._operand(rng, ins, op.name, op.kind) for op in ins.operands]
        return f"{ins.mnemonic} {', '.join(ops)}".strip()

    # -- blocks -----------------------------------------------------------------------------------------
    def _straight(self, rng: random.Random, n: int) -> list[str]:
        return [self.instruction(rng, rng.choice(self.straight)) for _ in range(n)]

    def block(self, rng: random.Random, k: int, functions: int) -> list[str]:
        """One self-contained block; its labels start with b{k}."""
        kinds = ["straight"] * 6 + ["branch"] * 2 + ["loop", "stack", "float", "port", "hcall", "selfmod", "spin"]
        if self.indirect:
            kinds.append("indirect")
        if functions and self.calls:
            kinds += ["call", "call"]
        if self.enders:
            kinds.append("end")
        kind = rng.choice(kinds)
        if kind == "straight":
            return self._straight(rng, rng.randint(1, 4))
        if kind == "branch":
            ins = rng.choice(self.branches)
            return [self.instruction(rng, ins, f"b{k}_skip"), *self._straight(rng, rng.randint(0, 3)), f"b{k}_skip:"]
        if kind == "loop":
            body = [line for line in self._straight(rng, rng.randint(1, 4)) if f"r{COUNTER}," not in line.split()[1:2]]
            return [f"li r{COUNTER}, {rng.randint(1, 6)}", f"b{k}_loop:", *body, f"subi r{COUNTER}, r{COUNTER}, 1",
                    f"bnez r{COUNTER}, b{k}_loop"]
        if kind == "spin" and rng.random() < 0.2:  # a loop that only counts: para and os may count it in closed form
            if rng.random() < 0.5:
                return [f"b{k}_spin:", f"jmp b{k}_spin"]
            return [f"liw r{COUNTER}, {rng.choice([3, 1000, 10**6, 2**40])}", f"b{k}_spin:",
                    f"subi r{COUNTER}, r{COUNTER}, 1", f"bnez r{COUNTER}, b{k}_spin"]
        if kind == "stack" and self.stack:
            return [self.instruction(rng, rng.choice(self.stack)) for _ in range(rng.randint(1, 3))]
        if kind == "float":
            bits = rng.choice(NAN_BITS + [rng.getrandbits(64)])
            return [f"liw r{rng.randrange(12)}, {bits - (1 << 64) if bits >> 63 else bits}",
                    f"imvf f{rng.randrange(16)}, r{rng.randrange(12)}", *self._straight(rng, 1)]
        if kind == "port" and self.ports:
            ins = rng.choice(self.ports)
            good = [0, 2] if "port_in" in ins.semantics.effects else [0, 1]
            port = rng.choice(good * 6 + [rng.randrange(PORTS + 2)])
            ops = [str(port) if o.name == "port" else f"r{rng.randrange(12)}" for o in ins.operands]
            return [f"{ins.mnemonic} {', '.join(ops)}"]
        if kind == "hcall" and self.hypercalls:
            return self._hypercall(rng, rng.choice(self.hypercalls).mnemonic)
        if kind == "selfmod" and rng.random() < 0.06:  # para and os refuse the rest of the run: keep it rare
            return [f"la r{ADDRESS}, b{k}_src", f"ld r11, [r{ADDRESS}]", f"la r{ADDRESS}, b{k}_dst",
                    f"sd r11, [r{ADDRESS}]", f"b{k}_dst:", "nop", f"jmp b{k}_end", f"b{k}_src:",
                    *self._straight(rng, 1), f"b{k}_end:"]
        if kind == "indirect":
            ins = rng.choice(self.indirect)
            reg = next(o.name for o in ins.operands if o.kind is Kind.REG)
            ops = [f"r{ADDRESS}" if o.name == reg else self._operand(rng, ins, o.name, o.kind) for o in ins.operands]
            return [f"la r{ADDRESS}, b{k}_to", f"{ins.mnemonic} {', '.join(ops)}", *self._straight(rng, 1),
                    f"b{k}_to:"]
        if kind == "call":
            ins = rng.choice(self.calls)
            fn = f"fn{rng.randrange(functions)}"
            if any(o.kind is Kind.TARGET for o in ins.operands):
                return [self.instruction(rng, ins, fn)]
            return [f"la r{ADDRESS}, {fn}", f"{ins.mnemonic} r{ADDRESS}"]
        if kind == "end" and rng.random() < 0.1:
            return [self.instruction(rng, rng.choice(self.enders))]
        return self._straight(rng, 1)

    def _hypercall(self, rng: random.Random, mnemonic: str) -> list[str]:
        n = rng.choice(list(range(1, HYPERCALLS)) * 3 + [0, rng.randrange(HYPERCALLS, 300)])
        address = rng.choice([f"buf+{rng.randrange(BUFFER)}"] * 12 + ["16", str(FUZZ_MEMORY - 4), "0"])
        length = rng.choice([0, 1, 3, 8, 16, rng.randrange(BUFFER)] * 3 + [-1, 70000])
        if n == 0:
            lines = [f"li r1, {rng.randrange(256)}"] if rng.random() < 0.3 else []
        elif n in (1, 2):
            fd = rng.choice([n == 1 and 1 or 0, 1, 2, 0, 5])
            lines = [f"li r1, {fd}", f"la r2, {address}", f"li r3, {length}"]
        elif n == 4:
            lines = [f"li r1, {rng.choice([-1, 0, 3, 17, 20])}", f"fmov f0, f{rng.randrange(16)}"]
        elif n in (6, 7):
            lines = [f"la r1, {address}", f"la r2, buf+{rng.randrange(BUFFER)}", f"li r3, {length}"]
        else:
            lines = []
        lines.append(f"{mnemonic} {n}")
        if n == 5:  # the clock is the one result that differs between runs: overwrite it
            lines.append("li r0, 0")
        return lines

    def function(self, rng: random.Random, k: int) -> list[str]:
        ret = rng.choice(self.returns).mnemonic if self.returns else "ret"
        return [f"fn{k}:", *self._straight(rng, rng.randint(1, 5)), ret]

    def program(self, seed: int) -> Program:
        """The program of this seed: the same seed and instruction set give the same program."""
        rng = random.Random(seed)
        setup = [f"liw r{r}, {self._int(rng)}" for r in range(12)]
        setup += [f"fli f{r}, {rng.choice(FLOAT_EDGES)}" for r in range(16)]
        setup += [f"push r{rng.randrange(12)}" for _ in range(3)]
        functions = rng.randint(0, 3)
        blocks = [[line] for line in setup]
        blocks += [self.block(rng, k, functions) for k in range(rng.randint(self.size // 2, self.size))]
        fuel = rng.choice([10_000] * 8 + [rng.randint(0, 200)])
        return Program(seed, blocks, [self.function(rng, k) for k in range(functions)], rng.randbytes(BUFFER),
                       rng.randbytes(rng.choice([0, 1, 8, 64])), fuel)

