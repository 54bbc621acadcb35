"""Fine-tune the benchmark CNN (examples/cnn.onnx, ReLU, 99.03%) into a QCFS network with
L = 4 levels, for spiking inference at T = 4: writes examples/cnn_qcfs.onnx.

    python examples/finetune_cnn_qcfs.py            # seeded; 3 epochs, about 6 CPU minutes (2 threads)

It reads the trained weights from the ONNX file (the exporter folded BatchNorm into the
convolutions), replaces each ReLU by a `QCFSActivation` with lambda from the 99.9th
percentile of that ReLU on 1,000 training images, and fine-tunes with
`sncc.nn.finetune_qcfs` over L in (4, 8, 16) so the network converts well at every T >= 4.
"""
import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sncc.datasets import load_mnist
from sncc.nn import finetune_qcfs

HERE = Path(__file__).resolve().parent


def make_folded() -> nn.Module:
    """The benchmark CNN with BatchNorm folded into the convolutions (as in cnn.onnx)."""
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def load_cnn(path=HERE / "cnn.onnx") -> nn.Module:
    """examples/cnn.onnx as a torch module (weights in graph order: conv, conv, linear)."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(str(path)).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    model = make_folded()
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    nodes = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    assert len(nodes) == len(layers), "cnn.onnx does not have the benchmark CNN's layers"
    with torch.no_grad():
        for layer, node in zip(layers, nodes):
            layer.weight.copy_(torch.from_numpy(init[node.input[1]].copy()))
            layer.bias.copy_(torch.from_numpy(init[node.input[2]].copy()))
    return model.eval()


def export(model: nn.Module, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(path), input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", default=str(HERE / "cnn_qcfs.onnx"))
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--levels", default="4,8,16", help="L, or L,L2,... to fine-tune over several levels")
    ap.add_argument("--lr", type=float, default=5e-4)
    args = ap.parse_args()
    torch.set_num_threads(2)
    (x, y), (xt, yt) = load_mnist()
    x, xt = x.reshape(-1, 1, 28, 28), xt.reshape(-1, 1, 28, 28)
    relu = load_cnn()
    levels = tuple(int(v) for v in args.levels.split(","))
    t = time.perf_counter()
    model = finetune_qcfs(relu, x, y, L=levels if len(levels) > 1 else levels[0], epochs=args.epochs, lr=args.lr)
    seconds = time.perf_counter() - t
    with torch.no_grad():
        acc = lambda m: float((m(torch.from_numpy(xt)).argmax(1).numpy() == yt).mean())  # noqa: E731
        print(f"ReLU ANN {100 * acc(relu):.2f}%, QCFS ANN (L={levels[0]}) {100 * acc(model):.2f}%, "
              f"fine-tuned in {seconds:.0f} s")
    export(model, args.o)
    print(f"-> {args.o}")


if __name__ == "__main__":
    main()
