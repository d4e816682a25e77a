"""Linux's system calls for one single-threaded riscv64 process, emulated on its AddressSpace.

The CPU calls `Linux.syscall(x)` at an ecall: number in a7 (x[17]), arguments in a0..a5, result or
-errno back in a0. Numbers are the asm-generic ones riscv64 uses; structures are in riscv64's layout.
Standard streams go through the monitor's Host, so guest output shares the hypercalls' buffer; files
are reachable only under `root`, resolved component by component with no symbolic link followed.
No signal is ever delivered, and there is one thread: the signal calls record what they are given.
"""

from __future__ import annotations

import errno as host_errno
import os
import stat
import struct
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vm.address_space import EXEC, PAGE, READ, WRITE, CStringTooLong, MemoryFault, OutOfMemory, page_up
from vm.isa import Trap
from vm.machine import GuestTrap, Halted
from vm.monitor.host import Host
from vm.monitor.linux_process import GUEST_GID, GUEST_UID, STACK_SIZE, Process, SeededRandom, new_process

__all__ = ["Linux", "Process", "new_process", "NAMES"]

M64 = (1 << 64) - 1

# Linux's errno values (the guest's, whatever the host's are)
EPERM, ENOENT, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT, EEXIST, ENOTDIR, EISDIR, EINVAL = (
    1, 2, 9, 11, 12, 13, 14, 17, 20, 21, 22,
)  # fmt: skip
EMFILE, ENOTTY, ESPIPE, ERANGE, ENAMETOOLONG, ENOSYS, ELOOP, ENODEV, ESRCH = 24, 25, 29, 34, 36, 38, 40, 19, 3
_HOST_ERRNO = {  # a host OSError's errno (by name) -> the guest's number
    "EPERM": EPERM, "ENOENT": ENOENT, "EBADF": EBADF, "EACCES": EACCES, "EEXIST": EEXIST, "ENOTDIR": ENOTDIR,
    "EISDIR": EISDIR, "EINVAL": EINVAL, "ENAMETOOLONG": ENAMETOOLONG, "ELOOP": ELOOP, "ENOSPC": 28,
    "EROFS": 30, "EFBIG": 27, "ENOTEMPTY": 39, "EMFILE": EMFILE, "ENXIO": 6,
}  # fmt: skip

# asm-generic system call numbers (include/uapi/asm-generic/unistd.h): those emulated and those worth naming
NAMES = {
    17: "getcwd", 23: "dup", 24: "dup3", 25: "fcntl", 29: "ioctl", 48: "faccessat", 49: "chdir", 56: "openat",
    57: "close", 61: "getdents64", 62: "lseek", 63: "read", 64: "write", 65: "readv", 66: "writev",
    67: "pread64", 68: "pwrite64", 72: "pselect6", 73: "ppoll", 78: "readlinkat", 79: "newfstatat", 80: "fstat",
    93: "exit", 94: "exit_group", 96: "set_tid_address", 98: "futex", 99: "set_robust_list", 101: "nanosleep",
    113: "clock_gettime", 114: "clock_getres", 115: "clock_nanosleep", 124: "sched_yield", 129: "kill",
    130: "tkill", 131: "tgkill", 132: "sigaltstack", 134: "rt_sigaction", 135: "rt_sigprocmask",
    148: "getresuid", 150: "getresgid", 160: "uname", 163: "getrlimit", 166: "umask", 167: "prctl",
    169: "gettimeofday", 172: "getpid", 173: "getppid", 174: "getuid", 175: "geteuid", 176: "getgid",
    177: "getegid", 178: "gettid", 179: "sysinfo", 214: "brk", 215: "munmap", 216: "mremap", 220: "clone",
    221: "execve", 222: "mmap", 226: "mprotect", 233: "madvise", 260: "wait4", 261: "prlimit64",
    278: "getrandom", 291: "statx", 293: "rseq", 435: "clone3", 439: "faccessat2",
}  # fmt: skip

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_SYMLINK_NOFOLLOW = 0x100
PATH_MAX = 4096
MAX_FDS = 1024
MAX_IO = 1 << 24  # bytes one read or write moves at most (Linux's limit is 2 GiB): a short count is legal
MAX_SLEEP = 1 << 31  # seconds: longer is forever for a run (and past what time.sleep takes)
GUEST_PID = 100  # one process, the same number on every run
O_ACCMODE, O_WRONLY, O_RDWR = 3, 1, 2
O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECTORY = 0o100, 0o200, 0o1000, 0o2000, 0o200000
PROT_MASK = READ | WRITE | EXEC
PROT_SEM = 0x8  # accepted and meaningless, as on Linux
USER_TOP = 1 << 38  # riscv64 Linux's user address space (TASK_SIZE with Sv39): a range past it is EINVAL
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_FIXED_NOREPLACE = 0x1, 0x2, 0x10, 0x20, 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
FUTEX_WAIT, FUTEX_WAKE, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 0, 1, 9, 10
TCGETS, TIOCGWINSZ = 0x5401, 0x5413
RLIM_INFINITY = M64
RLIMIT_DATA, RLIMIT_STACK, RLIMIT_NOFILE, RLIMIT_AS = 2, 3, 7, 9
SIGKILL, SIGSTOP, NSIG = 9, 19, 64
SIG_DFL, SIG_IGN = 0, 1
IGNORED_BY_DEFAULT = {17, 18, 23, 28}  # SIGCHLD, SIGCONT, SIGURG, SIGWINCH
SS_DISABLE = 2
MADV_DONTNEED = 4

STAT = struct.Struct("<QQIIIIQQqiiqqQqQqQII")  # asm-generic struct stat: 128 bytes
TIMESPEC = struct.Struct("<qq")
SYSINFO = struct.Struct("<q3Q6QHH4xQQI4x")  # struct sysinfo: 112 bytes on a 64-bit machine
DIRENT = struct.Struct("<QqHB")  # struct linux_dirent64 before its name: inode, next offset, length, type
DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 1, 2, 4, 6, 8, 10, 12
IOVEC = struct.Struct("<QQ")
SIGACTION = struct.Struct("<QQQ")  # riscv64's kernel struct sigaction: handler, flags, mask (no restorer)
STACK_T = struct.Struct("<QiiQ")  # ss_sp, ss_flags, padding, ss_size
TERMIOS = struct.Struct("<IIIIB19B")  # the kernel's struct termios for TCGETS: 36 bytes
UTSNAME_FIELD = 65
UNAME = (b"Linux", b"vm", b"6.1.0", b"#1 SMP PREEMPT", b"riscv64", b"(none)")


def s64(x: int) -> int:
    x &= M64
    return x - (1 << 64) if x >> 63 else x


def s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >> 31 else x


class SyscallError(Exception):
    """A system call fails with this errno (returned to the guest as -errno)."""

    def __init__(self, errno: int) -> None:
        super().__init__(errno)
        self.errno = errno


def _host_errno(e: OSError) -> int:
    return _HOST_ERRNO.get(host_errno.errorcode.get(e.errno or 0, ""), 5)  # anything else: EIO


def _dirent_type(entry: os.DirEntry) -> int:
    mode = entry.stat(follow_symlinks=False).st_mode
    for test, kind in (
        (stat.S_ISREG, DT_REG), (stat.S_ISDIR, DT_DIR), (stat.S_ISLNK, DT_LNK), (stat.S_ISFIFO, DT_FIFO),
        (stat.S_ISCHR, DT_CHR), (stat.S_ISBLK, DT_BLK), (stat.S_ISSOCK, DT_SOCK),
    ):  # fmt: skip
        if test(mode):
            return kind
    return 0


@dataclass
class OpenFile:
    """An open guest file: its path under root (components), how it was opened, and where it is."""

    parts: list[str]
    flags: int
    offset: int = 0
    is_dir: bool = False


class Linux:
    """The system calls of one process; the state is plain data (`save`, `restore`)."""

    def __init__(
        self, process: Process, host: Host, *, root: Path | None = None, strict: bool = False, terminal: bool = False,
        random: SeededRandom | None = None, exe: str | None = None,
    ) -> None:
        self.process = process
        # /proc/self/exe: the program's absolute path where it was started (a caged run's child is elsewhere)
        self.exe = exe or os.path.abspath(process.program.path)
        self.random = random  # getrandom's bytes: the host's, or from this seeded stream
        self.space = process.space
        self.host = host
        self.root = Path(root) if root is not None else None
        self.strict = strict
        self.terminal = terminal  # report fds 0..2 as a terminal (TCGETS succeeds, stdout line-buffers)
        self.brk = process.brk_start
        self.cwd: list[str] = []
        self.files: dict[int, OpenFile | int] = {0: 0, 1: 1, 2: 2}  # an int is a standard stream
        self._host_fds: dict[int, int] = {}
        self.refused: dict[str, int] = {}
        self.sigactions: dict[int, list[int]] = {}
        self.sigmask = 0
        self.altstack = [0, SS_DISABLE, 0]
        self.umask = 0o022
        self.rlimits = {
            RLIMIT_STACK: [STACK_SIZE, RLIM_INFINITY],
            RLIMIT_NOFILE: [MAX_FDS, MAX_FDS],
            RLIMIT_DATA: [self.space.limit, self.space.limit],
            RLIMIT_AS: [self.space.limit, self.space.limit],
        }
        self._handlers = {n: getattr(self, "sys_" + name) for n, name in NAMES.items() if hasattr(self, "sys_" + name)}

    # -- dispatch -------------------------------------------------------------------------------------
    def syscall(self, x: list[int]) -> None:
        number = x[17]
        handler = self._handlers.get(number)
        if handler is None:
            name = NAMES.get(number, f"syscall {number}")
            if self.strict:
                what = NAMES.get(number, "unknown")
                raise GuestTrap(Trap.UNSUPPORTED, f"system call {number} ({what}) is not emulated")
            self.refused[name] = self.refused.get(name, 0) + 1
            x[10] = -ENOSYS
            return
        try:
            result = handler(*x[10:16])
        except SyscallError as e:
            result = -e.errno
        except MemoryFault:
            result = -EFAULT
        except OSError as e:  # the host refused an operation on an open file
            result = -_host_errno(e)
        x[10] = s64(result)

    # -- guest memory ----------------------------------------------------------------------------------
    def _peek(self, addr: int, n: int) -> bytes:
        return self.space.read(addr & M64, n)

    def _poke(self, addr: int, data: bytes) -> None:
        self.space.write(addr & M64, data)

    def _writable(self, addr: int, n: int) -> None:
        """Fail with EFAULT before doing anything irreversible (consuming input) for a bad buffer."""
        if n and not self.space.is_mapped(addr & M64, n, WRITE):
            raise SyscallError(EFAULT)

    def _string(self, addr: int) -> bytes:
        try:
            return self.space.read_cstring(addr & M64, PATH_MAX)
        except CStringTooLong:
            raise SyscallError(ENAMETOOLONG) from None

    # -- files under root ------------------------------------------------------------------------------
    def _file(self, fd: int) -> OpenFile | int:
        entry = self.files.get(s32(fd))
        if entry is None:
            raise SyscallError(EBADF)
        return entry

    def _parts(self, dirfd: int, path: bytes) -> list[str]:
        """The guest path's components from root, `..` applied lexically (never above root)."""
        if not path:
            raise SyscallError(ENOENT)
        if path.startswith(b"/"):
            start: list[str] = []
        elif s32(dirfd) == AT_FDCWD:
            start = list(self.cwd)
        else:
            entry = self._file(dirfd)
            if not isinstance(entry, OpenFile) or not entry.is_dir:
                raise SyscallError(ENOTDIR)
            start = list(entry.parts)
        parts = start
        for name in os.fsdecode(path).split("/"):
            if name in ("", "."):
                continue
            if name == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(name)
        return parts

    def _parent_fd(self, parts: list[str]) -> int:
        """An O_PATH descriptor of the directory holding parts[-1] (root itself for []): no link followed."""
        if self.root is None:
            raise SyscallError(ENOENT)
        try:
            fd = os.open(self.root, os.O_PATH | os.O_DIRECTORY)
        except OSError as e:
            raise SyscallError(_host_errno(e)) from None
        try:
            for name in parts[:-1]:
                next_fd = os.open(name, os.O_PATH | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = next_fd
                mode = os.fstat(fd).st_mode  # the object itself: O_PATH | O_NOFOLLOW opens a link, not its target
                if not stat.S_ISDIR(mode):
                    raise SyscallError(ELOOP if stat.S_ISLNK(mode) else ENOTDIR)
        except OSError as e:
            os.close(fd)
            raise SyscallError(_host_errno(e)) from None
        except SyscallError:
            os.close(fd)
            raise
        return fd

    def _open_host(self, parts: list[str], flags: int, mode: int = 0o666) -> int:
        """Open parts under root with the host's flags for the guest's; a symbolic link is ELOOP."""
        host_flags = {0: os.O_RDONLY, O_WRONLY: os.O_WRONLY, O_RDWR: os.O_RDWR}.get(flags & O_ACCMODE, os.O_RDONLY)
        for bit, host_bit in ((O_CREAT, os.O_CREAT), (O_EXCL, os.O_EXCL), (O_TRUNC, os.O_TRUNC)):
            if flags & bit:
                host_flags |= host_bit
        if flags & O_DIRECTORY:
            host_flags |= os.O_DIRECTORY
        parent = self._parent_fd(parts)
        try:
            name = parts[-1] if parts else "."
            # O_NONBLOCK: opening a FIFO under root must not wait for a writer that never comes (one thread)
            host_flags |= os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            return os.open(name, host_flags, mode & ~self.umask & 0o777, dir_fd=parent)
        except OSError as e:
            raise SyscallError(_host_errno(e)) from None
        finally:
            os.close(parent)

    def _lstat_parts(self, parts: list[str]) -> os.stat_result:
        parent = self._parent_fd(parts)
        try:
            return os.stat(parts[-1] if parts else ".", dir_fd=parent, follow_symlinks=False)
        except OSError as e:
            raise SyscallError(_host_errno(e)) from None
        finally:
            os.close(parent)

    def _new_fd(self) -> int:
        for fd in range(MAX_FDS):
            if fd not in self.files:
                return fd
        raise SyscallError(EMFILE)

    def sys_openat(self, dirfd: int, path: int, flags: int, mode: int, *_: int) -> int:
        parts = self._parts(dirfd, self._string(path))
        flags = s32(flags)
        fd = self._new_fd()
        host_fd = self._open_host(parts, flags, mode)
        is_dir = stat.S_ISDIR(os.fstat(host_fd).st_mode)
        self.files[fd] = OpenFile(parts, flags, 0, is_dir)
        self._host_fds[fd] = host_fd
        return fd

    def sys_close(self, fd: int, *_: int) -> int:
        self._file(fd)
        del self.files[s32(fd)]
        host_fd = self._host_fds.pop(s32(fd), None)
        if host_fd is not None:
            os.close(host_fd)
        return 0

    # -- reading and writing -----------------------------------------------------------------------------
    def _read_into(self, fd: int, addr: int, n: int, offset: int | None = None) -> int:
        entry = self._file(fd)
        self._writable(addr, n)
        if isinstance(entry, int):
            if entry != 0 or offset is not None:
                raise SyscallError(EBADF if entry != 0 else ESPIPE)
            data = self.host.read(n)
        else:
            if entry.flags & O_ACCMODE == O_WRONLY:
                raise SyscallError(EBADF)
            if entry.is_dir:
                raise SyscallError(EISDIR)
            try:
                data = os.pread(self._host_fds[s32(fd)], n, entry.offset if offset is None else offset)
            except OSError as e:
                raise SyscallError(_host_errno(e)) from None
            if offset is None:
                entry.offset += len(data)
        self._poke(addr, data)
        return len(data)

    def _write_from(self, fd: int, addr: int, n: int, offset: int | None = None) -> int:
        entry = self._file(fd)
        data = self._peek(addr, n)
        if isinstance(entry, int):
            if entry == 0 or offset is not None:
                raise SyscallError(EBADF if entry == 0 else ESPIPE)
            return self.host.write(entry, data)
        if entry.flags & O_ACCMODE == 0:
            raise SyscallError(EBADF)
        host_fd = self._host_fds[s32(fd)]
        at = offset if offset is not None else os.fstat(host_fd).st_size if entry.flags & O_APPEND else entry.offset
        try:
            wrote = os.pwrite(host_fd, data, at)
        except OSError as e:
            raise SyscallError(_host_errno(e)) from None
        if offset is None:
            entry.offset = at + wrote
        return wrote

    def _iovecs(self, addr: int, count: int) -> list[tuple[int, int]]:
        if not 0 <= s32(count) <= 1024:
            raise SyscallError(EINVAL)
        raw = self._peek(addr, IOVEC.size * count) if count else b""
        return [IOVEC.unpack_from(raw, i * IOVEC.size) for i in range(count)]

    def sys_read(self, fd: int, addr: int, n: int, *_: int) -> int:
        return self._read_into(fd, addr, min(n & M64, MAX_IO))

    def sys_write(self, fd: int, addr: int, n: int, *_: int) -> int:
        return self._write_from(fd, addr, min(n & M64, MAX_IO))

    def sys_pread64(self, fd: int, addr: int, n: int, offset: int, *_: int) -> int:
        if offset < 0:
            raise SyscallError(EINVAL)
        return self._read_into(fd, addr, min(n & M64, MAX_IO), offset)

    def sys_pwrite64(self, fd: int, addr: int, n: int, offset: int, *_: int) -> int:
        if offset < 0:
            raise SyscallError(EINVAL)
        return self._write_from(fd, addr, min(n & M64, MAX_IO), offset)

    def sys_readv(self, fd: int, iov: int, count: int, *_: int) -> int:
        total = 0
        for base, length in self._iovecs(iov, count):
            try:
                got = self._read_into(fd, base, min(length, MAX_IO))
            except (SyscallError, MemoryFault):
                if total:
                    return total  # what was read stays read: Linux returns the partial count
                raise
            total += got
            if got < length:
                break
        return total

    def sys_writev(self, fd: int, iov: int, count: int, *_: int) -> int:
        total = 0
        for base, length in self._iovecs(iov, count):
            try:
                total += self._write_from(fd, base, min(length, MAX_IO))
            except (SyscallError, MemoryFault):
                if total:
                    return total  # what was written stays written: Linux returns the partial count
                raise
        return total

    def sys_lseek(self, fd: int, offset: int, whence: int, *_: int) -> int:
        entry = self._file(fd)
        if isinstance(entry, int):
            raise SyscallError(ESPIPE)
        start = {0: 0, 1: entry.offset, 2: None}.get(s32(whence), -1)
        if start is None:
            start = os.fstat(self._host_fds[s32(fd)]).st_size
        if start < 0 or start + offset < 0:
            raise SyscallError(EINVAL)
        entry.offset = start + offset
        return entry.offset

    def sys_getdents64(self, fd: int, addr: int, size: int, *_: int) -> int:
        """Directory entries from the file's offset (an index into ".", ".." and the names, sorted, so that
        every run lists a directory in the same order), as many whole records as fit in size bytes."""
        entry = self._file(fd)
        if isinstance(entry, int) or not entry.is_dir:
            raise SyscallError(ENOTDIR)
        host_fd = self._host_fds[s32(fd)]
        here = os.fstat(host_fd)
        with os.scandir(host_fd) as listing:
            names = [(".", here.st_ino, DT_DIR), ("..", here.st_ino, DT_DIR)]
            names += sorted((e.name, e.inode(), _dirent_type(e)) for e in listing)
        out, index = bytearray(), entry.offset
        while index < len(names):
            name, inode, kind = names[index]
            encoded = os.fsencode(name) + b"\0"
            length = (DIRENT.size + len(encoded) + 7) & -8
            if len(out) + length > size & M64:
                break
            index += 1
            out += DIRENT.pack(inode, index, length, kind) + encoded.ljust(length - DIRENT.size, b"\0")
        if index < len(names) and not out:
            raise SyscallError(EINVAL)  # the buffer cannot hold the next entry
        self._poke(addr, bytes(out))
        entry.offset = index
        return len(out)

    # -- file status -------------------------------------------------------------------------------------
    def _stat_bytes(self, st: os.stat_result) -> bytes:
        """A host file's status for the guest: files under root belong to the guest's own user."""
        return STAT.pack(
            st.st_dev & M64, st.st_ino & M64, st.st_mode, st.st_nlink & 0xFFFFFFFF, GUEST_UID, GUEST_GID,
            st.st_rdev & M64, 0, st.st_size, st.st_blksize, 0, st.st_blocks,
            *divmod(st.st_atime_ns, 10**9), *divmod(st.st_mtime_ns, 10**9), *divmod(st.st_ctime_ns, 10**9), 0, 0,
        )  # fmt: skip

    def _stream_stat(self) -> bytes:
        """fds 0..2: a terminal (a character device) or a pipe, as `terminal` says; glibc buffers by it."""
        mode = (stat.S_IFCHR | 0o620) if self.terminal else (stat.S_IFIFO | 0o600)
        return STAT.pack(0, 0, mode, 1, GUEST_UID, GUEST_GID, 0, 0, 0, PAGE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    def _fd_stat(self, fd: int) -> bytes:
        entry = self._file(fd)
        if isinstance(entry, int):
            return self._stream_stat()
        return self._stat_bytes(os.fstat(self._host_fds[s32(fd)]))

    def sys_fstat(self, fd: int, buf: int, *_: int) -> int:
        self._poke(buf, self._fd_stat(fd))
        return 0

    def sys_newfstatat(self, dirfd: int, path: int, buf: int, flags: int, *_: int) -> int:
        name = self._string(path)
        if not name and flags & AT_EMPTY_PATH:
            data = self._fd_stat(dirfd)
        else:
            parts = self._parts(dirfd, name)
            st = self._lstat_parts(parts)
            if stat.S_ISLNK(st.st_mode) and not flags & AT_SYMLINK_NOFOLLOW:
                raise SyscallError(ELOOP)  # a link's target may lie outside root: never followed
            data = self._stat_bytes(st)
        self._poke(buf, data)
        return 0

    def sys_faccessat(self, dirfd: int, path: int, mode: int, *_: int) -> int:
        return self.sys_faccessat2(dirfd, path, mode, 0)

    def sys_faccessat2(self, dirfd: int, path: int, mode: int, flags: int, *_: int) -> int:
        parts = self._parts(dirfd, self._string(path))
        parent = self._parent_fd(parts)
        try:
            name = parts[-1] if parts else "."
            if stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
                raise SyscallError(ELOOP)
            if s32(mode) & ~7:
                raise SyscallError(EINVAL)
            return 0 if os.access(name, s32(mode), dir_fd=parent, follow_symlinks=False) else -EACCES
        except OSError as e:
            raise SyscallError(_host_errno(e)) from None
        finally:
            os.close(parent)

    def sys_readlinkat(self, dirfd: int, path: int, buf: int, size: int, *_: int) -> int:
        name = self._string(path)
        if s32(size) <= 0:
            raise SyscallError(EINVAL)
        if name == b"/proc/self/exe":  # absolute, as the kernel's: glibc's static start asserts it
            target = os.fsencode(self.exe)
        else:
            parts = self._parts(dirfd, name)
            parent = self._parent_fd(parts)
            try:
                target = os.fsencode(os.readlink(parts[-1] if parts else ".", dir_fd=parent))
            except OSError as e:
                raise SyscallError(_host_errno(e)) from None
            finally:
                os.close(parent)
        target = target[: s32(size)]
        self._poke(buf, target)
        return len(target)

    def sys_getcwd(self, buf: int, size: int, *_: int) -> int:
        path = ("/" + "/".join(self.cwd)).encode() + b"\0"
        if len(path) > size & M64:
            raise SyscallError(ERANGE)
        self._poke(buf, path)
        return len(path)

    def sys_ioctl(self, fd: int, request: int, arg: int, *_: int) -> int:
        entry = self._file(fd)
        request &= 0xFFFFFFFF
        if not (isinstance(entry, int) and self.terminal) or request not in (TCGETS, TIOCGWINSZ):
            raise SyscallError(ENOTTY)
        if request == TCGETS:  # a cooked terminal: ICRNL, OPOST|ONLCR, B38400|CS8|CREAD, ISIG|ICANON|ECHO...
            self._poke(arg, TERMIOS.pack(0o400, 0o5, 0o277, 0o105073, 0, *bytes(19)))
        else:
            self._poke(arg, struct.pack("<HHHH", 24, 80, 0, 0))
        return 0

    def sys_fcntl(self, fd: int, cmd: int, arg: int, *_: int) -> int:
        entry = self._file(fd)
        cmd = s32(cmd)
        if cmd in (1, 2):  # F_GETFD, F_SETFD: close-on-exec means nothing without exec
            return 0
        if cmd == 3:  # F_GETFL
            return entry.flags if isinstance(entry, OpenFile) else (0 if entry == 0 else O_WRONLY)
        raise SyscallError(EINVAL)

    def sys_umask(self, mask: int, *_: int) -> int:
        old, self.umask = self.umask, mask & 0o777
        return old

    # -- memory ------------------------------------------------------------------------------------------
    def sys_brk(self, addr: int, *_: int) -> int:
        """Move the heap's end; a brk that cannot be had leaves it where it was (and returns that)."""
        addr &= M64
        old_top, new_top = page_up(self.brk), page_up(addr)
        if addr < self.process.brk_start or new_top > self.process.stack_low:
            return self.brk
        try:
            if new_top > old_top:
                if not self.space.is_unmapped(old_top, new_top - old_top):
                    return self.brk
                self.space.map(old_top, new_top - old_top, READ | WRITE)
            elif new_top < old_top:
                self.space.unmap(new_top, old_top - new_top)
        except OutOfMemory:
            return self.brk
        self.brk = addr
        return addr

    @staticmethod
    def _prot(prot: int) -> int:
        """A mapping's page bits; bits Linux does not know are EINVAL, as its arch_validate_prot says."""
        if prot & ~(PROT_MASK | PROT_SEM):
            raise SyscallError(EINVAL)
        prot &= PROT_MASK
        return prot | READ if prot & WRITE else prot  # RISC-V pages cannot be write-only

    def _range(self, addr: int, length: int) -> int:
        """The end of [addr, addr + length) rounded to pages; EINVAL if it leaves the user address space."""
        end = addr + page_up(length)
        if end > USER_TOP or end < addr:
            raise SyscallError(EINVAL)
        return end

    def sys_mmap(self, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
        addr, length, flags = addr & M64, length & M64, s32(flags)
        if not length or offset % PAGE or offset < 0 or flags & (MAP_SHARED | MAP_PRIVATE) in (0, 3):
            raise SyscallError(EINVAL)
        self._range(addr, length)
        page_bits = self._prot(prot)
        host_fd = None
        if not flags & MAP_ANONYMOUS:
            entry = self._file(fd)
            if isinstance(entry, int) or entry.is_dir:
                raise SyscallError(ENODEV)
            if flags & MAP_SHARED and prot & WRITE:
                raise SyscallError(ENODEV)  # a copy cannot write back to the file
            host_fd = self._host_fds[s32(fd)]
        size = page_up(length)
        if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE):
            if addr % PAGE:
                raise SyscallError(EINVAL)
            if flags & MAP_FIXED_NOREPLACE and not self.space.is_unmapped(addr, size):
                raise SyscallError(EEXIST)
            where = addr
        elif addr and addr % PAGE == 0 and addr >= self.process.brk_start and self.space.is_unmapped(addr, size):
            where = addr  # the hint is free
        else:
            where = self._free_range(size)
        try:
            self.space.map(where, size, page_bits)
        except OutOfMemory:
            raise SyscallError(ENOMEM) from None
        if host_fd is not None:  # a private file mapping is a copy of the file's bytes (zeros past its end)
            try:
                self.space.poke(where, os.pread(host_fd, length, offset))
            except OSError as e:
                self.space.unmap(where, size)
                raise SyscallError(_host_errno(e)) from None
        return where

    def _free_range(self, size: int) -> int:
        """Where mmap puts a mapping it may place: top-down below the stack, above the program."""
        try:
            return self.space.find_free(size, self.process.stack_low, self.process.brk_start)
        except OutOfMemory:
            raise SyscallError(ENOMEM) from None

    def sys_munmap(self, addr: int, length: int, *_: int) -> int:
        addr, length = addr & M64, length & M64
        if addr % PAGE or not length:
            raise SyscallError(EINVAL)
        end = min(self._range(addr, length), self.space.size)
        if addr < end:
            self.space.unmap(addr, end - addr)
        return 0

    def sys_mprotect(self, addr: int, length: int, prot: int, *_: int) -> int:
        addr, length = addr & M64, length & M64
        if addr % PAGE:
            raise SyscallError(EINVAL)
        self._range(addr, length)
        page_bits = self._prot(prot)
        if not length:
            return 0
        if not self.space.is_mapped(addr, length, 0):
            raise SyscallError(ENOMEM)
        self.space.protect(addr, page_up(length), page_bits)
        return 0

    def sys_madvise(self, addr: int, length: int, advice: int, *_: int) -> int:
        addr, length = addr & M64, length & M64
        if addr % PAGE:
            raise SyscallError(EINVAL)
        self._range(addr, length)
        if length and not self.space.is_mapped(addr, length, 0):
            raise SyscallError(ENOMEM)
        if length and s32(advice) == MADV_DONTNEED:  # private anonymous memory reads as zeros afterwards
            self.space.discard(addr, page_up(length))
        return 0

    def sys_mremap(self, old: int, old_length: int, new_length: int, flags: int, new_addr: int, *_: int) -> int:
        """Resize a mapping in place, or (MREMAP_MAYMOVE) move its pages and permissions elsewhere."""
        old, old_size, new_size, flags = old & M64, page_up(old_length & M64), page_up(new_length & M64), s32(flags)
        if old % PAGE or not new_size or flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED):
            raise SyscallError(EINVAL)
        self._range(old, old_length & M64)
        self._range(old, new_length & M64)
        if flags & MREMAP_FIXED and (not flags & MREMAP_MAYMOVE or new_addr % PAGE):
            raise SyscallError(EINVAL)
        if not old_size or not self.space.is_mapped(old, old_size, 0):
            raise SyscallError(EFAULT)
        space = self.space
        if not flags & MREMAP_FIXED:
            if new_size <= old_size:
                if new_size < old_size:
                    space.unmap(old + new_size, old_size - new_size)
                return old
            grow = new_size - old_size
            if old + new_size <= self.process.stack_low and space.is_unmapped(old + old_size, grow):
                try:
                    space.map(old + old_size, grow, space.perm[(old + old_size >> 12) - 1] & PROT_MASK)
                    return old
                except OutOfMemory:
                    raise SyscallError(ENOMEM) from None
            if not flags & MREMAP_MAYMOVE:
                raise SyscallError(ENOMEM)
        data = space.mem[old : old + old_size]
        perms = [space.perm[p] & PROT_MASK for p in range(old >> 12, old + old_size >> 12)]
        try:
            # chosen while the old pages are still mapped, so that the new ones do not overlap them (as Linux)
            where = new_addr & M64 if flags & MREMAP_FIXED else self._free_range(new_size)
        except OutOfMemory:
            raise SyscallError(ENOMEM) from None
        if where < old + old_size and old < where + new_size:
            raise SyscallError(EINVAL)
        space.unmap(old, old_size)
        try:
            space.map(where, new_size, perms[-1])
        except OutOfMemory:
            space.map(old, old_size, perms[-1])  # put the old mapping back as it was
            self._fill_pages(old, data, perms)
            raise SyscallError(ENOMEM) from None
        keep = min(old_size, new_size)
        self._fill_pages(where, data[:keep], perms[: keep // PAGE])
        return where

    def _fill_pages(self, addr: int, data: bytes, perms: list[int]) -> None:
        """Write data at addr and give its pages perms, one protect per run of equal permissions."""
        self.space.poke(addr, data)
        start = 0
        for i in range(1, len(perms) + 1):
            if i == len(perms) or perms[i] != perms[start]:
                self.space.protect(addr + start * PAGE, (i - start) * PAGE, perms[start])
                start = i

    # -- process, time, identity -------------------------------------------------------------------------
    def sys_exit(self, status: int, *_: int) -> int:
        self.host.flush()
        raise Halted(status & 0xFF)

    sys_exit_group = sys_exit

    def sys_set_tid_address(self, *_: int) -> int:
        return GUEST_PID

    def sys_set_robust_list(self, *_: int) -> int:
        return 0

    def sys_rseq(self, *_: int) -> int:
        return -ENOSYS  # as a kernel built without restartable sequences: glibc goes on without them

    def sys_getpid(self, *_: int) -> int:
        return GUEST_PID

    sys_gettid = sys_getpid

    def sys_getppid(self, *_: int) -> int:
        return 1

    def sys_getuid(self, *_: int) -> int:
        return GUEST_UID

    sys_geteuid = sys_getuid

    def sys_getgid(self, *_: int) -> int:
        return GUEST_GID

    sys_getegid = sys_getgid

    def sys_getresuid(self, ruid: int, euid: int, suid: int, *_: int) -> int:
        for addr in (ruid, euid, suid):
            self._poke(addr, struct.pack("<I", GUEST_UID))
        return 0

    sys_getresgid = sys_getresuid  # the same ids

    def sys_uname(self, buf: int, *_: int) -> int:
        self._poke(buf, b"".join(field.ljust(UTSNAME_FIELD, b"\0") for field in UNAME))
        return 0

    def sys_prlimit64(self, pid: int, resource: int, new: int, old: int, *_: int) -> int:
        if s32(pid) not in (0, GUEST_PID):
            raise SyscallError(ESRCH)
        resource = s32(resource)
        if not 0 <= resource < 16:
            raise SyscallError(EINVAL)
        current = self.rlimits.get(resource, [RLIM_INFINITY, RLIM_INFINITY])
        if old & M64:
            self._poke(old, struct.pack("<QQ", *current))
        if new & M64:
            soft, hard = struct.unpack("<QQ", self._peek(new, 16))
            if soft > hard:
                raise SyscallError(EINVAL)
            self.rlimits[resource] = [soft, hard]
        return 0

    def sys_getrlimit(self, resource: int, old: int, *_: int) -> int:
        return self.sys_prlimit64(0, resource, 0, old)

    def sys_clock_gettime(self, clock: int, tp: int, *_: int) -> int:
        clock = s32(clock)
        if not 0 <= clock <= 7:
            raise SyscallError(EINVAL)
        ns = time.clock_gettime_ns(clock)
        self._poke(tp, TIMESPEC.pack(ns // 10**9, ns % 10**9))
        return 0

    def sys_clock_getres(self, clock: int, tp: int, *_: int) -> int:
        if not 0 <= s32(clock) <= 7:
            raise SyscallError(EINVAL)
        if tp & M64:
            self._poke(tp, TIMESPEC.pack(0, 1))
        return 0

    def sys_gettimeofday(self, tv: int, tz: int, *_: int) -> int:
        ns = time.time_ns()
        if tv & M64:
            self._poke(tv, TIMESPEC.pack(ns // 10**9, ns % 10**9 // 1000))
        if tz & M64:
            self._poke(tz, bytes(8))
        return 0

    def sys_nanosleep(self, req: int, rem: int, *_: int) -> int:
        seconds, nanos = TIMESPEC.unpack(self._peek(req, TIMESPEC.size))
        if seconds < 0 or not 0 <= nanos < 10**9:
            raise SyscallError(EINVAL)
        time.sleep(min(seconds + nanos / 1e9, MAX_SLEEP))
        return 0

    def sys_clock_nanosleep(self, clock: int, flags: int, req: int, rem: int, *_: int) -> int:
        if s32(flags) & 1:  # TIMER_ABSTIME: until that time on that clock
            seconds, nanos = TIMESPEC.unpack(self._peek(req, TIMESPEC.size))
            time.sleep(min(max(0.0, seconds + nanos / 1e9 - time.clock_gettime(s32(clock))), MAX_SLEEP))
            return 0
        return self.sys_nanosleep(req, rem)

    def sys_sysinfo(self, info: int, *_: int) -> int:
        """The memory limit as the machine's RAM (glibc's qsort sizes its buffer by it), one process, no swap."""
        limit, uptime = self.space.limit, int(time.clock_gettime(time.CLOCK_MONOTONIC))
        self._poke(info, SYSINFO.pack(uptime, 0, 0, 0, limit, limit - self.space.mapped, 0, 0, 0, 0, 1, 0, 0, 0, 1))
        return 0

    def sys_sched_yield(self, *_: int) -> int:
        return 0

    def sys_getrandom(self, buf: int, length: int, flags: int, *_: int) -> int:
        length = min(length & M64, (1 << 25) - 1)  # Linux returns at most 32 MiB - 1 at once
        self._writable(buf, length)
        self._poke(buf, self.random.take(length) if self.random is not None else os.urandom(length))
        return length

    def sys_futex(self, uaddr: int, op: int, val: int, timeout: int, *_: int) -> int:
        """One thread: a wait on a changed word is EAGAIN; on an unchanged one nobody could ever wake it."""
        command = s32(op) & 0x7F  # without FUTEX_PRIVATE_FLAG and FUTEX_CLOCK_REALTIME
        if command in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
            return 0
        if command not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
            raise SyscallError(ENOSYS)
        if struct.unpack("<I", self._peek(uaddr, 4))[0] != val & 0xFFFFFFFF:
            raise SyscallError(EAGAIN)
        if timeout & M64:
            return -110  # ETIMEDOUT: the timeout passes with no other thread to wake it
        raise GuestTrap(Trap.UNSUPPORTED, f"futex wait at {uaddr & M64:#x} would block forever: there is one thread")

    # -- signals: recorded, never delivered -------------------------------------------------------------------
    def sys_rt_sigaction(self, sig: int, act: int, oact: int, sigsetsize: int, *_: int) -> int:
        sig = s32(sig)
        if sigsetsize & M64 != 8 or not 1 <= sig <= NSIG or (act & M64 and sig in (SIGKILL, SIGSTOP)):
            raise SyscallError(EINVAL)
        new = list(SIGACTION.unpack(self._peek(act, SIGACTION.size))) if act & M64 else None
        if oact & M64:
            self._poke(oact, SIGACTION.pack(*self.sigactions.get(sig, [0, 0, 0])))
        if new is not None:
            self.sigactions[sig] = new
        return 0

    def sys_rt_sigprocmask(self, how: int, new: int, old: int, sigsetsize: int, *_: int) -> int:
        if sigsetsize & M64 != 8:
            raise SyscallError(EINVAL)
        mask = struct.unpack("<Q", self._peek(new, 8))[0] if new & M64 else None
        if mask is not None and s32(how) not in (0, 1, 2):
            raise SyscallError(EINVAL)
        if old & M64:
            self._poke(old, struct.pack("<Q", self.sigmask))
        if mask is not None:
            unblockable = (1 << SIGKILL - 1) | (1 << SIGSTOP - 1)
            self.sigmask = [self.sigmask | mask, self.sigmask & ~mask, mask][s32(how)] & ~unblockable
        return 0

    def sys_kill(self, pid: int, sig: int, *_: int) -> int:
        return self._signal_self(sig) if s32(pid) in (0, GUEST_PID) else -ESRCH

    def sys_tkill(self, tid: int, sig: int, *_: int) -> int:
        return self._signal_self(sig) if s32(tid) == GUEST_PID else -ESRCH

    def sys_tgkill(self, pid: int, tid: int, sig: int, *_: int) -> int:
        return self._signal_self(sig) if (s32(pid), s32(tid)) == (GUEST_PID, GUEST_PID) else -ESRCH

    def _signal_self(self, sig: int) -> int:
        """A signal the process sends itself (abort's SIGABRT): ignored ones are nothing; any other would
        run a handler or end the process, and vm delivers none, so the run stops saying which it was."""
        sig = s32(sig)
        if not 0 <= sig <= NSIG:
            raise SyscallError(EINVAL)
        handler = self.sigactions.get(sig, [SIG_DFL])[0]
        if sig == 0 or handler == SIG_IGN or (handler == SIG_DFL and sig in IGNORED_BY_DEFAULT):
            return 0
        raise GuestTrap(Trap.UNSUPPORTED, f"the guest sent itself signal {sig}, and vm delivers no signal")

    def sys_sigaltstack(self, new: int, old: int, *_: int) -> int:
        given = STACK_T.unpack(self._peek(new, STACK_T.size)) if new & M64 else None
        if old & M64:
            self._poke(old, STACK_T.pack(self.altstack[0], self.altstack[1], 0, self.altstack[2]))
        if given is not None:
            self.altstack = [given[0], given[1], given[3]]
        return 0

    # -- snapshots -----------------------------------------------------------------------------------------
    def save(self) -> dict:
        """The Linux state as plain data: open files by path and offset, brk, cwd, signals, limits, refusals,
        and where a seeded random stream is."""
        return {
            "brk": self.brk,
            "cwd": list(self.cwd),
            "files": {str(fd): asdict(f) if isinstance(f, OpenFile) else f for fd, f in self.files.items()},
            "refused": dict(self.refused),
            "sigactions": {str(sig): list(action) for sig, action in self.sigactions.items()},
            "sigmask": self.sigmask,
            "altstack": list(self.altstack),
            "umask": self.umask,
            "rlimits": {str(r): list(v) for r, v in self.rlimits.items()},
            "random": [self.random.seed.hex(), self.random.drawn] if self.random is not None else None,
        }

    @classmethod
    def restore(
        cls, process: Process, host: Host, state: dict, *, root: Path | None = None, strict: bool = False,
        terminal: bool = False, exe: str | None = None,
    ) -> Linux:  # fmt: skip
        """The saved state on a restored process: files reopened by path (never created or truncated again)."""
        linux = cls(process, host, root=root, strict=strict, terminal=terminal, exe=exe)
        linux.brk = state["brk"]
        linux.cwd = list(state["cwd"])
        linux.files = {}
        for fd, entry in state["files"].items():
            if isinstance(entry, int):
                linux.files[int(fd)] = entry
                continue
            opened = OpenFile(**entry)
            try:
                linux._host_fds[int(fd)] = linux._open_host(opened.parts, opened.flags & ~(O_CREAT | O_EXCL | O_TRUNC))
            except SyscallError as e:
                linux.close()
                raise OSError(e.errno, f"cannot reopen /{'/'.join(opened.parts)} under the root") from None
            linux.files[int(fd)] = opened
        linux.refused = dict(state["refused"])
        linux.sigactions = {int(sig): list(action) for sig, action in state["sigactions"].items()}
        linux.sigmask = state["sigmask"]
        linux.altstack = list(state["altstack"])
        linux.umask = state["umask"]
        linux.rlimits = {int(r): list(v) for r, v in state["rlimits"].items()}
        if state["random"] is not None:
            linux.random = SeededRandom(bytes.fromhex(state["random"][0]), int(state["random"][1]))
        return linux

    def close(self) -> None:
        """Close the host descriptors of the guest's open files."""
        for host_fd in self._host_fds.values():
            os.close(host_fd)
        self._host_fds.clear()
