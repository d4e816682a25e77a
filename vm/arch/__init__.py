"""Guest architectures other than vm64's own: each a package with its registers, encodings,
instruction descriptions and ABI. The description language and its lowering are shared (vm.isa.semantics,
vm.engines.lowering)."""
