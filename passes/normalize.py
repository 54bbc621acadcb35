"""normalize: data-based weight normalization (Diehl et al. 2015, Rueckauer et al. 2017).

Every activation `a` has a scale lambda_a (its `calib.scale`, per layer or per channel;
for qcfs its own threshold). The pass rescales weights and biases so that every
activation computes a / lambda_a, i.e. it reaches 1 where the float network reaches its
calibrated percentile, and the module outputs stay in the original units:

    W'[o, i] = W[o, i] * s_in[i] / s_out[o],   b'[o] = b[o] / s_out[o]

where s(v) is the scale of value v: 1 for inputs, lambda_a for activation outputs,
carried unchanged through pooling, flatten, reshape and concat. A weighted op (dense,
conv2d, mul by a constant) produces whatever scale its consumer demands. Where values of
different scales meet and no weight can absorb the difference (the branches of a
residual add, a shortcut feeding an activation directly), the pass inserts
`mul(x, s_x / s_target)`, a synaptic weight in the spiking network, so every branch of
an add ends at the common scale. The normalized float network computes the same outputs
as the original (up to float rounding): the tests check it.
"""
from __future__ import annotations

import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module, Operation, Value
from sncc.pass_manager import Pass, PassContext, register_pass

_TRANSPARENT = ("flatten", "reshape", "transpose", "avgpool2d", "maxpool2d", "global_avgpool", "identity", "dropout")
_ACTIVATIONS = ("relu", "clip", "qcfs")


def activation_scale(op: Operation) -> float | np.ndarray:
    if op.kind == "qcfs":
        return op.attrs["threshold"]  # the trained threshold is the activation's exact maximum
    if "calib.scale" not in op.attrs:
        raise SnccError(f"normalize: {op.describe()} has no calibration; run 'calibrate' before 'normalize'")
    return op.attrs["calib.scale"]


def _full(scale, shape) -> np.ndarray:
    s = np.asarray(scale, dtype=np.float64)
    if s.ndim == 1 and len(shape) > 1:
        s = s.reshape((-1,) + (1,) * (len(shape) - 1))
    return np.broadcast_to(s, shape).copy()


def _per_channel(s: np.ndarray, op: Operation, what: str) -> np.ndarray:
    """A CHW scale that must be constant over H, W -> [C]."""
    flat = s.reshape(s.shape[0], -1)
    if not np.allclose(flat, flat[:, :1], rtol=1e-6):
        raise SnccError(f"normalize: {op.describe()}: the {what} scale varies within a channel; "
                        "use granularity=layer")
    return flat[:, 0]


class _Normalizer:
    def __init__(self, m: Module):
        self.m = m
        self.scale: dict[int, np.ndarray] = {}
        self.demands: dict[int, np.ndarray | None] = {}
        self.inserted = 0

    def demand(self, v: Value) -> np.ndarray | None:
        """The scale v's consumers want it in, or None if a weight can absorb any scale."""
        if id(v) in self.demands:
            return self.demands[id(v)]
        result = None
        if any(o is v for o in self.m.outputs):
            result = np.ones(v.type.shape)
        for u in self.m.users(v):
            if result is not None:
                break
            if u.kind in _ACTIVATIONS:
                result = _full(activation_scale(u), v.type.shape)
            elif u.kind in ("add", "concat"):
                d = self.demand(u.result)
                if d is not None and u.kind == "concat":
                    ax = u.attrs["axis"]
                    start = sum(o.type.shape[ax] for o in u.operands[: u.operands.index(v)])
                    d = np.take(d, range(start, start + v.type.shape[ax]), axis=ax)
                result = d
            elif u.kind in ("flatten", "reshape", "identity", "dropout"):
                d = self.demand(u.result)
                result = None if d is None else d.reshape(v.type.shape)
            elif u.kind in ("avgpool2d", "maxpool2d", "global_avgpool"):
                d = self.demand(u.result)
                result = None if d is None else _full(_per_channel(d, u, "demanded"), v.type.shape)
        self.demands[id(v)] = result
        return result

    def rescale(self, op: Operation, v: Value, have: np.ndarray, want: np.ndarray) -> Value:
        """v (at scale `have`) as seen at scale `want`: a mul by have/want before `op`, if needed."""
        if np.allclose(have, want, rtol=1e-6):
            return v
        ratio = (have / want).astype(np.float32)
        if np.allclose(ratio, ratio.flat[0], rtol=1e-6):
            ratio = np.asarray(ratio.flat[0], dtype=np.float32).reshape(())
        elif v.type.rank == 3 and np.allclose(ratio, ratio[:, :1, :1], rtol=1e-6):
            ratio = np.ascontiguousarray(ratio[:, :1, :1])
        c = self.m.insert_before(op, "const", (), {"value": ratio}, f"{v.name}.rescale", v.type.with_shape(ratio.shape))
        self.inserted += 1
        return self.m.insert_before(op, "mul", [v, c], name=f"{v.name}.rescaled")

    def weighted_out_scale(self, op: Operation) -> np.ndarray:
        d = self.demand(op.result)
        return d if d is not None else np.ones(op.type.shape)

    def replace_const(self, op: Operation, index: int, value: np.ndarray):
        old = op.operands[index]
        if len(self.m.users(old)) > 1:  # shared weights: give this op its own copy
            new = self.m.insert_before(op, "const", (), {"value": value.astype(np.float32)}, old.name, old.type)
            op.operands[index] = new
        else:
            old.owner.attrs["value"] = np.ascontiguousarray(value, dtype=np.float32)

    def run(self):
        m = self.m
        for op in list(m.ops):
            k = op.kind
            S = self.scale
            if k == "input":
                S[id(op.result)] = np.ones(op.type.shape)
                continue
            if k == "const":
                continue
            xs = [v for v in op.operands if v.owner.kind != "const"]
            consts = [m.const_value(v) for v in op.operands]
            if k in ("dense", "conv2d"):
                if any(c is None for c in consts[1:]):
                    raise SnccError(f"normalize: {op.describe()} has non-constant weights; run canonicalize first")
                s_in = S[id(op.operands[0])]
                s_out_full = self.weighted_out_scale(op)
                w = consts[1].astype(np.float64)
                if k == "dense":
                    s_out = s_out_full
                    w = w * s_in[None, :] / s_out[:, None]
                else:
                    s_out = _per_channel(s_out_full, op, "output")
                    s_in_c = _per_channel(s_in, op, "input")
                    groups = op.attrs["groups"]
                    O, Cg = w.shape[:2]
                    in_idx = (np.arange(O)[:, None] // (O // groups)) * Cg + np.arange(Cg)[None, :]
                    w = w * (s_in_c[in_idx] / s_out[:, None])[:, :, None, None]
                self.replace_const(op, 1, w)
                if len(op.operands) > 2:
                    self.replace_const(op, 2, consts[2].astype(np.float64) / s_out)
                S[id(op.result)] = s_out_full
            elif k == "mul" and len(xs) == 1:
                x = op.operands[0]
                s_in = S[id(x)]
                s_out = self.weighted_out_scale(op) if self.demand(op.result) is not None else s_in
                c = np.broadcast_to(consts[1].astype(np.float64), op.type.shape) * s_in / s_out
                op.operands[1] = m.insert_before(op, "const", (), {"value": c.astype(np.float32)},
                                                 op.operands[1].name, op.type)
                S[id(op.result)] = s_out
            elif k == "add" and len(xs) == 1:
                x = op.operands[0]
                c = np.broadcast_to(consts[1].astype(np.float64), op.type.shape) / S[id(x)]
                op.operands[1] = m.insert_before(op, "const", (), {"value": c.astype(np.float32)},
                                                 op.operands[1].name, op.type)
                S[id(op.result)] = S[id(x)]
            elif k == "add":
                a, b = op.operands
                if a.type.shape != b.type.shape:
                    raise SnccError(f"normalize: {op.describe()} adds tensors of different shapes")
                target = self.demand(op.result)
                if target is None:
                    target = S[id(a)]
                op.operands = [self.rescale(op, v, S[id(v)], target) for v in (a, b)]
                S[id(op.result)] = target
            elif k == "concat":
                S[id(op.result)] = np.concatenate([S[id(v)] for v in op.operands], axis=op.attrs["axis"])
            elif k in ("flatten", "reshape"):
                S[id(op.result)] = S[id(op.operands[0])].reshape(op.type.shape)
            elif k == "transpose":
                S[id(op.result)] = S[id(op.operands[0])].transpose(op.attrs["perm"])
            elif k in ("identity", "dropout"):
                S[id(op.result)] = S[id(op.operands[0])]
            elif k in ("avgpool2d", "maxpool2d", "global_avgpool"):
                S[id(op.result)] = _full(_per_channel(S[id(op.operands[0])], op, "input"), op.type.shape)
            elif k in _ACTIVATIONS:
                lam = _full(activation_scale(op), op.type.shape)
                x = op.operands[0]
                op.operands[0] = self.rescale(op, x, S[id(x)], lam)
                if k == "clip":
                    if op.attrs["min"] != 0.0:
                        raise SnccError(f"normalize: {op.describe()} clips at min={op.attrs['min']}; only clip(x, 0, max) "
                                        "is a spiking activation")
                    if not np.allclose(lam, lam.flat[0]):
                        raise SnccError(f"normalize: {op.describe()}: clip needs one scale per layer; use granularity=layer")
                    op.attrs["max"] = float(op.attrs["max"] / lam.flat[0])
                elif k == "qcfs":
                    op.attrs["threshold"] = 1.0
                S[id(op.result)] = lam
            elif k == "batchnorm":
                raise SnccError(f"normalize: {op.describe()} follows no conv2d/dense it could fold into; "
                                "run fold-batchnorm first, or move the BatchNorm after a conv/linear layer")
            elif k == "matmul":
                raise SnccError(f"normalize: {op.describe()}: run canonicalize first (matmul becomes dense)")
            else:
                raise SnccError(f"normalize: cannot normalize through {op.describe()}")
        # outputs stay in the units of the original network (argmax and readouts compare them)
        for i, v in enumerate(m.outputs):
            if v.owner.kind == "const":  # a constant output keeps its units: nothing to undo
                continue
            s = self.scale[id(v)]
            if not np.allclose(s, 1.0, rtol=1e-6):
                c = m.const(np.asarray(s, np.float32), f"{v.name}.unscale")
                m.outputs[i] = m.add("mul", [v, c], name=f"{v.name}.unscaled")
                self.inserted += 1


@register_pass
class Normalize(Pass):
    name = "normalize"
    summary = "scale weights so each calibrated activation reaches 1 at its percentile (residual-aware)"

    def run(self, m: Module, ctx: PassContext):
        if m.attrs.get("normalized"):
            raise SnccError("normalize: this module is already normalized")
        n = _Normalizer(m)
        n.run()
        from sncc.passes.dce import eliminate_dead_code

        eliminate_dead_code(m)
        m.attrs["normalized"] = True
        ctx.reports[self.name] = {"rescales_inserted": n.inserted}
