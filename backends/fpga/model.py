"""The hardware graph executed in numpy integers, in the order the generated core runs it.

A development aid, not a reference: it checks that `graph.build_graph` folded the IR into
projections correctly (its results must equal `sncc.interpret`, spec/ir.md section 6, which
the tests compare), before any RTL is involved. The RTL is checked against the interpreter,
never against this.
"""
from __future__ import annotations

import numpy as np

from sncc.backends.fpga.graph import HardwareGraph, Node, Projection


def project(p: Projection, x: np.ndarray) -> np.ndarray:
    """One projection on a batch of source tensors [B, C, H, W] -> its part of the sink current."""
    B, C, H, W = x.shape
    O, Cg, kh, kw = p.weights.shape
    (sh, sw), (pt, pl, pb, pr), (dh, dw) = p.strides, p.pads, p.dilations
    xp = np.zeros((B, C, H + pt + pb, W + pl + pr), np.int64)
    xp[:, :, pt:pt + H, pl:pl + W] = x
    Ho, Wo = p.sink.H, p.sink.W
    out = np.zeros((B, p.sink.C, Ho, Wo), np.int64)
    Og = O // p.groups
    for gi in range(p.groups):     # one integer matrix product per group and tap (exact in int64)
        xs = xp[:, gi * Cg:(gi + 1) * Cg]
        for a in range(kh):
            for b in range(kw):
                w = p.weights[gi * Og:(gi + 1) * Og, :, a, b]
                if not w.any():
                    continue
                sl = xs[:, :, a * dh: a * dh + sh * (Ho - 1) + 1: sh, b * dw: b * dw + sw * (Wo - 1) + 1: sw]
                out[:, p.out_offset + gi * Og: p.out_offset + (gi + 1) * Og] += np.einsum(
                    "bchw,oc->bohw", sl, w.astype(np.int64))
    return out


def run(g: HardwareGraph, q_in: np.ndarray, events: dict | None = None) -> np.ndarray:
    """Readout integers [B, N] for input integers [B, ...] (constant encoding only). With
    `events`, also the mean nonzero elements per inference and step of every node (the
    input's: per inference), for the cycle model (cycles.py)."""
    if g.encoding != "constant":
        raise NotImplementedError("the development model covers constant encoding")
    B = len(q_in)
    val: dict[int, np.ndarray] = {g.input.index: q_in.reshape(B, g.input.C, g.input.H, g.input.W).astype(np.int64)}
    if events is not None:
        events.clear()
        events[g.input.index] = float(np.count_nonzero(val[g.input.index])) / B
    state: dict[int, np.ndarray] = {}
    gacc: dict[int, np.ndarray] = {}

    def current(n: Node) -> np.ndarray:
        cur = np.zeros((B, n.C, n.H, n.W), np.int64)
        for p in n.projections:
            cur += project(p, val[p.src.index])
        return cur + n.bias.reshape(1, -1, 1, 1)

    for n in g.nodes:
        if n.kind == "if":
            state[n.index] = np.broadcast_to(n.v0.reshape(1, -1, 1, 1), (B, n.C, n.H, n.W)).copy()
        elif n.kind == "readout":
            state[n.index] = np.zeros((B, n.C, n.H, n.W), np.int64)
        elif n.kind == "gmax":
            gacc[n.index] = np.zeros((B, n.src.C, n.src.H, n.src.W), np.int64)
    for t in range(g.T):
        for n in g.nodes:
            if n.kind == "sum":
                val[n.index] = current(n)
            elif n.kind == "if":
                lo, hi = -(1 << (n.vbits - 1)), (1 << (n.vbits - 1)) - 1
                v = np.clip(state[n.index] + current(n), lo, hi)
                th = n.theta.reshape(1, -1, 1, 1)
                s = v >= th
                v = np.where(s, v - th if n.reset == "subtract" else 0, v)
                state[n.index] = v
                val[n.index] = s.astype(np.int64)
            elif n.kind == "readout":
                state[n.index] += current(n)
            elif n.kind == "gmax":
                x = val[n.src.index]
                acc = gacc[n.index] = gacc[n.index] + x
                kh, kw = n.kernel
                (sh, sw), (pt, pl, _, _), (dh, dw) = n.strides, n.pads, n.dilations
                H, W = n.src.H, n.src.W
                y = np.zeros((B, n.C, n.H, n.W), np.int64)
                for i in range(n.H):
                    for j in range(n.W):
                        best = np.full((B, n.C), -1, np.int64)
                        pick = np.zeros((B, n.C), np.int64)
                        for a in range(kh):
                            for b in range(kw):
                                r, c = i * sh + a * dh - pt, j * sw + b * dw - pl
                                if 0 <= r < H and 0 <= c < W:
                                    better = acc[:, :, r, c] > best
                                    best = np.where(better, acc[:, :, r, c], best)
                                    pick = np.where(better, x[:, :, r, c], pick)
                        y[:, :, i, j] = pick
                val[n.index] = y
            if events is not None and n.index in val and n.kind != "input":
                events[n.index] = events.get(n.index, 0.0) + float(np.count_nonzero(val[n.index])) / (B * g.T)
    return state[g.output.index].reshape(B, -1)
