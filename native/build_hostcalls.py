"""cffi build script for the host services and the cage; setup.py runs it at install time (module vm._hostcalls)."""

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent
# cage.h includes vm_state.h: cdef reads each once
HEADERS = ("hostcalls.h", "vm_state.h", "cage.h", "riscv_fp.h")
header = "\n".join((HERE / name).read_text() for name in HEADERS)
# cffi's cdef takes declarations only: drop includes and comments, keep #define constants as "...".
cdef = re.sub(r"/\*.*?\*/", "", header, flags=re.DOTALL)
cdef = "\n".join(line for line in cdef.splitlines() if not line.startswith("#include"))
cdef = re.sub(r"#define (\w+) .*", r"#define \1 ...", cdef)

ffibuilder = FFI()
ffibuilder.cdef(cdef)
ffibuilder.set_source(
    "vm._hostcalls",
    '#include "hostcalls.h"\n#include "cage.h"\n#include "riscv_fp.h"',
    # relative to the project root, where setup.py runs
    sources=["native/hostcalls.c", "native/cage.c", "native/riscv_fp.c"],
    include_dirs=["native"],
    libraries=["m"],
    # riscv_fp.c changes rounding modes and reads exception flags: no folding or moving of float operations.
    extra_compile_args=["-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-frounding-math", "-fsignaling-nans"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
