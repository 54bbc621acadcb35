"""NIR import and export (spec/nir.md).

Graphs are built and written with the `nir` package (NIR's reference implementation),
and the imported networks are checked against `nir_reference`, a numpy simulation of
NIR's node equations written here from NIR's definitions (dt = 1, constant input current),
sharing nothing with sncc. Weights, inputs and thresholds are small dyadic rationals, so
every sum is exact in float32 whatever its order: spikes must agree exactly, and
membranes do hit thresholds exactly, which tells `>` from `>=`.
"""
from __future__ import annotations

import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

nir = pytest.importorskip("nir")
import sncc  # noqa: E402
from sncc.errors import SnccError  # noqa: E402
from sncc.nir_export import NirExportWarning  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(11)


def dyadic(shape, lo=-4, hi=4, denom=8):
    return (RNG.integers(lo, hi + 1, size=shape) / denom).astype(np.float32)


# -- an independent numpy simulation of NIR graphs -------------------------------------

def _conv(x, w, b, stride, pad, dil, groups):
    """2-D cross-correlation by explicit loops over the kernel (PyTorch's definition)."""
    c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.zeros((c, h + 2 * pad[0], wd + 2 * pad[1]), np.float64)
    xp[:, pad[0]:pad[0] + h, pad[1]:pad[1] + wd] = x
    ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(kh):
            for j in range(kw):
                patch = xp[g * cg:(g + 1) * cg, i * dil[0]: i * dil[0] + stride[0] * (ho - 1) + 1: stride[0],
                           j * dil[1]: j * dil[1] + stride[1] * (wo - 1) + 1: stride[1]]
                y[oc] += np.tensordot(w[oc, :, i, j], patch, axes=(0, 0))
        y[oc] += b[oc]
    return y


def _pool_sum(x, k, s, p):
    w = np.ones((x.shape[0], 1, k[0], k[1]))
    return _conv(x, w, np.zeros(x.shape[0]), s, p, (1, 1), x.shape[0])


def nir_reference(graph, x, T, *, reset="zero", compare=">"):
    """Spike trains / outputs of a sequential NIR graph (Input -> ... -> Output), one sample.
    Returns (output after T steps summed as spec/nir.md 2.1 says, {node: [T, ...] spikes})."""
    order, cur = [], "input"
    succ = {a: b for a, b in graph.edges}
    while cur in succ:
        cur = succ[cur]
        order.append(cur)
    state, trains = {}, {}
    total = None
    x = np.asarray(x, np.float64).reshape(tuple(graph.nodes["input"].input_type["input"]))
    for t in range(T):
        v = x
        for name in order:
            n = graph.nodes[name]
            if isinstance(n, nir.Affine):
                v = n.weight @ v.reshape(-1) + n.bias
            elif isinstance(n, nir.Linear):
                v = n.weight @ v.reshape(-1)
            elif isinstance(n, nir.Scale):
                v = v * n.scale
            elif isinstance(n, nir.Conv2d):
                pad = (0, 0) if isinstance(n.padding, str) else tuple(n.padding)
                if isinstance(n.padding, str) and n.padding == "same":
                    pad = tuple((np.array(n.dilation) * (np.array(n.weight.shape[2:]) - 1)) // 2)
                v = _conv(v, n.weight, n.bias, tuple(n.stride), pad, tuple(n.dilation), int(n.groups))
            elif isinstance(n, nir.SumPool2d):
                v = _pool_sum(v, tuple(n.kernel_size), tuple(n.stride), tuple(n.padding))
            elif isinstance(n, nir.AvgPool2d):
                v = _pool_sum(v, tuple(n.kernel_size), tuple(n.stride), tuple(n.padding)) / np.prod(n.kernel_size)
            elif isinstance(n, nir.Flatten):
                v = v.reshape(-1)
            elif isinstance(n, (nir.IF, nir.LIF)):
                r = n.r if isinstance(n, nir.IF) else 1.0  # LIF with tau = r = inf: gain 1
                mem = state.get(name, 0.0) + np.reshape(r, np.shape(v)) * v if np.size(r) > 1 else state.get(name, 0.0) + r * v
                thr = np.broadcast_to(np.reshape(n.v_threshold, -1) if np.size(n.v_threshold) == 1 else
                                      np.reshape(n.v_threshold, np.shape(v)), np.shape(v))
                s = (mem > thr) if compare == ">" else (mem >= thr)
                mem = np.where(s, mem - thr, mem) if reset == "subtract" else np.where(s, 0.0, mem)
                state[name] = mem
                trains.setdefault(name, []).append(s.astype(np.uint8))
                v = s.astype(np.float64)
            elif isinstance(n, nir.I):
                state[name] = state.get(name, 0.0) + n.r * v
                v = state[name]
            elif isinstance(n, nir.Output):
                pass
            else:
                raise AssertionError(type(n))
        last = graph.nodes[order[-2]]
        if isinstance(last, nir.I):
            total = v
        else:
            total = v if total is None else total + v
    return total, {k: np.stack(s) for k, s in trains.items()}


def check_against_reference(graph, xs, T, path=None, **kw):
    snn = sncc.import_nir(path or graph, T=T, **kw)
    for x in xs:
        want, trains = nir_reference(graph, x, T, reset=kw.get("reset") or "zero", compare=kw.get("compare") or ">")
        got = snn.run(x, backend="reference")
        np.testing.assert_array_equal(got, np.asarray(want, np.float32).reshape(got.shape))
        mine = snn.spike_trains(x)
        for name, s in trains.items():
            np.testing.assert_array_equal(mine[name].reshape(s.shape), s, err_msg=name)
    return snn


def if_node(shape, thr=1.0):
    return nir.IF(r=np.ones(shape, np.float32), v_threshold=np.full(shape, thr, np.float32),
                  v_reset=np.zeros(shape, np.float32))


# -- import: every node, against the numpy reference ----------------------------------

def conv_graph():
    w1 = dyadic((4, 1, 3, 3))
    w2 = dyadic((6, 2, 3, 3))  # groups = 2
    nodes = [
        nir.Conv2d(input_shape=(8, 8), weight=w1, stride=1, padding=1, dilation=1, groups=1, bias=dyadic(4)),
        if_node((4, 8, 8), 0.5),
        nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        nir.Conv2d(input_shape=(4, 4), weight=w2, stride=1, padding="same", dilation=1, groups=2, bias=dyadic(6)),
        if_node((6, 4, 4), 1.0),
        nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        nir.Flatten(input_type={"input": np.array([6, 2, 2])}, start_dim=0, end_dim=-1),
        nir.Affine(weight=dyadic((5, 24)), bias=dyadic(5)),
        nir.Scale(scale=dyadic(5, 1, 4, 4)),
        if_node(5, 0.25),
        nir.Linear(weight=dyadic((3, 5))),
        nir.LIF(tau=np.full(3, np.inf), r=np.full(3, np.inf), v_leak=np.zeros(3), v_threshold=np.full(3, 0.5)),
    ]
    # NIR's type inference takes weight.shape[1] as the input channels, ignoring groups
    return nir.NIRGraph.from_list(nodes, type_check=False)


def test_conv_graph_nodes_match_reference(tmp_path):
    g = conv_graph()
    nir.write(tmp_path / "g.nir", g)
    xs = [dyadic((1, 8, 8), 0, 8, 8) for _ in range(3)]
    snn = check_against_reference(g, xs, T=12, path=tmp_path / "g.nir")
    kinds = [op.kind for op in snn.module.ops]
    assert kinds.count("if") == 4 and kinds[-1] == "readout"
    assert snn.module.ops[-1].attrs["mode"] == "count"  # last node a neuron layer: spike counts
    # a graph object and its file give the same network
    assert sncc.import_nir(g, T=12).module.to_text().split("\n", 1)[1] == snn.module.to_text().split("\n", 1)[1]


@pytest.mark.parametrize("reset,compare", [("zero", ">"), ("subtract", ">"), ("subtract", ">="), ("zero", ">=")])
def test_if_reset_and_comparison(reset, compare):
    g = nir.NIRGraph.from_list(nir.Affine(dyadic((16, 6)), dyadic(16)), if_node(16, 0.5),
                               nir.Affine(dyadic((4, 16)), dyadic(4)), if_node(4, 1.0))
    xs = [dyadic(6, 0, 8, 8) for _ in range(5)]
    check_against_reference(g, xs, T=10, reset=reset, compare=compare)


def test_greater_than_is_exact_at_the_threshold():
    """A membrane that reaches the threshold exactly fires under >= only."""
    g = nir.NIRGraph.from_list(nir.Linear(np.array([[0.25]], np.float32)), if_node(1, 1.0))
    x = np.array([1.0], np.float32)  # v = 0.25, 0.5, 0.75, 1.0 (= threshold), 1.25 ...
    assert sncc.import_nir(g, T=4).run(x)[0] == 0
    assert sncc.import_nir(g, T=5).run(x)[0] == 1
    assert sncc.import_nir(g, T=4, compare=">=").run(x)[0] == 1


def test_integrator_output_and_scalar_parameters_broadcast():
    w = dyadic((3, 4))
    d = {"type": "NIRGraph", "nodes": {
        "input": {"type": "Input", "shape": np.array([4])},
        "fc": {"type": "Linear", "weight": w},
        "if": {"type": "IF", "r": np.array([0.5]), "v_threshold": np.array(0.75), "v_reset": np.array([0.0])},
        "fc2": {"type": "Affine", "weight": np.eye(3, dtype=np.float32), "bias": np.array([0.125], np.float32)},
        "i": {"type": "I", "r": np.array(2.0)},
        "output": {"type": "Output", "shape": np.array([3])}},
        "edges": [["input", "fc"], ["fc", "if"], ["if", "fc2"], ["fc2", "i"], ["i", "output"]]}
    x = dyadic(4, 0, 8, 8)
    snn = sncc.import_nir(d, T=7)
    v, out = np.zeros(3), np.zeros(3)
    for _ in range(7):  # the NIR equations, scalars broadcast
        v = v + 0.5 * (w @ x)
        s = v > 0.75
        v = np.where(s, 0.0, v)
        out = out + 2.0 * (s + 0.125)
    np.testing.assert_array_equal(snn.run(x), out.astype(np.float32))


def test_nested_graph_is_flattened(tmp_path):
    inner = nir.NIRGraph.from_list(nir.Affine(dyadic((5, 4)), dyadic(5)), if_node(5, 0.5))
    outer = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([4])), "block": inner,
                                "fc": nir.Affine(dyadic((2, 5)), dyadic(2)), "output": nir.Output(output_type=np.array([2]))},
                         edges=[("input", "block"), ("block", "fc"), ("fc", "output")])
    nir.write(tmp_path / "n.nir", outer)
    flat = nir.NIRGraph.from_list(inner.nodes["affine"], inner.nodes["if"], outer.nodes["fc"])
    snn = sncc.import_nir(tmp_path / "n.nir", T=9)
    for _ in range(3):
        x = dyadic(4, 0, 8, 8)
        want, _ = nir_reference(flat, x, 9)
        np.testing.assert_array_equal(snn.run(x), np.asarray(want, np.float32))
    assert any(op.result.name == "block.if" for op in snn.module.ops)


def test_conv_padding_forms_and_dilation():
    for pad, stride, dil in [("valid", 1, 1), ((1, 2), (2, 1), 1), (2, 1, (2, 2)), ("same", 1, 2)]:
        conv = nir.Conv2d(input_shape=(7, 7), weight=dyadic((3, 2, 3, 3)), stride=stride, padding=pad, dilation=dil,
                          groups=1, bias=dyadic(3))
        g = nir.NIRGraph.from_list(conv, if_node(tuple(conv.output_type["output"]), 0.5))
        check_against_reference(g, [dyadic((2, 7, 7), 0, 8, 8)], T=5)


def test_snntorch_style_input_shape_with_batch_axis():
    g = nir.NIRGraph.from_list(nir.Affine(dyadic((3, 4)), dyadic(3)), if_node(3))
    g.nodes["input"] = nir.Input(input_type=np.array([1, 4]))
    assert sncc.import_nir(g).input_shape == (4,)


# -- import: refusals ------------------------------------------------------------------

def _graph(node_dict, shape=(4,)):
    return {"type": "NIRGraph", "nodes": {"input": {"type": "Input", "shape": np.array(shape)}, "n": node_dict,
                                          "output": {"type": "Output"}},
            "edges": [["input", "n"], ["n", "output"]]}


@pytest.mark.parametrize("node,message", [
    ({"type": "LIF", "tau": np.full(4, 20.0), "r": np.ones(4), "v_leak": np.zeros(4), "v_threshold": np.ones(4)},
     "NIR node 'n' (LIF): leaks (tau = 20)"),
    ({"type": "IF", "r": np.ones(4), "v_threshold": np.ones(4), "v_reset": np.full(4, -1.0)}, "(IF): resets to v_reset != 0"),
    ({"type": "IF", "r": np.ones(4), "v_threshold": np.zeros(4)}, "(IF): has a threshold <= 0"),
    ({"type": "Conv1d", "weight": np.ones((1, 4, 1))}, "NIR node 'n' (Conv1d): is not supported"),
    ({"type": "Delay", "delay": np.ones(4)}, "(Delay): is not supported"),
    ({"type": "CubaLIF", "tau_syn": np.full(4, 5.0), "tau_mem": np.full(4, np.inf), "r": np.full(4, np.inf),
      "v_leak": np.zeros(4), "v_threshold": np.ones(4)}, "(CubaLIF): has a synaptic filter"),
    ({"type": "Affine", "weight": np.ones((2, 5)), "bias": np.zeros(2)}, "(Affine): weight tensor<2x5xf32> does not match input tensor<4xf32>"),
    ({"type": "Scale", "scale": np.ones(3)}, "(Scale): 'scale' of shape [3] does not fit"),
])
def test_unsupported_nodes_are_named(node, message):
    with pytest.raises(SnccError) as e:
        sncc.import_nir(_graph(node))
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_cycle_is_refused():
    d = _graph({"type": "Affine", "weight": np.eye(4), "bias": np.zeros(4)})
    d["nodes"]["m"] = {"type": "Affine", "weight": np.eye(4), "bias": np.zeros(4)}
    d["edges"] += [["n", "m"], ["m", "n"]]
    with pytest.raises(SnccError, match="is part of a cycle"):
        sncc.import_nir(d)


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sncc", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=cwd)


def test_cli_unsupported_node_one_line_exit_1(tmp_path):
    g = nir.NIRGraph.from_list(nir.Affine(dyadic((3, 4)), dyadic(3)),
                               nir.LI(tau=np.full(3, 5.0), r=np.ones(3), v_leak=np.zeros(3)))
    g.nodes["evil\nname"] = g.nodes.pop("li")
    g.edges = [(a if a != "li" else "evil\nname", b if b != "li" else "evil\nname") for a, b in g.edges]
    nir.write(tmp_path / "li.nir", g)
    r = run_cli(tmp_path / "li.nir")
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("sncc: error: NIR node 'evil\\nname' (LI): leaks (tau = 5)")


def test_malformed_files(tmp_path):
    import h5py

    cases = {}
    (tmp_path / "junk.nir").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)) * 4)
    cases["junk.nir"] = "is not a readable NIR file (HDF5)"
    nir.write(tmp_path / "ok.nir", nir.NIRGraph.from_list(nir.Affine(dyadic((3, 4)), dyadic(3)), if_node(3)))
    data = (tmp_path / "ok.nir").read_bytes()
    (tmp_path / "truncated.nir").write_bytes(data[: len(data) // 2])
    cases["truncated.nir"] = "NIR file"
    with h5py.File(tmp_path / "empty.nir", "w") as f:
        f["version"] = "1.0.8"
    cases["empty.nir"] = "without a NIR graph (no group 'node')"
    with h5py.File(tmp_path / "link.nir", "w") as f:
        g = f.create_group("node")
        g["type"] = "NIRGraph"
        g["nodes"] = h5py.ExternalLink("/etc/passwd", "/")
    cases["link.nir"] = "is a ExternalLink; NIR files hold no links"
    with h5py.File(tmp_path / "bomb.nir", "w") as f:  # 2**34 declared elements, a few KB on disk
        g = f.create_group("node")
        g["type"] = "NIRGraph"
        g.create_dataset("edges", shape=(2**17, 2**17), dtype="f4", chunks=(64, 64), compression="gzip")
    cases["bomb.nir"] = "declares 17179869184 elements"
    with h5py.File(tmp_path / "notype.nir", "w") as f:
        g = f.create_group("node")
        g["type"] = "NIRGraph"
        g.create_group("nodes").create_group("a")
        g["edges"] = np.zeros((0, 2), dtype=h5py.string_dtype())
    cases["notype.nir"] = "NIR node 'a' has no type"
    (tmp_path / "missing.nir").unlink(missing_ok=True)
    cases["missing.nir"] = "does not exist"
    for name, message in cases.items():
        with pytest.raises(SnccError, match=message.replace("(", r"\(").replace(")", r"\)")):
            sncc.import_nir(tmp_path / name)
    start = time.perf_counter()
    r = run_cli(tmp_path / "bomb.nir")
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "declares" in r.stderr
    assert time.perf_counter() - start < 30


# -- export, and the round trip sncc -> NIR -> sncc -------------------------------------

@pytest.fixture(scope="module")
def mnist():
    from sncc.datasets import load_mnist

    (x, _), (xt, yt) = load_mnist()
    return x[:500], xt[:200], yt[:200]


@pytest.mark.parametrize("model,kw", [
    ("mlp", {}),                                                                 # the defaults: subtract, v0 = 1/2, membrane readout
    ("mlp", {"reset": "zero", "v0": 0.0, "readout": "count", "encoding": "rate", "seed": 5}),
    ("cnn", {"maxpool": "avg"}),
])
def test_round_trip_keeps_predictions(mnist, tmp_path, model, kw):
    x, xt, yt = mnist
    snn = sncc.convert(ROOT / "examples" / f"{model}.onnx", x, T=12, progress=False, **kw)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        snn.export_nir(tmp_path / "m.nir")
    lost = [m for m in w if issubclass(m.category, NirExportWarning)]
    assert len(lost) == 1 and "\n" not in str(lost[0].message)
    back = sncc.import_nir(tmp_path / "m.nir")
    assert back.T == 12
    np.testing.assert_array_equal(back.classify(xt), snn.classify(xt))
    np.testing.assert_array_equal(back.run(xt[:50]), snn.run(xt[:50]))
    assert (snn.classify(xt) == yt).mean() > 0.9
    # the file is NIR: the reference implementation reads and type-checks it
    g = nir.read(tmp_path / "m.nir")
    assert sum(isinstance(n, nir.IF) for n in g.nodes.values()) == (3 if model == "mlp" and kw.get("readout") else 2)


def test_export_is_byte_identical(mnist, tmp_path):
    snn = sncc.convert(ROOT / "examples" / "mlp.onnx", mnist[0][:100], T=4, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snn.export_nir(tmp_path / "a.nir")
        time.sleep(1.1)  # HDF5 object timestamps have a resolution of one second
        snn.export_nir(tmp_path / "b.nir")
    assert (tmp_path / "a.nir").read_bytes() == (tmp_path / "b.nir").read_bytes()


def test_export_refuses_gated_maxpool(mnist):
    snn = sncc.convert(ROOT / "examples" / "cnn.onnx", mnist[0][:100], T=4, progress=False)
    with pytest.raises(SnccError, match="cannot export 'gated_maxpool2d' op %.*MaxPool to NIR"):
        snn.export_nir("unused.nir")


def test_cli_target_nir_and_nir_input(mnist, tmp_path):
    x, xt, yt = mnist
    np.save(tmp_path / "calib.npy", x[:200])
    np.save(tmp_path / "x.npy", xt[:20])
    r = run_cli(ROOT / "examples" / "mlp.onnx", "--calib", tmp_path / "calib.npy", "-T", 8, "--target", "nir",
                "-o", tmp_path / "m.nir")
    assert r.returncode == 0, r.stderr
    warn = [line for line in r.stderr.splitlines() if line.startswith("sncc: warning:")]
    assert len(warn) == 1 and "reset by subtraction" in warn[0]
    r = run_cli("run", tmp_path / "m.nir", "--input", tmp_path / "x.npy", "--json")
    assert r.returncode == 0, r.stderr
    import json

    snn = sncc.convert(ROOT / "examples" / "mlp.onnx", x[:200], T=8, progress=False)
    assert json.loads(r.stdout)["predictions"] == snn.classify(xt[:20]).tolist()
    r = run_cli(tmp_path / "m.nir", "--target", "nir")
    assert r.returncode == 1 and "give -o FILE.nir" in r.stderr
    r = run_cli("--help")
    assert "nir" in r.stdout and ".nir" in r.stdout


# -- fuzzing -----------------------------------------------------------------------------

def _mutate(rng, d: dict) -> dict:
    """One random damage to a graph dict: a field replaced by a hostile value, deleted, a
    node's type changed, an edge rewired."""
    import copy

    d = copy.deepcopy(d)
    nodes = d["nodes"]
    name = rng.choice(sorted(nodes))
    node = nodes[name]
    what = rng.random()
    hostile = [np.array([]), np.array(np.nan), np.array([np.inf]), np.array([-1]), np.array([2**40, 3]),
               np.zeros((2, 2, 2, 2, 2), np.float32), np.array([0]), "same", "x" * 300, np.array([1e300]),
               np.array([[1, 2], [3, 4]]), np.array(7), np.full(3, -0.5, np.float32)]
    if what < 0.5 and node:
        key = rng.choice(sorted(node))
        node[key] = hostile[rng.randrange(len(hostile))] if key != "type" else rng.choice(
            ["IF", "LIF", "Affine", "Conv2d", "Flatten", "NIRGraph", "Threshold", "Bogus", "Input", "Output"])
    elif what < 0.65 and node:
        node.pop(rng.choice(sorted(node)))
    elif what < 0.8:
        nodes[name + "\n\x1b[31m"] = nodes.pop(name)
    else:
        edges = d["edges"]
        if edges:
            i = rng.randrange(len(edges))
            edges[i] = [edges[i][0], rng.choice(sorted(nodes) + ["nowhere"])]
        edges.append([rng.choice(sorted(nodes)), rng.choice(sorted(nodes))])
    return d


def test_fuzz_nir_files(tmp_path):
    """Mutated graphs, written as .nir files, through the real CLI: exit 0 or 1, one error
    line, never a hang (test_fuzz.py's harness)."""
    import random

    from sncc.nir_format import write_nir_dict
    from sncc.nir_frontend import _plain
    from test_fuzz import SEED, check, run_case

    seeds = [_plain(conv_graph().to_dict()),
             _plain(nir.NIRGraph.from_list(nir.Affine(dyadic((5, 4)), dyadic(5)), if_node(5)).to_dict())]
    rng = random.Random(SEED + 3)  # SNCC_FUZZ_SEED, as test_fuzz.py
    path = tmp_path / "case.nir"
    deadline = time.perf_counter() + 5
    done = 0
    while time.perf_counter() < deadline and done < 400:
        d = _mutate(rng, rng.choice(seeds))
        if rng.random() < 0.3:
            d = _mutate(rng, d)
        try:
            write_nir_dict(path, d)
        except (TypeError, ValueError):  # a value h5py cannot store
            continue
        args = [path] + (["-T", "3"] if rng.random() < 0.5 else [])
        check(run_case(args), args, f"NIR case {done}")
        done += 1
    assert done >= 20, f"only {done} NIR cases ran within the budget"


def test_many_nodes_are_refused_quickly():
    nodes = {"input": {"type": "Input", "shape": np.array([2])}, "output": {"type": "Output"}}
    names = [f"s{i}" for i in range(20_000)]
    nodes.update({n: {"type": "Scale", "scale": np.ones(2)} for n in names})
    chain = ["input"] + names + ["output"]
    d = {"type": "NIRGraph", "nodes": nodes, "edges": [[a, b] for a, b in zip(chain, chain[1:])]}
    start = time.perf_counter()
    with pytest.raises(SnccError, match="has 20002 nodes; sncc takes at most 10000"):
        sncc.import_nir(d)
    assert time.perf_counter() - start < 5
