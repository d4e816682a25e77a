"""Compiling a translated program into an executable with the host's C compiler, and caching it.

The executable is the program's C (translate.py) linked with the os runtime: native/os_main.c (the
process: state file, cage, host services), native/cage.c and native/hostcalls.c, the same host
services every engine uses. The runtime is compiled once per compiler into the cache; each program
is then one compile and link, stored under the hash of its source, the runtime and the compiler.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import vm
from vm.engines.caching import engine_cache_dir
from vm.engines.os.translate import ENGINE_VERSION, CProgram

CFLAGS = ("-O2", "-std=gnu11", "-fno-math-errno", "-ffp-contract=off")  # floats exactly as the ISA says
RUNTIME_SOURCES = ("os_main.c", "cage.c", "hostcalls.c")
RUNTIME_HEADERS = ("guest_runtime.h", "hostcalls.h", "vm_state.h", "cage.h")


class CompileError(Exception):
    """The program could not be compiled here; the message says why, in a line or two."""


def native_dir() -> Path:
    """The C sources of the runtime: installed beside the package, or the project's native/."""
    package = Path(vm.__file__).parent
    for candidate in (package / "_native", package.parent / "native"):
        if (candidate / "os_main.c").is_file():
            return candidate
    raise CompileError("the os runtime's C sources (native/os_main.c) are not installed")


def compiler() -> str:
    """$CC, else cc: the host's C compiler."""
    found = shutil.which(os.environ.get("CC", "cc"))
    if found is None:
        raise CompileError("no C compiler found (cc or $CC): install gcc or clang")
    return found


@functools.cache
def _fingerprint(cc: str) -> str:
    """What an executable depends on besides its own source: the runtime, the compiler, the flags."""
    digest = hashlib.sha256(f"{ENGINE_VERSION} {' '.join(CFLAGS)}\n".encode())
    real = Path(cc).resolve()
    info = real.stat()
    digest.update(f"{real} {info.st_size} {info.st_mtime_ns}\n".encode())
    native = native_dir()
    for name in RUNTIME_SOURCES + RUNTIME_HEADERS:
        digest.update((native / name).read_bytes())
    return digest.hexdigest()[:32]


def _run_compiler(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise CompileError(f"the C compiler took more than 300 s on {what}") from None
    if done.returncode != 0:
        errors = [line for line in done.stderr.splitlines() if "error" in line] or done.stderr.splitlines()
        raise CompileError(f"the C compiler failed on {what}: " + " | ".join(errors[:3]))


def _runtime_objects(cc: str, cache: Path) -> list[Path]:
    """The runtime, compiled once per compiler and runtime version."""
    folder = cache / f"runtime_{_fingerprint(cc)}"
    objects = [folder / (Path(name).stem + ".o") for name in RUNTIME_SOURCES]
    if all(o.is_file() for o in objects):
        return objects
    native = native_dir()
    with tempfile.TemporaryDirectory(dir=cache) as work:
        for name, target in zip(RUNTIME_SOURCES, objects, strict=True):
            built = Path(work) / target.name
            _run_compiler([cc, *CFLAGS, "-c", "-I", str(native), str(native / name), "-o", str(built)], name)
        folder.mkdir(exist_ok=True)
        for target in objects:
            os.replace(Path(work) / target.name, target)
    return objects


def build_executable(program: CProgram) -> tuple[Path, str]:
    """The program's executable, and "hit" or "miss": whether it came from the cache."""
    cc = compiler()
    cache = engine_cache_dir("os")
    key = hashlib.sha256((_fingerprint(cc) + "\n" + program.source).encode()).hexdigest()[:40]
    executable = cache / f"guest_{key}"
    if executable.is_file():
        return executable, "hit"
    objects = _runtime_objects(cc, cache)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        source = Path(work) / "guest.c"
        source.write_text(program.source)
        built = Path(work) / "guest"
        _run_compiler([cc, *CFLAGS, "-I", str(native_dir()), str(source), *map(str, objects), "-lm",
                       "-o", str(built)], "the translated program")
        os.replace(built, executable)
    return executable, "miss"
