"""canonicalize: bring the float IR into the small normal form the other passes expect.

Rewrites, applied until nothing changes:
  * identity and dropout disappear (inference);
  * any op whose operands are all constants is folded into a constant (weight subgraphs);
  * matmul(x, W) becomes dense(x, W^T);
  * dense/conv2d followed by add of a per-channel constant takes it as its bias;
  * a reshape to one dimension becomes flatten; flatten of a vector disappears;
  * clip(min=0, max=+inf) becomes relu;
then dead code is removed.
"""
import numpy as np

from sncc import ops
from sncc.semantics import float_op
from sncc.ir import Module, Operation
from sncc.pass_manager import Pass, PassContext, register_pass
from sncc.passes.dce import eliminate_dead_code
from sncc.types import F32


def _fold_constant(m: Module, op: Operation) -> bool:
    if op.kind in ("input", "const") or ops.OPS[op.kind].stateful or not op.operands:
        return False
    arrays = [m.const_value(v) for v in op.operands]
    if any(a is None for a in arrays) or not isinstance(op.type.elem, F32):
        return False
    value = float_op(op, [a[None] for a in arrays])[0]
    new = m.insert_before(op, "const", (), {"value": np.ascontiguousarray(value, dtype=np.float32)},
                          op.result.name, op.type)
    m.replace_all_uses(op.result, new)
    m.erase(op)
    return True


def _absorb_bias(m: Module, add: Operation) -> bool:
    x, c = add.operands
    producer = x.owner
    bias = m.const_value(c)
    if producer.kind not in ("dense", "conv2d") or bias is None or len(m.users(x)) != 1 or x in m.outputs:
        return False
    n = producer.type.shape[0]
    per_channel = (n,) if producer.kind == "dense" else (n, 1, 1)
    try:
        if np.broadcast_shapes(bias.shape, per_channel) != per_channel:
            return False
    except ValueError:
        return False
    b = np.broadcast_to(bias, per_channel).reshape(n).astype(np.float32)
    old = m.const_value(producer.operands[2]) if len(producer.operands) > 2 else None
    if len(producer.operands) > 2 and old is None:
        return False
    total = b if old is None else (old + b).astype(np.float32)
    bval = m.insert_before(producer, "const", (), {"value": total}, c.name, producer.type.with_shape((n,)).with_elem(F32()))
    producer.operands = producer.operands[:2] + [bval]
    producer.result.name = add.result.name or producer.result.name
    m.replace_all_uses(add.result, producer.result)
    m.erase(add)
    return True


def _rewrite(m: Module, op: Operation) -> bool:
    k = op.kind
    if k in ("identity", "dropout"):
        m.replace_all_uses(op.result, op.operands[0])
        m.erase(op)
        return True
    if _fold_constant(m, op):
        return True
    if k == "matmul" and m.const_value(op.operands[1]) is not None:
        w = np.ascontiguousarray(m.const_value(op.operands[1]).T)
        wv = m.insert_before(op, "const", (), {"value": w}, op.operands[1].name, op.operands[1].type.with_shape(w.shape))
        dense = m.insert_before(op, "dense", [op.operands[0], wv], name=op.result.name)
        m.replace_all_uses(op.result, dense)
        m.erase(op)
        return True
    if k == "add" and _absorb_bias(m, op):
        return True
    if k == "reshape" and len(op.attrs["shape"]) == 1:
        flat = m.insert_before(op, "flatten", op.operands, name=op.result.name)
        m.replace_all_uses(op.result, flat)
        m.erase(op)
        return True
    if k == "flatten" and op.operands[0].type.rank == 1:
        m.replace_all_uses(op.result, op.operands[0])
        m.erase(op)
        return True
    if k == "clip" and op.attrs["min"] == 0.0 and op.attrs["max"] == float("inf"):
        relu = m.insert_before(op, "relu", op.operands, name=op.result.name)
        m.replace_all_uses(op.result, relu)
        m.erase(op)
        return True
    return False


@register_pass
class Canonicalize(Pass):
    name = "canonicalize"
    summary = "drop identity/dropout, fold constants, matmul+add into dense, reshape into flatten"

    def run(self, m: Module, ctx: PassContext):
        rewrites = 0
        changed = True
        while changed:
            changed = False
            for op in list(m.ops):
                # folding constants can overflow f32; the verifier then names the const
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    rewritten = op in m.ops and _rewrite(m, op)
                if rewritten:
                    rewrites += 1
                    changed = True
            changed |= eliminate_dead_code(m) > 0
        ctx.reports[self.name] = {"rewrites": rewrites}
