"""quantize: turn a converted (float) spiking network into integer arithmetic (spec/ir.md section 6).

Scales are powers of two, so hardware needs shifts, never dividers:

  * weights of each layer (dense, conv2d, and the synaptic `mul` rescales) get
    F_w = floor(log2((2^(b-1) - 1) / max|W|)) fraction bits for `weight_bits` = b, so the
    largest weight uses the whole range and none is clipped; biases are stored in the
    accumulator's units (F_x + F_w), so no bias precision is lost;
  * the input gets `input_bits` fraction bits (MNIST pixels k/256 are exact with 8);
  * a neuron's threshold of 1 (after normalization) is exactly 2^F in its input's units;
  * every accumulator, sum and readout is as wide as its worst case over the calibrated
    input range (no overflow can happen); only membranes saturate, at `membrane_bits`
    (0: wide enough for the worst case over T steps, so they never saturate either).

The pass reports per layer the weight format, how many weights were clipped, the
accumulator width and the worst-case membrane range (`ctx.reports["quantize"]`).
"""
from __future__ import annotations

import math

import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module, Operation, Value
from sncc.pass_manager import Option, Pass, PassContext, register_pass
from sncc.types import Fixed, TensorType


def bits_for(lo: int, hi: int) -> int:
    """Width of the smallest signed two's-complement type holding lo..hi."""
    need = max(hi, -lo - 1, 0)
    return max(2, need.bit_length() + 1)


def round_half_away(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def weight_frac(w: np.ndarray, bits: int) -> int:
    top = float(np.abs(w).max())
    if top == 0.0:
        return 0
    return math.floor(math.log2((2 ** (bits - 1) - 1) / top))


def exact_frac(w: np.ndarray, limit: int = 64) -> int:
    """The fewest fraction bits F >= 0 at which every weight is an exact integer (`limit` if
    none up to it): all-ones sum-pooling kernels get F = 0 instead of wasting bits."""
    w = np.asarray(w, dtype=np.float64)
    for F in range(0, limit):
        if np.all(np.floor(w * 2.0 ** F) == w * 2.0 ** F):
            return F
    return limit


class _Quantizer:
    def __init__(self, m: Module, opts: dict):
        self.m = m
        self.o = opts
        self.T = int(m.attrs["T"])
        self.bounds: dict[int, tuple[int, int]] = {}  # per value: integer range of q
        self.layers: list[dict] = []

    def F(self, v: Value) -> int:
        t = v.type
        return t.elem.frac if isinstance(t.elem, Fixed) else 0

    def set(self, op: Operation, F: int, lo: int, hi: int):
        op.result.type = op.type.with_elem(Fixed(bits_for(lo, hi), F))
        self.bounds[id(op.result)] = (lo, hi)

    def quantize_const(self, op: Operation, index: int, F: int, bits: int | None = None) -> tuple[np.ndarray, int]:
        """Replace operand `index` by its integers at F fraction bits; returns them and the clip count."""
        v = op.operands[index]
        w = self.m.const_value(v).astype(np.float64)
        q = round_half_away(w * 2.0 ** F)
        clipped = 0
        if bits is not None:
            lim = 2 ** (bits - 1) - 1
            clipped = int((np.abs(q) > lim).sum())
            q = np.clip(q, -lim, lim)
        # asarray: numpy returns a scalar, not a 0-d array, for a 0-d operand (the per-layer
        # rescale `mul` normalize puts on a residual branch of a QCFS network is one)
        q = np.asarray(q).astype(np.int64)
        lo, hi = int(q.min(initial=0)), int(q.max(initial=0))
        elem = Fixed(bits if bits is not None else bits_for(lo, hi), F)
        op.operands[index] = self.m.insert_before(op, "const", (), {"value": q.astype(elem.numpy_dtype)},
                                                  v.name, TensorType(q.shape, elem))
        return q, clipped

    def run(self):
        m, o = self.m, self.o
        for op in list(m.ops):
            k = op.kind
            if k == "const":
                continue
            if k == "input":
                lo_x = op.attrs.get("calib.min", 0.0)
                hi_x = op.attrs.get("calib.max", 1.0)
                F = o["input_bits"]
                lo = math.floor(min(lo_x, 0.0) * 2 ** F + 0.5)
                hi = math.floor(max(hi_x, 0.0) * 2 ** F + 0.5)
                self.set(op, F, lo, hi)
                # the input type is sized from the calibrated range, but inputs are clamped to the
                # type (section 6), not to that range: every width below holds for any input
                elem = op.type.elem
                self.bounds[id(op.result)] = (elem.min_int, elem.max_int)
                continue
            xs = op.operands
            if any(id(v) not in self.bounds for v in xs if v.owner.kind != "const"):
                raise SnccError(f"quantize: {op.describe()} reads a value that was not quantized")
            if k == "encode":
                if op.attrs["mode"] == "rate":
                    if self.F(xs[0]) > 24:
                        raise SnccError("quantize: rate encoding takes at most 24 input fraction bits")
                    self.bounds[id(op.result)] = (0, 1)
                else:
                    self.set(op, self.F(xs[0]), *self.bounds[id(xs[0])])
            elif k in ("dense", "conv2d"):
                self.weighted(op)
            elif k == "mul":
                x = xs[0]
                c = m.const_value(xs[1])
                if c is None:
                    raise SnccError(f"quantize: {op.describe()} multiplies two activations")
                Fc = weight_frac(c, o["weight_bits"])
                q, clipped = self.quantize_const(op, 1, Fc, o["weight_bits"])
                lo, hi = self.bounds[id(x)]
                prods = [lo * q.min(), lo * q.max(), hi * q.min(), hi * q.max()]
                self.set(op, self.F(x) + Fc, int(min(prods)), int(max(prods)))
            elif k in ("add", "concat"):
                if any(v.owner.kind == "const" for v in xs):
                    raise SnccError(f"quantize: {op.describe()} {'adds' if k == 'add' else 'concatenates'} a constant; "
                                    "only activations have a fixed-point form here (fold a constant offset into the "
                                    "previous layer's bias)")
                F = max(self.F(v) for v in xs)
                shifted = [(self.bounds[id(v)][0] << (F - self.F(v)), self.bounds[id(v)][1] << (F - self.F(v))) for v in xs]
                if k == "add":
                    self.set(op, F, sum(s[0] for s in shifted), sum(s[1] for s in shifted))
                else:
                    self.set(op, F, min(s[0] for s in shifted), max(s[1] for s in shifted))
            elif k in ("avgpool2d", "global_avgpool"):
                x = xs[0]
                from sncc import ops

                try:
                    s = ops._pow2_window(k, x.type, op.attrs)
                except ops.TypeError_ as e:
                    raise SnccError(f"quantize: {op.describe()}: {e}, and it cannot be folded into the next layer "
                                    "(fold-avgpool needs a dense/conv2d reading it alone and a window count that is "
                                    "the same everywhere: count_include_pad or no padding)") from None
                lo, hi = self.bounds[id(x)]
                self.set(op, self.F(x) + s, lo << s, hi << s)
            elif k in ("flatten", "reshape", "transpose", "identity", "dropout", "gated_maxpool2d"):
                x = xs[0]
                if x.type.elem.__class__.__name__ == "Spike":
                    self.bounds[id(op.result)] = (0, 1)
                else:
                    self.set(op, self.F(x), *self.bounds[id(x)])
            elif k == "if":
                self.neuron(op)
            elif k == "readout":
                x = xs[0]
                lo, hi = self.bounds[id(x)]
                F = 0 if op.attrs["mode"] == "count" else self.F(x)
                self.set(op, F, min(lo, 0) * self.T, max(hi, 0) * self.T)
            else:
                raise SnccError(f"quantize: {op.describe()} has no fixed-point form; quantize runs after convert-to-snn")
        m.infer_types()

    def weighted(self, op: Operation):
        x = op.operands[0]
        w = self.m.const_value(op.operands[1])
        if w is None:
            raise SnccError(f"quantize: {op.describe()} has non-constant weights")
        Fw = min(weight_frac(w, self.o["weight_bits"]), exact_frac(w))
        q, clipped = self.quantize_const(op, 1, Fw, self.o["weight_bits"])
        Fx = self.F(x)
        lo_x, hi_x = self.bounds[id(x)]
        # worst case per output: every term at whichever end of the input range is worse (0 = padding)
        lo_t = np.minimum(np.minimum(q * lo_x, q * hi_x), 0)
        hi_t = np.maximum(np.maximum(q * lo_x, q * hi_x), 0)
        axes = tuple(range(1, q.ndim))
        lo_n, hi_n = lo_t.sum(axis=axes), hi_t.sum(axis=axes)
        if len(op.operands) > 2:
            b, _ = self.quantize_const(op, 2, Fx + Fw)
            lo_n, hi_n = lo_n + np.minimum(b, 0), hi_n + np.maximum(b, 0)
        lo, hi = int(lo_n.min()), int(hi_n.max())
        self.set(op, Fx + Fw, lo, hi)
        self.layers.append({"layer": op.result.name, "kind": op.kind, "weights": f"fx<{self.o['weight_bits']},{Fw}>",
                            "clipped_weights": clipped, "accumulator": str(op.type.elem), "current_range": [lo, hi]})

    def neuron(self, op: Operation):
        x = op.operands[0]
        F = self.F(x)
        theta = np.asarray(op.attrs["threshold"], dtype=np.float64)
        theta_q = np.maximum(np.round(theta * 2.0 ** F), 1)  # exact for normalized thresholds (1.0)
        op.attrs["threshold"] = float(theta_q / 2.0 ** F) if theta_q.ndim == 0 else (theta_q / 2.0 ** F).astype(np.float32)
        v0_q = np.floor(np.asarray(op.attrs["v0"], dtype=np.float64) * 2.0 ** F + 0.5)
        lo, hi = self.bounds[id(x)]
        v_lo = int(min(v0_q.min(), 0)) + self.T * min(lo, 0)
        v_hi = int(max(v0_q.max(), 0)) + self.T * max(hi, 0)
        auto = bits_for(v_lo, v_hi)
        vbits = self.o["membrane_bits"] or auto
        if vbits > 63:
            raise SnccError(f"quantize: {op.describe()} needs a {vbits}-bit membrane; use fewer weight or input bits")
        op.attrs["vbits"] = vbits
        self.bounds[id(op.result)] = (0, 1)
        layer = next((d for d in reversed(self.layers) if d["layer"] == x.name), None)
        info = {"membrane_range": [v_lo, v_hi], "membrane_bits": vbits, "threshold_q": int(theta_q.max()),
                "may_saturate": vbits < auto}
        if layer is not None:
            layer.update(info)
        else:
            self.layers.append({"layer": op.result.name, "kind": "if", **info})


@register_pass
class Quantize(Pass):
    name = "quantize"
    summary = "fixed-point integer arithmetic with power-of-two scales (spec/ir.md section 6)"
    options = {
        "weight_bits": Option(int, 8, "bits per weight, sign included",
                              check=lambda b: None if 2 <= b <= 16 else "must be in 2..16"),
        "input_bits": Option(int, 8, "fraction bits of the input", check=lambda b: None if 0 <= b <= 24 else "must be in 0..24"),
        "membrane_bits": Option(int, 0, "membrane width (0: never saturates over T steps)",
                                check=lambda b: None if b == 0 or 4 <= b <= 63 else "must be 0 or in 4..63"),
        "rounding": Option(str, "nearest", "weight rounding (half away from zero)", choices=("nearest",)),
    }

    def run(self, m: Module, ctx: PassContext):
        if not m.is_spiking:
            raise SnccError("quantize runs on a spiking network: run convert-to-snn first")
        if any(isinstance(v.type.elem, Fixed) for v in m.inputs):
            raise SnccError("quantize: this module is already quantized")
        from sncc.passes.fold_avgpool import fold_average_pools

        folded = fold_average_pools(m)   # averages over windows that are not a power of two
        q = _Quantizer(m, self.opts)
        q.run()
        from sncc.passes.dce import eliminate_dead_code

        eliminate_dead_code(m)
        ctx.reports[self.name] = {"layers": q.layers, "folded_average_pools": folded}
