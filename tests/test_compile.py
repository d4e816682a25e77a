"""Compiling para's translations: regions shared among processes, a failure named with its source,
smaller regions when Numba cannot compile large ones."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest
from conftest import ISA, build, run_image_in

from vm.engines import caching
from vm.engines.para import cache
from vm.engines.para.translate import MAX_REGION_BLOCKS, translate_image
from vm.isa import Trap


def _program(tag: int, functions: int = 4) -> str:
    """A program of several functions (so several regions); `tag` makes its text, and so its cache
    key, unique to the test."""
    lines = [f"main: li r1, {tag}", "li r2, 0"]
    lines += [f"call fn{i}" for i in range(functions)]
    lines += ["mov r0, r2", "halt"]
    for i in range(functions):
        lines += [f"fn{i}: li r3, {i + 2}", f"l{i}: add r2, r2, r1", "xor r2, r2, r3", "subi r3, r3, 1",
                  f"bnez r3, l{i}", "ret"]
    return "\n".join(lines) + "\n"


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VM_CACHE_DIR", str(tmp_path))
    return tmp_path / "para"


def test_regions_compiled_in_several_processes_run_as_hw_runs(fresh_cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache, "_jobs", lambda instructions: 3)  # whatever this machine's cores
    image = build(_program(101))
    assert len(translate_image(image, ISA).regions) >= 3
    para, hw = run_image_in(image, "para"), run_image_in(image, "hw")
    assert para.stats["cache"] == "miss"
    assert para.state() == hw.state()


def test_a_region_numba_rejects_in_another_process_names_the_error_and_the_source(fresh_cache, monkeypatch):
    monkeypatch.setattr(cache, "_jobs", lambda instructions: 2)
    translation = translate_image(build(_program(102)), ISA)
    smallest = min(translation.regions, key=lambda r: r.instructions)  # compiled by the second process
    broken = translation.source.replace(f"def {smallest.name}(pc, ctx_address):\n",
                                        f"def {smallest.name}(pc, ctx_address):\n    pc = undefined_name\n")
    with pytest.raises(cache.CompileError, match=r"TypingError: .*generated source: .*\.py\)"):
        cache.load_translation(dataclasses.replace(translation, source=broken))


def test_para_refuses_what_numba_cannot_compile_and_auto_runs_it_in_hw(fresh_cache, monkeypatch) -> None:
    def rejected(translation):
        raise cache.CompileError("TypingError: no (generated source: x.py)")

    monkeypatch.setattr(cache, "load_translation", rejected)
    image = build(_program(103, functions=1))
    para, auto, hw = (run_image_in(image, mode) for mode in ("para", "auto", "hw"))
    assert para.outcome.trap is Trap.UNSUPPORTED
    assert "para cannot compile this program: TypingError: no (generated source: x.py)" in para.outcome.detail
    assert auto.state() == hw.state()


def test_numba_failing_on_large_regions_retries_smaller_ones_and_remembers(fresh_cache, monkeypatch) -> None:
    """Numba 0.68 rejects some large generated functions that it should accept; para then
    translates the program in smaller regions, and a marker sends the next run there directly."""
    attempts = []
    compile_for_real = cache.load_translation

    def only_small_regions(translation):
        biggest = max(len(r.blocks) for r in translation.regions)
        attempts.append(biggest)
        if biggest > MAX_REGION_BLOCKS // 4:
            raise cache.CompileError("TypingError: type of variable cannot be determined")
        return compile_for_real(translation)

    monkeypatch.setattr(cache, "load_translation", only_small_regions)
    blocks = "\n".join(f"b{i}: addi r1, r1, 1\n beqz r2, b{i + 1}" for i in range(MAX_REGION_BLOCKS))
    image = build(f"main: li r2, 0\n{blocks}\nb{MAX_REGION_BLOCKS}: mov r0, r1\n halt")
    translation, _, state = cache.compile_image(image, ISA)
    assert state == "miss" and max(len(r.blocks) for r in translation.regions) <= MAX_REGION_BLOCKS // 4
    assert len(list(fresh_cache.glob("*.failed"))) == 2  # 16 and 8 blocks failed

    attempts.clear()
    cache.compile_image(image, ISA)
    assert len(attempts) == 1  # straight to the size that works
    assert run_image_in(image, "para").outcome.exit == MAX_REGION_BLOCKS


def test_a_failure_in_this_process_stops_the_others(fresh_cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache, "_jobs", lambda instructions: 2)
    translation = translate_image(build(_program(104)), ISA)
    broken = translation.source.replace("(pc, ctx_address):\n", "(pc, ctx_address):\n    pc = undefined_name\n")
    with pytest.raises(cache.CompileError, match="TypingError"):
        cache.load_translation(dataclasses.replace(translation, source=broken))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind, running or unreaped


def test_a_failure_in_one_of_several_processes_stops_and_reaps_the_others(fresh_cache: Path, monkeypatch) -> None:
    monkeypatch.setattr(cache, "_jobs", lambda instructions: 4)
    translation = translate_image(build(_program(105, functions=6)), ISA)
    smallest = min(translation.regions, key=lambda r: r.instructions)
    broken = translation.source.replace(f"def {smallest.name}(pc, ctx_address):\n",
                                        f"def {smallest.name}(pc, ctx_address):\n    pc = undefined_name\n")
    with pytest.raises(cache.CompileError, match="TypingError"):
        cache.load_translation(dataclasses.replace(translation, source=broken))
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


def test_a_failure_that_is_not_numba_s_leaves_no_marker(fresh_cache: Path, monkeypatch) -> None:
    def disk_full(translation):
        raise cache.CompileError("OSError: No space left on device", numba_rejected=False)

    monkeypatch.setattr(cache, "load_translation", disk_full)
    with pytest.raises(cache.CompileError, match="No space"):
        cache.compile_image(build(_program(106, functions=1)), ISA)
    assert not list(fresh_cache.glob("*.failed"))


def test_the_temporary_cache_is_never_a_directory_someone_else_can_write(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(caching.tempfile, "tempdir", str(tmp_path))
    shared = tmp_path / f"vm-cache-{os.getuid()}"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # as if another user had made it for us
    chosen = caching._private_temporary_cache("para")
    assert shared not in chosen.parents and chosen.is_dir()
    shared.chmod(0o700)
    assert caching._private_temporary_cache("para") == shared / "para"


def test_regions_that_a_dying_process_took_are_compiled_here(fresh_cache: Path, monkeypatch) -> None:
    parent, compile_for_real = os.getpid(), cache._compile_region

    def dies_in_a_child(module, name):
        if os.getpid() != parent:
            os._exit(1)  # after taking a region from the queue
        return compile_for_real(module, name)

    monkeypatch.setattr(cache, "_compile_region", dies_in_a_child)
    monkeypatch.setattr(cache, "_jobs", lambda instructions: 2)
    image = build(_program(107))
    para, hw = run_image_in(image, "para"), run_image_in(image, "hw")
    assert para.stats["cache"] == "miss"
    assert para.state() == hw.state()


def test_the_region_queue_gives_each_name_once_and_what_the_pipe_could_not_hold_last(monkeypatch) -> None:
    queue = cache._RegionQueue(["a", "b", "c"])
    assert [queue.take() for _ in range(4)] == ["a", "b", "c", None]
    queue.close()
    write = os.write
    monkeypatch.setattr(cache.os, "write", lambda fd, data: write(fd, data[:4]))  # room for one record
    queue = cache._RegionQueue(["a", "b", "c"])
    assert [queue.take() for _ in range(4)] == ["a", "b", "c", None]
    queue.close()


def test_no_process_is_forked_while_other_threads_run() -> None:
    """A forked child has only the thread that forked: a lock another thread held stays held."""
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert cache._jobs(10_000) == 1
    finally:
        release.set()
        other.join()
    assert cache._jobs(10_000) == min(len(os.sched_getaffinity(0)), 10_000 // cache.MIN_SHARE)

