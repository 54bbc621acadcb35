"""sncc against the golden model (tests/golden): exact integers, not tolerances.

The golden model is a second implementation of spec/ir.md sections 5-6 written from the
spec text, importing nothing from sncc. Here it is compared, bit for bit, with
`sncc.interpret` on quantized modules and with the CPU backend's fixed-point mode
(readout integers and the spike count of every `if` op), on

  * seeded random quantized graphs from the generator below (every op and option of
    sections 5-6), with random, extreme (the input type's min/max) and rounding-tie
    inputs, narrow membranes that saturate, and odd `if` attributes;
  * hand-built modules for what the quantize pass never produces (negative F and F > 24,
    values near 2^60, 63-bit and 2-bit membranes, constants added with broadcasting,
    neuron attributes at the limits of int64 and of double rounding);
  * the benchmark MLP and CNN (benchmarks/models.py) trained on MNIST, on 64 MNIST test
    images here; SNCC_GOLDEN_FULL=1 runs 1,000 images per network and encoding at T = 32
    (SNCC_GOLDEN_IMAGES=n for another count; about 10 minutes on 2 cores):

        SNCC_GOLDEN_FULL=1 python -m pytest -q tests/test_golden.py -k benchmark -s

It also checks the PRNG test vectors of spec/ir.md section 5.2 against the golden PRNG
and against sncc, and that declared widths hold at the input
type's extremes.
"""
from __future__ import annotations

import importlib.util
import os
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import golden
import sncc
from sncc.backends.cpu import CpuSimulator, printed_names
from sncc.ir import Module
from sncc.pass_manager import PassContext
from sncc.types import Fixed, Spike, TensorType

ROOT = Path(__file__).resolve().parent.parent
FULL = os.environ.get("SNCC_GOLDEN_FULL") == "1"


# -- adapter: an sncc Module as the golden model's neutral description (reads fields only) --

def describe(m: Module) -> golden.Model:
    names = printed_names(m)
    ops, consts = [], {}
    for op in m.ops:
        name = names[id(op.result)]
        e = op.type.elem
        elem = golden.fx(e.width, e.frac) if isinstance(e, Fixed) else "spike" if isinstance(e, Spike) else str(e)
        attrs = dict(op.attrs)
        if op.kind == "const":
            consts[name] = np.asarray(attrs.pop("value")).astype(np.int64)  # the stored integers
        ops.append(golden.Op(op.kind, name, tuple(names[id(v)] for v in op.operands), attrs, op.type.shape, elem))
    return golden.Model(ops, consts, [names[id(v)] for v in m.outputs], m.attrs.get("T"), m.name, dict(m.attrs))


# -- comparison ------------------------------------------------------------------------------

def as_ints(out: np.ndarray, F: int) -> np.ndarray:
    """A simulator's float64 output q * 2^-F back to the integers q (exact: checked)."""
    q = np.ldexp(np.asarray(out, dtype=np.float64), F)
    assert np.all(q == np.floor(q)) and np.all(np.abs(q) < 2.0**53), "outputs are not exact integers"
    return q.astype(np.int64)


def interpreter_run(qm, x, T=None):
    names = printed_names(qm)
    counts = {names[id(op.result)]: 0 for op in qm.ops if op.kind == "if"}

    def observe(op, val):
        if op.kind == "if":
            counts[names[id(op.result)]] += int(np.asarray(val).sum())

    out = sncc.interpret(qm, x, T=T, observer=observe)
    return (out if isinstance(out, tuple) else (out,)), counts


def compare(qm: Module, x: np.ndarray, T=None, what: str = "", sim: CpuSimulator | None = None,
            in_range: bool = False) -> golden.Result:
    """golden == sncc.interpret == CPU fixed mode, exactly: every output's integers and every
    `if` op's spike count. `in_range`: the inputs lie in the calibrated range, so no value
    may leave its declared type (section 6: the quantize pass guarantees it)."""
    assert x.dtype == np.float32
    g = golden.run(describe(qm), x, T=T)
    ref, ref_counts = interpreter_run(qm, x, T)
    out, counts = (sim or CpuSimulator(qm, mode="fixed")).run(x, T=T, record=True)
    out = out if isinstance(out, tuple) else (out,)
    assert len(ref) == len(out) == len(g.outputs)
    for i, (gq, F) in enumerate(zip(g.outputs, g.fracs)):
        gq = np.asarray(gq)
        assert np.abs(gq.astype(object)).max(initial=0) < 2**53, f"{what}: output {i} beyond 2^53"
        for who, got in (("sncc.interpret", ref[i]), ("CPU fixed mode", out[i])):
            q = as_ints(got, F)
            if not np.array_equal(q, gq.astype(np.int64)):
                bad = np.argwhere(q != gq)[0]
                raise AssertionError(f"{what}: {who} output {i} ({qm.outputs[i].name}) differs from the golden "
                                     f"model at {bad.tolist()}: expected {gq[tuple(bad)]}, got {q[tuple(bad)]}; "
                                     f"{int((q != gq).sum())} of {q.size} differ")
    assert ref_counts == g.spikes, f"{what}: interpreter spike counts {ref_counts} != golden {g.spikes}"
    assert counts == g.spikes, f"{what}: CPU fixed-mode spike counts {counts} != golden {g.spikes}"
    if in_range:
        assert not g.overflows, f"{what}: values outside their declared types: {g.overflows}"
    return g


def quantize(m: Module, opts: str) -> Module:
    return sncc.PassManager.parse(f"quantize{{{opts}}}").run(m.clone(), PassContext())


# -- the random graph generator --------------------------------------------------------------

POW2_KERNELS = [(1, 1), (1, 2), (2, 1), (2, 2), (1, 4), (4, 1), (2, 4), (4, 2), (4, 4)]


class Gen:
    """A seeded random spiking network built op by op with sncc.ir.Module.add, quantized by
    sncc's quantize pass with random options, then given odd `if` attributes that do not
    change any type. `self.seen` counts the ops and options it used."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.seen: Counter = Counter()
        self.n = 0

    def name(self, base):
        self.n += 1
        return f"{base}{self.n}"

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def weights(self, shape):
        r = self.rng
        if r.random() < 0.5:  # dyadic k/8, mostly positive so that the network spikes
            return (r.integers(-3, 6, size=shape) / 8).astype(np.float32)
        return (r.standard_normal(shape) * 0.5 + 0.15).astype(np.float32)

    def const(self, arr, base="c"):
        return self.m.const(np.asarray(arr, np.float32), self.name(base))

    def neuron(self, x):
        """`if` with a random reset and a threshold and v0 that are scalars, per channel [C]
        or per neuron (full shape)."""
        r, shape = self.rng, x.type.shape

        def param(lo, hi, what):
            form = self.pick(["scalar", "channel", "full"])
            self.seen[f"if {what} {form}"] += 1
            if form == "scalar":
                return float(r.integers(lo, hi) / 8)
            return (r.integers(lo, hi, size=(shape[0],) if form == "channel" else shape) / 8).astype(np.float32)

        reset = self.pick(["subtract", "zero"])
        self.seen[f"if reset {reset}"] += 1
        return self.m.add("if", [x], {"threshold": param(2, 17, "threshold"), "v0": param(-6, 8, "v0"),
                                      "reset": reset}, self.name("s"))

    def spikes_or_current(self, x):
        return self.neuron(x) if self.rng.random() < 0.7 else x

    # blocks on [C, H, W] values
    def conv(self, x):
        r = self.rng
        C, H, W = x.type.shape
        for _ in range(20):
            kh, kw = int(r.integers(1, 4)), int(r.integers(1, 4))
            sh, sw = int(r.integers(1, 3)), int(r.integers(1, 3))
            dh, dw = int(r.integers(1, 3)), int(r.integers(1, 3))
            pads = [int(p) for p in r.integers(0, 3, size=4)]
            Ho = (H + pads[0] + pads[2] - dh * (kh - 1) - 1) // sh + 1
            Wo = (W + pads[1] + pads[3] - dw * (kw - 1) - 1) // sw + 1
            if 1 <= Ho and 1 <= Wo and Ho * Wo <= 64:
                break
        else:
            kh = kw = sh = sw = dh = dw = 1
            pads = [0, 0, 0, 0]
        G = self.pick([g for g in (1, 2, 3) if C % g == 0])
        O = G * int(r.integers(1, 4))
        operands = [x, self.const(self.weights((O, C // G, kh, kw)), "w")]
        if r.random() < 0.6:
            operands.append(self.const(self.weights((O,)) * 0.5, "b"))
            self.seen["conv2d bias"] += 1
        attrs = {"strides": [sh, sw], "pads": pads, "dilations": [dh, dw], "groups": G}
        self.seen["conv2d"] += 1
        self.seen["conv2d stride"] += (sh, sw) != (1, 1)
        self.seen["conv2d padding"] += any(pads)
        self.seen["conv2d dilation"] += (dh, dw) != (1, 1)
        self.seen["conv2d groups"] += G > 1
        self.seen[f"conv2d of {'spikes' if isinstance(x.type.elem, Spike) else 'integers'}"] += 1
        return self.m.add("conv2d", operands, attrs, self.name("conv"))

    def avgpool(self, x):
        C, H, W = x.type.shape
        fits = [k for k in POW2_KERNELS if k[0] <= H and k[1] <= W]
        kh, kw = self.pick(fits)
        s = [int(v) for v in self.rng.integers(1, 3, size=2)]
        if self.rng.random() < 0.4:  # padding counted in the divisor: n is still kh*kw
            pads = [int(self.rng.integers(0, kh)), int(self.rng.integers(0, kw)),
                    int(self.rng.integers(0, kh)), int(self.rng.integers(0, kw))]
            attrs = {"kernel": [kh, kw], "strides": s, "pads": pads, "count_include_pad": True}
            self.seen["avgpool2d count_include_pad"] += 1
        else:
            attrs = {"kernel": [kh, kw], "strides": s}
        self.seen["avgpool2d"] += 1
        self.seen[f"avgpool2d {kh}x{kw}"] += 1
        return self.m.add("avgpool2d", [x], attrs, self.name("avg"))

    def gated(self, x):
        C, H, W = x.type.shape
        r = self.rng
        for _ in range(20):
            kh, kw = int(r.integers(1, 4)), int(r.integers(1, 4))
            dh, dw = int(r.integers(1, 3)), int(r.integers(1, 3))
            pads = [int(r.integers(0, kh)), int(r.integers(0, kw)), int(r.integers(0, kh)), int(r.integers(0, kw))]
            s = [int(v) for v in r.integers(1, 3, size=2)]
            Ho = (H + pads[0] + pads[2] - dh * (kh - 1) - 1) // s[0] + 1
            Wo = (W + pads[1] + pads[3] - dw * (kw - 1) - 1) // s[1] + 1
            if Ho >= 1 and Wo >= 1:
                try:
                    y = self.m.add("gated_maxpool2d", [x], {"kernel": [kh, kw], "strides": s, "pads": pads,
                                                            "dilations": [dh, dw]}, self.name("gmax"))
                except sncc.SnccError:  # a window entirely in the padding (section 7): try another
                    continue
                self.seen["gated_maxpool2d"] += 1
                self.seen["gated_maxpool2d padding"] += any(pads)
                self.seen["gated_maxpool2d dilation"] += (dh, dw) != (1, 1)
                self.seen["gated_maxpool2d stride"] += s != [1, 1]
                self.seen[f"gated_maxpool2d of {'spikes' if isinstance(x.type.elem, Spike) else 'integers'}"] += 1
                return y
        return x

    def residual(self, x):
        """add: x + conv(x) with 'same' padding (spikes + currents, or currents of two F),
        or x + a [C,1,1] activation (global_avgpool: section 4 broadcasting)."""
        C, H, W = x.type.shape
        if H * W in (1, 2, 4, 8, 16, 32, 64) and self.rng.random() < 0.4:
            g = self.m.add("global_avgpool", [x], name=self.name("gap"))
            self.seen["global_avgpool"] += 1
            self.seen["add broadcast [C,1,1]"] += 1
            return self.m.add("add", [x, g], name=self.name("add"))
        w = self.const(self.weights((C, C, 3, 3)), "w")
        y = self.m.add("conv2d", [x, w], {"pads": [1, 1, 1, 1]}, self.name("conv"))
        self.seen["conv2d"] += 1
        y = self.spikes_or_current(y)
        self.seen["add"] += 1
        a, b = (x, y) if self.rng.random() < 0.5 else (y, x)
        return self.m.add("add", [a, b], name=self.name("add"))

    def scale(self, x):
        """mul by a constant: [1], per channel [C,1,1], the last axis [W], or full shape."""
        shape = x.type.shape
        forms = {"[1]": (1,), "[C,1,1]": (shape[0],) + (1,) * (len(shape) - 1), "[W]": shape[-1:], "full": shape}
        form = self.pick(list(forms))
        self.seen[f"mul {form}"] += 1
        c = (self.rng.integers(-4, 9, size=forms[form]) / 4).astype(np.float32)
        return self.m.add("mul", [x, self.const(c, "k")], name=self.name("mul"))

    def concat(self, x):
        """concat of x with a transformed copy (spikes with currents: two F)."""
        ax = int(self.rng.integers(0, x.type.rank))
        other = self.spikes_or_current(self.scale(x)) if self.rng.random() < 0.5 else x
        self.seen["concat"] += 1
        self.seen[f"concat axis {ax}"] += 1
        parts = [x, other] if self.rng.random() < 0.5 else [other, x]
        return self.m.add("concat", parts, {"axis": ax}, self.name("cat"))

    def move(self, x):
        kind = self.pick(["identity", "dropout", "transpose", "reshape"])
        self.seen[kind] += 1
        if kind == "transpose":
            perm = [int(p) for p in self.rng.permutation(x.type.rank)]
            return self.m.add("transpose", [x], {"perm": perm}, self.name("tr"))
        if kind == "reshape":
            shape = list(x.type.shape)
            if len(shape) == 3:  # same rank, other factorization: [C, H*W] -> [C, W, H]
                shape = [shape[0], shape[2], shape[1]]
            else:
                n = shape[0]
                shape = [n // 2, 2] if n % 2 == 0 else [1, n]
            return self.m.add("reshape", [x], {"shape": shape}, self.name("rs"))
        attrs = {"ratio": 0.25} if kind == "dropout" else {}
        return self.m.add(kind, [x], attrs, self.name(kind))

    def dense(self, x, N=None):
        N = N or int(self.rng.integers(2, 13))
        operands = [x, self.const(self.weights((N, x.type.shape[0])), "w")]
        if self.rng.random() < 0.6:
            operands.append(self.const(self.weights((N,)) * 0.5, "b"))
            self.seen["dense bias"] += 1
        self.seen["dense"] += 1
        self.seen[f"dense of {'spikes' if isinstance(x.type.elem, Spike) else 'integers'}"] += 1
        return self.m.add("dense", operands, name=self.name("fc"))

    def build(self):
        r = self.rng
        T = int(r.integers(1, 9))
        self.m = m = Module("random", {"T": T})
        mode = self.pick(["constant", "rate"])
        image = r.random() < 0.65
        shape = (int(r.integers(1, 4)), int(r.integers(3, 9)), int(r.integers(3, 9))) if image \
            else (int(r.integers(1, 25)),)
        x_in = m.add("input", (), {"index": 0}, "x", TensorType(shape))
        seed = int(self.pick([0, 1, 7, 2**31, 2**32 - 1, int(r.integers(2**32))]))
        x = m.add("encode", [x_in], {"mode": mode, "seed": seed}, "enc")
        self.seen[f"encode {mode}"] += 1
        signed = mode == "constant" and r.random() < 0.5
        self.calib = (-float(r.integers(1, 5)) / 2 if signed else 0.0, float(r.integers(1, 5)) / 2 if mode == "constant"
                      else 1.0)
        x_in.owner.attrs.update({"calib.min": self.calib[0], "calib.max": self.calib[1]})
        for _ in range(int(r.integers(2, 6))):
            if x.type.rank == 3:
                C, H, W = x.type.shape
                blocks = [self.conv, self.conv, self.gated, self.residual, self.scale, self.concat, self.move]
                if any(k[0] <= H and k[1] <= W for k in POW2_KERNELS):
                    blocks.append(self.avgpool)
                x = self.pick(blocks)(x)
                if x.owner.kind in ("conv2d", "add", "mul") and r.random() < 0.8:
                    x = self.neuron(x)
                if x.type.rank == 3 and x.type.size > 400:  # keep the graphs small
                    x = self.m.add("avgpool2d", [x], {"kernel": [2, 2], "strides": [2, 2]}, self.name("avg"))
                    self.seen["avgpool2d"] += 1
            else:
                x = self.pick([self.dense, self.dense, self.scale, self.concat, self.move])(x)
                if x.type.rank == 2:  # a reshaped vector: back to rank 1 for dense
                    x = m.add("flatten", [x], name=self.name("flat"))
                    self.seen["flatten"] += 1
                if x.owner.kind in ("dense", "mul") and r.random() < 0.8:
                    x = self.neuron(x)
        if x.type.rank != 1:
            x = m.add("flatten", [x], name=self.name("flat"))
            self.seen["flatten"] += 1
        hidden = self.neuron(self.dense(x, int(r.integers(4, 16))))
        out = self.dense(hidden, int(r.integers(2, 8)))
        outputs = [m.add("readout", [out], {"mode": "membrane"}, "out")]
        self.seen["readout membrane"] += 1
        if r.random() < 0.5:  # a count readout of spikes, read by later ops (partial sums, section 5.5)
            acc = m.add("readout", [hidden], {"mode": "count"}, "count")
            k = self.const(np.float32([0.5]), "half")
            s = m.add("if", [m.add("mul", [acc, k], name="acc_scaled")], {"threshold": 1.0}, "s_acc")
            outputs += [acc, m.add("readout", [s], {"mode": "count"}, "out2")]
            self.seen["readout count"] += 1
            self.seen["readout partial sums"] += 1
        m.outputs = outputs
        m.verify()
        return m

    def quantized(self, m):
        r = self.rng
        mode = next(op for op in m.ops if op.kind == "encode").attrs["mode"]
        wb = self.pick([2, 3, 4, 6, 8, 12, 16])
        ib = self.pick([0, 1, 2, 4, 8, 12, 16, 20, 24])
        narrow = r.random() < 0.35
        opts = f"weight_bits={wb},input_bits={ib}" + (f",membrane_bits={int(r.integers(4, 9))}" if narrow else "")
        self.seen["membrane_bits narrow"] += narrow
        qm = quantize(m, opts)
        for op in qm.ops:  # attributes that change no type: any valid value is allowed
            if op.kind != "if":
                continue
            F = op.operands[0].type.elem.frac if isinstance(op.operands[0].type.elem, Fixed) else 0
            if r.random() < 0.15:
                op.attrs["vbits"] = int(r.integers(2, 4))  # below what the quantize pass offers
                self.seen["if vbits 2..3"] += 1
            if r.random() < 0.2:  # v0 on rounding ties k + 1/2 (floor(v + 1/2) rounds them up), negative too
                op.attrs["v0"] = float((int(r.integers(-5, 5)) + 0.5) * 2.0 ** -F)
                self.seen["if v0 tie"] += 1
            if r.random() < 0.2:  # scalar attributes are doubles (section 3.2), here ones f32 cannot hold:
                # v0 * 2^F just below a tie k + 1/2 (f32 would round v0 onto the tie), and a threshold
                # of about 1 with as many significant bits as F gives (readout=count thresholds are such)
                op.attrs["v0"] = (int(r.integers(-3, 3)) + 0.5 - 2.0**-29) * 2.0 ** -F
                self.seen["if v0 double"] += 1
                if r.random() < 0.5:
                    op.attrs["threshold"] = max(round((0.5 + r.random()) * 2.0**F), 1) * 2.0 ** -F
                    self.seen["if threshold double"] += 1
            if r.random() < 0.15:  # a threshold of a few integer units, per neuron
                op.attrs["threshold"] = (r.integers(1, 5, size=op.type.shape) * 2.0 ** -F).astype(np.float32)
                self.seen["if threshold per neuron q"] += 1
        self.seen[f"input bits {ib}"] += 1
        self.seen[f"weight bits {wb}"] += 1
        return qm.verify(), opts


def random_inputs(rng, qm, n, lo, hi):
    """Random inputs in the calibrated range [lo, hi], and the input type's extremes and
    rounding ties (beyond the calibrated range: clamped to the type)."""
    t = qm.inputs[0].type
    shape = t.shape
    F, qmin, qmax = t.elem.frac, t.elem.min_int, t.elem.max_int
    x = (rng.random((n,) + shape) * (hi - lo) + lo).astype(np.float32)
    ext = np.empty((4,) + shape, np.float32)
    ext[0] = np.float32(qmin * 2.0 ** -F)                                # the type's min and max
    ext[1] = np.float32(qmax * 2.0 ** -F)
    ext[2] = rng.choice(np.float32([qmin * 2.0 ** -F, qmax * 2.0 ** -F, -1e30, 1e30, 0.0]), size=shape)
    ext[3] = ((rng.integers(-6, 6, size=shape) + 0.5) * 2.0 ** -F).astype(np.float32)   # ties k + 1/2
    return x, ext


N_GRAPHS = 200


def test_random_graphs_agree_exactly():
    """Seeded random quantized graphs: golden == interpreter == CPU fixed mode, and no value
    leaves its declared type for inputs in the calibrated range. Asserts that the generator
    covered every op and option of sections 5-6 (so that this test cannot silently shrink)."""
    t0 = time.perf_counter()
    seen: Counter = Counter()
    ops_seen: Counter = Counter()
    spikes = 0
    overflowing = []
    for seed in range(N_GRAPHS):
        gen = Gen(seed)
        m = gen.build()
        qm, opts = gen.quantized(m)
        x, ext = random_inputs(gen.rng, qm, 6, *gen.calib)
        what = f"random graph seed={seed} ({opts})"
        g = compare(qm, x, what=what, in_range=True)
        spikes += sum(g.spikes.values())
        if seed % 4 == 0 and qm.attrs["T"] > 1:  # a run may override T (section 5.1)
            compare(qm, x, T=int(gen.rng.integers(1, qm.attrs["T"])), what=what + " shorter T", in_range=True)
            seen["T override"] += 1
        ge = compare(qm, ext, what=what + " extreme inputs")
        if ge.overflows:
            overflowing.append((seed, ge.overflows))
        seen.update(gen.seen)
        ops_seen.update(op.kind for op in qm.ops)
    required = ["conv2d", "conv2d bias", "conv2d stride", "conv2d padding", "conv2d dilation", "conv2d groups",
                "conv2d of spikes", "conv2d of integers", "dense", "dense bias", "dense of spikes",
                "dense of integers", "avgpool2d", "avgpool2d count_include_pad", "avgpool2d 1x1", "avgpool2d 2x2",
                "avgpool2d 1x2", "avgpool2d 4x4", "gated_maxpool2d", "gated_maxpool2d padding",
                "gated_maxpool2d dilation", "gated_maxpool2d stride", "gated_maxpool2d of spikes",
                "gated_maxpool2d of integers", "global_avgpool", "add", "add broadcast [C,1,1]", "mul [1]",
                "mul [C,1,1]", "mul [W]", "mul full", "concat", "concat axis 0", "concat axis 1", "concat axis 2",
                "identity", "dropout", "transpose", "reshape", "flatten", "encode constant", "encode rate",
                "if reset subtract", "if reset zero", "if threshold scalar", "if threshold channel",
                "if threshold full", "if v0 scalar", "if v0 channel", "if v0 full", "if vbits 2..3", "if v0 tie",
                "if threshold per neuron q", "if v0 double", "if threshold double", "membrane_bits narrow", "readout membrane", "readout count",
                "readout partial sums", "T override", "input bits 0", "input bits 24", "weight bits 2", "weight bits 16"]
    missing = [k for k in required if not seen[k]]
    assert not missing, f"the generator did not cover {missing}"
    assert spikes > 0
    print(f"\n{N_GRAPHS} random graphs, {sum(ops_seen.values())} ops ({dict(sorted(ops_seen.items()))}), "
          f"{spikes} spikes, {time.perf_counter() - t0:.1f} s; extreme inputs overflowing declared types in "
          f"{len(overflowing)} graphs")


def test_time_invariant_reuse_changes_nothing():
    """The golden model's optional section 5.1 shortcut (time-invariant ops computed once)
    gives what running every op at every step gives."""
    for seed in range(8):
        gen = Gen(1000 + seed)
        qm, _ = gen.quantized(gen.build())
        x, ext = random_inputs(gen.rng, qm, 3, *gen.calib)
        for xs in (x, ext):
            a = golden.run(describe(qm), xs)
            b = golden.run(describe(qm), xs, reuse_time_invariant=False)
            assert a.spikes == b.spikes
            for p, q in zip(a.outputs, b.outputs):
                assert np.array_equal(p, q)


# -- hand-built modules: what the quantize pass never produces -------------------------------

def typed(m, kind, operands, attrs=None, name=None, W=None):
    """m.add with an fx<W, F> result, F by the rule of section 6 (the verifier checks it)."""
    v = m.add(kind, operands, attrs, name)
    if W is not None:
        F = sncc.ops.result_frac(kind, [o.type for o in operands], v.owner.attrs)
        v.owner.result.type = v.type.with_elem(Fixed(W, F))
    return v


def fconst(m, q, W, F, name):
    q = np.asarray(q)
    return m.add("const", (), {"value": q.astype(Fixed(W, F).numpy_dtype)}, name, TensorType(q.shape, Fixed(W, F)))


def test_wide_values_and_odd_fraction_bits():
    """F > 24 and negative F, values near 2^60 inside the network, 60- and 63-bit membranes,
    a per-neuron v0 array, reset to zero."""
    rng = np.random.default_rng(40)
    m = Module("wide", {"T": 5})
    x = m.add("input", (), {"index": 0}, "x", TensorType((6,), Fixed(40, 30)))
    e = m.add("encode", [x], {}, "e", x.type)
    w = fconst(m, rng.integers(-2047, 2048, size=(4, 6)), 12, -3, "w")
    d = typed(m, "dense", [e, w], name="d", W=54)                                   # F = 27
    s = m.add("if", [d], {"threshold": 2.0**13, "v0": (rng.integers(-4, 4, 4) * 2.0**10).astype(np.float32),
                          "vbits": 60, "reset": "zero"}, "s")
    k = fconst(m, [3, -2, 1, 7], 4, 2, "k")
    big = typed(m, "mul", [d, k], name="big", W=60)                                 # F = 29, |q| < 2^57
    s2 = m.add("if", [big], {"threshold": 2.0**12, "vbits": 63, "v0": -(2.0**30)}, "s2")
    m.outputs = [typed(m, "readout", [s], {"mode": "count"}, "o", W=8),
                 typed(m, "readout", [s2], {"mode": "count"}, "o2", W=8)]
    m.verify()
    xs = (rng.random((12, 6)) * 1000 - 500).astype(np.float32)
    xs[0], xs[1] = np.float32(2.0**9 - 2.0**-30), np.float32(-(2.0**9))              # the type's extremes
    g = compare(m, xs, what="wide", in_range=True)
    assert 0 < sum(g.spikes.values()) < 2 * 12 * 5 * 4


def test_narrow_membranes_constant_broadcasting_and_spike_arithmetic():
    """2- and 3-bit membranes; add of spikes and constants broadcast as [C,1,1], [W] and [1];
    mul of spikes by a full-shape constant; concat of spikes with integers; avgpool with a
    counted padding and a stride larger than the window; global_avgpool; membrane readout of
    spikes; a spike constant; seed 0x9E3779B9 (the hash-0 seed of section 5.2); an output
    computed from constants only."""
    rng = np.random.default_rng(41)
    m = Module("narrow", {"T": 7})
    x = m.add("input", (), {"index": 0}, "x", TensorType((2, 4, 4), Fixed(5, 3)))
    e = m.add("encode", [x], {"mode": "rate", "seed": 0x9E3779B9}, "e")
    a1 = typed(m, "add", [e, fconst(m, [[[1]], [[-2]]], 4, 1, "c0")], name="a1", W=6)          # [C,1,1]
    a2 = typed(m, "add", [a1, fconst(m, [1, 0, -1, 2], 4, 0, "c1")], name="a2", W=7)           # [W]
    a3 = typed(m, "add", [a2, fconst(m, [-1], 3, 2, "c2")], name="a3", W=8)                    # [1]
    s1 = m.add("if", [a3], {"threshold": 0.25, "v0": -0.375, "vbits": 2}, "s1")
    ms = typed(m, "mul", [e, fconst(m, rng.integers(-4, 4, size=(2, 4, 4)), 3, 0, "c3")], name="ms", W=3)
    spk = m.add("const", (), {"value": rng.integers(0, 2, size=(2, 4, 4)).astype(np.uint8)}, "spk",
                TensorType((2, 4, 4), Spike()))
    both = typed(m, "add", [s1, spk], name="both", W=3)
    cat = typed(m, "concat", [s1, ms, both], {"axis": 1}, "cat", W=4)                          # [2, 12, 4]
    avg = typed(m, "avgpool2d", [cat], {"kernel": [2, 2], "strides": [3, 1], "pads": [1, 1, 1, 0],
                                        "count_include_pad": True}, "avg", W=7)                # F = 2
    s2 = m.add("if", [avg], {"threshold": 0.5, "v0": np.float32([0.25, -0.75]), "vbits": 3, "reset": "zero"}, "s2")
    gap = typed(m, "global_avgpool", [typed(m, "concat", [s1, ms], {"axis": 1}, "cat2", W=4)], name="gap", W=10)
    m.outputs = [typed(m, "readout", [s1], {"mode": "membrane"}, "o1", W=8),
                 typed(m, "readout", [s2], {"mode": "count"}, "o2", W=8),
                 typed(m, "readout", [gap], {}, "o3", W=16),
                 typed(m, "add", [fconst(m, [3, -4, 5, 1], 5, 3, "c4"), fconst(m, [7], 4, 1, "c5")], name="o4", W=7)]
    m.verify()
    xs = (rng.integers(-40, 40, size=(16, 2, 4, 4)) / 16).astype(np.float32)
    xs[0], xs[1] = np.float32(-2.0), np.float32(15 / 8)                               # the type's extremes
    g = compare(m, xs, what="narrow", in_range=True)
    assert g.spikes["s1"] > 0 and g.spikes["s2"] > 0


def test_rate_encoder_comparison_is_strict():
    """Section 5.2/6: spike iff u < p * 2^(24-F). Inputs placed exactly on the draws u (F = 24)
    never spike; one unit above always does."""
    seed, n, T = 12345, 10, 3
    u = np.array([r >> 8 for r in golden.draws(seed, n * T)]).reshape(T, n)
    m = Module("ties", {"T": 1})
    x = m.add("input", (), {"index": 0}, "x", TensorType((n,), Fixed(26, 24)))
    e = m.add("encode", [x], {"mode": "rate", "seed": seed}, "e")
    m.outputs = [typed(m, "readout", [e], {"mode": "count"}, "o", W=4)]
    m.verify()
    xs = np.stack([u[0] * 2.0**-24, (u[0] + 1) * 2.0**-24]).astype(np.float32)
    g = compare(m, xs, what="rate ties")
    assert g.outputs[0].tolist() == [[0] * n, [1] * n]


@pytest.mark.parametrize("threshold, v0, F, vbits", [
    (1.0, 0.49999999999999994, 0, 8),      # the largest double below 1/2: floor(v0 + 1/2) = 0, not 1
    (0.25, -0.49999999999999994 / 4, 2, 8),
    (1.0, -0.5, 0, 8),                     # a tie rounds up: v0_q = 0
    (2.0**70, 0.0, 0, 8),                  # theta_q >= 2^63: never reached by the membrane
    (2.0**60, 0.0, 8, 8),
    (1.0, 1e30, 0, 8),                     # |v0_q| >= 2^63: the first step saturates
    (1.0, -1e30, 0, 8),
    (1.0, 2.0**62, 0, 8),
    (2.0**62, 0.0, 0, 8),
    (1 + 2.0**-24, 0.0, 24, 40),            # a scalar threshold is a double: not rounded to f32 (1.0)
    (1.0, 0.49999999, 0, 8),               # a scalar v0 too (f32 would make it 0.5)
])
def test_neuron_attributes_at_the_limits(threshold, v0, F, vbits):
    """Section 6 `if`: theta_q = theta * 2^F and v0_q = floor(v0 * 2^F + 1/2) are exact
    integers (not rounded in double precision, not wrapped to int64); v = sat(v + x_q)."""
    m = Module("limits", {"T": 4})
    x = m.add("input", (), {"index": 0}, "x", TensorType((3,), Fixed(40, F)))
    e = m.add("encode", [x], {}, "e", x.type)
    s = m.add("if", [e], {"threshold": threshold, "v0": v0, "vbits": vbits}, "s")
    m.outputs = [typed(m, "readout", [s], {"mode": "count"}, "o", W=8)]
    m.verify()
    q = np.float32([[0, 1, -1], [3, 0.5, 0], [-128, 127, 64]]) * np.float32(2.0**-F)
    q = np.concatenate([q, np.float32([[1.0, 0.5, 2.0]])])
    compare(m, q, what=f"threshold={threshold!r} v0={v0!r} F={F}")


# -- PRNG test vectors of spec/ir.md section 5.2 -----------------------------------------------

def spec_prng_table() -> dict[int, dict]:
    """The test-vector table of section 5.2, parsed: seed -> {"init": s, "r": [...], "u": [...]}."""
    text = (ROOT / "spec" / "ir.md").read_text()
    section = text[text.index("### 5.2 `encode`"):text.index("### 5.3 `if`")]
    table: dict[int, dict] = {}
    for line in section.splitlines():
        m = re.fullmatch(r"\| (\d+) \| init \| `0x([0-9a-f]{8})` \| \|", line.strip())
        if m:
            table.setdefault(int(m[1]), {"r": [], "u": []})["init"] = int(m[2], 16)
            continue
        m = re.fullmatch(r"\| (\d+) \| r_(\d+) = (\d+) \| `0x([0-9a-f]{8})` \| (\d+) \|", line.strip())
        if m:
            row = table.setdefault(int(m[1]), {"r": [], "u": []})
            assert int(m[2]) == len(row["r"]) and int(m[3]) == int(m[4], 16), line  # r_k in order, decimal == hex
            row["r"].append(int(m[3]))
            row["u"].append(int(m[5]))
    return table


def test_spec_prng_vectors_equal_golden_and_sncc():
    from sncc.interpreter import prng_initial_state, xorshift32_stream
    from sncc.runtime import spiking_kernels as K

    table = spec_prng_table()
    assert {0, 1, 0x9E3779B9, 2**32 - 1} <= set(table) and all(len(v["r"]) == 4 for v in table.values())
    for seed, row in table.items():
        assert golden.initial_state(seed) == row["init"], seed
        assert golden.draws(seed, 4) == row["r"], seed
        assert [r >> 8 for r in row["r"]] == row["u"], seed
        assert prng_initial_state(seed) == row["init"] == K.prng_initial_state(seed), seed
        assert xorshift32_stream(seed, 4).tolist() == row["r"], seed
        assert K.xorshift_u24(seed, 4).tolist() == row["u"], seed
    assert golden.initial_state(0x9E3779B9) == 1  # the seed whose hash is 0 (a fixed point of xorshift32)
    for seed in (0, 12345, 0x9E3779B9, 2**32 - 1):  # and long streams
        assert xorshift32_stream(seed, 5000).tolist() == golden.draws(seed, 5000)


# -- the benchmark networks on MNIST ------------------------------------------------------------

def _benchmark_models():
    """benchmarks/models.py (the networks of the accuracy benchmark), loaded by path."""
    spec = importlib.util.spec_from_file_location("sncc_benchmark_models", ROOT / "benchmarks" / "models.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# CI: short training on part of the training set, 64 test images, T = 8.
# SNCC_GOLDEN_FULL=1: longer training, 1,000 test images (SNCC_GOLDEN_IMAGES), T = 32.
IMAGES = int(os.environ.get("SNCC_GOLDEN_IMAGES", 1000)) if FULL else 64
T_MNIST = 32 if FULL else 8
TRAIN = {"mlp": (2, 50000) if FULL else (1, 8000), "cnn": (1, 50000) if FULL else (1, 1500)}  # (epochs, images)


@pytest.fixture(scope="module")
def benchmark_nets(mnist):
    torch = pytest.importorskip("torch")
    bm = _benchmark_models()
    (x, y), _ = mnist
    nets = {}
    for name in ("mlp", "cnn"):
        epochs, n = TRAIN[name]
        model = bm.make(name)
        torch.set_num_threads(2)
        sncc.nn.train_classifier(model, bm.inputs(name, x[:n]), y[:n], epochs=epochs, lr=2e-3, batch=128, seed=0)
        nets[name] = (model, bm.inputs(name, x[-1000:]))  # calibration: training images not trained on in CI
    return nets, bm


@pytest.mark.parametrize("name", ["mlp", "cnn"])
@pytest.mark.parametrize("encoding", ["constant", "rate"])
def test_benchmark_networks_on_mnist(benchmark_nets, mnist, name, encoding):
    """The benchmark MLP (784-256-128-10) and CNN (conv-BN-ReLU-avgpool, conv-BN-ReLU-maxpool
    -> gated_maxpool2d, linear) converted and quantized by sncc's own pipeline: golden ==
    interpreter == CPU fixed mode on MNIST test images, then on the input type's extremes."""
    nets, bm = benchmark_nets
    model, calib = nets[name]
    _, (xt, yt) = mnist
    snn = sncc.convert(model, calibration_data=calib, T=T_MNIST, encoding=encoding, progress=False)
    qm = quantize(snn.module, "weight_bits=8")
    sim = CpuSimulator(qm, mode="fixed")
    x, y = bm.inputs(name, xt[:IMAGES]), yt[:IMAGES]
    t0 = time.perf_counter()
    correct, spikes = 0, 0
    for b in range(0, len(x), 100):
        g = compare(qm, x[b:b + 100], what=f"{name} {encoding} images {b}..{b + 100}", sim=sim, in_range=True)
        correct += int((g.outputs[0].argmax(1) == y[b:b + 100]).sum())
        spikes += sum(g.spikes.values())
    assert spikes > 0 and correct > 0.3 * len(x)  # a working network (CI trains briefly; chance is 10%)
    t = qm.inputs[0].type.elem
    ext = np.stack([np.full(x.shape[1:], t.min_int * 2.0**-t.frac), np.full(x.shape[1:], t.max_int * 2.0**-t.frac),
                    np.where(np.arange(x[0].size).reshape(x.shape[1:]) % 2, t.max_int, t.min_int) * 2.0**-t.frac])
    ge = compare(qm, ext.astype(np.float32), what=f"{name} {encoding} extreme inputs", sim=sim)
    print(f"\n{name} {encoding} T={T_MNIST}: {len(x)} MNIST test images identical in golden, interpreter and CPU "
          f"fixed mode; golden accuracy {100 * correct / len(x):.2f}%, {spikes} spikes; "
          f"{time.perf_counter() - t0:.1f} s; extreme inputs leave declared types in: {sorted(ge.overflows) or 'none'}")


def test_declared_widths_hold_for_every_input_the_type_admits():
    """Section 6: 'the quantize pass chooses every width so that no sum can overflow its type'
    for every input the input type admits: at the type's extremes (beyond the calibrated
    range) no value leaves its declared type, in the golden model's own accounting."""
    overflowing = {}
    for seed in range(40):
        gen = Gen(seed)
        qm, _ = gen.quantized(gen.build())
        _, ext = random_inputs(gen.rng, qm, 1, *gen.calib)
        g = golden.run(describe(qm), ext)
        if g.overflows:
            overflowing[seed] = g.overflows
    assert not overflowing, overflowing
