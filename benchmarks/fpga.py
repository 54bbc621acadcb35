"""MNIST networks on the Artix-7 backend: bit-exactness, accuracy, cycles, resources.

Models (each with its own T and lanes, MODELS below):

    mlp       examples/mlp.onnx, 784-256-128-10
    cnn       examples/cnn.onnx, conv16-BN-ReLU-avgpool, conv32-BN-ReLU-maxpool, linear
    cnn_qcfs  examples/cnn_qcfs.onnx: the same CNN fine-tuned with QCFS (L = 4), run at T = 4
    resnet    benchmarks/models.py `resnet` (residual blocks, a 1x1 projection shortcut, global
              average pool), trained here
    mixed     benchmarks/models.py `mixed` (stride, padding, dilation, a depthwise conv),
              trained here

Each is converted to a spiking network (constant encoding by default), quantized to 8-bit
weights, compiled for the Arty A7-100 (XC7A100T), and measured:

  * the accuracy of the fixed-point network on all 10,000 MNIST test images (CPU simulator,
    fixed-point mode, which equals spec/ir.md section 6);
  * RTL mismatches against the fixed-point reference (`sncc.interpret`) on the first N test
    images, co-simulated with Verilator (must be 0), and the RTL's accuracy on them;
  * cycles per inference (mean/min/max, from the simulation) and inferences/s at 100 MHz;
  * the Yosys `synth_xilinx` LUT/FF/BRAM/DSP estimate against the XC7A100T;
  * the compile time without synthesis and simulation (IR -> project folder).

    python benchmarks/fpga.py                        # every model, 200 images each
    python benchmarks/fpga.py --models cnn --images 1000 --no-synth
    python benchmarks/fpga.py --out build/           # keep the generated projects

Writes benchmarks/results/fpga.json and fpga.md. Needs `pip install 'sncc[fpga]'`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EX = ROOT / "examples"
MODELS = {   # source (an ONNX file, or a benchmarks/models.py network trained here), T, lanes
    "mlp": {"onnx": EX / "mlp.onnx", "script": "train_mlp.py", "T": 16, "lanes": 16},
    "cnn": {"onnx": EX / "cnn.onnx", "script": "train_cnn.py", "T": 16, "lanes": 32},
    "cnn_qcfs": {"onnx": EX / "cnn_qcfs.onnx", "script": "finetune_cnn_qcfs.py", "T": 4, "lanes": 32},
    "resnet": {"train": "resnet", "T": 16, "lanes": 16},
    "mixed": {"train": "mixed", "T": 16, "lanes": 16},
}


def source(name: str, log):
    """The model to convert: an ONNX path, or a torch module trained now (seeded)."""
    spec = MODELS[name]
    if "onnx" in spec:
        if not spec["onnx"].exists():
            log(f"{spec['onnx'].name} is missing: making it (examples/{spec['script']})")
            subprocess.run([sys.executable, str(EX / spec["script"])], check=True)
        return str(spec["onnx"])
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import models

    return models.trained(spec["train"], log=log)[0].eval()


def run_model(name: str, args, x, xt, yt, log) -> dict:
    import numpy as np

    import sncc
    from sncc.backends import artix7
    from sncc.pass_manager import PassContext

    T = args.T or MODELS[name]["T"]
    lanes = args.lanes or MODELS[name]["lanes"]
    model = source(name, log)
    shape = (-1, 784) if name == "mlp" else (-1, 1, 28, 28)
    calib, xt = x[:1000].reshape(shape), xt.reshape(shape)
    snn = sncc.convert(model, calibration_data=calib, T=T, encoding=args.encoding, progress=False)
    m = sncc.PassManager.parse(f"quantize{{weight_bits={args.weight_bits}}}").run(snn.module.clone(), PassContext())
    t = time.perf_counter()
    fixed = sncc.SpikingNetwork(m).run(xt, progress=False)
    acc_fixed = float((np.asarray(fixed).argmax(1) == yt).mean())
    log(f"{name}: fixed-point accuracy on {len(xt)} test images {100 * acc_fixed:.2f}% "
        f"({time.perf_counter() - t:.0f} s on the CPU simulator)")
    n = min(args.images, len(xt))
    base = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="sncc-fpga-"))
    try:
        t = time.perf_counter()
        artix7.build(m, base / f"{name}-gen", board=args.board, lanes=lanes, vectors=xt[:2], n_vectors=2,
                     synth=False, simulate_rtl=False, check_lint=False)
        compile_s = time.perf_counter() - t
        t = time.perf_counter()
        rep = artix7.build(m, base / name, board=args.board, lanes=lanes, vectors=xt[:n], n_vectors=n,
                           labels=yt[:n], synth=not args.no_synth, simulate_rtl=True, check_lint=True, verbose=True)
        total_s = time.perf_counter() - t
    finally:
        if not args.out:
            shutil.rmtree(base, ignore_errors=True)
    perf, ver, acc = rep["performance"], rep["verification"], rep["accuracy"]
    ys = rep.get("yosys")
    return {"model": name, "T": T, "encoding": args.encoding, "weight_bits": args.weight_bits,
            "lanes": lanes, "banked": [r["node"] for r in rep["layers"] if r.get("banks", [1, 1]) != [1, 1]], "part": rep["target"]["part"], "board": rep["target"]["board"],
            "accuracy_fixed_10000": acc_fixed, "images_simulated": n, "mismatches": ver["mismatches"],
            "lint_clean": ver["lint"], "accuracy_rtl": acc["rtl"], "accuracy_reference": acc["reference"],
            "cycles_mean": perf["cycles_mean"], "cycles_min": perf["cycles_min"], "cycles_max": perf["cycles_max"],
            "cycles_bound": perf["cycles_bound"], "clock_hz": rep["target"]["clock_hz"],
            "inferences_per_s": perf["inferences_per_s"],
            "yosys": {k: ys[k] for k in ("luts", "ffs", "bram36", "dsp")} if ys else None,
            "timing_estimate": {k: ys["timing"][k] for k in ("worst_delay_ns", "max_lut_levels", "met")}
            | {"worst_path": ys["timing"]["worst_paths"][0] if ys["timing"]["worst_paths"] else None} if ys else None,
            "capacity": rep["capacity"], "compile_s": round(compile_s, 1), "build_and_verify_s": round(total_s, 1),
            "nodes": len(rep["layers"]), "phases_per_step": len(rep["schedule"]["per_timestep"]),
            "cycles_by_phase": perf.get("phases", {})}


def table(rows: list[dict]) -> str:
    cap = rows[0]["capacity"]
    o = ["| model | T | lanes | fixed-point accuracy (10,000) | RTL mismatches | cycles/inference mean (min-max) | "
         "inferences/s at 100 MHz | LUT | FF | BRAM36 | DSP | worst path (est.) | compile |",
         "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ys = r["yosys"] or {}
        res = [f"{ys[k]:g} ({100 * ys[k] / cap[k]:.1f}%)" if k in ys else "-" for k in ("luts", "ffs", "bram36", "dsp")]
        tm = r.get("timing_estimate")
        path = f"{tm['worst_delay_ns']:.2f} ns, {tm['max_lut_levels']} LUT levels" if tm else "-"
        o.append(f"| {r['model']} | {r['T']} | {r['lanes']} | {100 * r['accuracy_fixed_10000']:.2f}% | {r['mismatches']} of "
                 f"{r['images_simulated']} | {r['cycles_mean']:,.0f} ({r['cycles_min']:,}-{r['cycles_max']:,}) | "
                 f"{r['inferences_per_s']:,} | " + " | ".join(res) + f" | {path} | {r['compile_s']:.1f} s |")
    for r in rows:
        ph = r.get("cycles_by_phase") or {}
        total = sum(ph.values()) or 1
        top = sorted(ph.items(), key=lambda kv: -kv[1])[:3]
        if top:
            o.append("")
            o.append(f"{r['model']}: cycles by phase (mean per inference): " + ", ".join(
                f"{k} {v:,.0f} ({100 * v / total:.0f}%)" for k, v in top) + "; the build's report.md lists every phase.")
    return "\n".join(o) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--images", type=int, default=200, help="MNIST test images to co-simulate (default 200)")
    ap.add_argument("--T", type=int, default=None, help="timesteps for every model (default: each model's)")
    ap.add_argument("--encoding", choices=("constant", "rate"), default="constant")
    ap.add_argument("--weight-bits", type=int, default=8)
    ap.add_argument("--lanes", type=int, default=None, help="lanes for every model (default: each model's)")
    ap.add_argument("--board", default="arty-a7-100")
    ap.add_argument("--no-synth", action="store_true", help="skip the Yosys estimate")
    ap.add_argument("--out", help="keep the builds here (default: a temporary directory)")
    ap.add_argument("--results", default=str(RESULTS), help="where fpga.json and fpga.md go")
    args = ap.parse_args(argv)

    from sncc.datasets import load_mnist

    (x, _), (xt, yt) = load_mnist()
    rows = []
    for name in args.models.split(","):
        rows.append(run_model(name.strip(), args, x, xt, yt, lambda s: print(s, flush=True)))
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    try:   # rows of models not run this time stay (run --models cnn alone after changing the CNN)
        kept = [r for r in json.loads((out / "fpga.json").read_text()) if r.get("model") not in
                {r["model"] for r in rows} and "accuracy_fixed_10000" in r]
    except (OSError, ValueError, TypeError, AttributeError):
        kept = []
    rows = sorted(kept + rows, key=lambda r: list(MODELS).index(r["model"]))
    text = table(rows)
    print(text)
    (out / "fpga.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out / "fpga.md").write_text(
        f"Artix-7 backend, XC7A100T (Arty A7-100), {args.encoding} encoding, {args.weight_bits}-bit weights; "
        "cycles from Verilator, resources from Yosys synth_xilinx (estimates, not Vivado).\n\n"
        + text)
    return 0 if all(r["mismatches"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
