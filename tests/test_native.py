"""Linking compiled functions into one object and loading it (vm/engines/para/native.py)."""

from __future__ import annotations

import ctypes

import pytest

from vm.engines.para.abi import CTX_REASON, CTX_SLOTS, REASON_NATIVE_ERROR, STATUS_EXIT
from vm.engines.para.native import CompiledFunction, NativeCode, NativeError, link_object

# A function in Numba's calling convention: status returned, result through the first pointer.
# It returns pc * 2, or fails (status -1) when pc is negative.
DOUBLER = """
define i32 @inner(ptr %result, ptr %exception, i64 %pc, i64 %ctx) {
entry:
  %negative = icmp slt i64 %pc, 0
  br i1 %negative, label %fail, label %ok
ok:
  %twice = mul i64 %pc, 2
  store i64 %twice, ptr %result
  ret i32 0
fail:
  ret i32 -1
}
"""


def _entry(code: NativeCode, name: str):
    return ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)(code.address(name))


def test_an_entry_point_returns_the_result_and_reports_a_failure_in_ctx() -> None:
    code = NativeCode([link_object([CompiledFunction("doubler", DOUBLER, "inner", 2)])])
    ctx = (ctypes.c_int64 * CTX_SLOTS)()
    doubler = _entry(code, "doubler")
    assert doubler(21, ctypes.addressof(ctx)) == 42
    assert ctx[CTX_REASON] == 0
    assert doubler(-1, ctypes.addressof(ctx)) == STATUS_EXIT
    assert ctx[CTX_REASON] == REASON_NATIVE_ERROR


def test_code_that_needs_an_outside_symbol_is_refused_before_it_can_be_loaded() -> None:
    needs_helper = DOUBLER.replace("%twice = mul i64 %pc, 2", "%twice = call i64 @numba_helper(i64 %pc)")
    needs_helper += "declare i64 @numba_helper(i64)\n"
    with pytest.raises(NativeError, match="numba_helper"):
        link_object([CompiledFunction("doubler", needs_helper, "inner", 2)])


def test_what_no_entry_point_uses_is_dropped() -> None:
    """Numba's Python wrappers call outside helpers; nothing calls them, so they go, and the rest loads."""
    wrapper = "define i64 @wrapper(i64 %x) {\n  %y = call i64 @numba_helper(i64 %x)\n  ret i64 %y\n}\n"
    unused = DOUBLER + "declare i64 @numba_helper(i64)\n" + wrapper
    code = NativeCode([link_object([CompiledFunction("doubler", unused, "inner", 2)])])
    assert _entry(code, "doubler")(5, 0) == 10
