"""The guest architectures, each a package with its registers, encodings, instruction descriptions and
ABI: vm64 (the project's own) and riscv64. The description language and its lowering are shared
(vm.isa.semantics, vm.engines.lowering)."""
