"""para: paravirtualization. The guest's text runs as native code; the monitor handles the exits.

`run_para` translates the image (or finds its translation in the cache), enters native code through
the dispatcher, and handles each exit: device I/O is emulated by running that one instruction in the
interpreter; a block that needs more fuel than is left, or a jump into the middle of a block, is
finished by the interpreter up to the same instruction count hw would reach, and a block whose
memory accesses might fault (its window, see windows.py) is run by the interpreter. What para cannot run
(a store into its translated text, a jump outside it) stops with UNSUPPORTED, or, in auto mode,
continues in hw from that exact state.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass

import numpy as np

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.encoding import decode_word
from vm.arch.vm64.model import WORD
from vm.engines.hw import HwEngine, run_in_hw
from vm.engines.para import abi
from vm.engines.para.cache import CompileError, compile_image
from vm.engines.text import code_write
from vm.isa import DEFAULT_FUEL, Trap
from vm.machine import GuestTrap, Halted, Machine, Outcome, fuel_outcome
from vm.monitor.host import WRITES_MEMORY, ffi, hypercall_address, lib
from vm.monitor.monitor import Monitor

ADDRESS_MASK = (1 << 64) - 1
_HINT = "run it with --mode hw, or --mode auto to continue in hw"

_KNOWN_REASONS = {abi.REASON_HALT, abi.REASON_TRAP, abi.REASON_DEVICE, abi.REASON_FUEL, abi.REASON_INTERPRET,
                  abi.REASON_CODE_WRITE, abi.REASON_OUTSIDE}


def stack_floor() -> int:
    """How low native calls may nest on this thread's stack (0: unknown): its lowest address plus
    abi.STACK_MARGIN. A thread's stack can be smaller than abi.NATIVE_STACK_BYTES."""
    main = threading.current_thread() is threading.main_thread()
    low = _main_thread_stack_low() if main else lib.vm_stack_low()
    return low + abi.STACK_MARGIN if low else 0


@functools.cache
def _main_thread_stack_low() -> int:
    return lib.vm_stack_low()  # for the main thread, glibc reads /proc/self/maps: 0.4 ms, once


class ParaRun:
    """One guest run in native code, with the interpreter standing by for the exits."""

    def __init__(self, isa: InstructionSet, machine: Machine, monitor: Monitor, stats: dict) -> None:
        self.isa = isa
        self.machine = machine
        self.monitor = monitor
        self.stats = stats
        start = time.perf_counter()
        self.translation, self.code, cache_state = compile_image(machine.image, isa)
        stats["compile_seconds"] = time.perf_counter() - start
        stats["cache"] = cache_state
        stats["translated_regions"] = len(self.translation.regions)
        stats["hw_instructions"] = 0
        self._arrays(machine)
        self.hw: HwEngine | None = None
        self.devices: HwEngine | None = None  # made at the first VM exit: most runs have none
        self.device_handlers: dict[int, object] = {}
        self.dispatch = ffi.cast("int64_t(*)(int64_t)", self.code.address("dispatch"))

    def _arrays(self, machine: Machine) -> None:
        t = self.translation
        self.regs = np.array(machine.regs, dtype=np.int64)
        self.fregs = np.array(machine.fregs, dtype=np.float64)
        self.mem = np.frombuffer(machine.mem, dtype=np.uint8)
        self.table = np.array([self.code.address(r.name) for r in t.regions] or [0], dtype=np.int64)
        self.lookup = np.full(max((t.text_end - abi.TEXT_BASE) // 8, 1), -1, dtype=np.int64)
        for pc, region in t.leaders.items():
            self.lookup[(pc - abi.TEXT_BASE) // 8] = region
        ctx = self.ctx = np.zeros(abi.CTX_SLOTS, dtype=np.int64)
        ctx[abi.CTX_REGS] = self.regs.ctypes.data
        ctx[abi.CTX_FREGS] = self.fregs.ctypes.data
        ctx[abi.CTX_MEM] = self.mem.ctypes.data
        ctx[abi.CTX_MEM_SIZE] = machine.mem_size
        ctx[abi.CTX_HOST] = self.monitor.host.address
        ctx[abi.CTX_HYPERCALL] = hypercall_address()
        ctx[abi.CTX_TABLE] = self.table.ctypes.data
        ctx[abi.CTX_LOOKUP] = self.lookup.ctypes.data
        ctx[abi.CTX_TEXT_END] = t.text_end
        self.out_batch = np.zeros(2 * abi.OUT_BATCH, dtype=np.int64)
        ctx[abi.CTX_OUT_BATCH] = self.out_batch.ctypes.data

    # -- moving state between the native arrays and the interpreter's lists ------------------------
    def to_machine(self) -> None:
        self.machine.regs[:] = self.regs.tolist()
        self.machine.fregs[:] = self.fregs.tolist()

    def from_machine(self) -> None:
        self.regs[:] = self.machine.regs
        self.fregs[:] = self.machine.fregs

    def interpret(self, fuel: int | None) -> Outcome | None:
        """Run the interpreter on the machine's state (kept in sync with the native arrays)."""
        if self.hw is None:
            self.hw = HwEngine(self.isa, self.machine, self.monitor, protect_below=self.translation.text_end)
            self.monitor.memory_written = self.hw.forget_range
        before = self.machine.retired
        self.to_machine()
        outcome = self.hw.run(fuel)
        self.from_machine()
        self.stats["hw_instructions"] += self.machine.retired - before
        return outcome

    # -- the monitor loop ---------------------------------------------------------------------------
    def run(self, fuel: int | None, fallback: bool) -> Outcome:
        machine = self.machine
        ctx = memoryview(self.ctx)  # Python ints in and out: cheaper than numpy scalars on every exit
        budget = DEFAULT_FUEL if fuel is None else fuel
        self.monitor.host.protect(abi.TEXT_BASE, self.translation.text_end)
        ctx_address = int(self.ctx.ctypes.data)
        ctx[abi.CTX_STACK_FLOOR] = stack_floor()
        dispatch, handlers = self.dispatch, self.device_handlers
        PC, BUDGET, DEVICE = abi.CTX_PC, abi.CTX_BUDGET, abi.REASON_DEVICE  # locals: this loop is the VM exit
        OUT_COUNT = abi.CTX_OUT_COUNT
        while True:
            pc = machine.pc
            ctx[PC] = pc - (1 << 64) if pc >> 63 else pc  # an int64 slot
            ctx[BUDGET] = budget
            reason = dispatch(ctx_address)
            if ctx[OUT_COUNT]:
                self._perform_output(ctx[OUT_COUNT])
                ctx[OUT_COUNT] = 0
            left = ctx[BUDGET]
            machine.retired += budget - left
            budget = left
            machine.pc = pc = ctx[PC] & ADDRESS_MASK  # addresses are unsigned
            if reason == DEVICE:  # the common exit first
                # The instruction's own semantics run in Python, as in hw, but on the native register
                # arrays (no copy of the machine state).
                handler = handlers.get(pc) or self._device_handler(pc)
                try:
                    machine.pc = handler() << 3
                except GuestTrap as trap:
                    self.to_machine()
                    return Outcome(None, trap.trap, pc, machine.retired, trap.detail)
                except Halted as halt:
                    machine.retired += 1
                    self.to_machine()
                    return Outcome(halt.status, None, pc, machine.retired)
                machine.retired += 1
                budget -= 1
                if budget == 0:
                    self.to_machine()
                    return fuel_outcome(machine)
                continue
            if reason == abi.REASON_HALT:
                self.to_machine()
                return Outcome(ctx[abi.CTX_DETAIL], None, pc, machine.retired)
            if reason == abi.REASON_TRAP:
                self.to_machine()
                return Outcome(None, Trap(ctx[abi.CTX_DETAIL]), pc, machine.retired)
            if reason not in _KNOWN_REASONS:  # REASON_NATIVE_ERROR, or a word that makes no sense
                raise RuntimeError(f"para's compiled code stopped at pc {pc:#x} with reason {reason}: "
                                   "a bug in the engine, not the guest")
            if reason == abi.REASON_FUEL:
                steps = budget  # fewer than some block holds: the interpreter stops at the same count
            elif reason == abi.REASON_INTERPRET:
                steps = self._distance_to_leader(pc, budget)
            elif reason == abi.REASON_CODE_WRITE and self._hypercall_writes(pc) is None and budget:
                steps = 1  # a store: the interpreter refuses it too, and finds the address it writes
            else:
                self.to_machine()
                if budget == 0:  # the budget is spent before the fetch that would fail
                    return fuel_outcome(machine)
                outcome = self._refusal(reason, pc)
                if outcome.trap is Trap.UNSUPPORTED and fallback:
                    return self._fall_back(budget)
                return outcome
            steps = min(steps, budget)
            before = machine.retired
            outcome = self.interpret(steps)
            budget -= machine.retired - before
            if outcome is not None and outcome.trap is Trap.UNSUPPORTED:  # the interpreter met a code write
                if fallback:
                    return self._fall_back(budget)
                outcome.detail = f"para cannot run {self._code_write(outcome.pc)}; {_HINT}"
            if outcome is not None:
                return outcome
            if budget == 0:
                return fuel_outcome(machine)

    def _hypercall_writes(self, pc: int) -> int | None:
        """Where the hypercall at pc writes guest memory from (None: not a hypercall that writes)."""
        fields = decode_word(bytes(self.machine.mem[pc : pc + WORD]))
        if "hypercall" not in self.isa.by_opcode[fields.opcode].semantics.effects or fields.imm not in WRITES_MEMORY:
            return None
        return self.machine.regs[WRITES_MEMORY[fields.imm][0]] & ADDRESS_MASK

    def _code_write(self, pc: int) -> str:
        """The refused store at pc, and the address it writes: a hypercall's buffer, or what hw found."""
        address = self._hypercall_writes(pc)
        return code_write(pc, address if address is not None else self.hw and self.hw.refused_write)

    def _perform_output(self, count: int) -> None:
        """The `out`s native code recorded since it last stopped, in order (the monitor's devices)."""
        port_out = self.monitor.port_out
        batch = self.out_batch[: 2 * count].tolist()
        for i in range(0, 2 * count, 2):
            port_out(batch[i], batch[i + 1])

    def _device_handler(self, pc: int):
        if self.devices is None:
            # Device instructions run in Python on the native register arrays: a VM exit copies nothing.
            arrays = _RegisterArrays(self.machine.image, self.machine.mem, memoryview(self.regs),
                                     memoryview(self.fregs))
            self.devices = HwEngine(self.isa, arrays, self.monitor)
        _, handler = self.devices.decode(pc)
        self.device_handlers[pc] = handler
        return handler

    def _fall_back(self, fuel: int) -> Outcome:
        """auto mode: the rest of the run in hw, from this exact state, with code writes allowed."""
        self.monitor.host.protect(0, 0)
        self.stats["fallback_pc"] = self.machine.pc
        before = self.machine.retired
        outcome = run_in_hw(self.isa, self.machine, self.monitor, fuel)
        self.stats["hw_instructions"] += self.machine.retired - before
        return outcome

    def _distance_to_leader(self, pc: int, budget: int) -> int:
        """Words from pc (its own included) to the next block start after it, at most the budget: the
        instructions to interpret, or more where one is 16 bytes long (the interpreter then runs on
        into the next block, which is as exact)."""
        steps, addr = 1, pc + 8
        while steps < budget and addr < self.translation.text_end and addr not in self.translation.leaders:
            addr += 8
            steps += 1
        return steps

    def _refusal(self, reason: int, pc: int) -> Outcome:
        """UNSUPPORTED with its cause; but a jump to where hw could not fetch traps as in hw."""
        if reason == abi.REASON_OUTSIDE:
            try:
                HwEngine.check_fetch_at(pc, self.machine.mem_size)
            except GuestTrap as trap:
                return Outcome(None, trap.trap, pc, self.machine.retired, trap.detail)
        if reason == abi.REASON_CODE_WRITE:
            cause = self._code_write(pc)
        else:
            cause = f"a jump to {pc:#x}, outside the translated text (code in data)"
        return Outcome(None, Trap.UNSUPPORTED, pc, self.machine.retired, f"para cannot run {cause}; {_HINT}")


@dataclass
class _RegisterArrays:
    """The machine as the device handlers see it: memory, and the registers native code uses."""

    image: object
    mem: bytearray
    regs: memoryview
    fregs: memoryview

    @property
    def mem_size(self) -> int:
        return len(self.mem)


def run_para(isa: InstructionSet, machine: Machine, monitor: Monitor, fuel: int | None, *, fallback: bool,
             stats: dict) -> Outcome:
    """Run the machine in para (fallback=False) or auto (fallback=True) mode."""
    try:
        run = ParaRun(isa, machine, monitor, stats)
    except CompileError as e:
        if fallback:
            stats["fallback_pc"] = machine.pc
            return run_in_hw(isa, machine, monitor, fuel)
        return Outcome(None, Trap.UNSUPPORTED, machine.pc, machine.retired,
                       f"para cannot compile this program: {e}; run it with --mode hw")
    return run.run(fuel, fallback)
