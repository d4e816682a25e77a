"""`vm fuzz`: the generator covers the instruction set, a seed is a program, a broken engine is found,
shrunk and saved with a command that shows it again, and a campaign on a real Dask cluster counts every
program once when one of its workers is killed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from distributed import Client
from riscv64_support import require_compiler, require_qemu

from vm.arch.vm64 import core_isa
from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import LOAD_ADDRESS
from vm.extensions import load_extensions
from vm.fuzz.generate import Generator

ROOT = Path(__file__).resolve().parent.parent
BITOPS = ROOT / "extensions" / "bitops.py"
ISA_WITH_BITOPS = load_extensions(core_isa(), [str(BITOPS)])


def test_generated_programs_assemble_and_use_every_instruction_of_the_set_and_its_extension():
    generator = Generator(ISA_WITH_BITOPS)
    used: set[int] = set()
    for seed in range(300):
        image = assemble(generator.program(seed).source(), f"seed-{seed}.asm", ISA_WITH_BITOPS)
        text, k = image.memory[: image.text_end - LOAD_ADDRESS], 0
        while k < len(text):  # instruction by instruction: a literal's bytes are not an opcode
            used.add(text[k])
            k += ISA_WITH_BITOPS.by_opcode[text[k]].size
    missing = [ins.mnemonic for ins in ISA_WITH_BITOPS.instructions if ins.opcode not in used]
    assert not missing
    assert {"popcnt", "fmadd", "divchk"} <= {ISA_WITH_BITOPS.by_opcode[op].mnemonic for op in used
                                             if op in ISA_WITH_BITOPS.by_opcode}


def test_a_seed_is_one_program_and_another_seed_another():
    first, again = Generator(ISA_WITH_BITOPS).program(7), Generator(ISA_WITH_BITOPS).program(7)
    assert first.source() == again.source() and first.stdin == again.stdin and first.fuel == again.fuel
    assert Generator(ISA_WITH_BITOPS).program(8).source() != first.source()


# hw's signed division made wrong for negative divisors, in the process that runs the fuzzer only.
BROKEN_HW = """
import sys
import vm.engines.hw as hw
real = hw.HW_FUNCTIONS["_sdiv"]
hw.HW_FUNCTIONS["_sdiv"] = lambda a, b: real(a, b) + (1 if b < 0 else 0)
from vm.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _vm(args: list[str], env: dict, *, broken: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", BROKEN_HW, *args] if broken else [sys.executable, "-m", "vm", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


@pytest.fixture
def env(tmp_path) -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "VM_CACHE_DIR": str(tmp_path / "cache")}


def test_a_broken_engine_is_found_shrunk_and_saved_with_a_command_that_shows_it_again(tmp_path, env):
    out, report = tmp_path / "found", tmp_path / "report.json"
    done = _vm(["fuzz", "--workers", "0", "--count", "6", "--size", "12", "--engines", "hw,os", "--seed", "1",
                "--out", str(out), "--json", str(report)], env, broken=True)
    assert done.returncode == 1, done.stderr
    summary = json.loads(report.read_text())
    assert summary["programs"] == 6 and summary["findings"]
    finding = json.loads(next(out.glob("seed-*-os.json")).read_text())
    assert finding["seed"] in range(1, 7) and finding["engine"] == "os" and "r" in finding["differences"]
    assert finding["shrunk"]["instructions"] <= 2 < finding["shrunk"]["from_instructions"]
    shrunk = (out / f"seed-{finding['seed']}-os.asm").read_text()
    assert any(line.split()[0] in ("div", "divi") for line in shrunk.splitlines()[3:] if line.startswith("    "))
    assert finding["answers"]["hw"]["r"] != finding["answers"]["os"]["r"]
    command = finding["command"].split()
    assert command[:2] == ["vm", "compare"]
    again = _vm(command[1:], env, broken=True)
    assert again.returncode == 1 and "DIFFERENT in os" in again.stdout, again.stdout + again.stderr
    assert _vm(command[1:], env).returncode == 0  # without the bug, the same program agrees
    original = _vm(finding["original_command"].split()[1:] + ["--out", str(tmp_path / "again")], env, broken=True)
    assert original.returncode == 1 and f"seed {finding['seed']}: os differs" in original.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--engines", "hw,qemu"], "vm: --engines: unknown engine 'qemu'; use some of hw, para, auto, os"),
    (["--engines", "hw"], "vm: --engines: name at least one engine besides hw to compare it with"),
    (["--size", "0"], "vm: --size is at least 1, not 0"),
    (["--batch", "-2"], "vm: --batch is at least 1, not -2"),
    (["--ext", "no-such-extension.py"], "vm: extension no-such-extension.py: no such file"),
    (["--arch", "riscv64", "--engines", "hw,os"],
     "vm: --engines and --ext are vm64's: --arch riscv64 compares hw with qemu-riscv64"),
    (["--arch", "riscv64", "--ext", "x.py"],
     "vm: --engines and --ext are vm64's: --arch riscv64 compares hw with qemu-riscv64"),
])
def test_fuzz_says_a_mistake_in_one_line(env, args, message):
    done = _vm(["fuzz", "--workers", "0", *args], env)
    assert (done.returncode, done.stderr.strip()) == (2, message)


def test_riscv64_without_the_cross_compiler_is_one_line_naming_its_package(env):
    done = _vm(["fuzz", "--arch", "riscv64", "--workers", "0", "--count", "1"], {**env, "PATH": "/nonexistent"})
    assert (done.returncode, done.stderr.strip()) == (2, "vm: vm fuzz --arch riscv64: riscv64-linux-gnu-gcc not "
                                                          "found: install Debian's gcc-riscv64-linux-gnu package")


def test_riscv64_programs_in_hw_agree_with_qemu(tmp_path, env):
    require_compiler(), require_qemu()
    report = tmp_path / "report.json"
    done = _vm(["fuzz", "--arch", "riscv64", "--workers", "0", "--count", "4", "--seed", "1", "--out",
                str(tmp_path / "found"), "--json", str(report)], env)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(report.read_text())
    assert (summary["programs"], summary["agreed"], summary["findings"]) == (4, 4, [])
    assert sorted(summary["seeds"]) == [1, 2, 3, 4] and summary["plan"]["arch"] == "riscv64"
    assert set(summary["engine_seconds"]) == {"hw", "qemu-riscv64"}


# hw's unsigned division made wrong in its lowest bit, in the process that runs the fuzzer only.
BROKEN_RISCV64_HW = """
import sys
import vm.engines.hw_riscv64 as hw
real = hw._NAMESPACE["_udiv"]
hw._NAMESPACE["_udiv"] = lambda a, b: real(a, b) ^ 1
from vm.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_broken_riscv64_hw_is_found_shrunk_to_its_division_and_saved_with_a_command(tmp_path, env):
    require_compiler(), require_qemu()
    out = tmp_path / "found"

    def vm(args: list[str], broken: bool) -> subprocess.CompletedProcess:
        command = [sys.executable, "-c", BROKEN_RISCV64_HW, *args] if broken else [sys.executable, "-m", "vm", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)

    done = vm(["fuzz", "--arch", "riscv64", "--workers", "0", "--count", "4", "--seed", "1", "--size", "40",
               "--out", str(out)], broken=True)
    assert done.returncode == 1, done.stdout + done.stderr
    record = next(out.glob("seed-*-qemu-riscv64.json"))
    finding = json.loads(record.read_text())
    assert finding["differences"] and finding["shrunk"]["differences"] == finding["differences"]
    assert finding["shrunk"]["instructions"] == 1 < finding["shrunk"]["from_instructions"] == 40
    register = finding["differences"][0]
    assert finding["answers"]["hw"][register] != finding["answers"]["qemu-riscv64"][register]
    source = Path(finding["files"][0]).read_text()
    assert source == finding["shrunk"]["source"] and re.search(rf"^\s+divu {register},", source, re.M)
    command = finding["command"].split()
    assert command[:2] == ["vm", "compare"] and Path(command[2]).is_file()
    again = vm(command[1:], broken=True)
    assert again.returncode == 1 and "DIFFERENT: stdout" in again.stdout, again.stdout + again.stderr
    assert vm(command[1:], broken=False).returncode == 0  # without the bug, hw and qemu agree on it
    original = vm(finding["original_command"].split()[1:] + ["--out", str(tmp_path / "again")], broken=True)
    assert original.returncode == 1 and f"seed {finding['seed']}: qemu-riscv64 differs" in original.stdout


def _start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    with open(log, "wb") as stream:
        return subprocess.Popen(args, stdout=stream, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s")


def test_a_campaign_on_a_real_cluster_counts_each_program_once_when_a_worker_is_killed(tmp_path, env):
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_file = tmp_path / "scheduler.json"
    processes: list[subprocess.Popen] = []
    try:
        processes.append(_start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                 "--scheduler-file", str(scheduler_file)], env, tmp_path / "scheduler.log"))
        _wait_for(scheduler_file.exists, 30, "the scheduler wrote its address")
        address = json.loads(scheduler_file.read_text())["address"]
        workers = [_start([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-nanny",
                           "--no-dashboard"], env, tmp_path / f"worker{k}.log") for k in range(2)]
        processes += workers
        report = tmp_path / "report.json"
        count, first = 36, 500
        with Client(address, timeout=30) as client:
            _wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == 2, 30, "both workers joined")
            campaign = _start([sys.executable, "-m", "vm", "fuzz", "--scheduler", address, "--count", str(count),
                               "--seed", str(first), "--batch", "3", "--size", "6", "--engines", "hw,os",
                               "--out", str(tmp_path / "found"), "--json", str(report)], env, tmp_path / "fuzz.log")
            processes.append(campaign)
            doomed = next(w for w, pid in client.run(os.getpid).items() if pid == workers[0].pid)

            def finished_one_and_runs_another() -> bool:
                done = client.run(lambda dask_worker: dask_worker.state.executed_count, workers=[doomed])[doomed]
                return done >= 1 and bool(client.processing().get(doomed))

            _wait_for(finished_one_and_runs_another, 60, "the first worker ran a batch and started another")
            assert campaign.poll() is None, "the campaign ended before a worker could be killed"
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
        campaign.wait(120)
        log = (tmp_path / "fuzz.log").read_text()
        assert campaign.returncode == 0, log
        summary = json.loads(report.read_text())
        assert summary["programs"] == count
        assert sorted(summary["seeds"]) == list(range(first, first + count))  # none lost, none twice
        assert summary["workers"] == 2
        assert set(summary["programs_by_worker"]) == {str(workers[0].pid), str(workers[1].pid)}
    finally:
        for process in reversed(processes):
            _stop(process)


def test_a_refusal_for_self_modifying_code_is_allowed_and_the_state_before_it_is_compared(tmp_path, monkeypatch):
    from vm.fuzz.check import check
    from vm.fuzz.generate import Program

    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path / "cache"))
    isa = core_isa()
    selfmod = ["li r1, 5", "out 1, r1", "la r14, to", "ld r11, [r14]", "la r14, from", "sd r11, [r14]",
               "from:", "nop", "to:", "addi r2, r2, 1"]
    verdict = check(Program(1, [selfmod]), isa, ("hw", "os"))
    assert "into translated code" in verdict.refusals["os"] and verdict.agrees
    assert verdict.answers["os"]["stdout"] == '"5"' and verdict.answers["os"]["retired"] == "6"
