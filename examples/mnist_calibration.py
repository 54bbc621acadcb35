"""Write calib.npy (1,000 MNIST training images) and x_test.npy/y_test.npy for the CLI examples.

    python examples/mnist_calibration.py [OUT_DIR]
"""
import sys
from pathlib import Path

import numpy as np

from sncc.datasets import load_mnist

out = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
out.mkdir(parents=True, exist_ok=True)
(x, _), (xt, yt) = load_mnist()
np.save(out / "calib.npy", x[:1000])
np.save(out / "x_test.npy", xt)
np.save(out / "y_test.npy", yt)
print(f"wrote {out / 'calib.npy'} [1000, 784], x_test.npy [10000, 784], y_test.npy [10000]")
