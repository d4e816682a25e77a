#!/bin/sh
# Builds every C program here as a static RV64GC Linux executable, named like its source without
# the extension; not stripped, so a disassembly shows the symbols.
set -eu
CC=${CC:-riscv64-linux-gnu-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "build.sh: $CC not found; install it (Debian: apt-get install gcc-riscv64-linux-gnu) or set CC" >&2
    exit 1
fi
cd "$(dirname "$0")"
for source in *.c; do
    program=${source%.c}
    "$CC" -march=rv64gc -mabi=lp64d -O2 -static -Wall -Wextra -o "$program" "$source" -lm
    echo "built $program"
done
