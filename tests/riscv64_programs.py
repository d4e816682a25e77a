"""Small RISC-V Linux programs built at test time with Debian's cross compiler (gcc-riscv64-linux-gnu)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from riscv64_support import missing_tool, require_compiler

CC = "riscv64-linux-gnu-gcc"
PROBE_C = Path(__file__).resolve().parent / "riscv64" / "probe.c"  # argv[1] says what it does

HELLO_C = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    printf("hello from %s with %d arguments\n", argv[0], argc);
    return 3;
}
"""

# No C library: _start writes with the write system call and exits with 7 (for static-pie, which
# Debian's cross toolchain cannot link with glibc: it lacks rcrt1.o).
BARE_C = r"""
static const char message[] = "bare\n";
void _start(void) {
    register long a0 asm("a0") = 1;
    register const char *a1 asm("a1") = message;
    register long a2 asm("a2") = sizeof message - 1;
    register long a7 asm("a7") = 64;
    asm volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7));
    register long b0 asm("a0") = 7;
    register long b7 asm("a7") = 93;
    asm volatile("ecall" : : "r"(b0), "r"(b7));
    for (;;) {
    }
}
"""


def build(directory: Path, name: str, source: str, *flags: str) -> Path:
    """Compile source into directory/name with the cross compiler, or skip the test when it is missing."""
    if shutil.which(CC) is None:
        missing_tool(f"{CC} is not installed (Debian package gcc-riscv64-linux-gnu)")
    c_file = directory / f"{name}.c"
    c_file.write_text(source)
    out = directory / name
    subprocess.run([CC, "-O2", *flags, str(c_file), "-o", str(out)], check=True, capture_output=True, timeout=120)
    return out


def build_assembly(directory: Path, name: str, source: str, *flags: str) -> Path:
    """Assemble and link a program that starts at `_start` with no C library (flags such as -N, which
    makes its text writable)."""
    if shutil.which(CC) is None:
        missing_tool(f"{CC} is not installed (Debian package gcc-riscv64-linux-gnu)")
    s_file = directory / f"{name}.S"
    s_file.write_text(source)
    out = directory / name
    subprocess.run([CC, "-nostdlib", "-static", *flags, str(s_file), "-o", str(out)], check=True,
                   capture_output=True, timeout=120)
    return out


def build_probe(directory: Path, static: bool = True) -> Path:
    """tests/riscv64/probe.c built into directory/probe: static, as vm runs them, or dynamically linked."""
    out = directory / "probe"
    subprocess.run([require_compiler(), "-O2", *(["-static"] if static else []), "-o", str(out), str(PROBE_C)],
                   check=True, capture_output=True, timeout=120)
    return out
