"""Translation of a guest program's text into C, from the ISA description (the os engine).

The text is decoded and cut into blocks as para cuts it (`vm.engines.text`). The program becomes one
C function, `vm_guest_run`, with the guest registers in its locals and guest memory a pointer:

- each block is a label; it takes its length from the instruction budget when it starts, and jumps
  to its successors' labels directly (a jump to an address known only at run time goes through a
  table of the blocks, indexed by address);
- where the budget may not hold a block, or a jump lands where no block starts, `step` runs one
  instruction at a time (a `switch` over every instruction of the text), so a run stops at exactly
  the instruction hw stops at;
- each instruction is its semantics lowered by `CLowering`, the same walk hw and para use: memory
  accesses checked as the ISA says, devices and hypercalls direct calls of the C host services.

What os cannot run it refuses at run time with UNSUPPORTED: a store into the translated text
(self-modifying code) and a jump outside it (code in data).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import operand_values
from vm.arch.vm64.image import LOAD_ADDRESS, Image
from vm.arch.vm64.model import NO_BASE
from vm.engines.lowering import Lowering
from vm.engines.text import Decoded, cut_blocks, decode_text
from vm.isa import Kind, Trap
from vm.isa.semantics import FIXED_FLOAT, FIXED_INT, memory_access
from vm.machine import DEFAULT_MEMORY
from vm.monitor.monitor import PORTS

ENGINE_VERSION = "os-1"
M64 = (1 << 64) - 1
INT64_MAX = (1 << 63) - 1
_WRAPPING = {"+": "vm_add", "-": "vm_sub", "*": "vm_mul"}
_PURE = {"fma": "vm_fma_inline"}  # the rest are vm_<name>, in native/guest_runtime.h


@dataclass
class CProgram:
    """The generated C source of a program, and what its executable needs to know."""

    source: str
    text_end: int
    instructions: int


def c_int(value: int) -> str:
    """An integer constant of the semantics as a C int64_t expression (wrapped to 64 bits)."""
    value &= M64
    if value > INT64_MAX:
        return f"((int64_t)UINT64_C({value}))"
    return f"INT64_C({value})"


def c_double(value: float) -> str:
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INFINITY" if value > 0 else "(-INFINITY)"
    return value.hex()


def c_comment(text: str) -> str:
    """Text for a C comment: an image's metadata is untrusted, so nothing in it may end the comment."""
    return repr(str(text))[1:-1].replace("*/", "* /")


class CLowering(Lowering):
    """Semantics of one instruction, at one address, to C statements inside `vm_guest_run`.

    `unused` is how many instructions the budget was charged for, from this one to the end of its
    block (1 in `step`); `fast` says the code is in a block, where a jump to a known block is a goto."""

    indent_unit = "    "

    def __init__(self, d: Decoded, unused: int, fast: bool, program: ProgramWriter) -> None:
        super().__init__(d.ins)
        self.d = d
        self.unused = unused
        self.fast = fast
        self.program = program
        self.values = operand_values(d.ins, d.fields)

    def lower(self) -> list[str]:
        body = super().lower()
        types = {"int": "int64_t", "float": "double"}
        declarations = [f"{types[t]} {self.local(name)};" for name, t in self.local_types.items()]
        return ["{", *("    " + line for line in declarations + body), "}"]

    # -- syntax ----------------------------------------------------------------------------------
    def assign(self, target: str, value: str) -> None:
        self.emit(f"{target} = {value};")

    def begin_if(self, test: str) -> None:
        self.emit(f"if ({test}) {{")

    def begin_else(self) -> None:
        self.emit("} else {")

    def begin_while(self, test: str) -> None:
        self.emit(f"while ({test}) {{")

    def begin_for(self, variable: str, args: list[str]) -> None:
        start, stop, step = (["INT64_C(0)", *args, "INT64_C(1)"] if len(args) == 1 else
                             [*args, "INT64_C(1)"] if len(args) == 2 else args)
        end, stride = self.temp(), self.temp()  # range() evaluates its arguments once
        self.emit(f"const int64_t {end} = {stop}, {stride} = {step};")
        self.emit(f"for ({variable} = {start}; {stride} > 0 ? {variable} < {end} : {variable} > {end}; "
                  f"{variable} += {stride}) {{")

    def end_block(self) -> None:
        self.emit("}")

    def empty_statement(self) -> str:
        return ";"

    def temp(self) -> str:
        self.temp_count += 1
        return f"c__{self.temp_count}"

    # -- values ----------------------------------------------------------------------------------
    def operand(self, name: str) -> str:
        kind = self.kinds.get(name)
        if kind is Kind.REG:
            return f"r{self.values[name]}"
        if kind is Kind.FREG:
            return f"f{self.values[name]}"
        if kind in (Kind.IMM, Kind.TARGET, Kind.LIT):
            return c_int(self.values[name])
        if kind is Kind.FLIT:
            return f"vm_bits2f({c_int(self.values[name])})"
        if name == "addr":
            base, offset = self.values["mem.base"], self.values["mem.off"]
            return c_int(offset) if base == NO_BASE else f"vm_add(r{base}, {c_int(offset)})"
        if name in FIXED_INT:
            return f"r{FIXED_INT[name]}"
        if name in FIXED_FLOAT:
            return f"f{FIXED_FLOAT[name]}"
        if name == "pc":
            return c_int(self.d.pc)
        if name == "next_pc":
            return c_int(self.d.pc + self.d.size)
        raise KeyError(name)

    def register_target(self, name: str) -> str:
        return self.operand(name)

    def pure(self, name: str, args: list[str]) -> str:
        return f"{_PURE.get(name, 'vm_' + name)}({', '.join(args)})"

    def wrapping(self, op: str, left: str, right: str) -> str:
        return f"{_WRAPPING[op]}({left}, {right})"

    def divide(self, left: str, right: str) -> str:
        return f"vm_fdiv({left}, {right})"

    def if_expression(self, test: str, body: str, orelse: str) -> str:
        return f"(({test}) ? ({body}) : ({orelse}))"

    def bool_operation(self, is_and: bool, values: list[str]) -> str:
        return "(" + (" && " if is_and else " || ").join(values) + ")"

    def expr(self, node: ast.expr) -> str:
        if isinstance(node, ast.Constant):
            return c_double(node.value) if isinstance(node.value, float) else c_int(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return f"(!{self.expr(node.operand)})"
        if isinstance(node, ast.Compare) and len(node.ops) > 1:  # a < b < c: each pair, as Python means it
            left, pairs = node.left, []
            for op, right in zip(node.ops, node.comparators, strict=True):
                pairs.append(self.expr(ast.Compare(left, [op], [right])))
                left = right
            return "(" + " && ".join(pairs) + ")"
        return super().expr(node)

    # -- effects ---------------------------------------------------------------------------------
    def stop(self, macro: str, value: str) -> str:
        return f"{macro}({value}, {c_int(self.d.pc)}, {self.unused});"

    def effect(self, name: str, args: list[ast.expr], target: str | None) -> None:
        access = memory_access(name, args)
        if access is not None:
            self.memory(name, args, target, *access)
        elif name == "goto":
            self.goto(args[0])
        elif name == "halt":
            self.emit(self.stop("VM_HALT", self.expr(args[0])))
        elif name == "trap":
            self.emit(self.stop("VM_TRAP", str(int(Trap[args[0].id]))))
        elif name == "port_out":
            self.device(args[0], "c_write", {"value": self.expr(args[1])}, None)
        elif name == "port_in":
            retired = f"(retired0 + (budget0 - budget) - {self.unused})"
            self.device(args[0], "c_read", {"retired": retired}, target)
        elif name == "hypercall":
            self.hypercall(self.expr(args[0]))
        else:
            raise ValueError(f"no os lowering for effect {name}")

    def memory(self, name: str, args: list[ast.expr], target: str | None, size: int, store: bool) -> None:
        """Check as the ISA says (alignment first, then the range), refuse a store into the text,
        then access."""
        a = self.temp()
        self.emit("{")
        self.emit(f"    const uint64_t {a} = (uint64_t)({self.expr(args[0])});")
        if size > 1:
            self.emit(f"    if ({a} & {size - 1}) {self.stop('VM_TRAP', str(int(Trap.MISALIGNED)))}")
        memfault = self.stop("VM_TRAP", str(int(Trap.MEMFAULT)))
        # Guest memory's size is a constant of the executable: each check is one unsigned comparison.
        # A store's bounds begin at the end of the text (below it is a refusal), its slow path tells which.
        low = self.program.text_end if store else LOAD_ADDRESS  # below the load address is the guard
        span = self.program.mem_size - size - low  # negative when no address of this size fits
        outside = f"{a} - UINT64_C({low}) > UINT64_C({span})" if span >= 0 else "1"
        self.emit(f"    if (__builtin_expect({outside}, 0)) {{")
        if store:
            self.emit(f"        if ({a} < VM_GUARD || {a} > mem_size - {size}) {memfault}")
            self.emit(f"        VM_REFUSE(VM_REFUSE_CODE_WRITE, {a}, {c_int(self.d.pc)}, {self.unused});")
        else:
            self.emit(f"        {memfault}")
        self.emit("    }")
        if name == "load":
            kind = "i" if args[2].value or size == 8 else "u"
            self.emit(f"    {target} = vm_load_{kind}{8 * size}(mem + {a});")
        elif name == "fload":
            self.emit(f"    {target} = vm_load_f64(mem + {a});")
        elif name == "fstore":
            self.emit(f"    vm_store_f64(mem + {a}, {self.expr(args[1])});")
        else:
            self.emit(f"    vm_store_{8 * size}(mem + {a}, {self.expr(args[2])});")
        self.emit("}")

    def goto(self, node: ast.expr) -> None:
        static = isinstance(node, ast.Name) and self.kinds.get(node.id) is Kind.TARGET
        target = self.values[node.id] if static else None
        if self.fast and target in self.program.leaders:
            self.emit(f"goto {block_label(target)};")
        elif self.fast:  # a return or a jump through a register: its own copy of the dispatch
            self.emit(f"pc = (uint64_t)({self.expr(node)});")
            for line in self.program.dispatch():
                self.emit(line)
            self.emit("goto step;")
        else:
            self.emit(f"pc = (uint64_t)({self.expr(node)});")
            self.emit("goto dispatch;")

    def device(self, port: ast.expr, direction: str, names: dict[str, str], target: str | None) -> None:
        """A device access as a direct call; the port is usually a constant, which the compiler folds."""
        p = self.temp()
        self.emit("{")
        self.emit(f"    const int64_t {p} = {self.expr(port)};")
        first = True
        for number, device in sorted(PORTS.items()):
            code = getattr(device, direction)
            if code is None:
                continue
            call = code.format(**names)
            self.emit(f"    {'if' if first else '} else if'} ({p} == {number}) {{")
            self.emit(f"        {target} = {call};" if target else f"        {call};")
            first = False
        self.emit(f"    {'' if first else '} else '}{self.stop('VM_TRAP', str(int(Trap.BADPORT)))}")
        self.emit("}")

    def hypercall(self, number: str) -> None:
        result, status = self.temp(), self.temp()
        self.emit("{")
        self.emit(f"    int64_t {result} = 0;")
        self.emit(f"    const int64_t {status} = vm_hypercall((int64_t)(intptr_t)host, {number}, r1, r2, r3, f0, "
                  f"(int64_t)(intptr_t)mem, (int64_t)mem_size, (int64_t)(intptr_t)&{result});")
        self.emit(f"    if ({status} == VM_HC_RESULT) r0 = {result};")
        self.emit(f"    else if ({status} == VM_HC_EXIT) {self.stop('VM_HALT', result)}")
        self.emit(f"    else if ({status} != VM_HC_DONE) {self.stop('VM_TRAP', status)}")
        self.emit("}")


def block_label(pc: int) -> str:
    return f"B_{pc:x}"


def _falls_through(d: Decoded) -> bool:
    """Control may reach the next instruction (the semantics do not end in a jump, stop or trap)."""
    if d.ins is None or d.untranslated:
        return False
    last = d.ins.semantics.tree.body[-1]
    return not (isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
                and last.value.func.id in ("goto", "halt", "trap"))


class ProgramWriter:
    """Writes `vm_guest_run` for one image."""

    def __init__(self, image: Image, isa: InstructionSet, mem_size: int) -> None:
        self.image, self.mem_size = image, mem_size
        self.words = decode_text(image, isa)
        self.blocks, _ = cut_blocks(image, self.words)
        self.leaders = {block[0].pc for block in self.blocks}
        self.text_end = self.words[-1].pc + self.words[-1].size if self.words else LOAD_ADDRESS

    def dispatch(self) -> list[str]:
        """To the block that starts at pc, if one does. Each indirect jump in a block has a copy, so
        the host CPU predicts each one's targets apart (a return's callers, say) rather than all of
        them through one shared jump."""
        words = max((self.text_end - LOAD_ADDRESS) // 8, 1)
        return [f"if (pc - UINT64_C({LOAD_ADDRESS}) < UINT64_C({words * 8}) && !(pc & 7)) {{",
                f"    const void *block = blocks[(pc - UINT64_C({LOAD_ADDRESS})) >> 3];",
                "    if (block) goto *block;",
                "}"]

    def describe(self, d: Decoded) -> str:
        info = self.image.line_at(d.pc)
        if info is not None:
            return f"{d.pc:#x}: {c_comment(info.text)} (line {info.line})"
        return f"{d.pc:#x}: " + (d.ins.syntax() if d.ins else f"not an instruction: {d.trap.name}")

    def instruction(self, d: Decoded, unused: int, fast: bool) -> list[str]:
        at = c_int(d.pc)
        if d.untranslated:
            return [f"VM_REFUSE(VM_REFUSE_LITERAL, {at}, {at}, {unused});"]
        if d.ins is None:
            return [f"VM_TRAP({int(d.trap)}, {at}, {unused});"]
        return CLowering(d, unused, fast, self).lower()

    def next_of(self, d: Decoded, fast: bool) -> list[str]:
        after = d.pc + d.size
        if fast and after in self.leaders:
            return [f"goto {block_label(after)};"]
        return [f"pc = {c_int(after)};", "goto dispatch;"]

    def block(self, block: list[Decoded]) -> list[str]:
        n, start = len(block), block[0].pc
        lines = [f"{block_label(start)}:", f"    if (budget < {n}) {{ pc = {c_int(start)}; goto step; }}",
                 f"    budget -= {n};"]
        for i, d in enumerate(block):
            lines.append(f"    /* {self.describe(d)} */")
            lines += ["    " + line for line in self.instruction(d, n - i, fast=True)]
        if _falls_through(block[-1]):
            lines += ["    " + line for line in self.next_of(block[-1], fast=True)]
        return lines

    def step_case(self, d: Decoded) -> list[str]:
        lines = [f"case {c_int(d.pc)}: /* {self.describe(d)} */"]
        lines += ["    " + line for line in self.instruction(d, 1, fast=False)]
        if _falls_through(d):
            lines += ["    " + line for line in self.next_of(d, fast=False)]
        return lines

    def source(self) -> str:
        words = max((self.text_end - LOAD_ADDRESS) // 8, 1)
        table = ", ".join(f"[{(b[0].pc - LOAD_ADDRESS) // 8}] = &&{block_label(b[0].pc)}" for b in self.blocks)
        ints = ", ".join(f"r{i} = state->r[{i}]" for i in range(16))
        floats = ", ".join(f"f{i} = vm_bits2f((int64_t)state->f[{i}])" for i in range(16))
        out = [
            f"/* Generated by vm {ENGINE_VERSION} from {c_comment(self.image.source)}: the guest text as C. "
            "Do not edit. */",
            '#include "guest_runtime.h"',
            "",
            f"const uint64_t vm_guest_text_end = UINT64_C({self.text_end});",
            f"const uint64_t vm_guest_mem_size = UINT64_C({self.mem_size});",
            "",
            "int vm_guest_run(vm_state *state, uint8_t *mem, vm_host *host) {",
            f"    int64_t {ints};",
            f"    double {floats};",
            "    uint64_t pc = state->pc;",
            "    const uint64_t mem_size = vm_guest_mem_size;",
            "    const int64_t retired0 = state->retired;",
            "    const int64_t budget0 = state->fuel;",
            "    int64_t budget = budget0, stop = VM_STOP_FUEL, code = 0, refusal = 0;",
            "    uint64_t refusal_address = 0;",
            f"    static const void *const blocks[{words}] = {{{table}}};",
            "dispatch:",
            *("    " + line for line in self.dispatch()),
            "step: /* one instruction, where no block starts or the budget may not hold one */",
            "    if (budget <= 0) { stop = VM_STOP_FUEL; goto leave; }",
            "    budget -= 1;",
            "    switch (pc) {",
        ]
        for d in self.words:
            out += ["    " + line for line in self.step_case(d)]
        out += [
            "    default: /* not an instruction of the text: trap as a fetch would, or refuse */",
            f"        if (pc & 7) VM_TRAP({int(Trap.MISALIGNED)}, pc, 1);",
            f"        if (pc < VM_GUARD || pc > mem_size - 8) VM_TRAP({int(Trap.MEMFAULT)}, pc, 1);",
            "        VM_REFUSE(VM_REFUSE_OUTSIDE, pc, pc, 1);",
            "    }",
        ]
        for block in self.blocks:
            out += self.block(block)
        out += [
            "leave:",
            *(f"    state->r[{i}] = r{i};" for i in range(16)),
            *(f"    state->f[{i}] = (uint64_t)vm_f2bits(f{i});" for i in range(16)),
            "    state->pc = pc;",
            "    state->retired = retired0 + (budget0 - budget);",
            "    state->stop = stop;",
            "    state->code = code;",
            "    state->refusal = refusal;",
            "    state->refusal_address = refusal_address;",
            "    return 0;",
            "}",
            "",
        ]
        return "\n".join(out)


def translate_to_c(image: Image, isa: InstructionSet, mem_size: int = DEFAULT_MEMORY) -> CProgram:
    """The program as C, for a machine of `mem_size` bytes (its executable runs only on that size)."""
    writer = ProgramWriter(image, isa, mem_size)
    return CProgram(writer.source(), writer.text_end, len(writer.words))

