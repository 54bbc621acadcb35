"""bitwidth-report: what each layer's weight width costs, so a user can pick `weight_bits`.

An analysis of a converted spiking network: for every weighted layer and every width in
`min_bits..max_bits`, it rounds only that layer's weights to the grid `quantize` would use
(power-of-two scale, the largest weight at full range) and measures, on the calibration
data, how often the network's prediction still equals the float spiking network's. It
also reports the same with every layer at that width. Nothing is rewritten.
"""
from __future__ import annotations

import numpy as np

from sncc.errors import SnccError
from sncc.interpreter import interpret
from sncc.ir import Module
from sncc.pass_manager import Option, Pass, PassContext, register_pass
from sncc.passes.calibrate import validate_data
from sncc.passes.quantize import round_half_away, weight_frac


def fake_quantize(w: np.ndarray, bits: int) -> np.ndarray:
    F = weight_frac(w, bits)
    lim = 2 ** (bits - 1) - 1
    return (np.clip(round_half_away(w.astype(np.float64) * 2.0 ** F), -lim, lim) / 2.0 ** F).astype(np.float32)


@register_pass
class BitwidthReport(Pass):
    name = "bitwidth-report"
    summary = "per layer: prediction agreement with the float SNN when its weights have N bits"
    is_analysis = True
    options = {
        "min_bits": Option(int, 2, "narrowest width tried", check=lambda b: None if 2 <= b <= 16 else "must be in 2..16"),
        "max_bits": Option(int, 8, "widest width tried", check=lambda b: None if 2 <= b <= 16 else "must be in 2..16"),
        "samples": Option(int, 500, "calibration samples used", check=lambda n: None if n >= 1 else "must be >= 1"),
    }

    def run(self, m: Module, ctx: PassContext):
        if not m.is_spiking:
            raise SnccError("bitwidth-report analyses a spiking network: run it after convert-to-snn")
        x = validate_data(m, ctx.calibration_data)[: self.opts["samples"]]
        layers = [op for op in m.ops if op.kind in ("dense", "conv2d") and m.const_value(op.operands[1]) is not None]
        reference = interpret(m, x).argmax(1)
        bits_range = range(self.opts["min_bits"], self.opts["max_bits"] + 1)
        table: dict[str, dict[int, float]] = {}

        def agreement(replacements: dict) -> float:
            saved = {}
            for op, w in replacements.items():
                owner = op.operands[1].owner
                saved[owner] = owner.attrs["value"]
                owner.attrs["value"] = w
            try:
                return float((interpret(m, x).argmax(1) == reference).mean())
            finally:
                for owner, w in saved.items():
                    owner.attrs["value"] = w

        for op in layers:
            w = m.const_value(op.operands[1])
            table[op.result.name] = {b: agreement({op: fake_quantize(w, b)}) for b in bits_range}
        table["all layers"] = {b: agreement({op: fake_quantize(m.const_value(op.operands[1]), b) for op in layers})
                               for b in bits_range}
        ctx.reports[self.name] = {"samples": len(x), "agreement": table}
        lines = ["layer".ljust(24) + "".join(f"{b:>7} b" for b in bits_range)]
        for name, row in table.items():
            lines.append(name[:24].ljust(24) + "".join(f"{100 * row[b]:8.1f}" for b in bits_range))
        ctx.reports[self.name]["text"] = "\n".join(lines)
