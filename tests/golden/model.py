"""The neutral description of a quantized module that the golden model executes.

It holds only what spec/ir.md says a module is (section 1.1): an ordered list of ops,
each with one result, operands that are earlier results, attributes, and the result's
static type; the integer constants; the returned values; the module attribute `T`.
Plain Python and numpy values only, so a description can be written by hand or read
off any implementation's data structures without sharing code with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

#: an element type: ("fx", W, F) is fx<W,F> (section 2), "spike" a 0/1 event
Elem = Union[tuple, str]


@dataclass(frozen=True)
class Op:
    kind: str                      # the op name of section 4 (`dense`, `if`, ...)
    name: str                      # the result's name, unique in the module
    operands: tuple[str, ...]      # names of earlier results, in operand order
    attrs: dict[str, Any]          # attribute values as held (section 3.2): int, float, str, bool,
    #                                list of ints, or a numpy array (float32 for `if` threshold/v0)
    shape: tuple[int, ...]         # the result's shape (no batch axis, section 1.2)
    elem: Elem                     # ("fx", W, F) or "spike"


@dataclass
class Model:
    ops: list[Op]
    consts: dict[str, np.ndarray]  # name of a `const` op -> its stored integers (q, resp. 0/1), int64
    outputs: list[str]             # the returned values, in order
    T: int | None = None           # module attribute T (section 1.3)
    name: str = "model"
    attrs: dict[str, Any] = field(default_factory=dict)

    def op(self, name: str) -> Op:
        for o in self.ops:
            if o.name == name:
                return o
        raise KeyError(name)


def fx(W: int, F: int) -> tuple:
    """The element type fx<W,F> (section 2: 2 <= W <= 64, -64 <= F <= 64)."""
    return ("fx", int(W), int(F))
