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
    from sncc.interpreter import prng_initial_state

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
    with pytest.raises(sncc.SnccError, match="window of 9 elements is not a power of two"):
        quantize(snn.module)
    with pytest.raises(sncc.SnccError, match="quantize runs on a spiking network"):
        quantize(sncc.import_onnx("examples/mlp.onnx"))
    with pytest.raises(sncc.SnccError, match="weight_bits' must be in 2..16"):
        sncc.PassManager.parse("quantize{weight_bits=1}")
