"""A new Linux process for a static riscv64 executable: its address space and initial stack, as execve makes them.

Layout, low to high: the program's segments (a static-pie one at PIE_BASE), the heap from the page after
them, free space that mmap fills top-down, and the 8 MiB stack at the top. The address space is sized
so that everything the program may map, `mem_limit` bytes in all, fits above the program.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass

from vm.address_space import EXEC, PAGE, READ, WRITE, AddressSpace, OutOfMemory, page_up
from vm.elf import PF_R, PF_W, PF_X, ElfError, ElfProgram, Segment, Symbol

MIN_ADDRESS = 0x10000  # Linux's mmap_min_addr: the pages below stay unmapped, so a NULL dereference faults
PIE_BASE = 0x100000
STACK_SIZE = 8 << 20
ARG_MAX = STACK_SIZE // 4  # Linux's limit on argument and environment strings: a quarter of the stack

# riscv64's AT_HWCAP: one bit per single-letter extension, bit (letter - 'a'), for RV64IMAFDC
HWCAP = sum(1 << (ord(letter) - ord("a")) for letter in "imafdc")
CLOCK_TICKS = 100
GUEST_UID = GUEST_GID = 1000  # the same on every host, as the rest of the guest's view

AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_HWCAP, AT_CLKTCK, AT_SECURE, AT_RANDOM, AT_EXECFN = (
    11, 12, 13, 14, 16, 17, 23, 25, 31,
)  # fmt: skip


@dataclass
class Process:
    """A loaded program ready for its first instruction: pc = entry, sp = sp, a0..a7 = 0."""

    space: AddressSpace
    entry: int
    sp: int
    brk_start: int
    program: ElfProgram
    load_base: int  # added to the program's addresses (0 unless it is position-independent)
    stack_low: int  # the lowest stack address; mmap places mappings below it
    execfn: bytes  # the path the program was started by, as the guest sees it (AT_EXECFN)

    def save(self) -> dict:
        """The layout as plain data, and of the program what a running process still needs: its path,
        header and symbols (its segments' contents are in the address space, saved with it)."""
        p = self.program
        return {
            "entry": self.entry, "sp": self.sp, "brk_start": self.brk_start, "load_base": self.load_base,
            "stack_low": self.stack_low, "execfn": os.fsdecode(self.execfn),
            "program": {
                "path": p.path, "machine": p.machine, "elf_class": p.elf_class, "entry": p.entry, "pie": p.pie,
                "segments": [[s.vaddr, s.memsz, s.flags, s.offset] for s in p.segments],
                "phoff": p.phoff, "phentsize": p.phentsize, "phnum": p.phnum,
                "symbols": [[s.addr, s.size, s.name] for s in p.symbols],
            },
        }

    @classmethod
    def restore(cls, state: dict, space: AddressSpace) -> Process:
        """The saved process on its restored address space (raises KeyError, TypeError or ValueError for
        a state that is not one); the segments come back without their bytes, which memory holds."""
        p = state["program"]
        program = ElfProgram(
            str(p["path"]), int(p["machine"]), int(p["elf_class"]), int(p["entry"]), bool(p["pie"]),
            tuple(Segment(int(vaddr), int(memsz), b"", int(flags), int(offset))
                  for vaddr, memsz, flags, offset in p["segments"]),
            int(p["phoff"]), int(p["phentsize"]), int(p["phnum"]),
            tuple(Symbol(int(addr), int(size), str(name)) for addr, size, name in p["symbols"]),
        )
        return cls(space, int(state["entry"]), int(state["sp"]), int(state["brk_start"]), program,
                   int(state["load_base"]), int(state["stack_low"]), os.fsencode(str(state["execfn"])))


class SeededRandom:
    """The guest's random bytes (AT_RANDOM, getrandom) drawn from a seed instead of the host: a run with
    the same seed is the same run, byte for byte. Byte p of the stream is byte p % 32 of
    sha256(seed | p // 32 as 8 bytes); `drawn` bytes have been taken, so a saved stream goes on where it was."""

    def __init__(self, seed: bytes, drawn: int = 0) -> None:
        self.seed = seed
        self.drawn = drawn

    def take(self, n: int) -> bytes:
        start, self.drawn = self.drawn, self.drawn + n
        blocks = b"".join(hashlib.sha256(self.seed + i.to_bytes(8, "little")).digest()
                          for i in range(start // 32, (self.drawn + 31) // 32))
        return blocks[start % 32 : start % 32 + n]


def _prot(flags: int) -> int:
    return (READ if flags & PF_R else 0) | (WRITE if flags & PF_W else 0) | (EXEC if flags & PF_X else 0)


def new_process(
    program: ElfProgram, argv: list[bytes], env: list[bytes], mem_limit: int, random: bytes | None = None
) -> Process:
    """Map the program, its heap start and stack, and lay out argc, argv, envp and auxv as Linux does for riscv64."""
    for s in [*argv, *env]:
        if b"\0" in s:
            raise ValueError(f"an argument or environment string holds a NUL byte: {s!r}")
    base = PIE_BASE - (program.low & -PAGE) if program.pie else 0
    if program.low + base < MIN_ADDRESS:
        raise ElfError(program.path, f"a segment starts at {program.low:#x}, below {MIN_ADDRESS:#x}: link it higher")
    brk_start = page_up(program.high + base)
    segment_bytes = sum(page_up(s.end) - (s.vaddr & -PAGE) for s in program.segments)
    if segment_bytes + STACK_SIZE > mem_limit:
        raise ElfError(
            program.path,
            f"its segments ({segment_bytes} bytes) and the {STACK_SIZE >> 20} MiB stack do not fit "
            f"the memory limit of {mem_limit} bytes: give more memory",
        )
    try:  # a power of two: hw's CPU tells an address inside the space with one mask
        space = AddressSpace(1 << (page_up(brk_start + mem_limit) - 1).bit_length(), mem_limit)
    except OutOfMemory as e:
        raise ElfError(program.path, f"{e}: give less memory") from None

    # Pages two segments share get both segments' permissions, as a page table can hold only one entry.
    page_prot: dict[int, int] = {}
    for s in program.segments:
        for page in range((s.vaddr + base) & -PAGE, page_up(s.end + base), PAGE):
            page_prot[page] = page_prot.get(page, 0) | _prot(s.flags)
    try:
        for page, prot in sorted(page_prot.items()):
            space.map(page, PAGE, prot)
        for s in program.segments:
            space.poke(s.vaddr + base, s.data)  # bss is the rest of the segment: fresh pages are zeros
    except OutOfMemory as e:
        raise ElfError(program.path, f"its segments do not fit the address space ({e})") from None

    stack_low = space.size - STACK_SIZE
    space.map(stack_low, STACK_SIZE, READ | WRITE)
    execfn = os.fsencode(program.path)
    sp = _initial_stack(space, program, base, argv, env, execfn, random if random is not None else os.urandom(16))
    return Process(space, program.entry + base, sp, brk_start, program, base, stack_low, execfn)


def _phdr_address(program: ElfProgram, base: int) -> int:
    """Where the program header table is in memory: glibc's static start finds PT_TLS through AT_PHDR."""
    table_end = program.phoff + program.phnum * program.phentsize
    for s in program.segments:
        if s.offset <= program.phoff and table_end <= s.offset + len(s.data):
            return s.vaddr + base + program.phoff - s.offset
    first = program.segments[0]  # not loaded (a -N link): Linux's answer all the same, from the first segment
    return first.vaddr - first.offset + base + program.phoff


def _initial_stack(
    space: AddressSpace,
    program: ElfProgram,
    base: int,
    argv: list[bytes],
    env: list[bytes],
    execfn: bytes,
    random: bytes,
) -> int:
    """Write the strings, AT_RANDOM's bytes and the pointer vector below the stack's top; return sp."""
    if len(random) != 16:
        raise ValueError(f"AT_RANDOM takes 16 bytes, not {len(random)}")
    strings = [*argv, *env, execfn]
    blob = b"".join(s + b"\0" for s in strings)
    if len(blob) > ARG_MAX:
        raise ValueError(f"the arguments and environment take {len(blob)} bytes; at most {ARG_MAX} fit")
    top = space.size - 8  # the last word stays zero, as Linux leaves it
    strings_at = top - len(blob)
    addresses, at = [], strings_at
    for s in strings:
        addresses.append(at)
        at += len(s) + 1
    random_at = (strings_at - 16) & -16
    auxv = [
        (AT_HWCAP, HWCAP),
        (AT_PAGESZ, PAGE),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_PHDR, _phdr_address(program, base)),
        (AT_PHENT, program.phentsize),
        (AT_PHNUM, program.phnum),
        (AT_BASE, 0),
        (AT_FLAGS, 0),
        (AT_ENTRY, program.entry + base),
        (AT_UID, GUEST_UID),
        (AT_EUID, GUEST_UID),
        (AT_GID, GUEST_GID),
        (AT_EGID, GUEST_GID),
        (AT_SECURE, 0),
        (AT_RANDOM, random_at),
        (AT_EXECFN, addresses[-1]),
        (AT_NULL, 0),
    ]
    words = [len(argv), *addresses[: len(argv)], 0, *addresses[len(argv) : -1], 0]
    words += [value for pair in auxv for value in pair]
    sp = (random_at - 8 * len(words)) & -16
    space.poke(strings_at, blob)
    space.poke(random_at, random)
    space.poke(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp
