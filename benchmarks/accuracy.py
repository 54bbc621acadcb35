"""Conversion accuracy on the real MNIST test set: sncc beside SpikingJelly, same trained models.

For each network (the 784-256-128-10 MLP with ReLU, the same MLP trained with QCFS, a
small CNN with BatchNorm and both poolings) it trains (seeded), converts with sncc and
with SpikingJelly's `Converter(RateCodingRecipe(loader, mode="99.9%"))`, and measures the
accuracy of the ANN and of the SNN at T = 1, 2, 4, 8, 16, 32, 64, with constant-current
and with rate-coded (Bernoulli) input, on all 10,000 test images. Writes
`results/accuracy.md`, `results/accuracy.json` and `results/accuracy.png`.

Low latency (`cnn_qcfs`, `resnet_qcfs`, T = 1 .. 32; `qcfs8`, an L = 8 MLP, for T below L): the ReLU network fine-tuned by
`sncc.nn.finetune_qcfs` (L = 4, over L in 4, 8, 16; `models.QCFS_FINETUNE`), converted
at each T (at T > L the conversion keeps the trained staircase, spec/ir.md 5.6), beside
the conversion of the ReLU network it came from ("sncc ReLU"), the same QCFS network
with a T-level staircase ("sncc T-staircase") and, for cnn_qcfs, 8-bit fixed point
("sncc fixed8": quantize{weight_bits=8}, the FPGA's arithmetic). Every QCFS model also
gets, at T <= L, a conversion with calibrated initial membranes ("sncc v0-calibrated",
`convert(v0_calibration=1000, first_spikes="v0")`). resnet_qcfs, which has residual adds
(convert's default first_spikes=auto is early for it, a QCFS network with residual adds), also gets the former default
("sncc first-spikes=v0") and the options for residual networks at every T, in float and
8-bit fixed point ("sncc early+v0-calibrated", "sncc early+v0-calibrated fixed8":
first_spikes="early", v0_calibration=1000). Rows are written as they are measured.

    python benchmarks/accuracy.py                   # everything (~15 CPU minutes, + ~40 for the QCFS models)
    python benchmarks/accuracy.py --models mlp --samples 2000 --no-spikingjelly

SpikingJelly is optional: `pip install --no-deps spikingjelly loguru requests urllib3 idna
charset-normalizer certifi` (no-deps, so it cannot replace torch).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models  # noqa: E402

import sncc  # noqa: E402

TS = [1, 2, 4, 8, 16, 32, 64]
TS_QCFS = [1, 2, 4, 8, 16, 32]  # the fine-tuned QCFS models (one conversion per T > L: keep the run short)
CALIB = 1000  # calibration images, from the training set, for both converters


def qcfs_levels(model) -> int | None:
    levels = {m.levels for m in model.modules() if isinstance(m, sncc.QCFSActivation)}
    return max(levels) if levels else None


def sncc_accuracy(model, x_calib, x_test, y_test, encoding: str, maxpool: str = "gate", Ts=TS,
                  staircase: str = "trained", weight_bits: int | None = None, v0_calibration: int = 0,
                  first_spikes: str = "auto", done=None):
    """{T: accuracy}. A QCFS network converted with the trained staircase is built for one T
    (spec/ir.md 5.6): the T <= L come from one run at T = L, every larger T from its own.
    The run at T = L goes first; done(acc) is called after each run (partial results)."""
    L = qcfs_levels(model)
    groups = [list(Ts)] if L is None or staircase == "T" else \
        [[t for t in Ts if t <= L]] + [[t] for t in Ts if t > L]
    if v0_calibration:  # the membranes are calibrated for one T: convert at each
        groups = [[t] for t in Ts]
    acc = {}
    for group in sorted(groups, key=lambda g: L not in g):  # stable: the rest in order
        if not group:
            continue
        T = max(group) if L is None or staircase == "T" or v0_calibration else max(max(group), L)
        snn = sncc.convert(model, calibration_data=x_calib, T=T, encoding=encoding, maxpool=maxpool,
                           staircase=staircase, v0_calibration=v0_calibration, first_spikes=first_spikes,
                           progress=False)
        if weight_bits is not None:
            from sncc.pass_manager import PassContext

            q = sncc.PassManager.parse(f"quantize{{weight_bits={weight_bits}}}").run(snn.module.clone(), PassContext())
            snn = sncc.SpikingNetwork(q)
        out = snn.run_over_time(x_test, group, progress=True)
        acc.update({t: float((o.argmax(1) == y_test).mean()) for t, o in out.items()})
        if done is not None:
            done(dict(sorted(acc.items())))
    return dict(sorted(acc.items()))


def spikingjelly_accuracy(model, x_calib, x_test, y_test, encoding: str, seed: int = 0, Ts=TS):
    from spikingjelly.activation_based import ann2snn, functional

    ann = copy.deepcopy(model)
    replaced = False
    for name, mod in list(ann.named_modules()):  # SpikingJelly converts ReLU modules; QCFS -> ReLU
        for cname, child in list(mod.named_children()):
            if isinstance(child, sncc.QCFSActivation):
                setattr(mod, cname, torch.nn.ReLU())
                replaced = True
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.from_numpy(x_calib), torch.zeros(len(x_calib))), batch_size=100)
    snn = ann2snn.Converter(ann2snn.RateCodingRecipe(loader, mode="99.9%")).convert(ann).eval()
    correct = {t: 0 for t in Ts}
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s in range(0, len(x_test), 500):
            x = torch.from_numpy(x_test[s:s + 500])
            functional.reset_net(snn)
            acc = 0
            for t in range(1, max(Ts) + 1):
                inp = (torch.rand(x.shape, generator=g) < x).float() if encoding == "rate" else x
                acc = acc + snn(inp)
                if t in correct:
                    correct[t] += int((acc.argmax(1).numpy() == y_test[s:s + 500]).sum())
    return {t: c / len(x_test) for t, c in correct.items()}, replaced


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}"


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        r = results[name]
        ax.axhline(100 * r["ann"], color="black", ls="--", lw=1, label=f"ANN {100 * r['ann']:.2f}%")
        for key, style in (("sncc constant", "-o"), ("sncc rate", "-s"), ("SpikingJelly constant", ":o"),
                           ("SpikingJelly rate", ":s")):
            if key in r["snn"]:
                ts = [t for t in TS if t in r["snn"][key]]
                ax.plot(ts, [100 * r["snn"][key][t] for t in ts], style, label=key, ms=4)
        for key, style in (("sncc fixed8 constant", "--^"), ("sncc ReLU constant", "-.v"),
                           ("sncc v0-calibrated constant", "-x")):
            if key in r["snn"]:
                ts = [t for t in TS if t in r["snn"][key]]
                ax.plot(ts, [100 * r["snn"][key][t] for t in ts], style, label=key, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_xticks(TS, [str(t) for t in TS])
        ax.set_ylim(max(0, 100 * r["ann"] - 12), 100 * r["ann"] + 1)
        ax.set_xlabel("timesteps T")
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def table(results) -> str:
    lines = ["| model | converter | input | ANN | " + " | ".join(f"T={t}" for t in TS) + " |",
             "|---|---|---|---|" + "---|" * len(TS)]
    for name, r in results.items():
        for key, accs in r["snn"].items():
            conv, enc = key.rsplit(" ", 1)
            ann = r["relu_ann"] if "ReLU" in conv and "relu_ann" in r else r["ann"]  # the network that row converts
            lines.append(f"| {name} | {conv} | {enc} | {100 * ann:.2f} | "
                         + " | ".join(f"{100 * accs[t]:.2f}" if t in accs else "–" for t in TS) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mlp,qcfs,qcfs8,cnn,cnn_qcfs,resnet_qcfs")
    ap.add_argument("--samples", type=int, default=10000, help="test images (default: all 10,000)")
    ap.add_argument("--no-spikingjelly", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--merge", action="store_true", help="keep the other models' results already in --out "
                    "(and the rows of this run's models that it does not measure)")
    ap.add_argument("--rows", default="", help="measure only these rows (comma-separated, e.g. 'sncc constant,"
                    "SpikingJelly rate'); default: all")
    ap.add_argument("--cache", default=None, help="folder to save the fine-tuned models in and load them from")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    have_sj = not args.no_spikingjelly
    if have_sj:
        try:
            import spikingjelly  # noqa: F401
        except ImportError:
            print("SpikingJelly is not installed: comparing sncc only (see the docstring to install it)")
            have_sj = False
    print(f"machine: {machine()}")
    rows = [k.strip() for k in args.rows.split(",") if k.strip()]

    def wanted(key):
        return not rows or key in rows or key.rsplit(" ", 1)[0] in rows

    results = {}  # this run's models; with --merge, write() adds them to those already in --out
    for name in args.models.split(","):
        finetuned = name.endswith("_qcfs")
        cached = args.cache is not None and (Path(args.cache) / f"{name}.pt").exists()
        if finetuned:
            model, relu, seconds, (x, y), (xt, yt) = models.finetuned(name, cache=args.cache)
        else:
            model, (x, y), (xt, yt) = models.trained(name)
        Ts = TS_QCFS if finetuned else TS
        xt, yt = xt[: args.samples], yt[: args.samples]
        ann = models.accuracy(model, xt, yt)
        calib = x[:CALIB]
        r = {"ann": ann, "snn": {}, "notes": []}
        results[name] = r

        def measure(key, **kw):
            if not wanted(key):
                return
            t = time.perf_counter()

            def done(acc):  # a partial row ('–' for the T still running) survives a run stopped early
                r["snn"][key] = acc
                print(f"  {name} {key} so far: {acc} ({time.perf_counter() - t:.0f} s)", flush=True)
                write(out, results, args.samples, args.merge)

            r["snn"][key] = sncc_accuracy(kw.pop("net", model), calib, xt, yt, Ts=kw.pop("Ts", Ts), done=done, **kw)
            print(f"{name} {key}: " + ", ".join(f"T={k}: {100 * v:.2f}" for k, v in r["snn"][key].items())
                  + f"  ({time.perf_counter() - t:.0f} s)", flush=True)
            write(out, results, args.samples, args.merge)  # each row as it comes: a long run keeps what it measured

        L = qcfs_levels(model)
        residual = name.startswith("resnet")  # residual adds: first_spikes=auto is early for its QCFS network
        if finetuned:
            r["relu_ann"] = models.accuracy(relu, xt, yt)
            r["finetune_seconds"] = seconds
            r["notes"].append(f"fine-tuned from a ReLU ANN of {100 * r['relu_ann']:.2f}% by "
                              f"sncc.nn.finetune_qcfs(L={models.QCFS_FINETUNE['L']}, "
                              f"epochs={models.QCFS_FINETUNE['epochs']}) in {seconds:.0f} s "
                              + ("(examples/cnn_qcfs.onnx's metadata, from examples/finetune_cnn_qcfs.py)"
                                 if name == "cnn_qcfs" else "on this machine"
                                 + (" (an earlier run of the same recipe, loaded from --cache)" if cached else ""))
                              + "; "
                              "the QCFS activations keep L = 4; 'sncc ReLU' converts that ReLU ANN, 'sncc "
                              "T-staircase' the QCFS network without keeping its staircase at T > L (spec/ir.md 5.6)")
        measure("sncc constant", encoding="constant")
        if residual:  # the options README recommends for residual networks, at every T, float and 8-bit
            r["notes"].append("'sncc' rows: convert's defaults (first_spikes=auto: early for this QCFS network, "
                              "which has residual adds; constant input only; v0 for its ReLU network, 'sncc ReLU'); "
                              "'sncc first-spikes=v0' the former default; "
                              "'sncc v0-calibrated' first_spikes=v0 with v0_calibration; 'sncc early+v0-calibrated' "
                              f"first_spikes=early with v0_calibration={models.V0_CALIBRATION}, at every T; its "
                              "'fixed8' in 8-bit fixed point (quantize{weight_bits=8})")
            measure("sncc early+v0-calibrated constant", encoding="constant", first_spikes="early",
                    v0_calibration=models.V0_CALIBRATION)
            measure("sncc early+v0-calibrated fixed8 constant", encoding="constant", first_spikes="early",
                    v0_calibration=models.V0_CALIBRATION, weight_bits=8)
            measure("sncc ReLU constant", encoding="constant", net=relu)
        measure("sncc rate", encoding="rate")
        if L is not None:  # latency below the trained L: initial membranes calibrated (T <= L only)
            measure("sncc v0-calibrated constant", encoding="constant", Ts=[t for t in Ts if t <= L],
                    v0_calibration=models.V0_CALIBRATION, first_spikes="v0")
        if residual:
            measure("sncc first-spikes=v0 constant", encoding="constant", first_spikes="v0")
        if finetuned:
            if not residual:
                measure("sncc ReLU constant", encoding="constant", net=relu)
            measure("sncc T-staircase constant", encoding="constant", staircase="T")
            if name == "cnn_qcfs":
                measure("sncc fixed8 constant", encoding="constant", weight_bits=8)
        if name == "cnn":
            t = time.perf_counter()
            avg = sncc_accuracy(model, calib, xt, yt, "constant", maxpool="avg")
            r["maxpool_as_avg"] = avg
            print(f"{name} sncc constant, maxpool=avg: " + ", ".join(f"T={k}: {100 * v:.2f}" for k, v in avg.items())
                  + f"  ({time.perf_counter() - t:.0f} s)")
        if have_sj:
            for enc in [e for e in ("constant", "rate") if wanted(f"SpikingJelly {e}")]:
                t = time.perf_counter()
                accs, replaced = spikingjelly_accuracy(model, calib, xt, yt, enc, Ts=Ts)
                r["snn"][f"SpikingJelly {enc}"] = accs
                if replaced and enc == "constant":
                    r["notes"].append("SpikingJelly converts ReLU modules only: its QCFS run replaces each "
                                      "QCFSActivation by ReLU (same weights)")
                print(f"{name} SpikingJelly {enc}: " + ", ".join(f"T={k}: {100 * v:.2f}" for k, v in accs.items())
                      + f"  ({time.perf_counter() - t:.0f} s)", flush=True)
                write(out, results, args.samples, args.merge)
        write(out, results, args.samples, args.merge)


# the order of a model's rows in the table (rows measured in another order for a long run's sake)
ROWS = ["sncc constant", "sncc rate", "sncc first-spikes=v0 constant", "sncc v0-calibrated constant",
        "sncc early+v0-calibrated constant", "sncc early+v0-calibrated fixed8 constant", "sncc ReLU constant",
        "sncc T-staircase constant", "sncc fixed8 constant", "SpikingJelly constant", "SpikingJelly rate"]


def load(saved: Path) -> dict:
    """The results in an accuracy.json (T keys back to int)."""
    return {k: {**v, "snn": {c: {int(t): a for t, a in r.items()} for c, r in v["snn"].items()},
                **({"maxpool_as_avg": {int(t): a for t, a in v["maxpool_as_avg"].items()}}
                   if "maxpool_as_avg" in v else {})}
            for k, v in json.loads(saved.read_text())["results"].items()}


def write(out: Path, results: dict, samples: int, merge: bool = False):
    saved = out / "accuracy.json"
    # merge: read --out again at every write, so that a concurrent run of other models is kept too
    old = load(saved) if merge and saved.exists() else {}
    results = {**old, **{k: {**r, "snn": {**old[k]["snn"], **r["snn"]} if k in old else r["snn"],
                             "notes": list(dict.fromkeys((old[k]["notes"] if k in old else []) + r["notes"]))}
                         for k, r in results.items()}}
    for r in results.values():
        r["snn"] = dict(sorted(r["snn"].items(), key=lambda kv: ROWS.index(kv[0]) if kv[0] in ROWS else len(ROWS)))
    md = [f"Measured by `python benchmarks/accuracy.py` on {machine()}; {samples} MNIST test images, "
          f"{CALIB} calibration images; accuracy in %.", "", table(results), ""]
    for name, r in results.items():
        for note in r["notes"]:
            md.append(f"* {name}: {note}.")
        if "maxpool_as_avg" in r:
            md.append(f"* {name}: max pooling as gated max (default) vs rewritten to average pooling, constant input: "
                      + ", ".join(f"T={t}: {100 * r['snn']['sncc constant'][t]:.2f} vs {100 * r['maxpool_as_avg'][t]:.2f}"
                                  for t in TS) + ".")
    (out / "accuracy.md").write_text("\n".join(md) + "\n")
    (out / "accuracy.json").write_text(json.dumps({"machine": machine(), "samples": samples, "results": results},
                                                  indent=1, default=str) + "\n")
    plot(results, out / "accuracy.png")
    print("\n" + "\n".join(md))
    print(f"wrote {out / 'accuracy.md'}, accuracy.json, accuracy.png")


if __name__ == "__main__":
    main()
