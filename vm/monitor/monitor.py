"""The monitor: devices and hypercalls, emulated for whichever engine runs the guest.

Devices are a table of ports; hypercalls go to the C host services. The engines call the monitor;
the monitor never knows which engine called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vm.isa import Trap
from vm.machine import GuestTrap, Halted, Machine
from vm.monitor.host import HC_EXIT, HC_RESULT, WRITES_MEMORY, Host, ffi


@dataclass(frozen=True)
class Device:
    """A port's device: given the monitor, the function that writes a value to it, and the one
    that reads a value from it (None where the port cannot be written, or read); and the same two
    as C expressions for the os engine, which calls the host services directly (`host`, `{value}`,
    and `{retired}`: the instructions retired before this one)."""

    name: str
    writer: Callable[[Monitor], Callable[[int], None]] | None
    reader: Callable[[Monitor], Callable[[], int]] | None
    c_write: str | None = None
    c_read: str | None = None


PORTS: dict[int, Device] = {
    0: Device("console", lambda m: m.host.byte_writer(), lambda m: m.host.byte_reader(),
              "vm_put_byte(host, {value})", "vm_get_byte(host)"),
    1: Device("decimal", lambda m: m.host.int_writer(), None, "vm_put_int(host, {value})"),
    2: Device("counter", None, lambda m: lambda: m.machine.retired, None, "{retired}"),
}


class Monitor:
    """Emulates devices and hypercalls for one machine."""

    def __init__(self, machine: Machine, host: Host) -> None:
        self.machine = machine
        self.host = host
        self._mem_buffer = ffi.from_buffer(machine.mem)
        self.mem_address = int(ffi.cast("intptr_t", self._mem_buffer))
        self.vm_exits = 0  # device accesses (each a VM exit in a native engine)
        self.memory_written: Callable[[int, int], None] | None = None  # told of hypercall writes
        self._writers = {port: d.writer(self) for port, d in PORTS.items() if d.writer is not None}
        self._readers = {port: d.reader(self) for port, d in PORTS.items() if d.reader is not None}

    def port_out(self, port: int, value: int) -> None:
        write = self._writers.get(port)
        if write is None:
            raise GuestTrap(Trap.BADPORT, f"out to port {port}")
        self.vm_exits += 1
        write(value)

    def port_in(self, port: int) -> int:
        read = self._readers.get(port)
        if read is None:
            raise GuestTrap(Trap.BADPORT, f"in from port {port}")
        self.vm_exits += 1
        return read()

    def hypercall(self, n: int) -> None:
        """Hypercall n with the machine's r1, r2, r3 and f0; sets r0 where the call has a result."""
        regs = self.machine.regs
        status, r0 = self.host.hypercall(n, regs[1], regs[2], regs[3], self.machine.fregs[0],
                                         self.mem_address, self.machine.mem_size)
        if isinstance(status, Trap):
            raise GuestTrap(status, f"hypercall {n}")
        if status == HC_EXIT:
            raise Halted(r0)
        if status == HC_RESULT:
            regs[0] = r0
        written = WRITES_MEMORY.get(n)
        if written and self.memory_written:
            self.memory_written(regs[written[0]], regs[written[0]] + regs[written[1]])
