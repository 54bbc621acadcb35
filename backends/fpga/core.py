"""The core of a hardware graph: memory images and `sncc_core.v`, which instantiates the RTL
library (runtime/rtl) and a generated controller (any FPGA family).

Schedule (one inference): CLEAR (every accumulator and count memory to zero) -> LOAD (the
input integers stream into the input memory, C order) -> the time-invariant projections once
(constant encoding: the first layer's current) -> T timesteps, each running the nodes in
topological order: the encoder (rate), every projection into a node (ACC: its source's
scanner feeds the projection's synapse engine, which accumulates into the node's current;
into a banked node the engine is tap-parallel: every output an event reaches in one cycle),
then the node's own step (IF/readout PASS, or the gated max pool's UPD and SEL) -> OUT (the
readout's integers and their argmax stream out). One phase runs at a time; a phase ends
when every unit it started is idle, pipelines drained.

Interface of `sncc_core` (the same for every network, so board tops and testbenches are
shared): in_valid/in_ready/in_data (the input integers, C order), out_valid/out_ready/
out_data/out_index/out_last (the readout integers, C order), out_class (the first largest),
`done` (one cycle after the last output) and `busy`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sncc.backends.fpga.graph import HardwareGraph, Node, Projection, bits_for, clog2

STATIC_RTL = ["sncc_ram.v", "sncc_rom.v", "sncc_accmem.v", "sncc_accbanks.v", "sncc_scan.v", "sncc_synapse.v",
              "sncc_synapse_tp.v", "sncc_neuron.v", "sncc_gmax.v", "sncc_output.v"]
STATIC_RATE = ["sncc_encoder.v"]
ZERO = "1'b0"
MAX_WEIGHT_WORDS = 1 << 25   # weight slots (lanes included); the largest Artix-7 holds 13 Mbit of block RAM
LUT_MULTIPLY_BITS = 4        # values this narrow are multiplied by shift-adds in logic, wider ones on DSPs
MAX_BANKS = 25               # tap-parallel engines serve kernels up to 5x5 (25 ports)


def hexrows(values, width: int) -> str:
    """One hex word per row; `values` rows of lane integers (lane 0 least significant)."""
    mask = (1 << width) - 1
    out = []
    for row in values:
        word = 0
        for v in reversed(list(row)):
            word = (word << width) | (int(v) & mask)
        out.append(format(word, "x"))
    return "\n".join(out) + "\n"


@dataclass
class ProjectionTables:
    nwg: int
    wd: int
    files: dict
    rln: int
    cln: int
    rlb: int
    kb: int
    wab: int
    sab: int
    tap_parallel: bool = False
    rib: int = 1
    cib: int = 1
    diag: bool = False


def lane_diagonal(p: Projection) -> bool:
    """A depthwise projection whose sink lanes are its source's lanes, channel for channel:
    its events are whole source words (sncc_synapse DIAG), one cycle per nonzero word."""
    O, Cg = p.weights.shape[:2]
    L = p.sink.lanes
    return (not p.sink.banked and Cg == 1 and p.groups == O == p.src.C and p.src.lanes == L
            and p.out_offset % L == 0 and p.src.kind not in ("input", "encoder"))


def reach(n_in: int, k: int, s: int, pad: int, d: int, n_out: int) -> list[list[tuple[int, int]]]:
    """Along one axis, per input index: the (kernel tap, output index) pairs it reaches."""
    out = []
    for y in range(n_in):
        here = []
        for a in range(k):
            i = y + pad - a * d
            if i >= 0 and i % s == 0 and i // s < n_out:
                here.append((a, i // s))
        out.append(here)
    return out


def _reach_lists(per_input, wstep: int, sstep: int):
    """sncc_synapse's reach tables along one axis: per input index {first entry, count}, and
    the entries {weight part, sink part} = (tap * wstep, output index * sstep)."""
    starts, entries = [], []
    for here in per_input:
        starts.append((len(entries), len(here)))
        entries += [(a * wstep, i * sstep) for a, i in here]
    return starts, entries


def _axes(p: Projection):
    """reach() along rows and along columns of projection p."""
    kh, kw = p.kernel
    (sh, sw), (pt, pl, _, _), (dh, dw) = p.strides, p.pads, p.dilations
    return (reach(p.src.H, kh, sh, pt, dh, p.sink.H), reach(p.src.W, kw, sw, pl, dw, p.sink.W))


def _banks_for(lists: list[list[list[tuple[int, int]]]]) -> int:
    """The fewest banks b such that the outputs every input reaches lie in distinct banks
    (output index mod b), over every projection into a node (1 when nothing is gained)."""
    need = max([len(here) for ls in lists for here in ls] + [1])
    for b in range(need, 4 * need + 1):
        if all(len({i % b for _, i in here}) == len(here) for ls in lists for here in ls):
            return b
    return 1


def assign_lanes(g: HardwareGraph, lanes: int | dict, tap_parallel: bool = True) -> None:
    """Lanes and layout per node: `lanes` output channels side by side (at most the
    channels); the input and the encoder keep C order (1 lane); a gated max pool uses its
    source's layout. With `tap_parallel`, a node whose current changes every step and whose
    inputs reach several outputs per event is banked (graph.py), so that its projections run
    on tap-parallel engines: one cycle per event and word, whatever the kernel. `lanes` may
    be a dict, node index -> lanes (cycles.choose_lanes)."""
    for n in g.nodes:
        want = lanes.get(n.index, 1) if isinstance(lanes, dict) else lanes
        if n.kind in ("input", "encoder"):
            n.lanes = 1
        elif n.kind == "gmax":
            n.lanes = n.src.lanes
        else:
            n.lanes = max(1, min(want, n.C))
        n.banks = (1, 1)
        if tap_parallel and n.kind in ("if", "readout", "sum") and not n.static and n.projections:
            axes = [_axes(p) for p in n.projections]
            by, bx = _banks_for([r for r, _ in axes]), _banks_for([c for _, c in axes])
            if 1 < by * bx <= MAX_BANKS:
                n.banks = (by, bx)


def projection_tables(p: Projection, prefix: str) -> ProjectionTables:
    """The synapse engine's ROMs for projection p (see runtime/rtl/sncc_synapse.v)."""
    if lane_diagonal(p):
        return _diagonal_tables(p, prefix)
    src, sink = p.src, p.sink
    C = src.C
    O, Cg, kh, kw = p.weights.shape
    Ls, Gs, Wo = sink.lanes, sink.G, sink.W
    Og = O // p.groups
    ranges = []
    for gi in range(p.groups):
        lo_c, hi_c = p.out_offset + gi * Og, p.out_offset + (gi + 1) * Og - 1
        ranges.append((lo_c // Ls, hi_c // Ls))
    nwg = max(hi - lo + 1 for lo, hi in ranges)
    wlo = [min(lo, Gs - nwg) for lo, _ in ranges]
    wd = C * kh * kw * nwg
    # weights: row ((c*kh + a)*kw + b)*nwg + k, lane j = sink channel (wlo + k)*Ls + j
    rom = np.zeros((wd, Ls), np.int64)
    for c in range(C):
        gi = c // Cg
        for a in range(kh):
            for b in range(kw):
                for k in range(nwg):
                    row = ((c * kh + a) * kw + b) * nwg + k
                    for j in range(Ls):
                        o = (wlo[gi] + k) * Ls + j - p.out_offset
                        if gi * Og <= o < (gi + 1) * Og:
                            rom[row, j] = p.weights[o, c - gi * Cg, a, b]
    WW = p.weight_bits
    wab = clog2(wd)
    ry, cx = _axes(p)
    if sink.banked:
        return _tap_parallel_tables(p, prefix, rom, wlo, nwg, wd, wab, ry, cx)
    sab = clog2(sink.words)

    rows, rowl = _reach_lists(ry, kw * nwg, Wo * Gs)
    cols, coll = _reach_lists(cx, nwg, Gs)
    rln, cln = max(1, len(rowl)), max(1, len(coll))
    rlb = clog2(max(rln, cln))
    kb = clog2(max(kh, kw) + 1)
    ent = [[(s << kb) | n] for s, n in rows], [[(s << kb) | n] for s, n in cols]
    pack = lambda e: [[(w << sab) | s] for w, s in e] or [[0]]
    chan = [[(c * kh * kw * nwg << sab) | wlo[c // Cg]] for c in range(C)]
    files = {
        f"{prefix}_w.mem": hexrows(rom, WW),
        f"{prefix}_rows.mem": hexrows(ent[0], rlb + kb),
        f"{prefix}_cols.mem": hexrows(ent[1], rlb + kb),
        f"{prefix}_rowl.mem": hexrows(pack(rowl), wab + sab),
        f"{prefix}_coll.mem": hexrows(pack(coll), wab + sab),
        f"{prefix}_chan.mem": hexrows(chan, wab + sab),
    }
    return ProjectionTables(nwg, wd, files, rln, cln, rlb, kb, wab, sab)


def _diagonal_tables(p: Projection, prefix: str) -> ProjectionTables:
    """Tables of a lane-diagonal projection: weight row (g*KH + a)*KW + b holds, in lane j,
    the weight of channel g*L + j; an event's channel is its word's first channel g*L."""
    src, sink = p.src, p.sink
    O, _, kh, kw = p.weights.shape
    L, G = sink.lanes, src.G
    rom = np.zeros((G * kh * kw, L), np.int64)
    for c in range(O):
        g, j = divmod(c, L)
        rom[(g * kh) * kw:(g * kh + kh) * kw, j] = p.weights[c, 0].reshape(-1)
    wd, wab, sab = G * kh * kw, clog2(G * kh * kw), clog2(sink.words)
    ry, cx = _axes(p)

    rows, rowl = _reach_lists(ry, kw, sink.W * sink.G)
    cols, coll = _reach_lists(cx, 1, sink.G)
    rln, cln = max(1, len(rowl)), max(1, len(coll))
    rlb, kb = clog2(max(rln, cln)), clog2(max(kh, kw) + 1)
    ent = [[(st << kb) | n] for st, n in rows], [[(st << kb) | n] for st, n in cols]
    pack = lambda e: [[(w << sab) | s_] for w, s_ in e] or [[0]]
    chan = [[((c // L) * kh * kw << sab) | (p.out_offset // L + c // L)] for c in range(src.G * L)]
    files = {
        f"{prefix}_w.mem": hexrows(rom, p.weight_bits),
        f"{prefix}_rows.mem": hexrows(ent[0], rlb + kb),
        f"{prefix}_cols.mem": hexrows(ent[1], rlb + kb),
        f"{prefix}_rowl.mem": hexrows(pack(rowl), wab + sab),
        f"{prefix}_coll.mem": hexrows(pack(coll), wab + sab),
        f"{prefix}_chan.mem": hexrows(chan, wab + sab),
    }
    return ProjectionTables(1, wd, files, rln, cln, rlb, kb, wab, sab, diag=True)


def _tap_parallel_tables(p: Projection, prefix: str, rom, wlo, nwg: int, wd: int, wab: int, ry, cx):
    """Tables of sncc_synapse_tp (runtime/rtl/sncc_synapse_tp.v) for a banked sink: per input
    row and row bank {valid, weight part, bank-local sink part}, the same per column."""
    src, sink = p.src, p.sink
    kh, kw = p.kernel
    by, bx = sink.banks
    _, wb = sink.bank_dims
    Gs, Cg = sink.G, p.weights.shape[1]
    sab = clog2(sink.bank_positions * Gs)

    def table(per_input, nb, wstep, sstep):
        t = np.zeros((len(per_input) * nb, 1), np.int64)
        for y, here in enumerate(per_input):
            for a, i in here:
                t[y * nb + i % nb, 0] = (1 << (wab + sab)) | ((a * wstep) << sab) | ((i // nb) * sstep)
        return t

    rowt = table(ry, by, kw * nwg, wb * Gs)
    colt = table(cx, bx, nwg, Gs)
    chan = [[(c * kh * kw * nwg << sab) | wlo[c // Cg]] for c in range(src.C)]
    files = {
        f"{prefix}_w.mem": hexrows(rom, p.weight_bits),
        f"{prefix}_rowt.mem": hexrows(rowt, 1 + wab + sab),
        f"{prefix}_colt.mem": hexrows(colt, 1 + wab + sab),
        f"{prefix}_chan.mem": hexrows(chan, wab + sab),
    }
    nb = _node_bits(src)
    rib = max(nb["YB"], clog2(src.H * by))
    cib = max(nb["XB"], clog2(src.W * bx))
    return ProjectionTables(nwg, wd, files, 1, 1, 1, 1, wab, sab, tap_parallel=True, rib=rib, cib=cib)


def gmax_tables(n: Node, prefix: str):
    src = n.src
    kh, kw = n.kernel
    (sh, sw), (pt, pl, _, _), (dh, dw) = n.strides, n.pads, n.dilations
    starts, entries = [], []
    for i in range(n.H):
        for j in range(n.W):
            here = []
            for a in range(kh):
                for b in range(kw):
                    r, c = i * sh + a * dh - pt, j * sw + b * dw - pl
                    if 0 <= r < src.H and 0 <= c < src.W:
                        here.append(src.pos_index(r, c))
            starts.append((len(entries), len(here)))
            entries += here
    wlb = clog2(max(1, len(entries)))
    kb = clog2(kh * kw + 1)
    pib = clog2(src.P)
    files = {f"{prefix}_win.mem": hexrows([[(s << kb) | c] for s, c in starts], wlb + kb),
             f"{prefix}_winl.mem": hexrows([[e] for e in entries] or [[0]], pib)}
    return files, max(1, len(entries)), wlb, kb, pib


def _lane_table(values: np.ndarray, n: Node, pad: int) -> np.ndarray:
    full = np.full(n.G * n.lanes, pad, np.int64)
    full[:n.C] = values
    return full.reshape(n.G, n.lanes)


# ------------------------------------------------------------------ sncc_core.v

class _Core:
    """Collects the generated Verilog of one core (lines) and its memory images (files)."""

    def __init__(self, g: HardwareGraph, mem: str, block_rom_bits: int | None):
        self.g, self.mem, self.block_rom_bits = g, mem, block_rom_bits
        self.o: list[str] = []
        self.files: dict[str, str] = {}
        self.read_users: dict[int, list[tuple[str, str, str]]] = {}  # ram node -> (phase cond, addr, req)
        self.acc_drivers: dict[int, list[tuple[str, str, str, str]]] = {}  # node -> (valid, addr, add, clear)
        self.par_drivers: dict[int, list[int]] = {}  # banked node -> the tap-parallel projections into it
        self.consumers: dict[int, list[Projection]] = {}  # node -> the projections that read it

    def one_reader(self, n: Node) -> bool:
        """Whether a single projection reads node n (its scanner then needs no phase test)."""
        return len(self.consumers.get(n.index, [])) == 1

    def events_to(self, src: Node, phase: str) -> str:
        """The valid of src's events as the projection of `phase` sees them. A scanner serving
        one projection runs only in that projection's phase (started there, and the phase waits
        for it), so only a scanner with several readers needs the phase test: one LUT level
        less between the scanner and the engine (timing)."""
        if self.one_reader(src):
            return f"n{src.index}_ev_valid"
        return f"n{src.index}_ev_valid && ph == {phase}"

    def a(self, line: str = "") -> None:
        self.o.append(line)

    def block(self, depth: int, width: int) -> int:
        """sncc_rom's BLOCK for a depth x width weight ROM: 1 (block RAM) above the family's threshold."""
        return int(self.block_rom_bits is not None and depth * width > self.block_rom_bits)


def _node_bits(n: Node) -> dict:
    hb, wb = n.bank_dims
    by, bx = n.banks
    return {"AB": clog2(n.words), "CB": clog2(max(n.C, n.G * n.lanes)), "YB": clog2(max(n.H, hb * by)),
            "XB": clog2(max(n.W, wb * bx))}


@dataclass
class CoreInfo:
    """What the generator knows about a core besides its text: for reports, fit checks, tests."""
    verilog: str
    files: dict
    step_phases: list
    load_phases: list
    tables: dict            # projection index -> ProjectionTables
    memories: list          # {"name", "depth", "width"} of every memory
    multipliers: int        # lanes that multiply a value by a weight (DSP candidates)
    cycle_bound: int        # cycles of one inference in the worst case (every element an event)
    states: list            # the controller's states, by their encoding (ph)
    phase_bits: int         # bits of the phase register


def core_verilog(g: HardwareGraph, mem: str = "mem/", block_rom_bits: int | None = None) -> CoreInfo:
    """Generate `sncc_core.v` and its memory images for a graph whose lanes are assigned.
    Weight ROMs of more than `block_rom_bits` bits are asked for in block RAM (the family's rule,
    the one its resource plan uses); None leaves every ROM's mapping to the synthesis tool."""
    # refuse a model far beyond any FPGA before building its tables (a crafted model must not hang us)
    words = sum(p.src.C * p.kernel[0] * p.kernel[1] * p.sink.lanes * -(-p.weights.shape[0] // p.sink.lanes)
                for p in g.projections)
    if words > MAX_WEIGHT_WORDS:
        from sncc.errors import UnsupportedError

        raise UnsupportedError(f"fpga: the network has about {words:,} weights; no FPGA part holds more than "
                               f"{MAX_WEIGHT_WORDS:,} (use a smaller network or fewer lanes)")
    c = _Core(g, mem, block_rom_bits)
    a = c.a
    inp, out = g.input, g.output
    IW, OW = inp.value_bits, out.readout_bits
    N_out = out.size
    NB = clog2(N_out)
    K = inp.size
    KB1 = clog2(K + 1)
    TB = clog2(g.T)
    consumers: dict[int, list[Projection]] = c.consumers
    for p in g.projections:
        consumers.setdefault(p.src.index, []).append(p)
    for n in g.nodes:
        if n.kind == "sum" and not n.static and len(consumers.get(n.index, [])) != 1:
            from sncc.errors import UnsupportedError

            raise UnsupportedError(f"fpga: the value %{n.source_name} is read by {len(consumers.get(n.index, []))} "
                                   "layers; a time-varying sum feeds exactly one")

    # ---- the schedule
    load_phases, step_phases = [], []
    for n in g.nodes:
        i = n.index
        if n.kind == "encoder":
            step_phases.append((f"S_ENC{i}", n, None))
        elif n.kind in ("if", "readout", "sum"):
            for p in n.projections:
                (load_phases if n.static else step_phases).append((f"S_ACC{p.index}", n, p))
            if n.kind != "sum":
                step_phases.append((f"S_PASS{i}", n, None))
        elif n.kind == "gmax":
            step_phases.append((f"S_UPD{i}", n, None))
            step_phases.append((f"S_SEL{i}", n, None))
    # the first time-invariant projection that reads the input runs while the input streams in
    overlap = bool(load_phases) and load_phases[0][2].src is inp
    if overlap:
        load_phases[0] = ("S_LOAD",) + load_phases[0][1:]
    # a projection that reads the spikes a phase is writing runs in that phase: its scanner
    # follows the writer (words are written once each, in address order), so the encoder's or
    # the IF layer's pass and the next layer's accumulation overlap
    streams: dict[int, str] = {}          # node -> the phase that writes its map while it is read
    fused: dict[int, str] = {}            # projection -> that phase
    k = 0
    while k + 1 < len(step_phases):
        s0, n0, _ = step_phases[k]
        p1 = step_phases[k + 1][2]
        writes = s0.startswith("S_ENC") or (s0.startswith("S_PASS") and n0.kind == "if")
        if writes and p1 is not None and p1.src is n0 and n0.index not in streams:
            streams[n0.index] = s0
            fused[p1.index] = s0
            del step_phases[k + 1]
        else:
            k += 1
    acc_state = {p.index: s for s, _, p in load_phases + step_phases if p is not None}
    acc_state.update(fused)
    states = (["S_IDLE", "S_CLEAR", "S_LOAD"] + [s for s, _, _ in load_phases if s != "S_LOAD"]
              + [s for s, _, _ in step_phases] + ["S_OUT"])
    SB = clog2(len(states))

    a("// sncc_core: the quantized spiking network " + g.name + " (generated by sncc; spec/ir.md sections 5 and 6).")
    a("//")
    a(f"// T = {g.T} timesteps, {g.encoding} encoding, {g.readout} readout; input {g.input_type} x {K}.")
    a("// Nodes (tensors kept in memory; lanes = channels side by side):")
    for n in g.nodes:
        a(f"//   n{n.index} {n.kind:8s} {n.C}x{n.H}x{n.W}, {n.lanes} lanes" + (", time-invariant current" if n.static else ""))
    a("// Projections (event-driven convolutions, weights folded from the IR):")
    for p in g.projections:
        kh, kw = p.kernel
        a(f"//   p{p.index}: n{p.src.index} -> n{p.sink.index}, {kh}x{kw} kernel, strides {list(p.strides)}, "
          f"pads {list(p.pads)}, dilations {list(p.dilations)}, groups {p.groups}, {p.weight_bits}-bit weights")
    a("// Phases per timestep: " + " ".join(s for s, _, _ in step_phases))
    a("`default_nettype none")
    a("")
    a("module sncc_core (")
    a("    input  wire clk,")
    a("    input  wire rst,")
    a("    input  wire in_valid,")
    a("    output wire in_ready,")
    a(f"    input  wire [{IW - 1}:0] in_data,")
    a("    output wire out_valid,")
    a("    input  wire out_ready,")
    a(f"    output wire [{OW - 1}:0] out_data,")
    a(f"    output wire [{NB - 1}:0] out_index,")
    a("    output wire out_last,")
    a(f"    output wire [{NB - 1}:0] out_class,")
    a("    output reg  done,")
    a("    output wire busy")
    a(");")
    for k, s in enumerate(states):
        a(f"    localparam [{SB - 1}:0] {s} = {SB}'d{k};")
    a(f"    reg [{SB - 1}:0] ph;")
    a("    reg ph_start;")
    a(f"    reg [{TB - 1}:0] t;")
    a(f"    wire first = (t == {TB}'d0);")
    a(f"    reg [{KB1 - 1}:0] ld_n;")
    a(f"    wire ld_all = (ld_n == {KB1}'d{K});")
    a("    wire in_take = in_valid && in_ready;")
    # in_ready is a register (the board's UART logic starts from it: timing), equal to
    # (ph == S_LOAD) && !ph_start && !ld_all cycle for cycle
    a("    reg ld_open;")
    a("    assign in_ready = ld_open;")
    a("")

    def in_phase(names):
        return " || ".join(f"ph == {s}" for s in names) or "1'b0"

    # ---- declarations: every node's memories and units
    for n in g.nodes:
        i, b = n.index, _node_bits(n)
        AB, L = b["AB"], n.lanes
        a(f"    // ---- n{i}: {n.kind} {n.C}x{n.H}x{n.W} ({n.name}), {n.words} words x {L} lanes")
        if n.kind in ("input", "encoder", "if", "gmax"):
            LW = n.value_bits if n.kind == "input" else 1
            a(f"    wire [{AB - 1}:0] n{i}_raddr;")
            a(f"    wire [{L * LW - 1}:0] n{i}_rdata;")
            a(f"    wire n{i}_we;")
            a(f"    wire [{AB - 1}:0] n{i}_waddr;")
            a(f"    wire [{L * LW - 1}:0] n{i}_wdata;")
            a(f"    sncc_ram #(.D({n.words}), .AB({AB}), .L({L}), .LW({LW})) n{i}_map (")
            a(f"        .clk(clk), .we({{{L}{{n{i}_we}}}}), .waddr(n{i}_waddr), .wdata(n{i}_wdata), "
              f".raddr(n{i}_raddr), .rdata(n{i}_rdata));")
            if consumers.get(i):
                a(f"    reg [1:0] n{i}_rv;")
        if n.kind in ("if", "readout", "sum"):
            AW = n.acc_bits
            a(f"    wire n{i}_acc_busy, n{i}_q_valid, n{i}_q_clear, n{i}_rd_valid;")
            a(f"    wire [{AB - 1}:0] n{i}_q_addr;")
            a(f"    wire [{L * AW - 1}:0] n{i}_q_add, n{i}_rd_data;")
            if n.banked:
                B, WPB = n.banks[0] * n.banks[1], n.bank_positions * n.G
                a(f"    wire [{B - 1}:0] n{i}_pq_valid;")
                a(f"    wire [{B * clog2(WPB) - 1}:0] n{i}_pq_addr;")
                a(f"    wire [{B * L * AW - 1}:0] n{i}_pq_add;")
                a(f"    sncc_accbanks #(.B({B}), .WPB({WPB}), .LAB({clog2(WPB)}), .AB({AB}), .BB({clog2(B)}), "
                  f".L({L}), .AW({AW})) n{i}_acc (")
            else:
                a(f"    sncc_accmem #(.D({n.words}), .AB({AB}), .L({L}), .AW({AW})) n{i}_acc (")
            a(f"        .clk(clk), .rst(rst), .clear_start(ph_start && ph == S_CLEAR), .busy(n{i}_acc_busy),")
            a(f"        .req_valid(n{i}_q_valid), .req_addr(n{i}_q_addr), .req_add(n{i}_q_add), .req_clear(n{i}_q_clear),")
            if n.banked:
                a(f"        .rd_valid(n{i}_rd_valid), .rd_data(n{i}_rd_data),")
                a(f"        .par_valid(n{i}_pq_valid), .par_addr(n{i}_pq_addr), .par_add(n{i}_pq_add));")
            else:
                a(f"        .rd_valid(n{i}_rd_valid), .rd_data(n{i}_rd_data));")
        a("")

    # ---- input loading
    a("    // ---- the input integers stream into n0 (C order)")
    a(f"    assign n{inp.index}_we = in_take;")
    ab0 = _node_bits(inp)["AB"]
    a(f"    assign n{inp.index}_waddr = ld_n[{ab0 - 1}:0];" if KB1 > ab0 else f"    assign n{inp.index}_waddr = ld_n;")
    a(f"    assign n{inp.index}_wdata = in_data;")
    a("")

    # ---- units
    busy_of: dict[str, list[str]] = {}
    for n in g.nodes:
        i, b = n.index, _node_bits(n)
        AB, L = b["AB"], n.lanes
        if n.kind == "encoder":
            s = f"S_ENC{i}"
            from sncc.interpreter import prng_initial_state   # the generator computes init(seed) (spec 5.2)

            a(f"    // ---- n{i}: rate encoder")
            a(f"    wire n{i}_enc_busy;")
            a(f"    wire [{_node_bits(inp)['AB'] - 1}:0] n{i}_enc_raddr;")
            a(f"    sncc_encoder #(.K({n.size}), .AB({AB}), .IW({IW}), .F({g.input_frac}), "
              f".INIT(32'h{prng_initial_state(g.seed):08x})) n{i}_enc (")
            a(f"        .clk(clk), .rst(rst), .reset_state(ph_start && ph == S_CLEAR), .start(ph_start && ph == {s}),")
            a(f"        .busy(n{i}_enc_busy), .rd_addr(n{i}_enc_raddr), .rd_data(n{inp.index}_rdata),")
            a(f"        .spk_we(n{i}_we), .spk_addr(n{i}_waddr), .spk_bit(n{i}_wdata));")
            c.read_users.setdefault(inp.index, []).append((f"ph == {s}", f"n{i}_enc_raddr", ""))
            busy_of[s] = [f"n{i}_enc_busy"]
        elif n.kind in ("if", "readout"):
            s = f"S_PASS{i}"
            mode = 0 if n.kind == "if" else 1
            VB = n.vbits if n.kind == "if" else n.readout_bits
            bias_t = _lane_table(n.bias, n, 0)
            BW = bits_for(int(bias_t.min()), int(bias_t.max()))
            c.files[f"n{i}_bias.mem"] = hexrows(bias_t, BW)
            params = (f".MODE({mode}), .NW({n.words}), .AB({AB}), .L({L}), .G({n.G}), .GB({clog2(n.G)}), "
                      f".AW({n.acc_bits}), .BW({BW}), .VB({VB}), ")
            TW = V0W = 2
            if mode == 0:
                th = _lane_table(n.theta, n, int(n.theta.max()))
                v0 = _lane_table(n.v0, n, 0)
                TW = bits_for(0, int(th.max()))
                V0W = bits_for(int(v0.min()), int(v0.max()))
                c.files[f"n{i}_theta.mem"] = hexrows(th, TW)
                c.files[f"n{i}_v0.mem"] = hexrows(v0, V0W)
            SW = max(VB, n.acc_bits, BW, TW, V0W) + 2
            params += (f".TW({TW}), .V0W({V0W}), .SW({SW}), .RESET_ZERO({int(n.reset == 'zero')}), "
                       f".STATIC({int(n.static)}), .CUR_LAT({4 if n.banked else 2}),")
            files = f'.BIAS("{c.mem}n{i}_bias.mem")'
            if mode == 0:
                files += f', .THETA("{c.mem}n{i}_theta.mem"), .V0("{c.mem}n{i}_v0.mem")'
            a(f"    // ---- n{i}: {'IF neurons' if mode == 0 else 'readout'}")
            a(f"    wire n{i}_neu_busy, n{i}_neu_req, n{i}_neu_clear;")
            a(f"    wire [{AB - 1}:0] n{i}_neu_addr, n{i}_out_raddr;")
            a(f"    wire [{L * VB - 1}:0] n{i}_out_rdata;")
            if mode == 1:
                a(f"    wire n{i}_we;")
                a(f"    wire [{AB - 1}:0] n{i}_waddr;")
                a(f"    wire [{L - 1}:0] n{i}_wdata;")
            a(f"    sncc_neuron #({params}")
            a(f"        {files}")
            a(f"    ) n{i}_neu (")
            a(f"        .clk(clk), .rst(rst), .start(ph_start && ph == {s}), .first(first), .busy(n{i}_neu_busy),")
            a(f"        .req_valid(n{i}_neu_req), .req_addr(n{i}_neu_addr), .req_clear(n{i}_neu_clear),")
            a(f"        .cur_valid(n{i}_rd_valid), .cur_data(n{i}_rd_data),")
            a(f"        .spk_we(n{i}_we), .spk_addr(n{i}_waddr), .spk_word(n{i}_wdata),")
            a(f"        .rd_addr(n{i}_out_raddr), .rd_data(n{i}_out_rdata));")
            c.acc_drivers.setdefault(i, []).append((f"n{i}_neu_req", f"n{i}_neu_addr", "", f"n{i}_neu_clear"))
            busy_of[s] = [f"n{i}_neu_busy", f"n{i}_acc_busy"]
        elif n.kind == "gmax":
            src = n.src
            sb = _node_bits(src)
            files, wln, wlb, kb, pib = gmax_tables(n, f"n{i}")
            c.files.update(files)
            a(f"    // ---- n{i}: gated max pooling of n{src.index}")
            a(f"    wire n{i}_gm_busy, n{i}_gm_req;")
            a(f"    wire [{sb['AB'] - 1}:0] n{i}_gm_addr;")
            a(f"    sncc_gmax #(.NW({src.words}), .AB({sb['AB']}), .OB({AB}), .PO({n.P}), "
              f".POB({clog2(n.P)}), .G({n.G}), .GB({clog2(n.G)}), .L({L}), .CW({n.count_bits}), .WLN({wln}), "
              f".WLB({wlb}), .KB({kb}), .PIB({pib}),")
            a(f'        .WIN("{c.mem}n{i}_win.mem"), .WINL("{c.mem}n{i}_winl.mem")) n{i}_gm (')
            a(f"        .clk(clk), .rst(rst), .clear_start(ph_start && ph == S_CLEAR), "
              f".upd_start(ph_start && ph == S_UPD{i}),")
            a(f"        .sel_start(ph_start && ph == S_SEL{i}), .busy(n{i}_gm_busy), .src_req(n{i}_gm_req), "
              f".src_addr(n{i}_gm_addr), .src_data(n{src.index}_rdata),")
            a(f"        .spk_we(n{i}_we), .spk_addr(n{i}_waddr), .spk_word(n{i}_wdata));")
            c.read_users.setdefault(src.index, []).append((f"ph == S_UPD{i} || ph == S_SEL{i}", f"n{i}_gm_addr", ""))
            busy_of[f"S_UPD{i}"] = [f"n{i}_gm_busy"]
            busy_of[f"S_SEL{i}"] = [f"n{i}_gm_busy"]
        a("")

    # ---- scanners: one per node that projections read
    for n in g.nodes:
        ps = consumers.get(n.index, [])
        if not ps:
            continue
        i, b = n.index, _node_bits(n)
        AB, L = b["AB"], n.lanes
        XW = _value_bits(n)
        names = sorted({acc_state[p.index] for p in ps})
        a(f"    // ---- n{i} -> events (read in {', '.join(names)})")
        a(f"    wire n{i}_sc_busy, n{i}_sc_req, n{i}_ev_valid, n{i}_ev_ready, n{i}_sc_rvalid;")
        a(f"    wire [{AB - 1}:0] n{i}_sc_addr;")
        a(f"    wire [{L * XW - 1}:0] n{i}_sc_rdata;")
        a(f"    wire [{b['CB'] - 1}:0] n{i}_ev_c;")
        a(f"    wire [{b['YB'] - 1}:0] n{i}_ev_y;")
        a(f"    wire [{b['XB'] - 1}:0] n{i}_ev_x;")
        a(f"    wire [{XW - 1}:0] n{i}_ev_val;")
        a(f"    wire [{L * XW - 1}:0] n{i}_ev_word;")
        diag_phases = sorted({acc_state[p.index] for p in ps if lane_diagonal(p)})
        order = 1 if n.kind in ("input", "encoder") else 0
        limit = f"n{i}_limit"
        if n is inp:   # the input may be scanned while it streams in: only the words loaded so far
            a(f"    wire [{AB}:0] {limit} = " + (f"{{{AB + 1 - KB1}'d0, ld_n}};" if AB + 1 > KB1 else
                                              f"ld_n[{AB}:0];" if AB + 1 < KB1 else "ld_n;"))
        elif i in streams:   # scanned while its phase writes it: only the words written so far
            a(f"    reg [{AB}:0] n{i}_wn;")
            a(f"    always @(posedge clk) n{i}_wn <= (rst || ph_start) ? {AB + 1}'d0 : n{i}_wn + {{{AB}'d0, n{i}_we}};")
            a(f"    wire [{AB}:0] {limit} = (ph == {streams[i]}) ? n{i}_wn : {AB + 1}'d{n.words};")
        else:
            a(f"    wire [{AB}:0] {limit} = {AB + 1}'d{n.words};")
        hb, wb = n.bank_dims
        a(f"    sncc_scan #(.NW({n.words}), .NB({AB}), .L({L}), .XW({XW}), .W({n.W}), .H({n.H}), "
          f".C({n.C}), .CB({b['CB']}), .YB({b['YB']}), .XB({b['XB']}), .ORDER({order}), "
          f".BY({n.banks[0]}), .BX({n.banks[1]}), .HB({hb}), .WB({wb})) n{i}_sc (")
        a(f"        .clk(clk), .rst(rst), .start(ph_start && ({in_phase(names)})), .words({in_phase(diag_phases)}), "
          f".limit({limit}), .busy(n{i}_sc_busy),")
        a(f"        .rd_req(n{i}_sc_req), .rd_addr(n{i}_sc_addr), .rd_valid(n{i}_sc_rvalid), .rd_data(n{i}_sc_rdata),")
        a(f"        .ev_valid(n{i}_ev_valid), .ev_ready(n{i}_ev_ready), .ev_c(n{i}_ev_c), .ev_y(n{i}_ev_y), "
          f".ev_x(n{i}_ev_x), .ev_val(n{i}_ev_val), .ev_word(n{i}_ev_word));")
        if n.kind == "sum":
            c.acc_drivers.setdefault(i, []).append((f"n{i}_sc_req", f"n{i}_sc_addr", "",
                                                    "1'b1" if not n.static else "1'b0"))
            a(f"    assign n{i}_sc_rvalid = n{i}_rd_valid;")
            a(f"    assign n{i}_sc_rdata = n{i}_rd_data;")
        else:
            c.read_users.setdefault(i, []).append((in_phase(names), f"n{i}_sc_addr", f"n{i}_sc_req"))
            a(f"    assign n{i}_sc_rvalid = n{i}_rv[1];")
            a(f"    assign n{i}_sc_rdata = n{i}_rdata;")
        if c.one_reader(n):    # its only reader's phase is the only one it runs in (_Core.events_to)
            a(f"    assign n{i}_ev_ready = p{ps[0].index}_ev_ready;")
        else:
            readies = [f"(ph == {acc_state[p.index]} && p{p.index}_ev_ready)" for p in ps]
            a(f"    assign n{i}_ev_ready = {' || '.join(readies)};")
        a("")

    # ---- synapse engines: one per projection
    tables = {}
    for p in g.projections:
        src, sink = p.src, p.sink
        sb = _node_bits(src)
        t = tables[p.index] = projection_tables(p, f"p{p.index}")
        c.files.update(t.files)
        spike = src.spiking
        XW = _value_bits(src)
        s = acc_state[p.index]
        a(f"    // ---- p{p.index}: n{src.index} -> n{sink.index} ({', '.join(_safe(o) for o in p.ops) or 'identity'})")
        if t.tap_parallel:
            _tap_parallel_engine(c, p, t, s, spike, XW)
        else:
            a(f"    wire p{p.index}_ev_ready, p{p.index}_busy, p{p.index}_req_valid;")
            a(f"    wire [{t.sab - 1}:0] p{p.index}_req_addr;")
            a(f"    wire [{sink.lanes * sink.acc_bits - 1}:0] p{p.index}_req_add;")
            pre = f"{c.mem}p{p.index}"
            a(f"    sncc_synapse #(.L({sink.lanes}), .WW({p.weight_bits}), .XW({XW}), .SPIKE({int(spike)}), "
              f".DIAG({int(t.diag)}), "
              f".AW({sink.acc_bits}), .CB({sb['CB']}), .YB({sb['YB']}), .XB({sb['XB']}),")
            a(f"        .NH({src.H}), .NWD({src.W}), .RLN({t.rln}), .CLN({t.cln}), .RLB({t.rlb}), "
              f".KB({t.kb}), .WAB({t.wab}), .SAB({t.sab}), .WD({t.wd}), .NWG({t.nwg}), .NGB({clog2(t.nwg)}),")
            a(f'        .ROWS("{pre}_rows.mem"), .COLS("{pre}_cols.mem"), .ROWL("{pre}_rowl.mem"), '
              f'.COLL("{pre}_coll.mem"), .CHAN("{pre}_chan.mem"), .WEIGHTS("{pre}_w.mem"), '
              f'.BLOCK({c.block(t.wd, sink.lanes * p.weight_bits)})')
            a(f"    ) p{p.index}_syn (")
            a(f"        .clk(clk), .rst(rst), .ev_valid({c.events_to(src, s)}), .ev_ready(p{p.index}_ev_ready),")
            a(f"        .ev_c(n{src.index}_ev_c), .ev_y(n{src.index}_ev_y), .ev_x(n{src.index}_ev_x), "
              f".ev_val(n{src.index}_ev_val), .ev_word(" + (f"n{src.index}_ev_word" if t.diag else
                                                             f"{sink.lanes * XW}'d0") + f"), .busy(p{p.index}_busy),")
            a(f"        .req_valid(p{p.index}_req_valid), .req_addr(p{p.index}_req_addr), .req_add(p{p.index}_req_add));")
            c.acc_drivers.setdefault(sink.index, []).append((f"p{p.index}_req_valid", f"p{p.index}_req_addr",
                                                             f"p{p.index}_req_add", "1'b0"))
        busy = [f"n{src.index}_sc_busy", f"p{p.index}_busy", f"n{sink.index}_acc_busy"]
        if src.kind == "sum":
            busy.append(f"n{src.index}_acc_busy")
        busy_of.setdefault(s, []).extend(busy)
        a("")

    # ---- request ports of the accumulator memories (one driver at a time: AND-OR)
    for n in g.nodes:
        if n.kind not in ("if", "readout", "sum"):
            continue
        i, AB, L, AW = n.index, _node_bits(n)["AB"], n.lanes, n.acc_bits
        ds = c.acc_drivers.get(i, [])
        a(f"    assign n{i}_q_valid = {' || '.join(v for v, _, _, _ in ds) or ZERO};")
        a(f"    assign n{i}_q_addr = " + (" | ".join(f"({{{AB}{{{v}}}}} & {ad})" for v, ad, _, _ in ds) or f"{AB}'d0") + ";")
        adds = [f"({{{L * AW}{{{v}}}}} & {ad})" for v, _, ad, _ in ds if ad]
        a(f"    assign n{i}_q_add = " + (" | ".join(adds) or f"{L * AW}'d0") + ";")
        a(f"    assign n{i}_q_clear = " + (" || ".join(f"({v} && {cl})" for v, _, _, cl in ds) or "1'b0") + ";")
        if n.banked:   # the bank ports: one tap-parallel engine at a time (AND-OR per bank)
            B, sab = n.banks[0] * n.banks[1], clog2(n.bank_positions * n.G)
            ps = c.par_drivers.get(i, [])
            a(f"    assign n{i}_pq_valid = " + (" | ".join(f"p{k}_req_valid" for k in ps) or f"{B}'d0") + ";")
            addr, add = [], []
            for k in ps:
                addr.append("{" + ", ".join(f"{{{sab}{{p{k}_req_valid[{b}]}}}}" for b in reversed(range(B)))
                            + f"}} & p{k}_req_addr")
                add.append("{" + ", ".join(f"{{{L * AW}{{p{k}_req_valid[{b}]}}}}" for b in reversed(range(B)))
                           + f"}} & p{k}_req_add")
            a(f"    assign n{i}_pq_addr = " + (" | ".join(f"({x})" for x in addr) or f"{B * sab}'d0") + ";")
            a(f"    assign n{i}_pq_add = " + (" | ".join(f"({x})" for x in add) or f"{B * L * AW}'d0") + ";")
    a("")

    # ---- read ports of the maps (one reader at a time, by phase)
    for n in g.nodes:
        if n.kind not in ("input", "encoder", "if", "gmax"):
            continue
        i, AB = n.index, _node_bits(n)["AB"]
        users = c.read_users.get(i, [])
        expr = f"{AB}'d0"
        for cond, addr, _ in reversed(users):
            expr = f"({cond}) ? {addr} : {expr}"
        a(f"    assign n{i}_raddr = {expr};")
        reqs = [req for _, _, req in users if req]
        if reqs:
            a(f"    always @(posedge clk) n{i}_rv <= rst ? 2'b00 : {{n{i}_rv[0], {' || '.join(reqs)}}};")
    a("")

    # ---- outputs
    o = out
    ob = _node_bits(o)
    a("    // ---- outputs: the readout's integers in C order, and the class")
    a("    wire out_busy;")
    a(f"    sncc_output #(.N({N_out}), .NB({NB}), .P({o.P}), .G({o.G}), .L({o.lanes}), .AB({ob['AB']}), "
      f".JB({clog2(o.lanes)}), .RW({OW})) outs (")
    a(f"        .clk(clk), .rst(rst), .start(ph_start && ph == S_OUT), .busy(out_busy), .rd_addr(n{o.index}_out_raddr),")
    a(f"        .rd_data(n{o.index}_out_rdata), .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data),")
    a("        .out_index(out_index), .out_last(out_last), .out_class(out_class));")
    for n in g.nodes:
        if n.kind == "if":
            a(f"    assign n{n.index}_out_raddr = {_node_bits(n)['AB']}'d0;")
    a("    assign busy = (ph != S_IDLE);")
    a("")
    unused = [f"n{n.index}_out_rdata" for n in g.nodes if n.kind == "if"]
    unused += [f"n{n.index}_rd_valid" for n in g.nodes if n.kind in ("if", "readout")]
    unused += [f"n{n.index}_rdata" for n in g.nodes if n.kind in ("input", "encoder", "if", "gmax")
               and not c.read_users.get(n.index)]
    unused += [f"n{o.index}_we", f"n{o.index}_waddr", f"n{o.index}_wdata"]
    unused += [f"n{n.index}_gm_req" for n in g.nodes if n.kind == "gmax"]
    unused += [f"n{i}_ev_word" for i in consumers if not any(tables[p.index].diag for p in consumers[i])]
    a("    /* verilator lint_off UNUSEDSIGNAL */")
    a(f"    wire unused = ^{{{', '.join(unused)}}};")
    a("    /* verilator lint_on UNUSEDSIGNAL */")
    a("")

    # ---- controller
    clear_busy = [f"n{n.index}_acc_busy" for n in g.nodes if n.kind in ("if", "readout", "sum")]
    clear_busy += [f"n{n.index}_gm_busy" for n in g.nodes if n.kind == "gmax"]
    after_load = [s for s, _, _ in load_phases if s != "S_LOAD"] + [s for s, _, _ in step_phases]
    load_busy = busy_of.get("S_LOAD", [])
    a("    // ---- controller")
    a("    always @(posedge clk) begin")
    a("        if (rst) begin")
    a("            ph <= S_IDLE; ph_start <= 1'b0; done <= 1'b0;")
    a(f"            t <= {TB}'d0; ld_n <= {KB1}'d0; ld_open <= 1'b0;")
    a("        end else begin")
    a("            ph_start <= 1'b0;")
    a("            done <= 1'b0;")
    a("            if (in_take) ld_n <= ld_n + 1'b1;")
    a(f"            ld_open <= (ph == S_LOAD) && !ld_all && !(in_take && ld_n == {KB1}'d{K - 1});")
    a("            case (ph)")
    a("                S_IDLE: if (in_valid) begin ph <= S_CLEAR; ph_start <= 1'b1; end")
    a(f"                S_CLEAR: if (!ph_start && !({' || '.join(clear_busy) or ZERO})) begin")
    a(f"                    ph <= S_LOAD; ph_start <= 1'b1; ld_n <= {KB1}'d0; t <= {TB}'d0;")
    a("                end")
    a("                S_LOAD: if (!ph_start && ld_all" + "".join(f" && !{b}" for b in load_busy)
      + f") begin ph <= {after_load[0]}; ph_start <= 1'b1; end")
    seq = after_load
    n_load = len([s for s, _, _ in load_phases if s != "S_LOAD"])
    for k, s in enumerate(seq):
        cond = "!ph_start && !(" + " || ".join(busy_of[s]) + ")"
        a(f"                {s}: if ({cond}) begin")
        if k + 1 < len(seq):
            a(f"                    ph <= {seq[k + 1]}; ph_start <= 1'b1;")
        else:
            a(f"                    if (t == {TB}'d{g.T - 1}) begin ph <= S_OUT; ph_start <= 1'b1; end")
            a(f"                    else begin ph <= {seq[n_load]}; ph_start <= 1'b1; t <= t + 1'b1; end")
        a("                end")
    a("                S_OUT: if (!ph_start && !out_busy) begin ph <= S_IDLE; done <= 1'b1; end")
    a("                default: ph <= S_IDLE;")
    a("            endcase")
    a("        end")
    a("    end")
    a("endmodule")
    a("")
    a("`default_nettype wire")
    a("")
    return CoreInfo(verilog="\n".join(c.o), files=c.files, step_phases=[s for s, _, _ in step_phases],
                    load_phases=[s for s, _, _ in load_phases], tables=tables, memories=memories(g, tables),
                    multipliers=sum(_dsp_multipliers(p, tables[p.index]) for p in g.projections),
                    cycle_bound=cycle_bound(g, tables), states=states, phase_bits=SB)


def _value_bits(src: Node) -> int:
    """Bits of the values a node's events carry (1 for spikes)."""
    return 1 if src.spiking else (src.value_bits if src.kind != "sum" else src.acc_bits)


def _dsp_multipliers(p: Projection, t: ProjectionTables) -> int:
    """Multipliers of projection p that want a DSP: one per lane and port, for values wider
    than LUT_MULTIPLY_BITS (spikes select, narrow values shift and add)."""
    if p.src.spiking or (t.tap_parallel and _value_bits(p.src) <= LUT_MULTIPLY_BITS):
        return 0
    return p.sink.lanes * (p.sink.banks[0] * p.sink.banks[1] if t.tap_parallel else 1)


def _tap_parallel_engine(c: _Core, p: Projection, t: ProjectionTables, state: str, spike: bool, XW: int) -> None:
    """Instantiate sncc_synapse_tp for projection p; its ports drive the sink's bank ports."""
    a, src, sink = c.a, p.src, p.sink
    sb = _node_bits(src)
    B, L, AW = sink.banks[0] * sink.banks[1], sink.lanes, sink.acc_bits
    pre = f"{c.mem}p{p.index}"
    a(f"    wire p{p.index}_ev_ready, p{p.index}_busy;")
    a(f"    wire [{B - 1}:0] p{p.index}_req_valid;")
    a(f"    wire [{B * t.sab - 1}:0] p{p.index}_req_addr;")
    a(f"    wire [{B * L * AW - 1}:0] p{p.index}_req_add;")
    a(f"    sncc_synapse_tp #(.L({L}), .WW({p.weight_bits}), .XW({XW}), .SPIKE({int(spike)}), "
      f".LUTMUL({int(XW <= LUT_MULTIPLY_BITS)}), .AW({AW}), "
      f".CB({sb['CB']}), .YB({sb['YB']}), .XB({sb['XB']}),")
    a(f"        .NH({src.H}), .NWD({src.W}), .BY({sink.banks[0]}), .BX({sink.banks[1]}), .RIB({t.rib}), "
      f".CIB({t.cib}), .WAB({t.wab}), .SAB({t.sab}), .WD({t.wd}), .NWG({t.nwg}), .NGB({clog2(t.nwg)}),")
    a(f'        .ROWT("{pre}_rowt.mem"), .COLT("{pre}_colt.mem"), .CHAN("{pre}_chan.mem"), .WEIGHTS("{pre}_w.mem"), '
      f'.BLOCK({c.block(t.wd, L * p.weight_bits)})')
    a(f"    ) p{p.index}_syn (")
    a(f"        .clk(clk), .rst(rst), .ev_valid({c.events_to(src, state)}), .ev_ready(p{p.index}_ev_ready),")
    a(f"        .ev_c(n{src.index}_ev_c), .ev_y(n{src.index}_ev_y), .ev_x(n{src.index}_ev_x), "
      f".ev_val(n{src.index}_ev_val), .busy(p{p.index}_busy),")
    a(f"        .req_valid(p{p.index}_req_valid), .req_addr(p{p.index}_req_addr), .req_add(p{p.index}_req_add));")
    c.par_drivers.setdefault(sink.index, []).append(p.index)


def memories(g: HardwareGraph, tables: dict) -> list[dict]:
    """Every memory of the core: depth x width (the technology mapping is the family's business)."""
    out = []
    for n in g.nodes:
        L = n.lanes
        if n.kind == "input":
            out.append({"name": f"n{n.index} input", "depth": n.words, "width": n.value_bits})
        if n.kind in ("encoder", "if", "gmax"):
            out.append({"name": f"n{n.index} spikes", "depth": n.words, "width": L})
        if n.kind in ("if", "readout", "sum"):
            B = n.banks[0] * n.banks[1]
            for b in range(B):
                out.append({"name": f"n{n.index} current" + (f" bank {b}" if B > 1 else ""),
                            "depth": n.words // B, "width": L * n.acc_bits})
        if n.kind == "if":
            out.append({"name": f"n{n.index} membranes", "depth": n.words, "width": L * n.vbits})
        if n.kind == "readout":
            out.append({"name": f"n{n.index} sums", "depth": n.words, "width": L * n.readout_bits})
        if n.kind == "gmax":
            out.append({"name": f"n{n.index} counts", "depth": n.src.words, "width": L * n.count_bits})
    for p in g.projections:
        t = tables[p.index]
        copies = p.sink.banks[0] * p.sink.banks[1] if t.tap_parallel else 1   # one per port
        for k in range(copies):
            out.append({"name": f"p{p.index} weights" + (f" copy {k}" if copies > 1 else ""), "depth": t.wd,
                        "width": p.sink.lanes * p.weight_bits})
    return out


PHASE_OVERHEAD = 12   # cycles a phase spends starting and draining its pipelines (at most)


def cycle_bound(g: HardwareGraph, tables: dict) -> int:
    """Cycles of one inference when every element is an event in every phase: an upper bound
    on what any input can take (the co-simulation checks it)."""
    def acc(p):
        t = tables[p.index]
        reach = 1 if t.tap_parallel else _max_reach(p)
        return p.src.words + p.src.size * reach * t.nwg + PHASE_OVERHEAD

    total = 2 + max([n.words for n in g.nodes] + [1]) + PHASE_OVERHEAD + g.input.size + PHASE_OVERHEAD
    step = 0
    for n in g.nodes:
        if n.kind == "encoder":
            step += n.size + PHASE_OVERHEAD
        elif n.kind in ("if", "readout", "sum"):
            cost = sum(acc(p) for p in n.projections)
            if n.static:
                total += cost
            else:
                step += cost
            if n.kind != "sum":
                step += n.words + PHASE_OVERHEAD
        elif n.kind == "gmax":
            kh, kw = n.kernel
            step += n.src.words + PHASE_OVERHEAD + n.words * kh * kw + n.words + PHASE_OVERHEAD
    total += g.T * step
    total += 4 * g.output.size + 3 * PHASE_OVERHEAD
    return total


def _max_reach(p: Projection) -> int:
    """The most (row, column) output positions one input element reaches."""
    kh, kw = p.kernel
    (sh, sw), (pt, pl, _, _), (dh, dw) = p.strides, p.pads, p.dilations

    def per_dim(n, k, s, pad, d, n_out):
        return max(sum(1 for a in range(k) if (y + pad - a * d) >= 0 and (y + pad - a * d) % s == 0
                       and (y + pad - a * d) // s < n_out) for y in range(n))

    return per_dim(p.src.H, kh, sh, pt, dh, p.sink.H) * per_dim(p.src.W, kw, sw, pl, dw, p.sink.W)


def _safe(name: str) -> str:
    from sncc.backends.hdl_names import hdl_identifier

    return hdl_identifier(name, "op")


@dataclass
class CoreInterface:
    """What the board top, the testbenches and the host need to know of a core."""
    name: str
    T: int
    K: int                  # input integers per inference
    input_shape: tuple
    IW: int                 # input integer bits
    in_frac: int
    N_out: int              # output integers
    OW: int                 # output integer bits
    out_frac: int
    encoding: str
    seed: int
    readout: str
    input_type: str
    output_type: str

    @classmethod
    def of(cls, g: HardwareGraph, input_shape) -> "CoreInterface":
        return cls(name=g.name, T=g.T, K=g.input.size, input_shape=tuple(input_shape), IW=g.input.value_bits,
                   in_frac=g.input_frac, N_out=g.output.size, OW=g.output.readout_bits, out_frac=g.out_frac,
                   encoding=g.encoding, seed=g.seed, readout=g.readout, input_type=g.input_type,
                   output_type=g.output_type)


def describe_nodes(g: HardwareGraph, info: CoreInfo) -> list[dict]:
    """Per node: kind, shape, lanes, widths, memories and what it reads (report.json `layers`)."""
    rows = []
    mems = {}
    for mm in info.memories:
        mems.setdefault(mm["name"].split()[0], []).append(mm)
    for n in g.nodes:
        row = {"node": f"n{n.index}", "kind": n.kind, "model_name": n.source_name, "shape": [n.C, n.H, n.W],
               "lanes": n.lanes, "banks": list(n.banks), "words": n.words,
               "memory_kbits": round(sum(mm["depth"] * mm["width"] for mm in mems.get(f"n{n.index}", [])) / 1024, 1)}
        if n.kind in ("if", "readout", "sum"):
            row["current_bits"] = n.acc_bits
            row["time_invariant_current"] = n.static
            row["inputs"] = [{"projection": f"p{p.index}", "from": f"n{p.src.index}",
                              "kernel": list(p.kernel), "strides": list(p.strides), "pads": list(p.pads),
                              "dilations": list(p.dilations), "groups": p.groups, "weight_bits": p.weight_bits,
                              "weight_kbits": round(info.tables[p.index].wd * p.sink.lanes * p.weight_bits / 1024, 1),
                              "weight_copies": (p.sink.banks[0] * p.sink.banks[1] if info.tables[p.index].tap_parallel
                                                else 1),
                              "words_per_tap": info.tables[p.index].nwg, "multiplies": not p.src.spiking,
                              "tap_parallel": info.tables[p.index].tap_parallel,
                              "ops": p.ops} for p in n.projections]
        if n.kind == "if":
            row.update({"membrane_bits": n.vbits, "reset": n.reset, "may_saturate": n.may_saturate,
                        "threshold_q": int(n.theta.max()) if np.all(n.theta == n.theta[0]) else "per channel",
                        "v0_q": int(n.v0[0]) if np.all(n.v0 == n.v0[0]) else "per channel"})
        if n.kind == "readout":
            row["readout_bits"] = n.readout_bits
        if n.kind == "gmax":
            row.update({"reads": f"n{n.src.index}", "kernel": list(n.kernel), "count_bits": n.count_bits})
        rows.append(row)
    return rows
