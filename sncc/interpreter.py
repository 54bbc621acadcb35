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

from sncc.errors import SnccError
from sncc.ir import Module, Operation
from sncc.limits import MAX_T, short
from sncc.types import Fixed

from sncc.semantics import (  # noqa: F401  (the op semantics; re-exported for callers of the interpreter)
    avgpool2d, conv2d, fixed_op, float_op, frac, maxpool2d, neuron_integers, per_channel, per_channel64, qcfs, windows)

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
            F = frac(op.operands[0].type)
            p = np.clip(x, 0, 1 << F) << (24 - F)
            return (cache[ck][t][None] < p).astype(np.int64)
        p = np.clip(x.astype(np.float64), 0.0, 1.0) * float(1 << 24)
        return (cache[ck][t][None] < p).astype(np.float32)
    if op.kind == "if" and fixed:
        xt = op.operands[0].type
        # per neuron in double precision: a scalar attribute is a double (section 3.2) and
        # theta * 2^F, v0 * 2^F are taken of the value as held, not of its f32 rounding
        th, v0 = neuron_integers(per_channel64(a["threshold"], x), per_channel64(a["v0"], x), frac(xt),
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
        th = per_channel(a["threshold"], x)
        if key not in state.v:
            state.v[key] = np.broadcast_to(per_channel(a["v0"], x), x.shape).astype(np.float32)
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
        win_acc = windows(acc, k, s, p, d, lowest)
        flat = win_acc.reshape(win_acc.shape[:4] + (-1,))
        choice = flat.argmax(axis=-1)[..., None]  # first maximum in row-major window order
        win_x = windows(x, k, s, p, d, 0).reshape(flat.shape)
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
    stateless = fixed_op if quantized else float_op

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
            outs = [np.broadcast_to(o, (batch,) + o.shape[1:]) * 2.0 ** -frac(v.type) for o, v in zip(outs, module.outputs)]
            return outs[0] if len(outs) == 1 else tuple(outs)
        outs = [np.broadcast_to(o, (batch,) + o.shape[1:]).astype(np.float32) for o in outs]
        return outs[0] if len(outs) == 1 else tuple(outs)

    if snapshots:
        if not module.is_spiking:
            raise SnccError("snapshots are for spiking modules")
        return {t: finish(o) for t, o in sorted(taken.items())}
    return finish(outs)
