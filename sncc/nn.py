"""PyTorch modules for training networks that convert well (needs torch: `pip install sncc[torch]`).

`QCFSActivation` is the quantization-clip-floor-shift activation of Bu et al. (ICLR 2022),
"Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency spiking neural
networks": with L levels and a learnable threshold lambda,

    y = lambda / L * clip(floor(x L / lambda + 1/2), 0, L)

An IF neuron with threshold lambda and initial membrane lambda/2 reproduces it exactly in
expectation, so a network trained with it converts nearly losslessly at T = L.

    >>> import torch, sncc
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> net = sncc.nn.replace_relu_with_qcfs(net, T=8)
    >>> net[1]
    QCFSActivation(levels=8, threshold=8.0)
"""
from __future__ import annotations

import torch
from torch import nn


class _FloorSTE(torch.autograd.Function):
    """floor() forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(ctx, x):
        return torch.floor(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class QCFSActivation(nn.Module):
    """QCFS activation with `T` quantization levels (= the SNN timesteps it targets) and a
    learnable threshold (initial value `threshold`).

    It exports through `torch.onnx.export` as Div, Clip, Mul, Add, Floor, Div, Mul, the
    staircase that sncc's ONNX frontend recognizes as one `qcfs` op.
    """

    def __init__(self, T: int = 16, threshold: float = 8.0):
        super().__init__()
        if int(T) < 1:
            raise ValueError(f"QCFSActivation: T (levels) must be >= 1, got {T}")
        if not threshold > 0:
            raise ValueError(f"QCFSActivation: threshold must be > 0, got {threshold}")
        self.levels = int(T)
        self.threshold = nn.Parameter(torch.tensor([float(threshold)]))

    def forward(self, x):
        lam = self.threshold
        y = torch.clamp(x / lam, 0, 1)
        if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
            y = torch.floor(y * self.levels + 0.5)  # plain ops: the pattern the frontend matches
        else:
            y = _FloorSTE.apply(y * self.levels + 0.5)
        return y / self.levels * lam

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold.detach()[0]):g}"


def replace_relu_with_qcfs(model: nn.Module, T: int = 16, threshold: float = 8.0) -> nn.Module:
    """Replace every `nn.ReLU` of `model` (in place, recursively) by `QCFSActivation(T, threshold)`."""
    for name, child in model.named_children():
        if isinstance(child, nn.ReLU):
            setattr(model, name, QCFSActivation(T, threshold))
        else:
            replace_relu_with_qcfs(child, T, threshold)
    return model


def train_classifier(model: nn.Module, x, y, epochs: int = 1, lr: float = 1e-3, batch: int = 128,
                     seed: int = 0, cosine: bool = True) -> nn.Module:
    """Seeded Adam training with cross-entropy (cosine learning-rate decay by default), for
    the examples, tests and benchmarks; returns the model in eval mode.

        >>> net = train_classifier(net, x_train, y_train, epochs=2)   # doctest: +SKIP
    """
    import numpy as np

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    steps = max(1, epochs * (len(xt) // batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt) - batch + 1, batch):
            idx = perm[i:i + batch]
            opt.zero_grad()
            nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
    return model.eval()
