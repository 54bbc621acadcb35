"""The IR verifier: SSA order, op declarations, attribute ranges, types and shapes.

Every message names the op (`'dense' op %fc1: ...`) and what is wrong.
"""
from __future__ import annotations

import numpy as np

from sncc import ops
from sncc.errors import SnccError, VerificationError
from sncc.ir import Module, Operation
from sncc.limits import MAX_T, short
from sncc.types import Fixed, Spike


def _fail(op: Operation | None, msg: str):
    where = f"{op.describe()}: " if op is not None else ""
    err = VerificationError(where + msg)
    err.op = op  # lets the parser point at the line
    raise err


def _verify_fixed(op: Operation, attrs: dict) -> None:
    """The fixed-point rules of spec/ir.md section 6."""
    ts = [v.type for v in op.operands]
    try:
        want = ops.result_frac(op.kind, ts, attrs)
    except ops.TypeError_ as e:
        _fail(op, str(e))
    if any(ops.frac_bits(t) is None for t in ts):
        _fail(op, "mixes float and fixed-point operands")
    if op.kind == "if":
        F = ops.frac_bits(ts[0])
        if attrs["vbits"] == 0:
            _fail(op, "a fixed-point neuron needs its membrane width (vbits)")
        theta = np.asarray(attrs["threshold"], dtype=np.float64) * 2.0**F
        if not np.all(theta == np.round(theta)):
            _fail(op, f"threshold * 2^{F} must be an integer (spec/ir.md section 6)")
        return
    if want is not None and isinstance(op.type.elem, Fixed) and op.type.elem.frac != want:
        _fail(op, f"result type {op.type} must have {want} fraction bits (spec/ir.md section 6)")
    if op.kind not in ("if",) and not isinstance(op.type.elem, (Fixed, Spike)):
        _fail(op, f"result type {op.type} must be fixed point: its operands are")


def verify(m: Module) -> None:
    defined: set[int] = set()
    indices: set[int] = set()
    if not m.outputs:
        _fail(None, f"module @{m.name} returns nothing")
    T = m.attrs.get("T")
    if T is not None and (not isinstance(T, int) or isinstance(T, bool) or not 1 <= T <= MAX_T):
        _fail(None, f"module attribute T must be an integer in 1..{MAX_T}, got {short(T)}")
    for op in m.ops:
        if id(op.result) in defined:
            _fail(op, "appears twice in the module")
        for i, v in enumerate(op.operands):
            if id(v) not in defined:
                _fail(op, f"operand #{i} (%{v.name}) is not defined before this op (SSA order)")
        try:
            attrs = ops.complete_attrs(op.kind, op.attrs)
        except SnccError as e:
            _fail(op, str(e).split(": ", 1)[-1])
        if op.kind == "input":
            if attrs["index"] in indices:
                _fail(op, f"input index {attrs['index']} is used twice")
            indices.add(attrs["index"])
        elif op.kind == "const":
            arr = attrs["value"]
            if arr.shape != op.type.shape:
                _fail(op, f"value of shape {list(arr.shape)} does not match its type {op.type}")
            if arr.dtype != op.type.elem.numpy_dtype:
                _fail(op, f"value stored as {arr.dtype} does not match its type {op.type}")
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                _fail(op, "value contains NaN or infinity")
            if isinstance(op.type.elem, Spike) and arr.size and not np.isin(arr, (0, 1)).all():
                _fail(op, "spike values must be 0 or 1")
            if isinstance(op.type.elem, Fixed):
                lo, hi = op.type.elem.min_int, op.type.elem.max_int
                if arr.size and (arr.min() < lo or arr.max() > hi):
                    _fail(op, f"value does not fit {op.type.elem} (integers {lo}..{hi})")
        else:
            try:
                expected = ops.infer_type(op.kind, [v.type for v in op.operands], attrs)
            except SnccError as e:
                _fail(op, str(e).split(": ", 1)[-1] if str(e).startswith("'") else str(e))
            if expected.shape != op.type.shape:
                _fail(op, f"result type {op.type} does not match the inferred {expected}")
            # Fixed-point result types are chosen by the quantize pass; everything else must agree.
            fixed_ok = isinstance(op.type.elem, Fixed) and op.kind not in ("if", "encode")
            if not fixed_ok and expected.elem != op.type.elem:
                _fail(op, f"result type {op.type} does not match the inferred {expected}")
            if isinstance(op.type.elem, Fixed) or any(isinstance(v.type.elem, Fixed) for v in op.operands):
                _verify_fixed(op, attrs)
        defined.add(id(op.result))
    if not indices:
        _fail(None, f"module @{m.name} has no input op (a network needs at least one input)")
    if sorted(indices) != list(range(len(indices))):
        _fail(None, f"input indices must be 0..{len(indices) - 1}, got {sorted(indices)}")
    if T is None and any(ops.OPS[op.kind].stateful for op in m.ops):
        _fail(None, f"spiking module @{m.name} needs the module attribute T (timesteps)")
    for v in m.outputs:
        if id(v) not in defined:
            _fail(None, f"returned value %{v.name} is not defined in module @{m.name}")
