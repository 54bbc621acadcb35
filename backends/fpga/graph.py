"""From a quantized spiking module to a graph of hardware nodes and projections (any FPGA family).

The IR is compiled op by op, not pattern-matched. Every value the hardware has to *store* is
a **node**, a tensor [C, H, W] kept in memory with `lanes` channels side by side (word
`pos * G + g`, lane `j` holds channel `g * lanes + j` at position `pos`). Positions are
row-major (`pos = y * W + x`) unless the node is **banked** (`banks = (BY, BX)`): then its
memories are BY*BX banks, bank `(y % BY) * BX + x % BX` holding positions
`(y // BY) * ceil(W / BX) + x // BX`, so that the outputs one event reaches lie in distinct
banks and a tap-parallel engine updates them all in one cycle (`Node.pos_index`; positions
past the edge are holes that nothing reads):

    input    the input integers (constant encoding: read as value events)
    encoder  rate encoding: the input's spikes at the current step
    if       IF neurons: current (accumulated), membrane, spikes           (spec 5.3, 6)
    readout  the readout's sum over time                                    (spec 5.5, 6)
    gmax     gated max pooling: running counts and the gated spikes         (spec 5.4, 6)
    sum      a linear value read by a weighted op (e.g. an average pool in front of a conv)

Everything linear between nodes becomes **projections**. A projection is one event-driven
convolution (kernel, strides, pads, dilations, groups) from a source node into a sink
node's current, with integer weights: `dense` is a convolution whose kernel covers its
(flattened) input, pools are depthwise all-ones kernels, and the chain from a weighted op to
the sink (`mul` by constants, `add` with its binary-point alignment, `concat` offsets,
`identity`/`dropout`/`flatten`/`reshape`) is folded into the weights exactly:

    sink current = sum over projections of  (W_q * c_q) << s  applied to the source's integers
    sink bias    = sum of (b_q * c_q) << s                     (added once per step)

This is spec/ir.md section 6 rewritten, not approximated: integer products and shifts
distribute over the sums. The widths are the quantized IR's types (the `quantize` pass is
the one width analysis): a current is as wide as the type of the value the neuron reads,
a membrane as its `vbits`, a readout as its result type, a sum node as its value's type.
Weight widths are those of the folded integers.

Anything else is refused with one line naming the op.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sncc.backends.hdl_names import hdl_identifier
from sncc.errors import SnccError, UnsupportedError
from sncc.ir import Module, Operation, Value
from sncc.passes.quantize import bits_for  # noqa: F401  (the one width rule; core.py imports it from here)
from sncc.types import Fixed, Spike

MOVES = ("flatten", "reshape", "identity", "dropout")


def clog2(n: int) -> int:
    """Bits of an index 0..n-1 (at least 1)."""
    return max(1, (int(n) - 1).bit_length())


def chw(shape) -> tuple[int, int, int]:
    """A tensor shape as [C, H, W]: vectors are [N, 1, 1]."""
    s = tuple(int(d) for d in shape)
    if len(s) == 3:
        return s
    if len(s) == 1:
        return (s[0], 1, 1)
    if len(s) == 2:
        return (s[0], s[1], 1)
    raise UnsupportedError(f"fpga: tensors of rank {len(s)} are not supported (shape {list(s)})")


@dataclass
class Node:
    index: int
    kind: str                     # input | encoder | if | readout | gmax | sum
    name: str                     # hdl identifier (safe in generated files)
    source_name: str              # the IR value's name, as in the model
    C: int
    H: int
    W: int
    lanes: int = 1
    spiking: bool = False         # emits spikes (1-bit events), else value events
    value_bits: int = 1           # bits of a stored value (1 for spikes)
    acc_bits: int = 0             # current / sum accumulator bits (if, readout, sum)
    static: bool = False          # its current is time-invariant: computed once per inference
    projections: list["Projection"] = field(default_factory=list)
    bias: np.ndarray | None = None       # [C] int, added to the current every step
    # if
    vbits: int = 0
    theta: np.ndarray | None = None      # [C] int >= 1
    v0: np.ndarray | None = None         # [C] int
    reset: str = "subtract"
    may_saturate: bool = False
    # readout
    readout_bits: int = 0
    readout_frac: int = 0
    # gmax
    src: "Node | None" = None
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    count_bits: int = 0
    # encoder
    seed: int = 0
    # memory layout: (BY, BX) banks by output row/column (see the module docstring)
    banks: tuple[int, int] = (1, 1)

    @property
    def constant(self) -> bool:
        """Its value is the same at every step of an inference (spec/ir.md 5.1, time-invariant)."""
        return self.kind == "input" or (self.kind == "sum" and self.static)

    @property
    def banked(self) -> bool:
        return self.banks != (1, 1)

    @property
    def bank_dims(self) -> tuple[int, int]:
        """Rows and columns of positions in one bank."""
        by, bx = self.banks
        return -(-self.H // by), -(-self.W // bx)

    @property
    def bank_positions(self) -> int:
        hb, wb = self.bank_dims
        return hb * wb

    @property
    def P(self) -> int:
        """Stored positions (holes of a banked layout included)."""
        by, bx = self.banks
        return by * bx * self.bank_positions

    def pos_index(self, y: int, x: int) -> int:
        """The stored position of element (y, x) (row-major unless banked)."""
        by, bx = self.banks
        _, wb = self.bank_dims
        return ((y % by) * bx + x % bx) * self.bank_positions + (y // by) * wb + x // bx

    @property
    def G(self) -> int:
        return -(-self.C // self.lanes)

    @property
    def words(self) -> int:
        return self.P * self.G

    @property
    def size(self) -> int:
        return self.C * self.H * self.W


@dataclass
class Projection:
    index: int
    src: Node
    sink: Node
    weights: np.ndarray           # [O, C/groups, kh, kw] int64 (folded), O = channels it writes
    out_offset: int               # first sink channel it writes (concat)
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    groups: int
    static: bool
    ops: list[str]                # the IR ops folded into it (names as in the model)

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[2]), int(self.weights.shape[3])

    @property
    def weight_bits(self) -> int:
        return bits_for(int(self.weights.min(initial=0)), int(self.weights.max(initial=0)))


@dataclass
class HardwareGraph:
    name: str
    T: int
    input: Node
    input_frac: int
    encoding: str                 # constant | rate
    seed: int
    nodes: list[Node]
    projections: list[Projection]
    output: Node                  # the readout node
    readout: str                  # membrane | count
    out_frac: int
    input_type: str
    output_type: str


# ------------------------------------------------------------------ helpers

def _frac(v: Value) -> int:
    e = v.type.elem
    return e.frac if isinstance(e, Fixed) else 0


def _skip_moves(v: Value) -> Value:
    while v.owner is not None and v.owner.kind in MOVES:
        v = v.owner.operands[0]
    return v


def _per_channel(attr, C: int, what: str, op: Operation) -> np.ndarray:
    """A per-channel attribute (scalar or [C]) as [C] float64, the values as held (section 3.2)."""
    a = np.asarray(attr, dtype=np.float64)
    if a.ndim == 0 or a.size == 1:
        return np.full(C, float(a.reshape(-1)[0]))
    if a.size != C:
        raise UnsupportedError(f"fpga: {op.describe()}: a per-element {what} is not supported "
                               f"({a.size} values for {C} channels); use one per channel")
    return a.reshape(C)


def _const_int(m: Module, v: Value, op: Operation, what: str) -> np.ndarray:
    c = m.const_value(v)
    if c is None:
        raise UnsupportedError(f"fpga: {op.describe()}: the {what} is not a constant")
    if not isinstance(v.type.elem, Fixed):
        raise SnccError(f"fpga: {op.describe()}: the {what} is not fixed point: run quantize first")
    return c.astype(np.int64)


# ------------------------------------------------------------------ the builder

@dataclass
class _Term:
    """One folded linear path into a sink: a weighted op (or identity) from a source value."""
    src: Value                    # source value (a node's value, after moves)
    weights: np.ndarray           # [O, C/groups, kh, kw]
    groups: int
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]
    dilations: tuple[int, int]
    offset: int
    ops: list[str]


class _Builder:
    def __init__(self, m: Module):
        self.m = m
        self.nodes: list[Node] = []
        self.by_value: dict[int, Node] = {}
        self.projections: list[Projection] = []

    # -- nodes
    def new_node(self, kind: str, v: Value, shape, **kw) -> Node:
        C, H, W = chw(shape)
        n = Node(index=len(self.nodes), kind=kind, name=f"n{len(self.nodes)}_{hdl_identifier(v.name, kind)}"[:40],
                 source_name=v.name or "", C=C, H=H, W=W, **kw)
        self.nodes.append(n)
        self.by_value[id(v)] = n
        return n

    def source_node(self, v: Value, user: Operation) -> Node:
        """The node holding `v` (a value read by a weighted op or a neuron), creating sum nodes."""
        v = _skip_moves(v)
        if id(v) in self.by_value:
            return self.by_value[id(v)]
        op = v.owner
        if op is None:
            raise UnsupportedError(f"fpga: {user.describe()} reads an undefined value")
        if op.kind in ("dense", "conv2d", "add", "mul", "concat", "avgpool2d", "global_avgpool"):
            node = self.new_node("sum", v, v.type.shape, value_bits=v.type.elem.width
                                 if isinstance(v.type.elem, Fixed) else 1)
            node.acc_bits = node.value_bits
            self.sink(node, v)
            return node
        raise UnsupportedError(f"fpga: {user.describe()} reads {op.describe()}, which the FPGA backend cannot "
                               "compile (supported: encode, if, gated_maxpool2d and linear ops)")

    # -- folding a sink's operand into terms
    def expand(self, v: Value, mult: np.ndarray, shift: int, offset: int, ops: list[str], terms: list,
               bias: dict) -> None:
        op = v.owner
        k = op.kind if op is not None else "?"
        if k in MOVES:
            return self.expand(op.operands[0], mult, shift, offset, ops + [op.result.name], terms, bias)
        if k == "add":
            F = _frac(v)
            for x in op.operands:
                self.expand(x, mult, shift + F - _frac(x), offset, ops + [op.result.name], terms, bias)
            return
        if k == "concat":
            if op.attrs.get("axis", 0) != 0:
                raise UnsupportedError(f"fpga: {op.describe()} concatenates along axis {op.attrs.get('axis')}; "
                                       "the FPGA backend concatenates channels (axis 0)")
            F = _frac(v)
            off = offset
            for x in op.operands:
                cx = chw(x.type.shape)[0]
                self.expand(x, mult[off - offset: off - offset + cx] if mult.size > 1 else mult, shift + F - _frac(x),
                            off, ops + [op.result.name], terms, bias)
                off += cx
            return
        if k == "mul":
            x, c = op.operands
            cq = self.m.const_value(c)
            if cq is None:
                x, c = c, x
                cq = self.m.const_value(c)
            if cq is None:
                raise UnsupportedError(f"fpga: {op.describe()} multiplies two activations")
            cq = _const_int(self.m, c, op, "factor")
            Cx = chw(x.type.shape)[0]
            if cq.size == 1:
                f = np.full(Cx, int(cq.reshape(-1)[0]), np.int64)
            elif cq.shape[0] == Cx and cq.size == Cx:
                f = cq.reshape(Cx)
            else:
                raise UnsupportedError(f"fpga: {op.describe()} multiplies by a constant of shape {list(cq.shape)}; "
                                       "the FPGA backend takes a scalar or one factor per channel")
            return self.expand(x, mult * f if mult.size > 1 else int(mult[0]) * f, shift, offset,
                               ops + [op.result.name], terms, bias)
        if k in ("dense", "conv2d", "avgpool2d", "global_avgpool"):
            return self.weighted(op, mult, shift, offset, ops + [op.result.name], terms, bias)
        if k in ("encode", "if", "gated_maxpool2d") or id(v) in self.by_value:
            # a stored value added as it is (an identity shortcut): a depthwise 1x1 kernel
            src = self.node_of(v, op)
            C = src.C
            f = np.broadcast_to(mult, (C,)).astype(np.int64) << shift if shift >= 0 else None
            if f is None:
                raise SnccError(f"fpga: {op.describe()}: negative alignment shift (internal error)")
            terms.append(_Term(v, f.reshape(C, 1, 1, 1), C, (1, 1), (0, 0, 0, 0), (1, 1), offset, ops))
            return
        raise UnsupportedError(f"fpga: {op.describe() if op else 'a value'} is not supported by the FPGA backend")

    def node_of(self, v: Value, user: Operation | None) -> Node:
        v = _skip_moves(v)
        if id(v) in self.by_value:
            return self.by_value[id(v)]
        raise UnsupportedError(f"fpga: {user.describe() if user else 'a value'} is read before it is computed "
                               "(internal error)")

    def weighted(self, op: Operation, mult, shift: int, offset: int, ops: list[str], terms: list, bias: dict):
        x = op.operands[0]
        xs = _skip_moves(x)
        src_shape = chw(xs.type.shape)
        C, H, W = src_shape
        k = op.kind
        b = None
        if k == "dense":
            w = _const_int(self.m, op.operands[1], op, "weight")
            N, K = w.shape
            if K != C * H * W:
                raise UnsupportedError(f"fpga: {op.describe()} reads {K} values where {C * H * W} arrive")
            w4 = w.reshape(N, C, H, W)
            groups, strides, pads, dil = 1, (1, 1), (0, 0, 0, 0), (1, 1)
            if len(op.operands) > 2:
                b = _const_int(self.m, op.operands[2], op, "bias").reshape(N)
        elif k == "conv2d":
            if tuple(chw(x.type.shape)) != src_shape:
                raise UnsupportedError(f"fpga: {op.describe()} reads a reshaped tensor")
            w4 = _const_int(self.m, op.operands[1], op, "weight")
            a = op.attrs
            groups, strides, pads, dil = a["groups"], tuple(a["strides"]), tuple(a["pads"]), tuple(a["dilations"])
            if len(op.operands) > 2:
                b = _const_int(self.m, op.operands[2], op, "bias").reshape(w4.shape[0])
        elif k == "avgpool2d":
            a = op.attrs
            if any(a["pads"]) and not a["count_include_pad"]:
                raise UnsupportedError(f"fpga: {op.describe()}: a window that excludes its padding has no "
                                       "fixed-point form")
            kh, kw = a["kernel"]
            if _frac(op.result) - _frac(x) != int(math.log2(kh * kw)):
                raise SnccError(f"fpga: {op.describe()}: not quantized as spec/ir.md section 6 says")
            w4 = np.ones((C, 1, kh, kw), np.int64)
            groups, strides, pads, dil = C, tuple(a["strides"]), tuple(a["pads"]), (1, 1)
        else:  # global_avgpool
            w4 = np.ones((C, 1, H, W), np.int64)
            groups, strides, pads, dil = C, (1, 1), (0, 0, 0, 0), (1, 1)
        O = w4.shape[0]
        f = np.broadcast_to(np.asarray(mult, np.int64), (O,)).astype(object)
        wf = (w4.astype(object) * f.reshape(O, 1, 1, 1)) * (1 << shift)
        if shift < 0:
            raise SnccError(f"fpga: {op.describe()}: negative alignment shift (internal error)")
        wf = np.array(wf, dtype=object)
        if np.abs(wf).max(initial=0) >= 2 ** 40:
            raise UnsupportedError(f"fpga: {op.describe()}: folded weights need more than 40 bits")
        terms.append(_Term(x, wf.astype(np.int64), groups, strides, pads, dil, offset, ops))
        if b is not None:
            bf = (b.astype(object) * f) * (1 << shift)
            for o in range(O):
                bias[offset + o] = bias.get(offset + o, 0) + int(bf[o])

    def sink(self, node: Node, v: Value) -> None:
        """Fold the value `v` that `node` accumulates into projections."""
        terms: list[_Term] = []
        bias: dict[int, int] = {}
        self.expand(v, np.ones(1, np.int64), 0, 0, [], terms, bias)
        node.bias = np.zeros(node.C, np.int64)
        for o, b in bias.items():
            node.bias[o] = b
        for t in terms:
            src = self.source_node(t.src, v.owner)
            O = t.weights.shape[0]
            if t.offset + O > node.C:
                raise UnsupportedError(f"fpga: {v.owner.describe()}: channels do not line up (internal error)")
            p = Projection(index=len(self.projections), src=src, sink=node, weights=t.weights, out_offset=t.offset,
                           strides=t.strides, pads=t.pads, dilations=t.dilations, groups=t.groups,
                           static=src.constant, ops=t.ops)
            _check_geometry(p, v.owner)
            self.projections.append(p)
            node.projections.append(p)
        node.static = bool(node.projections) and all(p.static for p in node.projections)
        for p in node.projections:   # a sink with a time-varying part recomputes all of it each step
            p.static = node.static


def _out_size(n: int, k: int, s: int, lo: int, hi: int, d: int) -> int:
    return (n + lo + hi - d * (k - 1) - 1) // s + 1


def _check_geometry(p: Projection, op: Operation) -> None:
    C, H, W = p.src.C, p.src.H, p.src.W
    kh, kw = p.kernel
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = p.strides, p.pads, p.dilations
    Ho, Wo = _out_size(H, kh, sh, pt, pb, dh), _out_size(W, kw, sw, pl, pr, dw)
    if (Ho, Wo) != (p.sink.H, p.sink.W) or C % p.groups or p.weights.shape[1] != C // p.groups:
        raise UnsupportedError(f"fpga: {op.describe()}: a {C}x{H}x{W} input through a {kh}x{kw} kernel gives "
                               f"{Ho}x{Wo}, not the {p.sink.H}x{p.sink.W} it is added to")


def build_graph(module: Module) -> HardwareGraph:
    """Compile a quantized spiking module into nodes and projections (see the module docstring)."""
    m = module
    if not m.is_spiking:
        raise SnccError("fpga: the module is not a spiking network: run convert-to-snn and quantize first")
    if len(m.inputs) != 1:
        raise UnsupportedError(f"fpga: the module has {len(m.inputs)} inputs; the FPGA core takes exactly one")
    x_in = m.inputs[0]
    if not isinstance(x_in.type.elem, Fixed):
        raise SnccError("fpga: the module is not quantized: run the quantize pass first (e.g. quantize{weight_bits=8}); "
                        "the FPGA computes in fixed point (spec/ir.md section 6)")
    if len(m.outputs) != 1 or m.outputs[0].owner is None or m.outputs[0].owner.kind != "readout":
        raise UnsupportedError("fpga: the module must return exactly one readout")
    T = m.attrs.get("T")
    if not isinstance(T, int) or isinstance(T, bool) or T < 1:
        raise SnccError(f"fpga: the module needs a number of timesteps T >= 1 (module attribute T), got {T!r}")
    b = _Builder(m)
    elem: Fixed = x_in.type.elem
    inp = b.new_node("input", x_in, x_in.type.shape, value_bits=elem.width, static=True)
    encoding, seed = "constant", 0
    readout_node = None
    for op in m.ops:
        k = op.kind
        if k in ("input", "const") or k in MOVES:
            continue
        if k == "encode":
            if _skip_moves(op.operands[0]) is not x_in:
                raise UnsupportedError(f"fpga: {op.describe()} must read the model input")
            if encoding == "rate" or id(op.result) in b.by_value:
                raise UnsupportedError(f"fpga: {op.describe()}: one encoder only")
            if op.attrs["mode"] == "rate":
                if not 0 <= elem.frac <= 24:
                    raise SnccError(f"fpga: rate encoding needs 0..24 input fraction bits, the input is {elem}")
                encoding, seed = "rate", int(op.attrs.get("seed", 0))
                b.new_node("encoder", op.result, op.type.shape, spiking=True, seed=seed)
            else:
                b.by_value[id(op.result)] = inp
            continue
        if k == "if":
            x = op.operands[0]
            if not isinstance(x.type.elem, Fixed):
                raise SnccError(f"fpga: {op.describe()} reads a value that is not fixed point: run quantize")
            vbits = int(op.attrs.get("vbits", 0))
            if vbits < 2:
                raise SnccError(f"fpga: {op.describe()} has no membrane width (vbits): run the quantize pass")
            n = b.new_node("if", op.result, x.type.shape, spiking=True, acc_bits=x.type.elem.width, vbits=vbits,
                           reset=op.attrs.get("reset", "subtract"))
            from sncc.interpreter import neuron_integers   # theta_q, v0_q exactly as spec/ir.md 6 says

            n.theta, n.v0 = neuron_integers(_per_channel(op.attrs["threshold"], n.C, "threshold", op),
                                            _per_channel(op.attrs.get("v0", 0.0), n.C, "v0", op), _frac(x), vbits,
                                            x.type.elem.width)
            if np.any(n.theta < 1):
                raise SnccError(f"fpga: {op.describe()} has a threshold below one integer unit")
            b.sink(n, x)
            c_lo, c_hi = -(1 << (n.acc_bits - 1)), (1 << (n.acc_bits - 1)) - 1
            v_lo = min(int(n.v0.min()), 0) + T * c_lo
            v_hi = max(int(n.v0.max()), 0) + T * c_hi
            n.may_saturate = vbits < bits_for(v_lo, v_hi)
            continue
        if k == "gated_maxpool2d":
            src = b.node_of(op.operands[0], op)
            if not src.spiking:
                raise UnsupportedError(f"fpga: {op.describe()} reads values, not spikes")
            a = op.attrs
            n = b.new_node("gmax", op.result, op.type.shape, spiking=True, src=src, kernel=tuple(a["kernel"]),
                           strides=tuple(a["strides"]), pads=tuple(a["pads"]), dilations=tuple(a["dilations"]),
                           count_bits=bits_for(0, T))
            if chw(op.operands[0].type.shape) != (src.C, src.H, src.W):
                raise UnsupportedError(f"fpga: {op.describe()} reads a reshaped tensor")
            continue
        if k == "readout":
            x = op.operands[0]
            n = b.new_node("readout", op.result, x.type.shape, acc_bits=_width(x), readout_bits=op.type.elem.width,
                           readout_frac=_frac(op.result))
            b.sink(n, x)
            readout_node = n
            continue
        if k in ("dense", "conv2d", "add", "mul", "concat", "avgpool2d", "global_avgpool"):
            continue   # linear: folded into the projections of the node that reads it
        raise UnsupportedError(f"fpga: {op.describe()} is not supported by the FPGA backend")
    if readout_node is None or m.outputs[0] is not _find_value(m, readout_node):
        raise UnsupportedError("fpga: the module must return its readout")
    ro = m.outputs[0].owner
    nodes = _topological(b.nodes)
    g = HardwareGraph(name=hdl_identifier(m.name), T=T, input=inp, input_frac=elem.frac, encoding=encoding, seed=seed,
                      nodes=nodes, projections=b.projections, output=readout_node,
                      readout=ro.attrs.get("mode", "membrane"), out_frac=_frac(ro.result), input_type=str(elem),
                      output_type=str(ro.type.elem))
    return g


def _topological(nodes: list[Node]) -> list[Node]:
    """Nodes ordered so every node comes after what it reads (its projections' sources, a gated
    max pool's input): the order the core computes them in, every timestep. Renumbers them."""
    done: dict[int, Node] = {}

    def visit(n: Node):
        if id(n) in done:
            return
        for src in [p.src for p in n.projections] + ([n.src] if n.src is not None else []):
            visit(src)
        done[id(n)] = n

    for n in nodes:
        visit(n)
    order = list(done.values())
    for i, n in enumerate(order):
        n.index = i
        n.name = f"n{i}_" + n.name.split("_", 1)[1]
    return order


def _width(v: Value) -> int:
    e = v.type.elem
    if isinstance(e, Fixed):
        return e.width
    if isinstance(e, Spike):
        return 2
    raise SnccError(f"fpga: %{v.name} is not fixed point: run quantize")


def _find_value(m: Module, node: Node) -> Value | None:
    for op in m.ops:
        if op.kind == "readout" and op.result.name == node.source_name:
            return op.result
    return None
