"""PyTorch modules for training networks that convert well (needs torch: `pip install sncc[torch]`).

`QCFSActivation` is the quantization-clip-floor-shift activation of Bu et al. (ICLR 2022),
"Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency spiking neural
networks": with L levels and a learnable threshold lambda,

    y = lambda / L * clip(floor(x L / lambda + 1/2), 0, L)

An IF neuron with threshold lambda and initial membrane lambda/2 reproduces it exactly in
expectation, so a network trained with it converts nearly losslessly at T = L, and at any
T > L when sncc keeps the trained staircase (spec/ir.md section 5.6).

    >>> import torch, sncc
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> net = sncc.nn.replace_relu_with_qcfs(net, T=8)
    >>> net[1]
    QCFSActivation(levels=8, threshold=8)

`finetune_qcfs` takes a trained ReLU network to a QCFS one in a few epochs: it sets each
lambda from the calibration percentile of its ReLU and fine-tunes (optionally over
several L, so the network does not lean on one staircase).
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
        self.train_levels: int | None = None  # set per batch by finetune_qcfs when it trains over several L
        self.threshold = nn.Parameter(torch.tensor([float(threshold)]))

    def forward(self, x):
        lam = self.threshold
        y = torch.clamp(x / lam, 0, 1)
        if torch.onnx.is_in_onnx_export() or torch.jit.is_tracing():
            y = torch.floor(y * self.levels + 0.5)  # plain ops: the pattern the frontend matches
            return y / self.levels * lam
        levels = self.train_levels if (self.training and self.train_levels) else self.levels
        y = _FloorSTE.apply(y * levels + 0.5)
        return y / levels * lam

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
                     seed: int = 0, cosine: bool = True, shift: int = 0) -> nn.Module:
    """Seeded Adam training with cross-entropy (cosine learning-rate decay by default), for
    the examples, tests and benchmarks; returns the model in eval mode.

    shift: for images [N, C, H, W], translate every training batch by random (seeded)
    whole-pixel offsets in -shift..shift (`random_shift`; 0, the default: no augmentation).

        >>> net = train_classifier(net, x_train, y_train, epochs=2)   # doctest: +SKIP
    """
    import numpy as np

    if int(shift) != shift or shift < 0:
        raise ValueError(f"train_classifier: shift must be an integer >= 0, got {shift}")
    torch.manual_seed(seed)
    # its own stream, so shift=0 draws exactly the permutations it drew before this option
    shift_gen = torch.Generator().manual_seed(seed + 1) if shift else None
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(np.asarray(x, dtype=np.float32)), torch.from_numpy(np.asarray(y, dtype=np.int64))
    if shift and xt.dim() != 4:
        raise ValueError(f"train_classifier: shift needs images [N, C, H, W], got x of shape {tuple(xt.shape)}")
    steps = max(1, epochs * (len(xt) // batch))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cosine else None
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt) - batch + 1, batch):
            idx = perm[i:i + batch]
            xb = xt[idx] if not shift else random_shift(xt[idx], int(shift), shift_gen)
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yt[idx]).backward()
            opt.step()
            if sched is not None:
                sched.step()
    return model.eval()


def random_shift(x: torch.Tensor, shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images x [N, C, H, W], each translated by its own random whole-pixel offset in
    -shift..shift along each axis (zeros shifted in)."""
    n, c, h, w = x.shape
    pad = nn.functional.pad(x, (shift, shift, shift, shift))
    oy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    return pad[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]


def _relu_percentiles(model: nn.Module, x, percentile: float, batch: int) -> dict[str, float]:
    """{ReLU module name: `percentile` of its outputs on x} (all elements, zeros included, as
    sncc's calibrate pass with granularity=layer). A ReLU module called several times in
    one forward (a shared `self.relu`) pools the values of all its calls."""
    import numpy as np

    relus = {n: m for n, m in model.named_modules() if isinstance(m, nn.ReLU)}
    if not relus:
        raise ValueError("finetune_qcfs: the model has no nn.ReLU module to replace (functional relu is not seen)")
    seen: dict[str, list] = {n: [] for n in relus}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: seen[n].append(out.detach().reshape(-1).numpy()))
             for n, m in relus.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for s in range(0, len(x), batch):
                model(x[s:s + batch])
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    out = {}
    for n, vals in seen.items():
        v = np.concatenate(vals) if vals else np.zeros(1)
        # a dead layer gets lambda 1 rather than 0 (QCFSActivation needs lambda > 0)
        out[n] = float(np.percentile(v, percentile)) if v.size and np.percentile(v, percentile) > 0 else 1.0
    return out


def finetune_qcfs(model: nn.Module, x, y, L: int | tuple = 4, epochs: int = 2, *, lr: float = 5e-4,
                  batch: int = 128, seed: int = 0, percentile: float = 99.9, calibration: int = 1000,
                  shift: int = 0, progress: bool = True, inplace: bool = False) -> nn.Module:
    """Turn a trained ReLU network into a QCFS network and fine-tune it: a network that
    converts to spiking neurons at low latency (T close to L) near the ANN's accuracy.

    Every `nn.ReLU` module becomes a `QCFSActivation` whose threshold lambda starts at the
    `percentile`-th percentile of that ReLU's outputs on the first `calibration` samples of
    x (what sncc's `calibrate` would choose), then the whole network, lambdas included,
    trains for `epochs` epochs (Adam, cosine decay from `lr`, cross-entropy; seeded, on
    the CPU; a progress bar with `progress`). BatchNorm layers keep training (the
    converter folds them afterwards).

    L: the QCFS levels, an int; or a tuple (L, L2, ...) to fine-tune over several levels:
    each batch draws one of them (seeded) for every activation, so the network does not
    lean on one staircase; the returned activations have `levels = L` (the first), which
    is what the ONNX export and sncc's conversion see.

    shift: data augmentation for image inputs [N, C, H, W]: every training image is
    translated by a random (seeded) whole-pixel offset in -shift..shift along each axis,
    zeros shifted in (0: none, the default).

    Returns a copy (the input model is not modified unless `inplace`), in eval mode.

        >>> import torch, sncc
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        >>> x, y = torch.rand(256, 4), (torch.rand(256) > 0.5).long()
        >>> q = sncc.nn.finetune_qcfs(net, x, y, L=4, epochs=1, progress=False)
        >>> type(q[1]).__name__, q[1].levels
        ('QCFSActivation', 4)
    """
    import copy
    import time

    import numpy as np

    levels = tuple(int(v) for v in (L if isinstance(L, (tuple, list)) else (L,)))
    if not levels or min(levels) < 1:
        raise ValueError(f"finetune_qcfs: L must be levels >= 1, got {L}")
    if epochs < 0:
        raise ValueError(f"finetune_qcfs: epochs must be >= 0, got {epochs}")
    if int(shift) != shift or shift < 0:
        raise ValueError(f"finetune_qcfs: shift must be an integer >= 0, got {shift}")
    xt = x if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x, dtype=np.float32))
    yt = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.asarray(y, dtype=np.int64))
    xt, yt = xt.float(), yt.long()
    if len(xt) != len(yt) or len(xt) == 0:
        raise ValueError(f"finetune_qcfs: x and y must be non-empty and of equal length, got {len(xt)} and {len(yt)}")
    if shift and xt.dim() != 4:
        raise ValueError(f"finetune_qcfs: shift needs images [N, C, H, W], got x of shape {tuple(xt.shape)}")
    if not inplace:
        model = copy.deepcopy(model)
    lams = _relu_percentiles(model, xt[:calibration], percentile, batch=max(batch, 500))
    for name, lam in lams.items():
        parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
        setattr(parent, name.rsplit(".", 1)[-1], QCFSActivation(levels[0], lam))
    acts = [m for m in model.modules() if isinstance(m, QCFSActivation)]
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    shift_gen = torch.Generator().manual_seed(seed + 1) if shift else None  # its own stream: shift=0 trains as before
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    per_epoch = max(1, len(xt) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs * per_epoch))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=epochs * per_epoch, desc=f"finetune QCFS L={'/'.join(map(str, levels))}", unit="batch")
    t0 = time.perf_counter()
    model.train()
    try:
        for _ in range(epochs):
            perm = torch.randperm(len(xt))
            for i in range(0, max(1, len(xt) - batch + 1), batch):
                idx = perm[i:i + batch]
                lv = int(levels[rng.integers(len(levels))]) if len(levels) > 1 else None
                for a in acts:
                    a.train_levels = lv
                xb = xt[idx] if not shift else random_shift(xt[idx], int(shift), shift_gen)
                opt.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), yt[idx])
                loss.backward()
                opt.step()
                sched.step()
                with torch.no_grad():  # lambda must stay > 0 (the IR refuses a non-positive threshold)
                    for a in acts:
                        a.threshold.clamp_(min=1e-3)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    finally:
        for a in acts:
            a.train_levels = None
        if bar is not None:
            bar.close()
    model.finetune_seconds = time.perf_counter() - t0
    return model.eval()
