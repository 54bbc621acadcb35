"""The quantize pass and the fixed-point semantics (spec/ir.md section 6)."""
import numpy as np
import pytest

import sncc
from sncc.pass_manager import PassContext
from sncc.types import Fixed
from conftest import nn, torch, train_quick


def quantize(module, pipeline="quantize"):
    ctx = PassContext()
    return sncc.PassManager.parse(pipeline).run(module.clone(), ctx), ctx.reports


def plain_reference(m, x):
    """Section 6 for a dense/if/readout chain, written out with Python integers, one neuron at a time."""
    T = m.attrs["T"]
    ops = m.ops
    inp = m.inputs[0]
    F_in = inp.type.elem.frac
    qin = [min(max(int(np.floor(float(v) * 2 ** F_in + 0.5)), inp.type.elem.min_int), inp.type.elem.max_int) for v in x]
    state, acc_out = {}, None
    from golden.prng import initial_state as prng_initial_state  # the spec's PRNG, not the code under test

    enc = next(op for op in ops if op.kind == "encode")
    rng = prng_initial_state(enc.attrs["seed"])
    for t in range(T):
        vals = {}
        for op in ops:
            k = op.kind
            if k == "input":
                vals[op] = qin
            elif k == "encode":
                if op.attrs["mode"] == "constant":
                    vals[op] = qin
                else:
                    spikes = []
                    for q in qin:
                        rng ^= (rng << 13) & 0xFFFFFFFF
                        rng ^= rng >> 17
                        rng ^= (rng << 5) & 0xFFFFFFFF
                        p = min(max(q, 0), 1 << F_in) << (24 - F_in)
                        spikes.append(1 if (rng >> 8) < p else 0)
                    vals[op] = spikes
            elif k == "dense":
                src = vals[op.operands[0].owner]
                w = m.const_value(op.operands[1]).astype(int).tolist()
                b = m.const_value(op.operands[2]).astype(int).tolist() if len(op.operands) > 2 else [0] * len(w)
                vals[op] = [sum(wi * si for wi, si in zip(row, src)) + bi for row, bi in zip(w, b)]
            elif k == "if":
                cur = vals[op.operands[0].owner]
                F = op.operands[0].type.elem.frac
                th = int(round(op.attrs["threshold"] * 2 ** F))
                lim = 1 << (op.attrs["vbits"] - 1)
                v = state.setdefault(op, [int(np.floor(op.attrs["v0"] * 2 ** F + 0.5))] * len(cur))
                out = []
                for i, c in enumerate(cur):
                    v[i] = min(max(v[i] + c, -lim), lim - 1)
                    s = v[i] >= th
                    if s:
                        v[i] = v[i] - th if op.attrs["reset"] == "subtract" else 0
                    out.append(int(s))
                vals[op] = out
            elif k == "readout":
                cur = vals[op.operands[0].owner]
                acc_out = cur[:] if acc_out is None else [a + c for a, c in zip(acc_out, cur)]
    return acc_out


@pytest.fixture(scope="module")
def small_mlp(mnist):
    (x, y), _ = mnist
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(784, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 10))
    return train_quick(model, x[:3000], y[:3000], epochs=1)


@pytest.mark.parametrize("encoding,reset,readout", [
    ("constant", "subtract", "membrane"), ("rate", "subtract", "membrane"),
    ("constant", "zero", "count"), ("rate", "zero", "membrane"),
])
def test_fixed_point_equals_a_plain_integer_reference(small_mlp, mnist, encoding, reset, readout):
    (x, _), (xt, _) = mnist
    snn = sncc.convert(small_mlp, calibration_data=x[:200], T=6, encoding=encoding, reset=reset, readout=readout, seed=11)
    q, _ = quantize(snn.module, "quantize{weight_bits=6,membrane_bits=12}")
    out = sncc.interpret(q, xt[:8])
    F = q.outputs[0].type.elem.frac
    for i in range(8):
        expected = plain_reference(q, xt[i])
        assert (out[i] * 2 ** F).astype(np.int64).tolist() == expected


def test_eight_bit_mlp_keeps_its_accuracy(mnist):
    (x, _), (xt, yt) = mnist
    snn = sncc.convert("examples/mlp.onnx", calibration_data=x[:500], T=16)
    q, reports = quantize(snn.module)
    float_acc = (snn.classify(xt[:1000]) == yt[:1000]).mean()
    fixed_acc = (sncc.interpret(q, xt[:1000]).argmax(1) == yt[:1000]).mean()
    assert fixed_acc >= float_acc - 0.005, (float_acc, fixed_acc)
    layers = reports["quantize"]["layers"]
    assert [l["weights"].startswith("fx<8,") for l in layers] == [True] * 3
    assert all(l["clipped_weights"] == 0 for l in layers)
    assert all(not l["may_saturate"] for l in layers if "membrane_bits" in l)
    assert layers[0]["threshold_q"] == 2 ** q.ops[[op.kind for op in q.ops].index("dense")].type.elem.frac
    # 4-bit weights work end to end, at some cost
    q4, _ = quantize(snn.module, "quantize{weight_bits=4}")
    acc4 = (sncc.interpret(q4, xt[:1000]).argmax(1) == yt[:1000]).mean()
    assert 0.5 < acc4 <= fixed_acc + 0.02


def test_quantized_ir_round_trips_and_is_checked(small_mlp, mnist):
    (x, _), _ = mnist
    snn = sncc.convert(small_mlp, calibration_data=x[:100], T=4)
    q, _ = quantize(snn.module)
    text = q.to_text()
    assert "xfx<9,8>>" in text and "vbits = " in text
    assert sncc.parse(text).to_text() == text
    dense = next(op for op in q.ops if op.kind == "dense")
    right = f"dense(%x.enc, %{dense.operands[1].name}, %{dense.operands[2].name}) : {dense.type}"
    wrong = right.replace(f",{dense.type.elem.frac}>>", f",{dense.type.elem.frac + 1}>>")
    assert right in text and wrong != right
    with pytest.raises(sncc.ParseError, match=f"must have {dense.type.elem.frac} fraction bits"):
        sncc.parse(text.replace(right, wrong))


def test_quantize_refuses_what_it_cannot_represent(mnist):
    (x, _), _ = mnist
    model = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(3), nn.Flatten(),
                          nn.Linear(2 * 8 * 8, 10))
    snn = sncc.convert(model, calibration_data=x[:20], T=4)
    # a 3x3 average before a linear layer folds into it (fold-avgpool): the sum is exact
    q, _ = quantize(snn.module.clone())
    pool = next(op for op in q.ops if op.kind == "conv2d" and op.attrs["groups"] == 2)
    assert pool.attrs["strides"] == [3, 3] and str(pool.operands[1].type) == "tensor<2x1x3x3xfx<8,0>>"
    f = snn.run(x[:200], backend="reference")
    g = sncc.SpikingNetwork(q).run(x[:200], backend="reference")
    assert (f.argmax(1) == g.argmax(1)).mean() >= 0.95
    # ... but not when nothing linear reads it
    tail = nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(3), nn.Flatten())
    snn = sncc.convert(tail, calibration_data=x[:20], T=4)
    with pytest.raises(sncc.SnccError, match="window of 9 elements is not a power of two.*cannot be folded"):
        quantize(snn.module)
    with pytest.raises(sncc.SnccError, match="quantize runs on a spiking network"):
        quantize(sncc.import_onnx("examples/mlp.onnx"))
    with pytest.raises(sncc.SnccError, match="weight_bits' must be in 2..16"):
        sncc.PassManager.parse("quantize{weight_bits=1}")


def _plain_cnn_reference(m, x):
    """Section 6 for a conv / avgpool / gated-maxpool / residual add+mul / dense network,
    with explicit loops over Python integers (no numpy arithmetic), one sample."""
    from golden.prng import initial_state as prng_initial_state  # the spec's PRNG, not the code under test

    T = m.attrs["T"]
    frac = lambda v: v.type.elem.frac if isinstance(v.type.elem, Fixed) else 0  # noqa: E731
    inp = m.inputs[0]
    e = inp.type.elem
    flat_in = [min(max(int(np.floor(float(v) * 2 ** e.frac + 0.5)), e.min_int), e.max_int) for v in x.reshape(-1)]
    rng = None
    state, out = {}, None

    def reshape(flat, shape):
        C, H, W = shape
        return [[[flat[(c * H + h) * W + w] for w in range(W)] for h in range(H)] for c in range(C)]

    def flatten(t):
        return [v for plane in t for row in plane for v in row]

    for t in range(T):
        vals = {}
        for op in m.ops:
            k, a = op.kind, op.attrs
            if k == "const":
                continue
            if k == "input":
                vals[op] = reshape(flat_in, op.type.shape)
                continue
            src = vals.get(op.operands[0].owner)
            if k == "encode":
                if a["mode"] == "constant":
                    vals[op] = src
                else:
                    if t == 0 and rng is None:
                        rng = prng_initial_state(a["seed"])
                    flat = []
                    for q in flatten(src):
                        rng ^= (rng << 13) & 0xFFFFFFFF
                        rng ^= rng >> 17
                        rng ^= (rng << 5) & 0xFFFFFFFF
                        flat.append(1 if (rng >> 8) < (min(max(q, 0), 1 << e.frac) << (24 - e.frac)) else 0)
                    vals[op] = reshape(flat, op.type.shape)
            elif k == "conv2d":
                w = m.const_value(op.operands[1]).astype(int).tolist()
                b = m.const_value(op.operands[2]).astype(int).tolist()
                O, Ho, Wo = op.type.shape
                C, H, W = op.operands[0].type.shape
                (sh, sw), (pt, pl, _, _), (dh, dw) = a["strides"], a["pads"], a["dilations"]
                kh, kw = len(w[0][0]), len(w[0][0][0])
                res = [[[b[o] for _ in range(Wo)] for _ in range(Ho)] for o in range(O)]
                for o in range(O):
                    for i in range(Ho):
                        for j in range(Wo):
                            for c in range(C):
                                for p in range(kh):
                                    for q in range(kw):
                                        h, ww = i * sh + p * dh - pt, j * sw + q * dw - pl
                                        if 0 <= h < H and 0 <= ww < W:
                                            res[o][i][j] += w[o][c][p][q] * src[c][h][ww]
                vals[op] = res
            elif k == "avgpool2d":
                (kh, kw), (sh, sw) = a["kernel"], a["strides"]
                C, Ho, Wo = op.type.shape
                vals[op] = [[[sum(src[c][i * sh + p][j * sw + q] for p in range(kh) for q in range(kw))
                              for j in range(Wo)] for i in range(Ho)] for c in range(C)]
            elif k == "gated_maxpool2d":
                acc = state.setdefault(op, [[[0] * len(src[0][0]) for _ in src[0]] for _ in src])
                for c in range(len(src)):
                    for h in range(len(src[0])):
                        for ww in range(len(src[0][0])):
                            acc[c][h][ww] += src[c][h][ww]
                (kh, kw), (sh, sw) = a["kernel"], a["strides"]
                C, Ho, Wo = op.type.shape
                res = []
                for c in range(C):
                    plane = []
                    for i in range(Ho):
                        row = []
                        for j in range(Wo):
                            best = None
                            for p in range(kh):
                                for q in range(kw):
                                    h, ww = i * sh + p, j * sw + q
                                    if best is None or acc[c][h][ww] > acc[c][best[0]][best[1]]:
                                        best = (h, ww)
                            row.append(src[c][best[0]][best[1]])
                        plane.append(row)
                    res.append(plane)
                vals[op] = res
            elif k == "mul":
                cq = int(m.const_value(op.operands[1]).reshape(-1)[0])
                vals[op] = [[[v * cq for v in row] for row in plane] for plane in src]
            elif k == "add":
                F = frac(op.result)
                other = vals[op.operands[1].owner]
                sa, sb = F - frac(op.operands[0]), F - frac(op.operands[1])
                vals[op] = [[[(u << sa) + (v << sb) for u, v in zip(r1, r2)] for r1, r2 in zip(p1, p2)]
                            for p1, p2 in zip(src, other)]
            elif k == "flatten":
                vals[op] = flatten(src) if isinstance(src[0], list) else src
            elif k == "dense":
                w = m.const_value(op.operands[1]).astype(int).tolist()
                b = m.const_value(op.operands[2]).astype(int).tolist()
                vals[op] = [sum(wi * si for wi, si in zip(row, src)) + bi for row, bi in zip(w, b)]
            elif k == "if":
                F = frac(op.operands[0])
                th = int(round(a["threshold"] * 2 ** F))
                lim = 1 << (a["vbits"] - 1)
                flat = flatten(src) if isinstance(src[0], list) else src
                v = state.setdefault(op, [int(np.floor(a["v0"] * 2 ** F + 0.5))] * len(flat))
                spikes = []
                for i, c in enumerate(flat):
                    v[i] = min(max(v[i] + c, -lim), lim - 1)
                    s = v[i] >= th
                    if s:
                        v[i] = v[i] - th if a["reset"] == "subtract" else 0
                    spikes.append(int(s))
                vals[op] = reshape(spikes, op.type.shape) if op.type.rank == 3 else spikes
            elif k == "readout":
                out = list(src) if out is None else [u + v for u, v in zip(out, src)]
            else:
                raise AssertionError(k)
    return out


@pytest.mark.parametrize("encoding,reset", [("constant", "subtract"), ("rate", "zero")])
def test_fixed_point_cnn_ops_equal_a_plain_integer_reference(encoding, reset):
    """conv2d (strided, padded, dilated), avg pooling, gated max pooling, a residual add with a
    synaptic mul, flatten and dense, quantized, against the loops above, spike for spike."""
    from sncc.types import TensorType

    rng = np.random.default_rng(3)
    m = sncc.ir.Module("cnn", {"T": 5})
    x = m.add("input", (), {"index": 0, "calib.min": 0.0, "calib.max": 1.0}, "x", TensorType((1, 8, 8)))
    e = m.add("encode", [x], {"mode": encoding, "seed": 9}, "e")
    c1 = m.add("conv2d", [e, m.const(rng.normal(0, 0.6, (3, 1, 3, 3))), m.const(rng.normal(0, 0.1, 3))],
               {"pads": [1, 1, 1, 1]}, "c1")
    s1 = m.add("if", [c1], {"threshold": 1.0, "reset": reset, "v0": 0.5}, "s1")
    c2 = m.add("conv2d", [s1, m.const(rng.normal(0, 0.4, (3, 3, 3, 3))), m.const(rng.normal(0, 0.1, 3))],
               {"pads": [2, 2, 2, 2], "dilations": [2, 2]}, "c2")
    skip = m.add("mul", [s1, m.const(np.array(0.75, np.float32))], name="skip")
    r = m.add("add", [c2, skip], name="r")
    s2 = m.add("if", [r], {"threshold": 1.0, "reset": reset}, "s2")
    p1 = m.add("avgpool2d", [s2], {"kernel": [2, 2], "strides": [2, 2]}, "p1")
    c3 = m.add("conv2d", [p1, m.const(rng.normal(0, 0.8, (2, 3, 2, 2))), m.const(rng.normal(0, 0.1, 2))],
               {"strides": [1, 1]}, "c3")
    s3 = m.add("if", [c3], {"threshold": 1.0, "reset": reset}, "s3")
    g = m.add("gated_maxpool2d", [s3], {"kernel": [2, 2], "strides": [1, 1]}, "g")
    f = m.add("flatten", [g], name="f")
    d = m.add("dense", [f, m.const(rng.normal(0, 0.5, (4, 8))), m.const(rng.normal(0, 0.1, 4))], name="d")
    m.outputs = [m.add("readout", [d], name="o")]
    q, _ = quantize(m.verify(), "quantize{weight_bits=6}")
    assert {op.kind for op in q.ops} >= {"conv2d", "avgpool2d", "gated_maxpool2d", "mul", "add", "dense"}
    xs = rng.random((3, 1, 8, 8)).astype(np.float32)
    got = sncc.interpret(q, xs)
    F = q.outputs[0].type.elem.frac
    for i in range(3):
        assert (got[i] * 2 ** F).astype(np.int64).tolist() == _plain_cnn_reference(q, xs[i])
    # every layer is active, and the CPU simulator's fixed-point mode agrees too
    _, spikes = sncc.SpikingNetwork(q).run(xs, record=True, backend="reference")
    assert all(v > 0 for v in spikes.values()) and len(spikes) == 3
    from sncc.backends.cpu import CpuSimulator

    np.testing.assert_array_equal(CpuSimulator(q, mode="fixed").run(xs), got)
