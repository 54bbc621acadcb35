"""The array semantics of every stateless op (spec/ir.md sections 4 and 6), batch-first numpy.

One public module that both executors use: the reference interpreter (`sncc.interpreter`)
and the CPU simulator's fixed-point fallbacks (`sncc.backends.cpu`), so there is one
implementation of each op's integer arithmetic, and the independent golden model
(`tests/golden`, written from the spec, importing nothing from sncc) checks it. Every array
carries a leading batch axis (constants: size 1).

    >>> import numpy as np
    >>> windows(np.arange(16.0).reshape(1, 1, 4, 4), (2, 2), (2, 2), (0, 0, 0, 0), (1, 1), 0.0).sum(axis=(-2, -1))
    array([[[[10., 18.],
             [42., 50.]]]])
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sncc.errors import SnccError
from sncc.ir import Operation
from sncc.types import Fixed

# -- float kernels; every array carries a leading batch axis (constants: size 1) --


def per_channel(a, x: np.ndarray) -> np.ndarray | float:
    """A scalar or a per-channel (axis 0 of the sample) parameter, broadcast against batched x."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return np.float32(a)
    if a.shape == x.shape[1:]:
        return a
    return a.reshape((a.shape[0],) + (1,) * (x.ndim - 2))


def per_channel64(a, x: np.ndarray) -> np.ndarray:
    """As `_per_channel`, in float64 and without rounding a scalar to f32 (fixed point)."""
    a = np.asarray(a, dtype=np.float64)
    return a if a.ndim == 0 else np.asarray(per_channel(a, x))


def windows(x, kernel, strides, pads, dilations, pad_value):
    """[B, C, Ho, Wo, kh, kw] views of the padded input (ONNX pooling/conv windows)."""
    pt, pl, pb, pr = pads
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)), constant_values=pad_value)
    kh, kw = kernel
    dh, dw = dilations
    win = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    return win[:, :, :: strides[0], :: strides[1], ::dh, ::dw]


def conv2d(x, w, b, strides, pads, dilations, groups):
    B, C = x.shape[:2]
    O, Cg, kh, kw = w.shape
    win = windows(x, (kh, kw), strides, pads, dilations, 0.0)
    Ho, Wo = win.shape[2:4]
    win = win.reshape(B, groups, Cg, Ho, Wo, kh, kw)
    wg = w.reshape(groups, O // groups, Cg, kh, kw)
    y = np.einsum("bgchwij,gocij->bgohw", win, wg, optimize=True).reshape(B, O, Ho, Wo)
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    return y if y.dtype.kind == "i" else y.astype(np.float32, copy=False)


def avgpool2d(x, kernel, strides, pads, count_include_pad):
    s = windows(x, kernel, strides, pads, (1, 1), 0.0).sum(axis=(-2, -1), dtype=np.float32)
    if count_include_pad or not any(pads):
        return s / np.float32(kernel[0] * kernel[1])
    ones = np.ones((1, 1) + x.shape[2:], dtype=np.float32)
    count = windows(ones, kernel, strides, pads, (1, 1), 0.0).sum(axis=(-2, -1))
    return (s / count).astype(np.float32)


def maxpool2d(x, kernel, strides, pads, dilations):
    return windows(x, kernel, strides, pads, dilations, -np.inf).max(axis=(-2, -1))


def _align(b: np.ndarray, rank: int) -> np.ndarray:
    """Insert axes after the batch axis so numpy broadcasts the sample shapes right-aligned."""
    return b.reshape(b.shape[:1] + (1,) * (rank - b.ndim) + b.shape[1:])


def qcfs(x, lam, L):
    return (np.float32(lam / L) * np.clip(np.floor(x * np.float32(L / lam) + np.float32(0.5)), 0, L)).astype(np.float32)


def float_op(op: Operation, args: list[np.ndarray]) -> np.ndarray:
    a = op.attrs
    k = op.kind
    x = args[0] if args else None
    if k == "const":
        return a["value"][None]
    if k == "dense":
        y = x @ args[1][0].T
        return y + args[2] if len(args) > 2 else y
    if k == "matmul":
        return x @ args[1][0]
    if k == "conv2d":
        return conv2d(x, args[1][0], args[2][0] if len(args) > 2 else None, a["strides"], a["pads"], a["dilations"], a["groups"])
    if k == "avgpool2d":
        return avgpool2d(x, a["kernel"], a["strides"], a["pads"], a["count_include_pad"])
    if k == "maxpool2d":
        return maxpool2d(x, a["kernel"], a["strides"], a["pads"], a["dilations"])
    if k == "global_avgpool":
        return x.mean(axis=(2, 3), keepdims=True, dtype=np.float32)
    if k == "batchnorm":
        scale, bias, mean, var = (p[0] for p in args[1:])
        f = (scale / np.sqrt(var + np.float32(a["epsilon"]))).astype(np.float32)
        return ((x - per_channel(mean, x)) * per_channel(f, x) + per_channel(bias, x)).astype(np.float32)
    if k == "add":
        return x + _align(args[1], x.ndim)
    if k == "mul":
        return x * _align(args[1], x.ndim)
    if k == "relu":
        return np.maximum(x, np.float32(0))
    if k == "clip":
        return np.clip(x, np.float32(a["min"]), np.float32(a["max"]))
    if k == "qcfs":
        return qcfs(x, a["threshold"], a["levels"])
    if k in ("identity", "dropout"):
        return x
    if k == "flatten":
        return x.reshape(x.shape[0], -1)
    if k == "reshape":
        return x.reshape((x.shape[0],) + tuple(a["shape"]))
    if k == "transpose":
        return x.transpose([0] + [p + 1 for p in a["perm"]])
    if k == "concat":
        n = max(v.shape[0] for v in args)
        return np.concatenate([np.broadcast_to(v, (n,) + v.shape[1:]) for v in args], axis=a["axis"] + 1)
    raise SnccError(f"the reference interpreter cannot execute {op.describe()}")


# -- fixed-point semantics (spec/ir.md section 6): exact int64 arithmetic ----------

def frac(t) -> int:
    return t.elem.frac if isinstance(t.elem, Fixed) else 0


def fixed_op(op: Operation, args: list[np.ndarray]) -> np.ndarray:
    """Section 6: what differs from the float semantics; the rest (dense, conv2d, mul and
    data movement) is the same code as `float_op`, exact on int64 (numpy integer products
    do not go through BLAS)."""
    a, k = op.attrs, op.kind
    if k == "const":
        return a["value"].astype(np.int64)[None]
    if k == "avgpool2d":  # a power-of-two window: the sum, with log2(n) more fraction bits
        return windows(args[0], a["kernel"], a["strides"], a["pads"], (1, 1), 0).sum(axis=(-2, -1))
    if k == "global_avgpool":
        return args[0].sum(axis=(2, 3), keepdims=True)
    if k in ("add", "concat"):  # align every operand to the result's fraction bits
        F = frac(op.type)
        args = [v << (F - frac(o.type)) for v, o in zip(args, op.operands)]
    if k in ("dense", "conv2d", "add", "concat", "mul", "identity", "dropout", "flatten", "reshape", "transpose"):
        return float_op(op, args)
    raise SnccError(f"{op.describe()} has no fixed-point semantics (spec/ir.md section 6)")


def neuron_integers(threshold, v0, F: int, vbits: int, x_width: int) -> tuple[np.ndarray, np.ndarray]:
    """theta_q = theta * 2^F and v0_q = floor(v0 * 2^F + 1/2) of a fixed-point `if`
    (spec/ir.md section 6) as int64 arrays of the shapes of `threshold`, `v0`, exactly:

    * v0 * 2^F + 1/2 is not evaluated in double precision, where it can round up to the
      next integer (0.49999999999999994 + 0.5 == 1.0): floor(v) + (v - floor(v) >= 1/2) is
      exact (v = v0 * 2^F is exact, and so is v - floor(v));
    * values that int64 cannot hold are clamped where that changes nothing: a threshold
      above the membrane's maximum 2^(vbits-1)-1 is never reached, and a v0_q beyond
      +-(2^(vbits-1) + 2^(x_width-1)) saturates at the first step whatever the input
      (|x_q| <= 2^(x_width-1)) (exact for x_width <= 61; wider inputs clamp at +-2^62)."""
    th = np.ldexp(np.asarray(threshold, dtype=np.float64), F)
    th = np.minimum(th, 2.0 ** (vbits - 1)).astype(np.int64)
    v = np.ldexp(np.asarray(v0, dtype=np.float64), F)
    low = np.floor(v)
    q = low + (v - low >= 0.5)
    lim = min(2.0 ** (vbits - 1) + 2.0 ** (x_width - 1), 2.0 ** 62)
    return th, np.clip(q, -lim, lim).astype(np.int64)


