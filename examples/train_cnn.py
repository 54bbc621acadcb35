"""Train the MNIST CNN shipped as examples/cnn.onnx (seeded; 15 epochs, about 25 CPU minutes; 99.03% test accuracy).

    conv 3x3 16 - BN - ReLU - avgpool 2 - conv 3x3 32 - BN - ReLU - maxpool 2 - linear 10

The architecture of the benchmarks (benchmarks/models.py, "cnn"), trained longer.

    python examples/train_cnn.py            # writes examples/cnn.onnx
"""
import argparse
import warnings
from pathlib import Path

import torch
from torch import nn

from sncc.datasets import load_mnist
from sncc.nn import train_classifier


def make() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", default=str(Path(__file__).with_name("cnn.onnx")))
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    (x_train, y_train), (x_test, y_test) = load_mnist()
    x_train, x_test = x_train.reshape(-1, 1, 28, 28), x_test.reshape(-1, 1, 28, 28)
    model = make()
    train_classifier(model, x_train, y_train, epochs=args.epochs)
    with torch.no_grad():
        acc = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), args.o, input_names=["x"], output_names=["logits"],
                          dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}}, dynamo=False)
    print(f"test accuracy {100 * acc:.2f}% -> {args.o}")


if __name__ == "__main__":
    main()
