"""NIR frontend: `import_nir(path_or_graph, T=None, reset=None) -> SpikingNetwork` (spec/nir.md).

A NIR graph (Neuromorphic Intermediate Representation, PyPI `nir`) from snnTorch, Norse,
Sinabs, ... becomes a spiking IR module. Every node either maps to IR ops exactly as
spec/nir.md section 2 says or is refused, before anything runs, with one message naming
the node and its kind. Nested graphs are flattened.

    >>> import sncc
    >>> snn = sncc.import_nir("model.nir", T=32)                    # doctest: +SKIP
    >>> snn.classify(x_test[:5])                                    # doctest: +SKIP
    array([7, 2, 1, 0, 4])
"""
from __future__ import annotations

import math
import os
from collections import deque

import numpy as np

from sncc.errors import SnccError, UnsupportedError
from sncc.ir import Module, Value
from sncc.limits import MAX_ELEMENTS, check_T, short
from sncc.types import Spike

SUPPORTED_NODES = ("Input", "Output", "Affine", "Linear", "Scale", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten",
                   "IF", "LIF (no leak)", "CubaLIF (no leak, pass-through synapse)", "LI (no leak)", "I", "NIRGraph")
NEURONS = ("IF", "LIF", "CubaLIF")
INTEGRATORS = ("I", "LI")
DEFAULT_T = 32
# Nodes of a graph after flattening: real networks have hundreds; the bound keeps a hostile
# file from making sncc build millions of ops (spec/nir.md section 1).
MAX_NODES = 10_000
# Metadata keys sncc's exporter writes for what NIR cannot express (spec/nir.md section 3).
META = "sncc."


def _show(name: str) -> str:
    """A node name as error messages print it: quoted, control characters escaped, at most
    60 characters (a hostile name cannot break the one-line message)."""
    return "'" + _text(name, 58) + "'"


def _val(v, n: int = 40) -> str:
    """A value from the file in one short line (arrays as lists; never a line break)."""
    if isinstance(v, np.ndarray):
        v = v.tolist() if v.size <= 16 else f"<array of shape {list(v.shape)}>"
    text = " ".join(repr(v).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _text(s, n: int = 30) -> str:
    s = str(s)
    s = s if s.isprintable() else repr(s)[1:-1]
    return s if len(s) <= n else s[: n - 3] + "..."


class _Node:
    __slots__ = ("name", "kind", "d")

    def __init__(self, name: str, kind: str, d: dict):
        self.name, self.kind, self.d = name, kind, d

    def fail(self, msg: str) -> SnccError:
        return UnsupportedError(f"NIR node {_show(self.name)} ({_text(self.kind)}): {msg}")

    def array(self, key: str, required: bool = True) -> np.ndarray | None:
        if key not in self.d:
            if required:
                raise self.fail(f"has no '{key}'")
            return None
        v = self.d[key]
        if isinstance(v, (dict, str, list)) and not (isinstance(v, list) and all(isinstance(x, (int, float)) for x in v)):
            raise self.fail(f"'{key}' must be numbers, got {type(v).__name__}")
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            raise self.fail(f"'{key}' must be numbers") from None
        if arr.size > MAX_ELEMENTS:
            raise self.fail(f"'{key}' has {arr.size} elements, more than {MAX_ELEMENTS}")
        if not np.all(np.isfinite(arr)) and key not in ("tau", "tau_mem", "tau_syn", "r"):
            raise self.fail(f"'{key}' holds NaN or infinite values")
        if np.any(np.isnan(arr)):
            raise self.fail(f"'{key}' holds NaN")
        finite = arr[np.isfinite(arr)]
        if finite.size and np.abs(finite).max() > np.finfo(np.float32).max:
            raise self.fail(f"'{key}' holds values beyond the float32 range (|v| > 3.4e38)")
        return arr

    def ints(self, key: str, n: int, default=None) -> list[int]:
        """An int or an n-tuple of ints (NIR writes both), as a list of n ints."""
        if key not in self.d:
            if default is None:
                raise self.fail(f"has no '{key}'")
            return list(default)
        v = self.d[key]
        arr = np.asarray(v)
        if arr.dtype.kind not in "iuf" or arr.ndim > 1 or arr.size not in (1, n):
            raise self.fail(f"'{key}' must be an integer or {n} integers, got {_val(v)}")
        vals = [float(x) for x in arr.reshape(-1)]
        if any(not math.isfinite(x) or x != int(x) or abs(x) > 2**31 for x in vals):
            raise self.fail(f"'{key}' must be integers, got {_val(v)}")
        vals = [int(x) for x in vals]
        return vals * n if len(vals) == 1 else vals


# -- graph flattening ---------------------------------------------------------

def _flatten(d: dict, prefix: str, nodes: dict, edges: list, depth: int) -> tuple[list[str], list[str]]:
    """Add the nodes of graph dict `d` (names prefixed) to `nodes`/`edges`; returns the
    names of its Input and Output nodes."""
    if not isinstance(d.get("nodes"), dict):
        raise SnccError(f"NIR graph {_show(prefix or '(top level)')} has no 'nodes'")
    raw_edges = d.get("edges", [])
    if isinstance(raw_edges, np.ndarray) and raw_edges.size == 0:
        raw_edges = []
    if not isinstance(raw_edges, list) or any(not isinstance(e, list) or len(e) != 2
                                              or not all(isinstance(s, str) for s in e) for e in raw_edges):
        raise SnccError(f"NIR graph {_show(prefix or '(top level)')}: 'edges' must be pairs of node names")
    ins, outs, sub = [], [], {}
    for key, nd in d["nodes"].items():
        name = prefix + key
        if not isinstance(nd, dict) or not isinstance(nd.get("type"), str):
            raise SnccError(f"NIR node {_show(name)} has no type")
        kind = nd["type"]
        if kind == "NIRGraph":
            sub[key] = _flatten(nd, name + ".", nodes, edges, depth + 1)
            continue
        nodes[name] = _Node(name, kind, nd)
        if kind == "Input":
            ins.append(name)
        elif kind == "Output":
            outs.append(name)

    def end(ref: str, source: bool) -> str:
        # An edge names a node of this graph, a subgraph (meaning its one Input or Output
        # node), or "subgraph.node".
        if ref in sub:
            names = sub[ref][1 if source else 0]
            if len(names) != 1:
                raise SnccError(f"NIR subgraph {_show(prefix + ref)} has {len(names)} "
                                f"{'Output' if source else 'Input'} nodes; an edge to the graph needs exactly one")
            return names[0]
        if prefix + ref in nodes:
            return prefix + ref
        raise SnccError(f"NIR edge ({_show(prefix + a)}, {_show(prefix + b)}) names a node that does not exist: "
                        f"{_show(prefix + ref)}")

    for a, b in raw_edges:
        edges.append((end(a, True), end(b, False)))
    return ins, outs


# -- the importer -------------------------------------------------------------

class _Importer:
    def __init__(self, graph: dict, name: str, T, reset, compare, encoding, seed):
        self.graph = graph
        self.m = Module(name)
        meta = graph.get("metadata") if isinstance(graph.get("metadata"), dict) else {}
        self.meta = meta
        self.reset, self.compare = reset, compare
        T = T if T is not None else _meta_int(meta, META + "T", DEFAULT_T)
        check_T(T)
        self.T = int(T)
        self.encoding = encoding or _meta_str(meta, META + "encoding", ("constant", "rate"), "constant")
        self.seed = seed if seed is not None else _meta_int(meta, META + "seed", 0)

    def run(self) -> Module:
        nodes: dict[str, _Node] = {}
        edges: list[tuple[str, str]] = []
        ins, outs = _flatten(self.graph, "", nodes, edges, 0)
        if len(nodes) > MAX_NODES:
            raise UnsupportedError(f"the NIR graph has {len(nodes)} nodes; sncc takes at most {MAX_NODES}")
        if len(ins) != 1:
            raise UnsupportedError(f"the NIR graph has {len(ins)} Input nodes; sncc takes exactly one")
        if len(outs) != 1:
            raise UnsupportedError(f"the NIR graph has {len(outs)} Output nodes; sncc takes exactly one")
        preds: dict[str, list[str]] = {n: [] for n in nodes}
        succs: dict[str, list[str]] = {n: [] for n in nodes}
        for a, b in edges:
            preds[b].append(a)
            succs[a].append(b)
        order = self.topological(nodes, preds, succs, ins[0])
        if outs[0] not in order:
            raise UnsupportedError(f"the NIR graph's Output {_show(outs[0])} is not connected to its Input")
        values: dict[str, Value] = {}
        for name in order:
            node = nodes[name]
            srcs = [values[p] for p in preds[name] if p in values]
            if name == ins[0]:
                values[name] = self.guarded(node, self.input, node)
                continue
            x = srcs[0]
            for other in srcs[1:]:  # NIR sums the inputs of a node
                if other.type.shape != x.type.shape:
                    raise node.fail(f"its inputs have shapes {list(x.type.shape)} and {list(other.type.shape)}; "
                                    "NIR sums a node's inputs, so they must agree")
                x = self.m.add("add", [x, other], name=_ir_name(name) + ".sum")
            # the Input and Output nodes of subgraphs, and the Output, pass their value on
            values[name] = x if node.kind in ("Input", "Output") else self.guarded(node, self.node, node, x)
        out = values[outs[0]]
        self.check_output(nodes[outs[0]], out)
        # spikes reach the Output (its last node is a neuron layer): spike counts; else the
        # sum of the currents over time (spec/nir.md 2.1)
        if out.owner.kind == "readout":  # an integrator (I, LI) before the Output: its membrane is the readout
            self.m.outputs = [out]
        else:
            mode = "count" if isinstance(out.type.elem, Spike) else "membrane"
            self.m.outputs = [self.m.add("readout", [out], {"mode": mode}, "readout")]
        self.m.attrs["T"] = self.T
        self.m.verify()
        return self.m

    @staticmethod
    def guarded(node: _Node, fn, *args):
        """Run a node's mapping; parameters of the wrong shape or type that numpy trips over
        (a hostile file can hold anything) become one error naming the node."""
        try:
            return fn(*args)
        except SnccError:
            raise
        except (ValueError, TypeError, IndexError, OverflowError, KeyError, AttributeError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise node.fail(f"malformed parameters ({_text(first, 120)})") from None

    def topological(self, nodes, preds, succs, start) -> list[str]:
        reach, stack = {start}, [start]
        while stack:  # the nodes the Input reaches; others never receive data
            for s in succs[stack.pop()]:
                if s not in reach:
                    reach.add(s)
                    stack.append(s)
        indeg = {n: sum(p in reach for p in preds[n]) for n in reach}
        ready = deque(n for n in nodes if n in reach and indeg[n] == 0)
        order = []
        while ready:
            n = ready.popleft()
            order.append(n)
            for s in succs[n]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    ready.append(s)
        if len(order) != len(reach):
            done = set(order)
            stuck = next(n for n in nodes if n in reach and n not in done)
            raise nodes[stuck].fail("is part of a cycle; sncc compiles feed-forward graphs (no recurrent connections)")
        return order

    def check_output(self, node: _Node, out: Value) -> None:
        shape = node.d.get("shape")
        if shape is not None:
            want = _shape(node, shape)
            if want is not None and int(np.prod(want)) != out.type.size:
                raise node.fail(f"declares shape {list(want)}, but its input has shape {list(out.type.shape)}")

    # -- nodes ------------------------------------------------------------
    def input(self, node: _Node) -> Value:
        shape = _shape(node, node.d.get("shape"))
        if shape is None:
            raise node.fail("has no shape")
        if len(shape) in (2, 4) and shape[0] == 1:
            # nirtorch writes the sample data's shape, batch axis included: [1, K] or [1, C, H, W]
            # (spec/nir.md 2.1); sncc's shapes have no batch axis.
            shape = shape[1:]
        from sncc.types import TensorType, f32

        try:
            t = TensorType(shape, f32)
        except SnccError as e:
            raise node.fail(str(e)) from None
        x = self.m.add("input", [], {"index": 0}, "x", t)
        return self.m.add("encode", [x], {"mode": self.encoding, "seed": self.seed}, "x.enc")

    def const(self, arr, name) -> Value:
        return self.m.const(np.ascontiguousarray(arr, dtype=np.float32), name)

    def add(self, node: _Node, kind, operands, attrs=None, suffix="") -> Value:
        try:
            return self.m.add(kind, operands, attrs, _ir_name(node.name) + suffix)
        except SnccError as e:
            raise node.fail(str(e).replace(f"'{kind}' op: ", "")) from None

    def node(self, node: _Node, x: Value) -> Value:
        k = node.kind
        name = _ir_name(node.name)
        if k in ("Affine", "Linear"):
            w = node.array("weight")
            if w.ndim != 2:
                raise node.fail(f"weight of shape {list(w.shape)}: sncc takes a 2-D weight [out, in]")
            if x.type.rank != 1:
                if x.type.size != w.shape[1]:
                    raise node.fail(f"weight {list(w.shape)} does not match its input of shape {list(x.type.shape)}")
                x = self.add(node, "flatten", [x], suffix=".in")
            ops = [x, self.const(w, name + ".weight")]
            if k == "Affine":
                b = node.array("bias")
                if b.size == 1 and w.shape[0] != 1:
                    b = np.full(w.shape[0], b.reshape(()))  # a scalar broadcasts (spec/nir.md 2)
                ops.append(self.const(b.reshape(-1) if b.size == w.shape[0] else b, name + ".bias"))
            return self.add(node, "dense", ops)
        if k == "Scale":
            s = node.array("scale")
            return self.add(node, "mul", [x, self.const(self.per_element(node, s, x, "scale"), name + ".scale")])
        if k == "Conv2d":
            return self.conv(node, x)
        if k in ("SumPool2d", "AvgPool2d"):
            return self.pool(node, x)
        if k == "Flatten":
            return self.flatten(node, x)
        if k == "IF":
            return self.neuron(node, x, node.array("r"))
        if k == "LIF":
            return self.neuron(node, x, self.no_leak_gain(node, "tau"))
        if k == "CubaLIF":
            tau_syn = node.array("tau_syn")
            if not np.all(tau_syn == 1.0):
                raise node.fail("has a synaptic filter (tau_syn != 1); with dt = 1 only tau_syn = 1 passes the "
                                "input straight to the membrane, as an IF neuron needs")
            w_in = node.array("w_in", required=False)
            gain = self.no_leak_gain(node, "tau_mem")
            return self.neuron(node, x, gain if w_in is None else gain * w_in)
        if k in INTEGRATORS:
            gain = node.array("r") if k == "I" else self.no_leak_gain(node, "tau")
            x = self.gain(node, x, gain)
            return self.add(node, "readout", [x], {"mode": "membrane"})
        known = ", ".join(SUPPORTED_NODES)
        raise node.fail(f"is not supported; sncc imports {known}")

    def per_element(self, node, arr, x: Value, what: str) -> np.ndarray:
        """A neuron or Scale parameter for values of x's shape: scalars broadcast, full shape as
        is, a per-channel [C] vector of a CHW tensor becomes [C, 1, 1] (spec/nir.md 2)."""
        shape = x.type.shape
        if arr.size == 1:
            return arr.reshape(())
        if arr.shape == shape:
            return arr
        if arr.ndim == 1 and len(shape) > 1 and arr.shape[0] == shape[0]:
            return arr.reshape((shape[0],) + (1,) * (len(shape) - 1))
        if arr.size == x.type.size:  # the same neurons in another layout (e.g. [1, N])
            return arr.reshape(shape)
        raise node.fail(f"'{what}' of shape {list(arr.shape)} does not fit its input of shape {list(shape)}")

    def gain(self, node, x: Value, r: np.ndarray) -> Value:
        if np.all(r == 1.0):
            return x
        if not np.all(np.isfinite(r)):
            raise node.fail("'r' holds infinite values")
        return self.add(node, "mul", [x, self.const(self.per_element(node, r, x, "r"), _ir_name(node.name) + ".r")],
                        suffix=".in")

    def no_leak_gain(self, node: _Node, key: str) -> np.ndarray:
        """LIF/LI/CubaLIF are IF neurons or integrators only without leak: tau = inf. The input
        gain r*dt/tau is then 1 where r is inf too (snnTorch's beta = 1 writes tau = dt/(1-beta)
        and r = tau/dt, both inf) and refused where r is finite (the neuron would get no input)."""
        tau = node.array(key)
        if np.any(tau <= 0):
            raise node.fail(f"'{key}' must be > 0")
        if not np.all(np.isinf(tau)):
            t = float(np.min(tau[np.isfinite(tau)]))
            raise node.fail(f"leaks ({key} = {t:g}); sncc's neurons do not leak, so only {key} = inf (no leak) "
                            "is an IF neuron or integrator")
        r = node.array("r")
        if not np.all(np.isinf(r) & (r > 0)):
            raise node.fail(f"has {key} = inf with a finite 'r': its input gain r/{key} is 0 (snnTorch writes "
                            f"r = {key}/dt = inf for a non-leaking neuron)")
        return np.ones_like(r)

    def neuron(self, node: _Node, x: Value, r: np.ndarray) -> Value:
        name = _ir_name(node.name)
        meta = node.d.get("metadata") if isinstance(node.d.get("metadata"), dict) else {}
        reset = self.reset or _meta_str(meta, META + "reset", ("zero", "subtract"), "zero")
        compare = self.compare or _meta_str(meta, META + "compare", (">", ">="), ">")
        theta = node.array("v_threshold")
        v_reset = node.array("v_reset", required=False)
        if v_reset is not None and np.any(v_reset != 0):
            raise node.fail("resets to v_reset != 0; sncc's IF neurons reset to 0 (or by subtraction)")
        x = self.gain(node, x, r)
        theta = self.per_element(node, theta, x, "v_threshold").astype(np.float32)
        if not np.all(theta > 0):
            raise node.fail("has a threshold <= 0; sncc's IF neurons need v_threshold > 0")
        if compare == ">":
            # For f32 v and threshold: v > theta exactly when v >= the next f32 above theta (spec/nir.md 2).
            theta = np.nextafter(theta, np.float32(np.inf), dtype=np.float32)
        v0 = meta.get(META + "v0", 0.0)
        v0 = self.per_element(node, np.asarray(v0, dtype=np.float64), x, META + "v0") if np.size(v0) != 1 \
            else float(np.asarray(v0, dtype=np.float64).reshape(()))
        attrs = {"threshold": _scalar_or_array(theta), "reset": reset, "v0": _scalar_or_array(v0)}
        try:
            return self.m.add("if", [x], attrs, name)
        except SnccError as e:
            raise node.fail(str(e).replace("'if' op: ", "")) from None

    def conv(self, node: _Node, x: Value) -> Value:
        name = _ir_name(node.name)
        w = node.array("weight")
        if w.ndim != 4:
            raise node.fail(f"weight of shape {list(w.shape)}: Conv2d takes [out, in/groups, kh, kw]")
        if x.type.rank != 3:
            raise node.fail(f"its input has shape {list(x.type.shape)}; Conv2d takes [C, H, W]")
        stride, dil = node.ints("stride", 2, [1, 1]), node.ints("dilation", 2, [1, 1])
        groups = node.ints("groups", 1, [1])[0]
        pad = node.d.get("padding", 0)
        if isinstance(pad, str):
            if pad == "valid":
                pads = [0, 0, 0, 0]
            elif pad == "same":
                if stride != [1, 1]:
                    raise node.fail("padding 'same' with a stride other than 1 (PyTorch refuses it too)")
                # PyTorch's rule: total padding d*(k-1), the smaller half before.
                th, tw = dil[0] * (w.shape[2] - 1), dil[1] * (w.shape[3] - 1)
                pads = [th // 2, tw // 2, th - th // 2, tw - tw // 2]
            else:
                raise node.fail(f"padding {_val(pad)}: NIR allows an integer, a pair, 'same' or 'valid'")
        else:
            ph, pw = node.ints("padding", 2)
            pads = [ph, pw, ph, pw]
        if min(stride + dil + [groups]) < 1 or min(pads) < 0:
            raise node.fail("stride, dilation and groups must be >= 1 and padding >= 0")
        ishape = node.d.get("input_shape")
        if ishape is not None and not (isinstance(ishape, np.ndarray) and ishape.size == 0):
            want = node.ints("input_shape", 2)
            if tuple(want) != x.type.shape[1:]:
                raise node.fail(f"declares input_shape {want}, but its input has shape {list(x.type.shape)}")
        ops = [x, self.const(w, name + ".weight")]
        b = node.array("bias", required=False)
        if b is not None and np.any(b != 0):
            ops.append(self.const(np.broadcast_to(b.reshape(-1), (w.shape[0],)) if b.size == 1 else b, name + ".bias"))
        return self.add(node, "conv2d", ops, {"strides": stride, "pads": pads, "dilations": dil, "groups": groups})

    def pool(self, node: _Node, x: Value) -> Value:
        if x.type.rank != 3:
            raise node.fail(f"its input has shape {list(x.type.shape)}; 2-D pooling takes [C, H, W]")
        k, s = node.ints("kernel_size", 2), node.ints("stride", 2, None if "stride" in node.d else [0, 0])
        if "stride" not in node.d:
            s = k
        ph, pw = node.ints("padding", 2, [0, 0])
        if min(k + s) < 1 or min(ph, pw) < 0:
            raise node.fail("kernel_size and stride must be >= 1, padding >= 0")
        pads = [ph, pw, ph, pw]
        if node.kind == "AvgPool2d":  # PyTorch's AvgPool2d default: padding counts in the divisor
            return self.add(node, "avgpool2d", [x], {"kernel": k, "strides": s, "pads": pads, "count_include_pad": True})
        # A sum pool is a depthwise convolution with all-ones kernels (exact: the sum of the window).
        c = x.type.shape[0]
        ones = self.const(np.ones((c, 1, k[0], k[1]), np.float32), _ir_name(node.name) + ".ones")
        return self.add(node, "conv2d", [x, ones], {"strides": s, "pads": pads, "groups": c})

    def flatten(self, node: _Node, x: Value) -> Value:
        shape = list(x.type.shape)
        r = len(shape)
        start = node.ints("start_dim", 1, [0])[0]
        end = node.ints("end_dim", 1, [-1])[0]
        s, e = start + r if start < 0 else start, end + r if end < 0 else end
        if not (0 <= s < r and 0 <= e < r and s <= e):
            raise node.fail(f"start_dim {start}, end_dim {end} do not fit its input of shape {shape} "
                            "(NIR's Flatten dims count from the first axis of a sample, without a batch axis)")
        new = shape[:s] + [int(np.prod(shape[s:e + 1]))] + shape[e + 1:]
        if len(new) == 1:
            return self.add(node, "flatten", [x])
        return self.add(node, "reshape", [x], {"shape": new})


def _shape(node: _Node, v) -> tuple[int, ...] | None:
    if v is None:
        return None
    arr = np.asarray(v)
    if arr.dtype.kind not in "iuf" or arr.ndim > 1 or arr.size == 0:
        raise node.fail(f"shape {_val(v)} must be a list of positive integers")
    vals = arr.reshape(-1).tolist()
    if any(not math.isfinite(d) or d != int(d) or not 1 <= d <= MAX_ELEMENTS for d in vals):
        raise node.fail(f"shape {_val(vals)} must be a list of positive integers")
    return tuple(int(d) for d in vals)


def _scalar_or_array(a):
    a = np.asarray(a)
    if a.ndim == 0 or np.all(a == a.reshape(-1)[0]):
        return float(a.reshape(-1)[0])
    return a.astype(np.float32)


def _ir_name(name: str) -> str:
    """A NIR node name as an IR value name hint (the printer escapes the rest, spec/ir.md 3.3)."""
    return short(name, 64).replace("'", "") or "node"


def _meta_str(meta: dict, key: str, choices: tuple, default: str) -> str:
    v = meta.get(key, default)
    if not isinstance(v, str) or v not in choices:
        raise SnccError(f"NIR metadata '{key}' must be one of {', '.join(choices)}, got {_val(v)}")
    return v


def _meta_int(meta: dict, key: str, default: int) -> int:
    v = meta.get(key, default)
    arr = np.asarray(v)
    if arr.size != 1 or arr.dtype.kind not in "iu":
        raise SnccError(f"NIR metadata '{key}' must be an integer, got {_val(v)}")
    return int(arr.reshape(()))


def _graph_dict(graph) -> tuple[dict, str]:
    """A graph dict and a model name from a path, a dict or a `nir.NIRGraph`."""
    if isinstance(graph, dict):
        return graph, "nir"
    if isinstance(graph, (str, os.PathLike)):
        from pathlib import Path

        from sncc.nir_format import read_nir_dict

        d = read_nir_dict(graph)
        return d, Path(os.fspath(graph)).stem or "nir"
    if hasattr(graph, "to_dict") and type(graph).__module__.startswith("nir"):
        d = _plain(graph.to_dict())
        return d, "nir"
    raise SnccError(f"cannot import a {type(graph).__name__} as NIR: give a .nir path or a nir.NIRGraph")


def _plain(v):
    """`nir` node dicts hold tuples, torch tensors, numpy scalars: make them what the file reader gives."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(s, str) for s in x) for x in v):
            return [list(x) for x in v]  # edges
        if all(isinstance(x, str) for x in v) and v:
            return list(v)
        return np.asarray(v)
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    if isinstance(v, bytes):  # nir.read leaves metadata strings as bytes
        return v.decode("utf-8", "replace")
    if isinstance(v, np.ndarray) and v.dtype.kind in "OS":
        return _plain(v.tolist())
    return v


def import_nir(path_or_graph, T: int | None = None, *, reset: str | None = None, compare: str | None = None,
               encoding: str | None = None, seed: int | None = None):
    """Import a NIR graph (a `.nir` path, a `nir.NIRGraph`, or its dict) as a `SpikingNetwork`.

    Semantics: spec/nir.md. NIR's IF fires when v > v_threshold and resets to v_reset (0);
    `reset="subtract"` reads graphs whose tools mean reset by subtraction (Sinabs writes its
    IAF as `nir.IF`), `compare=">="` those that fire at v >= threshold. dt = 1 per timestep;
    the input is a constant current every step (`encoding="rate"`: Bernoulli spikes).
    T, reset, compare, encoding and seed default to what sncc's exporter recorded in the
    file, else T = 32 and NIR's normative semantics.

        >>> snn = import_nir("model.nir", T=16)               # doctest: +SKIP
        >>> snn.run(x).shape                                  # doctest: +SKIP
        (10,)
    """
    from sncc.api import SpikingNetwork

    if reset not in (None, "zero", "subtract"):
        raise SnccError(f"reset must be 'zero' or 'subtract', got {_val(reset)}")
    if compare not in (None, ">", ">="):
        raise SnccError(f"compare must be '>' or '>=', got {_val(compare)}")
    if encoding not in (None, "constant", "rate"):
        raise SnccError(f"encoding must be 'constant' or 'rate', got {_val(encoding)}")
    if T is not None:
        check_T(T)
    d, name = _graph_dict(path_or_graph)
    if d.get("type", "NIRGraph") != "NIRGraph":
        raise SnccError(f"the NIR file holds a single {_text(d.get('type'))} node, not a graph")
    with np.errstate(all="ignore"):  # what numpy would warn about is refused with a message instead
        module = _Importer(d, "".join(c if c.isalnum() or c in "_.-" else "_" for c in name) or "nir", T, reset,
                           compare, encoding, seed).run()
    return SpikingNetwork(module, {"import-nir": {"T": module.attrs["T"]}})
