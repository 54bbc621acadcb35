"""The shipped example models: sncc's float IR gives onnxruntime's logits (not softmax, not
only the argmax) on 1,000 real MNIST test images, after the default pipeline."""
from pathlib import Path

import numpy as np
import pytest

import sncc
from conftest import ort_run
from sncc.datasets import load_mnist

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name,shape", [("mlp", (-1, 784)), ("cnn", (-1, 1, 28, 28))])
def test_example_logits_equal_onnxruntime(name, shape):
    path = ROOT / "examples" / f"{name}.onnx"
    _, (xt, yt) = load_mnist()
    x = xt[:1000].reshape(shape).astype(np.float32)
    want = ort_run(str(path), x)
    m = sncc.PassManager.parse("canonicalize,fold-batchnorm,dce").run(sncc.import_onnx(path))
    got = sncc.interpret(m, x)
    assert got.shape == want.shape == (1000, 10)
    err = np.abs(got - want).max() / np.abs(want).max()
    assert err < 1e-5, err
    assert (got.argmax(1) == yt[:1000]).mean() > (0.97 if name == "mlp" else 0.985)
