"""NIR interoperability with real peer simulators (spec/nir.md): snnTorch, Sinabs, Norse.

Networks exported by each tool's own NIR exporter import into sncc and give the spikes
that tool simulates, layer by layer and step by step; sncc's exports load in Norse and
Sinabs through their own NIR importers and give sncc's spikes. Weights, inputs and
thresholds are small dyadic rationals, so every sum is exact in float32 in every tool:
the spikes must be equal, not close.

The peers are installed with `pip install --no-deps -r tests/interop-requirements.txt`
(tested versions there); each test skips when its tool is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nir = pytest.importorskip("nir")
import sncc  # noqa: E402
from sncc.ir import Module  # noqa: E402

RNG = np.random.default_rng(7)


@pytest.fixture(autouse=True)
def spiked():
    """Every layer compared spiked at least once over a test's inputs: a silent layer
    would test nothing."""
    SEEN.clear()
    yield  # (a test skipped for a missing tool compared nothing: SEEN is empty)
    assert all(SEEN.values()), f"silent layers: {SEEN}"
T = 10


def dyadic(shape, lo=-4, hi=4, denom=8):
    return (RNG.integers(lo, hi + 1, size=shape) / denom).astype(np.float32)


def set_params(net, lo=-4, hi=4):
    """Dyadic weights and biases (thresholds stay as given)."""
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
                for p in mod.parameters():
                    p.copy_(torch.from_numpy(dyadic(tuple(p.shape), lo, hi)))


def inputs(shape, n=4):
    return [dyadic(shape, 0, 8, 8) for _ in range(n)]


SEEN: dict[str, int] = {}


def assert_same_spikes(snn, x, peer_trains: dict, peer_counts):
    """sncc's spikes of every neuron layer (named after the NIR nodes) and output counts
    equal the peer's. SEEN counts each layer's spikes: `spiked()` checks none was silent."""
    mine = snn.spike_trains(x)
    for name, s in peer_trains.items():
        SEEN[name] = SEEN.get(name, 0) + int(s.sum())
        np.testing.assert_array_equal(mine[name].reshape(s.shape), s, err_msg=f"layer {name}")
    np.testing.assert_array_equal(snn.run(x, backend="reference"), np.asarray(peer_counts, np.float32).reshape(-1))


# -- peer -> sncc ----------------------------------------------------------------------

def snntorch_net(conv: bool):
    snn = pytest.importorskip("snntorch")
    Leaky = snn.Leaky
    # beta = 1: no leak; reset by subtraction (snnTorch's default); fires at mem > threshold
    if conv:
        layers = [torch.nn.Conv2d(1, 4, 3, stride=2, padding=1), Leaky(beta=1.0, threshold=0.5, init_hidden=True),
                  torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(16, 3),
                  Leaky(beta=1.0, threshold=1.0, init_hidden=True)]
    else:
        layers = [torch.nn.Linear(6, 16), Leaky(beta=1.0, threshold=0.5, init_hidden=True), torch.nn.Linear(16, 4),
                  Leaky(beta=1.0, threshold=1.0, init_hidden=True)]
    net = torch.nn.Sequential(*layers)
    set_params(net)
    return net


def run_snntorch(net, x):
    from snntorch import utils

    utils.reset(net)
    trains = {}
    xt = torch.from_numpy(x)[None]
    with torch.no_grad():
        for _ in range(T):
            cur = xt
            for i, layer in enumerate(net):
                cur = layer(cur)
                if type(layer).__name__ == "Leaky":
                    trains.setdefault(str(i), []).append(cur[0].numpy().astype(np.uint8))
    trains = {k: np.stack(v) for k, v in trains.items()}
    return trains, trains[max(trains, key=int)].sum(axis=0)


@pytest.mark.parametrize("conv", [False, True])
def test_snntorch_export_imports_with_the_same_spikes(tmp_path, conv):
    pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    net = snntorch_net(conv)
    shape = (1, 8, 8) if conv else (6,)
    with np.errstate(divide="ignore"):  # snnTorch computes tau = dt / (1 - beta) = inf
        graph = export_to_nir(net, torch.zeros((1,) + shape))
    assert isinstance(graph.nodes["1"], nir.LIF) and np.all(np.isinf(graph.nodes["1"].tau))
    # Not through a file: nir.write (1.0.8) cannot store snnTorch's 0-d thresholds (it asks
    # HDF5 to compress a scalar) nor a Conv2d input_shape of None.
    snn = sncc.import_nir(graph, T=T, reset="subtract")
    for x in inputs(shape):
        trains, counts = run_snntorch(net, x)
        assert_same_spikes(snn, x, trains, counts)


def sinabs_net(conv: bool):
    pytest.importorskip("sinabs")
    import sinabs.layers as sl
    from sinabs.activation import SingleSpike

    def iaf(thr):  # one spike per step (Sinabs's default MultiSpike can emit several), reset by subtraction
        return sl.IAFSqueeze(batch_size=1, spike_threshold=thr, spike_fn=SingleSpike)

    if conv:
        layers = [torch.nn.Conv2d(1, 4, 3, padding=1), iaf(0.5), sl.SumPool2d(2), torch.nn.Flatten(),
                  torch.nn.Linear(64, 3), iaf(1.0)]
    else:
        layers = [torch.nn.Linear(6, 16), iaf(0.5), torch.nn.Linear(16, 4), iaf(1.0)]
    net = torch.nn.Sequential(*layers)
    set_params(net)
    return net


def run_sinabs(net, x):
    """Sinabs's Squeeze layers take [batch * time, ...]: the constant input repeated T times."""
    for layer in net:
        if hasattr(layer, "reset_states"):
            layer.reset_states()
    trains = {}
    cur = torch.from_numpy(np.repeat(x[None], T, axis=0))
    with torch.no_grad():
        for i, layer in enumerate(net):
            cur = layer(cur)
            if type(layer).__name__ == "IAFSqueeze":
                trains[str(i)] = cur.numpy().astype(np.uint8)
    return trains, trains[max(trains, key=int)].sum(axis=0)


@pytest.mark.parametrize("conv", [False, True])
def test_sinabs_export_imports_with_the_same_spikes(tmp_path, conv):
    sinabs = pytest.importorskip("sinabs")

    net = sinabs_net(conv)
    shape = (1, 8, 8) if conv else (6,)
    graph = sinabs.to_nir(net, torch.zeros((1,) + shape))
    assert isinstance(graph.nodes["1"], nir.IF)  # Sinabs writes its subtract-reset IAF as nir.IF
    if not conv:
        nir.write(tmp_path / "sinabs.nir", graph)
    # Sinabs: reset by subtraction, fires at v >= threshold
    snn = sncc.import_nir(graph if conv else tmp_path / "sinabs.nir", T=T, reset="subtract", compare=">=")
    for x in inputs(shape):
        trains, counts = run_sinabs(net, x)
        assert_same_spikes(snn, x, trains, counts)


def norse_net():
    norse = pytest.importorskip("norse.torch")
    net = norse.SequentialState(torch.nn.Linear(6, 16), norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(0.5))),
                                torch.nn.Linear(16, 4), norse.IAFCell(norse.IAFParameters(v_th=torch.tensor(1.0))))
    set_params(net)
    return net


def run_norse(net, x):
    trains, states = {}, [None] * len(net)
    xt = torch.from_numpy(x)[None]
    with torch.no_grad():
        for _ in range(T):
            cur = xt
            for i, layer in enumerate(net):
                if type(layer).__name__ == "IAFCell":
                    cur, states[i] = layer(cur, states[i])
                    trains.setdefault(str(i), []).append(cur[0].numpy().astype(np.uint8))
                else:
                    cur = layer(cur)
    trains = {k: np.stack(v) for k, v in trains.items()}
    return trains, trains[max(trains, key=int)].sum(axis=0)


def test_norse_export_imports_with_the_same_spikes(tmp_path):
    pytest.importorskip("norse.torch")
    from norse.torch import to_nir

    net = norse_net()
    graph = to_nir(net, torch.zeros((1, 6)))
    assert isinstance(graph.nodes["1"], nir.IF)
    # (nir.write cannot store Norse's 0-d thresholds either, as for snnTorch)
    snn = sncc.import_nir(graph, T=T)  # NIR's own semantics: v > threshold, reset to 0
    for x in inputs((6,)):
        trains, counts = run_norse(net, x)
        assert_same_spikes(snn, x, trains, counts)


# -- sncc -> peer ----------------------------------------------------------------------
# Thresholds lie off the grid of reachable membranes (k/64 + 1/1024), so `>` and `>=`
# agree: these are networks whose semantics NIR holds (reset to zero for Norse).

def sncc_network(reset: str, conv: bool, nonnegative: bool = False, thresholds=(0.5, 1.0)) -> sncc.SpikingNetwork:
    lo = 0 if nonnegative else -4
    m = Module("net", {"T": T})
    shape = (1, 8, 8) if conv else (6,)
    from sncc.types import TensorType, f32

    x = m.add("input", [], {"index": 0}, "x", TensorType(shape, f32))
    h = m.add("encode", [x], {}, "x.enc")
    if conv:
        h = m.add("conv2d", [h, m.const(dyadic((4, 1, 3, 3), lo, 2)), m.const(dyadic(4, lo, 2))],
                  {"strides": [2, 2], "pads": [1, 1, 1, 1]}, "conv")
        h = m.add("if", [h], {"threshold": thresholds[0] + 1 / 1024, "reset": reset}, "s1")
        h = m.add("flatten", [h], {}, "flat")
        n = 64
    else:
        h = m.add("dense", [h, m.const(dyadic((16, 6), lo, 2)), m.const(dyadic(16, lo, 2))], {}, "fc1")
        h = m.add("if", [h], {"threshold": thresholds[0] + 1 / 1024, "reset": reset}, "s1")
        n = 16
    h = m.add("dense", [h, m.const(dyadic((4, n), lo, 2)), m.const(dyadic(4, lo, 2))], {}, "fc2")
    h = m.add("if", [h], {"threshold": thresholds[1] + 1 / 1024, "reset": reset}, "s2")
    m.outputs = [m.add("readout", [h], {"mode": "count"}, "out")]
    return sncc.SpikingNetwork(m.verify())


def peer_graph(snn, tmp_path):
    with pytest.warns(UserWarning, match="NIR cannot express firing at v >= threshold"):
        snn.export_nir(tmp_path / "sncc.nir")
    return nir.read(tmp_path / "sncc.nir")


@pytest.mark.parametrize("conv", [False, True])
def test_sncc_export_runs_in_norse(tmp_path, conv):
    pytest.importorskip("norse.torch")
    from norse.torch import from_nir

    snn = sncc_network("zero", conv)
    model = from_nir(peer_graph(snn, tmp_path))
    for x in inputs(snn.input_shape):
        state, trains = None, {}
        with torch.no_grad():
            for _ in range(T):
                _, state = model(torch.from_numpy(x)[None], state)
                for name in ("s1", "s2"):
                    trains.setdefault(name, []).append(state.cache[name].numpy().astype(np.uint8))
        trains = {k: np.stack(v) for k, v in trains.items()}
        assert_same_spikes(snn, x, trains, trains["s2"].sum(axis=0))


@pytest.mark.parametrize("conv", [False, True])
def test_sncc_export_runs_in_sinabs(tmp_path, conv):
    """Sinabs reads nir.IF as its IAF: reset by subtraction, v >= threshold, sncc's own
    semantics. Its importer also bounds the membrane below at -threshold and may emit
    several spikes per step: non-negative weights, and thresholds above any one step's
    input, keep these out of play."""
    sinabs = pytest.importorskip("sinabs")
    snn = sncc_network("subtract", conv, nonnegative=True, thresholds=(3, 6) if conv else (2, 5))
    model = sinabs.from_nir(peer_graph(snn, tmp_path), batch_size=1)
    for x in inputs(snn.input_shape):
        for layer in model.modules():
            if hasattr(layer, "reset_states"):
                layer.reset_states()
        trains = {}
        hooks = [mod.register_forward_hook(lambda mod, i, o, name=name: trains.__setitem__(name, o.numpy()))
                 for name, mod in model.named_modules() if name in ("s1", "s2")]
        with torch.no_grad():
            model(torch.from_numpy(np.repeat(x[None], T, axis=0)))
        for h in hooks:
            h.remove()
        assert set(trains) == {"s1", "s2"} and max(t.max() for t in trains.values()) <= 1
        trains = {k: v.astype(np.uint8) for k, v in trains.items()}
        assert_same_spikes(snn, x, trains, trains["s2"].sum(axis=0))
