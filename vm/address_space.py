"""A user process's address space: pages with permissions over one flat block of host memory.

Guest address a is byte a of one anonymous mapping, so the CPU reads and writes memory with plain
indexing (a memoryview cast) after checking `perm[a >> 12]`; this module owns everything slower: the
mappings, their permissions, faults with their reasons, and the accesses that cross a page. It knows
nothing of Linux: the system calls build mmap, brk and mprotect on top of it.
"""

from __future__ import annotations

import mmap
import platform
import sys
import zlib
from collections.abc import Callable

PAGE = 4096
PAGE_SHIFT = 12

READ = 1
WRITE = 2
EXEC = 4
CODE = 8  # set by the CPU on a page it has decoded instructions from
MAPPED = 16  # the page is mapped (a PROT_NONE page has this bit only)
PROT_BITS = READ | WRITE | EXEC

_ACCESS_BIT = {"read": READ, "write": WRITE, "fetch": EXEC}
_DENIED = {"read": "page is not readable", "write": "page is read-only", "fetch": "page is not executable"}
# MAP_NORESERVE (Python 3.11 does not name it; 0x4000 on Linux for these machines): a space sized for a large
# memory limit takes no commit charge until the guest touches it, so the host's overcommit check allows it
_LINUX_NORESERVE = sys.platform == "linux" and platform.machine() in ("x86_64", "aarch64", "riscv64")
_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000 if _LINUX_NORESERVE else 0)
_CODE_BIT = bytes(i & CODE for i in range(256))  # a translate() table that keeps only the CODE bit
_VERB = {"read": "read from", "write": "write to", "fetch": "fetch from"}


class MemoryFault(Exception):
    """An access the page permissions refuse; the access has changed nothing."""

    def __init__(self, addr: int, access: str, reason: str) -> None:
        super().__init__(f"{_VERB[access]} {addr:#x}: {reason}")
        self.addr = addr
        self.access = access
        self.reason = reason


class OutOfMemory(Exception):
    """A mapping past the address space's end or its limit (ENOMEM for a system call)."""


class CStringTooLong(ValueError):
    """No NUL within the bytes a string may take (ENAMETOOLONG for a path)."""


def page_up(n: int) -> int:
    return (n + PAGE - 1) & -PAGE


class AddressSpace:
    """Guest addresses [0, size), at most `limit` bytes of them mapped at once."""

    def __init__(self, size: int, limit: int) -> None:
        if size <= 0 or size % PAGE:
            raise ValueError(f"address space size {size} is not a positive multiple of {PAGE}")
        # private: a page given back with MADV_DONTNEED reads as zeros again and frees its host memory
        try:
            self.mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _NORESERVE)
            self.perm = bytearray(size >> PAGE_SHIFT)
        except (OSError, MemoryError) as e:
            reason = e.strerror if isinstance(e, OSError) else "out of memory"
            raise OutOfMemory(f"the host cannot reserve {size} bytes of address space ({reason})") from None
        self.size = size
        self.limit = limit
        self.mapped = 0
        self.code_changed: Callable[[int, int], None] | None = None

    # -- mappings ------------------------------------------------------------------------------------
    def _pages(self, addr: int, length: int) -> range:
        if addr % PAGE:
            raise ValueError(f"address {addr:#x} is not page-aligned")
        if length <= 0:
            raise ValueError(f"length {length} is not positive")
        end = addr + page_up(length)
        if addr < 0 or end > self.size:
            raise OutOfMemory(f"[{addr:#x}, {end:#x}) is outside the address space [0, {self.size:#x})")
        return range(addr >> PAGE_SHIFT, end >> PAGE_SHIFT)

    def _mapped_count(self, pages: range) -> int:
        view = self.perm[pages.start : pages.stop]
        return len(view) - view.count(0)

    def _drop_code(self, pages: range) -> None:
        """Tell the CPU which CODE pages in `pages` change, one call per run of them, and clear their bit."""
        run_start = None
        for page in [*pages, None]:
            if page is not None and self.perm[page] & CODE:
                self.perm[page] &= ~CODE
                if run_start is None:
                    run_start = page
            elif run_start is not None:
                if self.code_changed is not None:
                    self.code_changed(run_start << PAGE_SHIFT, (page if page is not None else pages.stop) << PAGE_SHIFT)
                run_start = None

    def _has_code(self, pages: range) -> bool:
        return self.perm[pages.start : pages.stop].translate(_CODE_BIT).count(0) != len(pages)

    def _zero(self, pages: range) -> None:
        self.mem.madvise(mmap.MADV_DONTNEED, pages.start << PAGE_SHIFT, len(pages) << PAGE_SHIFT)

    def map(self, addr: int, length: int, prot: int) -> None:
        """Map fresh zero pages at [addr, addr+length), replacing whatever was mapped there."""
        pages = self._pages(addr, length)
        already = self._mapped_count(pages)
        if self.mapped - already + len(pages) * PAGE > self.limit:
            raise OutOfMemory(f"mapping {len(pages) * PAGE} more bytes would pass the limit of {self.limit}")
        if self._has_code(pages):
            self._drop_code(pages)
        if already:
            self._zero(pages)
        self.perm[pages.start : pages.stop] = bytes([MAPPED | (prot & PROT_BITS)]) * len(pages)
        self.mapped += (len(pages) - already) * PAGE

    def unmap(self, addr: int, length: int) -> None:
        """Unmap [addr, addr+length); pages not mapped are left as they are."""
        pages = self._pages(addr, length)
        if self._has_code(pages):
            self._drop_code(pages)
        self.mapped -= self._mapped_count(pages) * PAGE
        self.perm[pages.start : pages.stop] = bytes(len(pages))
        self._zero(pages)

    def protect(self, addr: int, length: int, prot: int) -> None:
        """Set the permissions of [addr, addr+length), which must be wholly mapped."""
        pages = self._pages(addr, length)
        if not self.is_mapped(addr, length, 0):
            raise OutOfMemory(f"[{addr:#x}, {addr + len(pages) * PAGE:#x}) is not wholly mapped")
        if not prot & EXEC and self._has_code(pages):
            self._drop_code(pages)
        for page in pages:
            self.perm[page] = (self.perm[page] & CODE) | MAPPED | (prot & PROT_BITS)

    def discard(self, addr: int, length: int) -> None:
        """Zero the pages of [addr, addr+length), keeping their mapping and permissions (MADV_DONTNEED)."""
        pages = self._pages(addr, length)
        if self._has_code(pages):
            self._drop_code(pages)
        self._zero(pages)

    def find_free(self, length: int, below: int, above: int = 0) -> int:
        """The highest page-aligned address a with [a, a+length) unmapped, within [above, below)."""
        count = page_up(length) >> PAGE_SHIFT
        lo, hi = max(above, 0) >> PAGE_SHIFT, min(below, self.size) >> PAGE_SHIFT
        if count <= 0 or hi - lo < count:
            raise OutOfMemory(f"no free range of {length} bytes below {below:#x}")
        found = self.perm.rfind(bytes(count), lo, hi)
        if found < 0:
            raise OutOfMemory(f"no free range of {length} bytes below {below:#x}")
        return found << PAGE_SHIFT

    def is_mapped(self, addr: int, length: int, prot: int) -> bool:
        """Is every page of [addr, addr+length) mapped with all the bits of `prot`?"""
        return self._all_pages(addr, length, MAPPED | prot)

    def is_unmapped(self, addr: int, length: int) -> bool:
        """Is every page of [addr, addr+length) inside the space and unmapped?"""
        if addr < 0 or length <= 0 or addr + length > self.size:
            return False
        return not any(self.perm[addr >> PAGE_SHIFT : (addr + length - 1 >> PAGE_SHIFT) + 1])

    def _all_pages(self, addr: int, length: int, want: int) -> bool:
        if addr < 0 or length <= 0 or addr + length > self.size:
            return False
        pages = range(addr >> PAGE_SHIFT, (addr + length - 1 >> PAGE_SHIFT) + 1)
        return all(self.perm[p] & want == want for p in pages)

    # -- checked accesses ----------------------------------------------------------------------------
    def _check(self, addr: int, n: int, access: str) -> None:
        """Raise the fault of the first byte of [addr, addr+n) that `access` may not touch."""
        bit = MAPPED | _ACCESS_BIT[access]
        if addr < 0 or addr >= self.size:
            raise MemoryFault(addr & (1 << 64) - 1, access, "not mapped")
        last = min(addr + n - 1, self.size - 1) >> PAGE_SHIFT
        for page in range(addr >> PAGE_SHIFT, last + 1):
            if self.perm[page] & bit != bit:
                where = max(addr, page << PAGE_SHIFT)
                raise MemoryFault(where, access, _DENIED[access] if self.perm[page] & MAPPED else "not mapped")
        if addr + n > self.size:
            raise MemoryFault(self.size, access, "not mapped")

    def _wrote(self, addr: int, n: int) -> None:
        """Report the CODE pages a write of [addr, addr+n) touched."""
        pages = range(addr >> PAGE_SHIFT, (addr + n - 1 >> PAGE_SHIFT) + 1)
        if self._has_code(pages):
            self._drop_code(pages)

    def read(self, addr: int, n: int) -> bytes:
        if n <= 0:
            return b""
        self._check(addr, n, "read")
        return self.mem[addr : addr + n]

    def write(self, addr: int, data: bytes) -> None:
        """Write `data` if every page it touches is writable, else fault having written nothing."""
        if not data:
            return
        self._check(addr, len(data), "write")
        self.mem[addr : addr + len(data)] = data
        self._wrote(addr, len(data))

    def poke(self, addr: int, data: bytes) -> None:
        """Write without a permission check (the loader filling read-only segments); inside the space."""
        if addr < 0 or addr + len(data) > self.size:
            raise OutOfMemory(f"[{addr:#x}, {addr + len(data):#x}) is outside the address space")
        if data:
            self.mem[addr : addr + len(data)] = data
            self._wrote(addr, len(data))

    def read_cstring(self, addr: int, limit: int) -> bytes:
        """The NUL-terminated string at addr (without its NUL), of at most limit - 1 bytes."""
        start, pos = addr, addr
        while pos < start + limit:
            chunk_end = min((pos | PAGE - 1) + 1, start + limit)
            self._check(pos, chunk_end - pos, "read")
            nul = self.mem.find(b"\0", pos, chunk_end)
            if nul >= 0:
                return self.mem[start:nul]
            pos = chunk_end
        raise CStringTooLong(f"no NUL within {limit} bytes of {addr:#x}")

    # -- the CPU's slow path ---------------------------------------------------------------------------
    def load(self, addr: int, size: int, signed: bool) -> int:
        """A little-endian load of 1, 2, 4 or 8 bytes at any address (misaligned, across pages)."""
        self._check(addr, size, "read")
        return int.from_bytes(self.mem[addr : addr + size], "little", signed=signed)

    def store(self, addr: int, size: int, value: int) -> None:
        """A little-endian store of the low `size` bytes of value; every page is checked before any byte is written."""
        self._check(addr, size, "write")
        self.mem[addr : addr + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
        self._wrote(addr, size)

    def fetch_ok(self, addr: int, n: int) -> bool:
        """Are all n bytes at addr executable? (An execute-only page, PROT_EXEC alone, is fetched from.)"""
        return self._all_pages(addr, n, MAPPED | EXEC)

    # -- snapshots -------------------------------------------------------------------------------------
    def save(self) -> dict:
        """The mapped pages as runs of (address, permissions, zlib'd bytes), and the fields: plain data."""
        runs = []
        page, count = 0, len(self.perm)
        while page < count:
            if not self.perm[page]:
                page += 1
                continue
            end = page
            while end < count and self.perm[end]:
                end += 1
            lo, hi = page << PAGE_SHIFT, end << PAGE_SHIFT
            perms = bytes(p & (MAPPED | PROT_BITS) for p in self.perm[page:end])  # decoded code is not saved
            runs.append({"addr": lo, "perm": perms, "data": zlib.compress(self.mem[lo:hi], 1)})
            page = end
        return {"size": self.size, "limit": self.limit, "runs": runs}

    @classmethod
    def restore(cls, state: dict) -> AddressSpace:
        space = cls(state["size"], state["limit"])
        for run in state["runs"]:
            data, perms, lo = zlib.decompress(run["data"]), run["perm"], run["addr"]
            if len(data) != len(perms) * PAGE or lo % PAGE or lo + len(data) > space.size:
                raise ValueError(f"a saved run at {lo:#x} does not match its permissions or the space")
            space.mem[lo : lo + len(data)] = data
            space.perm[lo >> PAGE_SHIFT : (lo >> PAGE_SHIFT) + len(perms)] = perms
            space.mapped += len(data)
        return space
