"""hw's RISC-V blocks (straight-line instructions run as a chain of their handlers, then, once hot,
compiled into one function) end exactly where one instruction at a time would: at every budget, at a
trap in the middle of a block, and at a store that rewrites the block it is in."""

from __future__ import annotations

from pathlib import Path

import pytest
from riscv64_programs import build_assembly

from vm.elf import read_executable
from vm.engines import hw_riscv64
from vm.engines.hw_riscv64 import MAX_BLOCK, RiscvCpu
from vm.machine import RiscvMachine
from vm.monitor.host import Host
from vm.monitor.linux import Linux
from vm.monitor.linux_process import new_process
from vm.run_linux import DEFAULT_LINUX_MEMORY, memory_digest

_EXIT = "    li a7, 93\n    ecall\n"
# A loop that sums the doublewords of its .bss array and writes each running sum back, walking off the
# array's end: the first load past its last page faults, in the middle of its block, after 2,560 turns
WALKS_OFF_ITS_DATA = """
    .option norvc
    .globl _start
_start:
    la s0, array
    li s1, 0
loop:
    ld t0, 0(s0)
    addi s1, s1, 3
    add s1, s1, t0
    sd s1, 0(s0)
    addi s0, s0, 8
    j loop
    .bss
    .balign 4096
array: .zero 20000
"""
# A loop whose store writes the instruction after it, in the same block, on its 2,500th turn (long after
# the block is hot), and a scratch word on every other turn
REWRITES_ITS_OWN_BLOCK = """
    .option norvc
    .globl _start
_start:
    li s1, 0            # the sum
    li s2, 3000         # turns left
    la s4, patch
    la s5, scratch
    li s6, 0x00a48493   # addi s1, s1, 10
loop:
    addi s2, s2, -1
    addi t2, s2, -500
    seqz t2, t2
    neg t2, t2          # all ones on the turn that leaves 500
    xor t3, s4, s5
    and t3, t3, t2
    xor t3, t3, s5      # patch on that turn, scratch on the others
    sw s6, 0(t3)
patch:
    addi s1, s1, 1      # becomes addi s1, s1, 10, in the very turn that stores it
    bnez s2, loop
    mv a0, s1
""" + _EXIT + """
    .data
    .balign 4096        # a page of its own: a store there does not touch decoded code
scratch: .word 0
"""
SUM_AFTER_REWRITE = 2499 * 1 + 501 * 10


def _run(executable: Path, fuel: int | None, fused: bool) -> tuple:
    """Everything a run leaves: the outcome and the machine (registers, fcsr, memory)."""
    process = new_process(read_executable(executable), [str(executable).encode()], [], DEFAULT_LINUX_MEMORY,
                          bytes(16))  # AT_RANDOM: the same in both runs
    machine = RiscvMachine(process.space, process.entry, process.sp)
    cpu = RiscvCpu(machine, Linux(process, Host(capture=True)).syscall)
    cpu.fused = fused
    outcome = cpu.run(fuel)
    return outcome, machine.pc, machine.retired, machine.x[:32], machine.fflags, memory_digest(machine)


@pytest.fixture(params=[1, None], ids=["compiled_at_once", "hot_after_use"])
def hot_block(request, monkeypatch):
    """Blocks compiled at their first run, or chained until they are hot (the engine's own threshold)."""
    if request.param is not None:
        monkeypatch.setattr(hw_riscv64, "HOT_BLOCK", request.param)


def test_a_fault_in_the_middle_of_a_hot_block_stops_at_that_load(tmp_path, hot_block):
    executable = build_assembly(tmp_path, "walks", WALKS_OFF_ITS_DATA)
    fused = _run(executable, None, True)
    outcome = fused[0]
    loop = read_executable(executable).entry + 12  # after la (auipc, addi) and li
    assert (outcome.trap.name, outcome.pc) == ("MEMFAULT", loop)  # the ld, not the block's end
    assert outcome.retired == 3 + (20000 + 4095) // 4096 * 4096 // 8 * 6  # a turn per doubleword to the page's end
    assert fused == _run(executable, None, False)


def test_every_budget_in_hot_blocks_stops_where_one_at_a_time_does(tmp_path, hot_block):
    executable = build_assembly(tmp_path, "walks", WALKS_OFF_ITS_DATA)
    total = _run(executable, None, False)[0].retired
    for fuel in [*range(MAX_BLOCK - 2, total, 397), total - 1, total, total + 1]:
        assert _run(executable, fuel, True) == _run(executable, fuel, False), fuel


def test_a_store_that_rewrites_its_own_hot_block_takes_effect_at_once(tmp_path, hot_block):
    executable = build_assembly(tmp_path, "rewrites", REWRITES_ITS_OWN_BLOCK, "-N")
    fused = _run(executable, None, True)
    assert (fused[0].trap, fused[0].exit) == (None, SUM_AFTER_REWRITE & 255)
    assert fused[3][9] == SUM_AFTER_REWRITE  # s1 whole
    assert fused == _run(executable, None, False)
    for fuel in range(2499 * 11 - 3, 2499 * 11 + 15):  # around the turn that rewrites
        assert _run(executable, fuel, True) == _run(executable, fuel, False), fuel
