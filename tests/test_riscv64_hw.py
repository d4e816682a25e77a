"""hw runs RISC-V: every riscv-tests ISA test passes, every guest program gives the output and exit
status QEMU gives (guest_programs/riscv64/*.out), and random RV64GC programs end with the registers,
fcsr and memory that qemu-riscv64 leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from riscv64_programs import build_assembly
from riscv64_support import (
    build_isa_tests,
    build_random,
    guest_programs,
    isa_test_names,
    riscv_tests_dir,
    riscv_tests_missing,
    run_reference,
)

from vm.elf import read_executable
from vm.engines.caching import engine_cache_dir
from vm.engines.hw_riscv64 import RiscvCpu
from vm.fuzz.riscv64 import parse_dump
from vm.machine import RiscvMachine
from vm.monitor.host import Host
from vm.monitor.linux import Linux
from vm.monitor.linux_process import new_process
from vm.run_linux import DEFAULT_LINUX_MEMORY, run_executable

M64 = (1 << 64) - 1

MISSING = riscv_tests_missing()
NAMES = ["riscv-tests"] if MISSING else isa_test_names(riscv_tests_dir())  # missing: the fixture skips or fails
PROGRAMS = guest_programs()
FUEL = 50_000_000  # far above any of these runs: a hang is a failure, not a stuck suite


@pytest.fixture(scope="module")
def isa_tests() -> dict[str, Path]:
    return build_isa_tests(engine_cache_dir("riscv64-isa-tests"))


@pytest.mark.parametrize("name", NAMES)
def test_riscv_test_passes_in_hw(name, isa_tests):
    run = run_executable(isa_tests[name], capture=True, fuel=FUEL)
    assert run.outcome.trap is None, f"{name}: trap {run.outcome.trap.name} at {run.where(run.outcome.pc)}: " \
                                     f"{run.outcome.detail}"
    assert run.outcome.exit == 0, f"{name}: case {run.outcome.exit} failed"


@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_guest_program_gives_qemus_output(program):
    run = run_executable(program.path, program.args, stdin=program.stdin, capture=True, fuel=FUEL)
    assert run.outcome.trap is None, f"trap {run.outcome.trap.name} at {run.where(run.outcome.pc)}"
    assert (run.output.stdout, run.outcome.exit) == (program.expected_stdout, program.expected_exit)
    assert run.output.stderr == b""
    assert "refused_syscalls" not in run.stats


@pytest.mark.parametrize("seed", range(24))
def test_random_program_ends_as_in_qemu(tmp_path, seed):
    """Every register but sp (where the loader put the stack), fcsr and the scratch memory agree."""
    executable = build_random(seed, tmp_path)
    expected, status = run_reference(executable)
    assert status == 0
    run = run_executable(executable, capture=True, fuel=FUEL)
    assert run.outcome.exit == 0, f"trap {run.outcome.trap} at {run.where(run.outcome.pc)}: {run.outcome.detail}"
    ours, theirs = parse_dump(run.output.stdout), parse_dump(expected)
    ours["x"][2] = theirs["x"][2] = 0
    for key in ("x", "f"):
        wrong = [i for i, (a, b) in enumerate(zip(ours[key], theirs[key], strict=True)) if a != b]
        assert not wrong, f"{key}{wrong}: hw {[hex(ours[key][i]) for i in wrong]}, " \
                          f"qemu {[hex(theirs[key][i]) for i in wrong]}"
    assert ours == theirs


# -- fetch, decode and dispatch at their edges: code written at run time, jumps below 0, counters, fuel
_EXIT = "    li a7, 93\n    ecall\n"
# A page mapped with the protection given, s0 its address, holding a function that returns 42
_MAPPED_FUNCTION = """\
    li a0, 0
    li a1, 4096
    li a2, {prot}
    li a3, 0x22         # MAP_PRIVATE | MAP_ANONYMOUS
    li a4, -1
    li a5, 0
    li a7, 222          # mmap
    ecall
    mv s0, a0
    li t0, 0x02a00513   # addi a0, zero, 42
    sw t0, 0(s0)
    li t0, 0x00008067   # jalr zero, 0(ra)
    sw t0, 4(s0)
"""
SELF_MODIFYING = {
    # a page mapped at run time, written, run, rewritten and run again
    "mapped_code": ("""
    .globl _start
_start:
""" + _MAPPED_FUNCTION.format(prot="7  # PROT_READ | PROT_WRITE | PROT_EXEC") + """\
    fence.i
    jalr ra, 0(s0)
    mv s1, a0
    li t0, 0x00700513   # addi a0, zero, 7
    sw t0, 0(s0)
    fence.i
    jalr ra, 0(s0)
    add a0, a0, s1      # 42 + 7
""" + _EXIT, 49),
    # an instruction of the program's own (writable) text, rewritten after it ran once
    "rewritten_text": ("""
    .option norvc
    .globl _start
_start:
    li s1, 0
    li s2, 3
again:
    addi s1, s1, 1      # becomes addi s1, s1, 10
    la t0, again
    li t1, 0x00a48493   # addi s1, s1, 10
    sw t1, 0(t0)
    fence.i
    addi s2, s2, -1
    bnez s2, again
    mv a0, s1           # 1 + 10 + 10
""" + _EXIT, 21),
    # code on a page mapped read-write, written, then made execute-only (PROT_EXEC alone) and run
    "execute_only": ("""
    .globl _start
_start:
""" + _MAPPED_FUNCTION.format(prot="3  # PROT_READ | PROT_WRITE") + """\
    mv a0, s0
    li a1, 4096
    li a2, 4            # PROT_EXEC
    li a7, 226          # mprotect
    ecall
    fence.i
    jalr ra, 0(s0)
""" + _EXIT, 42),
    # an SC of another size than its LR succeeds where the address and the value are the LR's (as QEMU)
    "lr_w_sc_d": ("""
    .globl _start
_start:
    la a0, word
    lr.w t0, (a0)
    li t1, 9
    sc.d t2, t1, (a0)
    ld a1, 0(a0)
    add a0, t2, a1      # 0 (stored) + 9
""" + _EXIT + """
    .data
    .balign 8
word: .dword 7
""", 9),
}
COUNTERS = ("""
    .option norvc
    .globl _start
_start:
    rdinstret a0
    nop
    nop
    rdinstret a1
    sub a0, a1, a0
""" + _EXIT, 3)  # rdinstret counts the instructions retired before it (QEMU's user mode counts otherwise)


def test_instret_counts_the_instructions_before_it(tmp_path):
    run = run_executable(build_assembly(tmp_path, "counters", COUNTERS[0]), capture=True)
    assert (run.outcome.trap, run.outcome.exit) == (None, COUNTERS[1])


@pytest.mark.parametrize("name", SELF_MODIFYING)
def test_code_written_at_run_time_runs_as_written(tmp_path, name):
    source, status = SELF_MODIFYING[name]
    executable = build_assembly(tmp_path, name, source, "-N")
    run = run_executable(executable, capture=True, fuel=FUEL)
    assert (run.outcome.trap, run.outcome.exit) == (None, status), run.outcome
    assert run_reference(executable) == (b"", status)


JUMPS_BELOW_ZERO = """
    .option norvc
    .globl _start
_start:
    li t0, -4096
    jalr zero, 0(t0)
"""
JAL_BELOW_ZERO = """
    .option norvc
    .globl _start
_start:
    .word 0x8000006f    # jal zero, -1 MiB: below address 0
"""


def test_a_jump_below_zero_retires_and_its_fetch_traps(tmp_path):
    executable = build_assembly(tmp_path, "jump", JUMPS_BELOW_ZERO)
    run = run_executable(executable, capture=True)
    assert (run.outcome.trap.name, run.outcome.pc, run.outcome.retired) == ("MEMFAULT", M64 - 4095, 2)
    budget = run_executable(executable, capture=True, fuel=2)  # spent at the jump: FUEL at its target
    assert (budget.outcome.trap.name, budget.outcome.pc, budget.outcome.retired) == ("FUEL", M64 - 4095, 2)
    static = run_executable(build_assembly(tmp_path, "jal", JAL_BELOW_ZERO), capture=True)
    assert static.outcome.trap.name == "MEMFAULT" and static.outcome.retired == 1
    assert static.outcome.pc == (static.process.entry - (1 << 20)) & M64


def _stepped(executable: Path, steps: int) -> tuple:
    """The machine after `steps` instructions run one budget of 1 at a time (the run loop's slow path)."""
    process = new_process(read_executable(executable), [str(executable).encode()], [], DEFAULT_LINUX_MEMORY)
    machine = RiscvMachine(process.space, process.entry, process.sp)
    cpu = RiscvCpu(machine, Linux(process, Host(capture=True)).syscall)
    for _ in range(steps):
        assert cpu.run(1) is None
    return machine.pc, machine.x[:32], machine.retired, bytes(process.space.mem[process.entry:process.entry + 256])


def test_every_budget_stops_where_single_steps_reach(tmp_path):
    """The chunked run loop and one instruction at a time agree at every budget, across rewritten code."""
    executable = build_assembly(tmp_path, "rewritten", SELF_MODIFYING["rewritten_text"][0], "-N")
    whole = run_executable(executable, capture=True)
    for fuel in range(1, whole.outcome.retired):
        run = run_executable(executable, capture=True, fuel=fuel)
        m = run.machine
        assert run.outcome.trap.name == "FUEL" and run.outcome.retired == fuel
        ours = (m.pc, m.x[:32], m.retired, bytes(m.space.mem[run.process.entry:run.process.entry + 256]))
        assert ours == _stepped(executable, fuel), fuel


def test_compiled_handlers_are_kept_between_runs_and_a_damaged_file_is_ignored(tmp_path):
    import marshal
    import os
    import subprocess
    import sys

    env = {**os.environ, "VM_CACHE_DIR": str(tmp_path)}
    hello = PROGRAMS[0].path

    def run() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vm", "run", str(hello)], env=env, capture_output=True,
                              timeout=120)

    assert run().stdout == b"Hello from RISC-V!\n"
    (kept,) = (tmp_path / "hw-riscv64").iterdir()
    assert kept.stat().st_size > 1000
    for damage in (b"not marshal data", marshal.dumps([1, 2]), marshal.dumps({"addi": 5})):
        kept.write_bytes(damage)
        assert run().stdout == b"Hello from RISC-V!\n"
        assert kept.stat().st_size > 1000  # written again whole
