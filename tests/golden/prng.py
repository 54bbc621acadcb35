"""The rate encoder's random numbers, written from the text of spec/ir.md section 5.2.

Plain Python integers, masked to 32 bits after every operation the spec marks
"mod 2^32". Nothing here comes from sncc: the spec's test-vector table is checked
against these functions, and sncc against both.
"""
from __future__ import annotations

MASK32 = 0xFFFFFFFF


def xorshift32_next(s: int) -> int:
    """`next(s)` of section 5.2: shifts 13, 17, 5 on a uint32 state."""
    s ^= (s << 13) & MASK32
    s ^= s >> 17
    s ^= (s << 5) & MASK32
    return s


def initial_state(seed: int) -> int:
    """`init(seed)` of section 5.2: murmur3's fmix32 of seed XOR 0x9E3779B9; a hash of 0
    becomes 1 because 0 is a fixed point of xorshift32 (the stream would be all zeros)."""
    if not 0 <= seed <= MASK32:
        raise ValueError(f"seed {seed} is not a uint32 (section 4 encode: 0 .. 2^32-1)")
    h = seed ^ 0x9E3779B9
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    h ^= h >> 16
    return h if h != 0 else 1


def draws(seed: int, count: int) -> list[int]:
    """r_0 .. r_{count-1} of section 5.2: draw k is the state after k+1 steps from init(seed)."""
    s = initial_state(seed)
    out = []
    for _ in range(count):
        s = xorshift32_next(s)
        out.append(s)
    return out


class Stream:
    """One encoder's stream for one inference (section 5.1: re-initialized at the start of
    every inference). Draws are consumed in order, t-major then element index, so the
    `n` draws of step t are r_{t*n} .. r_{t*n+n-1} (section 5.2)."""

    def __init__(self, seed: int):
        self.state = initial_state(seed)

    def take(self, n: int) -> list[int]:
        out = []
        s = self.state
        for _ in range(n):
            s = xorshift32_next(s)
            out.append(s)
        self.state = s
        return out
