"""ANN-to-SNN conversion on small networks trained here on real MNIST."""
import subprocess
import sys

import numpy as np
import pytest

import sncc
from sncc.passes.calibrate import StreamingPercentile
from conftest import accuracy, assert_close, nn, torch, train_quick


@pytest.fixture(scope="module")
def data(mnist):
    (x, y), (xt, yt) = mnist
    return x[:10000], y[:10000], xt[:1000], yt[:1000]


@pytest.fixture(scope="module")
def mlp(data):
    x, y, _, _ = data
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    return train_quick(model, x, y, epochs=3)


def test_accuracy_approaches_the_ann_as_T_grows(mlp, data):
    x, _, xt, yt = data
    ann = accuracy(mlp, xt, yt)
    assert ann > 0.9
    snn = sncc.convert(mlp, calibration_data=torch.from_numpy(x[:500]), T=32)
    assert snn.n_layers == 3 and snn.n_neuron_layers == 2 and snn.T == 32  # 784-128-64-10: 3 weighted layers
    acc = {T: float((snn.classify(xt, T=T) == yt).mean()) for T in (1, 4, 16, 64)}
    assert acc[1] < acc[4] <= acc[16] + 0.005 and acc[16] <= acc[64] + 0.005
    assert acc[64] >= ann - 0.01, (acc, ann)
    # the readout approaches T times the ANN's logits
    with torch.no_grad():
        logits = mlp(torch.from_numpy(xt[:50])).numpy()
    np.testing.assert_allclose(snn.run(xt[:50], T=256) / 256, logits, atol=0.15 * np.abs(logits).max())


def test_one_sample_and_batch_api(mlp, data):
    x, _, xt, yt = data
    snn = sncc.convert(mlp, calibration_data=x[:200], T=8)
    one = snn.run(xt[0])
    assert one.shape == (10,)
    np.testing.assert_allclose(one, snn.run(xt[:3])[0], rtol=1e-5)  # BLAS rounding depends on the batch
    assert isinstance(snn.classify(xt[0]), int)
    assert snn.classify(xt[:5]).shape == (5,)


def test_normalized_float_network_is_the_original(mlp, data):
    x, _, xt, _ = data
    m = sncc.api.import_model(mlp, x[:10])
    ctx = sncc.pass_manager.PassContext(calibration_data=x[:300])
    norm = sncc.PassManager.parse("canonicalize,calibrate{granularity=layer},normalize").run(m.clone(), ctx)
    assert_close(sncc.interpret(norm, xt[:100]), sncc.interpret(m, xt[:100]), rtol=1e-5)
    # each activation now reaches 1 at its calibrated 99.9th percentile
    acts = [op for op in norm.ops if op.kind == "relu"]
    seen = {}
    sncc.interpret(norm, x[:300], observer=lambda op, v: seen.__setitem__(op.result.name, v) if op.kind == "relu" else None)
    for op in acts:
        assert abs(np.percentile(seen[op.result.name], 99.9) - 1.0) < 0.01


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                  nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.head = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))

    def forward(self, x):
        h = self.stem(x)
        return self.head(torch.relu(h + self.body(h)))


@pytest.fixture(scope="module")
def resnet(data):
    x, y, _, _ = data
    torch.manual_seed(0)
    return train_quick(_Residual(), x[:3000].reshape(-1, 1, 28, 28), y[:3000], epochs=1)


@pytest.mark.parametrize("granularity", ["layer", "channel"])
def test_normalization_through_a_residual_add(resnet, data, granularity):
    x, _, xt, yt = data
    imgs = x[:200].reshape(-1, 1, 28, 28)
    m = sncc.api.import_model(resnet, imgs)
    ctx = sncc.pass_manager.PassContext(calibration_data=imgs)
    norm = sncc.PassManager.parse(f"canonicalize,fold-batchnorm,calibrate{{granularity={granularity}}},normalize").run(
        m.clone(), ctx)
    # the identity shortcut arrives at the add's scale through an inserted synaptic weight
    add = next(op for op in norm.ops if op.kind == "add")
    assert any(v.owner.kind == "mul" for v in add.operands)
    assert ctx.reports["normalize"]["rescales_inserted"] >= 1
    test = xt[:100].reshape(-1, 1, 28, 28)
    assert_close(sncc.interpret(norm, test), sncc.interpret(m, test), rtol=1e-5)


def test_residual_snn_approaches_the_ann(resnet, data):
    x, _, xt, yt = data
    test, labels = xt[:300].reshape(-1, 1, 28, 28), yt[:300]
    ann = accuracy(resnet, test, labels)
    snn = sncc.convert(resnet, calibration_data=x[:300].reshape(-1, 1, 28, 28), T=32, progress=False)
    acc8, acc32 = (float((snn.classify(test, T=T) == labels).mean()) for T in (8, 32))
    assert acc32 >= ann - 0.02 and acc32 >= acc8 - 0.005, (ann, acc8, acc32)


def test_qcfs_at_T_equal_L_is_nearly_lossless(data):
    x, y, xt, yt = data
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 128), sncc.QCFSActivation(T=4), nn.Linear(128, 10))
    train_quick(model, x, y, epochs=2)
    ann = accuracy(model, xt, yt)
    snn = sncc.convert(model, calibration_data=x[:300], T=4)
    assert [op.kind for op in snn.module.ops].count("if") == 1
    neuron = next(op for op in snn.module.ops if op.kind == "if")
    assert neuron.attrs["threshold"] == 1.0 and neuron.attrs["v0"] == 0.5
    acc4 = float((snn.classify(xt, T=4) == yt).mean())
    assert abs(acc4 - ann) <= 0.01, (acc4, ann)


def test_qcfs_module_exports_to_one_qcfs_op():
    model = sncc.nn.replace_relu_with_qcfs(nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2)), T=8, threshold=3.0)
    assert isinstance(model[1], sncc.QCFSActivation)
    x = np.random.default_rng(0).standard_normal((20, 6)).astype(np.float32)
    m = sncc.api.import_model(model, x)
    q = [op for op in m.ops if op.kind == "qcfs"]
    assert len(q) == 1 and q[0].attrs["levels"] == 8 and q[0].attrs["threshold"] == 3.0
    with torch.no_grad():
        assert_close(sncc.interpret(m, x), model(torch.from_numpy(x)).numpy(), rtol=1e-5)
    # the straight-through estimator trains the threshold
    out = model(torch.from_numpy(x)).sum()
    out.backward()
    assert model[1].threshold.grad is not None and model[1].threshold.grad.abs().item() > 0


def test_rate_encoding_is_reproducible_for_a_seed(mlp, data):
    x, _, xt, _ = data
    a = sncc.convert(mlp, calibration_data=x[:200], T=16, encoding="rate", seed=7)
    b = sncc.convert(mlp, calibration_data=x[:200], T=16, encoding="rate", seed=7)
    c = sncc.convert(mlp, calibration_data=x[:200], T=16, encoding="rate", seed=8)
    ra, rb, rc = a.run(xt[:50]), b.run(xt[:50]), c.run(xt[:50])
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)


def test_rate_encoder_spike_trains_follow_the_spec():
    from sncc.interpreter import prng_initial_state
    from sncc.types import TensorType

    T, n, seed = 5, 6, 42
    m = sncc.ir.Module("e", {"T": T})
    x = m.add("input", (), {"index": 0}, "x", TensorType((n,)))
    s = m.add("encode", [x], {"mode": "rate", "seed": seed}, "s")
    m.outputs = [m.add("readout", [s], {"mode": "count"}, "r")]
    p = np.array([[0.0, 0.1, 0.5, 0.9, 1.0, 0.33]], np.float32)
    # independent re-implementation of spec/ir.md 5.2
    state, counts = prng_initial_state(seed), np.zeros(n)
    for t in range(T):
        for e in range(n):
            state ^= (state << 13) & 0xFFFFFFFF
            state ^= state >> 17
            state ^= (state << 5) & 0xFFFFFFFF
            counts[e] += (state >> 8) < float(p[0, e]) * 2**24
    np.testing.assert_array_equal(sncc.interpret(m, p)[0], counts)
    assert counts[0] == 0 and counts[4] == T


def test_streaming_percentile_is_close_to_exact_and_bounded():
    rng = np.random.default_rng(0)
    sp = StreamingPercentile(3)
    chunks = [np.abs(rng.standard_normal((3, 5000))) * (1 + k) for k in range(10)]  # growing range
    for c in chunks:
        sp.update(np.maximum(c - 0.5, 0))
    allv = np.maximum(np.concatenate(chunks, axis=1) - 0.5, 0)
    for p in (50.0, 99.0, 99.9):
        exact = np.percentile(allv, p, axis=1, method="inverted_cdf")  # the same rank convention
        est = sp.percentile(p)
        assert np.all(est >= exact - 1e-9) and np.all(est - exact <= 2 * allv.max(axis=1) / 4096 + 1e-9)
    assert sp.counts.shape == (3, 4096)  # fixed memory, whatever the number of samples


@pytest.mark.parametrize("calib,message", [
    (np.zeros((10, 5), np.float32), "has shape [10, 5]; the model takes samples of shape [784]"),
    (np.zeros((0, 784), np.float32), "is empty"),
    (np.full((4, 784), np.nan, np.float32), "contains NaN or infinite values (in 4 of 4 samples)"),
])
def test_bad_calibration_data(mlp, calib, message):
    with pytest.raises(sncc.SnccError) as e:
        sncc.convert("examples/mlp.onnx", calibration_data=calib, T=8)
    assert message in str(e.value)


def test_bad_T_and_bad_run_input(mlp, data):
    x = data[0]
    with pytest.raises(sncc.SnccError, match="T must be an integer in 1..65536"):
        sncc.convert(mlp, calibration_data=x[:10], T=0)
    snn = sncc.convert(mlp, calibration_data=x[:10], T=4)
    with pytest.raises(sncc.SnccError, match="input of shape \\[3, 5\\]"):
        snn.run(np.zeros((3, 5)))
    with pytest.raises(sncc.SnccError, match="NaN"):
        snn.run(np.full((2, 784), np.inf))
    with pytest.raises(sncc.SnccError, match="T must be an integer in 1..65536"):
        snn.run(x[:2], T=0)


def test_dead_layer_gets_a_safe_threshold_and_a_warning(caplog):
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].bias.fill_(-1.0)
    x = np.random.default_rng(0).random((20, 4)).astype(np.float32)
    with caplog.at_level("WARNING", logger="sncc"):
        snn = sncc.convert(model, calibration_data=x, T=4)
    assert "never produced a positive value" in caplog.text and "dead layer" in caplog.text
    assert np.isfinite(snn.run(x)).all()


def test_sigmoid_model_is_refused(data):
    model = nn.Sequential(nn.Linear(784, 10), nn.Sigmoid(), nn.Linear(10, 10))
    with pytest.raises(sncc.UnsupportedError, match="Sigmoid.*cannot be represented by rate-coded"):
        sncc.convert(model, calibration_data=data[0][:10], T=8)


def test_save_load_round_trip(mlp, data, tmp_path):
    x, _, xt, _ = data
    snn = sncc.convert(mlp, calibration_data=x[:100], T=8, encoding="rate", seed=3)
    path = tmp_path / "snn.sir"
    snn.save(path)
    back = sncc.load(path)
    assert back.T == 8 and back.module.to_text() == snn.module.to_text()
    np.testing.assert_array_equal(back.run(xt[:20]), snn.run(xt[:20]))


def test_cli_converts_with_calibration_data(tmp_path, data):
    x = data[0]
    calib = tmp_path / "calib.npy"
    np.save(calib, x[:200])
    out = tmp_path / "snn.sir"
    r = subprocess.run([sys.executable, "-m", "sncc", "examples/mlp.onnx", "--calib", str(calib), "-T", "16", "-o", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    snn = sncc.load(out)
    assert snn.T == 16 and snn.n_layers == 3
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 7), np.float32))
    r = subprocess.run([sys.executable, "-m", "sncc", "examples/mlp.onnx", "--calib", str(bad), "-o", str(tmp_path / "x.sir")],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "calibration data has shape [3, 7]" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.sir").exists()


def test_spike_trains_and_raster(mlp, data, tmp_path):
    x, _, xt, _ = data
    snn = sncc.convert(mlp, calibration_data=x[:100], T=12)
    trains = snn.spike_trains(xt[0])
    assert {k: v.shape for k, v in trains.items()} == {"1.Relu": (12, 128), "3.Relu": (12, 64)}
    _, counts = snn.run(xt[:1], record=True, backend="reference")
    assert {k: int(v.sum()) for k, v in trains.items()} == counts
    from sncc.plots import raster

    png = raster(trains, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(sncc.SnccError, match="one sample"):
        snn.spike_trains(xt[:2])
