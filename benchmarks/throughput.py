"""Simulation throughput, side by side, on three MNIST networks:

  mlp     784-256-128-10 (examples/mlp.onnx), T = 8 and 32, 10,000 test images
  bcnn    the benchmark CNN: conv16-BN-ReLU-avgpool, conv32-BN-ReLU-avgpool, dense
          (benchmarks/models.py), T = 8 and 16, 2,000 test images
  resnet  a small ResNet with residual adds (benchmarks/models.py), T = 8 and 16, 2,000 images

Samples per second for:
  sncc float      the Cython CPU simulator, float32
  sncc fixed      the Cython CPU simulator, bit-exact 8-bit fixed point (spec section 6)
  numpy reference sncc.interpret, the plain numpy executor of the IR (MLP only: slow on CNNs)
  SpikingJelly    its converter's network of the same trained weights (torch, CPU, 2 threads)
  ANN (ORT)       the ANN itself in onnxruntime: the practical floor
and the ratios between them. The CNN and the ResNet are trained here (seeded, 1 epoch: the
point is speed; their accuracies are reported) and cached in benchmarks/.cache/.
Writes results/throughput.md and .json.

    python benchmarks/throughput.py [--repeat 3] [--models mlp,bcnn,resnet]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models  # noqa: E402
from accuracy import machine  # noqa: E402

import sncc  # noqa: E402
from sncc.datasets import load_mnist  # noqa: E402
from sncc.pass_manager import PassContext  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache"
#: model -> (timesteps, test images)
SETUPS = {"mlp": ((8, 32), 10000), "bcnn": ((8, 16), 2000), "resnet": ((8, 16), 2000)}


def best_of(fn, repeat: int) -> float:
    return timed(fn, repeat)[0]


def timed(fn, repeat: int):
    """(best time of `repeat` calls, the last call's result)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def torch_mlp_from_onnx(path) -> torch.nn.Module:
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                              torch.nn.Linear(128, 10))
    with torch.no_grad():
        for i in (0, 2, 4):
            net[i].weight.copy_(torch.from_numpy(inits[f"{i}.weight"]))
            net[i].bias.copy_(torch.from_numpy(inits[f"{i}.bias"]))
    return net.eval()


def network(name: str) -> tuple[torch.nn.Module, Path]:
    """(torch model, ONNX path): the example MLP, or a benchmark network trained once (cached)."""
    if name == "mlp":
        path = ROOT / "examples" / "mlp.onnx"
        return torch_mlp_from_onnx(path), path
    CACHE.mkdir(exist_ok=True)
    state, path = CACHE / f"{name}.pt", CACHE / f"{name}.onnx"
    model = models.make(name)
    if state.exists() and path.exists():
        model.load_state_dict(torch.load(state))
        model.eval()
    else:
        model, _, _ = models.trained(name)
        torch.save(model.state_dict(), state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(path), input_names=["x"],
                              output_names=["logits"], dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    return model, path


def spikingjelly_runner(model, x_calib: np.ndarray, xt: np.ndarray, T: int, batch: int):
    from spikingjelly.activation_based import ann2snn, functional

    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x_calib), torch.zeros(len(x_calib))), batch_size=100)
    sj = ann2snn.Converter(ann2snn.RateCodingRecipe(loader, mode="99.9%")).convert(model).eval()
    xs = torch.from_numpy(xt)

    def run():
        outs = []
        with torch.no_grad():
            for s in range(0, len(xs), batch):
                functional.reset_net(sj)
                acc = 0
                for _ in range(T):
                    acc = acc + sj(xs[s:s + batch])
                outs.append(acc)
        return torch.cat(outs).numpy()
    return run


def bench(name: str, x: np.ndarray, xt: np.ndarray, yt: np.ndarray, repeat: int, have_sj: bool):
    Ts, n = SETUPS[name]
    xt, yt = models.inputs(name, xt[:n]), yt[:n]
    x_calib = models.inputs(name, x[:1000])
    model, path = network(name)
    rows, accs = {}, {}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    t_ort = best_of(lambda: sess.run(None, {"x": xt}), repeat)
    accs["ANN (ORT)"] = float((sess.run(None, {"x": xt})[0].argmax(1) == yt).mean())
    for T in Ts:
        snn = sncc.convert(str(path), calibration_data=x_calib, T=T, progress=False)
        fixed = sncc.SpikingNetwork(sncc.PassManager.parse("quantize{weight_bits=8}").run(snn.module.clone(),
                                                                                          PassContext()))
        r = {}
        snn.run(xt[:200], backend="cpu")  # warm up (buffers, thread pool)
        r["sncc float"], out = timed(lambda: snn.run(xt, backend="cpu"), repeat)
        accs[f"sncc float T={T}"] = float((out.argmax(1) == yt).mean())
        try:
            fixed.run(xt[:200], backend="cpu")
            r["sncc fixed"], out = timed(lambda: fixed.run(xt, backend="cpu"), repeat)
            accs[f"sncc fixed T={T}"] = float((out.argmax(1) == yt).mean())
        except sncc.SnccError as e:
            print(f"{name}: sncc fixed on the CPU backend: {e}")
        if name == "mlp":
            r["numpy reference"] = best_of(lambda: snn.run(xt, backend="reference"), 1)
        if have_sj:
            run_sj = spikingjelly_runner(model, x_calib, xt, T, 2000 if name == "mlp" else 500)
            r["SpikingJelly"], out = timed(run_sj, min(2, repeat))  # the first call warms torch up
            accs[f"SpikingJelly T={T}"] = float((out.argmax(1) == yt).mean())
        r["ANN (ORT)"] = t_ort
        rows[T] = {k: n / v for k, v in r.items()}
        print(f"{name} T={T}: " + ", ".join(f"{k} {v:,.0f}/s" for k, v in rows[T].items()), flush=True)
    return rows, accs, n


def table(name: str, rows: dict, accs: dict, n: int) -> list[str]:
    t0, t1 = sorted(rows)
    lines = [f"{name} ({n:,} test images):", "",
             f"| model | simulator | T={t0} | T={t1} | T={t1} vs SpikingJelly | T={t1} vs ANN (ORT) |",
             "|---|---|---|---|---|---|"]
    for key in rows[t1]:
        sj = rows[t1].get("SpikingJelly")
        lines.append(f"| {name} | {key} | {rows[t0].get(key, float('nan')):,.0f} | {rows[t1][key]:,.0f} | "
                     + (f"{rows[t1][key] / sj:.1f}x | " if sj else "n/a | ")
                     + f"{rows[t1][key] / rows[t1]['ANN (ORT)']:.3f}x |")
    ratios = [f"T={t}: {rows[t]['sncc fixed'] / rows[t]['sncc float']:.2f}" for t in (t0, t1)
              if "sncc fixed" in rows[t]]
    lines += ["", f"{name}: fixed/float speed {', '.join(ratios)}. Accuracy on the same images: "
              + ", ".join(f"{k} {100 * v:.2f}%" for k, v in accs.items()) + ".", ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--models", default=",".join(SETUPS))
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    (x, _), (xt, yt) = load_mnist()
    try:
        import spikingjelly.activation_based.ann2snn  # noqa: F401
        have_sj = True
    except ImportError:
        have_sj = False
        print("SpikingJelly not installed: skipping it (pip install --no-deps spikingjelly loguru requests ...)")
    names = [m for m in args.models.split(",") if m]
    lines = [f"Measured by `python benchmarks/throughput.py` on {machine()}: samples/s, best of {args.repeat} runs "
             f"(the numpy reference: one run, SpikingJelly: best of two); sncc and onnxruntime use both cores, "
             f"torch 2 threads.", ""]
    data = {"machine": machine(), "samples_per_second": {}, "accuracy": {}, "samples": {}}
    for name in names:
        rows, accs, n = bench(name, x, xt, yt, args.repeat, have_sj)
        lines += table(name, rows, accs, n)
        data["samples_per_second"][name] = rows
        data["accuracy"][name] = accs
        data["samples"][name] = n
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "throughput.md").write_text("\n".join(lines).rstrip() + "\n")
    (out / "throughput.json").write_text(json.dumps(data, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
