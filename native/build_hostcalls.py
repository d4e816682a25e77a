"""cffi build script for the host services; setup.py runs it at install time (module vm._hostcalls)."""

import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).parent
header = (HERE / "hostcalls.h").read_text()
# cffi's cdef takes declarations only: drop includes and comments, keep #define constants as "...".
cdef = re.sub(r"/\*.*?\*/", "", header, flags=re.DOTALL)
cdef = "\n".join(line for line in cdef.splitlines() if not line.startswith("#include"))
cdef = re.sub(r"#define (\w+) .*", r"#define \1 ...", cdef)

ffibuilder = FFI()
ffibuilder.cdef(cdef)
ffibuilder.set_source(
    "vm._hostcalls",
    '#include "hostcalls.h"',
    sources=["native/hostcalls.c"],  # relative to the project root, where setup.py runs
    include_dirs=["native"],
    libraries=["m"],
    extra_compile_args=["-O2", "-std=c11", "-D_POSIX_C_SOURCE=200809L"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
