"""Low-latency QCFS conversion: sncc.nn.finetune_qcfs and convert-to-snn's staircase option."""
import logging

import numpy as np
import pytest

import sncc
from sncc.pass_manager import PassContext
from conftest import nn, torch


@pytest.fixture(scope="module")
def digits(mnist):
    (x, y), (xt, yt) = mnist
    return x[:3000], y[:3000], xt[:500], yt[:500]


def relu_mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, 10))


def test_finetune_qcfs_sets_lambda_from_the_percentile_and_is_seeded(digits):
    x, y, _, _ = digits
    net = relu_mlp()
    with torch.no_grad():
        hidden = torch.relu(net[0](torch.from_numpy(x[:1000]))).numpy()
    untrained = sncc.nn.finetune_qcfs(net, x, y, L=4, epochs=0, progress=False)
    assert isinstance(untrained[1], sncc.QCFSActivation) and untrained[1].levels == 4
    assert float(untrained[1].threshold.detach()) == pytest.approx(np.percentile(hidden, 99.9), rel=1e-5)
    assert isinstance(net[1], nn.ReLU)  # the input model is left alone
    a = sncc.nn.finetune_qcfs(net, x[:1000], y[:1000], L=(4, 8), epochs=1, progress=False, seed=3)
    b = sncc.nn.finetune_qcfs(net, x[:1000], y[:1000], L=(4, 8), epochs=1, progress=False, seed=3)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert a[1].levels == 4 and a[1].train_levels is None and not a.training
    assert not torch.equal(a[0].weight, net[0].weight)


def test_finetune_qcfs_reaches_the_relu_accuracy_and_refuses_bad_input(digits):
    x, y, xt, yt = digits
    relu = sncc.nn.train_classifier(relu_mlp(), x, y, epochs=2)
    q = sncc.nn.finetune_qcfs(relu, x, y, L=4, epochs=1, progress=False)
    with torch.no_grad():
        acc = lambda m: float((m(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())  # noqa: E731
        assert acc(q) >= acc(relu) - 0.02, (acc(relu), acc(q))
    with pytest.raises(ValueError, match="no nn.ReLU"):
        sncc.nn.finetune_qcfs(nn.Sequential(nn.Linear(784, 10)), x, y, progress=False)
    with pytest.raises(ValueError, match="levels >= 1"):
        sncc.nn.finetune_qcfs(relu, x, y, L=0, progress=False)
    with pytest.raises(ValueError, match=r"shift needs images \[N, C, H, W\]"):
        sncc.nn.finetune_qcfs(relu, x, y, shift=2, progress=False)
    with pytest.raises(ValueError, match="shift must be an integer >= 0"):
        sncc.nn.finetune_qcfs(relu, x, y, shift=-1, progress=False)


def test_random_shift_translates_each_image_by_at_most_shift_pixels():
    """finetune_qcfs(shift=s)'s augmentation: every image moves by its own (dy, dx) in -s..s, zeros shifted in."""
    from sncc.nn import random_shift

    x = torch.rand(64, 2, 9, 9) + 1  # no zeros: the shifted-in border is the only zeros
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    seen = set()
    for img, src in zip(out, x):
        pad = torch.nn.functional.pad(src, (2, 2, 2, 2))
        match = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(pad[:, dy:dy + 9, dx:dx + 9], img)]
        assert len(match) == 1
        seen.add(match[0])
    assert len(seen) > 10  # offsets vary from image to image
    assert torch.equal(random_shift(x, 2, torch.Generator().manual_seed(0)), out)  # seeded


def test_train_classifier_shift_is_seeded_and_refuses_bad_input(digits):
    """train_classifier(shift=s) (examples/train_cnn.py's augmentation): seeded, a different
    training run than shift=0, and refused for non-images or a negative shift."""
    x, y, _, _ = digits
    imgs = x[:256].reshape(-1, 1, 28, 28)

    def cnn():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 28 * 28, 10))

    a, b = (sncc.nn.train_classifier(cnn(), imgs, y[:256], epochs=1, shift=2) for _ in range(2))
    plain = sncc.nn.train_classifier(cnn(), imgs, y[:256], epochs=1)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, plain[0].weight)
    with pytest.raises(ValueError, match=r"shift needs images \[N, C, H, W\]"):
        sncc.nn.train_classifier(relu_mlp(), x[:256], y[:256], shift=1)
    with pytest.raises(ValueError, match="shift must be an integer >= 0"):
        sncc.nn.train_classifier(cnn(), imgs, y[:256], shift=-1)


@pytest.fixture(scope="module")
def qcfs_mlp(digits):
    """One hidden QCFS layer (L = 4) whose lambda is the calibration maximum: the staircase never clips."""
    x, y, _, _ = digits
    relu = sncc.nn.train_classifier(relu_mlp(1), x, y, epochs=1)
    q = sncc.nn.finetune_qcfs(relu, x, y, L=4, epochs=0, percentile=100.0, calibration=len(x), progress=False)
    return q


@pytest.mark.parametrize("T", [4, 8, 12, 28])
def test_snn_spike_counts_reproduce_the_trained_staircase_at_T_multiple_of_L(qcfs_mlp, digits, T):
    """Independent reference: the torch QCFS network. With constant input the hidden neurons'
    counts over T steps are floor(4 a / lambda + 1/2) (spec 5.6), so the readout is L = 4 times
    the ANN's logits, for every T >= L, to float rounding."""
    x, _, _, _ = digits
    with torch.no_grad():
        ann = qcfs_mlp(torch.from_numpy(x[:200])).numpy()
    snn = sncc.convert(qcfs_mlp, calibration_data=x[:1000], T=T, progress=False)
    for backend in ("reference", "cpu"):
        out = snn.run(x[:200], backend=backend) / 4
        assert np.abs(out - ann).max() <= 1e-3 * np.abs(ann).max(), (T, backend, np.abs(out - ann).max())


def test_without_the_staircase_option_T_above_L_forms_a_finer_staircase(qcfs_mlp, digits, caplog):
    x, _, _, _ = digits
    with torch.no_grad():
        ann = qcfs_mlp(torch.from_numpy(x[:200])).numpy()
    module = sncc.api.import_model(qcfs_mlp, x[:1])
    pipe = sncc.api.conversion_pipeline(16, staircase="T")
    with caplog.at_level(logging.WARNING, logger="sncc"):
        m = sncc.PassManager.parse(pipe).run(module, PassContext(calibration_data=x[:1000]))
    assert "16-level staircase" in caplog.text
    out = sncc.interpret(m, x[:200]) / 16
    assert np.abs(out - ann).max() > 1e-2 * np.abs(ann).max()  # a different function: not the trained one


def test_converting_below_L_warns(qcfs_mlp, digits, caplog):
    x, _, _, _ = digits
    with caplog.at_level(logging.WARNING, logger="sncc"):
        sncc.convert(qcfs_mlp, calibration_data=x[:100], T=2, progress=False)
    assert "trained with L = 4" in caplog.text and "T = 2 < L" in caplog.text


def test_staircase_conversion_is_bit_exact_in_fixed_point(digits):
    """Scaled currents are ordinary constants: quantized, the CPU simulator's fixed mode equals
    the reference interpreter bit for bit, on a two-layer QCFS network at T = 3 L."""
    from sncc.backends.cpu import CpuSimulator

    x, y, xt, _ = digits
    torch.manual_seed(2)
    relu = nn.Sequential(nn.Linear(784, 24), nn.ReLU(), nn.Linear(24, 16), nn.ReLU(), nn.Linear(16, 10))
    q = sncc.nn.finetune_qcfs(relu, x, y, L=4, epochs=0, progress=False)
    snn = sncc.convert(q, calibration_data=x[:500], T=12, progress=False)
    assert snn.report["convert-to-snn"]["staircase"] == "L=4, currents x0.333333"
    fixed = sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone(), PassContext())
    ref = sncc.interpret(fixed, xt[:100])
    np.testing.assert_array_equal(CpuSimulator(fixed, mode="fixed").run(xt[:100]), ref)


class _Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                                  nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + x)


def test_finetune_qcfs_on_a_resnet_converts_at_low_T(digits):
    """Residual adds: every nn.ReLU (the one after the add too) becomes QCFS; the normalized
    float network equals torch's QCFS network (residual rescaling is exact), and the SNN at
    T = L classifies near the ANN. A tiny, briefly trained ResNet has small logit margins:
    deeper layers' spike-timing error costs it points at T = 4, which calibrated initial
    membranes win back (measured: ANN 73%, SNN 55% -> 65% with v0_calibration; tolerance below)."""
    x, y, xt, yt = digits
    x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AvgPool2d(2), _Block(8),
                        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10))
    net = sncc.nn.train_classifier(net, x[:2000], y[:2000], epochs=3)
    q = sncc.nn.finetune_qcfs(net, x[:2000], y[:2000], L=4, epochs=1, progress=False)
    assert sum(isinstance(m, sncc.QCFSActivation) for m in q.modules()) == 3
    with torch.no_grad():
        logits = q(torch.from_numpy(xt[:300])).numpy()
    ann = (logits.argmax(1) == yt[:300]).mean()
    module = sncc.api.import_model(q, x[:1])
    normalized = sncc.PassManager.parse("canonicalize,fold-batchnorm,dce,calibrate,normalize").run(
        module, PassContext(calibration_data=x[:300]))
    out = sncc.interpret(normalized, xt[:300])
    # a staircase is discontinuous: float rounding may move a rare value across a step, so
    # the check is per sample: nearly all samples agree to float precision
    close = np.abs(out - logits).max(axis=1) <= 1e-4 * np.abs(logits).max()
    assert close.mean() >= 0.97, close.mean()
    plain, calibrated = (float((sncc.convert(q, calibration_data=x[:300], T=4, v0_calibration=n, progress=False)
                                .classify(xt[:300]) == yt[:300]).mean()) for n in (0, 300))
    assert calibrated >= plain and calibrated >= ann - 0.12, (ann, plain, calibrated)


def test_v0_calibration_matches_the_anns_mean_activation_below_L(digits):
    """L = 8 network at T = 2: per-channel v0 moves each hidden channel's mean spike count to
    T times the torch QCFS network's mean activation / lambda (independent reference), and
    the SNN agrees with the ANN more often; quantized, it stays bit-exact on the CPU."""
    from sncc.backends.cpu import CpuSimulator

    x, y, xt, _ = digits
    relu = sncc.nn.train_classifier(relu_mlp(4), x, y, epochs=1)
    q = sncc.nn.finetune_qcfs(relu, x, y, L=8, epochs=0, progress=False)
    lam = float(q[1].threshold.detach())
    with torch.no_grad():
        target = 2 * (q[1](q[0](torch.from_numpy(x[:1000]))).numpy() / lam).mean(axis=0)
        ann = q(torch.from_numpy(xt)).argmax(1).numpy()
    plain, calibrated = (sncc.convert(q, calibration_data=x[:1000], T=2, v0_calibration=n, progress=False)
                         for n in (0, 1000))
    neuron = next(op for op in calibrated.module.ops if op.kind == "if")
    assert np.shape(neuron.attrs["v0"]) == (32,)

    def mean_counts(snn):
        got = []
        sncc.interpret(snn.module, x[:1000], observer=lambda op, v: got.append(v.mean(axis=0)) if op.kind == "if" else None)
        return np.sum(got, axis=0)
    before, after = (np.abs(mean_counts(s) - target).mean() for s in (plain, calibrated))
    assert after < 0.5 * before, (before, after)
    assert (calibrated.classify(xt) == ann).mean() >= (plain.classify(xt) == ann).mean()
    fixed = sncc.PassManager.parse("quantize{weight_bits=8}").run(calibrated.module.clone(), PassContext())
    np.testing.assert_array_equal(CpuSimulator(fixed, mode="fixed").run(xt[:100]), sncc.interpret(fixed, xt[:100]))


def test_shipped_qcfs_cnn_matches_onnxruntime_at_T_4_and_8(mnist):
    """examples/cnn_qcfs.onnx: onnxruntime runs the QCFS ANN (an independent implementation of
    the staircase); the SNN at T = L = 4 and at T = 8 (trained staircase kept) predicts its
    class on >= 98.5% of 500 real test images, and the 8-bit fixed-point SNN likewise."""
    from pathlib import Path

    from conftest import ort_run

    path = Path(__file__).resolve().parent.parent / "examples" / "cnn_qcfs.onnx"
    (x, _), (xt, _) = mnist
    x, xt = x[:500].reshape(-1, 1, 28, 28), xt[:500].reshape(-1, 1, 28, 28)
    ann = ort_run(str(path), xt).argmax(1)
    for T in (4, 8):
        snn = sncc.convert(str(path), calibration_data=x, T=T, progress=False)
        assert (snn.classify(xt) == ann).mean() >= 0.985, T
    fixed = sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone(), PassContext())
    assert (sncc.SpikingNetwork(fixed).classify(xt) == ann).mean() >= 0.985
