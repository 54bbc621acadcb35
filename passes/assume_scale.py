"""assume-scale: activation scales without calibration data (SC-NeuroCore's fallback).

`sncc.convert(model)` without calibration data (and the CLI without `--calib`) runs this
instead of `calibrate`: a QCFS activation keeps its learned threshold (normalize reads it
from the op; it is the activation's exact maximum), `clip(x, 0, c)` takes its ceiling c,
and every ReLU gets the scale `scale` (1.0): after conversion its IF neurons have
threshold 1.0 in the units of the trained weights. That is SC-NeuroCore's rule; without
data-based normalization a layer whose activations reach far beyond 1 saturates, one
that stays far below fires rarely, so the pass warns once that accuracy will suffer.
"""
from __future__ import annotations

import logging
import math

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.pass_manager import Option, Pass, PassContext, register_pass

log = logging.getLogger("sncc")


@register_pass
class AssumeScale(Pass):
    name = "assume-scale"
    summary = "activation scales without calibration data: QCFS thresholds, clip ceilings, else `scale`"
    options = {"scale": Option(float, 1.0, "the scale (IF threshold) of each ReLU",
                               check=lambda s: None if s > 0 and math.isfinite(s) else "must be finite and > 0")}

    def run(self, m: Module, ctx: PassContext):
        if m.is_spiking:
            raise SnccError("assume-scale runs on the float network; this module is already spiking")
        guessed = 0
        for op in m.ops:
            if op.kind == "relu" or (op.kind == "clip" and not math.isfinite(op.attrs["max"])):
                op.attrs.setdefault("calib.scale", float(self.opts["scale"]))
                guessed += 1
            elif op.kind == "clip":
                op.attrs.setdefault("calib.scale", float(op.attrs["max"]))
        if guessed:
            log.warning(f"no calibration data: {guessed} ReLU layer(s) get threshold {self.opts['scale']:g} "
                        "(no data-based normalization), and accuracy will suffer; give calibration data "
                        "(--calib FILE.npy, calibration_data=...), e.g. 1,000 training inputs")
        ctx.reports[self.name] = {"assumed": guessed}
