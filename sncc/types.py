"""Tensor types of the spiking IR (spec/ir.md, section "Types").

A tensor type is a static shape (no batch dimension: batch is a run-time concern)
and an element type: `f32`, signed fixed point `fx<W,F>` (W total bits including
sign, F fraction bits; the stored integer q means q * 2**-F), or `spike` (0/1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sncc.errors import VerificationError
from sncc.limits import MAX_ELEMENTS


class TypeRangeError(VerificationError, ValueError):
    """A type outside what the IR allows (a user error; a ValueError for older callers)."""


@dataclass(frozen=True)
class F32:
    def __str__(self) -> str:
        return "f32"

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(np.float32)


@dataclass(frozen=True)
class Fixed:
    width: int
    frac: int

    def __post_init__(self):
        if not 2 <= self.width <= 64:
            raise TypeRangeError(f"fx<{self.width},{self.frac}>: width must be in 2..64")
        if not -64 <= self.frac <= 64:
            raise TypeRangeError(f"fx<{self.width},{self.frac}>: fraction bits must be in -64..64")

    def __str__(self) -> str:
        return f"fx<{self.width},{self.frac}>"

    @property
    def numpy_dtype(self) -> np.dtype:
        """The narrowest signed integer dtype holding `width` bits (storage only)."""
        for bits in (8, 16, 32, 64):
            if self.width <= bits:
                return np.dtype(f"int{bits}")
        raise AssertionError

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1


@dataclass(frozen=True)
class Spike:
    def __str__(self) -> str:
        return "spike"

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(np.uint8)


ElementType = F32 | Fixed | Spike
f32 = F32()
spike = Spike()


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    elem: ElementType = f32

    def __post_init__(self):
        object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if any(d < 1 for d in self.shape):
            raise TypeRangeError(f"tensor dimensions must be positive, got {list(self.shape)}")
        # Python integers: a product of huge dimensions neither overflows nor wraps to 0
        if math.prod(self.shape) > MAX_ELEMENTS:
            raise TypeRangeError(f"a tensor of shape {_dims(self.shape)} has more than {MAX_ELEMENTS} "
                                 "(2^31 - 1) elements, the most sncc supports")

    def __str__(self) -> str:
        dims = "".join(f"{d}x" for d in self.shape)
        return f"tensor<{dims}{self.elem}>"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.elem)

    def with_elem(self, elem: ElementType) -> "TensorType":
        return TensorType(self.shape, elem)


def _dims(shape) -> str:
    text = "x".join(map(str, shape))
    return text if len(text) <= 60 else text[:57] + "..."


def tensor(*shape: int, elem: ElementType = f32) -> TensorType:
    return TensorType(tuple(shape), elem)
