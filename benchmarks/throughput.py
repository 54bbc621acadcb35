"""Simulation throughput on the 784-256-128-10 MNIST MLP (examples/mlp.onnx), side by side.

Samples per second on the 10,000 MNIST test images, at T = 8 and 32, for:
  sncc float      the Cython CPU simulator, float32
  sncc fixed      the Cython CPU simulator, bit-exact 8-bit fixed point (spec section 6)
  numpy reference sncc.interpret, the plain numpy executor of the IR
  SpikingJelly    its converter's network of the same trained weights (torch, CPU)
  ANN (ORT)       the ANN itself in onnxruntime: the practical floor
and the ratios between them. Writes results/throughput.md and .json.

    python benchmarks/throughput.py [--samples 10000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import machine  # noqa: E402

import sncc  # noqa: E402
from sncc.datasets import load_mnist  # noqa: E402
from sncc.pass_manager import PassContext  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "examples" / "mlp.onnx"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def torch_mlp_from_onnx(path) -> torch.nn.Module:
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 10))
    with torch.no_grad():
        for i in (0, 2, 4):
            net[i].weight.copy_(torch.from_numpy(inits[f"{i}.weight"]))
            net[i].bias.copy_(torch.from_numpy(inits[f"{i}.bias"]))
    return net.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    (x, _), (xt, yt) = load_mnist()
    xt, yt = xt[: args.samples], yt[: args.samples]
    n = len(xt)
    rows, accs = {}, {}
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    t_ort = best_of(lambda: sess.run(None, {"x": xt}), args.repeat)
    accs["ANN (ORT)"] = float((sess.run(None, {"x": xt})[0].argmax(1) == yt).mean())
    try:
        from spikingjelly.activation_based import ann2snn, functional
    except ImportError:
        ann2snn = None
        print("SpikingJelly not installed: skipping it (pip install --no-deps spikingjelly loguru requests ...)")
    for T in (8, 32):
        snn = sncc.convert(MODEL, calibration_data=x[:1000], T=T, progress=False)
        fixed = sncc.SpikingNetwork(sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone(), PassContext()))
        r = {}
        r["sncc float"] = best_of(lambda: snn.run(xt, backend="cpu"), args.repeat)
        accs[f"sncc float T={T}"] = float((snn.classify(xt, backend="cpu") == yt).mean())
        try:
            fixed.simulator("cpu")
            r["sncc fixed"] = best_of(lambda: fixed.run(xt, backend="cpu"), args.repeat)
        except sncc.SnccError as e:
            print(f"sncc fixed on the CPU backend: {e}")
        accs[f"sncc fixed T={T}"] = float((fixed.classify(xt) == yt).mean())
        r["numpy reference"] = best_of(lambda: snn.run(xt, backend="reference"), 1)
        if ann2snn is not None:
            loader = torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(torch.from_numpy(x[:1000]), torch.zeros(1000)), batch_size=100)
            sj = ann2snn.Converter(ann2snn.RateCodingRecipe(loader, mode="99.9%")).convert(torch_mlp_from_onnx(MODEL)).eval()
            xs = torch.from_numpy(xt)

            def run_sj():
                with torch.no_grad():
                    out = 0
                    for s in range(0, n, 2000):
                        functional.reset_net(sj)
                        acc = 0
                        for _ in range(T):
                            acc = acc + sj(xs[s:s + 2000])
                        out = acc
                return out

            r["SpikingJelly"] = best_of(run_sj, min(2, args.repeat))  # the first call warms torch up
        r["ANN (ORT)"] = t_ort
        rows[T] = {k: n / v for k, v in r.items()}
    lines = [f"Measured by `python benchmarks/throughput.py` on {machine()}: samples/s on {n} MNIST test images "
             f"(best of {args.repeat} runs; the numpy reference: one run, SpikingJelly: best of two).", "",
             "| simulator | T=8 | T=32 | T=32 vs SpikingJelly | T=32 vs ANN (ORT) |", "|---|---|---|---|---|"]
    for key in rows[32]:
        sj = rows[32].get("SpikingJelly")
        lines.append(f"| {key} | {rows[8].get(key, float('nan')):,.0f} | {rows[32][key]:,.0f} | "
                     + (f"{rows[32][key] / sj:.1f}x | " if sj else "n/a | ")
                     + f"{rows[32][key] / rows[32]['ANN (ORT)']:.2f}x |")
    lines += ["", "Accuracy on the same images: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in accs.items()) + "."]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.md").write_text("\n".join(lines) + "\n")
    (out / "throughput.json").write_text(json.dumps({"machine": machine(), "samples_per_second": rows,
                                                     "accuracy": accs}, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
