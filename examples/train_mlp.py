"""Train the 784-256-128-10 MNIST MLP shipped as examples/mlp.onnx (seeded; ~20 CPU seconds).

    python examples/train_mlp.py            # writes examples/mlp.onnx
"""
import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sncc.datasets import load_mnist
from sncc.nn import train_classifier


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", default=str(Path(__file__).with_name("mlp.onnx")))
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args()
    torch.manual_seed(0)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    train_classifier(model, x_train, y_train, epochs=args.epochs)
    with torch.no_grad():
        acc = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 784),), args.o, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    print(f"test accuracy {100 * acc:.2f}% -> {args.o}")


if __name__ == "__main__":
    main()
