"""fold-batchnorm: fold inference-form batch normalization into the preceding conv2d or dense.

    y = scale (W x + b - mean) / sqrt(var + eps) + beta
      = (f W) x + (f (b - mean) + beta),   f = scale / sqrt(var + eps), per output channel.

A batchnorm whose input is not a conv2d/dense used only by it stays as it is.
"""
import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.pass_manager import Pass, PassContext, register_pass
from sncc.passes.dce import eliminate_dead_code


@register_pass
class FoldBatchNorm(Pass):
    name = "fold-batchnorm"
    summary = "fold batch normalization into the preceding conv2d or dense (per channel)"

    def run(self, m: Module, ctx: PassContext):
        folded, kept = 0, []
        for bn in m.walk("batchnorm"):
            producer = bn.operands[0].owner
            params = [m.const_value(v) for v in bn.operands[1:]]
            weights = [m.const_value(v) for v in producer.operands[1:]] if producer.kind in ("conv2d", "dense") else []
            if (producer.kind not in ("conv2d", "dense") or len(m.users(producer.result)) != 1
                    or producer.result in m.outputs or any(p is None for p in params)
                    or any(w is None for w in weights)):
                kept.append(bn.result.name)
                continue
            scale, beta, mean, var = (p.astype(np.float64) for p in params)
            if not np.all(var >= 0):  # sqrt of a negative variance: NaN weights for every input
                raise SnccError(f"fold-batchnorm: {bn.describe()} has a negative variance "
                                f"({float(var[np.argmin(np.nan_to_num(var, nan=-np.inf))])}); fix the model")
            f = scale / np.sqrt(var + bn.attrs["epsilon"])
            w = weights[0].astype(np.float64)
            b = weights[1].astype(np.float64) if len(weights) > 1 else np.zeros(w.shape[0])
            with np.errstate(over="ignore", invalid="ignore"):  # beyond f32: the const verifier refuses it
                new_w = (w * f.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
                new_b = (f * (b - mean) + beta).astype(np.float32)
            wname = producer.operands[1].name
            w_val = m.insert_before(producer, "const", (), {"value": new_w}, wname, producer.operands[1].type)
            bname = producer.operands[2].name if len(producer.operands) > 2 else (wname or "w") + ".bias"
            b_val = m.insert_before(producer, "const", (), {"value": new_b}, bname,
                                    producer.operands[1].type.with_shape(new_b.shape))
            producer.operands = [producer.operands[0], w_val, b_val]
            producer.result.name = bn.result.name or producer.result.name
            m.replace_all_uses(bn.result, producer.result)
            m.erase(bn)
            folded += 1
        eliminate_dead_code(m)
        ctx.reports[self.name] = {"folded": folded, "kept": kept}
