"""convert-to-snn: turn a normalized float network into a spiking one (spec/ir.md section 5).

  * every input gets an `encode` (constant current, or Bernoulli rate code with the
    spec's xorshift32 PRNG and `seed`);
  * relu and clip(0, c) become `if` neurons with threshold 1 (the normalized scale) and
    initial membrane `v0` (a fraction of the threshold; 1/2 halves the rounding error of
    the rate code, Deng & Gu 2021), reset by subtraction by default;
  * qcfs becomes an `if` neuron with threshold lambda (1 after normalization) and initial
    membrane lambda/2, which reproduces the QCFS staircase at T = L (Bu et al. 2022);
  * `staircase=trained` (default): when every activation is qcfs with the same L and
    T > L, the time-invariant currents (the weights that read the encoded input, every
    bias and constant addend) are scaled by L/T. A neuron's spike count over T steps is
    then floor(L * x / lambda + 1/2), the trained L-level staircase, at any T >= L
    (spike-driven currents need no scaling: their total already grows with the spike
    counts). Without it (`staircase=T`) the neurons form a T-level staircase the network
    was not trained on, and a network that leans on its L levels loses accuracy at T > L
    (spec/ir.md section 5.6);
  * `first_spikes=early` (the default, `auto`, picks it for a QCFS network with a residual
    add, `v0` otherwise): a neuron driven by a time-invariant current (the
    first layer under constant input) gets v0 just below its threshold and its bias lowered
    by the difference / T. Its membrane then moves one way only from below the threshold, so
    every count is unchanged, but each neuron's first spike comes at step 0 instead of at a
    step set by v0 = 1/2: a channel that fires on a uniform background (an image's zero
    pixels) no longer fires on every such pixel at the last step, which later layers
    cannot undo (spec/ir.md section 5.6);
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

import logging

import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.limits import MAX_T
from sncc.pass_manager import Option, Pass, PassContext, register_pass

log = logging.getLogger("sncc")

# ops through which a time-invariant input current flows unchanged in kind (linear, or
# scale-invariant like max pooling) until a weighted layer reads it
_PASS_THROUGH = ("flatten", "reshape", "transpose", "avgpool2d", "gated_maxpool2d", "maxpool2d", "global_avgpool",
                 "identity", "dropout")


def _set_const(m: Module, op, index: int, value: np.ndarray):
    old = op.operands[index]
    if len(m.users(old)) > 1:  # shared constant: give this op its own scaled copy
        op.operands[index] = m.insert_before(op, "const", (), {"value": value.astype(np.float32)}, old.name, old.type)
    else:
        old.owner.attrs["value"] = np.ascontiguousarray(value, dtype=np.float32)


def _channel_mean(value: np.ndarray) -> np.ndarray:
    """[N, C, ...] -> [C]: the mean over the batch and every position of a channel."""
    v = np.asarray(value, dtype=np.float64)
    return v.reshape(v.shape[0], v.shape[1], -1).mean(axis=(0, 2)) if v.ndim > 2 else v.mean(axis=0)


def _ann_means(m: Module, acts, ctx: PassContext, samples: int) -> dict[int, np.ndarray]:
    """{id(activation): its per-channel mean output} of the normalized float network (the
    normalized units of the `if` that replaces it: 1 = one spike per step)."""
    from sncc.interpreter import interpret
    from sncc.passes.calibrate import validate_data

    x = validate_data(m, ctx.calibration_data)[:samples]
    wanted = {id(a) for a in acts}
    means: dict[int, np.ndarray] = {}

    def observe(op, value):
        if id(op) in wanted:
            means[id(op)] = _channel_mean(np.minimum(value, 1.0))  # a neuron fires at most once per step
    interpret(m, x, observer=observe)
    return means


def _calibrate_v0(m: Module, layers, ctx: PassContext, samples: int, T: int, steps_per_unit: int):
    """Light calibration of the initial membranes (Li et al., ICML 2021, "A free lunch from
    ANN"): layer by layer, in order, shift each channel's v0 by the gap between the spike
    count the ANN's mean activation asks for (mean * steps_per_unit: T, or L when the
    staircase is kept) and the mean count the SNN produces on the calibration data. A count
    is about floor(v0 + summed input), so the shift moves the mean count by as much; the
    quantization error of a short run is biased (activations pile up near 0), which this
    removes. Only v0 tables change: exact in every backend. Returns the number of layers."""
    from sncc.interpreter import interpret
    from sncc.passes.calibrate import validate_data

    x = validate_data(m, ctx.calibration_data)[:samples]
    for mean, neuron in layers:
        counts = []

        def observe(op, value, neuron=neuron, counts=counts):
            if op is neuron:
                counts.append(_channel_mean(value))
        interpret(m, x, T=T, observer=observe)
        got = np.sum(counts, axis=0)
        theta = np.broadcast_to(np.asarray(neuron.attrs["threshold"], np.float64), got.shape)
        v0 = np.broadcast_to(np.asarray(neuron.attrs["v0"], np.float64), got.shape)
        # clamp: a large shift would fire (or silence) a channel on its own; one threshold either side is plenty
        new = np.clip(v0 + (mean * steps_per_unit - got) * theta, -theta, 2 * theta)
        neuron.attrs["v0"] = new.astype(np.float32)
    return len(layers)


def _keep_staircase(m: Module, r: float) -> float | None:
    """Scale every time-invariant current by r = L/T (spec/ir.md section 5.6): the weights of the
    weighted layers that read an encoded input, every bias and every constant addend. Returns r,
    or None (module unchanged) if an encoded input reaches anything but a weighted layer."""
    first = []
    todo = [op.result for op in m.ops if op.kind == "encode"]
    while todo:
        v = todo.pop()
        for u in m.users(v):
            if u.kind in ("dense", "conv2d") and u.operands[0] is v:
                first.append(u)
            elif u.kind in _PASS_THROUGH or (u.kind == "mul" and m.const_value(u.operands[1]) is not None):
                todo.append(u.result)
            else:
                return None
    for op in first:
        _set_const(m, op, 1, m.const_value(op.operands[1]).astype(np.float64) * r)
    for op in list(m.ops):
        if op.kind in ("dense", "conv2d") and len(op.operands) > 2:
            _set_const(m, op, 2, m.const_value(op.operands[2]).astype(np.float64) * r)
        elif op.kind == "add":
            for i, v in enumerate(op.operands):
                c = m.const_value(v)
                if c is not None:
                    _set_const(m, op, i, np.asarray(c, np.float64) * r)
    return r


# v0 of `first_spikes=early`, as a fraction of the threshold: just below 1 (a spike at step 0
# from any per-step current >= 2^-8 of the threshold), and exact in binary (fixed point too)
EARLY_V0 = 1.0 - 2.0 ** -8


def _early_first_spikes(m: Module, neurons, T: int) -> list:
    """`first_spikes=early` (spec/ir.md 5.6): every neuron whose input current is time-invariant and
    comes straight from a dense/conv2d read by nothing else gets v0 = EARLY_V0 * theta, and that
    layer's bias drops by (EARLY_V0 * theta - v0) / T, so v0 + T * current is unchanged. Under a
    constant current the membrane only rises (or only falls) from below theta: the count is
    floor(v0 + T * current), the same as before, and the first spike comes at step 0. Returns the
    neurons changed."""
    from sncc.interpreter import _static_ops

    static = _static_ops(m)  # the time-invariant ops of spec/ir.md section 5.1
    changed = []
    for neuron in neurons:
        src = neuron.operands[0].owner
        if id(src) not in static or src.kind not in ("dense", "conv2d") or len(m.users(src.result)) != 1:
            continue
        theta = np.asarray(neuron.attrs["threshold"], np.float64)
        if theta.ndim:  # one threshold per layer (normalized networks have theta = 1)
            continue
        shift = (EARLY_V0 * theta - np.asarray(neuron.attrs["v0"], np.float64)) / T
        n_out = src.type.shape[0]
        bias = m.const_value(src.operands[2]).astype(np.float64) if len(src.operands) > 2 else np.zeros(n_out)
        if len(src.operands) > 2:
            _set_const(m, src, 2, bias - shift)
        else:
            b = m.insert_before(src, "const", (), {"value": np.broadcast_to(-shift, (n_out,)).astype(np.float32)},
                                f"{src.result.name}.bias", src.type.with_shape((n_out,)))
            src.operands = list(src.operands) + [b]
        neuron.attrs["v0"] = float(EARLY_V0 * theta)
        changed.append(neuron)
    return changed


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
        "v0_calibration": Option(int, 0, "calibration samples for per-channel initial membranes that match the "
                                 "ANN's mean activations, layer by layer (0: off)",
                                 check=lambda n: None if n >= 0 else "must be >= 0"),
        "staircase": Option(str, "trained", "QCFS networks at T > L: keep the trained L-level staircase "
                            "(trained) or let the neurons form a T-level one (T)", choices=("trained", "T")),
        "first_spikes": Option(str, "auto", "neurons driven by a time-invariant current: spikes at the steps "
                               "v0 gives (v0) or as early as possible, same counts (early); auto: early iff the "
                               "network has QCFS activations and a residual add", choices=("auto", "v0", "early")),
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
        # a QCFS network with residual adds: early first spikes by default (README, "Residual networks":
        # the benchmark ResNet 9.89% -> 65.01% at T = 4); a ReLU one converts better with v0 (54.64% vs 10.10%)
        residual = m.residual_adds() if any(op.kind == "qcfs" for op in m.ops) else []
        first_spikes = o["first_spikes"] if o["first_spikes"] != "auto" else "early" if residual else "v0"
        if residual and o["encoding"] == "constant" and (first_spikes != "early" or not o["v0_calibration"]):
            log.warning(f"convert-to-snn: this QCFS network has {len(residual)} residual add(s); with constant input "
                        "it needs first_spikes='early' (CLI --first-spikes early) and v0_calibration=1000 (CLI "
                        "--v0-calibration 1000) to come near its ANN's accuracy (README, 'Residual networks'); "
                        "converting with first_spikes='" + first_spikes + f"', v0_calibration={o['v0_calibration']}")
        acts = [op for op in m.ops if op.kind in ("relu", "clip", "qcfs")]
        ann_means = _ann_means(m, acts, ctx, o["v0_calibration"]) if o["v0_calibration"] else None
        neurons = {}
        levels = {int(op.attrs["levels"]) for op in acts if op.kind == "qcfs"}
        all_qcfs = bool(acts) and all(op.kind == "qcfs" for op in acts) and len(levels) == 1
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
                neurons[id(op)] = spikes.owner
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
        stretch = None
        if levels:
            L = max(levels)
            if all_qcfs and T > L and o["staircase"] == "trained":
                stretch = _keep_staircase(m, L / T)
                if stretch is not None:
                    m.attrs["staircase_T"] = int(T)
            if T < L:
                log.warning(f"convert-to-snn: this QCFS network was trained with L = {L} levels; at T = {T} < L its "
                            "neurons can only form a T-level staircase and it loses accuracy (measured in README, "
                            f"'Low latency'); convert at T >= {L}, or fine-tune with sncc.nn.finetune_qcfs(L={T})")
            elif T > L and stretch is None:
                why = ("staircase=T" if o["staircase"] == "T" else
                       "it mixes QCFS levels or ReLU activations" if not all_qcfs else
                       "its encoded input reaches an op other than a weighted layer")
                log.warning(f"convert-to-snn: QCFS network trained with L = {L} run at T = {T} with a {T}-level "
                            f"staircase ({why}); such networks can lose accuracy at T > L")
        m.infer_types()
        early = []
        if first_spikes == "early" and o["encoding"] == "constant":
            early = _early_first_spikes(m, [neurons[id(a)] for a in acts], int(T))
            counts["early_first_spikes"] = len(early)
        if ann_means is not None:
            # a neuron of `early` already has exact counts (a constant current): only the others are calibrated
            counts["v0_calibrated"] = _calibrate_v0(m, [(ann_means[id(a)], neurons[id(a)]) for a in acts
                                                        if neurons[id(a)] not in early], ctx,
                                                    o["v0_calibration"], int(T),
                                                    int(round(T * stretch)) if stretch else int(T))
        for i, v in enumerate(m.outputs):
            x = v
            if o["readout"] == "count":
                scale = v.owner.attrs.get("calib.scale")
                if scale is None:
                    raise SnccError("readout=count needs the calibrated range of the outputs: run calibrate first")
                theta = float(np.max(scale))
                x = m.add("if", [v], {"threshold": theta, "reset": o["reset"], "v0": 0.0}, f"{v.name}.spikes")
            m.outputs[i] = m.add("readout", [x], {"mode": o["readout"]}, f"{v.name}.readout")
        ctx.reports[self.name] = {"T": int(T), "first_spikes": first_spikes, **counts,
                                  **({"staircase": f"L={max(levels)}, currents x{stretch:g}"} if stretch else {})}

    def __init__(self, **options):
        super().__init__(**options)
        self._given = set(options)
