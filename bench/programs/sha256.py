"""sha256: the SHA-256 digest of an N-byte generated message, in hex; see sha256.asm."""

import hashlib
import sys

M32 = 0xFFFFFFFF
M64 = (1 << 64) - 1
K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)


def rotr(x, n):
    return ((x >> n) | (x << (32 - n))) & M32


class Generator:
    """The message: x = x*6364136223846793005 + 1442695040888963407 (mod 2^64), byte = x >> 56."""

    def __init__(self):
        self.x = 1

    def bytes(self, n):
        x = self.x
        out = bytearray(n)
        for i in range(n):
            x = (x * 6364136223846793005 + 1442695040888963407) & M64
            out[i] = x >> 56
        self.x = x
        return out


def compress(h, blk):
    w = [int.from_bytes(blk[4 * i : 4 * i + 4], "big") for i in range(16)]
    for i in range(16, 64):
        x, y = w[i - 15], w[i - 2]
        s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
        s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
        w.append((s0 + s1 + w[i - 16] + w[i - 7]) & M32)
    a, b, c, d, e, f, g, hh = h
    for i in range(64):
        t1 = hh + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + (g ^ (e & (f ^ g))) + K[i] + w[i]
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((c & (a | b)) | (a & b))
        hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + t2) & M32
    for i, v in enumerate((a, b, c, d, e, f, g, hh)):
        h[i] = (h[i] + v) & M32


def main():
    n = max(int(sys.argv[1]) if len(sys.argv) > 1 else 100000, 0)
    h = [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19]
    gen = Generator()
    check = hashlib.sha256()
    left = n
    while left >= 64:
        blk = gen.bytes(64)
        check.update(blk)
        compress(h, blk)
        left -= 64
    blk = gen.bytes(left)
    check.update(blk)
    blk.append(0x80)
    if len(blk) > 56:
        blk.extend(bytes(64 - len(blk)))
        compress(h, blk)
        blk = bytearray()
    blk.extend(bytes(56 - len(blk)))
    blk += (8 * n).to_bytes(8, "big")
    compress(h, blk)
    digest = "".join(f"{v:08x}" for v in h)
    assert digest == check.hexdigest(), (digest, check.hexdigest())
    print(digest)


main()
