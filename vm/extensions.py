"""Instruction-set extensions: a user's Python file, or an installed package's entry point.

An extension module defines `INSTRUCTIONS`, a list of `vm.isa.instruction(...)` with opcodes in
0xC0..0xFF, and optionally `NAME` (default: the file's stem). Its instructions join the core ones in
the assembler, the disassembler, both engines and the reference, exactly as core instructions do.
"""

from __future__ import annotations

import importlib.util
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from vm.arch.vm64 import InstructionSet
from vm.arch.vm64.model import Instruction
from vm.engines.hw import handler_source
from vm.isa import IsaError
from vm.isa.semantics import SemanticsError

EXTENSION_OPCODES = range(0xC0, 0x100)
ENTRY_POINT_GROUP = "vm.extensions"


def _module_from_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise IsaError(f"extension {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"vm_extension_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except IsaError as e:
        raise IsaError(f"extension {path}: {e}") from None
    except Exception as e:  # a user's file: report its error without our traceback
        raise IsaError(f"extension {path}: {type(e).__name__}: {e}") from None
    return module


def extension_instructions(module: ModuleType, where: str) -> tuple[str, list[Instruction]]:
    """The extension's name and its checked instructions."""
    name = getattr(module, "NAME", None) or Path(where).stem
    instructions = getattr(module, "INSTRUCTIONS", None)
    if not isinstance(instructions, list) or not all(isinstance(i, Instruction) for i in instructions):
        raise IsaError(f"extension {where}: define INSTRUCTIONS = [vm.isa.instruction(...), ...]")
    out = []
    for ins in instructions:
        if ins.opcode not in EXTENSION_OPCODES:
            raise IsaError(f"extension {where}: instruction {ins.mnemonic!r} has opcode {ins.opcode:#04x}; "
                           "extensions use opcodes 0xC0..0xFF (0x80..0xBF are reserved for the core)")
        try:  # the engines' shared lowering checks types, which native code needs
            handler_source(ins)
        except SemanticsError as e:
            raise IsaError(f"extension {where}: instruction {ins.mnemonic!r}: semantics: {e}") from None
        out.append(Instruction(**{**ins.__dict__, "origin": name}))
    return name, out


def add_extension(isa: InstructionSet, module: ModuleType, where: str,
                  loaded: dict[str, str] | None = None) -> InstructionSet:
    """The set with one extension added; the same extension twice is added once, two different
    extensions with one name are an error (images record extensions by name)."""
    name, instructions = extension_instructions(module, where)
    if loaded is not None:
        if name in loaded and loaded[name] != _identity(module):
            raise IsaError(f"extension {where}: another extension named {name!r} is already loaded; "
                           "give one of them another NAME")
        loaded[name] = _identity(module)
    if name in isa.extensions:
        return isa
    try:
        return isa.extended(instructions, name)
    except IsaError as e:
        raise IsaError(f"extension {where}: {e}") from None


def _identity(module: ModuleType) -> str:
    return str(Path(module.__file__).resolve()) if getattr(module, "__file__", None) else module.__name__


def load_extensions(isa: InstructionSet, files: list[str]) -> InstructionSet:
    """The instruction set with every installed extension and every extension file added."""
    loaded: dict[str, str] = {}
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        try:
            module = ep.load()
        except Exception as e:  # an installed package's bug must not hide behind our traceback
            raise IsaError(f"extension entry point {ep.name} ({ep.value}): {type(e).__name__}: {e}") from None
        isa = add_extension(isa, module, f"entry point {ep.name}", loaded)
    for file in files:
        isa = add_extension(isa, _module_from_file(Path(file)), file, loaded)
    isa.extension_files = tuple(str(Path(file).resolve()) for file in files)
    return isa
