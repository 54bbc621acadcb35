"""How many cycles a core spends per inference, before any RTL exists, and the lanes per node
that meet a throughput target (any FPGA family).

The estimate follows the schedule of `core.py` phase by phase, with the events each node
emits per step measured on sample inputs by the graph's integer model (`model.run`), or, for
rate encoding which that model does not cover, assumed (ASSUMED_ACTIVITY of the elements):

    PASS  (IF / readout)   one word per cycle: the node's words
    ACC   (projection)     the source's words scanned, and per event the sink words it adds
                           to: reach x words-per-tap (tap-parallel: words-per-tap only)
    UPD / SEL (gmax)       the source's words; per output word its window's entries
    a pass and the accumulation reading its spikes overlap: the larger of the two

It is a model, not a measurement: the build's co-simulation reports the real cycles (report.md,
phase profile), and the tests hold the model to within a factor of the measurement.

`choose_lanes` is FINN's folding by target: start every node at one lane and double the
lanes of the node that costs the most cycles until the target is met, the node has as many
lanes as channels, or the family's fit check refuses.
"""
from __future__ import annotations

import numpy as np

from sncc.backends.fpga import core
from sncc.backends.fpga.graph import HardwareGraph, Node, Projection

ASSUMED_ACTIVITY = 0.1
PHASE = core.PHASE_OVERHEAD


def activity(g: HardwareGraph, q_inputs: np.ndarray | None) -> dict[int, float]:
    """Mean events per timestep of every node that projections read (nonzero elements)."""
    from sncc.backends.fpga import model

    if q_inputs is not None and len(q_inputs) and g.encoding == "constant":
        counts: dict[int, float] = {}
        model.run(g, q_inputs, events=counts)
        return counts
    return {n.index: ASSUMED_ACTIVITY * n.size for n in g.nodes}


def _words_per_tap(p: Projection, lanes: int) -> int:
    """Sink words one tap writes (core.projection_tables' NWG)."""
    Og = p.weights.shape[0] // p.groups
    return max((p.out_offset + (gi + 1) * Og - 1) // lanes - (p.out_offset + gi * Og) // lanes + 1
               for gi in range(p.groups))


def _words(n: Node, lanes: int) -> int:
    return n.P * -(-n.C // lanes)


def estimate(g: HardwareGraph, events: dict[int, float], lanes: dict[int, int] | None = None) -> dict[str, float]:
    """Cycles per inference by phase kind and node ({"S_ACC2": ..., "total": ...}) for the
    given lanes per node (default: the graph's)."""
    L = {n.index: (lanes or {}).get(n.index, n.lanes) for n in g.nodes}
    for n in g.nodes:
        if n.kind == "gmax":
            L[n.index] = L[n.src.index]
    out: dict[str, float] = {}

    def acc(p: Projection) -> float:
        src, sink = p.src, p.sink
        ev = events.get(src.index, ASSUMED_ACTIVITY * src.size)
        if src.constant and not p.static:
            ev = events.get(src.index, src.size)
        O, Cg = p.weights.shape[:2]
        if (not sink.banked and Cg == 1 and p.groups == O == src.C and L[src.index] == L[sink.index]
                and src.kind not in ("input", "encoder")):     # lane-diagonal: one event per word
            return _words(src, L[src.index]) + PHASE
        tap = 1 if sink.banked else core._max_reach(p)
        return max(_words(src, L[src.index]), ev * tap * _words_per_tap(p, L[sink.index])) + PHASE

    once, step = float(g.input.size + PHASE), 0.0
    for n in g.nodes:
        i = n.index
        if n.kind == "encoder":
            out[f"S_ENC{i}"] = n.size + PHASE
        elif n.kind in ("if", "readout", "sum"):
            for p in n.projections:
                c = acc(p)
                if n.static:
                    once += c
                else:
                    out[f"S_ACC{p.index}"] = c
            if n.kind != "sum":
                out[f"S_PASS{i}"] = _words(n, L[i]) + PHASE
        elif n.kind == "gmax":
            kh, kw = n.kernel
            out[f"S_UPD{i}"] = _words(n.src, L[i]) + PHASE
            out[f"S_SEL{i}"] = _words(n, L[i]) * min(kh * kw, n.src.P) + PHASE
    # a pass and the accumulation that reads its spikes overlap (core.py `streams`)
    for n in g.nodes:
        if n.kind == "if":
            readers = [p for q in g.nodes for p in q.projections if p.src is n and not q.static]
            if readers:
                first, own = f"S_ACC{readers[0].index}", f"S_PASS{n.index}"
                if first in out and own in out:   # the one phase, named after the part that costs more
                    slower = first if out[first] > out[own] else own
                    out[slower] = max(out.pop(first), out.pop(own))
    step = sum(out.values())
    out["once"] = once
    out["total"] = once + g.T * step + 4 * g.output.size
    return out


def node_of(g: HardwareGraph, phase: str) -> Node:
    """The node whose lanes set a phase's cost (a projection's sink, a pass's node)."""
    k = int("".join(ch for ch in phase if ch.isdigit()))
    if phase.startswith("S_ACC"):
        return g.projections[k].sink
    n = g.nodes[k]
    return n.src if n.kind == "gmax" else n


def choose_lanes(g: HardwareGraph, events: dict[int, float], target_fps: float, clock_hz: float,
                 fits, max_lanes: int = 64) -> dict[int, int]:
    """Lanes per node: the fewest that meet `target_fps` at `clock_hz` (or the most that
    `fits(lanes)` allows). `fits` is the family's check of a lanes assignment."""
    lanes = {n.index: 1 for n in g.nodes}
    maxed: set[int] = set()
    while True:
        est = estimate(g, events, lanes)
        if clock_hz / est["total"] >= target_fps:
            return lanes
        phases = sorted(((v, k) for k, v in est.items() if k.startswith("S_")), reverse=True)
        for _, ph in phases:
            n = node_of(g, ph)
            if n.index in maxed or n.kind in ("input", "encoder"):
                continue
            cap = min(max_lanes, n.C)
            new = min(cap, lanes[n.index] * 2)
            if new == lanes[n.index]:
                maxed.add(n.index)
                continue
            trial = dict(lanes)
            trial[n.index] = new
            if not fits(trial):
                maxed.add(n.index)
                continue
            lanes = trial
            break
        else:
            return lanes


def fps(g: HardwareGraph, events: dict[int, float], clock_hz: float, lanes: dict[int, int] | None = None) -> float:
    return clock_hz / estimate(g, events, lanes)["total"]


