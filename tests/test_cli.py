"""The `vm` command end to end, through a subprocess: output, exit status, messages, files.

No run may print a Python traceback: every failure is a `vm: ...` message with exit status 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vm.arch.vm64.asm.assembler import assemble
from vm.arch.vm64.image import Image

ROOT = Path(__file__).resolve().parent.parent
TRAP_CODES = {"ILLEGAL": 1, "MEMFAULT": 2, "MISALIGNED": 3, "DIVZERO": 4, "FPCONV": 5, "BADPORT": 6,
              "BADHCALL": 7, "BREAK": 8, "FUEL": 9, "UNSUPPORTED": 10}


def vm(*args, stdin: bytes = b"", cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "vm", *map(str, args)], input=stdin, capture_output=True,
                          cwd=cwd, timeout=120)
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


PROGRAM = """\
; prints 7, then ends with status 300
main:   li r1, 7
        out 1, r1
        li r0, 300
        halt
"""


def test_run_prints_output_and_exits_with_low_8_bits(tmp_path):
    proc = vm("run", write(tmp_path / "p.asm", PROGRAM))
    assert proc.stdout == b"7"
    assert proc.returncode == 300 & 0xFF
    assert proc.stderr == b""


def test_run_exit_status_of_negative_status(tmp_path):
    proc = vm("run", write(tmp_path / "p.asm", "main: li r1, -1\n hcall 0\n"))
    assert proc.returncode == 255


def test_run_reads_standard_input(tmp_path):
    src = "main: in r1, 0\n blt r1, r0, end\n addi r1, r1, 1\n out 0, r1\n jmp main\nend: li r0, 0\n halt\n"
    proc = vm("run", write(tmp_path / "p.asm", src), stdin=b"HAL")
    assert proc.stdout == b"IBM" and proc.returncode == 0


def test_trap_message_and_exit_status(tmp_path):
    src = "main:   li r1, 5\n        li r2, 0\n        div r3, r1, r2   ; boom\n        halt\n"
    proc = vm("run", write(tmp_path / "dz.asm", src))
    assert proc.returncode == 64 + TRAP_CODES["DIVZERO"]
    line = proc.stderr.decode().strip()
    assert re.match(r"^vm: trap DIVZERO at 0x1010 \(\S*dz\.asm:3: div r3, r1, r2\)", line), line
    assert "boom" not in line  # the comment is not part of the source line


@pytest.mark.parametrize(("src", "trap"), [
    ("main: ld r1, [0]\n", "MEMFAULT"), ("main: ld r1, [0x1001]\n", "MISALIGNED"), ("main: brk\n", "BREAK"),
    ("main: .quad 0xff\n", "ILLEGAL"), ("main: out 9, r1\n", "BADPORT"), ("main: hcall 99\n", "BADHCALL"),
    ("main: fli f1, nan\n ftoi r1, f1\n", "FPCONV"),
])
def test_every_trap_exit_status(tmp_path, src, trap):
    proc = vm("run", write(tmp_path / "t.asm", src))
    assert proc.returncode == 64 + TRAP_CODES[trap]
    assert proc.stderr.decode().startswith(f"vm: trap {trap} at 0x")


def test_state_out_json(tmp_path):
    src = "main: li r1, -3\n fli f2, 1.5\n li r0, 4\n push r1\nend: halt\n"
    state_file = tmp_path / "state.json"
    proc = vm("run", write(tmp_path / "s.asm", src), "--state-out", state_file, "--mem", "64K")
    assert proc.returncode == 4
    state = json.loads(state_file.read_text())
    assert set(state) >= {"exit", "trap", "pc", "source", "retired", "r", "f", "mem_size", "mem_sha256"}
    assert state["exit"] == 4 and state["trap"] is None
    assert state["pc"] == 0x1028 and state["retired"] == 5  # fli is 16 bytes
    assert state["source"].endswith("s.asm:5")
    assert len(state["r"]) == 16 and all(isinstance(x, int) for x in state["r"])
    assert state["r"][:2] == [4, -3] and state["r"][15] == 65536 - 8
    assert len(state["f"]) == 16 and all(re.fullmatch(r"[0-9a-f]{16}", x) for x in state["f"])
    assert state["f"][2] == "3ff8000000000000" and state["f"][0] == "0" * 16
    assert state["mem_size"] == 65536
    mem = bytearray(65536)
    image = assemble(src, "s.asm")
    mem[0x1000 : 0x1000 + len(image.memory)] = image.memory
    mem[65536 - 8 :] = (2**64 - 3).to_bytes(8, "little")
    assert state["mem_sha256"] == hashlib.sha256(mem).hexdigest()


def test_state_out_after_a_trap(tmp_path):
    state_file = tmp_path / "state.json"
    proc = vm("run", write(tmp_path / "s.asm", "main: nop\n brk\n"), "--state-out", state_file)
    assert proc.returncode == 64 + TRAP_CODES["BREAK"]
    state = json.loads(state_file.read_text())
    assert state["trap"] == "BREAK" and state["exit"] is None and state["pc"] == 0x1008 and state["retired"] == 1
    assert state["mem_size"] == 1 << 20  # the default memory


def test_stats_on_stderr(tmp_path):
    proc = vm("run", write(tmp_path / "p.asm", PROGRAM), "--stats")
    assert proc.stdout == b"7" and proc.returncode == 44
    err = proc.stderr.decode()
    assert re.search(r"retired:\s+4\b", err) and "engine:" in err and "hw" in err


def test_fuel(tmp_path):
    proc = vm("run", write(tmp_path / "p.asm", PROGRAM), "--fuel", "2")
    assert proc.stdout == b"7" and proc.returncode == 64 + TRAP_CODES["FUEL"]
    assert proc.stderr.decode().startswith("vm: trap FUEL at 0x1010")
    assert vm("run", tmp_path / "p.asm", "--fuel", "4").returncode == 44
    proc = vm("run", tmp_path / "p.asm", "--fuel", "0")
    assert proc.stdout == b"" and proc.stderr.decode().startswith("vm: trap FUEL at 0x1000")


@pytest.mark.parametrize("value", ["1000", "abc", "32K", "8G", ""])
def test_bad_mem_values(tmp_path, value):
    proc = vm("run", write(tmp_path / "p.asm", PROGRAM), "--mem", value)
    assert proc.returncode == 2 and proc.stdout == b""
    assert re.search(r"mem|size", proc.stderr.decode())


def test_mem_values_and_stack_top(tmp_path):
    src = "main: mov r1, sp\n shri r1, r1, 12\n out 1, r1\n li r0, 0\n halt\n"
    p = write(tmp_path / "p.asm", src)
    assert vm("run", p, "--mem", "64K").stdout == b"16"
    assert vm("run", p, "--mem", "1M").stdout == b"256"
    assert vm("run", p, "--mem", str(128 * 1024)).stdout == b"32"


def test_program_that_does_not_fit_memory(tmp_path):
    proc = vm("run", write(tmp_path / "big.asm", "main: halt\n.data\n.zero 70000\n"), "--mem", "64K")
    assert proc.returncode == 2 and proc.stderr.startswith(b"vm: ")


def test_asm_then_run_the_image(tmp_path):
    src = write(tmp_path / "p.asm", PROGRAM)
    out = tmp_path / "out.vmi"
    proc = vm("asm", src, "-o", out)
    assert proc.returncode == 0 and proc.stdout == b"" and out.read_bytes()[:4] == b"VMI\x1a"
    proc = vm("run", out)
    assert proc.stdout == b"7" and proc.returncode == 44
    assert vm("asm", src).returncode == 0  # default output: next to the source
    assert (tmp_path / "p.vmi").read_bytes() == out.read_bytes()


def test_trap_message_from_an_image_names_the_source(tmp_path):
    src = write(tmp_path / "t.asm", "main: nop\n brk\n")
    vm("asm", src, "-o", tmp_path / "t.vmi")
    proc = vm("run", tmp_path / "t.vmi")
    assert re.match(r"vm: trap BREAK at 0x1008 \(\S*t\.asm:2: brk\)", proc.stderr.decode())


def test_disasm(tmp_path):
    src = write(tmp_path / "p.asm", PROGRAM)
    proc = vm("disasm", src)
    assert proc.returncode == 0
    text = proc.stdout.decode()
    assert "main:" in text and "out 1, r1" in text and "halt" in text
    again = write(tmp_path / "again.asm", text)
    vm("asm", again, "-o", tmp_path / "a.vmi")
    vm("asm", src, "-o", tmp_path / "b.vmi")
    a = Image.from_bytes((tmp_path / "a.vmi").read_bytes())
    b = Image.from_bytes((tmp_path / "b.vmi").read_bytes())
    assert (a.memory, a.entry, a.text_end) == (b.memory, b.entry, b.text_end)
    assert vm("disasm", tmp_path / "b.vmi").stdout == proc.stdout  # the image records the source name


def test_isa_reference_is_current():
    proc = vm("isa")
    assert proc.returncode == 0
    text = proc.stdout.decode()
    for mnemonic in ["halt", "liw", "sltiu", "fsqrt", "hcall", "brk"]:
        assert f"`{mnemonic}" in text
    assert (ROOT / "docs" / "isa.md").read_text() == text, "docs/isa.md is stale: run `python -m vm isa > docs/isa.md`"


def test_bad_assembly_reports_every_error(tmp_path):
    src = write(tmp_path / "bad.asm", "main: addx r1\n nop\n mov r1, r77\n")
    for command in ("run", "asm", "disasm"):
        proc = vm(command, src)
        assert proc.returncode == 2 and proc.stdout == b""
        err = proc.stderr.decode()
        assert re.search(r"bad\.asm:1:7: .*addx", err) and re.search(r"bad\.asm:3:10: .*r77", err)
        assert "    main: addx r1\n" in err and "          ^" in err
        assert "2 errors" in err
    assert not (tmp_path / "bad.vmi").exists()


@pytest.mark.parametrize("case", ["missing", "directory", "binary-asm", "binary-vmi", "wrong-magic", "truncated",
                                  "missing-asm", "directory-asm"])
def test_unreadable_inputs_exit_2(tmp_path, case):
    junk = bytes(range(256)) * 2
    image = assemble(PROGRAM, "good.asm").to_bytes()
    target, command = {
        "missing": (tmp_path / "nope.asm", "run"),
        "directory": (tmp_path, "run"),
        "binary-asm": (tmp_path / "junk.asm", "run"),
        "binary-vmi": (tmp_path / "junk.vmi", "run"),
        "wrong-magic": (tmp_path / "magic.vmi", "disasm"),
        "truncated": (tmp_path / "short.vmi", "run"),
        "missing-asm": (tmp_path / "nope.asm", "asm"),
        "directory-asm": (tmp_path, "asm"),
    }[case]
    (tmp_path / "junk.asm").write_bytes(junk)
    (tmp_path / "junk.vmi").write_bytes(junk)
    (tmp_path / "magic.vmi").write_bytes(b"XXXX" + image[4:])
    (tmp_path / "short.vmi").write_bytes(image[:-3])
    proc = vm(command, target)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.startswith(b"vm: ") and len(proc.stderr.splitlines()) == 1


def test_usage_errors_exit_2():
    assert vm("run").returncode == 2
    assert vm("frobnicate").returncode == 2
    assert vm("run", "x.asm", "--fuel", "-1").returncode == 2
    assert vm("run", "x.asm", "--mode", "nope").returncode == 2


@pytest.mark.parametrize("command", ["asm", "state-out"])
def test_unwritable_output_path_exits_2(tmp_path, command):
    src = write(tmp_path / "p.asm", PROGRAM)
    bad = tmp_path / "no such dir" / "x.out"
    args = ["asm", src, "-o", bad] if command == "asm" else ["run", src, "--state-out", bad]
    proc = vm(*args)
    assert proc.returncode == 2 and proc.stderr.startswith(b"vm: ")


def test_translate_prints_what_para_and_os_generate(tmp_path):
    program = write(tmp_path / "p.asm", PROGRAM)
    para = vm("translate", program)
    assert para.returncode == 0 and b"from numba import" in para.stdout
    os_ = vm("translate", program, "--mode", "os")
    assert os_.returncode == 0 and b'#include "guest_runtime.h"' in os_.stdout and b"vm_guest_run" in os_.stdout
    assert vm("translate", program, "--mode", "hw").returncode == 2  # hw runs the image, it translates nothing


SPIN = "main: jmp main\n"


@pytest.mark.parametrize("limit", [["--cpu-limit", "1"], ["--mem-limit", "64M"], ["--output-limit", "1K"]])
@pytest.mark.parametrize("mode", ["hw", "para", "auto"])
def test_a_cage_limit_without_the_cage_is_refused_not_ignored(tmp_path, mode, limit):
    proc = vm("run", write(tmp_path / "spin.asm", SPIN), "--mode", mode, *limit, "--fuel", "1000000")
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"vm: {limit[0]} is enforced by the cage: add --isolate (or use --mode os)\n"


def test_a_cage_limit_of_resume_without_the_cage_is_refused(tmp_path):
    program = write(tmp_path / "p.asm", PROGRAM)
    snapshot = tmp_path / "p.snap"
    assert vm("run", program, "--snapshot-at", "1", "--snapshot-out", snapshot).returncode == 0
    proc = vm("resume", snapshot, "--cpu-limit", "1", "--output-limit", "1K")
    assert proc.returncode == 2
    assert proc.stderr.decode() == ("vm: --cpu-limit and --output-limit are enforced by the cage: "
                                    "add --isolate (or use --mode os)\n")


def test_stats_give_no_rate_for_a_loop_the_compiler_counted_instead_of_running(tmp_path):
    """os's C compiler reduces a loop that only spends the budget to its count: 2^62 'retired' at once."""
    proc = vm("run", write(tmp_path / "spin.asm", SPIN), "--mode", "os", "--stats")
    assert proc.returncode == 64 + TRAP_CODES["FUEL"]
    stats = dict(line.split(":", 1) for line in proc.stderr.decode().splitlines()[1:])
    assert int(stats["retired"]) == 2**62
    assert stats["guest ips"].strip() == ("none: counted, not run (the compiler reduced a loop that changes "
                                          "nothing but the budget to its count)")


def test_stats_give_the_rate_of_a_loop_that_runs(tmp_path):
    proc = vm("run", write(tmp_path / "spin.asm", SPIN), "--fuel", "100000", "--stats")
    stats = dict(line.split(":", 1) for line in proc.stderr.decode().splitlines()[1:])
    assert 1000 < int(stats["guest ips"].replace(",", "")) < 10**11


@pytest.mark.parametrize("command", ["disasm", "run", "translate"])
def test_a_file_neither_image_nor_assembly_is_one_line(tmp_path, command):
    data = write(tmp_path / "settings.json", json.dumps({"name": "upper", "tags": [1, 2, 3]}, indent=2) + "\n")
    proc = vm(command, data)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        f"vm: {data} is neither a vm image (.vmi) nor assembly: line 1: unknown instruction '{{' (and 7 more errors)"]


def test_bad_assembly_in_an_asm_file_still_lists_every_error(tmp_path):
    proc = vm("disasm", write(tmp_path / "bad.asm", "  frob\n  frob\n"))
    assert proc.returncode == 2 and proc.stderr.decode().count("unknown instruction 'frob'") == 2


@pytest.mark.parametrize(("reference", "hint"), [("upper:1", True), ("127.0.0.1:5000/upper:1", True),
                                                 ("upper.asm", False)])
def test_run_of_an_image_reference_hints_at_container_run(tmp_path, reference, hint):
    proc = vm("run", reference, cwd=tmp_path)
    expected = f"vm: cannot read {reference}: no such file"
    if hint:
        expected += f"; to run the image {reference}, use `vm container run {reference}`"
    assert proc.returncode == 2 and proc.stderr.decode() == expected + "\n"


@pytest.mark.parametrize("mode", ["para", "os"])
def test_stats_name_the_compile_cache_alike_in_para_and_os(tmp_path, mode):
    program = write(tmp_path / "p.asm", PROGRAM)
    env = {**os.environ, "VM_CACHE_DIR": str(tmp_path / "cache")}

    def cache_line() -> str:
        proc = subprocess.run([sys.executable, "-m", "vm", "run", str(program), "--mode", mode, "--stats"],
                              capture_output=True, timeout=300, env=env)
        return next(line for line in proc.stderr.decode().splitlines() if line.startswith("compile cache:"))

    assert [cache_line(), cache_line()] == ["compile cache:    miss", "compile cache:    hit"]


def test_para_and_os_name_a_store_into_their_code_alike():
    """Both give the store's pc and the address it writes (para knew only the first, os the second)."""
    program = ROOT / "guest_programs" / "selfmod.asm"
    image = assemble(program.read_text(), str(program))
    store = next(line.address for line in image.lines if line.text.startswith("sw ") and "getval+4" in line.text)
    target = image.symbols["getval"] + 4
    for mode in ("para", "os"):
        proc = vm("run", program, "--mode", mode)
        assert proc.returncode == 64 + TRAP_CODES["UNSUPPORTED"]
        assert (f"{mode} cannot run a store at {store:#x} into translated code at {target:#x} (self-modifying code)"
                in proc.stderr.decode()), proc.stderr


@pytest.mark.parametrize("args", [["run", "{missing}"], ["resume", "{missing}"], ["asm", "{missing}"],
                                  ["disasm", "{missing}"], ["debug", "{missing}", "-x", "{program}"],
                                  ["debug", "{program}", "-x", "{missing}"], ["compare", "{program}", "--stdin",
                                                                              "{missing}"],
                                  ["image", "load", "{missing}"]])
def test_a_missing_file_is_the_same_line_for_every_command(tmp_path, args):
    missing, program = tmp_path / "missing.file", write(tmp_path / "p.asm", PROGRAM)
    proc = vm(*(a.format(missing=missing, program=program) for a in args))
    assert proc.returncode == 2
    assert proc.stderr.decode() == f"vm: cannot read {missing}: no such file\n"


def test_compare_prints_words_not_python_values():
    proc = vm("compare", ROOT / "guest_programs" / "selfmod.asm")
    assert proc.returncode == 1
    lines = proc.stdout.decode().splitlines()
    for engine in ("para", "os"):
        assert f"  exit: hw 0 / {engine} none" in lines and f"  trap: hw none / {engine} UNSUPPORTED" in lines
        assert f"  pc: hw 0x1138 / {engine} 0x1030" in lines
    assert not [line for line in lines if "None" in line or "'" in line]


def _parsers(parser, path):
    """Every (command path, parser) under `vm`, subcommands of subcommands too."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_option_and_positional_has_help():
    import argparse

    from vm.cli import build_parser

    missing = [(path, action.dest) for path, parser in _parsers(build_parser(), "vm") for action in parser._actions
               if not action.help and not isinstance(action, argparse._HelpAction | argparse._SubParsersAction)]
    assert missing == []


@pytest.mark.parametrize("args", [["run", "p.asm"], ["disasm", "p.asm"], ["container", "run", "x:1"], ["image", "ls"],
                                  ["ps"], ["registry", "serve", "--port", "0", "--root", "r"]])
def test_an_unknown_flag_shows_the_subcommands_usage(args):
    command = " ".join(a for a in args if not a.startswith("-") and a not in ("p.asm", "x:1", "0", "r"))
    proc = vm(*args, "--bogus")
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.startswith(f"usage: vm {command} ") and err.endswith(f"vm {command}: error: unrecognized arguments: "
                                                                   "--bogus\n"), err


def test_version():
    from importlib.metadata import version

    proc = vm("--version")
    assert proc.returncode == 0 and proc.stdout.decode() == f"vm {version('vm')}\n"


@pytest.mark.parametrize(("words", "expected"), [
    (["vm", "cont"], "container"),
    (["vm", "run", "p.asm", "--mo"], "--mode"),
    (["vm", "run", "p.asm", "--mode", ""], "hw para auto os"),
    (["vm", "container", "run", "--sig"], "--sig-proxy"),
])
def test_bash_completes_commands_options_and_choices(tmp_path, words, expected):
    script = write(tmp_path / "vm.bash", vm("completion", "bash").stdout.decode())
    line = " ".join(words)
    words_text = " ".join(f"'{w}'" for w in words)
    probe = (f"source {script}; COMP_WORDS=({words_text}); COMP_CWORD={len(words) - 1}; COMP_LINE='{line}'; "
             f"COMP_POINT={len(line)}; _shtab_vm; echo \"${{COMPREPLY[@]}}\"")
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == expected, done.stderr


@pytest.mark.parametrize("command", [["ps"], ["logs", "c"], ["stop", "c"], ["kill", "c"], ["rm", "c"], ["image", "ls"],
                                     ["container", "run", "x:1"], ["push", "x:1"], ["daemon"]])
def test_commands_on_images_and_containers_take_no_ext(command):
    """An image carries its extensions: --ext there would be ignored, so it is not offered."""
    proc = vm(*command, "--ext", "bitops.py")
    assert proc.returncode == 2 and "unrecognized arguments: --ext bitops.py" in proc.stderr.decode()


def test_the_docs_cite_only_files_in_the_repository():
    """A reference that stands on its own: every file docs/isa.md, the README and docs/ name is here."""
    cited = re.compile(r"`((?:docs|spec|vm|native|bench|tests|guest_programs|extensions)/[\w./-]+\.(?:md|py|c|h|asm))`")
    missing = [(doc.name, path) for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
               for path in cited.findall(doc.read_text()) if not (ROOT / path).exists()]
    assert missing == []
