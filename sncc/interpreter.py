"""The reference interpreter: a plain numpy executor of the IR (spec/ir.md).

It is the first rung of the verification ladder (onnxruntime -> this -> fixed-point
simulation -> RTL): written for clarity, not speed, and used to check everything else.
Float modules run once; spiking modules (with `encode`/`if`/`readout` ops) run
T = module.attrs["T"] timesteps, ops in order each step, state kept per op.

    >>> import numpy as np, sncc
    >>> m = sncc.ir.parse('''
    ... module @m {
    ...   %x = input {index = 0} : tensor<3xf32>
    ...   %y = relu(%x) : tensor<3xf32>
    ...   return %y
    ... }''')
    >>> sncc.interpret(m, np.array([[-1.0, 0.5, 2.0]], dtype=np.float32))
    array([[0. , 0.5, 2. ]], dtype=float32)
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from sncc.errors import SnccError
from sncc.ir import Module, Operation
from sncc.limits import MAX_T, short
from sncc.types import Fixed

# -- float kernels; every array carries a leading batch axis (constants: size 1) --


def _per_channel(a, x: np.ndarray) -> np.ndarray | float:
    """A scalar or a per-channel (axis 0 of the sample) parameter, broadcast against batched x."""
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return np.float32(a)
    if a.shape == x.shape[1:]:
        return a
    return a.reshape((a.shape[0],) + (1,) * (x.ndim - 2))


def _per_channel64(a, x: np.ndarray) -> np.ndarray:
    """As `_per_channel`, in float64 and without rounding a scalar to f32 (fixed point)."""
    a = np.asarray(a, dtype=np.float64)
    return a if a.ndim == 0 else np.asarray(_per_channel(a, x))


def _windows(x, kernel, strides, pads, dilations, pad_value):
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
    win = _windows(x, (kh, kw), strides, pads, dilations, 0.0)
    Ho, Wo = win.shape[2:4]
    win = win.reshape(B, groups, Cg, Ho, Wo, kh, kw)
    wg = w.reshape(groups, O // groups, Cg, kh, kw)
    y = np.einsum("bgchwij,gocij->bgohw", win, wg, optimize=True).reshape(B, O, Ho, Wo)
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    return y if y.dtype.kind == "i" else y.astype(np.float32, copy=False)


def avgpool2d(x, kernel, strides, pads, count_include_pad):
    s = _windows(x, kernel, strides, pads, (1, 1), 0.0).sum(axis=(-2, -1), dtype=np.float32)
    if count_include_pad or not any(pads):
        return s / np.float32(kernel[0] * kernel[1])
    ones = np.ones((1, 1) + x.shape[2:], dtype=np.float32)
    count = _windows(ones, kernel, strides, pads, (1, 1), 0.0).sum(axis=(-2, -1))
    return (s / count).astype(np.float32)


def maxpool2d(x, kernel, strides, pads, dilations):
    return _windows(x, kernel, strides, pads, dilations, -np.inf).max(axis=(-2, -1))


def _align(b: np.ndarray, rank: int) -> np.ndarray:
    """Insert axes after the batch axis so numpy broadcasts the sample shapes right-aligned."""
    return b.reshape(b.shape[:1] + (1,) * (rank - b.ndim) + b.shape[1:])


def qcfs(x, lam, L):
    return (np.float32(lam / L) * np.clip(np.floor(x * np.float32(L / lam) + np.float32(0.5)), 0, L)).astype(np.float32)


def _float_op(op: Operation, args: list[np.ndarray]) -> np.ndarray:
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
        return ((x - _per_channel(mean, x)) * _per_channel(f, x) + _per_channel(bias, x)).astype(np.float32)
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

def _frac(t) -> int:
    return t.elem.frac if isinstance(t.elem, Fixed) else 0


def _fixed_op(op: Operation, args: list[np.ndarray]) -> np.ndarray:
    """Section 6: what differs from the float semantics; the rest (dense, conv2d, mul and
    data movement) is the same code as `_float_op`, exact on int64 (numpy integer products
    do not go through BLAS)."""
    a, k = op.attrs, op.kind
    if k == "const":
        return a["value"].astype(np.int64)[None]
    if k == "avgpool2d":  # a power-of-two window: the sum, with log2(n) more fraction bits
        return _windows(args[0], a["kernel"], a["strides"], a["pads"], (1, 1), 0).sum(axis=(-2, -1))
    if k == "global_avgpool":
        return args[0].sum(axis=(2, 3), keepdims=True)
    if k in ("add", "concat"):  # align every operand to the result's fraction bits
        F = _frac(op.type)
        args = [v << (F - _frac(o.type)) for v, o in zip(args, op.operands)]
    if k in ("dense", "conv2d", "add", "concat", "mul", "identity", "dropout", "flatten", "reshape", "transpose"):
        return _float_op(op, args)
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


def quantize_input(x: np.ndarray, t) -> np.ndarray:
    """The integers a quantized module's input of type `t` receives (spec/ir.md section 6)."""
    F = t.elem.frac
    q = np.floor(x.astype(np.float64) * 2.0**F + 0.5)
    return np.clip(q, t.elem.min_int, t.elem.max_int).astype(np.int64)


# -- spiking semantics ------------------------------------------------------------

def prng_initial_state(seed: int) -> int:
    """The xorshift32 state an encoder starts from (spec/ir.md 5.2): murmur3's fmix32 of
    seed ^ 0x9E3779B9, so that nearby seeds give unrelated streams; 0 (a fixed point of
    xorshift) becomes 1."""
    h = (seed ^ 0x9E3779B9) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h or 1


def xorshift32_stream(seed: int, count: int) -> np.ndarray:
    """The rate encoder's random numbers (spec/ir.md 5.2): `count` successive xorshift32
    states (shifts 13, 17, 5) after the initial state of `seed`, as uint32."""
    out = np.empty(count, dtype=np.uint32)
    s = prng_initial_state(seed)
    for i in range(count):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out[i] = s
    return out


class _State:
    """Per-op state of a spiking run over a batch."""

    def __init__(self):
        self.v: dict[int, np.ndarray] = {}


def _spiking_op(op: Operation, args, state: _State, t: int, T: int, cache: dict) -> np.ndarray:
    a = op.attrs
    x = args[0]
    key = id(op)
    fixed = x.dtype == np.int64
    if op.kind == "encode":
        if a["mode"] == "constant":
            return x
        n = int(np.prod(x.shape[1:]))
        ck = ("prng", a["seed"], n, T)
        if ck not in cache:
            u = xorshift32_stream(a["seed"], n * T) >> np.uint32(8)
            cache[ck] = u.reshape(T, *x.shape[1:]).astype(np.float64)
        if fixed:
            F = _frac(op.operands[0].type)
            p = np.clip(x, 0, 1 << F) << (24 - F)
            return (cache[ck][t][None] < p).astype(np.int64)
        p = np.clip(x.astype(np.float64), 0.0, 1.0) * float(1 << 24)
        return (cache[ck][t][None] < p).astype(np.float32)
    if op.kind == "if" and fixed:
        xt = op.operands[0].type
        # per neuron in double precision: a scalar attribute is a double (section 3.2) and
        # theta * 2^F, v0 * 2^F are taken of the value as held, not of its f32 rounding
        th, v0 = neuron_integers(_per_channel64(a["threshold"], x), _per_channel64(a["v0"], x), _frac(xt),
                                 a["vbits"], xt.elem.width if isinstance(xt.elem, Fixed) else 1)
        if key not in state.v:
            state.v[key] = np.broadcast_to(v0, x.shape).copy()
        lim = 1 << (a["vbits"] - 1)
        v = np.clip(state.v[key] + x, -lim, lim - 1)
        s = v >= th
        v = v - np.where(s, th, 0) if a["reset"] == "subtract" else np.where(s, 0, v)
        state.v[key] = v
        return s.astype(np.int64)
    if op.kind == "if":
        th = _per_channel(a["threshold"], x)
        if key not in state.v:
            state.v[key] = np.broadcast_to(_per_channel(a["v0"], x), x.shape).astype(np.float32)
        v = state.v[key] + x
        s = v >= th
        if a["reset"] == "subtract":
            v = v - np.where(s, th, np.float32(0)).astype(np.float32)
        else:
            v = np.where(s, np.float32(0), v)
        state.v[key] = v.astype(np.float32)
        return s.astype(np.float32)
    if op.kind == "gated_maxpool2d":
        acc = state.v.get(key)
        acc = (x.astype(np.int64) if fixed else x.astype(np.float32)) if acc is None else acc + x
        state.v[key] = acc
        k, s, p, d = a["kernel"], a["strides"], a["pads"], a["dilations"]
        lowest = -np.inf if acc.dtype.kind == "f" else np.iinfo(acc.dtype).min  # padding never wins
        win_acc = _windows(acc, k, s, p, d, lowest)
        flat = win_acc.reshape(win_acc.shape[:4] + (-1,))
        choice = flat.argmax(axis=-1)[..., None]  # first maximum in row-major window order
        win_x = _windows(x, k, s, p, d, 0).reshape(flat.shape)
        return np.take_along_axis(win_x, choice, axis=-1)[..., 0]
    if op.kind == "readout":
        acc = state.v.get(key)
        state.v[key] = (x.astype(np.int64) if fixed else x.astype(np.float32)) if acc is None else acc + x
        return state.v[key]
    raise AssertionError(op.kind)


def _static_ops(m: Module) -> set[int]:
    """Ops whose value is the same at every timestep (computed once: e.g. the first
    layer's current under constant-current encoding)."""
    static: set[int] = set()
    for op in m.ops:
        time_invariant = op.kind in ("input", "const") or (op.kind == "encode" and op.attrs["mode"] == "constant")
        from sncc.ops import OPS

        if time_invariant or (not OPS[op.kind].stateful and all(id(v.owner) in static for v in op.operands)):
            static.add(id(op))
    return static


def interpret(module: Module, *inputs: np.ndarray, T: int | None = None,
              observer: Callable[[Operation, np.ndarray], None] | None = None,
              snapshots: list[int] | None = None):
    """Run `module` on a batch (leading axis) of inputs; returns the output(s) as float32.

    Spiking modules run `T` timesteps (default: the module's `T` attribute) and return
    the readouts. `observer(op, value)` is called with every op's value (once per
    timestep for spiking modules): the calibration pass uses it.

    `snapshots=[1, 2, 4, ...]` (spiking modules) returns {t: outputs after t timesteps}
    from a single run of max(snapshots) steps: no op depends on T, so the first t steps of
    a long run are exactly a run of t steps.
    """
    ins = module.inputs
    quantized = any(isinstance(v.type.elem, Fixed) for v in ins)
    if len(inputs) != len(ins):
        raise SnccError(f"module @{module.name} takes {len(ins)} input(s), got {len(inputs)}")
    env_in = {}
    for v, x in zip(ins, inputs):
        x = np.asarray(x)
        if x.shape[1:] != v.type.shape:
            if x.shape == v.type.shape:
                raise SnccError(f"input %{v.name}: got one sample of shape {list(x.shape)}; "
                                f"interpret() takes a batch: add a leading axis, shape {[1] + list(x.shape)}")
            raise SnccError(f"input %{v.name}: expected a batch of shape [N, {', '.join(map(str, v.type.shape))}], "
                            f"got {list(x.shape)}")
        if quantized and not np.all(np.isfinite(x)):
            raise SnccError(f"input %{v.name} contains NaN or infinite values")
        env_in[id(v)] = quantize_input(x, v.type) if quantized else x.astype(np.float32, copy=False)
    stateless = _fixed_op if quantized else _float_op

    def run_step(env: dict, t: int, only_static: bool, state: _State | None, cache: dict):
        for op in module.ops:
            key = id(op.result)
            if key in env:
                continue
            if only_static and id(op) not in static:
                continue
            if op.kind == "input":
                val = env_in[key]
            else:
                args = [env[id(v)] for v in op.operands]
                if state is not None and OPS[op.kind].stateful:
                    val = _spiking_op(op, args, state, t, T, cache)
                else:
                    val = stateless(op, args)
            env[key] = val
            if observer is not None:
                observer(op, val)

    from sncc.ops import OPS

    outs: list[np.ndarray]
    if not module.is_spiking:
        env: dict = {}
        static = set()
        run_step(env, 0, False, None, {})
        outs = [env[id(v)] for v in module.outputs]
    else:
        if snapshots:
            T = max(snapshots)
        T = T if T is not None else module.attrs.get("T")
        if not isinstance(T, int) or not 1 <= T <= MAX_T:
            raise SnccError(f"spiking module @{module.name} needs a number of timesteps T in 1..{MAX_T}, got {short(T)}")
        static = _static_ops(module)
        state, cache = _State(), {}
        base: dict = {}
        run_step(base, 0, True, state, cache)
        taken = {}
        for t in range(T):
            env = dict(base)
            run_step(env, t, False, state, cache)
            if snapshots and t + 1 in snapshots:
                taken[t + 1] = [np.array(env[id(v)]) for v in module.outputs]
        outs = [env[id(v)] for v in module.outputs]
    batch = max(x.shape[0] for x in env_in.values()) if env_in else 1

    def finish(outs):
        if quantized:  # integers q of type fx<W,F> as q * 2^-F: exact in float64
            outs = [np.broadcast_to(o, (batch,) + o.shape[1:]) * 2.0 ** -_frac(v.type) for o, v in zip(outs, module.outputs)]
            return outs[0] if len(outs) == 1 else tuple(outs)
        outs = [np.broadcast_to(o, (batch,) + o.shape[1:]).astype(np.float32) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    if snapshots:
        if not module.is_spiking:
            raise SnccError("snapshots are for spiking modules")
        return {t: finish(o) for t, o in sorted(taken.items())}
    return finish(outs)
