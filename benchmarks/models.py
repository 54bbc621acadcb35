"""The benchmark networks and their seeded training on real MNIST (shared by the benchmarks).

    mlp   784-256-128-10, ReLU
    qcfs  the same MLP with sncc.QCFSActivation (L = 4 levels)
    qcfs8 the same with L = 8 (run at T < 8 in the benchmark: latency below the trained L)
    cnn   conv(16)-BN-ReLU-avgpool, conv(32)-BN-ReLU-maxpool, linear
    bcnn  the throughput benchmark's CNN: conv(16)-BN-ReLU-avgpool, conv(32)-BN-ReLU-avgpool, linear
    resnet  conv(16)-BN-ReLU-avgpool, a residual block (16, identity shortcut), a residual
          block (32, stride 2, 1x1 projection shortcut), global average pooling, linear
    mixed  stride, padding, dilation and a depthwise conv: conv(16, stride 2)-BN-ReLU, depthwise
          3x3 dilation 2-BN-ReLU, 1x1 conv(32)-BN-ReLU, conv(32, stride 2)-BN-ReLU, linear

QCFS fine-tuned versions (`sncc.nn.finetune_qcfs`, L = 4; `finetuned(name)`):

    cnn_qcfs     examples/cnn_qcfs.onnx: examples/cnn.onnx (the cnn trained 15 epochs, 99.03%)
                 fine-tuned by examples/finetune_cnn_qcfs.py (same recipe)
    resnet_qcfs  the resnet above, trained and fine-tuned here
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import sncc
from sncc.datasets import load_mnist

QCFS_LEVELS = 4


def make(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "qcfs":
        return nn.Sequential(nn.Linear(784, 256), sncc.QCFSActivation(T=QCFS_LEVELS), nn.Linear(256, 128),
                             sncc.QCFSActivation(T=QCFS_LEVELS), nn.Linear(128, 10))
    if name == "qcfs8":
        return nn.Sequential(nn.Linear(784, 256), sncc.QCFSActivation(T=8), nn.Linear(256, 128),
                             sncc.QCFSActivation(T=8), nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    if name == "bcnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    if name == "mixed":
        return nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),   # 16x14x14
                             nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16), nn.BatchNorm2d(16), nn.ReLU(),
                             nn.Conv2d(16, 32, 1), nn.BatchNorm2d(32), nn.ReLU(),
                             nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # 32x7x7
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    if name == "resnet":
        return ResNet()
    raise ValueError(name)


class Block(nn.Module):
    """Two 3x3 conv-BN, a shortcut (identity, or 1x1 conv-BN when the shape changes), ReLU
    after the add. Every ReLU is its own nn.ReLU module (finetune_qcfs replaces modules)."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                  nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
        self.shortcut = (nn.Identity() if cin == cout and stride == 1 else
                         nn.Sequential(nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                                 Block(16, 16), Block(16, 32, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(32, 10))

    def forward(self, x):
        return self.net(x)


EPOCHS = {"mlp": 12, "qcfs": 12, "qcfs8": 12, "cnn": 4, "bcnn": 1, "resnet": 2, "mixed": 2}
QCFS_FINETUNE = {"epochs": 3, "L": 4}
V0_CALIBRATION = 1000  # samples for convert(v0_calibration=...), the rows at T below the trained L


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 1e-3, batch: int = 128,
          seed: int = 0) -> nn.Module:
    return sncc.nn.train_classifier(model, x, y, epochs=epochs, lr=lr, batch=batch, seed=seed)


def inputs(name: str, x: np.ndarray) -> np.ndarray:
    """MNIST rows as the network's input: images [N, 1, 28, 28] for the CNN."""
    return x.reshape(-1, 1, 28, 28) if name.startswith(("cnn", "bcnn", "resnet", "mixed")) else x


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def trained(name: str, epochs: int | None = None, log=print):
    """(model, (x_train, y_train), (x_test, y_test)) with the model trained, seeded."""
    torch.set_num_threads(2)
    (x, y), (xt, yt) = load_mnist()
    x, xt = inputs(name, x), inputs(name, xt)
    model = make(name)
    t = time.perf_counter()
    train(model, x, y, epochs or EPOCHS[name])
    log(f"trained {name} in {time.perf_counter() - t:.0f} s: ANN test accuracy {100 * accuracy(model, xt, yt):.2f}%")
    return model, (x, y), (xt, yt)


def finetuned(name: str, log=print, cache=None):
    """(qcfs_model, relu_model, seconds of fine-tuning, (x_train, y_train), (x_test, y_test))
    for name = cnn_qcfs or resnet_qcfs: the ReLU network fine-tuned by sncc.nn.finetune_qcfs.
    cache: a folder; the trained networks are saved there and reloaded by the next call (the
    same seeded result, without training again: split one long benchmark over processes)."""
    base = name[: -len("_qcfs")]
    saved = None if cache is None else Path(cache) / f"{name}.pt"
    if saved is not None and saved.exists():
        torch.set_num_threads(2)
        (x, y), (xt, yt) = load_mnist()
        x, xt = inputs(base, x), inputs(base, xt)
        relu, q, seconds = (torch.load(saved, weights_only=False)[k] for k in ("relu", "q", "seconds"))
        log(f"{name}: loaded from {saved} (fine-tuned in {seconds:.0f} s)")
        return q, relu, seconds, (x, y), (xt, yt)
    if base == "cnn":
        # the shipped models: examples/cnn.onnx (the cnn trained 15 epochs) and the
        # examples/finetune_cnn_qcfs.py output cnn_qcfs.onnx, whose metadata holds its fine-tuning time
        import sys

        examples = Path(__file__).resolve().parents[1] / "examples"
        sys.path.insert(0, str(examples))
        from finetune_cnn_qcfs import finetune_seconds, load_cnn

        torch.set_num_threads(2)
        (x, y), (xt, yt) = load_mnist()
        x, xt = inputs(base, x), inputs(base, xt)
        relu, q = load_cnn(examples / "cnn.onnx"), load_cnn(examples / "cnn_qcfs.onnx")
        seconds = finetune_seconds(examples / "cnn_qcfs.onnx")
    else:
        relu, (x, y), (xt, yt) = trained(base, log=log)
        t = time.perf_counter()
        q = sncc.nn.finetune_qcfs(relu, x, y, L=QCFS_FINETUNE["L"], epochs=QCFS_FINETUNE["epochs"])
        seconds = time.perf_counter() - t
    log(f"{name}: ANN {100 * accuracy(relu, xt, yt):.2f}% (ReLU) -> {100 * accuracy(q, xt, yt):.2f}% (QCFS), "
        f"fine-tuned ({QCFS_FINETUNE}) in {seconds:.0f} s")
    if saved is not None:
        saved.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"relu": relu, "q": q, "seconds": seconds}, saved)
    return q, relu, seconds, (x, y), (xt, yt)
