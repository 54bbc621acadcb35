"""The core of the spiking IR: values, operations, modules (spec/ir.md).

A `Module` is a typed SSA graph: an ordered list of single-result `Operation`s,
each operand defined by an earlier operation, and a list of output values.
Model inputs are `input` operations. Which operations exist, what attributes they
take and how their result type follows from their operands is declared once, in
`sncc.ops`; the verifier and the printer/parser only read those declarations.

    >>> from sncc import ir
    >>> m = ir.parse('''
    ... module @tiny {
    ...   %x = input {index = 0} : tensor<4xf32>
    ...   %y = relu(%x) : tensor<4xf32>
    ...   return %y
    ... }''')
    >>> [op.kind for op in m.ops]
    ['input', 'relu']
    >>> ir.parse(m.to_text()).to_text() == m.to_text()
    True
"""
from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np

from sncc.types import TensorType


class Value:
    """The single result of an operation. `name` is a hint for the printer."""

    __slots__ = ("type", "name", "owner")

    def __init__(self, type: TensorType, name: str | None = None, owner: "Operation | None" = None):
        self.type = type
        self.name = name
        self.owner = owner

    def __repr__(self) -> str:
        return f"<Value %{self.name or '?'}: {self.type}>"


class Operation:
    """One operation: `kind` names its declaration in `sncc.ops`."""

    __slots__ = ("kind", "operands", "attrs", "result")

    def __init__(self, kind: str, operands: Iterable[Value], attrs: dict[str, Any] | None,
                 result_type: TensorType, name: str | None = None):
        self.kind = kind
        self.operands: list[Value] = list(operands)
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.result = Value(result_type, name, self)

    @property
    def name(self) -> str | None:
        return self.result.name

    @property
    def type(self) -> TensorType:
        return self.result.type

    def describe(self) -> str:
        """How error messages name this op: `'dense' op %fc1`."""
        return f"'{self.kind}' op %{self.result.name or '?'}"

    def __repr__(self) -> str:
        return f"<Operation {self.kind} %{self.result.name}>"


class Module:
    """A spiking-IR module: ordered operations, outputs and global attributes (e.g. `T`)."""

    def __init__(self, name: str = "model", attrs: dict[str, Any] | None = None):
        self.name = name
        self.attrs: dict[str, Any] = dict(attrs or {})
        self.ops: list[Operation] = []
        self.outputs: list[Value] = []

    # -- construction -----------------------------------------------------
    def add(self, kind: str, operands: Iterable[Value] = (), attrs: dict[str, Any] | None = None,
            name: str | None = None, result_type: TensorType | None = None) -> Value:
        """Append an operation, inferring its result type from `sncc.ops`; returns its result."""
        from sncc import ops

        operands = list(operands)
        attrs = ops.complete_attrs(kind, dict(attrs or {}))
        if result_type is None:
            result_type = ops.infer_type(kind, [v.type for v in operands], attrs)
        op = Operation(kind, operands, attrs, result_type, name)
        self.ops.append(op)
        return op.result

    def const(self, value: np.ndarray, name: str | None = None, elem=None) -> Value:
        from sncc.types import f32

        arr = np.asarray(value)
        elem = elem or f32
        arr = np.ascontiguousarray(arr.astype(elem.numpy_dtype))
        return self.add("const", (), {"value": arr}, name, TensorType(arr.shape, elem))

    def insert_before(self, anchor: Operation, kind: str, operands: Iterable[Value] = (),
                      attrs: dict[str, Any] | None = None, name: str | None = None,
                      result_type: TensorType | None = None) -> Value:
        """Like `add`, but places the new operation just before `anchor`."""
        value = self.add(kind, operands, attrs, name, result_type)
        self.ops.pop()
        self.ops.insert(self.ops.index(anchor), value.owner)
        return value

    # -- queries ----------------------------------------------------------
    @property
    def inputs(self) -> list[Value]:
        ins = [op for op in self.ops if op.kind == "input"]
        return [op.result for op in sorted(ins, key=lambda o: o.attrs["index"])]

    def input_batch(self, x, what: str = "input") -> tuple[np.ndarray, bool]:
        """User data for the (first) input as a float32 batch [N, *shape], and whether it was
        one sample; a flat [N, size] batch is reshaped. Checks shape and finiteness."""
        from sncc.errors import SnccError

        if hasattr(x, "detach"):  # a torch tensor
            x = x.detach().cpu().numpy()
        if getattr(x, "dtype", None) is not None and np.dtype(x.dtype).kind == "c":
            raise SnccError(f"{what} is complex; give real numbers")
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: refused below as infinite
                x = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise SnccError(f"{what} is not a numeric array") from None
        shape = self.inputs[0].type.shape
        size = int(np.prod(shape))
        single = x.shape == shape or (x.ndim == 1 and x.size == size and len(shape) > 1)
        if single:
            x = x.reshape((1,) + shape)
        elif x.ndim >= 2 and x.shape[1:] != shape and int(np.prod(x.shape[1:])) == size:
            x = x.reshape((x.shape[0],) + shape)
        if x.shape[1:] != shape:
            raise SnccError(f"{what} of shape {list(x.shape)}: the network takes one sample of shape {list(shape)} "
                            f"or a batch [N, {', '.join(map(str, shape))}]")
        if len(x) == 0:
            raise SnccError(f"{what} holds no samples (a batch of 0)")
        if not np.all(np.isfinite(x)):
            raise SnccError(f"{what} contains NaN or infinite values, or values beyond the float32 range")
        return x, single

    def users(self, value: Value) -> list[Operation]:
        return [op for op in self.ops if any(v is value for v in op.operands)]

    def walk(self, kind: str | None = None) -> Iterator[Operation]:
        for op in list(self.ops):
            if kind is None or op.kind == kind:
                yield op

    def const_value(self, value: Value) -> np.ndarray | None:
        """The array behind `value` if a `const` op defines it, else None."""
        owner = value.owner
        if owner is not None and owner.kind == "const":
            return owner.attrs["value"]
        return None

    def residual_adds(self) -> list[Operation]:
        """The `add` ops that sum two or more computed values (not constants): where the
        branches of a residual block (or any fork) merge."""
        return [op for op in self.ops
                if op.kind == "add" and sum(self.const_value(v) is None for v in op.operands) >= 2]

    @property
    def is_spiking(self) -> bool:
        from sncc import ops

        return any(ops.OPS[op.kind].stateful for op in self.ops)

    # -- rewriting --------------------------------------------------------
    def replace_all_uses(self, old: Value, new: Value) -> None:
        for op in self.ops:
            op.operands = [new if v is old else v for v in op.operands]
        self.outputs = [new if v is old else v for v in self.outputs]

    def erase(self, op: Operation) -> None:
        self.ops.remove(op)

    # -- text form --------------------------------------------------------
    def to_text(self, elide: bool = False) -> str:
        """The module in the text format of spec/ir.md; deterministic and round-trippable.

        With `elide=True` weights are replaced by their shape and statistics (not parseable).
        """
        from sncc.printer import print_module

        return print_module(self, elide=elide)

    def __str__(self) -> str:
        return self.to_text(elide=True)

    def infer_types(self) -> None:
        """Recompute every result type from its operands, in order (after a rewrite changed
        an operand's type, e.g. f32 activations becoming spikes). Fixed-point results,
        chosen by the quantize pass, keep their element type."""
        from sncc import ops
        from sncc.types import Fixed

        for op in self.ops:
            if op.kind in ("input", "const"):
                continue
            t = ops.infer_type(op.kind, [v.type for v in op.operands], op.attrs)
            op.result.type = t.with_elem(op.type.elem) if isinstance(op.type.elem, Fixed) else t

    def verify(self) -> "Module":
        from sncc.verifier import verify

        verify(self)
        return self

    def clone(self) -> "Module":
        """A deep copy (constant arrays are shared copy-on-write: passes replace, never mutate)."""
        mapping: dict[int, Value] = {}
        new = Module(self.name, dict(self.attrs))
        for op in self.ops:
            attrs = {k: (list(v) if isinstance(v, list) else v) for k, v in op.attrs.items()}
            nop = Operation(op.kind, [mapping[id(v)] for v in op.operands], attrs, op.result.type, op.result.name)
            mapping[id(op.result)] = nop.result
            new.ops.append(nop)
        new.outputs = [mapping[id(v)] for v in self.outputs]
        return new


def parse(text: str, filename: str = "<string>") -> Module:
    """Parse IR text (grammar: spec/sir.lark) into a verified `Module`."""
    from sncc.parser import parse_module

    return parse_module(text, filename)


def load(path) -> Module:
    """Read a `.sir` file."""
    from pathlib import Path

    from sncc.errors import SnccError

    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise SnccError(f"cannot read IR file '{p}': {e.strerror}") from e
    return parse(decode_text(data, str(p)), str(p))


def decode_text(data: bytes, filename: str) -> str:
    """IR text is UTF-8 (spec/ir.md section 3.1); say where it is not."""
    from sncc.errors import ParseError

    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise ParseError(f"{filename}:{line}:{col}: byte 0x{data[e.start]:02x} is not UTF-8 text; "
                         "IR files are UTF-8") from None
