"""SC-NeuroCore's conversion conventions, which sncc follows (README "Coming from SC-NeuroCore"):
n_layers counts weighted layers, convert works without calibration data, T defaults to a
QCFS model's L, and PyTorch programs load from `.pt2` without unpickling code."""
from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import sncc
from sncc.errors import SnccError

torch = pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "sncc", *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mnist():
    from sncc.datasets import load_mnist

    (x, _), (xt, yt) = load_mnist()
    return x[:300], xt[:300], yt[:300]


def test_n_layers_counts_weighted_layers(mnist):
    mlp = sncc.convert(ROOT / "examples" / "mlp.onnx", mnist[0], T=8, progress=False)
    assert mlp.n_layers == 3 and mlp.n_neuron_layers == 2  # 784-256-128-10
    cnn = sncc.convert(ROOT / "examples" / "cnn.onnx", mnist[0][:50], T=8, progress=False)
    assert cnn.n_layers == 3  # conv, conv, linear (pooling is not a weighted layer)
    assert "3 weighted layers" in repr(mlp)


def test_convert_without_calibration_relu_threshold_one(mnist, caplog):
    """A ReLU model without data: every IF threshold 1.0 and the trained weights unchanged
    (read here from the ONNX file itself), with one warning."""
    with caplog.at_level(logging.WARNING, logger="sncc"):
        snn = sncc.convert(ROOT / "examples" / "mlp.onnx", progress=False)
    assert sum("no calibration data" in r.message and "accuracy will suffer" in r.message for r in caplog.records) == 1
    assert snn.T == 32  # no QCFS: the documented default
    ifs = [op for op in snn.module.ops if op.kind == "if"]
    assert len(ifs) == 2 and all(op.attrs["threshold"] == 1.0 for op in ifs)
    onnx_weights = sorted((a.shape, a.tobytes()) for a in map(numpy_helper.to_array,
                                                               onnx.load(ROOT / "examples" / "mlp.onnx").graph.initializer)
                          if a.ndim == 2)
    ir = [snn.module.const_value(op.operands[1]) for op in snn.module.ops if op.kind == "dense"]
    mine = sorted((w.shape, w.T.tobytes()) for w in ir)  # ONNX Gemm stores [in, out] here or [out, in]
    mine_direct = sorted((w.shape, w.tobytes()) for w in ir)
    assert onnx_weights in (mine, mine_direct)
    _, xt, yt = mnist
    assert (snn.classify(xt) == yt).mean() > 0.5  # works, below the calibrated 98%


def test_qcfs_model_takes_learned_thresholds_and_its_L(mnist):
    x, xt, _ = mnist
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    model = sncc.nn.replace_relu_with_qcfs(model, T=8)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, sncc.QCFSActivation):
                m.threshold.fill_(2.5)
    snn = sncc.convert(model, progress=False)  # no data: the input shape from the first Linear
    assert snn.T == 8  # the trained L
    calibrated = sncc.convert(model, x, progress=False)
    assert calibrated.T == 8
    np.testing.assert_array_equal(snn.run(xt[:50]), calibrated.run(xt[:50]))  # QCFS needs no data
    # the IF neuron's threshold in the units of the trained weights is the learned 2.5
    w_ir = next(snn.module.const_value(op.operands[1]) for op in snn.module.ops if op.kind == "dense")
    theta = next(op.attrs["threshold"] for op in snn.module.ops if op.kind == "if")
    np.testing.assert_allclose(model[0].weight.detach().numpy() / w_ir * theta, 2.5, rtol=1e-5)


def test_module_without_data_needs_input_shape_for_conv():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(2 * 26 * 26, 3))
    with pytest.raises(SnccError, match=r"needs its input shape: give input_shape=\(C, H, W\)"):
        sncc.convert(model, progress=False)
    assert sncc.convert(model, input_shape=(1, 28, 28), progress=False).n_layers == 2


def test_cli_converts_without_calib_for_hardware_targets(tmp_path):
    r = run_cli(ROOT / "examples" / "mlp.onnx", "--target", "nir", "-o", tmp_path / "m.nir")
    assert r.returncode == 0, r.stderr
    assert "no calibration data" in r.stderr and "accuracy will suffer" in r.stderr
    assert sncc.import_nir(tmp_path / "m.nir").T == 32


# -- .pt2 and .pt ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pt2(tmp_path_factory):
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(2),
                                torch.nn.Flatten(), torch.nn.Linear(4 * 14 * 14, 10)).eval()
    ep = torch.export.export(model, (torch.zeros(1, 1, 28, 28),))
    path = tmp_path_factory.mktemp("pt2") / "m.pt2"
    torch.export.save(ep, path)
    return model, path


def test_pt2_program_loads_and_matches_torch(tmp_path, mnist, pt2):
    from sncc.driver import load_model

    model, path = pt2
    x = mnist[1][:20].reshape(-1, 1, 28, 28)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = sncc.interpret(load_model(path), x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    snn = sncc.convert(path, mnist[0][:50].reshape(-1, 1, 28, 28), T=4, progress=False)  # the CLI's loader too
    assert snn.n_layers == 2 and snn.input_shape == (1, 28, 28)


def test_pt2_with_pickled_code_is_refused_without_running_it(tmp_path, pt2):
    _, path = pt2
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("model_weights_config.json"):  # ask for pickled weights
                cfg = json.loads(data)
                for entry in cfg["config"].values():
                    entry["use_pickle"] = True
                data = json.dumps(cfg).encode()
            elif "/data/weights/weight_" in info.filename or info.filename.endswith("sample_inputs/model.pt"):
                data = pickle.dumps(Payload())
            dst.writestr(info, data)
    from sncc.driver import load_model

    with pytest.raises(SnccError, match="evil.pt2"):
        load_model(evil)
    assert not marker.exists()


def test_state_dict_gets_a_clear_message(tmp_path):
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "model_weights.pt")
    r = run_cli(tmp_path / "model_weights.pt", "--target", "artix7", "-o", tmp_path / "build")
    assert r.returncode == 1
    assert "a state dict holds weights but no architecture" in r.stderr and "torch.export.save" in r.stderr
    assert r.stderr.count("\n") == 1
