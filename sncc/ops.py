"""Declarations of every IR operation: operands, attributes, result type.

This table is the single place that says what an op *is*; its discrete-time
semantics are written in spec/ir.md (one section per op, same names) and
implemented by the reference interpreter (`sncc.interpreter`) and the backends.

Conventions (spec/ir.md "Conventions"): no batch dimension; images are CHW;
a 1-D tensor is a feature vector; per-channel attributes index axis 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from sncc.errors import VerificationError
from sncc.types import F32, Fixed, Spike, TensorType, f32, spike


# -- attribute declarations ---------------------------------------------------

@dataclass(frozen=True)
class Attr:
    """An attribute: its kind, default (None = required) and an optional range check."""

    kind: str  # int | float | bool | str | ints | floats | array | scalar_or_array
    default: Any = None
    choices: tuple[str, ...] = ()
    length: int | None = None  # for ints/floats
    check: Callable[[Any], str | None] | None = None  # returns an error text or None
    optional: bool = False  # may be absent (no default)


def _positive(v):
    vs = v if isinstance(v, list) else [v]
    return None if all(x >= 1 for x in vs) else "must be >= 1"


def _nonnegative(v):
    vs = v if isinstance(v, list) else [v]
    return None if all(x >= 0 for x in vs) else "must be >= 0"


def _positive_real(v):
    arr = np.asarray(v, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        return "must be finite"
    return None if np.all(arr > 0) else "must be > 0"


def _finite(v):
    return None if np.all(np.isfinite(np.asarray(v, dtype=np.float64))) else "must be finite"


def _f32(v) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(v, dtype=np.float64).astype(np.float32)


def _positive_f32(v):
    """For values an op rounds to f32 (section 4): finite and > 0 there too, so that
    1e300 does not become inf, nor 1e-50 become 0."""
    err = _positive_real(v)
    if err:
        return err
    return None if np.all(np.isfinite(_f32(v)) & (_f32(v) > 0)) else "must be representable in f32 (> 0 and at most 3.4e38)"


def _finite_f32(v):
    err = _finite(v)
    if err:
        return err
    return None if np.all(np.isfinite(_f32(v))) else "must be representable in f32 (|v| at most 3.4e38)"


# -- op declarations ----------------------------------------------------------

@dataclass(frozen=True)
class OpDef:
    name: str
    operands: tuple[str, ...]  # "x", "bias?" (optional, last), "inputs*" (variadic)
    attrs: dict[str, Attr] = field(default_factory=dict)
    infer: Callable[[list[TensorType], dict], TensorType] | None = None
    stateful: bool = False  # keeps state across timesteps (spiking ops)
    summary: str = ""

    def arity(self) -> tuple[int, int | None]:
        required = sum(1 for o in self.operands if not o.endswith(("?", "*")))
        if any(o.endswith("*") for o in self.operands):
            return required, None
        return required, len(self.operands)


OPS: dict[str, OpDef] = {}


def define(name, operands=(), attrs=None, stateful=False, summary=""):
    def wrap(infer):
        OPS[name] = OpDef(name, tuple(operands), attrs or {}, infer, stateful, summary)
        return infer

    return wrap


class TypeError_(VerificationError):
    pass


def _fail(msg: str):
    raise TypeError_(msg)


def _require_rank(t: TensorType, rank: int, what: str):
    if t.rank != rank:
        _fail(f"{what} must have rank {rank}, got {t}")


def _conv_out(size, k, stride, pad_lo, pad_hi, dil):
    out = (size + pad_lo + pad_hi - dil * (k - 1) - 1) // stride + 1
    if out < 1:
        _fail(f"window {k} (dilation {dil}) does not fit input size {size} with padding {pad_lo}+{pad_hi}")
    return out


def _result_elem(operands: list[TensorType]) -> Any:
    """Linear ops produce f32 from f32/spike inputs; fixed-point results are set by quantize."""
    return f32


# Source ops ---------------------------------------------------------------

@define("input", attrs={"index": Attr("int", check=_nonnegative)},
        summary="A model input (one sample; no batch dimension).")
def _input(ts, a):
    return None  # the declared type is the input's type


@define("const", attrs={"value": Attr("array")}, summary="A constant tensor (weights).")
def _const(ts, a):
    return None  # the declared type gives the element type of the stored integers/floats


# Linear layers --------------------------------------------------------------

@define("dense", operands=("x", "weight", "bias?"),
        summary="y[n] = sum_k W[n,k] x[k] + b[n]")
def _dense(ts, a):
    x, w = ts[0], ts[1]
    _require_rank(x, 1, "dense input (flatten first)")
    _require_rank(w, 2, "dense weight")
    if w.shape[1] != x.shape[0]:
        _fail(f"weight {w} does not match input {x}: need weight shape [N, {x.shape[0]}]")
    if len(ts) > 2 and ts[2].shape != (w.shape[0],):
        _fail(f"bias {ts[2]} must have shape [{w.shape[0]}]")
    return TensorType((w.shape[0],), _result_elem(ts))


@define("matmul", operands=("x", "weight"),
        summary="y[n] = sum_k x[k] W[k,n] (ONNX MatMul; canonicalize turns it into dense)")
def _matmul(ts, a):
    x, w = ts
    _require_rank(x, 1, "matmul input")
    _require_rank(w, 2, "matmul weight")
    if w.shape[0] != x.shape[0]:
        _fail(f"weight {w} does not match input {x}: need weight shape [{x.shape[0]}, N]")
    return TensorType((w.shape[1],), _result_elem(ts))


_CONV_ATTRS = {
    "strides": Attr("ints", [1, 1], length=2, check=_positive),
    "pads": Attr("ints", [0, 0, 0, 0], length=4, check=_nonnegative),
    "dilations": Attr("ints", [1, 1], length=2, check=_positive),
}


@define("conv2d", operands=("x", "weight", "bias?"),
        attrs={**_CONV_ATTRS, "groups": Attr("int", 1, check=_positive)},
        summary="2-D cross-correlation, CHW, ONNX Conv semantics; pads = [top, left, bottom, right]")
def _conv2d(ts, a):
    x, w = ts[0], ts[1]
    _require_rank(x, 3, "conv2d input (CHW)")
    _require_rank(w, 4, "conv2d weight (O, C/groups, kh, kw)")
    g = a["groups"]
    c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if c % g or o % g:
        _fail(f"groups={g} must divide input channels {c} and output channels {o}")
    if cg != c // g:
        _fail(f"weight {w} needs {c // g} input channels per group (input {x}, groups={g})")
    if len(ts) > 2 and ts[2].shape != (o,):
        _fail(f"bias {ts[2]} must have shape [{o}]")
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = a["strides"], a["pads"], a["dilations"]
    return TensorType((o, _conv_out(h, kh, sh, pt, pb, dh), _conv_out(wd, kw, sw, pl, pr, dw)), _result_elem(ts))


_POOL_ATTRS = {
    "kernel": Attr("ints", length=2, check=_positive),
    "strides": Attr("ints", [1, 1], length=2, check=_positive),
    "pads": Attr("ints", [0, 0, 0, 0], length=4, check=_nonnegative),
}


def _pool(ts, a):
    (x,) = ts
    _require_rank(x, 3, "pooling input (CHW)")
    c, h, w = x.shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr) = a["kernel"], a["strides"], a["pads"]
    d = a.get("dilations", [1, 1])
    if pt >= kh or pb >= kh or pl >= kw or pr >= kw:
        _fail(f"pads {a['pads']} must be smaller than the window {a['kernel']} (a window inside the padding has no input)")
    out = TensorType((c, _conv_out(h, kh, sh, pt, pb, d[0]), _conv_out(w, kw, sw, pl, pr, d[1])), x.elem)
    for size, s, p, dil, n in ((h, sh, pt, d[0], out.shape[1]), (w, sw, pl, d[1], out.shape[2])):
        i = _window_missing_input(size, s, p, dil, n)
        if i is not None:
            _fail(f"output position {i} of a window {a['kernel']} (dilation {d}) lies entirely in the padding")
    return out


def _window_missing_input(size: int, s: int, p: int, dil: int, n: int) -> int | None:
    """The first of the `n` windows along one axis (stride s, leading pad p < kernel, dilation
    dil) whose taps all fall in the padding, or None; O(1) however large the sizes.

    Window i's taps are start + j*dil (j < k) with start = i*s - p. With p < k no window
    starts past the input's end (the output-size formula stops before), so only windows
    starting in the leading padding (start < 0, i.e. i*s < p) can miss: their first tap at
    or after 0 is at (start mod dil), which is < k*dil away, and it is a real element iff
    (start mod dil) < size. That always holds when dil <= size; otherwise (dil > size,
    which the output-size formula allows only for tiny inputs) the residues repeat with
    period dil, so checking min(#windows starting in the padding, dil) windows suffices.
    """
    if dil <= size:
        return None
    for i in range(min(n, -(-p // s), dil)):
        if (i * s - p) % dil >= size:
            return i
    return None


define("avgpool2d", operands=("x",),
       attrs={**_POOL_ATTRS, "count_include_pad": Attr("bool", False)},
       summary="Mean over each window (padding excluded from the count unless count_include_pad)")(
    lambda ts, a: _pool(ts, a).with_elem(f32))

define("maxpool2d", operands=("x",),
       attrs={**_POOL_ATTRS, "dilations": Attr("ints", [1, 1], length=2, check=_positive)},
       summary="Maximum over each window; padding never wins")(_pool)


@define("global_avgpool", operands=("x",), summary="y[c,0,0] = mean over h,w of x[c,h,w]")
def _gap(ts, a):
    (x,) = ts
    _require_rank(x, 3, "global_avgpool input (CHW)")
    return TensorType((x.shape[0], 1, 1), f32)


@define("batchnorm", operands=("x", "scale", "bias", "mean", "var"),
        attrs={"epsilon": Attr("float", 1e-5, check=_positive_f32)},
        summary="y = scale[c] (x - mean[c]) / sqrt(var[c] + eps) + bias[c] (inference form)")
def _batchnorm(ts, a):
    x = ts[0]
    if x.rank < 1:
        _fail(f"input {x} needs a channel axis")
    for t, what in zip(ts[1:], ("scale", "bias", "mean", "var")):
        if t.shape != (x.shape[0],):
            _fail(f"batchnorm {what} {t} must have shape [{x.shape[0]}] (channels of {x})")
    return x.with_elem(f32)


# Elementwise and shape ops --------------------------------------------------

def _broadcast(ts):
    try:
        shape = np.broadcast_shapes(*[t.shape for t in ts])
    except ValueError:
        _fail("operands " + ", ".join(map(str, ts)) + " do not broadcast")
    if shape != ts[0].shape:
        _fail(f"result shape {shape} must equal the first operand's {ts[0]} (broadcast only the second)")
    return TensorType(shape, f32)


define("add", operands=("a", "b"), summary="a + b (b broadcast to a, numpy rules)")(lambda ts, a: _broadcast(ts))
define("mul", operands=("a", "b"), summary="a * b (b broadcast to a, numpy rules)")(lambda ts, a: _broadcast(ts))


@define("relu", operands=("x",), summary="max(x, 0)")
def _relu(ts, a):
    return ts[0].with_elem(f32) if isinstance(ts[0].elem, Spike) else ts[0]


@define("clip", operands=("x",), attrs={"min": Attr("float", float("-inf")), "max": Attr("float", float("inf"))},
        summary="min(max(x, min), max)")
def _clip(ts, a):
    if not a["min"] <= a["max"]:
        _fail(f"min {a['min']} must not exceed max {a['max']}")
    return ts[0]


@define("qcfs", operands=("x",),
        attrs={"threshold": Attr("float", check=_positive_f32), "levels": Attr("int", check=_positive)},
        summary="lambda/L * clip(floor(x L / lambda + 1/2), 0, L)  (Bu et al. 2022)")
def _qcfs(ts, a):
    lam, L = a["threshold"], a["levels"]
    up, down = _f32(L / lam), _f32(lam / L)  # the f32 factors of section 4 `qcfs`
    if not (np.isfinite(up) and np.isfinite(down) and up > 0 and down > 0):
        _fail(f"levels/threshold = {L}/{lam!r} overflows or underflows f32; use a threshold nearer 1")
    return ts[0].with_elem(f32)


@define("identity", operands=("x",), summary="x")
def _identity(ts, a):
    return ts[0]


@define("dropout", operands=("x",), attrs={"ratio": Attr("float", 0.5, check=lambda r: None if 0 <= r < 1 else "must be in [0, 1)")}, summary="x (inference)")
def _dropout(ts, a):
    return ts[0]


@define("flatten", operands=("x",), summary="the sample as a vector, C order")
def _flatten(ts, a):
    return ts[0].with_shape((ts[0].size,))


@define("reshape", operands=("x",), attrs={"shape": Attr("ints", check=_positive)},
        summary="the same elements in C order, new shape")
def _reshape(ts, a):
    shape = tuple(a["shape"])
    if math.prod(shape) != ts[0].size:  # exact: an int64 product can wrap
        _fail(f"cannot reshape {ts[0]} ({ts[0].size} elements) to {list(shape)}")
    return ts[0].with_shape(shape)


@define("transpose", operands=("x",), attrs={"perm": Attr("ints")}, summary="axes permuted (numpy transpose)")
def _transpose(ts, a):
    perm = a["perm"]
    if sorted(perm) != list(range(ts[0].rank)):
        _fail(f"perm {perm} is not a permutation of the {ts[0].rank} axes of {ts[0]}")
    return ts[0].with_shape([ts[0].shape[p] for p in perm])


@define("concat", operands=("inputs*",), attrs={"axis": Attr("int", check=_nonnegative)},
        summary="operands joined along axis")
def _concat(ts, a):
    if not ts:
        _fail("needs at least one operand")
    ax = a["axis"]
    first = ts[0]
    if ax >= first.rank:
        _fail(f"axis {ax} out of range for {first}")
    for t in ts[1:]:
        if t.rank != first.rank or any(t.shape[i] != first.shape[i] for i in range(t.rank) if i != ax):
            _fail(f"operand {t} does not match {first} outside axis {ax}")
    shape = list(first.shape)
    shape[ax] = sum(t.shape[ax] for t in ts)
    elems = {t.elem for t in ts}
    return TensorType(shape, first.elem if len(elems) == 1 else f32)


# Spiking ops (stateful: run once per timestep, t = 0 .. T-1) -----------------

@define("encode", operands=("x",), stateful=True,
        attrs={"mode": Attr("str", "constant", choices=("constant", "rate")),
               "seed": Attr("int", 0, check=lambda s: None if 0 <= s < 2**32 else "must be in 0..2**32-1")},
        summary="constant: the input as a current every step; rate: Bernoulli spikes from xorshift32")
def _encode(ts, a):
    if a["mode"] == "rate":
        return ts[0].with_elem(spike)
    return ts[0] if isinstance(ts[0].elem, Fixed) else ts[0].with_elem(f32)


@define("if", operands=("x",), stateful=True,
        attrs={"threshold": Attr("scalar_or_array", check=_positive_f32),
               "reset": Attr("str", "subtract", choices=("subtract", "zero")),
               "v0": Attr("scalar_or_array", 0.0, check=_finite_f32),
               "vbits": Attr("int", 0, check=lambda b: None if b == 0 or 2 <= b <= 63 else "must be 0 or in 2..63")},
        summary="v += x; s = v >= threshold; v -= s*threshold (or v = 0 where s); emit s")
def _if(ts, a):
    x = ts[0]
    if x.rank < 1:
        _fail(f"input {x} needs at least one axis")
    for key in ("threshold", "v0"):
        v = a[key]
        if isinstance(v, np.ndarray) and v.shape not in ((x.shape[0],), x.shape):
            _fail(f"{key} of shape {list(v.shape)} must be a scalar, per channel [{x.shape[0]}] or full {list(x.shape)}")
    return x.with_elem(spike)


define("gated_maxpool2d", operands=("x",), stateful=True,
       attrs={**_POOL_ATTRS, "dilations": Attr("ints", [1, 1], length=2, check=_positive)},
       summary="spiking max pooling: per window, pass on the input with the largest sum so far")(_pool)


@define("readout", operands=("x",), stateful=True,
        attrs={"mode": Attr("str", "membrane", choices=("membrane", "count"))},
        summary="the sum over all T timesteps of x (membrane: currents; count: spikes)")
def _readout(ts, a):
    if a["mode"] == "count" and not isinstance(ts[0].elem, Spike):
        _fail(f"count readout needs spikes, got {ts[0]}")
    return ts[0].with_elem(f32)


# -- fixed point (spec/ir.md section 6): the fraction bits of each result -----------

def frac_bits(t: TensorType) -> int | None:
    """F of a fixed-point value; 0 for spikes; None for f32."""
    if isinstance(t.elem, Fixed):
        return t.elem.frac
    return 0 if isinstance(t.elem, Spike) else None


def _pow2_window(kind: str, x: TensorType, a: dict) -> int:
    if kind == "global_avgpool":
        n = x.shape[1] * x.shape[2]
    else:
        if any(a["pads"]) and not a["count_include_pad"]:
            raise TypeError_("a padded window that excludes the padding has no fixed-point form (count varies)")
        n = a["kernel"][0] * a["kernel"][1]
    s = n.bit_length() - 1
    if n != 1 << s:
        raise TypeError_(f"a window of {n} elements is not a power of two: no exact fixed-point average")
    return s


def result_frac(kind: str, ts: list[TensorType], a: dict) -> int | None:
    """The fraction bits the result of a fixed-point op must have (None: not determined)."""
    fs = [frac_bits(t) for t in ts]
    if any(f is None for f in fs):
        return None
    if kind in ("dense", "conv2d", "mul", "matmul"):
        return fs[0] + fs[1]
    if kind in ("avgpool2d", "global_avgpool"):
        return fs[0] + _pow2_window(kind, ts[0], a)
    if kind in ("add", "concat"):
        return max(fs)
    if kind in ("flatten", "reshape", "transpose", "identity", "dropout", "gated_maxpool2d", "maxpool2d",
                "readout", "encode"):
        return 0 if kind == "readout" and a.get("mode") == "count" else fs[0]
    return None


# -- checks used by Module.add and the verifier ---------------------------------

def opdef(kind: str) -> OpDef:
    try:
        return OPS[kind]
    except KeyError:
        raise VerificationError(f"unknown op '{kind}'; known ops: {', '.join(sorted(OPS))}") from None


def _coerce_attr(kind_name: str, key: str, spec: Attr, v: Any) -> Any:
    where = f"'{kind_name}' op: attribute '{key}'"
    k = spec.kind
    if k == "int":
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise VerificationError(f"{where} must be an integer, got {v!r}")
        return int(v)
    if k == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise VerificationError(f"{where} must be a number, got {v!r}")
        return float(v)
    if k == "bool":
        if not isinstance(v, (bool, np.bool_)):
            raise VerificationError(f"{where} must be true or false, got {v!r}")
        return bool(v)
    if k == "str":
        if not isinstance(v, str) or (spec.choices and v not in spec.choices):
            raise VerificationError(f"{where} must be one of {', '.join(spec.choices)}; got {v!r}")
        return v
    if k in ("ints", "floats"):
        if not isinstance(v, (list, tuple)):
            raise VerificationError(f"{where} must be a list, got {v!r}")
        if k == "ints" and any(isinstance(x, (float, np.floating, bool)) for x in v):
            raise VerificationError(f"{where} must be a list of integers, got {v!r}")
        conv = int if k == "ints" else float
        out = [conv(x) for x in v]
        if spec.length is not None and len(out) != spec.length:
            raise VerificationError(f"{where} must have {spec.length} elements, got {len(out)}")
        return out
    if k == "array":
        if not isinstance(v, np.ndarray):
            raise VerificationError(f"{where} must be an array")
        return v
    if k == "scalar_or_array":
        if isinstance(v, np.ndarray):
            return v.reshape(()).item() if v.ndim == 0 else np.ascontiguousarray(v, dtype=np.float32)
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return float(v)
        raise VerificationError(f"{where} must be a number or an array, got {v!r}")
    raise AssertionError(k)


def complete_attrs(kind: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """Attributes with defaults filled in and values coerced to their declared kind."""
    d = opdef(kind)
    unknown = {k for k in attrs if k not in d.attrs and "." not in k}
    if unknown:
        raise VerificationError(f"'{kind}' op: unknown attribute(s) {', '.join(sorted(unknown))}; "
                                f"it takes: {', '.join(d.attrs) or 'none'}")
    out = {}
    for key, spec in d.attrs.items():
        if key in attrs:
            v = _coerce_attr(kind, key, spec, attrs[key])
        elif spec.default is not None:
            v = list(spec.default) if isinstance(spec.default, list) else spec.default
        elif spec.optional:
            continue
        else:
            raise VerificationError(f"'{kind}' op: missing required attribute '{key}'")
        if spec.check is not None:
            err = spec.check(v)
            if err:
                raise VerificationError(f"'{kind}' op: attribute '{key}' {err} (got {v if not isinstance(v, np.ndarray) else 'array'})")
        out[key] = v
    for key in sorted(k for k in attrs if "." in k):  # discardable (e.g. calib.max): kept as given
        out[key] = attrs[key]
    return out


def infer_type(kind: str, operand_types: list[TensorType], attrs: dict[str, Any]) -> TensorType:
    d = opdef(kind)
    lo, hi = d.arity()
    n = len(operand_types)
    if n < lo or (hi is not None and n > hi):
        want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
        raise VerificationError(f"'{kind}' op takes {want} operands ({', '.join(d.operands)}), got {n}")
    try:
        result = d.infer(operand_types, attrs)
    except TypeError_ as e:
        raise VerificationError(f"'{kind}' op: {e}") from None
    if result is None:
        raise VerificationError(f"'{kind}' op needs an explicit result type")
    return result
