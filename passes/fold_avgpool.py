"""fold-avgpool: average pooling becomes sum pooling, its 1/N moves into the next layer's weights.

    W · avgpool(x) = (W / N) · sumpool(x)          (N = elements per window)

In fixed point (spec/ir.md section 6) an average over N elements is exact only when N is a
power of two (a change of the binary point). A 7x7 or 14x14 global pool or a 3x3 window is
not. This pass rewrites such a pool into a sum: a depthwise `conv2d` with all-ones weights
(`groups` = channels), whose integer form is exact, and divides the weights of the
`dense`/`conv2d` that reads it by N, so the float network computes the same function; the
quantizer then rounds W/N like any other weight. The consumer may be reached through
`flatten`/`reshape`/`identity`/`dropout`.

Folded: `avgpool2d` whose window count is the same everywhere (no padding, or
`count_include_pad`), and `global_avgpool`, each used only by such a chain. By default only
windows whose N is not a power of two are folded (`all=true` folds every one). `quantize`
runs this pass first, so a network with a 7x7 global pool quantizes as it is.

    >>> import sncc                                                          # doctest: +SKIP
    >>> m = sncc.PassManager.parse("fold-avgpool,quantize").run(snn.module)  # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np

from sncc.ir import Module, Operation
from sncc.pass_manager import Option, Pass, PassContext, register_pass
from sncc.passes.dce import eliminate_dead_code
from sncc.types import Fixed, TensorType, f32

_MOVES = ("flatten", "reshape", "identity", "dropout")


def _window(op: Operation) -> tuple[list[int], list[int], list[int]] | None:
    """(kernel, strides, pads) of a pool whose every window counts kh*kw elements, else None."""
    if op.kind == "global_avgpool":
        _, H, W = op.operands[0].type.shape
        return [H, W], [1, 1], [0, 0, 0, 0]
    a = op.attrs
    if any(a["pads"]) and not a["count_include_pad"]:
        return None
    return list(a["kernel"]), list(a["strides"]), list(a["pads"])


def _weighted_consumer(m: Module, op: Operation) -> Operation | None:
    """The dense/conv2d that reads `op`'s result as its input, through single-use moves only."""
    v = op.result
    while True:
        users = m.users(v)
        if len(users) != 1 or v in m.outputs:
            return None
        u = users[0]
        if u.kind in _MOVES:
            v = u.result
            continue
        if u.kind in ("dense", "conv2d") and u.operands[0] is v and m.const_value(u.operands[1]) is not None:
            return u
        return None


def fold_average_pools(m: Module, fold_all: bool = False) -> list[str]:
    """Rewrite the foldable average pools of a float module in place; returns their names."""
    folded = []
    for op in list(m.walk("avgpool2d")) + list(m.walk("global_avgpool")):
        win = _window(op)
        if win is None:
            continue
        kernel, strides, pads = win
        n = kernel[0] * kernel[1]
        if not fold_all and n & (n - 1) == 0:
            continue
        consumer = _weighted_consumer(m, op)
        if consumer is None or isinstance(consumer.operands[1].type.elem, Fixed):
            continue
        C = op.operands[0].type.shape[0]
        ones_value = np.ones((C, 1, *kernel), np.float32)
        ones = m.insert_before(op, "const", (), {"value": ones_value}, f"{op.result.name}.ones",
                               TensorType(ones_value.shape, f32))
        pool = m.insert_before(op, "conv2d", [op.operands[0], ones],
                               {"strides": strides, "pads": pads, "dilations": [1, 1], "groups": C}, op.result.name)
        m.replace_all_uses(op.result, pool)
        m.erase(op)
        w = m.const_value(consumer.operands[1]).astype(np.float64) / n
        wv = consumer.operands[1]
        consumer.operands[1] = m.insert_before(consumer, "const", (), {"value": w.astype(np.float32)}, wv.name,
                                               wv.type)
        folded.append(pool.name)
    if folded:
        eliminate_dead_code(m)
        m.infer_types()
    return folded


@register_pass
class FoldAvgPool(Pass):
    name = "fold-avgpool"
    summary = "average pools -> sum pools (depthwise all-ones conv2d), 1/N folded into the next weights"
    options = {"all": Option(bool, False, "fold every average pool, not only windows whose size is not a power of two")}

    def run(self, m: Module, ctx: PassContext):
        ctx.reports[self.name] = {"folded": fold_average_pools(m, self.opts["all"])}
