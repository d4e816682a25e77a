"""output_write: N lines "line <i>\\n", each built in a buffer and written with
one write; see output_write.asm."""

import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50000
    write = sys.stdout.buffer.write
    buf = bytearray(b"line ")
    for i in range(1, n + 1):
        digits = bytearray()
        v = i
        while True:
            digits.append(48 + v % 10)
            v //= 10
            if v == 0:
                break
        digits.reverse()
        del buf[5:]
        buf += digits
        buf.append(10)
        write(buf)


main()
