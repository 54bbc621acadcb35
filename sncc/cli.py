"""The `sncc` command line.

    sncc MODEL [--target ir|cpu|artix7|nir] [-o OUT] [--pipeline PIPE] ...   compile a model
                                    (MODEL: .onnx, .nir, .sir, or a torch.export .pt2 program)
    sncc opt IN.sir --pipeline PIPE [-o OUT.sir]                         run passes on IR
    sncc run MODEL --input X.npy [--labels Y.npy] [--fixed] [--json]     simulate
    sncc sim BUILD_DIR [--vectors N] [--uart]                            RTL co-simulation
    sncc board BUILD_DIR (--port P | --sim) (--input X.npy | --bench)    run on the board
    sncc passes                                                         list passes and options

Exit codes: 0 success, 1 user error (one message, no traceback; --debug shows it),
2 internal error.
"""
from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from sncc.errors import SnccError
from sncc.limits import check_T

EPILOG = """\
examples:
  sncc examples/mlp.onnx                          print the IR of a model (target ir)
  sncc examples/mlp.onnx -o build/mlp.sir         write it to a file
  sncc examples/mlp.onnx --calib x.npy -T 16 -o snn.sir
                                                  convert to a spiking network (T=16)
  sncc model.onnx --print-ir-after-all --elide-weights
                                                  watch every pass, weights summarised
  sncc model.onnx --pipeline 'canonicalize,fold-batchnorm,dce' --time-passes
  sncc opt build/mlp.sir --pipeline dce -o build/mlp.dce.sir
  sncc run snn.sir --input x.npy --labels y.npy   simulate: accuracy, spikes, firing rates
  sncc examples/mlp.onnx --calib x.npy -T 16 --target artix7 -o build/
                                                  Verilog + XDC + build.tcl for an Arty A7-100
  sncc sim build/ --vectors 100                   RTL vs fixed-point reference, bit for bit
  sncc examples/mlp.onnx --calib x.npy --target nir -o mlp.nir
                                                  export the spiking network as a NIR graph
                                                  (snnTorch, Norse, Sinabs, ...; spec/nir.md)
  sncc model.nir --target artix7 -o build/        a NIR graph from another tool to the FPGA
  sncc run model.nir --input x.npy                simulate a NIR graph (T=32, or -T)
  sncc board build/ --port /dev/ttyUSB1 --input x.npy --labels y.npy
                                                  classify on the board through its UART
  sncc board build/ --port /dev/ttyUSB1 --bench   the on-board benchmark (build with --bench N)
  sncc passes                                     list the passes and their options

pipelines are comma-separated pass names with options in braces:
  canonicalize,fold-batchnorm,calibrate{percentile=99.9}

exit codes: 0 success, 1 bad input (model, option, data), 2 internal error.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # bad options are user errors: exit code 1, not argparse's 2
        self.print_usage(sys.stderr)
        print(f"sncc: error: {message}", file=sys.stderr)
        sys.exit(1)


def _common(p: argparse.ArgumentParser):
    p.add_argument("--print-ir-after-all", action="store_true", help="print the IR after every pass (to stderr)")
    p.add_argument("--print-ir-after", metavar="PASS", action="append", default=[],
                   help="print the IR after the named pass (repeatable)")
    p.add_argument("--time-passes", action="store_true", help="report the wall time of each pass (to stderr)")
    p.add_argument("--elide-weights", action="store_true",
                   help="print weights as shape and statistics instead of hex (not loadable)")
    p.add_argument("--no-verify", action="store_true", help="skip the IR verifier after each pass")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")


def _conversion_options(p: argparse.ArgumentParser):
    """The options of the ANN -> SNN conversion beyond -T and --calib (sncc.convert's keywords)."""
    p.add_argument("--staircase", metavar="{trained,T}", default=None,
                   help="QCFS networks run at T above their trained L: 'trained' (default) keeps the trained "
                   "L-level staircase (spec/ir.md 5.6), 'T' lets the neurons form a T-level one")
    p.add_argument("--v0-calibration", metavar="N", default=None,
                   help="calibrate per-channel initial membranes on the first N --calib inputs so that each "
                   "channel's mean spike count matches the ANN (0: off, the default; it helps QCFS networks "
                   "at T below their L)")
    p.add_argument("--first-spikes", metavar="{auto,v0,early}", default=None,
                   help="'early': neurons driven by a constant input current (the first layer) fire their first "
                   "spike at step 0, with the same counts (spec/ir.md 5.6; helps residual networks whose first "
                   "layer fires on a uniform background, with --v0-calibration); 'v0': at the steps v0 gives; "
                   "'auto' (default): early for a QCFS network with a residual add, else v0")


def _conversion_kw(args) -> dict:
    """--staircase, --first-spikes and --v0-calibration, checked, as convert-to-snn options ({} when
    not given)."""
    kw = {}
    if args.staircase is not None:
        if args.staircase not in ("trained", "T"):
            raise SnccError(f"--staircase must be 'trained' or 'T', got '{args.staircase}'")
        kw["staircase"] = args.staircase
    if args.first_spikes is not None:
        if args.first_spikes not in ("auto", "v0", "early"):
            raise SnccError(f"--first-spikes must be 'auto', 'v0' or 'early', got '{args.first_spikes}'")
        kw["first_spikes"] = args.first_spikes
    if args.v0_calibration is not None:
        n = args.v0_calibration
        if not (n.isdigit() and n.isascii()):
            raise SnccError(f"--v0-calibration must be a whole number of calibration inputs >= 0, got '{n}'")
        kw["v0_calibration"] = int(n)
        if int(n) and not args.calib:
            raise SnccError("--v0-calibration matches spike counts to the ANN on calibration data: give --calib")
    return kw


def _check_converts(kw: dict, converts: bool) -> None:
    """A conversion option given to a command that does not convert is an error, not ignored."""
    if kw and not converts:
        given = " and ".join(f"--{k.replace('_', '-')}" for k in kw)
        raise SnccError(f"{given} set{'s' if len(kw) == 1 else ''} the conversion to a spiking network, which this "
                        "command does not run (an ANN model with --calib or a spiking target converts; with "
                        "--pipeline give them to convert-to-snn)")


def _compile_parser() -> argparse.ArgumentParser:
    from sncc.driver import DEFAULT_PIPELINE, TARGETS

    p = _Parser(prog="sncc", description="Compile a trained ANN (ONNX, or a torch.export .pt2 program), a "
                "spiking network in NIR (.nir) or sncc IR (.sir) into a spiking network for a target.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="an .onnx model, a .pt2 torch.export program, a .nir graph "
                   "(spiking; -T sets its timesteps, default 32) or an .sir IR file")
    p.add_argument("--target", choices=TARGETS, default="ir",
                   help="what to produce: ir = the IR text after the pipeline (default); nir = a NIR "
                   "graph of the spiking network (needs -o)")
    p.add_argument("-o", "--output", metavar="OUT", help="output: the IR file for targets ir and cpu (default: stdout), "
                   "the project folder for artix7, the .nir file for nir")
    p.add_argument("--pipeline", metavar="PIPE", help=f"passes to run (default: {DEFAULT_PIPELINE['ir']}; "
                   "with --calib: the full conversion canonicalize,fold-batchnorm,dce,calibrate,normalize,convert-to-snn)")
    p.add_argument("-T", type=int, metavar="N", help="timesteps of the spiking network (module attribute T; "
                   "default: a QCFS model's trained L, else 32)")
    p.add_argument("--calib", metavar="FILE.npy", help="calibration inputs, shape [N, ...] (for calibrate); "
                   "without them targets cpu, artix7 and nir convert with threshold 1.0 per ReLU layer (QCFS: "
                   "its learned thresholds), with a warning")
    p.add_argument("--weight-bits", type=int, metavar="B",
                   help="quantize to fixed point with B-bit weights (targets cpu and artix7; artix7 default 8)")
    _conversion_options(p)
    fpga = p.add_argument_group("artix7 target")
    fpga.add_argument("--board", default=None,
                      help="arty-a7-35, arty-a7-100 (default), basys3, nexys-a7-100: board top, UART, XDC")
    fpga.add_argument("--part", help="any Artix-7 part (e.g. xc7a200tfbg676-2), instead of --board: a core-only build")
    fpga.add_argument("--lanes", type=int, default=None,
                      help="output channels every engine updates per cycle, all layers alike (default 16)")
    fpga.add_argument("--target-fps", type=float, default=None, metavar="N",
                      help="pick lanes per layer instead: the fewest that reach N inferences/s at the board "
                           "clock by the cycle model (report.md compares it with the simulation), or the most "
                           "that fit the part")
    fpga.add_argument("--test-vectors", type=int, default=100, metavar="N",
                      help="testbench vectors (default 100), from --test-input, else from the calibration data")
    fpga.add_argument("--test-input", metavar="X.npy", help="held-out test inputs for the testbench vectors "
                      "(better than calibration images: the co-simulation then checks unseen data)")
    fpga.add_argument("--test-labels", metavar="Y.npy", help="their labels: report.md gives the RTL's accuracy")
    fpga.add_argument("--no-synth", action="store_true", help="skip the Yosys resource estimate")
    fpga.add_argument("--baud", type=int, default=None, metavar="N",
                      help="UART rate of the board top, up to 12000000 (default 3000000; spec/uart.md)")
    fpga.add_argument("--uart-input", choices=("auto", "u8", "unorm8", "int"), default="auto",
                      help="input elements on the UART (spec/uart.md): u8 = the input integer as one byte, "
                      "unorm8 = one byte u standing for u/255, int = the input integers; auto (default) picks "
                      "the first that is exact on the calibrated input range")
    fpga.add_argument("--bench", type=int, default=0, metavar="N",
                      help="bake N test images (from --test-input, else the MNIST test set) into block RAM "
                      "for the on-board benchmark (sncc board --bench)")
    _common(p)
    return p


def _opt_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sncc opt", description="Run a pass pipeline on an IR file and print or write the result.",
                epilog="example:\n  sncc opt model.sir --pipeline canonicalize,dce -o model.opt.sir",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN.sir", help="IR text file ('-' reads stdin)")
    p.add_argument("--pipeline", metavar="PIPE", required=True, help="passes to run, e.g. canonicalize,dce")
    p.add_argument("-o", "--output", metavar="OUT.sir", help="output file (default: stdout)")
    p.add_argument("--calib", metavar="FILE.npy", help="calibration inputs, shape [N, ...] (for calibrate)")
    _common(p)
    return p


def _run_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sncc run", description="Simulate a spiking network on inputs: predictions, accuracy, "
                "spikes per inference and firing rates per layer.",
                epilog="examples:\n  sncc run snn.sir --input x_test.npy --labels y_test.npy\n"
                       "  sncc run model.onnx --calib x_train.npy -T 16 --input x.npy --fixed --json",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="MODEL", help="a spiking .sir file or .nir graph, or an .onnx model with --calib")
    p.add_argument("--input", metavar="X.npy", required=True, help="inputs [N, ...] (one sample: [...])")
    p.add_argument("--labels", metavar="Y.npy", help="integer labels [N]: report accuracy")
    p.add_argument("-T", type=int, metavar="N", help="timesteps (default: the network's T)")
    p.add_argument("--calib", metavar="FILE.npy", help="calibration inputs: convert an .onnx model first")
    p.add_argument("--fixed", action="store_true", help="quantize (8-bit weights) and simulate bit-exact fixed point")
    p.add_argument("--weight-bits", type=int, metavar="B", help="quantize with B-bit weights (implies --fixed)")
    _conversion_options(p)
    p.add_argument("--backend", choices=("auto", "cpu", "reference"), default="auto",
                   help="cpu = the compiled simulator, reference = the numpy interpreter")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--raster", metavar="FILE.png", help="plot the spike raster of the first input")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    return p


def _cmd_run(args) -> int:
    import json
    import time

    import numpy as np

    from sncc.api import SpikingNetwork, conversion_pipeline, default_T
    from sncc.driver import load_array, load_model
    from sncc.pass_manager import PassContext, PassManager

    # Everything that can be wrong with the options and files is found before simulating.
    if args.T is not None:
        check_T(args.T, "-T")
    _check_weight_bits(args.weight_bits)
    if args.raster:
        from sncc.plots import check_image_path

        check_image_path(args.raster, "--raster", probe=True)
    conversion = _conversion_kw(args)
    x = load_array(args.input, "input")
    labels = load_array(args.labels, "labels") if args.labels else None
    calib = load_array(args.calib, "calibration") if args.calib else None
    module = load_model(args.model)
    _check_converts(conversion, not module.is_spiking)
    xb, _ = module.input_batch(x, "--input")
    if labels is not None:
        labels = _check_labels(labels, len(xb))
    ctx = PassContext(calibration_data=calib, T=args.T, progress=not args.json)
    if not module.is_spiking:  # convert; without --calib by SC-NeuroCore's rule (assume-scale warns)
        T = args.T or default_T(module)
        pipeline = conversion_pipeline(T=T, calibrated=calib is not None, **conversion)
        module = PassManager.parse(pipeline).run(module, ctx)
    if args.fixed or args.weight_bits is not None:
        from sncc.types import Fixed

        if not any(isinstance(v.type.elem, Fixed) for v in module.inputs):
            bits = 8 if args.weight_bits is None else args.weight_bits
            module = PassManager.parse(f"quantize{{weight_bits={bits}}}").run(module, ctx)
    snn = SpikingNetwork(module)
    T = args.T or snn.T
    start = time.perf_counter()
    # Inputs far outside the calibrated range can overflow float32; that is reported below
    # in one line instead of numpy printing RuntimeWarnings.
    with np.errstate(over="ignore", invalid="ignore"):
        out, spikes = snn.run(xb, T=T, backend=args.backend, record=True, progress=not args.json)
    seconds = time.perf_counter() - start
    out = np.atleast_2d(out)
    bad = int((~np.isfinite(out)).any(axis=1).sum())
    if bad:
        raise SnccError(f"the simulation overflowed float32 on {bad} of {len(out)} inputs (infinite or NaN "
                        "readouts): are the inputs scaled like the calibration data?")
    pred = out.argmax(axis=1)
    n = len(pred)
    result = {"predictions": pred.tolist(), "samples": n, "T": T, "fixed_point": snn.fixed,
              "spikes_per_inference": sum(spikes.values()) / n,
              "firing_rates": {k: v / (n * T * size) for k, v in spikes.items()
                               for size in [int(np.prod(next(op for op in module.ops if op.result.name == k).type.shape))]},
              "seconds": seconds, "samples_per_second": n / seconds if seconds > 0 else None}
    if labels is not None:
        result["accuracy"] = float((pred == labels).mean())
    if args.raster:
        from sncc.plots import raster

        with np.errstate(over="ignore", invalid="ignore"):
            trains = snn.spike_trains(xb[:1], T=T)
        result["raster"] = str(raster(trains, args.raster, title=f"{Path(args.model).name}, first input, T={T}",
                                      what="--raster"))
    if args.json:
        print(json.dumps(result))
        return 0
    shown = " ".join(map(str, pred[:20])) + (" ..." if n > 20 else "")
    print(f"predictions ({n}): {shown}")
    if labels is not None:
        print(f"accuracy: {100 * result['accuracy']:.2f}% ({int((pred == labels).sum())}/{n})")
    print(f"T = {T}, {'fixed point' if snn.fixed else 'float32'}, {result['samples_per_second']:.0f} samples/s")
    print(f"spikes per inference: {result['spikes_per_inference']:.1f}")
    for k, r in result["firing_rates"].items():
        print(f"  {k:24} firing rate {100 * r:.2f}% per neuron per step")
    if args.raster:
        print(f"spike raster of the first input: {result['raster']}")
    return 0


def _check_elide(args) -> None:
    if args.elide_weights and args.output:
        raise SnccError(f"--elide-weights prints weights as statistics, which cannot be loaded again: drop it to "
                        f"write '{args.output}', or leave out -o to print the summary")


def _check_weight_bits(bits) -> None:
    if bits is not None and not 2 <= bits <= 16:  # 0 used to mean "no quantization" silently
        raise SnccError(f"--weight-bits must be in 2..16, got {bits}")


def _check_labels(labels, n: int):
    """Labels are integer class indices, one per input (checked before simulating)."""
    import numpy as np

    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise SnccError(f"--labels has shape {list(labels.shape)}; give a vector [N] of integer class indices "
                        "(not one-hot rows)")
    whole = labels.dtype.kind in "iu" or (labels.dtype.kind == "f" and bool(np.all(np.isfinite(labels)))
                                         and bool(np.all(labels == np.round(labels))))
    if not whole:
        raise SnccError(f"--labels holds {labels.dtype} values; labels must be integer class indices")
    if len(labels) != n:
        raise SnccError(f"--labels has {len(labels)} entries for {n} inputs")
    return labels.astype(np.int64)


def _instrumentation(args) -> dict:
    return {"print_ir_after_all": args.print_ir_after_all, "print_ir_after": set(args.print_ir_after),
            "time_passes": args.time_passes, "elide": args.elide_weights, "verify_each": not args.no_verify}


def _emit(text: str, output: str | None):
    from sncc.driver import write_atomically

    if output:
        write_atomically(Path(output), text)
    else:
        sys.stdout.write(text)


def _cmd_compile(args) -> int:
    from sncc.driver import DEFAULT_PIPELINE, compile_model, load_array, load_model

    if args.T is not None:
        check_T(args.T, "-T")
    _check_weight_bits(args.weight_bits)
    if args.target not in ("artix7", "nir"):
        _check_elide(args)
    conversion = _conversion_kw(args)
    calib = load_array(args.calib, "calibration") if args.calib else None
    module = load_model(args.model)
    converts = args.pipeline is None and (calib is not None or (args.target in ("cpu", "artix7", "nir")
                                                                and not module.is_spiking))
    _check_converts(conversion, converts)
    if args.pipeline is not None:
        pipeline = args.pipeline
    elif converts:
        # the full conversion to a spiking network; without --calib, SC-NeuroCore's rule:
        # QCFS thresholds, else threshold 1.0 per ReLU layer (assume-scale warns)
        from sncc.api import conversion_pipeline, default_T

        pipeline = conversion_pipeline(T=args.T or default_T(module), calibrated=calib is not None, **conversion)
    else:
        pipeline = DEFAULT_PIPELINE.get(args.target, DEFAULT_PIPELINE["ir"])
    if args.weight_bits is not None:
        pipeline += f",quantize{{weight_bits={args.weight_bits}}}"
    elif args.target == "artix7" and "quantize" not in pipeline:
        pipeline += ",quantize{weight_bits=8}"
    module, ctx = compile_model(module, pipeline, target=args.target, T=args.T, calibration_data=calib,
                                instrumentation=_instrumentation(args))
    _print_reports(ctx)
    if args.target == "artix7":
        return _build_artix7(args, module, calib)
    if args.target == "nir":
        return _export_nir(args, module)
    _emit(module.to_text(elide=args.elide_weights), args.output)
    return 0


def _export_nir(args, module) -> int:
    from sncc.nir_export import export_nir, warning_text

    if not args.output:
        raise SnccError("--target nir writes a binary (HDF5) file: give -o FILE.nir")
    lost = export_nir(module, args.output, warn=False)
    if lost:
        print(f"sncc: warning: {warning_text(lost)}", file=sys.stderr)
    return 0


def _build_artix7(args, module, calib) -> int:
    from sncc.backends import artix7
    from sncc.driver import load_array

    if not args.output:
        raise SnccError("--target artix7 writes a project folder: give -o DIR")
    if args.lanes is not None and args.target_fps is not None:
        raise SnccError("--lanes and --target-fps both set the lanes: give one of them")
    if args.lanes is not None and args.lanes < 1:
        raise SnccError(f"--lanes must be at least 1, got {args.lanes}")
    if args.target_fps is not None and not 0 < args.target_fps < 1e9:
        raise SnccError(f"--target-fps must be a positive number of inferences per second, got {args.target_fps:g}")
    if args.test_vectors < 1:
        raise SnccError(f"--test-vectors must be at least 1, got {args.test_vectors}")
    if args.test_labels and not args.test_input:
        raise SnccError("--test-labels needs --test-input (the inputs they label)")
    vectors = load_array(args.test_input, "test input") if args.test_input else calib
    labels = load_array(args.test_labels, "test labels") if args.test_labels else None
    if vectors is not None:
        vectors = vectors[: args.test_vectors]
    if labels is not None:
        labels = labels.reshape(-1)
        if len(labels) < len(vectors):
            raise SnccError(f"--test-labels has {len(labels)} entries for {len(vectors)} test vectors")
        labels = labels[: len(vectors)]
    from sncc.backends.fpga import sim

    if sim.verilator_exe() is None:
        print("sncc: warning: Verilator is not installed: no lint and no co-simulation of the RTL "
              "(pip install 'sncc[fpga]')", file=sys.stderr)
    if sim.yosys_exe() is None and not args.no_synth:
        print("sncc: warning: Yosys is not installed: no resource estimate (pip install 'sncc[fpga]')", file=sys.stderr)
    bench_x, bench_y = _bench_images(args, module)
    rep = artix7.build(module, args.output, board=args.board, part=args.part, lanes=args.lanes or 16,
                       target_fps=args.target_fps, vectors=vectors,
                       labels=labels, n_vectors=args.test_vectors, synth=False if args.no_synth else None,
                       baud=artix7.DEFAULT_BAUD if args.baud is None else args.baud, uart_input=args.uart_input,
                       bench=args.bench, bench_inputs=bench_x, bench_labels=bench_y, verbose=True)
    if args.time_passes:
        print("artix7 backend stages:", file=sys.stderr)
        for stage, sec in rep["timing"].items():
            print(f"  {sec:9.3f} s  {stage}", file=sys.stderr)
    print(f"sncc: wrote {args.output} (see {Path(args.output) / 'report.md'})", file=sys.stderr)
    return 0


def _bench_images(args, module):
    """The benchmark's images and labels: --test-input/--test-labels (all of them, not only the
    testbench's --test-vectors), else the MNIST test set when the model takes MNIST images."""
    from sncc.driver import load_array

    if not args.bench:
        return None, None
    if args.bench < 0:
        raise SnccError(f"--bench must be at least 0, got {args.bench}")
    if args.test_input:
        x = load_array(args.test_input, "test input")
        y = load_array(args.test_labels, "test labels").reshape(-1) if args.test_labels else None
        if len(x) < args.bench:
            raise SnccError(f"--bench {args.bench} needs as many test inputs; --test-input has {len(x)}")
        return x[:args.bench], (y[:args.bench] if y is not None else None)
    import numpy as np

    shape = tuple(module.inputs[0].type.shape)
    if int(np.prod(shape)) != 784:
        raise SnccError("--bench needs --test-input X.npy (images for the benchmark ROM): the model does not take "
                        "MNIST images")
    from sncc.datasets import load_mnist

    (_, _), (xt, yt) = load_mnist()
    if len(xt) < args.bench:
        raise SnccError(f"--bench {args.bench}: the MNIST test set has {len(xt)} images")
    return xt[:args.bench].reshape((args.bench,) + shape).astype(np.float32), yt[:args.bench]


def _board_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sncc board", description="Classify images on an FPGA board through its UART, or run the "
                "on-board benchmark (spec/uart.md). Needs pyserial: pip install 'sncc[board]'.\n\n"
                "--sim runs the build's board top in Verilator instead of a board (it compiles and runs the "
                "Verilog in BUILD_DIR: only for builds you made or trust).",
                epilog="examples:\n  sncc board build/ --port /dev/ttyUSB1 --input x_test.npy --labels y_test.npy\n"
                       "  sncc board build/ --port COM4 --bench --json\n"
                       "  sncc board build/ --sim --input x_test.npy --count 3",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_dir", metavar="BUILD_DIR", help="a board build (sncc ... --target artix7 --board B -o DIR)")
    p.add_argument("--port", metavar="PORT", help="the board's serial port (e.g. /dev/ttyUSB1, COM4)")
    p.add_argument("--sim", action="store_true", help="a Verilator simulation of the build instead of a board")
    p.add_argument("--input", metavar="X.npy", help="inputs [N, ...] to classify")
    p.add_argument("--labels", metavar="Y.npy", help="their integer labels: accuracy and errors")
    p.add_argument("--count", type=int, metavar="N", help="classify only the first N inputs")
    p.add_argument("--bench", action="store_true", help="run the on-board benchmark (a build with --bench N)")
    p.add_argument("--timeout", type=float, metavar="S", help="seconds to wait for an answer (default 2; 10 with --bench)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    return p


def _sim_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sncc sim", description="Co-simulate an artix7 build with Verilator and check the RTL "
                "against the fixed-point reference, bit for bit; prints cycles per inference.\n\n"
                "Note: this compiles and runs the Verilog in BUILD_DIR (Verilog can run shell commands "
                "through $system). Only simulate builds you made or trust.",
                epilog="examples:\n  sncc sim build/                       the build's own test vectors\n"
                       "  sncc sim build/ --vectors 20          the first 20 of them\n"
                       "  sncc sim build/ --input x_test.npy --labels y_test.npy --vectors 200",
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("build_dir", metavar="BUILD_DIR")
    p.add_argument("--vectors", type=int, metavar="N", help="check the first N vectors (default: all)")
    p.add_argument("--input", metavar="X.npy", help="new test inputs [N, ...]: expected outputs from the "
                   "build's model.sir through the fixed-point reference")
    p.add_argument("--labels", metavar="Y.npy", help="integer labels: report the accuracy of the RTL's classes")
    p.add_argument("--uart", action="store_true", help="also run the board top through its UART at the build's "
                   "baud rate: frames, error frames, the on-board benchmark")
    p.add_argument("--debug", action="store_true", help="show the Python traceback of errors")
    return p


def _cmd_sim(args) -> int:
    from sncc.backends import artix7
    from sncc.driver import load_array

    x = load_array(args.input, "input") if args.input else None
    labels = load_array(args.labels, "labels") if args.labels else None
    res = artix7.simulate(args.build_dir, x, n_vectors=args.vectors, labels=labels, uart=args.uart, verbose=True)
    if res["mismatches"]:
        raise SnccError(f"the RTL differs from the reference on {res['mismatches']} vectors")
    if args.uart:
        u = res["uart"]
        print(f"UART: {u['vectors']} frames, {len(u['error_frames'])} error paths, {u['errors']} errors"
              + (f"; on-board benchmark: {u['bench_cycles']:,} cycles" if u.get("bench_cycles") else ""))
        if u["errors"]:
            raise SnccError("the board top's UART answers differ from the expected frames: " + "; ".join(u["log"][-5:]))
    if "accuracy" in res:
        print(f"accuracy of the RTL's classes: {100 * res['accuracy']:.2f}%")
    return 0


def _print_reports(ctx, stream=None) -> None:
    """Analyses that produce a table (e.g. bitwidth-report) show it (on stderr by default)."""
    for rep in ctx.reports.values():
        if isinstance(rep, dict) and "text" in rep:
            print(rep["text"], file=stream or sys.stderr)


def _cmd_opt(args) -> int:
    from sncc.driver import load_array
    from sncc.ir import decode_text, load, parse
    from sncc.pass_manager import PassContext, PassManager

    if args.input == "-":
        module = parse(decode_text(sys.stdin.buffer.read(), "<stdin>"), "<stdin>")
    else:
        module = load(args.input)
    _check_elide(args)
    calib = load_array(args.calib, "calibration") if args.calib else None
    pm = PassManager.parse(args.pipeline, **_instrumentation(args))
    ctx = PassContext(calibration_data=calib, T=module.attrs.get("T"))
    module = pm.run(module, ctx)
    if all(p.is_analysis for p in pm.passes) and not args.output:
        # the IR is unchanged: show what the analyses found, not megabytes of weights
        _print_reports(ctx, sys.stdout)
        return 0
    _print_reports(ctx)
    _emit(module.to_text(elide=args.elide_weights), args.output)
    return 0


def _cmd_passes(args) -> int:
    import sncc.passes  # noqa: F401
    from sncc.pass_manager import PASSES

    for name in sorted(PASSES):
        cls = PASSES[name]
        kind = "analysis" if cls.is_analysis else "transform"
        print(f"{name:18} {kind:9}  {cls.summary}")
        for key, opt in cls.options.items():
            choices = f" ({'|'.join(map(str, opt.choices))})" if opt.choices else ""
            print(f"{'':20}{key}={opt.default}{choices}  {opt.help}")
    return 0


def _terminate(signum, frame):
    # SIGTERM unwinds like Ctrl-C, so every temporary file and folder is removed on the way out
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    logging.basicConfig(format="sncc: note: %(message)s", level=logging.INFO, stream=sys.stderr)
    try:
        if argv and argv[0] == "opt":
            return _cmd_opt(_opt_parser().parse_args(argv[1:]))
        if argv and argv[0] == "sim":
            return _cmd_sim(_sim_parser().parse_args(argv[1:]))
        if argv and argv[0] == "board":
            from sncc.board import run as board_run

            return board_run(_board_parser().parse_args(argv[1:]))
        if argv and argv[0] == "run":
            return _cmd_run(_run_parser().parse_args(argv[1:]))
        if argv and argv[0] == "passes":
            return _cmd_passes(None)
        return _cmd_compile(_compile_parser().parse_args(argv))
    except SnccError as e:
        if debug:
            traceback.print_exc()
        print(f"sncc: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("sncc: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug in sncc, not in the user's input
        if debug:
            traceback.print_exc()
        print(f"sncc: internal error: {type(e).__name__}: {e} (rerun with --debug for the traceback, "
              "and please report it)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
