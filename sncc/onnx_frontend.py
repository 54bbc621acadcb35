"""ONNX frontend: `import_onnx(path_or_model) -> Module` (float IR, no batch dimension).

Every ONNX node either maps to IR ops, is evaluated at import time (all inputs
known: initializers, Constant nodes and shape computations), or is refused before
anything else happens with one message naming the node, its op type and the
supported ops. The leading ONNX axis is the batch axis and is dropped.

    >>> import sncc
    >>> m = sncc.import_onnx("examples/mlp.onnx")            # doctest: +SKIP
    >>> print(m.to_text(elide=True))                         # doctest: +SKIP
"""
from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from sncc.errors import SnccError, UnsupportedError, VerificationError
from sncc.ir import Module, Value
from sncc.limits import MAX_ELEMENTS
from sncc.types import TensorType

log = logging.getLogger("sncc")

MIN_OPSET = 9
MAX_OPSET = onnx.defs.onnx_opset_version()

# A stand-in for the (dynamic) batch size inside shape computations, e.g. the
# Shape -> Gather -> Concat -> Reshape chain that `x.view(x.size(0), -1)` exports to.
_BATCH = (1 << 40) + 7

SUPPORTED_OPS = sorted([
    "Add", "AveragePool", "BatchNormalization", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv",
    "Div", "Dropout", "Flatten", "Gemm", "GlobalAveragePool", "Identity", "MatMul", "MaxPool", "Mul",
    "Relu", "Reshape", "Softmax (final)", "LogSoftmax (final)", "Sub", "Sum",
    "QCFS staircase (Div, Clip, Mul, Add, Floor, Div, Mul)",
    "shape computations on constants (Shape, Gather, Unsqueeze, Squeeze, Cast, Slice, ...)",
])

# Activations an integrate-and-fire neuron cannot represent: it only ever emits a
# non-negative rate, and a rate code has no way to carry a saturating or negative response.
_NON_SPIKING_ACTIVATIONS = {"Sigmoid", "Tanh", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Softplus",
                            "Softsign", "HardSigmoid", "HardSwish", "Gelu", "Mish", "ThresholdedRelu", "Swish"}


def _clean(name: str) -> str:
    return name.strip("/").replace("/", ".").replace(":", "_") or None


def load_model(model) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    path = Path(os.fspath(model))
    if not path.exists():
        raise SnccError(f"model file '{path}' does not exist")
    try:
        return onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and friends
        raise SnccError(f"'{path}' is not a readable ONNX model: {e}") from None


class _Importer:
    def __init__(self, model: onnx.ModelProto, name: str):
        self.model = model
        self.graph = model.graph
        self.m = Module(name)
        self.known: dict[str, np.ndarray] = {}  # tensors known at import time
        self.values: dict[str, Value] = {}  # tensors computed by the network
        self.consts: dict[str, Value] = {}  # known tensors already materialized as const ops
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        self.skip: set[int] = set()
        self.static_batch: int | None = None
        self.notes: list[str] = []
        self.onnx_shapes: dict[str, tuple] = {}

    # -- helpers ------------------------------------------------------------
    def fail(self, node: onnx.NodeProto, msg: str) -> SnccError:
        return UnsupportedError(f"ONNX node '{node.name or node.output[0]}' ({node.op_type}): {msg}")

    def name(self, node) -> str:
        """The IR value name of a node's result: its ONNX node name, else its output name."""
        return _clean(node.name) or _clean(node.output[0]) or node.op_type.lower()

    def attr(self, node, key, default=None):
        for a in node.attribute:
            if a.name == key:
                return onnx.helper.get_attribute_value(a)
        return default

    def value(self, name: str, node) -> Value:
        """The IR value for ONNX tensor `name`, making a const op for a known tensor."""
        if name in self.values:
            return self.values[name]
        if name in self.known:
            if name not in self.consts:
                arr = self.known[name]
                if arr.dtype.kind not in "fiub":
                    raise self.fail(node, f"constant '{name}' has unsupported type {arr.dtype}")
                self.consts[name] = self.m.const(arr.astype(np.float32), _clean(name))
            return self.consts[name]
        raise self.fail(node, f"input '{name}' is not produced by any node, initializer or graph input")

    def check_node(self, node: onnx.NodeProto, opset: int) -> None:
        """What the ONNX schema of the node's op requires: input and output counts, required
        attributes and attribute types. Handlers can then index inputs and read attributes
        without each guarding against a malformed graph."""
        try:
            schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
        except Exception:  # no such op: refused later as unsupported
            return
        given = len(node.input)
        while given and node.input[given - 1] == "":  # trailing "" = optional input left out
            given -= 1
        if not schema.min_input <= given <= schema.max_input:
            want = (f"{schema.min_input}" if schema.min_input == schema.max_input
                    else f"{schema.min_input} to {schema.max_input}")
            raise self.fail(node, f"takes {want} inputs, got {given}")
        if not schema.min_output <= len(node.output) <= schema.max_output or not node.output[0]:
            raise self.fail(node, f"has {len(node.output)} outputs; the ONNX schema allows "
                            f"{schema.min_output} to {schema.max_output}, the first one named")
        present = {a.name: a for a in node.attribute}
        unknown = sorted(set(present) - set(schema.attributes))
        if unknown:  # invalid ONNX (the checker refuses it too); sncc might read it with a wrong type
            raise self.fail(node, f"has attribute(s) {', '.join(unknown)} that {node.op_type} (opset {opset}) "
                            f"does not define; it takes: {', '.join(sorted(schema.attributes)) or 'none'}")
        for name, spec in schema.attributes.items():
            if spec.required and name not in present:
                raise self.fail(node, f"lacks the required attribute '{name}'")
            if name in present and int(present[name].type) != int(spec.type):
                got = onnx.AttributeProto.AttributeType.Name(present[name].type)
                want = onnx.AttributeProto.AttributeType.Name(int(spec.type))
                raise self.fail(node, f"attribute '{name}' must be of type {want}, got {got}")

    def scalar_input(self, node, i, what) -> float | None:
        """A constant input that must hold one number (Clip min/max, Dropout ratio)."""
        arr = self.known_input(node, i, what)
        if arr is None:
            return None
        if np.size(arr) != 1:
            raise self.fail(node, f"{what} must be a single number, got shape {list(np.shape(arr))}")
        return float(np.asarray(arr).reshape(()))

    def is_known(self, name: str) -> bool:
        return name == "" or name in self.known

    def known_input(self, node, i, what) -> np.ndarray | None:
        if i >= len(node.input) or node.input[i] == "":
            return None
        if node.input[i] not in self.known:
            raise self.fail(node, f"{what} must be a constant (an initializer or computed from constants)")
        return self.known[node.input[i]]

    def batch_const(self, node, arr: np.ndarray, x: Value) -> np.ndarray:
        """An ONNX constant operand of an elementwise op, as a per-sample constant."""
        arr = np.asarray(arr, dtype=np.float32)
        full_rank = x.type.rank + 1
        if arr.ndim == full_rank:
            if arr.shape[0] != 1:
                raise self.fail(node, f"constant of shape {list(arr.shape)} varies along the batch axis")
            arr = arr[0]
        elif arr.ndim > full_rank:
            raise self.fail(node, f"constant of shape {list(arr.shape)} has more axes than the activation")
        return arr

    # -- main loop ----------------------------------------------------------
    def set_known(self, name: str, arr: np.ndarray, what: str) -> None:
        """A tensor known at import time; the IR holds real numbers only."""
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            kind = "string" if arr.dtype.kind in "OSU" else str(arr.dtype)
            raise SnccError(f"{what} '{name}' holds {kind} values; sncc takes real numbers")
        if arr.size > MAX_ELEMENTS:
            raise SnccError(f"{what} '{name}' has {arr.size} elements, more than the {MAX_ELEMENTS} sncc supports")
        self.known[name] = arr

    def run(self) -> Module:
        g = self.graph
        for init in g.initializer:
            if init.data_location == onnx.TensorProto.EXTERNAL:  # onnx.load(path) reads it in; bytes cannot
                raise SnccError(f"initializer '{init.name}' refers to external data that was not loaded; "
                                "give the model as a file path next to its data")
            try:
                arr = numpy_helper.to_array(init)
            except Exception as e:  # no data, or data of the wrong size for its dims
                raise SnccError(f"initializer '{init.name}' cannot be read: {e}") from None
            self.set_known(init.name, arr, "initializer")
        for vi in list(g.value_info) + list(g.output):
            dims = vi.type.tensor_type.shape.dim
            if vi.type.tensor_type.HasField("shape"):
                self.onnx_shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        index = 0
        for inp in g.input:
            if inp.name in self.known:
                continue  # opset < 9 style: initializers listed as inputs
            tt = inp.type.tensor_type
            if tt.elem_type != onnx.TensorProto.FLOAT:
                raise SnccError(f"graph input '{inp.name}' has element type "
                                f"{onnx.TensorProto.DataType.Name(tt.elem_type)}; sncc takes float32 inputs")
            dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            if len(dims) < 2 or any(d is None or d < 1 for d in dims[1:]):
                raise SnccError(f"graph input '{inp.name}' has shape {dims}: sncc needs [batch, ...] with a "
                                "static shape after the batch axis")
            if dims[0] is not None:
                self.static_batch = dims[0]
            try:
                t = TensorType(tuple(dims[1:]))
            except SnccError as e:
                raise SnccError(f"graph input '{inp.name}': {e}") from None
            self.values[inp.name] = self.m.add("input", (), {"index": index}, _clean(inp.name), t)
            index += 1
        if index == 0:
            raise SnccError("the model has no graph input (every input is an initializer)")
        opset = next(o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx"))
        written = {name: "a graph input or initializer" for name in list(self.known) + list(self.values)}
        for node in g.node:
            if node.domain in ("", "ai.onnx"):
                self.check_node(node, opset)
            for name in node.output:
                if name and name in written:  # an ONNX graph is SSA: which value would consumers get?
                    raise self.fail(node, f"writes '{name}', which {written[name]} already defines")
                written[name] = f"node '{node.name or node.output[0]}' ({node.op_type})"
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
        outputs = {o.name for o in g.output}
        for i, node in enumerate(g.node):  # Constant nodes first: patterns look ahead at their values
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.evaluate(node)
                self.skip.add(i)
        for i, node in enumerate(g.node):
            if i in self.skip:
                continue
            if node.domain not in ("", "ai.onnx"):
                raise self.fail(node, f"op domain '{node.domain}' is not supported; supported ops: "
                                + ", ".join(SUPPORTED_OPS))
            if node.op_type in ("Softmax", "LogSoftmax") and all(o in outputs for o in node.output):
                # argmax of the logits is unchanged; spiking readouts are logits, not probabilities
                self.values[node.output[0]] = self.value(node.input[0], node)
                self.notes.append(f"dropped final {node.op_type} '{node.name}': argmax is unchanged")
                continue
            if all(self.is_known(n) for n in node.input) and node.op_type != "Dropout":
                self.evaluate(node)
                continue
            if node.op_type == "Shape":
                self.shape_of(node)
                continue
            if self.match_qcfs(i, node):
                continue
            handler = getattr(self, f"op_{node.op_type}", None)
            if handler is None:
                if node.op_type in _NON_SPIKING_ACTIVATIONS:
                    raise self.fail(node, "this activation cannot be represented by rate-coded integrate-and-fire "
                                    "neurons (they only carry non-negative rates); retrain with ReLU or "
                                    "sncc.QCFSActivation")
                raise self.fail(node, "op not supported; supported ops: " + ", ".join(SUPPORTED_OPS))
            try:
                result = handler(node)
            except VerificationError as e:  # the IR refused what the node asks for: say which node
                raise self.fail(node, str(e)) from None
            self.values[node.output[0]] = result
            self.check_shape(node, result)
        for o in g.output:
            if o.name not in self.values or self.values[o.name].owner.kind == "const":
                raise SnccError(f"graph output '{o.name}' does not depend on the graph input (it is a constant)")
            self.m.outputs.append(self.values[o.name])
        for note in self.notes:
            log.info(note)
        self.m.verify()
        return self.m

    def check_shape(self, node, v: Value):
        shape = self.onnx_shapes.get(node.output[0])
        if shape and all(d is not None for d in shape[1:]) and tuple(shape[1:]) != v.type.shape:
            raise self.fail(node, f"sncc computes per-sample shape {list(v.type.shape)} but ONNX shape "
                            f"inference says {list(shape[1:])}")

    def evaluate(self, node):
        from onnx.reference import ReferenceEvaluator

        inputs = [n for n in node.input if n]
        feeds = {n: self.known[n] for n in inputs}
        graph = onnx.helper.make_graph(
            [node], "fold",
            [onnx.helper.make_tensor_value_info(n, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for n, a in feeds.items()],
            [onnx.helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o])
        model = onnx.helper.make_model(graph, opset_imports=self.model.opset_import)
        if node.op_type == "ConstantOfShape" and feeds:  # refuse before allocating, not after
            n = math.prod(int(d) for d in np.asarray(next(iter(feeds.values()))).reshape(-1))
            if n > MAX_ELEMENTS:
                raise self.fail(node, f"makes a tensor of {n} elements, more than the {MAX_ELEMENTS} sncc supports")
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the value is checked where it is used
                results = ReferenceEvaluator(model).run(None, feeds)
        except Exception as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise self.fail(node, f"could not evaluate this constant computation: {first}") from None
        for name, arr in zip([o for o in node.output if o], results):
            try:
                self.set_known(name, arr, "constant")
            except SnccError as e:
                raise self.fail(node, str(e)) from None

    def shape_of(self, node):
        x = self.value(node.input[0], node)
        start, end = self.attr(node, "start", 0), self.attr(node, "end", None)
        full = np.array((_BATCH,) + x.type.shape, dtype=np.int64)
        self.known[node.output[0]] = full[start:end]

    # -- op handlers ----------------------------------------------------------
    def op_Relu(self, node):
        return self.m.add("relu", [self.value(node.input[0], node)], name=self.name(node))

    def op_Clip(self, node):
        lo = self.attr(node, "min", None)
        hi = self.attr(node, "max", None)
        a = self.scalar_input(node, 1, "the Clip minimum")
        b = self.scalar_input(node, 2, "the Clip maximum")
        lo = a if a is not None else (float("-inf") if lo is None else lo)
        hi = b if b is not None else (float("inf") if hi is None else hi)
        return self.m.add("clip", [self.value(node.input[0], node)], {"min": lo, "max": hi}, self.name(node))

    def op_Identity(self, node):
        return self.m.add("identity", [self.value(node.input[0], node)], name=self.name(node))

    def op_Dropout(self, node):
        if len(node.output) > 1 and node.output[1] and self.consumers.get(node.output[1]):
            raise self.fail(node, "the dropout mask output is used; only inference-mode Dropout is supported")
        training = self.scalar_input(node, 2, "the Dropout training_mode flag")
        if self.attr(node, "is_test", 1) == 0 or training:
            raise self.fail(node, "training-mode Dropout; export the model in eval() mode")
        ratio = self.attr(node, "ratio", 0.5)
        r = self.scalar_input(node, 1, "the Dropout ratio")
        return self.m.add("dropout", [self.value(node.input[0], node)],
                          {"ratio": float(r) if r is not None else float(ratio)}, self.name(node))

    def op_Flatten(self, node):
        x = self.value(node.input[0], node)
        axis = self.attr(node, "axis", 1)
        if axis < 0:
            axis += x.type.rank + 1
        if axis != 1:
            raise self.fail(node, f"Flatten with axis={axis} mixes the batch axis into the features; only axis=1 is supported")
        return self.m.add("flatten", [x], name=self.name(node))

    def op_Reshape(self, node):
        x = self.value(node.input[0], node)
        shape = self.known_input(node, 1, "the target shape")
        shape = [int(d) for d in np.asarray(shape).reshape(-1)]
        if self.attr(node, "allowzero", 0) and 0 in shape:
            raise self.fail(node, "allowzero=1 with a zero dimension is not supported")
        if not shape or not (shape[0] in (0, -1, _BATCH) or shape[0] == self.static_batch):
            raise self.fail(node, f"target shape {shape} does not keep the batch axis first; sncc only "
                            "reshapes within one sample")
        dims = [x.type.shape[i - 1] if d == 0 and i - 1 < x.type.rank else d for i, d in enumerate(shape)][1:]
        if shape[0] == -1 and -1 in dims:
            raise self.fail(node, f"target shape {shape} leaves both the batch and a feature axis open")
        if dims.count(-1) > 1:
            raise self.fail(node, f"target shape {shape} has more than one -1")
        if -1 in dims:
            known = math.prod(d for d in dims if d != -1)
            if known == 0 or x.type.size % known:
                raise self.fail(node, f"cannot reshape {list(x.type.shape)} into {shape}")
            dims[dims.index(-1)] = x.type.size // known
        if math.prod(dims) != x.type.size:
            raise self.fail(node, f"cannot reshape a sample of shape {list(x.type.shape)} into {dims}")
        return self.m.add("reshape", [x], {"shape": dims}, self.name(node))

    def op_Gemm(self, node):
        alpha, beta = self.attr(node, "alpha", 1.0), self.attr(node, "beta", 1.0)
        trans_a, trans_b = self.attr(node, "transA", 0), self.attr(node, "transB", 0)
        if trans_a:
            raise self.fail(node, "transA=1 on an activation would transpose the batch axis")
        x = self.value(node.input[0], node)
        w = self.known_input(node, 1, "the weight B")
        w = np.asarray(w, dtype=np.float32)
        w = (w if trans_b else w.T) * np.float32(alpha)  # dense weight is [out, in]
        if x.type.rank != 1 or w.ndim != 2 or w.shape[1] != x.type.shape[0]:
            raise self.fail(node, f"weight of shape {list(w.shape)} does not fit input {x.type}")
        operands = [x, self.m.const(w, _clean(node.input[1]) if alpha == 1.0 else self.name(node) + ".weight")]
        c = self.known_input(node, 2, "the bias C")
        if c is not None and beta != 0.0:
            c = np.asarray(c, dtype=np.float32) * np.float32(beta)
            if c.ndim == 2 and c.shape[0] == 1:
                c = c[0]
            try:
                bias = np.broadcast_to(c, (w.shape[0],))
            except ValueError:
                raise self.fail(node, f"bias of shape {list(c.shape)} does not broadcast to [{w.shape[0]}]") from None
            name = _clean(node.input[2]) if beta == 1.0 and c.shape == (w.shape[0],) else self.name(node) + ".bias"
            operands.append(self.m.const(np.ascontiguousarray(bias), name))
        return self.m.add("dense", operands, name=self.name(node))

    def op_MatMul(self, node):
        x = self.value(node.input[0], node)
        w = self.known_input(node, 1, "the second MatMul operand (weights)")
        if x.type.rank != 1 or np.ndim(w) != 2:
            raise self.fail(node, f"only [batch, K] x [K, N] products are supported (got sample {x.type}, "
                            f"weight {list(np.shape(w))})")
        return self.m.add("matmul", [x, self.value(node.input[1], node)], name=self.name(node))

    def _conv_pads(self, node, x: Value, kernel, strides, dilations):
        auto_pad = self.attr(node, "auto_pad", b"NOTSET")
        auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
        if auto_pad in ("NOTSET", ""):
            pads = list(self.attr(node, "pads", [0, 0, 0, 0]))
            if len(pads) != 4:
                raise self.fail(node, f"only 2-D windows are supported (pads {pads})")
            return pads
        if auto_pad == "VALID":
            return [0, 0, 0, 0]
        if auto_pad not in ("SAME_UPPER", "SAME_LOWER"):
            raise self.fail(node, f"auto_pad '{auto_pad}' is not one of NOTSET, VALID, SAME_UPPER, SAME_LOWER")
        for what, vals in (("kernel_shape", kernel), ("strides", strides), ("dilations", dilations)):
            if len(vals) != 2 or min(vals) < 1:  # SAME padding divides by the stride
                raise self.fail(node, f"{what} {list(vals)} must be two numbers >= 1 (2-D windows)")
        pads = [0, 0, 0, 0]
        for i in range(2):
            size = x.type.shape[1 + i]
            out = -(-size // strides[i])
            total = max(0, (out - 1) * strides[i] + dilations[i] * (kernel[i] - 1) + 1 - size)
            lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            pads[i], pads[i + 2] = lo, total - lo
        return pads

    def op_Conv(self, node):
        x = self.value(node.input[0], node)
        w = self.known_input(node, 1, "the Conv weight")
        if x.type.rank != 3 or np.ndim(w) != 4:
            raise self.fail(node, f"only 2-D convolution over [batch, C, H, W] is supported (input sample {x.type})")
        kernel = list(w.shape[2:])
        strides = list(self.attr(node, "strides", [1, 1]))
        dilations = list(self.attr(node, "dilations", [1, 1]))
        attrs = {"strides": strides, "dilations": dilations, "groups": self.attr(node, "group", 1),
                 "pads": self._conv_pads(node, x, kernel, strides, dilations)}
        operands = [x, self.value(node.input[1], node)]
        if len(node.input) > 2 and node.input[2]:
            self.known_input(node, 2, "the Conv bias")
            operands.append(self.value(node.input[2], node))
        return self.m.add("conv2d", operands, attrs, self.name(node))

    def _pool_attrs(self, node, x: Value, with_dilations: bool):
        if x.type.rank != 3:
            raise self.fail(node, f"only 2-D pooling over [batch, C, H, W] is supported (input sample {x.type})")
        kernel = list(self.attr(node, "kernel_shape"))
        strides = list(self.attr(node, "strides", [1, 1]))
        dilations = list(self.attr(node, "dilations", [1, 1]))
        if not with_dilations and dilations != [1, 1]:
            raise self.fail(node, "dilated average pooling is not supported")
        pads = self._conv_pads(node, x, kernel, strides, dilations)
        if self.attr(node, "ceil_mode", 0):
            for i in range(2):
                size = x.type.shape[1 + i] + pads[i] + pads[i + 2] - dilations[i] * (kernel[i] - 1) - 1
                if size % strides[i]:
                    raise self.fail(node, "ceil_mode=1 changes the output size here; export with ceil_mode=False")
        attrs = {"kernel": kernel, "strides": strides, "pads": pads}
        if with_dilations:
            attrs["dilations"] = dilations
        return attrs

    def op_AveragePool(self, node):
        x = self.value(node.input[0], node)
        attrs = self._pool_attrs(node, x, False)
        attrs["count_include_pad"] = bool(self.attr(node, "count_include_pad", 0))
        return self.m.add("avgpool2d", [x], attrs, self.name(node))

    def op_MaxPool(self, node):
        if len(node.output) > 1 and node.output[1] and self.consumers.get(node.output[1]):
            raise self.fail(node, "the MaxPool indices output is used")
        x = self.value(node.input[0], node)
        return self.m.add("maxpool2d", [x], self._pool_attrs(node, x, True), self.name(node))

    def op_GlobalAveragePool(self, node):
        return self.m.add("global_avgpool", [self.value(node.input[0], node)], name=self.name(node))

    def op_BatchNormalization(self, node):
        if self.attr(node, "training_mode", 0):
            raise self.fail(node, "training-mode BatchNormalization; export the model in eval() mode")
        if any(o and self.consumers.get(o) for o in node.output[1:]):
            raise self.fail(node, "running statistics outputs are used (training mode)")
        x = self.value(node.input[0], node)
        params = [self.known_input(node, i, what) for i, what in
                  enumerate(("", "the scale", "the bias", "the mean", "the variance")) if i > 0]
        var = np.asarray(params[3], dtype=np.float64)
        if not np.all(var >= 0):  # sqrt(var + eps) of a negative variance is NaN for every input
            c = int(np.argmin(np.where(np.isnan(var), -np.inf, var).reshape(-1)))
            raise self.fail(node, f"the variance must be >= 0; channel {c} has {var.reshape(-1)[c]}")
        return self.m.add("batchnorm", [x] + [self.value(node.input[i], node) for i in range(1, 5)],
                          {"epsilon": float(self.attr(node, "epsilon", 1e-5))}, self.name(node))

    def _binary(self, node, kind: str, transform=None):
        a_name, b_name = node.input[0], node.input[1]
        if a_name in self.known and b_name not in self.known:
            if node.op_type in ("Sub", "Div"):
                raise self.fail(node, "a constant on the left of Sub/Div is not supported")
            a_name, b_name = b_name, a_name
        a = self.value(a_name, node)
        if b_name in self.known:
            c = self.batch_const(node, self.known[b_name], a)
            if transform is not None:
                c = transform(c)
            if c.size == 1:
                c = c.reshape(())
            try:
                np.broadcast_shapes(a.type.shape, c.shape)
            except ValueError:
                raise self.fail(node, f"constant of shape {list(c.shape)} does not broadcast to {a.type}") from None
            if np.broadcast_shapes(a.type.shape, c.shape) != a.type.shape:
                raise self.fail(node, f"constant of shape {list(c.shape)} would grow the activation {a.type}")
            b = self.m.const(np.ascontiguousarray(c, dtype=np.float32), self.name(node) + ".const")
            return self.m.add(kind, [a, b], name=self.name(node))
        if transform is not None:
            raise self.fail(node, f"{node.op_type} of two activations is not supported (only by a constant)")
        b = self.value(b_name, node)
        if b.type.rank > a.type.rank or (b.type.rank == a.type.rank and b.type.size > a.type.size):
            a, b = b, a
        return self.m.add(kind, [a, b], name=self.name(node))

    def op_Add(self, node):
        return self._binary(node, "add")

    def op_Sub(self, node):
        return self._binary(node, "add", lambda c: -c)

    def op_Mul(self, node):
        if node.input[0] not in self.known and node.input[1] not in self.known:
            raise self.fail(node, "product of two activations is not supported (spikes cannot be multiplied)")
        return self._binary(node, "mul")

    def op_Div(self, node):
        def reciprocal(c):
            if np.any(c == 0):
                raise self.fail(node, "divides by a constant that contains 0")
            with np.errstate(over="ignore"):  # 1/1e-45 is inf in f32: the const verifier refuses it
                return (np.float32(1) / c).astype(np.float32)

        return self._binary(node, "mul", reciprocal)

    def op_Sum(self, node):
        acc = self.value(node.input[0], node)
        for k, name in enumerate(node.input[1:]):
            b = self.value(name, node)
            acc = self.m.add("add", [acc, b], name=self.name(node) + (f".{k}" if k < len(node.input) - 2 else ""))
        return acc

    def op_Concat(self, node):
        xs = [self.value(n, node) for n in node.input]
        axis = self.attr(node, "axis")
        rank = xs[0].type.rank + 1
        if axis < 0:
            axis += rank
        if axis == 0:
            raise self.fail(node, "concatenation along the batch axis is not supported")
        return self.m.add("concat", xs, {"axis": axis - 1}, self.name(node))

    # -- QCFS --------------------------------------------------------------
    def _scalar(self, node, i) -> float | None:
        if i < len(node.input) and node.input[i] in self.known and self.known[node.input[i]].size == 1:
            return float(self.known[node.input[i]].reshape(()))
        return None

    def _single_consumer(self, node) -> onnx.NodeProto | None:
        users = self.consumers.get(node.output[0], [])
        return users[0] if len(users) == 1 else None

    def match_qcfs(self, index: int, node) -> bool:
        """Match the staircase sncc.QCFSActivation exports:
        y = (floor(clip(x / lam, 0, 1) * L + 0.5) / L) * lam  ->  qcfs{threshold=lam, levels=L}.
        Division by a constant may appear as multiplication by its inverse."""
        def scale(n, *, inverse):
            if n is None or n.op_type not in ("Div", "Mul") or n.input[0] in self.known:
                return None
            s = self._scalar(n, 1)
            if s is None or s == 0:
                return None
            return (1.0 / s if n.op_type == "Div" else s) if not inverse else (s if n.op_type == "Div" else 1.0 / s)

        lam = scale(node, inverse=True)  # x / lam
        if lam is None or lam <= 0:
            return False
        chain = [node]
        clip = self._single_consumer(node)
        if clip is None or clip.op_type != "Clip":
            return False
        lo = self._scalar(clip, 1) if len(clip.input) > 1 else self.attr(clip, "min")
        hi = self._scalar(clip, 2) if len(clip.input) > 2 else self.attr(clip, "max")
        if lo != 0.0 or hi != 1.0:
            return False
        mul_l = self._single_consumer(clip)
        levels = scale(mul_l, inverse=False)
        if levels is None or abs(levels - round(levels)) > 1e-6 or round(levels) < 1:
            return False
        add = self._single_consumer(mul_l)
        if add is None or add.op_type != "Add" or self._scalar(add, 1) != 0.5:
            return False
        floor = self._single_consumer(add)
        if floor is None or floor.op_type != "Floor":
            return False
        div_l = self._single_consumer(floor)
        inv_l = scale(div_l, inverse=False)
        if inv_l is None or abs(inv_l * levels - 1) > 1e-6:
            return False
        mul_lam = self._single_consumer(div_l)
        lam2 = scale(mul_lam, inverse=False)
        if lam2 is None or abs(lam2 - lam) > 1e-6 * lam:
            return False
        chain += [clip, mul_l, add, floor, div_l, mul_lam]
        node_index = {id(n): i for i, n in enumerate(self.graph.node)}
        for n in chain[1:]:
            self.skip.add(node_index[id(n)])
        x = self.value(node.input[0], node)
        self.values[mul_lam.output[0]] = self.m.add(
            "qcfs", [x], {"threshold": float(np.float32(lam)), "levels": int(round(levels))},
            self.name(node).rsplit(".", 1)[0] + ".qcfs" if "." in self.name(node) else self.name(mul_lam))
        return True


def import_onnx(model, name: str | None = None) -> Module:
    """Import an ONNX model (a path, bytes or `onnx.ModelProto`) as a float IR module.

    The leading axis of every graph input is its batch axis (static or dynamic) and
    is not part of the IR. Raises `UnsupportedError` naming the first node sncc cannot
    compile, before anything is written.
    """
    proto = load_model(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise SnccError("the model declares no ai.onnx opset")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedError(f"the model uses ONNX opset {opset}; sncc supports opsets {MIN_OPSET} to {MAX_OPSET}")
    try:
        inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False)
    except Exception as e:
        raise SnccError(f"ONNX shape inference failed on this model: {e}") from None
    if name is None:
        name = proto.graph.name or "model"
        if not isinstance(model, (onnx.ModelProto, bytes, bytearray)):
            name = Path(os.fspath(model)).stem
    return _Importer(inferred, name).run()
