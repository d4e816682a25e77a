"""The on-disk cache of translated programs.

A translation is written once as a module file named by the hash of its source and of the versions
that produced it; Numba caches each compiled function beside it (keyed on that file, which is never
rewritten), so a second process imports compiled code instead of compiling it.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import llvmlite
import numba

from vm.engines.para.translate import ENGINE_VERSION, MAX_REGION_BLOCKS, Translation, translate_image

_LOADED: dict[str, ModuleType] = {}


class CompileError(Exception):
    """Numba could not compile a translation; the message says why, in one line."""


def cache_dir() -> Path:
    """$VM_CACHE_DIR, else ~/.cache/vm, else a temporary directory."""
    configured = os.environ.get("VM_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "vm"
    path = base / "para"
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"vm-cache-{os.getuid()}" / "para"  # a user's own
        fallback.mkdir(parents=True, exist_ok=True, mode=0o700)
        return fallback


def cache_key(translation: Translation) -> str:
    versions = f"{ENGINE_VERSION}\0{numba.__version__}\0{llvmlite.__version__}\0"
    return hashlib.sha256((versions + translation.source).encode()).hexdigest()[:24]


def compile_image(image, isa) -> tuple[Translation, ModuleType, str]:
    """Translate and compile (or load) an image. Numba rejects some large functions that it should
    accept (a type it "cannot determine" in SSA form, or a RecursionError); where it does, the
    program is translated again in smaller regions, and the failure is remembered on disk so that
    the next run goes straight to the size that works."""
    max_blocks = MAX_REGION_BLOCKS
    while True:
        translation = translate_image(image, isa, max_blocks)
        marker = cache_dir() / f"guest_{cache_key(translation)}.failed"
        if max_blocks > 1 and marker.exists():
            max_blocks //= 2
            continue
        try:
            module, state = load_translation(translation)
            return translation, module, state
        except CompileError:
            if max_blocks == 1:
                raise
            marker.write_text("Numba could not compile this translation; smaller regions are used\n")
            max_blocks //= 2


def load_translation(translation: Translation) -> tuple[ModuleType, str]:
    """The compiled module of a translation, and "memory", "disk" or "compiled" for where it came from."""
    key = cache_key(translation)
    if key in _LOADED:
        return _LOADED[key], "memory"
    directory = cache_dir()
    name = f"guest_{key}"
    path = directory / f"{name}.py"
    if not path.exists() or path.read_text() != translation.source:  # import only what we generated
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(translation.source)
        os.replace(tmp, path)
    state = "disk" if any((directory / "__pycache__").glob(f"{name}.*.nbi")) else "compiled"
    spec = importlib.util.spec_from_file_location(f"vm_guest_{key}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Numba's cached code finds its environment by module name
    collecting = gc.isenabled()
    gc.disable()  # Numba makes many short-lived objects; collecting them during a compile costs ~10%
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # Numba's errors run to many lines; the first one says what failed
        del sys.modules[spec.name]
        first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
        raise CompileError(f"{type(e).__name__}: {first} (generated source: {path})") from e
    finally:
        if collecting:
            gc.enable()
    _LOADED[key] = module
    return module, state
