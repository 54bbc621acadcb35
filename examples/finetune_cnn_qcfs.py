"""Fine-tune the benchmark CNN (examples/cnn.onnx, ReLU, 99.03%) into a QCFS network with
L = 4 levels, for spiking inference at T = 4: writes examples/cnn_qcfs.onnx.

    python examples/finetune_cnn_qcfs.py            # seeded; 3 epochs (runtime below)

It reads the trained weights from the ONNX file (the exporter folded BatchNorm into the
convolutions), replaces each ReLU by a `QCFSActivation` (L = 4) with lambda from the 99.9th
percentile of that ReLU on 1,000 training images, and fine-tunes all of it for 3 epochs
with `sncc.nn.finetune_qcfs` (Adam, lr 5e-4, cosine). It writes the fine-tuning time into
the ONNX metadata (`finetune_seconds`). Measured: 965 s wall (about 8 CPU minutes; 2
threads on a 2-core machine shared with other jobs); ReLU ANN 99.03% -> QCFS ANN 98.82%.
sncc converts it at any T >= 4 keeping its trained staircase (spec/ir.md 5.6).

Measured alternatives (not shipped; all 10,000 test images, constant input, sncc's
defaults; fixed8 = quantize{weight_bits=8}): from the 99.15% ReLU CNN of
`train_cnn.py --epochs 10 --shift 2`, this script (3 epochs, lr 5e-4) gave
  --shift 0: QCFS ANN 99.01% in 657 s; SNN float T=1..32: 94.26, 97.81, 98.74, 98.74,
             98.74, 98.74; fixed8: 93.20, 97.53, 98.65, 98.67, 98.06, 98.05
  --shift 2: QCFS ANN 98.91% in 578 s; float: 92.56, 97.26, 98.67, 98.67, 98.63, 98.55;
             fixed8: 91.80, 96.80, 98.53, 98.49, 97.87, 97.80
both below the shipped pair's fixed8 98.71% at T = 4 (and far below it at T = 16, 32):
the stronger ReLU ANN did not carry over to the spiking network.

Towards issue 8's 99.0% in fixed8 at T <= 16 (same architecture; all 10,000 test images;
SNN at T = 4, 8, 16 with the trained staircase; 2 threads, machine shared with two jobs):
  --epochs 5 (lr 5e-4, from cnn.onnx): QCFS ANN 98.79% in 1,119 s (train loss 0.005:
             more epochs overfit); float 98.81, 98.83, 98.80; fixed8 98.87, 98.85, 98.72
  --init scratch --epochs 8 --lr 1e-3 --shift 1 (QCFS from random weights, BatchNorm
             trained and folded by the export): QCFS ANN 98.80% in 2,510 s; float 98.35,
             96.57, 83.99; fixed8 98.32, 96.51, 83.85 (converts worse than fine-tuning
             from ReLU, and collapses at T > L)
  --lr 2e-4 (3 epochs, from cnn.onnx): QCFS ANN 98.74% in 685 s; float 98.78, 98.69,
             98.68; fixed8 98.70, 98.69, 98.57
  --lr 1e-3 (3 epochs, from cnn.onnx): QCFS ANN 98.93% in 999 s; float 98.80, 98.85,
             98.86; fixed8 98.77, 98.76, 98.85
None reaches 99.0%; no examples/cnn99.onnx. (This evaluation reproduces the shipped
pair's T = 4 numbers: QCFS ANN 98.82%, float 98.76%, fixed8 98.71%.)
"""
import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sncc.datasets import load_mnist
from sncc.nn import QCFSActivation, finetune_qcfs

HERE = Path(__file__).resolve().parent


def make_folded() -> nn.Module:
    """The benchmark CNN with BatchNorm folded into the convolutions (as in cnn.onnx)."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def load_cnn(path=HERE / "cnn.onnx") -> nn.Module:
    """examples/cnn.onnx (ReLU) or cnn_qcfs.onnx (QCFS) as a torch module, read with sncc's
    ONNX importer: weights in graph order (conv, conv, dense), each activation a ReLU or a
    QCFSActivation with the file's lambda and L."""
    import sncc

    m = sncc.import_onnx(str(path))
    model = make_folded()
    layers = [mod for mod in model if isinstance(mod, (nn.Conv2d, nn.Linear))]
    weighted = [op for op in m.ops if op.kind in ("conv2d", "dense")]
    acts = [op for op in m.ops if op.kind in ("relu", "qcfs")]
    if len(weighted) != len(layers) or len(acts) != 2:
        raise ValueError(f"{path} does not have the benchmark CNN's layers")
    with torch.no_grad():
        for layer, op in zip(layers, weighted):
            layer.weight.copy_(torch.from_numpy(m.const_value(op.operands[1]).copy()))
            layer.bias.copy_(torch.from_numpy(m.const_value(op.operands[2]).copy()))
    for i, op in zip((1, 4), acts):
        if op.kind == "qcfs":
            model[i] = QCFSActivation(op.attrs["levels"], float(op.attrs["threshold"]))
    return model.eval()


def finetune_seconds(path) -> float | None:
    """The fine-tuning time recorded in the ONNX file's metadata by this script."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return float(meta["finetune_seconds"]) if "finetune_seconds" in meta else None


def export(model: nn.Module, path, metadata: dict | None = None):
    import io

    import onnx

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), buf, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    proto = onnx.load_from_string(buf.getvalue())
    for k, v in (metadata or {}).items():
        proto.metadata_props.add(key=k, value=str(v))
    onnx.save(proto, str(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", default=str(HERE / "cnn_qcfs.onnx"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--levels", default="4", help="L, or L,L2,... to fine-tune over several levels")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--shift", type=int, default=0, help="random whole-pixel shifts of the training images, 0: none")
    ap.add_argument("--init", default=str(HERE / "cnn.onnx"),
                    help="the ReLU CNN (ONNX) to start from, or 'scratch': train_cnn.py's untrained CNN with "
                         "BatchNorm (folded by the export), QCFS trained from random weights")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    (x, y), (xt, yt) = load_mnist()
    x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    if args.init == "scratch":
        from train_cnn import make

        torch.manual_seed(args.seed)
        relu = make().eval()
    else:
        relu = load_cnn(args.init)
    levels = tuple(int(v) for v in args.levels.split(","))
    t = time.perf_counter()
    model = finetune_qcfs(relu, x, y, L=levels if len(levels) > 1 else levels[0], epochs=args.epochs, lr=args.lr,
                          shift=args.shift, seed=args.seed)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        acc = lambda m: float((m(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())  # noqa: E731
        print(f"ReLU ANN {100 * acc(relu):.2f}%, QCFS ANN (L={levels[0]}) {100 * acc(model):.2f}%, "
              f"fine-tuned in {seconds:.0f} s")
    export(model, args.o, {"finetune_seconds": f"{seconds:.0f}", "finetune": f"L={args.levels} epochs={args.epochs} "
                           f"lr={args.lr} " + (f"shift={args.shift} " if args.shift else "")  # as before without shifts
                           + f"seed={args.seed}, from "
                           + ("random weights" if args.init == "scratch" else f"examples/{Path(args.init).name}")})
    print(f"-> {args.o}")


if __name__ == "__main__":
    main()
