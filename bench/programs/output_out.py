"""output_out: N lines "line <i>\\n", one write per byte or number; see output_out.asm."""

import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    write = sys.stdout.write
    for i in range(1, n + 1):
        write("l")
        write("i")
        write("n")
        write("e")
        write(" ")
        write(str(i))
        write("\n")


main()
