"""calibrate: record activation statistics of the float network on calibration data.

For every activation (relu, clip, qcfs) and every module output it writes the discardable
attributes `calib.scale` (the `percentile`-th percentile of the values, per layer or per
channel), `calib.max` and `calib.percentile`; every input gets `calib.min`/`calib.max`.
`normalize` and `convert-to-snn` read them; a dump shows them.

Streaming: memory does not grow with the number of samples. Each tensor keeps a
histogram of `BINS` bins over [0, hi], where hi doubles (merging bin pairs) whenever a
larger value arrives, so the reported percentile is the upper edge of the bin that holds
it: it overestimates the exact percentile by less than hi / BINS <= 2 max / BINS
(0.05% of the maximum with 4096 bins).
"""
from __future__ import annotations

import logging

import numpy as np

from sncc.errors import SnccError
from sncc.interpreter import interpret
from sncc.ir import Module, Operation
from sncc.pass_manager import Option, Pass, PassContext, register_pass

log = logging.getLogger("sncc")

BINS = 4096
ACTIVATIONS = ("relu", "clip", "qcfs")


class StreamingPercentile:
    """Per-channel histograms of non-negative values over a doubling range [0, hi]."""

    def __init__(self, channels: int, bins: int = BINS):
        self.bins = bins
        self.hi = 0.0
        self.counts = np.zeros((channels, bins), dtype=np.int64)
        self.zeros = np.zeros(channels, dtype=np.int64)  # values <= 0
        self.max = np.zeros(channels, dtype=np.float64)

    def update(self, x: np.ndarray) -> None:
        """x: [channels, M] values of one batch."""
        C = self.counts.shape[0]
        top = float(x.max()) if x.size else 0.0
        if top > self.hi:
            new_hi = top if self.hi == 0.0 else self.hi
            while new_hi < top:
                new_hi *= 2
                self.counts = np.concatenate([self.counts.reshape(C, self.bins // 2, 2).sum(-1),
                                              np.zeros((C, self.bins // 2), np.int64)], axis=1)
            self.hi = new_hi
        self.max = np.maximum(self.max, x.max(axis=1))
        pos = x > 0
        self.zeros += (~pos).sum(axis=1)
        if not pos.any():
            return
        ch = np.broadcast_to(np.arange(C)[:, None], x.shape)[pos]
        idx = np.minimum((x[pos] * (self.bins / self.hi)).astype(np.int64), self.bins - 1)
        self.counts += np.bincount(ch * self.bins + idx, minlength=C * self.bins).reshape(C, self.bins)

    def percentile(self, p: float) -> np.ndarray:
        """Per channel; 0 for a channel whose values never exceed 0."""
        out = np.zeros(self.counts.shape[0])
        total = self.counts.sum(axis=1) + self.zeros
        for c in range(len(out)):
            rank = p / 100.0 * total[c]
            if self.counts[c].sum() == 0 or rank <= self.zeros[c]:
                continue
            cum = self.zeros[c] + np.cumsum(self.counts[c])
            b = int(np.searchsorted(cum, rank, side="left"))
            out[c] = min((b + 1) * self.hi / self.bins, self.max[c])
        return out


def validate_data(module: Module, data, what: str = "calibration data") -> np.ndarray:
    """Calibration/inference data as float32 [N, *input shape] (a flat [N, size] is reshaped)."""
    if data is None:
        raise SnccError(f"no {what}: pass calibration_data=... (Python) or --calib FILE.npy (CLI)")
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    if getattr(data, "dtype", None) is not None and np.dtype(data.dtype).kind == "c":
        raise SnccError(f"{what} is complex; give real numbers")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: refused below as infinite
            x = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        raise SnccError(f"{what} is not a numeric array") from None
    shape = module.inputs[0].type.shape
    size = int(np.prod(shape))
    if x.ndim == 0 or x.size == 0:
        raise SnccError(f"{what} is empty; give at least one sample of shape {list(shape)}")
    if x.shape[1:] != shape:
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == size:
            x = x.reshape((x.shape[0],) + shape)
        else:
            raise SnccError(f"{what} has shape {list(x.shape)}; the model takes samples of shape {list(shape)} "
                            f"(give [N, {', '.join(map(str, shape))}])")
    if not np.all(np.isfinite(x)):
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(axis=1).sum())
        raise SnccError(f"{what} contains NaN or infinite values (in {bad} of {len(x)} samples) "
                        "or values beyond the float32 range")
    return x


def _channels_view(value: np.ndarray, per_channel: bool) -> np.ndarray:
    """[batch, C, ...] -> [C, batch*...] (or [1, everything] per layer)."""
    if not per_channel or value.ndim == 1:
        return value.reshape(1, -1)
    return np.moveaxis(value, 1, 0).reshape(value.shape[1], -1)


@register_pass
class Calibrate(Pass):
    name = "calibrate"
    summary = "record activation percentiles on calibration data (calib.* attributes)"
    is_analysis = False
    options = {
        "percentile": Option(float, 99.9, "percentile of the activation values used as scale",
                             check=lambda p: None if 0 < p <= 100 else "must be in (0, 100]"),
        "granularity": Option(str, "channel", "one scale per channel (neuron) or per layer", choices=("layer", "channel")),
        "channel_floor": Option(float, 0.125, "per channel: no scale below this fraction of the layer's largest "
                                "(a near-silent channel would otherwise get huge weights that crowd out the others "
                                "in fixed point)", check=lambda f: None if 0 <= f <= 1 else "must be in [0, 1]"),
        "samples": Option(int, 0, "use at most this many samples (0: all)",
                          check=lambda n: None if n >= 0 else "must be >= 0"),
        "batch": Option(int, 256, "samples per interpreter call", check=lambda n: None if n >= 1 else "must be >= 1"),
    }

    def run(self, m: Module, ctx: PassContext):
        if m.is_spiking:
            raise SnccError("calibrate runs on the float network; this module is already spiking")
        if len(m.inputs) != 1:
            raise SnccError(f"calibrate supports one model input, this module has {len(m.inputs)}")
        x = validate_data(m, ctx.calibration_data)
        if self.opts["samples"]:
            x = x[: self.opts["samples"]]
        per_channel = self.opts["granularity"] == "channel"
        targets: dict[int, Operation] = {id(op): op for op in m.ops if op.kind in ACTIVATIONS}
        for v in m.outputs:
            targets[id(v.owner)] = v.owner
        stats: dict[int, StreamingPercentile] = {}
        in_min, in_max = np.inf, -np.inf

        def observe(op: Operation, value: np.ndarray):
            if id(op) not in targets:
                return
            if not np.all(np.isfinite(value)):
                raise SnccError(f"calibration: {op.describe()} produced NaN or infinity; check the weights and data")
            view = _channels_view(value, per_channel and value.ndim > 1)
            if id(op) not in stats:
                stats[id(op)] = StreamingPercentile(view.shape[0])
            stats[id(op)].update(view.astype(np.float64))

        from tqdm import tqdm

        batch = self.opts["batch"]
        starts = range(0, len(x), batch)
        for s in tqdm(starts, desc="calibrate", unit="batch", disable=None if ctx.progress else True, leave=False):
            chunk = x[s:s + batch]
            in_min, in_max = min(in_min, float(chunk.min())), max(in_max, float(chunk.max()))
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is reported by observe()
                interpret(m, chunk, observer=observe)
        p = self.opts["percentile"]
        report = {}
        for key, op in targets.items():
            st = stats[key]
            scale = st.percentile(p)
            layer_scale = float(scale.max())
            if layer_scale <= 0:
                log.warning(f"{op.describe()} never produced a positive value on {len(x)} calibration samples "
                            "(a dead layer); using scale 1.0")
                scale[:] = 1.0
            elif (scale <= 0).any():
                scale[scale <= 0] = layer_scale  # dead channels: any positive scale is safe
            if len(scale) > 1:
                scale = np.maximum(scale, self.opts["channel_floor"] * layer_scale)
            op.attrs["calib.scale"] = float(scale[0]) if len(scale) == 1 else scale.astype(np.float32)
            op.attrs["calib.max"] = float(st.max.max())
            op.attrs["calib.percentile"] = p
            report[op.result.name] = float(scale.max())
        for inp in m.inputs:
            inp.owner.attrs["calib.min"] = in_min
            inp.owner.attrs["calib.max"] = in_max
        ctx.reports[self.name] = {"samples": len(x), "scales": report}
