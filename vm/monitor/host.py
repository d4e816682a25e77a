"""The monitor's host side: the C host services (native/) for hypercalls and guest I/O.

Every engine goes through one `Host`, so all guest output shares one buffer and reaches the host in
program order, and `in` and READ share one input stream.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

from vm import _hostcalls
from vm.isa import Trap

ffi, lib = _hostcalls.ffi, _hostcalls.lib

HC_DONE, HC_RESULT, HC_EXIT = lib.VM_HC_DONE, lib.VM_HC_RESULT, lib.VM_HC_EXIT
# hypercall number -> the argument registers holding (destination, length) of memory it writes
WRITES_MEMORY = {2: (2, 3), 6: (1, 3), 7: (1, 3)}


def hypercall_address() -> int:
    """The address of the C hypercall entry, for native code that calls it directly."""
    return int(ffi.cast("intptr_t", ffi.addressof(lib, "vm_hypercall")))


@dataclass
class Captured:
    stdout: bytes
    stderr: bytes


class Host:
    """Standard streams for one guest: the process's own, or captured in memory (stdin given)."""

    def __init__(self, stdin: bytes | None = None, capture: bool = False) -> None:
        if capture:
            self._ptr = lib.vm_host_new(-1, -1, -1)
        else:
            sys.stdout.flush()
            sys.stderr.flush()
            self._ptr = lib.vm_host_new(-1 if stdin is not None else 0, 1, 2)
        if self._ptr == ffi.NULL:
            raise MemoryError("cannot allocate the host services")
        if stdin:
            lib.vm_host_feed(self._ptr, stdin, len(stdin))
        self.address = int(ffi.cast("intptr_t", self._ptr))
        self._r0 = ffi.new("int64_t[1]")
        self.r0_address = int(ffi.cast("intptr_t", self._r0))

    def close(self) -> None:
        if self._ptr is not None:
            lib.vm_host_flush(self._ptr)
            lib.vm_host_free(self._ptr)
            self._ptr = None

    def __del__(self) -> None:
        self.close()

    def flush(self) -> None:
        lib.vm_host_flush(self._ptr)

    def input_consumed(self) -> int:
        """Bytes of input the guest has read: where a later run of it (a resumed snapshot) takes up its input."""
        return lib.vm_host_input_consumed(self._ptr)

    def rewind_input(self, consumed: int) -> None:
        """Go back to where the guest had read `consumed` bytes (input given whole, as the debugger's)."""
        if lib.vm_host_rewind_input(self._ptr, consumed) != 0:
            raise ValueError("only input given whole can be read again")

    def flush_lines(self) -> None:
        """Flush standard output at each newline: for a console someone watches live."""
        lib.vm_host_flush_lines(self._ptr, 1)

    def protect(self, lo: int, hi: int) -> None:
        """Refuse hypercall writes into [lo, hi) with UNSUPPORTED (the para engine's translated text)."""
        lib.vm_host_protect(self._ptr, lo, hi)

    def captured(self) -> Captured:
        out = []
        for fd in (1, 2):
            data = ffi.new("uint8_t **")
            n = lib.vm_host_captured(self._ptr, fd, data)
            out.append(bytes(ffi.buffer(data[0], n)) if n else b"")
        return Captured(*out)

    def write(self, fd: int, data: bytes) -> int:
        """Write to the guest's stdout (1) or stderr (2) through the shared buffers: bytes taken, or -1."""
        return lib.vm_host_write(self._ptr, fd, data, len(data))

    def read(self, n: int) -> bytes:
        """Up to n bytes of the guest's input, as one read gives them (b"" at its end)."""
        buf = ffi.new("uint8_t[]", max(n, 1))
        got = lib.vm_host_read(self._ptr, buf, n)
        return bytes(ffi.buffer(buf, got))

    @property
    def hypercalls(self) -> int:
        return lib.vm_host_hypercalls(self._ptr)

    # -- device helpers --------------------------------------------------------------------------
    # Each is the C function with this host bound to it: a device access costs no Python frame here.
    def byte_writer(self) -> Callable[[int], None]:
        return functools.partial(lib.vm_put_byte, self._ptr)

    def int_writer(self) -> Callable[[int], None]:
        return functools.partial(lib.vm_put_int, self._ptr)

    def byte_reader(self) -> Callable[[], int]:
        return functools.partial(lib.vm_get_byte, self._ptr)

    # -- hypercalls ----------------------------------------------------------------------------
    def hypercall(self, n: int, r1: int, r2: int, r3: int, f0: float, mem_address: int, mem_size: int):
        """Run hypercall n. Returns (status, r0): status HC_DONE, HC_RESULT, HC_EXIT or a Trap."""
        status = lib.vm_hypercall(self.address, n, r1, r2, r3, f0, mem_address, mem_size, self.r0_address)
        if status in (HC_DONE, HC_RESULT, HC_EXIT):
            return status, self._r0[0]
        return Trap(status), 0
