"""Convolutional and residual networks on the FPGA backend, bit-exact with spec/ir.md section 6.

Small networks converted by sncc from torch modules (untrained: the weights are random, the
arithmetic is what is checked) cover every op `convert-to-snn` produces: conv2d with stride,
padding, dilation and groups (depthwise), average pooling (a power-of-two window, and a 6x6
global pool that `fold-avgpool` turns into a sum), gated max pooling, flatten, dense, a
residual add with a 1x1 projection shortcut and the synaptic `mul` of `normalize`, concat,
constant and rate encoding, both resets, membrane and count readouts. The RTL is
co-simulated with Verilator against `sncc.interpret` (the reference of section 6); the
hardware graph's own integer model is checked against the interpreter first, without RTL.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import sncc  # noqa: E402
from sncc.backends import artix7  # noqa: E402
from sncc.backends.fpga import model as hw_model  # noqa: E402
from sncc.backends.fpga.graph import build_graph  # noqa: E402
from sncc.interpreter import quantize_input  # noqa: E402
from sncc.pass_manager import PassContext  # noqa: E402
from conftest import needs_verilator  # noqa: E402


class Mixed(nn.Module):
    """Stride, padding, dilation, a depthwise conv, a residual add with a 1x1 projection, a
    channel concat and a 6x6 global average pool (not a power of two: folded)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 3, padding=1)
        self.c2 = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.c3 = nn.Conv2d(8, 8, 3, padding=1)
        self.proj = nn.Conv2d(6, 8, 1, stride=2)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.side = nn.Conv2d(8, 4, 1)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        a = torch.relu(self.c1(x))
        b = torch.relu(self.c2(a))
        c = torch.relu(self.c3(b) + self.proj(a))
        d = torch.cat([torch.relu(self.dw(c)), torch.relu(self.side(c))], 1)
        return self.fc(nn.functional.adaptive_avg_pool2d(d, 1).flatten(1))


def benchmark_style_cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(4, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8 * 3 * 3, 10))


def wide_pool_cnn():
    """A 3x3 average pool (sums up to 9: values too wide for shift-add multiplies) in front of
    a conv, and a 5x5 conv (25 banks)."""
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(3, stride=2, padding=1),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 5, padding=2), nn.ReLU(),
                         nn.Flatten(), nn.Linear(6 * 5 * 5, 10))


def quantized(net, x, T=5, weight_bits=6, **kw):
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):    # give the folded batchnorms something to do
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    snn = sncc.convert(net.eval(), calibration_data=x, T=T, progress=False, **kw)
    return sncc.PassManager.parse(f"quantize{{weight_bits={weight_bits}}}").run(snn.module.clone(), PassContext())


def images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 1, size, size)).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.4] = 0.0          # sparse, like digits
    return x


CASES = [
    ("cnn", benchmark_style_cnn, 12, dict()),
    ("cnn", benchmark_style_cnn, 12, dict(readout="count", reset="zero", maxpool="avg")),
    ("mixed", Mixed, 12, dict()),
    ("mixed", Mixed, 12, dict(readout="count", reset="zero")),
    ("wide", wide_pool_cnn, 10, dict()),
]


@pytest.mark.parametrize("name,make,size,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_graph_folding_equals_the_reference(name, make, size, kw):
    """The hardware graph (nodes, folded projections) in integers equals sncc.interpret."""
    torch.manual_seed(1)
    x = images(48, size)
    m = quantized(make(), x, **kw)
    g = build_graph(m)
    got = hw_model.run(g, quantize_input(x, m.inputs[0].type))
    want = np.rint(np.asarray(sncc.interpret(m, x), np.float64) * 2.0 ** g.out_frac).astype(np.int64)
    assert np.array_equal(got, want.reshape(len(x), -1))
    kinds = [n.kind for n in g.nodes]
    if name == "mixed":
        assert "sum" in kinds and any(p.groups == 8 for p in g.projections)         # folded 6x6 pool, depthwise
        assert any(len(n.projections) == 2 for n in g.nodes if n.kind == "if")       # the residual add
    elif name == "cnn":
        assert ("gmax" in kinds) == (kw.get("maxpool", "gate") == "gate")


@needs_verilator
@pytest.mark.parametrize("name,make,size,kw,lanes", [
    ("cnn", benchmark_style_cnn, 14, dict(encoding="rate", readout="count"), 3),   # 14, 7: banks with holes
    ("mixed", Mixed, 12, dict(reset="zero"), 5),
    ("wide", wide_pool_cnn, 10, dict(), 4),
])
def test_rtl_bit_exact(tmp_path, name, make, size, kw, lanes):
    torch.manual_seed(2)
    x = images(60, size, seed=3)
    m = quantized(make(), x[:40], **kw)
    # and the input type's extremes (inputs are clamped to the type, not to the calibrated
    # range): every width must hold there too (spec/ir.md section 6)
    big = np.float32(1e4)
    checker = np.where(np.indices((1, size, size)).sum(0) % 2, big, -big).astype(np.float32)
    extremes = np.stack([np.full((1, size, size), big), np.full((1, size, size), -big), checker])
    vectors = np.concatenate([extremes, x[40:57]])
    rep = artix7.build(m, tmp_path / name, vectors=vectors, n_vectors=20, lanes=lanes, synth=False)
    v = rep["verification"]
    assert v["mismatches"] == 0 and v["vectors"] == 20
    assert v["lint"] is True, v.get("lint_messages")
    perf = rep["performance"]
    assert 0 < perf["cycles_min"] <= perf["cycles_max"] <= perf["cycles_bound"]
    # the cycle model (the events it counts are the integer model's, or assumed for rate
    # encoding) lands within a factor of two of the simulation
    model = rep["cycles_model"]["total"]
    assert 0.5 < model / perf["cycles_mean"] < 2.0, (model, perf["cycles_mean"])
    kinds = {r["kind"] for r in rep["layers"]}
    assert {"input", "if", "readout"} <= kinds
    # the report lists each node's memory and what it reads
    md = (tmp_path / name / "report.md").read_text()
    assert "## Nodes" in md and "| n0 | input |" in md


def test_lanes_for_a_target_fps():
    """FINN-style folding: the fewest lanes per node whose modelled throughput meets the target;
    more lanes for a higher target; the fit check caps it."""
    from sncc.backends.fpga import core, cycles

    torch.manual_seed(2)
    x = images(24, 12, seed=3)
    m = quantized(benchmark_style_cnn(), x[:16])
    g = build_graph(m)
    core.assign_lanes(g, 1)
    ev = cycles.activity(g, quantize_input(x, m.inputs[0].type).reshape(len(x), -1))
    slow = cycles.fps(g, ev, 100e6)
    lo = cycles.choose_lanes(g, ev, 2 * slow, 100e6, lambda trial: True)
    hi = cycles.choose_lanes(g, ev, 1e9, 100e6, lambda trial: True)
    assert cycles.fps(g, ev, 100e6, lo) >= 2 * slow
    assert all(lo[i] <= hi[i] for i in lo) and sum(hi.values()) > sum(lo.values())
    assert max(hi[n.index] - n.C for n in g.nodes if n.kind not in ("input", "encoder", "gmax")) <= 0
    capped = cycles.choose_lanes(g, ev, 1e9, 100e6, lambda trial: max(trial.values()) <= 2)
    assert max(capped.values()) <= 2
