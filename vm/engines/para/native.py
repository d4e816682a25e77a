"""Compiled guest code as native objects: linked from Numba's output once, loaded without Numba.

Numba compiles each region to a function of its own calling convention. `link_object` links the
optimised LLVM modules of some of them (those that one process compiled) into one module, gives each
a C entry point `int64 vm_entry_NAME(int64..., int64 ctx)`, drops everything else, and emits one
object file. `NativeCode` loads a program's object files with LLVM's JIT linker: a process whose
compiled code is cached pays for llvmlite alone, not for importing Numba and setting up its compiler.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import llvmlite.binding as llvm

from vm.engines.para.abi import CTX_REASON, REASON_NATIVE_ERROR, STATUS_EXIT

ENTRY_PREFIX = "vm_entry_"


class NativeError(Exception):
    """Compiled code that would need something outside itself to run."""


@dataclass
class CompiledFunction:
    """A function as Numba compiled it: the LLVM module that defines it, and its symbol there."""

    name: str  # its entry point is ENTRY_PREFIX + name
    module_ir: str
    symbol: str
    arity: int  # int64 arguments; the last is ctx
    has_entry: bool = False  # module_ir defines the entry point already (see entry_ir)


def new_target_machine() -> llvm.TargetMachine:
    """This host's CPU, as Numba compiles for it. A JIT engine owns (and frees) the one it is given,
    so each engine gets a new one."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(), opt=3, jit=True)


_emitter = functools.cache(new_target_machine)  # for writing objects only: never given to an engine


def host_description() -> str:
    """What compiled code depends on besides its source: the CPU it was compiled for."""
    return f"{llvm.get_process_triple()} {llvm.get_host_cpu_name()} {llvm.get_host_cpu_features().flatten()}"


def entry_ir(name: str, symbol: str, arity: int) -> str:
    """A C entry point for a function of Numba's calling convention (status, result by pointer).
    Added to the function's module before it is optimised, the function is inlined into it and its
    error path (never taken by generated code) and pointers are optimised away."""
    params = ", ".join(f"i64 %a{i}" for i in range(arity))
    ctx = f"%a{arity - 1}"
    return f'''
declare i32 @"{symbol}"(ptr, ptr, {", ".join(["i64"] * arity)})

define i64 @"{ENTRY_PREFIX}{name}"({params}) {{
entry:
  %result = alloca i64
  %exception = alloca ptr
  store i64 0, ptr %result
  store ptr null, ptr %exception
  %status = call i32 @"{symbol}"(ptr %result, ptr %exception, {params})
  %ok = icmp eq i32 %status, 0
  br i1 %ok, label %done, label %error
done:
  %value = load i64, ptr %result
  ret i64 %value
error:
  %slots = inttoptr i64 {ctx} to ptr
  %reason = getelementptr i64, ptr %slots, i64 {CTX_REASON}
  store i64 {REASON_NATIVE_ERROR}, ptr %reason
  ret i64 {STATUS_EXIT}
}}
'''


def link_object(functions: list[CompiledFunction]) -> bytes:
    """One object file with an entry point for each function and nothing it does not use."""
    module = llvm.parse_assembly("".join(entry_ir(f.name, f.symbol, f.arity) for f in functions if not f.has_entry))
    for text in dict.fromkeys(f.module_ir for f in functions):
        module.link_in(llvm.parse_assembly(text))
    entries = {ENTRY_PREFIX + f.name for f in functions}
    for value in (*module.functions, *module.global_variables):
        if not value.is_declaration and value.name not in entries:
            value.linkage = "internal"  # Numba's Python wrappers and the like become dead code
    for f in functions:  # an entry point is its function: no call of one from the other
        if not f.has_entry:
            module.get_function(f.symbol).add_function_attribute("alwaysinline")
    tm = _emitter()
    passes = llvm.create_new_module_pass_manager()
    passes.add_always_inliner_pass()
    passes.add_global_dead_code_eliminate_pass()
    passes.run(module, llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=0)))
    outside = [v.name for v in (*module.functions, *module.global_variables)
               if v.is_declaration and not v.name.startswith("llvm.")]
    # Loading code with an unresolved symbol would abort the process. (Library calls that LLVM itself
    # emits for an intrinsic, such as fma on a CPU without it, resolve in the process, as Numba's do.)
    if outside:
        raise NativeError(f"compiled code refers to symbols outside itself: {', '.join(sorted(outside))}")
    return tm.emit_object(module)


class NativeCode:
    """Loaded object files; their entry points stay valid as long as this object lives."""

    def __init__(self, objects: list[bytes]) -> None:
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), new_target_machine())
        for obj in objects:
            self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._engine.finalize_object()

    def address(self, name: str) -> int:
        address = self._engine.get_function_address(ENTRY_PREFIX + name)
        if not address:
            raise NativeError(f"compiled code has no entry point {name}")
        return address
