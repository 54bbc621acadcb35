"""Register-to-register timing estimate over Yosys's `synth_xilinx` netlist (7-series).

Yosys maps the design onto 7-series primitives (LUT1..6, MUXF7/8, CARRY4, FD*, RAMB18E1/
RAMB36E1, DSP48E1, distributed RAM, SRLs) but does not place or route it, so Vivado's timing
is unknown until build.tcl runs. This module gives the estimate a designer wants before that:
for every path from a clocked output (a flip-flop's Q, a block RAM's or DSP's output) through
combinational cells to a clocked input, its delay and its logic depth, and the worst paths by
name.

Delay model (all in ns; -1 speed grade, the Arty's part):
- cell delays are prjxray-db's measured Artix-7 timings, as Yosys's `xilinx/cells_sim.v`
  carries them in its specify blocks (LUT input pin to O, CARRY4 arcs, FF clock-to-Q and
  setup, block RAM clock-to-out with and without the output register, DSP48E1 setup,
  clock-to-out and combinational arcs by pipeline registers);
- routing is not in those numbers, so every net adds NET_BASE + NET_PER_FANOUT_OCTAVE x
  log2(fanout): 0.35 ns for a point-to-point net, about 1.8 ns for a 2,800-flip-flop reset.
This is an estimate, not sign-off: placement can add or save a nanosecond on a long path.
build.tcl's post-route check (WNS/WHS) is the authority.

Logic depth counts LUT levels (LUT1..6, distributed-RAM reads, SRL address paths) the way
Vivado's "logic levels" counts them, with MUXF7/F8 and CARRY4 cells reported apart.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

NET_BASE = 0.35
NET_PER_FANOUT_OCTAVE = 0.13
TARGET_DELAY_NS = 8.0          # issue 9: <= 8 ns estimated at 100 MHz (2 ns for what the estimate misses)
TARGET_LUT_LEVELS = 6

# prjxray-db Artix-7 timings (ps) as in Yosys's xilinx/cells_sim.v
_LUT_PIN_PS = {1: [127], 2: [238, 127], 3: [407, 238, 127], 4: [472, 407, 238, 127],
               5: [631, 472, 407, 238, 127], 6: [642, 631, 472, 407, 238, 127]}
_MUXF_PS = {"MUXF7": {"I0": 217, "I1": 223, "S": 296}, "MUXF8": {"I0": 104, "I1": 94, "S": 273}}
_CARRY4_O = {  # input pin -> delays to O[0..3] (None: no arc)
    "CYINIT": [482, 598, 584, 642], "CI": [222, 334, 239, 313],
    "S0": [223, 400, 523, 582], "S1": [None, 205, 558, 618], "S2": [None, None, 226, 330], "S3": [None, None, None, 227],
    "DI0": [None, 407, 556, 615], "DI1": [None, None, 537, 596], "DI2": [None, None, None, 438], "DI3": [None] * 4}
_CARRY4_CO = {
    "CYINIT": [536, 494, 592, 580], "CI": [271, 157, 228, 114],
    "S0": [340, 433, 512, 508], "S1": [None, 469, 548, 528], "S2": [None, None, 292, 378], "S3": [None, None, None, 380],
    "DI0": [379, 465, 540, 526], "DI1": [None, 445, 520, 507], "DI2": [None, None, 356, 398], "DI3": [None, None, None, 385]}
_FF_CLK_Q = 303
_FF_SETUP = {"D": 0, "CE": 109, "R": 404, "S": 404, "CLR": 404, "PRE": 404}
_BRAM_CLK_DO = {False: 2454, True: 882}          # without / with the output register (DOx_REG)
_BRAM_SETUP = {"ADDR": 566, "WE": 532, "DI": 737, "DIP": 737, "REGCE": 360, "RSTREG": 342, "EN": 566, "RSTRAM": 566}
_LUTRAM_READ = 642          # address pin to output (the slowest LUT pin)
_LUTRAM_CLK_O = 1153
_LUTRAM_SETUP = {"WE": 654, "D": 453, "A": 616}
_SRL_CLK_Q, _SRL_A_Q, _SRL_SETUP = 1472, 631, 173
_DSP_CTRL_PS = 1500          # OPMODE/ALUMODE/INMODE/CARRYIN to P (not in cells_sim.v; DS181's order of magnitude)


@dataclass
class _Arcs:
    """What one cell contributes: clocked outputs (sources), clocked inputs (sinks, setup) and
    combinational arcs (input bit -> output bit, delay, LUT level, kind)."""
    sources: list = field(default_factory=list)     # (bit, ps)
    sinks: list = field(default_factory=list)       # (bit, ps, pin)
    comb: list = field(default_factory=list)        # (in_bit, out_bit, ps, lut_level, kind)


def _bits(conn: dict, port: str) -> list:
    return conn.get(port, [])


def _param(cell: dict, name: str, default=0):
    v = cell.get("parameters", {}).get(name)
    if v is None:
        return default
    if isinstance(v, str):
        s = v.strip()
        if re.fullmatch(r"[01xz]+", s):          # Yosys writes bit vectors as binary strings
            return int(s.replace("x", "0").replace("z", "0"), 2) if len(s) > 1 or s in "01" else 0
        return s.strip('"')
    return v


def _lut(cell, conn, arcs, k):
    out = _bits(conn, "O")
    for i, ps in enumerate(_LUT_PIN_PS[k]):
        for b in _bits(conn, f"I{i}"):
            for o in out:
                arcs.comb.append((b, o, ps, 1, "LUT"))


def _cell_arcs(ctype: str, cell: dict) -> _Arcs | None:
    """The timing arcs of one primitive; None for cells that carry no register-to-register
    path (I/O and clock buffers, constants)."""
    conn = cell.get("connections", {})
    a = _Arcs()
    m = re.fullmatch(r"LUT([1-6])", ctype)
    if m:
        _lut(cell, conn, a, int(m.group(1)))
    elif ctype == "INV":
        for b in _bits(conn, "I"):
            for o in _bits(conn, "O"):
                a.comb.append((b, o, 127, 1, "LUT"))
    elif ctype in _MUXF_PS:
        for pin, ps in _MUXF_PS[ctype].items():
            for b in _bits(conn, pin):
                for o in _bits(conn, "O"):
                    a.comb.append((b, o, ps, 0, ctype))
    elif ctype == "CARRY4":
        ins = {"CYINIT": _bits(conn, "CYINIT")[:1], "CI": _bits(conn, "CI")[:1]}
        for i in range(4):
            for pin in ("S", "DI"):
                bb = _bits(conn, pin)
                ins[f"{pin}{i}"] = bb[i:i + 1]
        for table, port in ((_CARRY4_O, "O"), (_CARRY4_CO, "CO")):
            outs = _bits(conn, port)
            for pin, delays in table.items():
                for b in ins.get(pin, []):
                    for j, ps in enumerate(delays):
                        if ps is not None and j < len(outs):
                            a.comb.append((b, outs[j], ps, 0, "CARRY4"))
    elif re.fullmatch(r"FD[RSCP]E(_1)?", ctype):
        for o in _bits(conn, "Q"):
            a.sources.append((o, _FF_CLK_Q))
        for pin, ps in _FF_SETUP.items():
            for b in _bits(conn, pin):
                a.sinks.append((b, ps, pin))
    elif ctype in ("RAMB18E1", "RAMB36E1"):
        reg = {"A": bool(_param(cell, "DOA_REG")), "B": bool(_param(cell, "DOB_REG"))}
        for port, bits in conn.items():
            d = cell.get("port_directions", {}).get(port)
            if d == "output":
                side = "A" if port.startswith(("DOA", "DOPA")) else "B"
                for o in bits:
                    a.sources.append((o, _BRAM_CLK_DO[reg[side]]))
            elif d == "input" and not port.startswith("CLK"):
                key = next((k for k in ("ADDR", "WE", "DIP", "DI", "REGCE", "RSTREG", "RSTRAM", "EN")
                            if port.startswith(k) or port[:-1].endswith(k)), "ADDR")
                for b in bits:
                    a.sinks.append((b, _BRAM_SETUP[key], port))
    elif ctype == "DSP48E1":
        _dsp_arcs(cell, conn, a)
    elif re.fullmatch(r"RAM\d+X1[SD](_1)?|RAM\d+M(\d+)?", ctype):
        deep = int(re.match(r"RAM(\d+)", ctype).group(1)) > 64
        read = _LUTRAM_READ + (397 if deep else 0)          # a 128-deep RAM adds a MUXF7 (cells_sim.v)
        dirs = cell.get("port_directions", {})
        outs = {p: b for p, b in conn.items() if dirs.get(p) == "output"}
        for p, bits in outs.items():
            for o in bits:
                a.sources.append((o, _LUTRAM_CLK_O + (392 if deep else 0)))
        for p, bits in conn.items():
            if dirs.get(p) != "input" or p.startswith("WCLK"):
                continue
            if re.fullmatch(r"(A\d*|ADDR[A-H]|DPRA\d*)", p):
                # a read address reaches the output of its own port (ADDRA -> DOA, DPRA -> DPO, A -> SPO)
                if p.startswith("ADDR"):
                    targets = outs.get("DO" + p[4:], [])
                elif p.startswith("DPRA"):
                    targets = outs.get("DPO", [])
                else:
                    targets = outs.get("SPO", outs.get("O", []))
                for b in bits:
                    for o in targets:
                        a.comb.append((b, o, read, 1, "LUTRAM"))
            if _lutram_write_pin(ctype, p):
                key = "WE" if p.startswith("WE") else "D" if p.startswith("D") else "A"
                for b in bits:
                    a.sinks.append((b, _LUTRAM_SETUP[key], p))
    elif ctype in ("SRL16E", "SRLC16E", "SRLC32E"):
        for o in _bits(conn, "Q"):
            a.sources.append((o, _SRL_CLK_Q))
        for p in ("A", "A0", "A1", "A2", "A3"):
            for b in _bits(conn, p):
                for o in _bits(conn, "Q"):
                    a.comb.append((b, o, _SRL_A_Q, 1, "SRL"))
        for p in ("D", "CE"):
            for b in _bits(conn, p):
                a.sinks.append((b, _SRL_SETUP if p == "D" else 109, p))
    elif ctype in ("IBUF", "OBUF", "IBUFG", "BUFG", "BUFGCTRL", "BUFH", "GND", "VCC", "OBUFT", "IOBUF",
                   "$scopeinfo"):
        return None
    else:
        raise KeyError(ctype)
    return a


def _dsp_arcs(cell, conn, a: _Arcs) -> None:
    """DSP48E1 by its pipeline registers: cells_sim.v's \\A.required, \\P.arrival and comb
    functions (USE_MULT, USE_DPORT, USE_PATTERN_DETECT as Yosys sets them)."""
    reg = {k: int(_param(cell, k + "REG", 1 if k in ("A", "B", "C", "D", "AD", "M", "P") else 0))
           for k in ("A", "B", "C", "D", "AD", "M", "P")}
    mult = str(_param(cell, "USE_MULT", "MULTIPLY")).strip('"')
    dport = str(_param(cell, "USE_DPORT", "FALSE")).strip('"') == "TRUE"
    patdet = str(_param(cell, "USE_PATTERN_DETECT", "NO_PATDET")).strip('"') != "NO_PATDET"
    mul = mult == "MULTIPLY"
    A, B, C, D, AD, M, P = (reg[k] for k in ("A", "B", "C", "D", "AD", "M", "P"))

    def a_req():
        if A:
            return 254
        if mul and not dport:
            return 1416 if M else (3030 if patdet else 2739) if P else None
        if mul and dport:
            return 2400 if M else 1283 if AD else (4014 if patdet else 3723) if P else None
        return (1730 if patdet else 1441) if P else None

    def b_req():
        if B:
            return 324
        if M:
            return 1285
        if mul:
            return (2898 if patdet else 2608) if P else None
        return (1718 if patdet else 1428) if P else None

    def c_req():
        return 168 if C else (1534 if patdet else 1244) if P else None

    def d_req():
        if not (mul and dport):
            return None
        return 248 if D else 1195 if AD else 2310 if M else (3925 if patdet else 3635) if P else None

    def p_arr():
        if P:
            return 329
        if C:
            return 1687
        if M:
            return 1671
        if mul and dport:
            return 3935 if A else 3908 if D else 2958 if AD else 2813 if B else None
        if mul:
            return 2952 if A else 2813 if B else None
        return 1632 if A else 1616 if B else None

    comb = {"A": 2823 if mul and not dport else 3806 if mul else 1523,
            "B": 2690 if mul else 1509, "C": 1325, "D": 3717}
    outs = _bits(conn, "P") + _bits(conn, "PCOUT")
    unreg = {"A": not (P or M or A or AD), "B": not (P or M or B), "C": not (P or C),
             "D": not (P or M or AD or D)}
    for port, req in (("A", a_req()), ("B", b_req()), ("C", c_req()), ("D", d_req())):
        bits = _bits(conn, port)
        if unreg[port]:
            for b in bits:
                for o in outs:
                    a.comb.append((b, o, comb[port], 0, "DSP48E1"))
        elif req is not None:
            for b in bits:
                a.sinks.append((b, req, port))
    for b in _bits(conn, "PCIN"):
        if P:
            a.sinks.append((b, 1315 if patdet else 1025, "PCIN"))
        else:
            for o in outs:
                a.comb.append((b, o, 1107, 0, "DSP48E1"))
    for port in ("OPMODE", "ALUMODE", "INMODE", "CARRYIN", "CARRYINSEL"):
        for b in _bits(conn, port):
            if P:
                a.sinks.append((b, _DSP_CTRL_PS, port))
            else:
                for o in outs:
                    a.comb.append((b, o, _DSP_CTRL_PS, 0, "DSP48E1"))
    for port in conn:
        if re.fullmatch(r"CE\w+|RST\w+", port):
            for b in _bits(conn, port):
                a.sinks.append((b, 404, port))
    arr = p_arr()
    if arr is not None:
        for o in outs:
            a.sources.append((o, arr))


def _net_ns(fanout: int) -> float:
    return NET_BASE + NET_PER_FANOUT_OCTAVE * math.log2(max(1, fanout))


def _clean(name: str) -> str:
    return name.lstrip("\\")


def _is_top(module: dict) -> bool:
    """Yosys marks the top module with the attribute top = 1, written as a binary string
    ("00000000000000000000000000000001") or a number, depending on the version."""
    v = str(module.get("attributes", {}).get("top", "0"))
    return int(v, 2 if re.fullmatch(r"[01]+", v) else 10) != 0


def _lutram_write_pin(ctype: str, pin: str) -> bool:
    """Whether a LUT RAM's input pin is sampled by its write clock (an endpoint with a setup
    time). DPRA* is a read-only address; in a multi-port RAMnnM the ADDRA..C pins address
    read ports only and ADDRD is the write address."""
    if pin.startswith("DPRA"):
        return False
    multi_port = re.fullmatch(r"RAM\d+M(\d+)?", ctype) is not None
    return not (multi_port and pin.startswith("ADDR") and pin != "ADDRD")


def analyze(netlist: dict, top: str | None = None, clock_ns: float = 10.0, worst: int = 10) -> dict:
    """Estimate every register-to-register path of a Yosys JSON netlist (`write_json` after
    `synth_xilinx -flatten`). Returns the worst `worst` paths by delay, the deepest path in LUT
    levels, how many endpoints miss the target, and the cell types the model does not know.

        >>> ff = {"Q": "output", "D": "input", "C": "input"}
        >>> net = {"modules": {"t": {"cells": {
        ...     "a": {"type": "FDRE", "port_directions": ff, "connections": {"Q": [2], "D": [4], "C": [9]}},
        ...     "l": {"type": "LUT1", "port_directions": {"I0": "input", "O": "output"},
        ...           "connections": {"I0": [2], "O": [3]}},
        ...     "b": {"type": "FDRE", "port_directions": ff, "connections": {"Q": [4], "D": [3], "C": [9]}}},
        ...     "netnames": {"q": {"bits": [2]}, "r": {"bits": [4]}}}}}
        >>> r = analyze(net)
        >>> r["worst_delay_ns"], r["max_lut_levels"]
        (1.13, 1)
    """
    mods = netlist.get("modules", {})
    if top is None:
        top = next((n for n, m in mods.items() if _is_top(m)), next(iter(mods)))
    mod = mods[top]
    names: dict = {}
    for nname, nn in mod.get("netnames", {}).items():
        hidden = bool(nn.get("hide_name")) or nname.startswith("$")
        bits = nn.get("bits", [])
        for i, b in enumerate(bits):
            if isinstance(b, int):
                label = _clean(nname) + (f"[{i + nn.get('offset', 0)}]" if len(bits) > 1 else "")
                key = (hidden, len(label), label)
                if b not in names or key < names[b][0]:
                    names[b] = (key, label)

    # a register driving an output port is named by the port (its own net is the OBUF's input)
    for cell in mod.get("cells", {}).values():
        if _clean(cell["type"]) in ("OBUF", "IBUF", "OBUFT"):
            i, o = (cell.get("connections", {}).get(p, [None])[0] for p in ("I", "O"))
            for a, b in ((i, o), (o, i)):
                if isinstance(a, int) and isinstance(b, int) and b in names and (a not in names or names[a][0][0]):
                    if not names[b][0][0]:
                        names[a] = names[b]

    def bit_name(b):
        return names[b][1] if b in names else f"net{b}"

    sources: dict = {}            # bit -> clock-to-out ps
    sinks: list = []              # (bit, setup ps, cell, pin)
    comb_out: dict = {}           # in_bit -> [(out_bit, ps, level, kind, cell)]
    fanout: dict = {}
    unknown: dict = {}
    for cname, cell in mod.get("cells", {}).items():
        ctype = _clean(cell["type"])
        for port, bits in cell.get("connections", {}).items():
            if cell.get("port_directions", {}).get(port, "input") == "input":
                for b in bits:
                    if isinstance(b, int):
                        fanout[b] = fanout.get(b, 0) + 1
        try:
            arcs = _cell_arcs(ctype, cell)
        except KeyError:
            unknown[ctype] = unknown.get(ctype, 0) + 1
            continue
        if arcs is None:
            continue
        for b, ps in arcs.sources:
            if isinstance(b, int):
                sources[b] = max(sources.get(b, 0), ps)
        q = cell.get("connections", {}).get("Q", []) if ctype.startswith("FD") else []
        for b, ps, pin in arcs.sinks:
            if isinstance(b, int):
                # a register is named by what it holds (its Q net), other endpoints by the net they read
                sinks.append((b, ps, q[0] if q and isinstance(q[0], int) else b, pin, ctype))
        for i, o, ps, lvl, kind in arcs.comb:
            if isinstance(i, int) and isinstance(o, int):
                comb_out.setdefault(i, []).append((o, ps, lvl, kind, cname))

    # arrival (ns, at the sinks of a net, routing included) and LUT levels, by longest path over
    # the combinational DAG in topological order (Kahn); bits on a combinational loop stay out.
    indeg: dict = {}
    for i, outs in comb_out.items():
        for o, *_ in outs:
            indeg[o] = indeg.get(o, 0) + 1
    arr: dict = {}                # bit -> ns when the value reaches the net's sinks
    lvl: dict = {}                # bit -> LUT levels since the register
    raw: dict = {}                # bit -> (ns at the driving cell's output, levels) while its inputs settle
    pred: dict = {}               # bit -> (in_bit, kind, cell) on its latest path
    lpred: dict = {}              # the same on its deepest path
    for b, ps in sources.items():
        if indeg.get(b, 0) == 0:
            arr[b] = ps / 1000 + _net_ns(fanout.get(b, 0))
            lvl[b] = 0
    ready = sorted(b for b in set(comb_out) | set(arr) if indeg.get(b, 0) == 0)
    while ready:
        b = ready.pop()
        for o, ps, lv, kind, cname in comb_out.get(b, []):
            if b in arr:
                t, lo = raw.get(o, (-1.0, -1))
                if arr[b] + ps / 1000 > t:
                    t = arr[b] + ps / 1000
                    pred[o] = (b, kind, cname)
                if lvl[b] + lv > lo:
                    lo = lvl[b] + lv
                    lpred[o] = (b, kind, cname)
                raw[o] = (t, lo)
            indeg[o] -= 1
            if indeg[o] == 0:
                if o in raw:
                    arr[o] = raw[o][0] + _net_ns(fanout.get(o, 0))
                    lvl[o] = raw[o][1]
                ready.append(o)
    loops = sum(1 for v in indeg.values() if v > 0)

    def trace(b, preds):
        chain = []
        while b in preds:
            i, kind, cname = preds[b]
            chain.append(kind)
            b = i
        return b, chain[::-1]

    paths = []
    for b, ps, label, pin, ctype in sinks:
        if b not in arr:
            continue
        paths.append((arr[b] + ps / 1000, lvl[b], b, label, pin, ctype))
    # the worst path per pair of registers (a bus's bits share their path; list it once), in a
    # deterministic order: delay, then depth, then names
    ranked = sorted(paths, key=lambda p: (-p[0], -p[1], bit_name(p[3]), p[4]))
    out_paths, groups = [], set()
    for delay, lv, b, label, pin, ctype in ranked:
        if len(out_paths) >= worst:
            break
        start, chain = trace(b, pred)
        key = (_bus(bit_name(start)), _bus(bit_name(label)), pin)
        if key in groups:
            continue
        groups.add(key)
        out_paths.append({"delay_ns": round(delay, 2), "lut_levels": _count_levels(chain),
                          "carry4": chain.count("CARRY4"), "from": bit_name(start),
                          "to": f"{ctype} {bit_name(label)} ({pin})", "through": _compress(chain)})
    deepest = max(paths, key=lambda p: (p[1], p[0]), default=None)
    deep = None
    if deepest:
        start, chain = trace(deepest[2], lpred)
        deep = {"delay_ns": round(deepest[0], 2), "lut_levels": deepest[1], "from": bit_name(start),
                "to": f"{deepest[5]} {bit_name(deepest[3])} ({deepest[4]})", "through": _compress(chain)}
    worst_delay = round(max((p[0] for p in paths), default=0.0), 2)
    max_levels = max((p[1] for p in paths), default=0)
    return {"model": "prjxray-db Artix-7 cell delays (Yosys cells_sim.v) + routing "
                     f"{NET_BASE} + {NET_PER_FANOUT_OCTAVE} x log2(fanout) ns per net",
            "clock_ns": clock_ns, "paths": len(paths), "worst_delay_ns": worst_delay, "max_lut_levels": max_levels,
            "target": {"delay_ns": TARGET_DELAY_NS, "lut_levels": TARGET_LUT_LEVELS},
            "met": worst_delay <= TARGET_DELAY_NS or max_levels <= TARGET_LUT_LEVELS,
            "endpoints_over_target": sum(1 for p in paths if p[0] > TARGET_DELAY_NS and p[1] > TARGET_LUT_LEVELS),
            "slack_ns": round(clock_ns - worst_delay, 2),
            "worst_paths": out_paths, "deepest_path": deep,
            "combinational_loop_bits": loops, "unmodelled_cells": dict(sorted(unknown.items()))}


def _bus(name: str) -> str:
    return re.sub(r"\[\d+\]$", "", name)


def _count_levels(chain: list) -> int:
    return sum(1 for k in chain if k in ("LUT", "LUTRAM", "SRL"))


def _compress(chain: list) -> str:
    """LUT LUT CARRY4 CARRY4 CARRY4 LUT -> 'LUT x2, CARRY4 x3, LUT'."""
    out = []
    for k in chain:
        if out and out[-1][0] == k:
            out[-1][1] += 1
        else:
            out.append([k, 1])
    return ", ".join(k if n == 1 else f"{k} x{n}" for k, n in out) or "-"


def analyze_file(path: Path, top: str | None = None, clock_ns: float = 10.0) -> dict:
    return analyze(json.loads(Path(path).read_text()), top, clock_ns)
