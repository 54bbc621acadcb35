"""NIR export: a spiking IR module as a NIR graph (spec/nir.md section 3).

Each op maps to the NIR node whose normative semantics equal it, as far as NIR can say
so. What NIR cannot express (reset by subtraction, an initial membrane v0, the `>=`
threshold test, the rate encoder, the membrane readout) is recorded in `sncc.*` metadata,
which `sncc.import_nir` reads back exactly, and named in one warning: other tools read
NIR's own semantics. Ops NIR has no node for (gated max pooling, ...) are refused by name.

    >>> import sncc
    >>> snn = sncc.convert("examples/mlp.onnx")                     # doctest: +SKIP
    >>> snn.export_nir("mlp.nir")                                   # doctest: +SKIP
"""
from __future__ import annotations

import re
import warnings

import numpy as np

from sncc.errors import SnccError, UnsupportedError
from sncc.ir import Module, Operation, Value
from sncc.types import Fixed

META = "sncc."


class NirExportWarning(UserWarning):
    """The exported graph relies on `sncc.*` metadata that only sncc reads."""


def _refuse(op: Operation, why: str) -> UnsupportedError:
    return UnsupportedError(f"cannot export {op.describe()} to NIR: {why}")


class _Exporter:
    def __init__(self, m: Module):
        self.m = m
        self.nodes: dict[str, dict] = {}
        self.edges: list[list[str]] = []
        self.src: dict[int, list[str]] = {}  # IR value -> the NIR nodes whose outputs sum to it
        self.names: set[str] = set()
        self.meta: dict = {}
        self.lost: list[str] = []  # what NIR cannot express, in order of first appearance

    def note(self, what: str) -> None:
        if what not in self.lost:
            self.lost.append(what)

    def name(self, hint: str | None) -> str:
        # Letters, digits and '_' only: tools split names at '.' (subgraphs) and use them as
        # Python attribute names.
        base = re.sub(r"[^A-Za-z0-9_]", "_", hint or "node")[:64] or "node"
        if base[0].isdigit():
            base = "n" + base
        name, i = base, 1
        while name in self.names or name in ("input", "output") and hint not in ("input", "output"):
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def emit(self, op: Operation, node: dict, x: Value) -> None:
        name = self.name(op.result.name)
        self.nodes[name] = node
        for s in self.sources(op, x):
            self.edges.append([s, name])
        self.src[id(op.result)] = [name]

    def sources(self, op: Operation, v: Value) -> list[str]:
        if id(v) not in self.src:
            raise _refuse(op, f"its operand %{v.name} is a constant or comes from an op NIR cannot express")
        return self.src[id(v)]

    def weight(self, op: Operation, v: Value) -> np.ndarray:
        arr = self.m.const_value(v)
        if arr is None:
            raise _refuse(op, f"its weight %{v.name} is not a constant")
        return np.ascontiguousarray(arr, dtype=np.float32)

    def run(self) -> dict:
        m = self.m
        if any(isinstance(v.type.elem, Fixed) for v in m.inputs):
            raise SnccError("cannot export a quantized (fixed-point) network to NIR: export the float spiking "
                            "network (before quantize)")
        if not m.is_spiking:
            raise SnccError("cannot export a float network to NIR: convert it to a spiking network first "
                            "(sncc.convert, or --calib)")
        if len(m.inputs) != 1 or len(m.outputs) != 1:
            raise SnccError(f"NIR export takes a network with one input and one output, this one has "
                            f"{len(m.inputs)} and {len(m.outputs)}")
        for op in m.ops:
            self.op(op)
        out = m.outputs[0]
        if out.owner.kind != "readout":
            raise SnccError(f"the network's output %{out.name} is not a readout")
        shape = np.asarray(out.type.shape, dtype=np.int64)
        self.nodes["output"] = {"type": "Output", "shape": shape}
        for s in self.src[id(out)]:
            self.edges.append([s, "output"])
        self.meta[META + "T"] = np.int64(m.attrs["T"])
        graph = {"type": "NIRGraph", "nodes": self.nodes, "edges": self.edges, "metadata": self.meta}
        return graph

    def op(self, op: Operation) -> None:
        k, a = op.kind, op.attrs
        if k == "const":
            return
        if k == "input":
            self.names.add("input")
            self.nodes["input"] = {"type": "Input", "shape": np.asarray(op.type.shape, dtype=np.int64)}
            self.src[id(op.result)] = ["input"]
            return
        x = op.operands[0] if op.operands else None
        if k == "encode":
            if a["mode"] == "rate":
                self.meta[META + "encoding"] = "rate"
                self.meta[META + "seed"] = np.int64(a["seed"])
                self.note("the rate encoder")
            self.src[id(op.result)] = self.sources(op, x)
            return
        if k in ("identity", "dropout"):
            self.src[id(op.result)] = self.sources(op, x)
            return
        if k == "dense":
            w = self.weight(op, op.operands[1])
            node = {"type": "Linear", "weight": w}
            if len(op.operands) > 2:
                node = {"type": "Affine", "weight": w, "bias": self.weight(op, op.operands[2])}
            return self.emit(op, node, x)
        if k == "conv2d":
            pt, pl, pb, pr = a["pads"]
            if (pt, pl) != (pb, pr):
                raise _refuse(op, f"pads {a['pads']} are not symmetric; NIR's Conv2d pads both sides alike")
            w = self.weight(op, op.operands[1])
            b = self.weight(op, op.operands[2]) if len(op.operands) > 2 else np.zeros(w.shape[0], np.float32)
            return self.emit(op, {"type": "Conv2d", "input_shape": np.asarray(x.type.shape[1:], np.int64),
                                  "weight": w, "stride": np.asarray(a["strides"], np.int64),
                                  "padding": np.asarray([pt, pl], np.int64),
                                  "dilation": np.asarray(a["dilations"], np.int64),
                                  "groups": np.int64(a["groups"]), "bias": b}, x)
        if k in ("avgpool2d", "global_avgpool"):
            if k == "global_avgpool":
                kern, strides, pads = list(x.type.shape[1:]), list(x.type.shape[1:]), [0, 0, 0, 0]
            else:
                kern, strides, pads = a["kernel"], a["strides"], a["pads"]
                if any(pads) and not a["count_include_pad"]:
                    raise _refuse(op, "padding left out of the average (count_include_pad = false) has no NIR form; "
                                  "NIR's AvgPool2d is read as PyTorch's (padding counted)")
            if (pads[0], pads[1]) != (pads[2], pads[3]):
                raise _refuse(op, f"pads {pads} are not symmetric")
            return self.emit(op, {"type": "AvgPool2d", "kernel_size": np.asarray(kern, np.int64),
                                  "stride": np.asarray(strides, np.int64),
                                  "padding": np.asarray(pads[:2], np.int64)}, x)
        if k == "flatten" or (k == "reshape" and op.type.rank == 1):
            return self.emit(op, {"type": "Flatten", "input_type": np.asarray(x.type.shape, np.int64),
                                  "start_dim": np.int64(0), "end_dim": np.int64(-1)}, x)
        if k == "mul":
            c = self.m.const_value(op.operands[1])
            if c is None:
                raise _refuse(op, "NIR's Scale multiplies by constants only")
            scale = np.ascontiguousarray(np.broadcast_to(c.astype(np.float32), x.type.shape))
            return self.emit(op, {"type": "Scale", "scale": scale}, x)
        if k == "add":
            a0, b0 = op.operands
            if self.m.const_value(b0) is not None or self.m.const_value(a0) is not None:
                raise _refuse(op, "NIR has no node that adds a constant (a bias belongs to an Affine or Conv2d)")
            # NIR sums the inputs of a node: the add is the fan-in of its consumers
            self.src[id(op.result)] = self.sources(op, a0) + self.sources(op, b0)
            return
        if k == "if":
            return self.neuron(op, x)
        if k == "readout":
            if a["mode"] == "membrane":
                self.meta[META + "readout"] = "membrane"
                self.note("the membrane readout (the sum over T of the output currents)")
            self.src[id(op.result)] = self.sources(op, x)
            return
        if k == "gated_maxpool2d":
            raise _refuse(op, "NIR has no gated (spiking) max pooling; convert with maxpool=avg to export")
        raise _refuse(op, "NIR has no equivalent node")

    def neuron(self, op: Operation, x: Value) -> None:
        a = op.attrs
        if a["vbits"]:
            raise _refuse(op, "a saturating fixed-point membrane has no NIR form")
        shape = x.type.shape
        theta = _full(a["threshold"], shape)
        node = {"type": "IF", "r": np.ones(shape, np.float32), "v_threshold": theta,
                "v_reset": np.zeros(shape, np.float32)}
        meta = {META + "compare": ">="}
        self.note("firing at v >= threshold")
        if a["reset"] == "subtract":
            meta[META + "reset"] = "subtract"
            self.note("reset by subtraction")
        v0 = _full(a["v0"], shape)
        if np.any(v0 != 0):
            meta[META + "v0"] = v0
            self.note("the initial membrane v0")
        node["metadata"] = meta
        self.emit(op, node, x)


def _full(v, shape) -> np.ndarray:
    """An `if` attribute (scalar, per channel [C] or full) as an f32 array of the layer's shape."""
    arr = np.asarray(v, dtype=np.float32)
    if arr.ndim == 1 and len(shape) > 1:
        arr = arr.reshape((shape[0],) + (1,) * (len(shape) - 1))
    return np.ascontiguousarray(np.broadcast_to(arr, shape), dtype=np.float32)


def to_nir_dict(module: Module) -> tuple[dict, list[str]]:
    """The NIR graph of a spiking module as a dict in `nir.NIRGraph.to_dict()` layout, and
    the list of what only sncc's metadata records."""
    ex = _Exporter(module)
    return ex.run(), ex.lost


def warning_text(lost: list[str]) -> str:
    return ("NIR cannot express " + ", ".join(lost) + ": recorded as sncc.* metadata for sncc.import_nir; "
            "other tools read NIR's semantics (IF fires at v > v_threshold, resets to v_reset)")


def export_nir(module: Module, path, *, warn: bool = True) -> list[str]:
    """Write `module` (a spiking network) as a `.nir` file; returns what NIR cannot express
    (also given as one `NirExportWarning` unless warn=False).

        >>> export_nir(snn.module, "model.nir")              # doctest: +SKIP
    """
    from sncc.nir_format import write_nir_dict

    graph, lost = to_nir_dict(module)
    write_nir_dict(path, graph)
    if lost and warn:
        warnings.warn(warning_text(lost), NirExportWarning, stacklevel=2)
    return lost
