"""convert-to-snn: turn a normalized float network into a spiking one (spec/ir.md section 5).

  * every input gets an `encode` (constant current, or Bernoulli rate code with the
    spec's xorshift32 PRNG and `seed`);
  * relu and clip(0, c) become `if` neurons with threshold 1 (the normalized scale) and
    initial membrane `v0` (a fraction of the threshold; 1/2 halves the rounding error of
    the rate code, Deng & Gu 2021), reset by subtraction by default;
  * qcfs becomes an `if` neuron with threshold lambda (1 after normalization) and initial
    membrane lambda/2, which reproduces the QCFS staircase at T = L (Bu et al. 2022);
  * linear ops (dense, conv2d, avg pooling, add, mul, concat, flatten) stay: they act on
    the spikes or currents of each timestep;
  * max pooling: `maxpool=gate` (default) makes it a `gated_maxpool2d`, which passes on,
    in every window, the input with the most spikes so far (Rueckauer et al. 2017);
    `maxpool=avg` replaces it by average pooling of the same window (cheaper in hardware,
    at an accuracy cost the accuracy benchmark reports);
  * the outputs integrate without spiking (`readout=membrane`: argmax of the accumulated
    membrane) or spike through an `if` with threshold `calib.scale` (`readout=count`).
"""
from __future__ import annotations

import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.limits import MAX_T
from sncc.pass_manager import Option, Pass, PassContext, register_pass


@register_pass
class ConvertToSNN(Pass):
    name = "convert-to-snn"
    summary = "replace activations by integrate-and-fire neurons, add encoder and readout"
    options = {
        "T": Option(int, 32, "timesteps", check=lambda t: None if 1 <= t <= MAX_T else f"must be in 1..{MAX_T}"),
        "encoding": Option(str, "constant", "input coding", choices=("constant", "rate")),
        "reset": Option(str, "subtract", "membrane reset after a spike", choices=("subtract", "zero")),
        "readout": Option(str, "membrane", "output: accumulated membrane or spike count", choices=("membrane", "count")),
        "seed": Option(int, 0, "seed of the rate encoder's PRNG", check=lambda s: None if 0 <= s < 2**32 else "must be in 0..2**32-1"),
        "v0": Option(float, 0.5, "initial membrane of ReLU neurons, as a fraction of the threshold",
                     check=lambda v: None if 0 <= v < 1 else "must be in [0, 1)"),
        "maxpool": Option(str, "gate", "spiking max pooling", choices=("gate", "avg")),
    }

    def run(self, m: Module, ctx: PassContext):
        if m.is_spiking:
            raise SnccError("convert-to-snn: the module is already spiking")
        if not m.attrs.get("normalized"):
            raise SnccError("convert-to-snn needs a normalized network: run calibrate and normalize first "
                            "(e.g. --pipeline canonicalize,fold-batchnorm,calibrate,normalize,convert-to-snn)")
        o = self.opts
        T = ctx.T if ctx.T is not None and "T" not in self._given else o["T"]
        m.attrs["T"] = int(T)
        counts = {"if": 0, "gated_maxpool2d": 0, "avgpool2d (from maxpool)": 0}
        for inp in m.inputs:
            if o["encoding"] == "rate":
                lo, hi = inp.owner.attrs.get("calib.min"), inp.owner.attrs.get("calib.max")
                if lo is not None and (lo < 0 or hi > 1):
                    raise SnccError(f"rate encoding needs inputs in [0, 1], but the calibration inputs span "
                                    f"[{lo:g}, {hi:g}]; scale the inputs or use encoding=constant")
            users = m.users(inp)
            enc = m.insert_before(users[0] if users else m.ops[-1], "encode", [inp],
                                  {"mode": o["encoding"], "seed": o["seed"]}, f"{inp.name}.enc")
            for u in users:
                u.operands = [enc if v is inp else v for v in u.operands]
        for op in list(m.ops):
            if op.kind in ("relu", "clip", "qcfs"):
                if op.kind == "clip" and op.attrs["min"] != 0.0:
                    raise SnccError(f"convert-to-snn: {op.describe()} clips at min={op.attrs['min']}; "
                                    "an IF neuron represents clip(x, 0, max) only")
                theta = op.attrs["threshold"] if op.kind == "qcfs" else 1.0
                v0 = 0.5 * theta if op.kind == "qcfs" else o["v0"] * theta
                spikes = m.insert_before(op, "if", [op.operands[0]], {"threshold": theta, "reset": o["reset"], "v0": v0},
                                         op.result.name)
                m.replace_all_uses(op.result, spikes)
                m.erase(op)
                counts["if"] += 1
            elif op.kind == "maxpool2d":
                if o["maxpool"] == "avg":
                    if op.attrs["dilations"] != [1, 1]:
                        raise SnccError(f"convert-to-snn: {op.describe()} is dilated; use maxpool=gate")
                    attrs = {k: op.attrs[k] for k in ("kernel", "strides", "pads")}
                    new = m.insert_before(op, "avgpool2d", op.operands, attrs, op.result.name)
                    counts["avgpool2d (from maxpool)"] += 1
                else:
                    new = m.insert_before(op, "gated_maxpool2d", op.operands, dict(op.attrs), op.result.name)
                    counts["gated_maxpool2d"] += 1
                m.replace_all_uses(op.result, new)
                m.erase(op)
            elif op.kind in ("batchnorm", "matmul"):
                raise SnccError(f"convert-to-snn: {op.describe()} must be folded first (canonicalize, fold-batchnorm)")
        m.infer_types()
        for i, v in enumerate(m.outputs):
            x = v
            if o["readout"] == "count":
                scale = v.owner.attrs.get("calib.scale")
                if scale is None:
                    raise SnccError("readout=count needs the calibrated range of the outputs: run calibrate first")
                theta = float(np.max(scale))
                x = m.add("if", [v], {"threshold": theta, "reset": o["reset"], "v0": 0.0}, f"{v.name}.spikes")
            m.outputs[i] = m.add("readout", [x], {"mode": o["readout"]}, f"{v.name}.readout")
        ctx.reports[self.name] = {"T": int(T), **counts}

    def __init__(self, **options):
        super().__init__(**options)
        self._given = set(options)
