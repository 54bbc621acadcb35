"""Deterministic printer of the IR text format (grammar: spec/sir.lark).

Byte-for-byte round trip: `parse(m.to_text()).to_text() == m.to_text()`.
Floats print as the shortest decimal that reads back to the same float32/float64;
arrays of more than `INLINE_LIMIT` elements go to the `resources` section as
little-endian hex, so the body stays readable.
"""
from __future__ import annotations

import json
import re

import numpy as np

from sncc import ops
from sncc.ir import Module, Value
from sncc.types import F32, Fixed, Spike, TensorType

INLINE_LIMIT = 8
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_.$-]")


def array_type(arr: np.ndarray, declared: TensorType | None = None) -> TensorType:
    if declared is not None:
        return declared
    if arr.dtype == np.float32:
        return TensorType(arr.shape, F32())
    if arr.dtype.kind == "i":
        return TensorType(arr.shape, Fixed(arr.dtype.itemsize * 8, 0))
    if arr.dtype == np.uint8:
        return TensorType(arr.shape, Spike())
    raise TypeError(f"cannot print an array of dtype {arr.dtype}")


def format_float(v: float) -> str:
    s = repr(float(v))
    return s


def _format_scalar(x, is_float: bool) -> str:
    if is_float:
        return str(np.float32(x)) if isinstance(x, np.float32) else format_float(x)
    return str(int(x))


class _Namer:
    def __init__(self):
        self.names: dict[int, str] = {}
        self.used: set[str] = set()
        self.counter = 0

    def unique(self, hint: str | None) -> str:
        if hint:
            base = _BAD_CHARS.sub("_", hint)
        else:
            base = str(self.counter)
            self.counter += 1
        name, k = base, 1
        while name in self.used:
            name = f"{base}_{k}"
            k += 1
        self.used.add(name)
        return name

    def __call__(self, v: Value) -> str:
        return self.names[id(v)]


def print_module(m: Module, elide: bool = False) -> str:
    namer = _Namer()
    for op in m.ops:
        namer.names[id(op.result)] = namer.unique(op.result.name)
    res_names: set[str] = set()
    resources: list[tuple[str, np.ndarray]] = []

    def fmt_array(arr: np.ndarray, t: TensorType, hint: str) -> str:
        if elide and arr.size > INLINE_LIMIT:
            a = arr.astype(np.float64)
            stats = f"min {a.min():.4g}, max {a.max():.4g}, mean {a.mean():.4g}, std {a.std():.4g}"
            return f"elided<{arr.size} values: {stats}> : {t}"
        if arr.size <= INLINE_LIMIT:
            is_float = arr.dtype.kind == "f"
            flat = arr.reshape(-1)
            return "dense<[" + ", ".join(_format_scalar(x, is_float) for x in flat) + f"]> : {t}"
        name, k = hint, 1
        while name in res_names:
            name = f"{hint}_{k}"
            k += 1
        res_names.add(name)
        resources.append((name, arr))
        return f"dense_resource<{name}> : {t}"

    def fmt_value(v, hint: str, declared: TensorType | None = None) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        if isinstance(v, (float, np.floating)):
            return format_float(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(format_float(x) if isinstance(x, float) else str(int(x)) for x in v) + "]"
        if isinstance(v, np.ndarray):
            return fmt_array(v, array_type(v, declared), hint)
        raise TypeError(f"cannot print attribute value {v!r}")

    def fmt_attrs(attrs: dict, defaults: dict, hint: str, declared=None) -> str:
        items = []
        declared_keys = [k for k in defaults if k in attrs]
        extra = sorted(k for k in attrs if k not in defaults)
        for key in declared_keys + extra:
            v = attrs[key]
            d = defaults.get(key)
            if d is not None and d.default is not None and not isinstance(v, np.ndarray) and v == d.default:
                continue
            # only a const's `value` is printed with the op's type; any other array (a
            # discardable attribute) carries its own, or it would not parse back
            if declared is not None and key == "value":
                items.append(f"{key} = {fmt_value(v, hint, declared)}")
            else:
                items.append(f"{key} = {fmt_value(v, f'{hint}.{key}')}")
        return "{" + ", ".join(items) + "}" if items else ""

    lines = []
    mod_name = _BAD_CHARS.sub("_", m.name) or "model"
    if not (mod_name[0].isalpha() or mod_name[0] == "_"):
        mod_name = "_" + mod_name
    header = f"module @{mod_name}"
    mattrs = fmt_attrs(m.attrs, {}, "module")
    if mattrs:
        header += f" attributes {mattrs}"
    lines.append(header + " {")
    for op in m.ops:
        name = namer(op.result)
        text = f"  %{name} = {op.kind}"
        if op.operands or ops.OPS[op.kind].operands:
            text += "(" + ", ".join("%" + namer(v) for v in op.operands) + ")"
        attrs = fmt_attrs(op.attrs, ops.OPS[op.kind].attrs, name, op.type if op.kind == "const" else None)
        if attrs:
            text += " " + attrs
        text += f" : {op.type}"
        lines.append(text)
    lines.append("  return " + ", ".join("%" + namer(v) for v in m.outputs))
    lines.append("}")
    if resources:
        lines.append("")
        lines.append("resources {")
        for name, arr in resources:
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            lines.append(f"  {name} = 0x{data.hex()}")
        lines.append("}")
    return "\n".join(lines) + "\n"
