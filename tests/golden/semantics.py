"""A second implementation of spec/ir.md sections 5 (spiking) and 6 (fixed point).

Written from the spec text, for quantized modules only, in exact integer arithmetic:
numpy int64 where an a-priori bound (Python integers) shows that nothing can exceed
2^62, numpy object arrays of Python integers otherwise. Nothing rounds. It imports
nothing from sncc: not its PRNG, not its types, not its interpreter.

Every value is an integer array with a leading batch axis (section 1.2: samples are
independent inferences); constants have a batch axis of 1 and broadcast.

It is written for clarity and independence, not speed: windows are gathered with the
index formulas of section 4 (`i*sh + p*dh - pt`), every op runs every step (unless the
section 5.1 time-invariance rule is used, which is optional), and the rate encoder draws
its numbers one by one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from .model import Model, Op
from .prng import Stream


class GoldenError(Exception):
    """The module or the inputs are outside what spec/ir.md defines for quantized modules."""


# -- integers ---------------------------------------------------------------------------

_INT64_SAFE = 1 << 62  # below this a sum of two values cannot wrap int64


def _maxabs(a: np.ndarray) -> int:
    """max |a| as a Python integer (0 for an empty array)."""
    if a.size == 0:
        return 0
    return max(int(a.max()), -int(a.min()))


def _exact(bound: int, *arrays: np.ndarray) -> list[np.ndarray]:
    """The arrays in a dtype in which a computation whose results and partial sums stay
    within `bound` (a Python int) is exact: int64 if bound < 2^62, else Python ints."""
    dtype = np.int64 if bound < _INT64_SAFE else object
    return [a.astype(dtype) for a in arrays]


def _floor_half_up(value: Fraction) -> int:
    """floor(value + 1/2), exactly."""
    return math.floor(value + Fraction(1, 2))


def _scaled(value, F: int) -> Fraction:
    """value * 2^F exactly; `value` a Python float, numpy float or int (held exactly)."""
    return Fraction(float(value)) * (Fraction(2) ** F)


def _elem_frac(elem) -> int:
    """F of an element type: fx<W,F> -> F; a spike has F = 0 (section 6)."""
    if elem == "spike":
        return 0
    if isinstance(elem, tuple) and elem[0] == "fx":
        return elem[2]
    raise GoldenError(f"element type {elem!r} is not fixed point or spike: section 6 covers quantized modules only")


def _elem_range(elem) -> tuple[int, int]:
    """The integers a value of this element type may hold (section 2 / section 6)."""
    if elem == "spike":
        return 0, 1
    W = elem[1]
    return -(1 << (W - 1)), (1 << (W - 1)) - 1


# -- section 4 attribute defaults ---------------------------------------------------------

_DEFAULTS = {
    "conv2d": {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1], "groups": 1},
    "avgpool2d": {"strides": [1, 1], "pads": [0, 0, 0, 0], "count_include_pad": False},
    "gated_maxpool2d": {"strides": [1, 1], "pads": [0, 0, 0, 0], "dilations": [1, 1]},
    "encode": {"mode": "constant", "seed": 0},
    "if": {"reset": "subtract", "v0": 0.0, "vbits": 0},
    "readout": {"mode": "membrane"},
    "dropout": {"ratio": 0.5},
}


def _attrs(op: Op) -> dict:
    """Declared attributes with the defaults of section 4 filled in; discardable attributes
    (names with a dot, section 1.4) never change semantics and are dropped."""
    a = dict(_DEFAULTS.get(op.kind, {}))
    a.update({k: v for k, v in op.attrs.items() if "." not in k})
    return a


# -- input quantization (section 6, "input") ---------------------------------------------

def quantize_input(x: np.ndarray, elem) -> np.ndarray:
    """q = clamp(floor(x * 2^F + 1/2), -2^(W-1), 2^(W-1)-1) for float32 x, exactly.

    Section 6 evaluates this in double precision and notes that it is exact there for a
    float32 x and F <= 24; here it is evaluated in rational arithmetic, exact for every F.
    Each distinct float32 value is converted once (MNIST has 256 of them)."""
    x = np.asarray(x)
    if x.dtype != np.float32:
        raise GoldenError(f"the golden model takes float32 inputs (section 6), got {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise GoldenError("input holds NaN or infinite values: they have no integer representation")
    _, W, F = elem
    lo, hi = -(1 << (W - 1)), (1 << (W - 1)) - 1
    values, inverse = np.unique(x, return_inverse=True)
    qs = [min(max(_floor_half_up(_scaled(v, F)), lo), hi) for v in values.tolist()]
    return np.array(qs, dtype=np.int64 if max(-lo, hi) < (1 << 63) else object)[inverse.reshape(-1)].reshape(x.shape)


# -- window gathering (section 4 conv2d / pools) -----------------------------------------

def _out_size(n: int, k: int, s: int, p0: int, p1: int, d: int) -> int:
    """Ho = floor((H + pt + pb - dh*(kh-1) - 1) / sh) + 1 (section 4 conv2d)."""
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def _windows(x: np.ndarray, kernel, strides, pads, dilations):
    """The window elements of section 4 for every output position:
    vals[b, c, p, q, i, j] = x[b, c, i*sh + p*dh - pt, j*sw + q*dw - pl] (0 outside the
    input) and inside[p, q, i, j] (whether that position is a real element, not padding)."""
    B, C, H, W = x.shape
    (kh, kw), (sh, sw), (pt, pl, pb, pr), (dh, dw) = kernel, strides, pads, dilations
    Ho, Wo = _out_size(H, kh, sh, pt, pb, dh), _out_size(W, kw, sw, pl, pr, dw)
    if Ho < 1 or Wo < 1:
        raise GoldenError(f"window {kernel} does not fit the input {list(x.shape[1:])}")
    rows = np.arange(Ho)[None, :] * sh + np.arange(kh)[:, None] * dh - pt    # [kh, Ho]
    cols = np.arange(Wo)[None, :] * sw + np.arange(kw)[:, None] * dw - pl    # [kw, Wo]
    row_in, col_in = (rows >= 0) & (rows < H), (cols >= 0) & (cols < W)
    r = np.clip(rows, 0, H - 1)[:, None, :, None]                             # [kh, 1, Ho, 1]
    c = np.clip(cols, 0, W - 1)[None, :, None, :]                             # [1, kw, 1, Wo]
    inside = row_in[:, None, :, None] & col_in[None, :, None, :]              # [kh, kw, Ho, Wo]
    vals = x[:, :, r, c]                                                      # [B, C, kh, kw, Ho, Wo]
    vals = np.where(inside, vals, np.zeros((), dtype=vals.dtype))             # zero padding
    return vals, inside


def _broadcast_operand(b: np.ndarray, rank: int) -> np.ndarray:
    """Section 4 add: b's sample shape aligned on the right against a sample of rank
    `rank` (numpy rules), keeping b's batch axis in front."""
    sample = b.shape[1:]
    return b.reshape(b.shape[:1] + (1,) * (rank - len(sample)) + sample)


# -- the run ------------------------------------------------------------------------------

@dataclass
class Result:
    outputs: list[np.ndarray]          # the returned values' integers after the last step, [B, ...]
    fracs: list[int]                   # F of each output (its value is q * 2^-F)
    spikes: dict[str, int]             # `if` op name -> spikes over the batch and all steps
    overflows: dict[str, tuple] = field(default_factory=dict)
    # op name -> (min, max) of the integers it produced when they left its declared type's
    # range: section 6 says the quantize pass makes that impossible

    def as_float(self, i: int = 0) -> np.ndarray:
        """Output i as q * 2^-F in float64 (exact for |q| < 2^53, section 6)."""
        return np.ldexp(self.outputs[i].astype(np.float64), -self.fracs[i])


_STATEFUL = ("encode", "if", "gated_maxpool2d", "readout")


def time_invariant(model: Model) -> set[str]:
    """Section 5.1: `input`, `const`, constant-mode `encode`, and stateless ops whose
    operands are all time-invariant."""
    inv: set[str] = set()
    for op in model.ops:
        if op.kind in ("input", "const"):
            inv.add(op.name)
        elif op.kind == "encode":
            if _attrs(op)["mode"] == "constant" and all(v in inv for v in op.operands):
                inv.add(op.name)
        elif op.kind not in _STATEFUL and all(v in inv for v in op.operands):
            inv.add(op.name)
    return inv


def run(model: Model, *inputs: np.ndarray, T: int | None = None, reuse_time_invariant: bool = True,
        strict: bool = False) -> Result:
    """Run a quantized module on a batch of float32 inputs (leading batch axis), T steps.

    `reuse_time_invariant`: compute time-invariant ops once per inference (allowed by
    section 5.1); False runs every op at every step, literally as 5.1 step 2 says.
    `strict`: raise when an op produces integers outside its declared type (else they are
    reported in `Result.overflows` and the exact integers are kept)."""
    return _Run(model, inputs, T, reuse_time_invariant, strict).go()


class _Run:
    def __init__(self, model: Model, inputs, T, reuse, strict):
        self.m = model
        self.strict = strict
        self.ops = model.ops
        self.spiking = any(op.kind in _STATEFUL for op in model.ops)
        T = model.T if T is None else T
        if self.spiking and (not isinstance(T, int) or isinstance(T, bool) or T < 1):
            raise GoldenError(f"a spiking module needs T >= 1 (section 5.1), got {T!r}")
        self.T = T if self.spiking else 1
        self.inputs = inputs
        self.invariant = time_invariant(model) if reuse else set()
        self.frac: dict[str, int] = {}       # F of every value, derived by the rules of section 6
        self.spike_valued: dict[str, bool] = {}
        self.state: dict[str, object] = {}   # per stateful op (section 5.1: reset per inference)
        self.spikes: dict[str, int] = {op.name: 0 for op in model.ops if op.kind == "if"}
        self.overflows: dict[str, tuple] = {}
        self.ins = sorted((op for op in model.ops if op.kind == "input"), key=lambda o: _attrs(o)["index"])
        if [_attrs(o)["index"] for o in self.ins] != list(range(len(self.ins))):
            raise GoldenError("input indices must be exactly 0 .. n-1 (section 1.1)")
        if len(inputs) != len(self.ins):
            raise GoldenError(f"the module takes {len(self.ins)} input(s), got {len(inputs)}")
        self.batch = {np.asarray(x).shape[0] for x in inputs}
        if len(self.batch) > 1:
            raise GoldenError("inputs of different batch sizes")

    # -- driver (section 5.1) --------------------------------------------------------
    def go(self) -> Result:
        env: dict[str, np.ndarray] = {}
        for t in range(self.T):
            step: dict[str, np.ndarray] = {}
            for op in self.ops:
                if op.name in self.invariant and op.name in env:
                    step[op.name] = env[op.name]
                    continue
                args = [step[v] for v in op.operands]
                val = self.execute(op, args, t)
                self.check_range(op, val)
                step[op.name] = val
            env = step
        # every sample gets every output, also one that depends on constants only (batch axis 1)
        B = next(iter(self.batch)) if self.batch else 1
        outs = [np.broadcast_to(env[name], (B,) + env[name].shape[1:]) for name in self.m.outputs]
        return Result(outs, [self.frac[name] for name in self.m.outputs], self.spikes, self.overflows)

    def check_range(self, op: Op, val: np.ndarray) -> None:
        lo, hi = _elem_range(op.elem)
        if val.size and (int(val.min()) < lo or int(val.max()) > hi):
            got = (int(val.min()), int(val.max()))
            if self.strict:
                raise GoldenError(f"{op.kind} %{op.name}: integers {got} outside its type {op.elem} (section 6)")
            old = self.overflows.get(op.name, got)
            self.overflows[op.name] = (min(old[0], got[0]), max(old[1], got[1]))

    def set_frac(self, op: Op, F: int, spike: bool = False) -> None:
        """Record the F section 6 prescribes for op's result and check the declared type."""
        declared = _elem_frac(op.elem)
        if declared != F:
            raise GoldenError(f"{op.kind} %{op.name}: section 6 gives F = {F}, the declared type {op.elem} has {declared}")
        if op.elem == "spike" and not spike:
            raise GoldenError(f"{op.kind} %{op.name}: declared spike, but its values are not spikes")
        self.frac[op.name] = F
        self.spike_valued[op.name] = spike

    def F(self, name: str) -> int:
        return self.frac[name]

    # -- one op, one step -------------------------------------------------------------
    def execute(self, op: Op, args: list[np.ndarray], t: int) -> np.ndarray:
        k = op.kind
        a = _attrs(op)
        fn = getattr(self, "op_" + k, None)
        if fn is None:
            raise GoldenError(f"'{k}' has no fixed-point semantics in spec/ir.md section 6")
        y = fn(op, a, args, t)
        if tuple(y.shape[1:]) != tuple(op.shape):
            raise GoldenError(f"{k} %{op.name}: computed shape {list(y.shape[1:])}, declared {list(op.shape)}")
        return y

    # section 6 "input"
    def op_input(self, op, a, args, t):
        if op.elem == "spike" or op.elem[0] != "fx":
            raise GoldenError(f"input %{op.name} is not fixed point: the module is not quantized (section 6)")
        x = np.asarray(self.inputs[a["index"]])
        if tuple(x.shape[1:]) != tuple(op.shape):
            raise GoldenError(f"input %{op.name}: a batch of shape {list(x.shape)} for samples {list(op.shape)}")
        self.set_frac(op, op.elem[2])
        return quantize_input(x, op.elem)

    # section 6 "const": the stored integers
    def op_const(self, op, a, args, t):
        q = np.asarray(self.m.consts[op.name])
        if q.dtype.kind not in "iu" and q.dtype != object:
            raise GoldenError(f"const %{op.name}: integers expected, got {q.dtype}")
        self.set_frac(op, _elem_frac(op.elem), spike=op.elem == "spike")
        return q.astype(np.int64 if q.dtype != object else object)[None]

    # section 6 "dense": y = sum W_q * x_q + b_q (section 4 dense), exact
    def op_dense(self, op, a, args, t):
        x, w = args[0], args[1][0]
        b = args[2][0] if len(args) > 2 else None
        Fy = self.F(op.operands[0]) + self.F(op.operands[1])
        if b is not None and self.F(op.operands[2]) != Fy:
            raise GoldenError(f"dense %{op.name}: the bias must have F = Fx + Fw = {Fy} (section 6)")
        if x.ndim != 2 or w.shape[1] != x.shape[1]:
            raise GoldenError(f"dense %{op.name}: x {list(x.shape[1:])} and weight {list(w.shape)} (section 4)")
        bound = _maxabs(x) * _maxabs(w) * w.shape[1] + (_maxabs(b) if b is not None else 0)
        x, w = _exact(bound, x, w)
        y = x @ w.T                                     # [B, N]: sum over k of x[k] * weight[n, k]
        if b is not None:
            y = y + _exact(bound, b)[0][None, :]
        self.set_frac(op, Fy)
        return y

    # section 6 "conv2d": the integer sums of section 4, zero padding
    def op_conv2d(self, op, a, args, t):
        x, w = args[0], args[1][0]
        b = args[2][0] if len(args) > 2 else None
        Fy = self.F(op.operands[0]) + self.F(op.operands[1])
        if b is not None and self.F(op.operands[2]) != Fy:
            raise GoldenError(f"conv2d %{op.name}: the bias must have F = Fx + Fw = {Fy} (section 6)")
        G = a["groups"]
        O, Cg, kh, kw = w.shape
        C = x.shape[1]
        if C % G or O % G or Cg != C // G:
            raise GoldenError(f"conv2d %{op.name}: groups {G} do not divide C = {C}, O = {O} with weight {list(w.shape)}")
        bound = _maxabs(x) * _maxabs(w) * Cg * kh * kw + (_maxabs(b) if b is not None else 0)
        x, w = _exact(bound, x, w)
        vals, _ = _windows(x, (kh, kw), a["strides"], a["pads"], a["dilations"])  # [B, C, kh, kw, Ho, Wo]
        B, _, _, _, Ho, Wo = vals.shape
        Og = O // G
        y = np.zeros((B, O, Ho * Wo), dtype=x.dtype)
        for g in range(G):  # output channel o reads input channels g(o)*Cg .. g(o)*Cg + Cg-1
            cols = vals[:, g * Cg:(g + 1) * Cg].reshape(B, Cg * kh * kw, Ho * Wo)
            y[:, g * Og:(g + 1) * Og] = w[g * Og:(g + 1) * Og].reshape(Og, Cg * kh * kw) @ cols
        y = y.reshape(B, O, Ho, Wo)
        if b is not None:
            y = y + _exact(bound, b)[0].reshape(1, O, 1, 1)
        self.set_frac(op, Fy)
        return y

    def _pow2(self, op, n: int) -> int:
        s = n.bit_length() - 1
        if n != 1 << s:
            raise GoldenError(f"{op.kind} %{op.name}: a window of {n} elements is not a power of two (section 6)")
        return s

    # section 6 "avgpool2d": the window sum, with log2(n) more fraction bits
    def op_avgpool2d(self, op, a, args, t):
        x = args[0]
        if any(a["pads"]) and not a["count_include_pad"]:
            raise GoldenError(f"avgpool2d %{op.name}: padded windows that exclude the padding vary in element "
                              "count: no fixed-point form (section 6)")
        kh, kw = a["kernel"]
        s = self._pow2(op, kh * kw)
        x, = _exact(_maxabs(x) << s, x)
        vals, _ = _windows(x, a["kernel"], a["strides"], a["pads"], (1, 1))
        self.set_frac(op, self.F(op.operands[0]) + s)
        return vals.sum(axis=(2, 3))  # padding contributes 0 (count_include_pad: it is counted in n)

    # section 6 "global_avgpool": the sum over H*W = 2^s elements
    def op_global_avgpool(self, op, a, args, t):
        x = args[0]
        s = self._pow2(op, x.shape[2] * x.shape[3])
        x, = _exact(_maxabs(x) << s, x)
        self.set_frac(op, self.F(op.operands[0]) + s)
        return x.sum(axis=(2, 3), keepdims=True)

    # section 6 "add": both operands shifted to F = max(Fa, Fb), then added
    def op_add(self, op, a, args, t):
        fa, fb = self.F(op.operands[0]), self.F(op.operands[1])
        F = max(fa, fb)
        bound = (_maxabs(args[0]) << (F - fa)) + (_maxabs(args[1]) << (F - fb))
        x, y = _exact(bound, args[0], args[1])
        y = _broadcast_operand(y, x.ndim - 1)
        self.set_frac(op, F)
        return (x << (F - fa)) + (y << (F - fb))

    # section 6 "mul" by a constant: y_q = x_q * c_q
    def op_mul(self, op, a, args, t):
        if self.m.op(op.operands[1]).kind != "const":
            raise GoldenError(f"mul %{op.name}: section 6 multiplies by a constant only")
        x, c = _exact(_maxabs(args[0]) * _maxabs(args[1]), args[0], args[1])
        self.set_frac(op, self.F(op.operands[0]) + self.F(op.operands[1]))
        return x * _broadcast_operand(c, x.ndim - 1)

    # section 6 "concat": operands aligned to the largest F like add, placed along axis
    def op_concat(self, op, a, args, t):
        fs = [self.F(v) for v in op.operands]
        F = max(fs)
        bound = max(_maxabs(v) << (F - f) for v, f in zip(args, fs))
        parts = _exact(bound, *args)
        B = max(p.shape[0] for p in parts)
        parts = [np.broadcast_to(p << (F - f), (B,) + p.shape[1:]) for p, f in zip(parts, fs)]
        self.set_frac(op, F, spike=all(self.spike_valued[v] for v in op.operands) and F == 0)
        return np.concatenate(parts, axis=a["axis"] + 1)

    # section 6 "flatten / reshape / identity / dropout": move integers
    def _move(self, op, y):
        self.set_frac(op, self.F(op.operands[0]), spike=self.spike_valued[op.operands[0]])
        return y

    def op_flatten(self, op, a, args, t):
        return self._move(op, args[0].reshape(args[0].shape[0], -1))  # C order

    def op_reshape(self, op, a, args, t):
        return self._move(op, args[0].reshape((args[0].shape[0],) + tuple(a["shape"])))

    def op_identity(self, op, a, args, t):
        return self._move(op, args[0])

    op_dropout = op_identity

    # transpose also only moves integers (section 4 transpose); section 6 does not list it
    def op_transpose(self, op, a, args, t):
        return self._move(op, args[0].transpose([0] + [p + 1 for p in a["perm"]]))

    # section 6 "encode" (and 5.2 for the draws)
    def op_encode(self, op, a, args, t):
        x = args[0]
        F = self.F(op.operands[0])
        if a["mode"] == "constant":  # y_t = q every step, the input's type
            self.set_frac(op, F, spike=self.spike_valued[op.operands[0]])
            return x
        if a["mode"] != "rate":
            raise GoldenError(f"encode %{op.name}: unknown mode {a['mode']!r}")
        if not 0 <= F <= 24:
            raise GoldenError(f"encode %{op.name}: rate mode requires 0 <= F <= 24 (section 6), F = {F}")
        stream = self.state.setdefault(op.name, Stream(a["seed"]))  # one stream per inference
        n = int(np.prod(x.shape[1:]))
        u = np.array([r >> 8 for r in stream.take(n)], dtype=np.int64).reshape(x.shape[1:])  # draws t*n .. t*n+n-1
        p = np.clip(x, 0, 1 << F)                               # p = clamp(q, 0, 2^F)
        self.set_frac(op, 0, spike=True)
        return (u[None] < (p.astype(np.int64) << (24 - F))).astype(np.int64)  # 1 iff u < p * 2^(24-F)

    def _per_neuron(self, op, value, shape, convert) -> np.ndarray:
        """An `if` threshold/v0 (section 4 if): a scalar, per channel [C] (broadcast over the
        other axes) or the full shape; `convert` maps one element to an integer."""
        arr = np.asarray(value)
        if arr.ndim == 0:
            return np.full(shape, convert(arr.item()), dtype=object)
        ints = np.array([convert(v) for v in arr.reshape(-1).tolist()], dtype=object).reshape(arr.shape)
        if arr.shape == tuple(shape):
            return ints
        if arr.shape == (shape[0],):
            return np.broadcast_to(ints.reshape((shape[0],) + (1,) * (len(shape) - 1)), shape)
        raise GoldenError(f"if %{op.name}: array of shape {list(arr.shape)} for neurons {list(shape)} (section 4 if)")

    # section 6 "if" (5.3 with integers and a saturating membrane)
    def op_if(self, op, a, args, t):
        x = args[0]
        F = self.F(op.operands[0])
        vbits = a["vbits"]
        if not (isinstance(vbits, int) and 2 <= vbits <= 63):
            raise GoldenError(f"if %{op.name}: a fixed-point neuron needs vbits in 2..63 (section 6), got {vbits!r}")

        def theta_q(v):
            q = _scaled(v, F)  # theta * 2^F must be an integer
            if q.denominator != 1:
                raise GoldenError(f"if %{op.name}: threshold {v} * 2^{F} is not an integer (section 6)")
            if q <= 0:
                raise GoldenError(f"if %{op.name}: threshold {v} is not > 0 (section 4 if)")
            return int(q)

        shape = x.shape[1:]
        lo, hi = -(1 << (vbits - 1)), (1 << (vbits - 1)) - 1
        if op.name not in self.state:  # start of the inference: v = v0_q = floor(v0 * 2^F + 1/2)
            theta = self._per_neuron(op, a["threshold"], shape, theta_q)
            v0 = self._per_neuron(op, a["v0"], shape, lambda v: _floor_half_up(_scaled(v, F)))
            self.state[op.name] = (theta, np.broadcast_to(v0, (x.shape[0],) + shape))
        theta, v = self.state[op.name]
        bound = max(_maxabs(np.asarray(v)), _maxabs(np.asarray(theta)), hi + 1) + _maxabs(x)
        v, x, theta = _exact(bound, np.asarray(v), x, np.asarray(theta))
        v = np.clip(v + x, lo, hi)                          # v = sat(v + x_q)
        s = v >= theta[None]                                # s = (v >= theta_q)
        if a["reset"] == "subtract":
            v = np.where(s, v - theta[None], v)             # cannot overflow: v >= theta_q > 0
        elif a["reset"] == "zero":
            v = np.where(s, np.zeros((), v.dtype), v)
        else:
            raise GoldenError(f"if %{op.name}: unknown reset {a['reset']!r}")
        self.state[op.name] = (theta, v)
        self.spikes[op.name] += int(s.sum())
        self.set_frac(op, 0, spike=True)
        return s.astype(np.int64)

    # section 4 gated_maxpool2d with section 6's integers: acc += x_q; per window the first
    # position (row-major over p, then q) with the largest acc; y_q = x_q there
    def op_gated_maxpool2d(self, op, a, args, t):
        x = args[0]
        acc = self.state.get(op.name)
        bound = (0 if acc is None else _maxabs(acc)) + _maxabs(x)
        x, = _exact(bound, x)
        acc = x.copy() if acc is None else _exact(bound, acc)[0] + x   # acc starts at 0 each inference
        self.state[op.name] = acc
        win = (a["kernel"], a["strides"], a["pads"], a["dilations"])
        acc_w, inside = _windows(acc, *win)
        x_w, _ = _windows(x, *win)                                       # padding: x = 0
        kh, kw = a["kernel"]
        best = acc_w[:, :, 0, 0].copy()     # the largest acc seen so far in each window ...
        y = x_w[:, :, 0, 0].copy()          # ... and the input at that position
        found = np.zeros(best.shape, dtype=bool)  # whether a real (not padding) position was seen
        for p in range(kh):                  # row-major window order; strict > keeps the first maximum
            for q in range(kw):
                cand = acc_w[:, :, p, q]
                real = np.broadcast_to(inside[p, q], cand.shape)  # padding has acc = -inf: never chosen
                better = real & (~found | (cand > best))
                best = np.where(better, cand, best)
                y = np.where(better, x_w[:, :, p, q], y)
                found = found | real
        if not found.all():
            raise GoldenError(f"gated_maxpool2d %{op.name}: a window lies entirely in the padding (section 7)")
        self.set_frac(op, self.F(op.operands[0]), spike=self.spike_valued[op.operands[0]])
        return y

    # section 6 "readout": y_q = sum over t of x_q(t); partial sums at intermediate steps (5.5)
    def op_readout(self, op, a, args, t):
        x = args[0]
        if a["mode"] == "count" and not self.spike_valued[op.operands[0]]:
            raise GoldenError(f"readout %{op.name}: count mode requires spikes (section 4 readout)")
        acc = self.state.get(op.name)
        bound = (0 if acc is None else _maxabs(acc)) + _maxabs(x)
        x, = _exact(bound, x)
        acc = x.copy() if acc is None else _exact(bound, acc)[0] + x
        self.state[op.name] = acc
        self.set_frac(op, 0 if a["mode"] == "count" else self.F(op.operands[0]))
        return acc
