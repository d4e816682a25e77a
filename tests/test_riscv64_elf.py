"""Reading RISC-V Linux executables (vm/elf.py) and the process execve would make of one (initial stack, layout)."""

from __future__ import annotations

import platform
import struct
from pathlib import Path

import pytest
from riscv64_programs import BARE_C, HELLO_C, build

from vm.address_space import EXEC, PAGE, READ, WRITE, AddressSpace
from vm.elf import EM_RISCV, PF_R, PF_W, PF_X, ElfError, ElfProgram, Segment, read_executable
from vm.monitor.linux_process import HWCAP, PIE_BASE, STACK_SIZE, Process, new_process

MEM = 64 << 20
E_TYPE, E_MACHINE, E_ENTRY, E_PHOFF = 16, 18, 24, 32
PT_LOAD = 1


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("riscv64")
    return {
        "hello": build(directory, "hello", HELLO_C, "-static"),
        "dynamic": build(directory, "dynamic", HELLO_C),
        "object": build(directory, "object", HELLO_C, "-c"),
        "bare": build(directory, "bare", BARE_C, "-nostdlib", "-static"),
        "pie": build(directory, "pie", BARE_C, "-nostdlib", "-fPIE", "-pie", "-Wl,--no-dynamic-linker"),
    }


def load_segments(data: bytes) -> list[int]:
    """The file offsets of the PT_LOAD program headers."""
    phoff, = struct.unpack_from("<Q", data, E_PHOFF)
    phnum, = struct.unpack_from("<H", data, 56)
    headers = [phoff + 56 * i for i in range(phnum)]
    return [h for h in headers if struct.unpack_from("<I", data, h)[0] == PT_LOAD]


def patched(tmp_path: Path, good: Path, *edits: tuple[int, str, int]) -> Path:
    """A copy of good with struct-packed values written at file offsets."""
    data = bytearray(good.read_bytes())
    for offset, fmt, value in edits:
        struct.pack_into(fmt, data, offset, value)
    out = tmp_path / "_".join(f"{offset}-{value:x}" for offset, _, value in edits)
    out.write_bytes(bytes(data))
    return out


def test_a_static_executable_is_read_with_its_segments_and_symbols(programs) -> None:
    program = read_executable(programs["hello"])
    assert (program.machine, program.elf_class, program.pie) == (EM_RISCV, 64, False)
    text, data = program.segments
    assert text.flags == PF_R | PF_X and data.flags == PF_R | PF_W
    assert text.vaddr <= program.entry < text.end
    assert data.memsz > len(data.data)  # the bss
    assert (program.phentsize, program.phnum) == (56, struct.unpack_from("<H", programs["hello"].read_bytes(), 56)[0])
    names = {s.name: s for s in program.symbols}
    assert names["main"].size > 0 and text.vaddr <= names["main"].addr < text.end
    assert [s.addr for s in program.symbols] == sorted(s.addr for s in program.symbols)


def test_each_bad_executable_is_one_line_naming_the_file_and_the_problem(programs, tmp_path) -> None:
    hello = programs["hello"]
    data = hello.read_bytes()
    text_ph, data_ph = load_segments(data)
    text_vaddr, = struct.unpack_from("<Q", data, text_ph + 16)
    data_vaddr, = struct.unpack_from("<Q", data, data_ph + 16)
    (tmp_path / "short40").write_bytes(data[:40])
    (tmp_path / "short100").write_bytes(data[:100])
    (tmp_path / "short_segment").write_bytes(data[:2000])
    (tmp_path / "text.c").write_text(HELLO_C)
    cases = [
        (tmp_path / "text.c", "not an ELF file"),
        (patched(tmp_path, hello, (E_MACHINE, "<H", 62)), "an ELF for x86-64; vm runs 64-bit RISC-V"),
        (patched(tmp_path, hello, (E_MACHINE, "<H", 183)), "an ELF for AArch64"),
        (patched(tmp_path, hello, (4, "<B", 1)), "an ELF for 32-bit RISC-V"),
        (programs["dynamic"], "dynamically linked (it has an interpreter, /lib/ld-linux-riscv64-lp64d.so.1); "
                              "vm runs static executables: build with -static"),
        (programs["object"], "not an executable: a relocatable object (.o): link it"),
        (tmp_path / "short40", "truncated: the ELF header is cut short (40 bytes)"),
        (tmp_path / "short100", "truncated: the program header table ends at byte"),
        (tmp_path / "short_segment", "truncated: segment 1 ends at byte"),
        (patched(tmp_path, hello, (data_ph + 16, "<Q", text_vaddr + 0x100)), "overlapping PT_LOAD segments"),
        (patched(tmp_path, hello, (E_ENTRY, "<Q", data_vaddr)),
         f"the entry point {data_vaddr:#x} is outside every executable segment"),
        (tmp_path / "missing", "cannot read it (No such file or directory)"),
    ]  # fmt: skip
    for path, problem in cases:
        with pytest.raises(ElfError) as caught:
            read_executable(path)
        message = str(caught.value)
        assert message.startswith(f"{path}: ") and problem in message, message
        assert "\n" not in message


@pytest.mark.skipif(platform.machine() != "x86_64" or not Path("/bin/ls").exists(), reason="needs an x86-64 /bin/ls")
def test_the_hosts_own_ls_is_named_for_its_machine() -> None:
    with pytest.raises(ElfError, match=r"^/bin/ls: an ELF for x86-64;"):
        read_executable("/bin/ls")


def stack_words(process, count: int) -> list[int]:
    return list(struct.unpack(f"<{count}Q", process.space.read(process.sp, 8 * count)))


def parse_stack(process) -> tuple[list[bytes], list[bytes], dict[int, int]]:
    """argv, envp and the auxiliary vector, read back word by word from sp."""
    space, at = process.space, process.sp
    argc = space.load(at, 8, False)
    argv = [space.read_cstring(space.load(at + 8 * (1 + i), 8, False), 4096) for i in range(argc)]
    at += 8 * (1 + argc)
    assert space.load(at, 8, False) == 0
    at += 8
    env = []
    while (pointer := space.load(at, 8, False)) != 0:
        env.append(space.read_cstring(pointer, 4096))
        at += 8
    at += 8
    auxv = {}
    while True:
        key, value = space.load(at, 8, False), space.load(at + 8, 8, False)
        at += 16
        if key == 0:
            return argv, env, auxv
        assert key not in auxv
        auxv[key] = value


def test_the_initial_stack_is_laid_out_as_linux_does_for_riscv64(programs) -> None:
    program = read_executable(programs["hello"])
    random = bytes(range(100, 116))
    process = new_process(program, [b"hello", b"", b"two words"], [b"HOME=/", b"LANG=C"], MEM, random)
    assert process.sp % 16 == 0
    assert stack_words(process, 2)[0] == 3
    argv, env, auxv = parse_stack(process)
    assert argv == [b"hello", b"", b"two words"]
    assert env == [b"HOME=/", b"LANG=C"]
    file = programs["hello"].read_bytes()
    table = file[program.phoff : program.phoff + program.phnum * program.phentsize]
    assert process.space.read(auxv[3], len(table)) == table  # AT_PHDR
    assert (auxv[4], auxv[5], auxv[6], auxv[9]) == (56, program.phnum, PAGE, program.entry)
    assert process.space.read(auxv[25], 16) == random
    assert process.space.read_cstring(auxv[31], 4096) == str(programs["hello"]).encode()
    assert auxv[16] == HWCAP == 0x112D  # I, M, A, F, D, C
    assert (auxv[17], auxv[23], auxv[7], auxv[8]) == (100, 0, 0, 0)
    assert auxv[11] == auxv[12] and auxv[13] == auxv[14]
    assert set(auxv) == {3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 16, 17, 23, 25, 31}


def test_segments_heap_and_stack_are_mapped_with_their_permissions(programs) -> None:
    program = read_executable(programs["hello"])
    process = new_process(program, [b"hello"], [], MEM)
    space = process.space
    text, data = program.segments
    assert space.is_mapped(text.vaddr, text.memsz, READ | EXEC) and not space.is_mapped(text.vaddr, 1, WRITE)
    assert space.read(text.vaddr, 64) == text.data[:64]
    assert space.is_mapped(data.vaddr, data.memsz, READ | WRITE) and not space.is_mapped(data.vaddr, 1, EXEC)
    assert space.read(data.vaddr, len(data.data)) == data.data
    assert space.read(data.vaddr + len(data.data), data.memsz - len(data.data)) == bytes(data.memsz - len(data.data))
    assert process.brk_start == (data.end + PAGE - 1) & -PAGE
    assert space.is_unmapped(process.brk_start, PAGE)
    assert process.stack_low == space.size - STACK_SIZE and space.is_mapped(process.stack_low, STACK_SIZE, READ | WRITE)
    assert space.size - PAGE < process.sp < space.size
    assert space.limit == MEM and space.size >= process.brk_start + MEM  # all the limit fits above the program
    assert not space.is_mapped(0, 1, 0)


def test_a_static_pie_is_loaded_at_its_base(programs) -> None:
    program = read_executable(programs["pie"])
    assert program.pie and program.low == 0
    process = new_process(program, [b"pie"], [], MEM)
    assert process.load_base == PIE_BASE
    assert process.entry == PIE_BASE + program.entry
    assert process.space.fetch_ok(process.entry, 4)
    _, _, auxv = parse_stack(process)
    assert auxv[9] == process.entry
    file = programs["pie"].read_bytes()
    table = file[program.phoff : program.phoff + program.phnum * program.phentsize]
    assert auxv[3] == PIE_BASE + program.phoff and process.space.read(auxv[3], len(table)) == table
    assert process.brk_start == PIE_BASE + ((program.high + PAGE - 1) & -PAGE)


def test_a_process_is_saved_and_restored_with_its_memory_and_layout(programs) -> None:
    program = read_executable(programs["hello"])
    process = new_process(program, [b"hello", b"arg"], [b"A=1"], MEM)
    process.space.store(process.brk_start - 8, 8, 0x5EED)
    state = process.save()
    copy = Process.restore(state, AddressSpace.restore(process.space.save()))
    assert (copy.entry, copy.sp, copy.brk_start, copy.stack_low, copy.execfn) == (
        process.entry, process.sp, process.brk_start, process.stack_low, process.execfn,
    )  # fmt: skip
    assert parse_stack(copy) == parse_stack(process)
    assert copy.space.load(process.brk_start - 8, 8, False) == 0x5EED and copy.space.mapped == process.space.mapped
    assert (copy.program.entry, copy.program.symbols) == (program.entry, program.symbols)
    del state["program"]["symbols"]
    with pytest.raises(KeyError):
        Process.restore(state, copy.space)


def test_a_program_that_does_not_fit_the_memory_limit_is_one_line(programs) -> None:
    program = read_executable(programs["bare"])
    problem = r"^\S+bare: its segments \(\d+ bytes\) and the 8 MiB stack do not fit the memory limit of"
    with pytest.raises(ElfError, match=problem):
        new_process(program, [b"bare"], [], STACK_SIZE)
    new_process(program, [b"bare"], [], STACK_SIZE + 2 * PAGE)  # both pages of it, and the stack, exactly


def test_a_memory_limit_the_host_cannot_reserve_is_one_line(programs) -> None:
    program = read_executable(programs["bare"])
    problem = r"bare: the host cannot reserve \d+ bytes of address space .*: give less memory$"
    with pytest.raises(ElfError, match=problem):
        new_process(program, [b"bare"], [], 1 << 56)


def test_arguments_that_cannot_be_passed_are_refused(programs) -> None:
    program = read_executable(programs["bare"])
    with pytest.raises(ValueError, match="NUL"):
        new_process(program, [b"a\0b"], [], MEM)
    with pytest.raises(ValueError, match="arguments and environment"):
        new_process(program, [b"x" * (STACK_SIZE // 4)], [], MEM)


def crafted(*segments: Segment, phoff: int = 64) -> ElfProgram:
    return ElfProgram("/crafted", EM_RISCV, 64, segments[0].vaddr, False, segments, phoff, 56, 1, ())


def test_a_page_two_segments_share_gets_both_permissions() -> None:
    text = Segment(0x10000, 0x800, b"\x13" * 0x800, PF_R | PF_X, 0)
    data = Segment(0x10800, 0x1000, b"\x01" * 0x10, PF_R | PF_W, 0x800)
    process = new_process(crafted(text, data), [b"x"], [], MEM)
    space = process.space
    assert space.is_mapped(0x10000, PAGE, READ | WRITE | EXEC)
    assert space.is_mapped(0x11000, PAGE, READ | WRITE) and not space.is_mapped(0x11000, 1, EXEC)
    assert space.read(0x107FF, 3) == b"\x13\x01\x01"
    assert space.read(0x10810, 0x7F0) == bytes(0x7F0)  # the rest of the data segment is its bss
    assert process.brk_start == 0x12000


def test_program_headers_outside_every_segment_and_segments_below_64k() -> None:
    """Headers that no segment loads (a -N link, as the riscv-tests are built) get AT_PHDR as Linux
    computes it, from the first segment; a segment below 64 KiB is refused."""
    text = Segment(0x10000, 0x100, bytes(0x100), PF_R | PF_X, 0x1000)  # the headers at 64 are not loaded
    process = new_process(crafted(text), [b"x"], [], MEM)
    words = [int.from_bytes(process.space.read(process.sp + 8 * i, 8), "little") for i in range(40)]
    auxv = dict(zip(words[4::2], words[5::2], strict=False))  # after argc, argv[0], NULL and envp's NULL
    assert auxv[3] == 0x10000 - 0x1000 + 64  # AT_PHDR: the first segment's vaddr - offset + e_phoff
    low = Segment(0x1000, 0x100, bytes(0x100), PF_R | PF_X, 0)
    with pytest.raises(ElfError, match="^/crafted: a segment starts at 0x1000, below 0x10000: link it higher"):
        new_process(crafted(low), [b"x"], [], MEM)
