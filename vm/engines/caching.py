"""Where engines keep what they compiled: $VM_CACHE_DIR, else ~/.cache/vm, one folder per engine."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def engine_cache_dir(engine: str) -> Path:
    """The engine's folder under $VM_CACHE_DIR, else ~/.cache/vm, else a private temporary directory."""
    configured = os.environ.get("VM_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "vm"
    path = base / engine
    if path.is_dir():  # no mkdir where it exists: a caged engine may look, not make
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return _private_temporary_cache(engine)


def _private_temporary_cache(engine: str) -> Path:
    """A cache in the temporary directory that only this user can write: compiled code is run, so a
    directory someone else made (or could write into) is not used."""
    base = Path(tempfile.gettempdir()) / f"vm-cache-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        base = Path(tempfile.mkdtemp(prefix="vm-cache-"))
    path = base / engine
    path.mkdir(exist_ok=True)
    return path
