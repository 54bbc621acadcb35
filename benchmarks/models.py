"""The benchmark networks and their seeded training on real MNIST (shared by the benchmarks).

    mlp   784-256-128-10, ReLU
    qcfs  the same MLP with sncc.QCFSActivation (L = 4 levels)
    cnn   conv(16)-BN-ReLU-avgpool, conv(32)-BN-ReLU-maxpool, linear
    bcnn  the throughput benchmark's CNN: conv(16)-BN-ReLU-avgpool, conv(32)-BN-ReLU-avgpool, linear
    resnet  a small ResNet: conv(16)-BN-ReLU-avgpool stem, a residual block of 16 channels (identity
          shortcut), one of 32 at stride 2 (1x1 projection shortcut), global average pooling, linear
"""
from __future__ import annotations

import time

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
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    if name == "bcnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    if name == "resnet":
        return ResNet()
    raise ValueError(name)


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2), nn.BatchNorm2d(cout)]


class ResNet(nn.Module):
    """The throughput benchmark's ResNet (residual adds: identity and 1x1 projection)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(1, 16), nn.ReLU(), nn.AvgPool2d(2))                      # 16x14x14
        self.a = nn.Sequential(*_conv_bn(16, 16), nn.ReLU(), *_conv_bn(16, 16))
        self.b = nn.Sequential(*_conv_bn(16, 32, stride=2), nn.ReLU(), *_conv_bn(32, 32))             # 32x7x7
        self.proj = nn.Sequential(*_conv_bn(16, 32, k=1, stride=2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
        self.relu_a, self.relu_b = nn.ReLU(), nn.ReLU()  # modules, not torch.relu: SpikingJelly converts modules

    def forward(self, x):
        x = self.stem(x)
        x = self.relu_a(x + self.a(x))
        x = self.relu_b(self.proj(x) + self.b(x))
        return self.head(x)


EPOCHS = {"mlp": 12, "qcfs": 12, "cnn": 4, "bcnn": 1, "resnet": 1}


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float = 1e-3, batch: int = 128,
          seed: int = 0) -> nn.Module:
    return sncc.nn.train_classifier(model, x, y, epochs=epochs, lr=lr, batch=batch, seed=seed)


def inputs(name: str, x: np.ndarray) -> np.ndarray:
    """MNIST rows as the network's input: images [N, 1, 28, 28] for the CNN."""
    return x.reshape(-1, 1, 28, 28) if name in ("cnn", "bcnn", "resnet") else x


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
