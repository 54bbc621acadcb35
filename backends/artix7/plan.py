"""From a quantized spiking module to a hardware plan: layers, integers and bit widths.

The Artix-7 backend compiles the chain that `convert-to-snn` + `quantize` produce for an MLP:

    input fx<IW,F> -> encode (constant | rate) -> dense -> if -> dense -> if -> ... -> dense -> readout
                                                                     (or ... -> dense -> if -> readout count)

(`flatten`/`reshape`/`identity`/`dropout` anywhere in the chain move integers only and are
accepted). Everything else is refused with a one-line `SnccError`/`UnsupportedError`.

Widths. The RTL must equal spec/ir.md section 6 bit for bit, and the reference computes in
int64, so every register here is sized for the worst case over the *whole* integer range of
its inputs (the input type's full range, not only the calibrated one): nothing can wrap, and
only the membrane saturates, at `vbits`, exactly as specified.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sncc.backends.hdl_names import hdl_identifier
from sncc.errors import SnccError, UnsupportedError
from sncc.ir import Module, Operation, Value
from sncc.types import Fixed

MOVES = ("flatten", "reshape", "identity", "dropout")
CONV_OPS = ("conv2d", "avgpool2d", "maxpool2d", "gated_maxpool2d", "global_avgpool")


def bits_for(lo: int, hi: int) -> int:
    """Width of the smallest signed two's-complement type holding lo..hi (at least 2)."""
    need = max(int(hi), -int(lo) - 1, 0)
    return max(2, need.bit_length() + 1)


def clog2(n: int) -> int:
    """Bits of an index 0..n-1 (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


@dataclass
class LayerPlan:
    index: int
    name: str             # hdl_identifier of the dense op's value name (safe in generated files)
    neuron: str           # hdl_identifier of the if op's value name ("" for a membrane readout)
    K: int                # inputs
    N: int                # neurons
    L: int                # lanes
    G: int                # groups (neurons per lane)
    weights: np.ndarray   # [N, K] int64
    bias: np.ndarray      # [N] int64
    WW: int               # weight bits
    spike_in: bool
    XW: int               # event value bits (1 for spikes)
    x_range: tuple[int, int]
    PW: int
    AW: int               # accumulator bits (bias excluded)
    BW: int
    current_range: tuple[int, int]   # sum W x + b over every input
    frac: int             # F of the current (and of the membrane)
    mode: str             # "if" | "readout"
    vbits: int = 0        # membrane / readout accumulator bits (VB)
    theta: np.ndarray | None = None  # [N] int64
    v0: np.ndarray | None = None     # [N] int64
    reset: str = "subtract"
    V0W: int = 2
    TW: int = 2
    SW: int = 4
    count: bool = False   # count readout after this if layer
    CW: int = 2
    static: bool = False  # current is time-invariant (constant encoding, first layer)
    may_saturate: bool = False
    weight_type: str = ""
    current_type: str = ""

    @property
    def KB(self) -> int:
        return clog2(self.K)

    @property
    def GB(self) -> int:
        return clog2(self.G)

    @property
    def AB(self) -> int:
        return clog2(self.K * self.G)

    @property
    def RW(self) -> int:
        if self.mode == "readout":
            return self.vbits
        return self.CW if self.count else 1

    @property
    def weight_bits_total(self) -> int:
        return self.K * self.G * self.L * self.WW


@dataclass
class NetworkPlan:
    name: str
    T: int
    K: int                    # input elements
    input_shape: tuple[int, ...]
    IW: int
    in_frac: int
    in_range: tuple[int, int]      # integer range of the input type
    encoding: str             # "constant" | "rate"
    seed: int
    prng_init: int
    E: int                    # rate encoder: elements per word
    layers: list[LayerPlan] = field(default_factory=list)
    out_frac: int = 0
    OW: int = 2               # output value bits
    readout: str = "membrane"  # "membrane" | "count"
    lanes: int = 16
    input_type: str = ""
    output_type: str = ""
    source_names: dict = field(default_factory=dict)   # layer index -> (dense name, if name) as in the model

    @property
    def N_out(self) -> int:
        return self.layers[-1].N

    @property
    def CLW(self) -> int:      # class index bits
        return clog2(self.N_out)


def _skip_moves_back(v: Value) -> Value:
    while v.owner is not None and v.owner.kind in MOVES:
        v = v.owner.operands[0]
    return v


def _check_vector(op: Operation, v: Value):
    if len(v.type.shape) != 1:
        raise UnsupportedError(f"artix7: {op.describe()} reads a tensor of shape {list(v.type.shape)}; "
                               "dense layers take vectors")


def _per_neuron(attr, F: int, N: int, what: str, round_mode: str) -> np.ndarray:
    """theta_q / v0_q exactly as the reference interpreter computes them (spec/ir.md section 6)."""
    from sncc.interpreter import _per_channel  # the interpreter's own broadcasting and f32 rounding

    x = np.zeros((1, N), dtype=np.int64)
    scale = 2.0 ** F
    a = np.asarray(_per_channel(np.asarray(attr, np.float64), x))
    q = np.round(a * scale) if round_mode == "round" else np.floor(a * scale + 0.5)
    q = np.broadcast_to(np.asarray(q), (1, N))[0]
    if not np.all(np.isfinite(q)):
        raise SnccError(f"artix7: {what} is not finite in integer units")
    return q.astype(np.int64)


def analyze(module: Module, lanes: int = 16) -> NetworkPlan:
    """Check that the module is a quantized spiking MLP and compute its hardware plan."""
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= 64:
        raise SnccError(f"artix7: lanes must be an integer in 1..64, got {lanes!r}")
    for op in module.ops:
        if op.kind in CONV_OPS:
            raise UnsupportedError(f"artix7: {op.describe()} is a convolutional layer; convolutional layers on the "
                                   "FPGA are a later issue (the artix7 backend compiles dense/MLP networks)")
    if not module.is_spiking:
        raise SnccError("artix7: the module is not a spiking network: run convert-to-snn and quantize first")
    ins = module.inputs
    if len(ins) != 1:
        raise UnsupportedError(f"artix7: the module has {len(ins)} inputs; the FPGA core takes exactly one")
    x_in = ins[0]
    if not isinstance(x_in.type.elem, Fixed):
        raise SnccError("artix7: the module is not quantized: run the quantize pass first "
                        "(e.g. quantize{weight_bits=8}); the FPGA computes in fixed point (spec/ir.md section 6)")
    if len(module.outputs) != 1:
        raise UnsupportedError(f"artix7: the module returns {len(module.outputs)} values; the FPGA core returns one readout")
    T = module.attrs.get("T")
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise SnccError(f"artix7: the module needs a number of timesteps T >= 1 (module attribute T), got {T!r}")

    out = module.outputs[0]
    ro = out.owner
    if ro is None or ro.kind != "readout":
        raise UnsupportedError(f"artix7: the module's output must be a readout, got "
                               f"'{ro.kind if ro else '?'}' %{out.name}")

    # walk the chain backwards: readout <- [if] <- dense <- [if <- dense]* <- encode <- input
    chain: list[tuple[Operation, Operation | None]] = []   # (dense, if or None), last layer first
    used: set[int] = {id(ro)}
    v = _skip_moves_back(ro.operands[0])
    count = False
    if v.owner is not None and v.owner.kind == "if":
        count = True
    encode: Operation | None = None
    while True:
        op = v.owner
        if op is None:
            raise UnsupportedError("artix7: unexpected graph")
        neuron = None
        if op.kind == "if":
            neuron = op
            v = _skip_moves_back(op.operands[0])
            op = v.owner
        if op is None or op.kind != "dense":
            what = f"'{op.kind}' {op.describe().split(' ', 1)[1]}" if op is not None else "a value"
            if op is not None and op.kind == "encode" and neuron is not None:
                raise UnsupportedError(f"artix7: {neuron.describe()} reads the encoder directly; every if layer "
                                       "must follow a dense layer")
            raise UnsupportedError(f"artix7: {what} is not supported here: the artix7 backend compiles chains of "
                                   "dense -> if layers ending in a readout")
        if chain and neuron is None:
            raise UnsupportedError(f"artix7: dense layer {op.describe()} feeds another dense layer without an if "
                                   "layer between them")
        chain.append((op, neuron))
        used.add(id(op))
        if neuron is not None:
            used.add(id(neuron))
        if len(op.operands) < 2 or module.const_value(op.operands[1]) is None:
            raise UnsupportedError(f"artix7: {op.describe()} has non-constant weights")
        for w in op.operands[1:]:
            used.add(id(w.owner))
        x = _skip_moves_back(op.operands[0])
        src = x.owner
        if src is not None and src.kind == "encode":
            encode = src
            used.add(id(src))
            break
        if src is None or src.kind != "if":
            raise UnsupportedError(f"artix7: {op.describe()} reads a '{src.kind if src else '?'}' op; "
                                   "the artix7 backend compiles chains of dense -> if layers")
        v = x
    chain.reverse()
    if _skip_moves_back(encode.operands[0]) is not x_in:
        raise UnsupportedError(f"artix7: {encode.describe()} must read the model input")
    used.add(id(x_in.owner))
    # moves on the chain
    for op in module.ops:
        if op.kind in MOVES:
            used.add(id(op))
    for op in module.ops:
        if id(op) not in used:
            raise UnsupportedError(f"artix7: {op.describe()} is not supported by the artix7 backend "
                                   "(it compiles chains of dense -> if layers ending in a readout)")
    for dense, neuron in chain:
        for vv in [dense.result] + ([neuron.result] if neuron is not None else []):
            if len(module.users(vv)) != 1:
                raise UnsupportedError(f"artix7: {vv.owner.describe()} has {len(module.users(vv))} users; "
                                       "the FPGA core compiles a plain chain of layers")

    elem: Fixed = x_in.type.elem
    mode = encode.attrs["mode"]
    seed = int(encode.attrs.get("seed", 0))
    if mode == "rate" and not 0 <= elem.frac <= 24:
        raise SnccError(f"artix7: rate encoding needs 0..24 input fraction bits, the input is {elem}")
    from sncc.interpreter import prng_initial_state

    K = x_in.type.size
    plan = NetworkPlan(name=hdl_identifier(module.name), T=T, K=K, input_shape=tuple(x_in.type.shape), IW=elem.width,
                       in_frac=elem.frac, in_range=(elem.min_int, elem.max_int), encoding=mode, seed=seed,
                       prng_init=prng_initial_state(seed), E=min(lanes, K), lanes=lanes,
                       input_type=str(elem), output_type=str(ro.type.elem))

    x_lo, x_hi = (elem.min_int, elem.max_int) if mode == "constant" else (0, 1)
    spike_in = mode == "rate"
    n_prev = K
    for i, (dense, neuron) in enumerate(chain):
        x = dense.operands[0]
        _check_vector(dense, x)
        w = module.const_value(dense.operands[1]).astype(np.int64)
        wt = dense.operands[1].type.elem
        if not isinstance(wt, Fixed):
            raise SnccError(f"artix7: the weights of {dense.describe()} are not fixed point")
        N, Kl = w.shape
        if Kl != n_prev:
            raise UnsupportedError(f"artix7: {dense.describe()} has {Kl} inputs where {n_prev} arrive")
        if len(dense.operands) > 2:
            b = module.const_value(dense.operands[2])
            if b is None:
                raise UnsupportedError(f"artix7: {dense.describe()} has a non-constant bias")
            b = b.astype(np.int64).reshape(N)
        else:
            b = np.zeros(N, dtype=np.int64)
        F = dense.type.elem.frac if isinstance(dense.type.elem, Fixed) else 0
        L = min(lanes, N)
        G = -(-N // L)
        WW = wt.width
        XW = 1 if spike_in else elem.width
        PW = WW if spike_in else WW + XW
        t_lo = np.minimum(np.minimum(w * x_lo, w * x_hi), 0).sum(axis=1)
        t_hi = np.maximum(np.maximum(w * x_lo, w * x_hi), 0).sum(axis=1)
        AW = max(bits_for(int(t_lo.min()), int(t_hi.max())), PW)
        BW = bits_for(int(b.min(initial=0)), int(b.max(initial=0)))
        c_lo, c_hi = int((t_lo + b).min()), int((t_hi + b).max())
        plan.source_names[i] = (dense.result.name, neuron.result.name if neuron else "")
        lp = LayerPlan(index=i, name=hdl_identifier(dense.result.name, f"dense{i}"),
                       neuron=hdl_identifier(neuron.result.name, f"if{i}") if neuron else "",
                       K=Kl, N=N, L=L, G=G, weights=w, bias=b, WW=WW, spike_in=spike_in, XW=XW,
                       x_range=(x_lo, x_hi), PW=PW, AW=AW, BW=BW, current_range=(c_lo, c_hi), frac=F,
                       mode="if" if neuron is not None else "readout", static=(i == 0 and mode == "constant"),
                       weight_type=str(wt), current_type=str(dense.type.elem))
        if neuron is not None:
            vbits = int(neuron.attrs.get("vbits", 0))
            if vbits < 2:
                raise SnccError(f"artix7: {neuron.describe()} has no membrane width (vbits): run the quantize pass")
            nF = dense.type.elem.frac if isinstance(dense.type.elem, Fixed) else 0
            theta = _per_neuron(neuron.attrs["threshold"], nF, N, f"the threshold of {neuron.describe()}", "round")
            v0 = _per_neuron(neuron.attrs.get("v0", 0.0), nF, N, f"v0 of {neuron.describe()}", "floor")
            if np.any(theta < 1):
                raise SnccError(f"artix7: {neuron.describe()} has a threshold below one integer unit")
            lp.vbits = vbits
            lp.theta, lp.v0 = theta, v0
            lp.reset = neuron.attrs.get("reset", "subtract")
            lp.V0W = bits_for(int(v0.min()), int(v0.max()))
            lp.TW = bits_for(0, int(theta.max()))
            cur_bits = bits_for(c_lo, c_hi)
            lp.SW = max(vbits, lp.V0W, AW, BW, lp.TW, cur_bits) + 2
            v_lo = min(int(v0.min()), 0) + T * min(c_lo, 0)
            v_hi = max(int(v0.max()), 0) + T * max(c_hi, 0)
            lp.may_saturate = vbits < bits_for(v_lo, v_hi)
        else:
            lo, hi = T * min(c_lo, 0), T * max(c_hi, 0)
            lp.vbits = bits_for(lo, hi)
            lp.SW = max(lp.vbits, AW, BW) + 2
        plan.layers.append(lp)
        n_prev = N
        spike_in = True
        x_lo, x_hi = 0, 1
    last = plan.layers[-1]
    if count:
        if last.mode != "if":
            raise UnsupportedError("artix7: a count readout must read an if layer")
        last.count = True
        last.CW = bits_for(0, T)
        plan.readout = "count"
        plan.OW = last.CW
        plan.out_frac = 0
    else:
        if last.mode != "readout":
            raise UnsupportedError("artix7: unexpected readout")
        plan.readout = "membrane"
        plan.OW = last.vbits
        plan.out_frac = last.frac
    ro_elem = ro.type.elem
    if isinstance(ro_elem, Fixed):
        plan.out_frac = ro_elem.frac
    return plan


def fraction_of(module: Module) -> int:
    t = module.outputs[0].type.elem
    return t.frac if isinstance(t, Fixed) else 0


def describe(plan: NetworkPlan) -> list[dict]:
    """Per-layer sizes and bit widths (report.json `layers`)."""
    rows = []
    for lp in plan.layers:
        row = {"layer": lp.name, "neurons": lp.neuron or "(membrane readout)",
               "model_names": list(plan.source_names.get(lp.index, ("", ""))), "inputs": lp.K, "outputs": lp.N,
               "lanes": lp.L, "groups": lp.G, "input": "spikes" if lp.spike_in else f"fx<{plan.IW},{plan.in_frac}> values",
               "weights": lp.weight_type, "weight_memory": f"{lp.K * lp.G} x {lp.L * lp.WW} bits",
               "weight_kbits": round(lp.weight_bits_total / 1024, 1), "bias_bits": lp.BW,
               "accumulator_bits": lp.AW, "current": lp.current_type, "current_range": list(lp.current_range)}
        if lp.mode == "if":
            row.update({"membrane_bits": lp.vbits, "threshold_q": int(lp.theta.max()) if np.all(lp.theta == lp.theta[0]) else "per neuron",
                        "v0_q": int(lp.v0[0]) if np.all(lp.v0 == lp.v0[0]) else "per neuron", "reset": lp.reset,
                        "may_saturate": lp.may_saturate, "time_invariant_current": lp.static})
            if lp.count:
                row["count_bits"] = lp.CW
        else:
            row.update({"readout_bits": lp.vbits, "time_invariant_current": lp.static})
        rows.append(row)
    return rows


def cycle_bound(plan: NetworkPlan) -> int:
    """An upper bound on the cycles of one inference, whatever the input: every input element
    nonzero (constant encoding) and every input and neuron spiking at every timestep. Phase by
    phase as the core's controller runs them (one cycle per phase start, pipeline drains)."""
    L0 = plan.layers[0]
    G_max = max(lp.G for lp in plan.layers)
    c = 1 + (1 + G_max + 1)                                  # IDLE -> CLEAR, clear
    if plan.encoding == "constant":
        c += 1 + plan.K * L0.G + 4                           # LOAD: every element an event of G0 cycles
    else:
        c += 1 + plan.K + 1
    step = 0
    n_prev, nw_prev = plan.K, -(-plan.K // plan.E)
    if plan.encoding == "rate":
        step += 1 + nw_prev + 2                              # ENC
    for lp in plan.layers:
        if not lp.static:
            step += 1 + nw_prev + n_prev * lp.G + 5           # ACC: fetch every word, every element spikes
        step += 1 + lp.G + 4                                 # PASS
        n_prev, nw_prev = lp.N, lp.G
    c += plan.T * step
    c += plan.N_out + plan.N_out + 2                         # ARGMAX, OUT (out_ready always high)
    return c
