"""The on-disk cache of compiled programs.

A translation is compiled once: Numba compiles its regions, native.py links them into one object
file, and the object is stored under the hash of the translation's source, the versions that produced
it and the host CPU. A later process loads that object without importing Numba.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

from vm.engines.caching import engine_cache_dir
from vm.engines.para.native import (
    CompiledFunction,
    NativeCode,
    NativeError,
    entry_ir,
    host_description,
    link_object,
)
from vm.engines.para.translate import ENGINE_VERSION, MAX_REGION_BLOCKS, Region, Translation, translate_image

_LOADED: dict[str, NativeCode] = {}
OBJECT_MAGIC = b"vm-para-objects\n"  # then the SHA-256 of the rest: object files, each after its length


class CompileError(Exception):
    """A translation could not be compiled; the message says why, in one line. `numba_rejected`:
    Numba refused the code (smaller regions may pass), rather than the machine failing us."""

    def __init__(self, message: str, numba_rejected: bool = True) -> None:
        super().__init__(message)
        self.numba_rejected = numba_rejected


def cache_dir() -> Path:
    return engine_cache_dir("para")


@functools.cache
def _versions() -> str:
    return " ".join(f"{name} {importlib.metadata.version(name)}" for name in ("numba", "llvmlite"))


@functools.cache
def _engine_fingerprint() -> str:
    """The code that goes into every object besides the translation: the runtime's helpers and
    dispatcher, and the entry points. A change to it makes every cached object stale."""
    here = Path(__file__).parent
    code = b"".join((here / name).read_bytes() for name in ("abi.py", "native.py", "runtime.py"))
    return f"{ENGINE_VERSION} {hashlib.sha256(code).hexdigest()}"


def cache_key(translation: Translation) -> str:
    context = f"{_engine_fingerprint()}\0{_versions()}\0{host_description()}\0"
    return hashlib.sha256((context + translation.source).encode()).hexdigest()[:24]


def compile_image(image, isa) -> tuple[Translation, NativeCode, str]:
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
            code, state = load_translation(translation)
            return translation, code, state
        except CompileError as e:
            if max_blocks == 1 or not e.numba_rejected:
                raise
            with contextlib.suppress(OSError):  # without the marker, the next run finds out again
                marker.write_text("Numba could not compile this translation; smaller regions are used\n")
            max_blocks //= 2


def load_translation(translation: Translation) -> tuple[NativeCode, str]:
    """The compiled code of a translation, and "hit" (loaded in this process, or from the cache's file)
    or "miss" (compiled now): the os engine's words for its cache."""
    key = cache_key(translation)
    if key in _LOADED:
        return _LOADED[key], "hit"
    path = cache_dir() / f"guest_{key}.o"
    objects, state = _read_objects(path), "hit"
    if objects is None:
        objects, state = _compile(translation, path.with_suffix(".py")), "miss"
        with contextlib.suppress(OSError):  # a cache we cannot write costs the next run a compile
            _write(path, _pack(objects))
    code = _LOADED[key] = NativeCode(objects)
    return code, state


def _pack(objects: list[bytes]) -> bytes:
    body = b"".join(len(o).to_bytes(8, "little") + o for o in objects)
    return OBJECT_MAGIC + hashlib.sha256(body).digest() + body


def _read_objects(path: Path) -> list[bytes] | None:
    """The object files in a cache file; None if there is none, or it is not whole."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    start = len(OBJECT_MAGIC) + 32
    if not data.startswith(OBJECT_MAGIC) or hashlib.sha256(data[start:]).digest() != data[len(OBJECT_MAGIC):start]:
        return None
    objects, at = [], start
    while at < len(data):
        size = int.from_bytes(data[at : at + 8], "little")
        objects.append(data[at + 8 : at + 8 + size])
        at += 8 + size
    return objects


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all: another process may be reading the cache."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _compile(translation: Translation, source_path: Path) -> list[bytes]:
    """Numba compiles the generated module (from a file, so that its errors point at lines that a
    user can read); native.py links the region functions, and the dispatcher, into object files."""
    _write(source_path, translation.source.encode())
    spec = importlib.util.spec_from_file_location(f"vm_guest_{source_path.stem}", source_path)
    module = importlib.util.module_from_spec(spec)
    collecting = gc.isenabled()
    gc.disable()  # Numba makes many short-lived objects; collecting them during a compile costs ~10%
    try:
        with _separate_numba_cache():
            spec.loader.exec_module(module)  # compiles the dispatcher (and sets Numba up); regions follow
        return _compile_shares(module, translation.regions)
    except (OSError, NativeError, _NativeErrorElsewhere) as e:
        raise CompileError(f"{_describe(e)} (generated source: {source_path})", numba_rejected=False) from e
    except Exception as e:
        raise CompileError(f"{_describe(e)} (generated source: {source_path})") from e
    finally:
        if collecting:
            gc.enable()


@contextlib.contextmanager
def _separate_numba_cache():
    """Numba caches the runtime's helpers (cache=True) under runtime.py's timestamp alone, with the
    ABI's constants from abi.py compiled in: each engine fingerprint gets a Numba cache of its own,
    so that helpers built for another ABI are never linked in. It is per user, not per $VM_CACHE_DIR:
    compiling the helpers takes a second, once. (Where it cannot be written, Numba uses its own.)
    Numba reads the setting when the helpers are defined, on the runtime's first import: the rest of
    the process keeps its own."""
    from numba.core import config

    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vm" / "numba"
    previous = config.CACHE_DIR
    config.CACHE_DIR = str(base / hashlib.sha256(_engine_fingerprint().encode()).hexdigest()[:16])
    try:
        yield
    finally:
        config.CACHE_DIR = previous


def _describe(e: Exception) -> str:
    """An error in one line: Numba's run to many, and the first says what failed."""
    if isinstance(e, _RegionError):
        return str(e)
    first = next((line for line in str(e).splitlines() if line.strip()), "")
    return f"{type(e).__name__}: {first}"


class _RegionError(Exception):
    """A region failed to compile in another process; the message is that process's `_describe`."""


class _NativeErrorElsewhere(_RegionError):
    """Another process's compiled code could not be linked (a NativeError there)."""


def _compile_shares(module: ModuleType, regions: list[Region]) -> list[bytes]:
    """Compile the regions into object files, in processes forked from this one (one per core, if
    there is enough work to pay for their start): regions are independent of each other, and Numba
    compiles one function at a time. The processes take regions from a shared queue, biggest first,
    until it is empty, so that none waits while another still has work; each links what it compiled
    into an object file, this one with the dispatcher. What a process that died had taken is
    compiled here."""
    order = [r.name for r in sorted(regions, key=lambda r: r.instructions, reverse=True)]
    queue = _RegionQueue(order)
    children: list[tuple[int, int]] = []
    try:
        for _ in range(_jobs(sum(r.instructions for r in regions)) - 1 if queue.shared else 0):
            child = _fork(module, queue)
            if child is not None:
                children.append(child)
        mine, functions = _take_and_compile(module, queue)
        objects = [link_object([*functions, _compiled("dispatch", module.dispatch)])]
        done = set(mine)
        while children:
            pid, reader = children.pop(0)
            try:
                with os.fdopen(reader, "rb") as f:
                    data = f.read()
            except BaseException:
                os.kill(pid, signal.SIGKILL)
                raise
            finally:
                os.waitpid(pid, 0)
            try:
                result, names, payload = pickle.loads(data)
            except Exception:  # nothing, or not all of it: the process died; what it took is redone below
                continue
            if result != "ok":
                raise (_NativeErrorElsewhere if result == "native" else _RegionError)(payload)
            done.update(names)
            if names:
                objects.append(payload)
        lost = [name for name in order if name not in done]
        if lost:
            objects.append(link_object([_compile_region(module, name) for name in lost]))
        return objects
    finally:
        queue.close()
        for pid, reader in children:  # after a failure: no result is needed from the others
            os.kill(pid, signal.SIGKILL)
            os.close(reader)
            os.waitpid(pid, 0)


def _take_and_compile(module: ModuleType, queue: _RegionQueue) -> tuple[list[str], list[CompiledFunction]]:
    names, functions = [], []
    while (name := queue.take()) is not None:
        functions.append(_compile_region(module, name))
        names.append(name)
    return names, functions


class _RegionQueue:
    """Region names that processes forked after it take one at a time: a pipe holding each one's
    index (4 bytes), filled before any process reads. A read of 4 bytes from a pipe of whole records
    takes exactly one, whichever process reads first. Names that did not fit in the pipe are taken
    last, by the process that made the queue."""

    def __init__(self, names: list[str]) -> None:
        self.names, self.owner, written = names, os.getpid(), 0
        try:
            self.reader, writer = os.pipe()
        except OSError:  # no pipe: this process takes them all
            self.reader = None
        else:
            try:
                os.set_blocking(writer, False)  # nobody reads yet: a full pipe must not block
                written = os.write(writer, b"".join(k.to_bytes(4, "little") for k in range(len(names))))
            except BlockingIOError:
                pass
            finally:
                os.close(writer)
        self.left = names[written // 4:]

    @property
    def shared(self) -> bool:
        return self.reader is not None

    def take(self) -> str | None:
        record = os.read(self.reader, 4) if self.reader is not None else b""
        if len(record) == 4:
            return self.names[int.from_bytes(record, "little")]
        if self.left and os.getpid() == self.owner:
            return self.left.pop(0)
        return None

    def close(self) -> None:
        if self.reader is not None:
            os.close(self.reader)


MIN_SHARE = 24  # guest instructions: less work than this does not pay for a process of its own


def _jobs(instructions: int) -> int:
    if sys.platform != "linux":  # fork is what makes a helper process cheap; elsewhere, one process
        return 1
    if threading.active_count() > 1:  # a forked child has only this thread: a lock another one held
        return 1  # (Numba's compiler lock, say) would stay locked in it, and the child wait forever
    return max(1, min(len(os.sched_getaffinity(0)), instructions // MIN_SHARE))


def _fork(module: ModuleType, queue: _RegionQueue) -> tuple[int, int] | None:
    """A child process that compiles regions from the queue and sends the names it took, and their
    object file, down a pipe (None if the system will not start one)."""
    try:
        reader, writer = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(reader)
        os.close(writer)
        return None
    if pid:
        os.close(writer)
        return pid, reader
    try:  # the child: never returns to the caller
        os.close(reader)
        try:
            names, functions = _take_and_compile(module, queue)
            payload = ("ok", names, link_object(functions) if functions else None)
        except NativeError as e:
            payload = ("native", [], _describe(e))
        except Exception as e:
            payload = ("error", [], _describe(e))
        with os.fdopen(writer, "wb") as f:
            pickle.dump(payload, f)
    finally:
        os._exit(0)


def _compile_region(module: ModuleType, name: str) -> CompiledFunction:
    from vm.engines.para.runtime import compile_region  # only a compile needs Numba: a cache hit never

    module_ir, symbol = compile_region(getattr(module, name), lambda symbol: entry_ir(name, symbol, 2))
    return CompiledFunction(name, module_ir, symbol, 2, has_entry=True)


def _compiled(name: str, dispatcher) -> CompiledFunction:
    (signature,) = dispatcher.signatures
    result = dispatcher.overloads[signature]
    return CompiledFunction(name, result.library.get_llvm_str(), result.fndesc.mangled_name, len(signature))
