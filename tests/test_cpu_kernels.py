"""The CPU simulator's convolution-path kernels against plain numpy written here (not
sncc.semantics): the event-driven conv2d in all its sum types (float32; int32; integer
f32 sums landing in int32; planar or channels-last images), window sums and averages
(planar or channels last), fixed-point add/mul, the 2x2 gated max pool, on
random shapes and attributes (stride, padding, dilation, groups, depthwise, 1x1, output
channels beyond one vector) and at the extremes of the types; then whole modules through
the simulator (avgpool counts feeding a conv, residual adds) against the interpreter,
float and fixed, and the same results with 1 or 2 threads."""
from __future__ import annotations

import numpy as np
import pytest

import sncc
from sncc.backends.cpu import CpuSimulator
from sncc.ir import Module
from sncc.pass_manager import PassContext
from sncc.runtime import spiking_kernels as K
from sncc.types import TensorType


def conv_ref(x, w, b, stride, pads, dil, groups):
    """ONNX Conv, one tap at a time, in int64 (integers) or float64."""
    M, C, H, W = x.shape
    O, Cg, kh, kw = w.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = stride, pads, dil
    Ho = (H + pt + pb - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + pl + pr - dw * (kw - 1) - 1) // sw + 1
    acc = np.int64 if x.dtype.kind in "iu" and w.dtype.kind == "i" else np.float64
    xp = np.zeros((M, C, H + pt + pb, W + pl + pr), acc)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    y = np.zeros((M, O, Ho, Wo), acc)
    Og = O // groups
    for o in range(O):
        g = o // Og
        for c in range(Cg):
            for p in range(kh):
                for q in range(kw):
                    patch = xp[:, g * Cg + c, p * dh: p * dh + sh * (Ho - 1) + 1: sh, q * dw: q * dw + sw * (Wo - 1) + 1: sw]
                    y[:, o] += patch * acc(w[o, c, p, q])
    if b is not None:
        y += np.asarray(b, acc).reshape(1, O, 1, 1)
    return y


CONFIGS = [  # C, O, groups, (kh, kw), stride, pads (t, l, b, r), dilation, H, W
    (4, 8, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 9, 9),
    (4, 6, 2, (3, 2), (2, 1), (1, 0, 2, 1), (1, 2), 9, 8),
    (3, 3, 3, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 7, 6),       # depthwise
    (5, 40, 1, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 5, 7),      # 1x1, 40 outputs: 3 vectors of 16
    (2, 33, 1, (5, 5), (2, 3), (2, 2, 2, 2), (1, 1), 11, 13),
    (6, 4, 2, (2, 2), (3, 3), (0, 0, 0, 0), (2, 2), 10, 10),     # taps that reach no output (stride > kernel)
    (16, 32, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 14, 14),   # the benchmark CNN's second layer
]


def run_conv(x, w, b, cfg, sdt, odt, threads=0):
    _, _, G, _, stride, pads, dil, _, _ = cfg
    ref = conv_ref(x, w, b, stride, pads, dil, G)
    out = np.full(ref.shape, 7, odt)  # garbage: every output must be written
    bias = np.zeros(0, sdt) if b is None else np.asarray(b).astype(sdt)
    K.conv2d(x, K.conv_weight_layout(w, G, sdt), bias, out, *stride, pads[0], pads[1], *dil, threads)
    return out, ref


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv2d_spikes_counts_and_integers_exact(cfg):
    rng = np.random.default_rng(sum(map(hash, map(str, cfg))) % 2**32)
    C, O, G, (kh, kw), _, _, _, H, W = cfg
    w = rng.integers(-127, 128, (O, C // G, kh, kw))
    b = rng.integers(-1000, 1000, O)
    spikes = (rng.random((6, C, H, W)) < 0.3).astype(np.uint8)
    counts = (rng.random((6, C, H, W)) < 0.3) * rng.integers(1, 5, (6, C, H, W)).astype(np.uint8)
    ints = rng.integers(-128, 128, (6, C, H, W)).astype(np.int32)
    for x in (spikes, counts, ints):
        for sdt in (np.int32, np.float32):  # int32 sums; integer f32 sums (exact below 2^24) into int32
            for bias in (b, None):
                out, ref = run_conv(x, w, bias, cfg, sdt, np.int32)
                assert out.dtype == np.int32 and np.array_equal(out, ref), (x.dtype, sdt)
    assert np.abs(ref).max() > 1000


@pytest.mark.parametrize("cfg", CONFIGS)
def test_conv2d_float_within_rounding(cfg):
    rng = np.random.default_rng(7)
    C, O, G, (kh, kw), _, _, _, H, W = cfg
    w = rng.normal(0, 0.3, (O, C // G, kh, kw)).astype(np.float32)
    b = rng.normal(0, 0.3, O).astype(np.float32)
    for x in ((rng.random((5, C, H, W)) < 0.3).astype(np.uint8),
              (rng.normal(0, 1, (5, C, H, W)) * (rng.random((5, C, H, W)) < 0.5)).astype(np.float32)):
        out, ref = run_conv(x, w, b, cfg, np.float32, np.float32)
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
        out2, _ = run_conv(x, w, b, cfg, np.float32, np.float32, threads=1)
        assert np.array_equal(out, out2)  # the split over threads changes nothing


def to_cl(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("cl_in,cl_out", [(True, False), (False, True), (True, True)])
def test_conv2d_channels_last(cfg, cl_in, cl_out):
    """Channels-last input and/or output ([M, H, W, C]): exact for integers, and for floats
    the same numbers as the planar layout (the layout changes no sum)."""
    rng = np.random.default_rng(11)
    C, O, G, (kh, kw), stride, pads, dil, H, W = cfg
    w = rng.integers(-127, 128, (O, C // G, kh, kw))
    b = rng.integers(-1000, 1000, O)
    counts = (rng.random((4, C, H, W)) < 0.3) * rng.integers(1, 5, (4, C, H, W)).astype(np.uint8)
    ints = rng.integers(-128, 128, (4, C, H, W)).astype(np.int32)
    wf = rng.normal(0, 0.3, (O, C // G, kh, kw)).astype(np.float32)
    bf = rng.normal(0, 0.3, O).astype(np.float32)
    floats = (rng.normal(0, 1, (4, C, H, W)) * (rng.random((4, C, H, W)) < 0.5)).astype(np.float32)
    cases = [(counts, w, b, np.int32, np.int32), (ints, w, b, np.float32, np.int32), (counts, w, None, np.int32, np.int32),
             (counts, wf, bf, np.float32, np.float32), (floats, wf, bf, np.float32, np.float32)]
    for x, wt, bias, sdt, odt in cases:
        planar, ref = run_conv(x, wt, bias, cfg, sdt, odt)
        out = np.full(to_cl(planar).shape if cl_out else planar.shape, 7, odt)
        K.conv2d(to_cl(x) if cl_in else x, K.conv_weight_layout(wt, G, sdt),
                 np.zeros(0, sdt) if bias is None else np.asarray(bias).astype(sdt), out, *stride, pads[0], pads[1],
                 *dil, 0, cl_in, cl_out)
        got = out.transpose(0, 3, 1, 2) if cl_out else out
        assert np.array_equal(got, planar), (x.dtype, sdt)
        if odt == np.int32:
            assert np.array_equal(got, ref)


def test_conv2d_at_the_type_extremes():
    """int32 sums up to 2^31 - 1 (the lowering's bound) and f32 sums up to 2^24 - 1."""
    cfg = (4, 16, 1, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 6, 6)
    w_big = np.full((16, 4, 3, 3), 1800, np.int64)                 # 36 taps * 1800 * 2^15 < 2^31
    w_big[1::2] = -1800
    x = np.full((2, 4, 6, 6), 2**15 - 1, np.int32)
    x[1] = -(2**15)
    out, ref = run_conv(x, w_big, None, cfg, np.int32, np.int32)
    assert np.array_equal(out, ref) and np.abs(ref).max() > 2**30
    w_f = np.full((16, 4, 3, 3), 4095, np.int64)
    w_f[::3] = -4096
    xs = np.ones((2, 4, 6, 6), np.uint8) * 113                     # 36 * 4096 * 113 < 2^24
    out, ref = run_conv(xs, w_f, None, cfg, np.float32, np.int32)
    assert np.array_equal(out, ref) and np.abs(ref).max() > 2**23


def test_conv2d_rejects_mismatched_types():
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match="conv2d"):
        K.conv2d(x, np.zeros((1, 3, 3, 2, 16), np.int32), np.zeros(0, np.int32), np.zeros((1, 4, 2, 2), np.int32),
                 1, 1, 0, 0, 1, 1)


def window_sum_ref(x, k, s, pads):
    M, C, H, W = x.shape
    (kh, kw), (sh, sw), (pt, pl) = k, s, pads
    Ho, Wo = (H + 2 * pt - kh) // sh + 1, (W + 2 * pl - kw) // sw + 1
    y = np.zeros((M, C, Ho, Wo), np.int64 if x.dtype.kind in "iu" else np.float64)
    for i in range(Ho):
        for j in range(Wo):
            for p in range(kh):
                for q in range(kw):
                    h, w = i * sh + p - pt, j * sw + q - pl
                    if 0 <= h < H and 0 <= w < W:
                        y[:, :, i, j] += x[:, :, h, w]
    return y


@pytest.mark.parametrize("k,s,pads", [((2, 2), (2, 2), (0, 0)), ((2, 2), (2, 2), (1, 1)), ((4, 2), (1, 3), (2, 1)),
                                      ((1, 1), (1, 1), (0, 0)), ((8, 16), (1, 1), (0, 0))])
def test_pool_sum(k, s, pads):
    rng = np.random.default_rng(3)
    H, W = 9, 16
    cases = [((rng.random((4, 3, H, W)) < 0.5).astype(np.uint8), [np.uint8, np.int32, np.int64]),
             (rng.integers(-2**31, 2**31, (4, 3, H, W)).astype(np.int32), [np.int64]),
             (rng.integers(-2**24, 2**24, (4, 3, H, W)).astype(np.int32), [np.int32, np.int64]),
             (rng.integers(-2**55, 2**55, (4, 3, H, W)), [np.int64])]
    for x, odts in cases:
        ref = window_sum_ref(x, k, s, pads)
        for odt in odts:
            out = np.full(ref.shape, 5, odt)
            K.pool_sum(x, out, *k, *s, *pads)
            assert np.array_equal(out, ref), (x.dtype, odt)
    with pytest.raises(ValueError, match="narrower"):
        K.pool_sum(cases[1][0], np.zeros(ref.shape, np.uint8), *k, *s, *pads)
    for x, odts in cases:  # channels last: [M, H, W, C] -> [M, Ho, Wo, C]
        ref = window_sum_ref(x, k, s, pads)
        for odt in odts:
            out = np.full(to_cl(ref).shape, 5, odt)
            K.pool_sum(to_cl(x), out, *k, *s, *pads, 0, True)
            assert np.array_equal(out, to_cl(ref)), (x.dtype, odt)


@pytest.mark.parametrize("k,s,pads", [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 2), (1, 1)), ((4, 2), (1, 3), (2, 1))])
@pytest.mark.parametrize("include_pad", [False, True])
def test_avgpool2d_channels_last(k, s, pads, include_pad):
    """avgpool2d of spikes and floats, channels last: the window sum over the taps inside
    divided by kh*kw (count_include_pad) or by their number; the same floats as planar."""
    rng = np.random.default_rng(4)
    H, W = 9, 10
    ones = np.ones((1, 1, H, W), np.int64)
    for x in ((rng.random((3, 5, H, W)) < 0.5).astype(np.uint8), rng.normal(0, 1, (3, 5, H, W)).astype(np.float32)):
        n = k[0] * k[1] if include_pad else window_sum_ref(ones, k, s, pads)
        ref = window_sum_ref(x, k, s, pads) / n
        planar = np.empty(ref.shape, np.float32)
        K.avgpool2d(x, planar, *k, *s, *pads, include_pad)
        out = np.full(to_cl(ref).shape, 5, np.float32)
        K.avgpool2d(to_cl(x), out, *k, *s, *pads, include_pad, 0, True)
        assert np.array_equal(out, to_cl(planar))
        np.testing.assert_allclose(out, to_cl(ref), rtol=1e-6, atol=1e-6)


def test_binary_fixed_shifts_broadcasting_and_extremes():
    rng = np.random.default_rng(4)
    a = rng.integers(-2**20, 2**20, (3, 4, 5, 6)).astype(np.int32)
    b = (rng.random((3, 4, 5, 6)) < 0.5).astype(np.uint8)
    c = rng.integers(-2**40, 2**40, (1, 4, 1, 1))
    for sa, sb in ((0, 0), (3, 0), (0, 10), (2, 5)):
        out = np.empty(a.shape, np.int32)
        K.binary_fixed(a, b, out, sa, sb, False)
        assert np.array_equal(out, (a.astype(np.int64) << sa) + (b.astype(np.int64) << sb))
    # broadcast operands (stride 0) and int64 results near 2^62
    cb = np.broadcast_to(c, a.shape)
    out = np.empty(a.shape, np.int64)
    K.binary_fixed(a, cb, out, 0, 0, True)
    assert np.array_equal(out, a.astype(np.int64) * cb)
    big = np.full((1, 1, 2, 8), 2**61 - 1, np.int64)
    big[0, 0, 1] = -(2**61)
    out = np.empty(big.shape, np.int64)
    K.binary_fixed(big, big, out, 0, 0, False)
    assert np.array_equal(out, big * 2)
    lo = np.full((1, 1, 1, 4), -(2**15), np.int32)
    out = np.empty(lo.shape, np.int32)
    K.binary_fixed(lo, lo, out, 15, 0, False)  # -(2^30) - 2^15: negative shifts are products
    assert np.array_equal(out, (lo.astype(np.int64) << 15) + lo)


def gated_ref(x, T):
    """2x2 stride-2 gated max pool: per window, x_t where the running sum is largest, the
    first such position in row-major window order."""
    B, _, C, H, W = x.shape
    acc = np.zeros((B, C, H, W), np.float64)
    out = np.zeros((B, T, C, H // 2, W // 2), x.dtype)
    for t in range(T):
        xt = x[:, t if x.shape[1] > 1 else 0]
        acc += xt
        for i in range(H // 2):
            for j in range(W // 2):
                a = acc[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(B, C, 4)
                v = xt[:, :, 2 * i:2 * i + 2, 2 * j:2 * j + 2].reshape(B, C, 4)
                out[:, t, :, i, j] = np.take_along_axis(v, a.argmax(-1)[..., None], -1)[..., 0]
    return out


def test_gated_maxpool_2x2_path():
    rng = np.random.default_rng(5)
    for x in ((rng.random((3, 9, 4, 8, 10)) < 0.3).astype(np.uint8),
              (rng.integers(-4, 5, (3, 9, 4, 8, 10)) / 4).astype(np.float32),
              (rng.random((3, 1, 4, 9, 11)) < 0.5).astype(np.uint8)):  # the same input every step; odd sizes
        T = 9
        ref = gated_ref(x[..., : x.shape[3] // 2 * 2, : x.shape[4] // 2 * 2], T)
        out = np.empty((3, T, 4, x.shape[3] // 2, x.shape[4] // 2), x.dtype)
        K.gated_maxpool2d(np.ascontiguousarray(x), out, 2, 2, 2, 2, 0, 0, 1, 1)
        assert np.array_equal(out, ref)


# -- whole modules through the simulator ---------------------------------------------

def dy(rng, shape, lo=-4, hi=5, den=8):
    return (rng.integers(lo, hi, size=shape) / den).astype(np.float32)


def cnn_module(rng, T=6, window=(2, 2), include_pad=False):
    """conv - if - avgpool (read only by the next conv: uint8 counts) - conv + residual
    (an avgpool of the same spikes) - if - gated max pool - dense."""
    m = Module("c", {"T": T})
    x = m.add("input", (), {"index": 0}, "x", TensorType((2, 12, 12)))
    e = m.add("encode", [x], {"mode": "constant"}, "e")
    c1 = m.add("conv2d", [e, m.const(dy(rng, (8, 2, 3, 3)), "w1"), m.const(dy(rng, (8,)), "b1")],
               {"pads": [1, 1, 1, 1]}, "c1")
    s1 = m.add("if", [c1], {"threshold": 1.0}, "s1")
    p1 = m.add("avgpool2d", [s1], {"kernel": list(window), "strides": [2, 2], "pads": [1, 1, 1, 1] if include_pad
                                   else [0, 0, 0, 0], "count_include_pad": include_pad}, "p1")
    c2 = m.add("conv2d", [p1, m.const(dy(rng, (8, 8, 3, 3)), "w2")], {"pads": [1, 1, 1, 1]}, "c2")
    p2 = m.add("avgpool2d", [s1], {"kernel": list(window), "strides": [2, 2], "pads": [1, 1, 1, 1] if include_pad
                                   else [0, 0, 0, 0], "count_include_pad": include_pad}, "p2")
    r = m.add("add", [c2, p2], name="res")
    s2 = m.add("if", [r], {"threshold": 1.0, "v0": 0.5}, "s2")
    g = m.add("gated_maxpool2d", [s2], {"kernel": [2, 2], "strides": [2, 2]}, "g")
    f = m.add("flatten", [g], name="f")
    n = int(np.prod(f.type.shape))
    d = m.add("dense", [f, m.const(dy(rng, (5, n)), "w3"), m.const(dy(rng, (5,)), "b3")], name="d")
    m.outputs = [m.add("readout", [d], name="o")]
    return m.verify()


@pytest.mark.parametrize("window,include_pad", [((2, 2), False), ((2, 2), True), ((3, 3), False)])
def test_counts_fed_to_a_conv_float_exact(window, include_pad):
    """Dyadic weights: every f32 sum is exact, so the float mode equals the interpreter
    exactly, counts or not (2x2: uint8 counts with weights / 4; 3x3: not a power of two,
    float pooling)."""
    rng = np.random.default_rng(8)
    m = cnn_module(rng, window=window, include_pad=include_pad)
    sim = CpuSimulator(m)
    steps = sim.describe()
    assert ("p1 = PoolSum" in steps) == (window == (2, 2)) and "p2 = AvgPool" in steps  # p2 has an add reader
    x = dy(rng, (10, 2, 12, 12), 0, 9, 8)
    out = sim.run(x)
    ref = sncc.interpret(m, x)
    if window == (2, 2):
        assert np.array_equal(out, ref)
    else:  # means of 9 are rounded: summation order may flip a spike; close, not equal
        assert np.abs(out - ref).max() <= 0.05 * np.abs(ref).max()
    assert np.abs(ref).max() > 0


def chain_module(rng, T=5):
    """The benchmark CNN's shape with every conv attribute: conv (stride 2) - if - depthwise
    conv (dilation 2, padding 2) - if - avgpool counts - conv (5 outputs, not a vector) -
    if - avgpool (float, for the dense) - flatten - dense: every image between the convs
    is channels last."""
    m = Module("chain", {"T": T})
    x = m.add("input", (), {"index": 0}, "x", TensorType((3, 13, 11)))
    e = m.add("encode", [x], {"mode": "constant"}, "e")
    c1 = m.add("conv2d", [e, m.const(dy(rng, (8, 3, 3, 3)), "w1"), m.const(dy(rng, (8,)), "b1")],
               {"pads": [1, 1, 1, 1], "strides": [2, 2]}, "c1")
    s1 = m.add("if", [c1], {"threshold": 1.0}, "s1")
    c2 = m.add("conv2d", [s1, m.const(dy(rng, (8, 1, 3, 3)), "w2"), m.const(dy(rng, (8,)), "b2")],
               {"pads": [2, 2, 2, 2], "dilations": [2, 2], "groups": 8}, "c2")
    s2 = m.add("if", [c2], {"threshold": 0.75, "v0": 0.25}, "s2")
    p2 = m.add("avgpool2d", [s2], {"kernel": [2, 2], "strides": [2, 2]}, "p2")
    c3 = m.add("conv2d", [p2, m.const(dy(rng, (5, 8, 3, 3)), "w3")], {"pads": [1, 1, 1, 1]}, "c3")
    s3 = m.add("if", [c3], {"threshold": 1.0, "reset": "zero"}, "s3")
    p3 = m.add("avgpool2d", [s3], {"kernel": [2, 2], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": True},
               "p3")
    f = m.add("flatten", [p3], name="f")
    n = int(np.prod(f.type.shape))
    d = m.add("dense", [f, m.const(dy(rng, (4, n)), "w4"), m.const(dy(rng, (4,)), "b4")], name="d")
    m.outputs = [m.add("readout", [d], name="o")]
    return m.verify()


def test_channels_last_chain_float_and_fixed_exact():
    """Dyadic weights (every f32 sum exact): the channels-last plan equals the interpreter
    exactly in float mode, and bit for bit in fixed point, at 1 and 2 threads."""
    rng = np.random.default_rng(12)
    m = chain_module(rng)
    sim = CpuSimulator(m)
    plan = sim.describe()
    for line in ("c1 = Conv2d(%e)  [static float32 [7, 6, 8]]", "s2 = If(%c2)  [dynamic uint8 [7, 6, 8]]",
                 "p2 = PoolSum(%s2)  [dynamic uint8 [3, 3, 8]]", "p3 = AvgPool(%s3)  [dynamic float32 [4, 4, 5]]"):
        assert line in plan, plan
    x = dy(rng, (12, 3, 13, 11), 0, 9, 8)
    ref = sncc.interpret(m, x)
    assert np.abs(ref).max() > 0
    assert np.array_equal(sim.run(x), ref)
    assert np.array_equal(CpuSimulator(m, threads=1).run(x), ref)
    qm = sncc.PassManager.parse("quantize{weight_bits=8}").run(m.clone(), PassContext())
    qref = sncc.interpret(qm, x)
    for t, cb in ((1, 1 << 23), (2, 1 << 14)):
        assert np.array_equal(CpuSimulator(qm, mode="fixed", threads=t, chunk_bytes=cb).run(x), qref)


@pytest.mark.parametrize("opts", ["weight_bits=8", "weight_bits=4,membrane_bits=10", "weight_bits=16,input_bits=16"])
def test_fixed_conv_counts_and_residual_exact(opts):
    """Fixed mode: the conv in int32 or exact f32 sums (16-bit weights: beyond 2^24), the
    uint8 counts of the avgpool read by a conv, the residual add: bit for bit, any threads."""
    rng = np.random.default_rng(9)
    m = cnn_module(rng, T=7)
    qm = sncc.PassManager.parse(f"quantize{{{opts}}}").run(m.clone(), PassContext())
    x = dy(rng, (20, 2, 12, 12), 0, 17, 16)
    ref = sncc.interpret(qm, x)
    sims = [CpuSimulator(qm, mode="fixed", threads=t, chunk_bytes=cb) for t, cb in ((1, 1 << 23), (2, 1 << 14))]
    assert "p1 = PoolSum" in sims[0].describe()
    outs = [s.run(x) for s in sims]
    assert all(np.array_equal(o, ref) for o in outs) and np.abs(ref).max() > 0
