"""PyTorch models without ONNX by hand: `.pt2` files from `torch.export.save`.

    >>> ep = torch.export.export(model.eval(), (torch.zeros(1, 784),))   # doctest: +SKIP
    >>> torch.export.save(ep, "model.pt2")                              # doctest: +SKIP
    $ sncc model.pt2 --calib calib.npy --target artix7 -o build/

A `.pt2` archive holds the program as JSON and its weights as tensors. `torch.export.load`
would fall back to unpickling arbitrary Python objects (`torch.load(weights_only=False)`,
`pickle.loads`) when the archive asks for it; a model file is untrusted, so here every
`torch.load` is forced to `weights_only=True` (tensors only) and `pickle.loads` is refused
while the archive is read. The program is then exported to ONNX by torch's TorchScript
exporter and read by the ONNX frontend.

A plain `.pt`/`.pth` file is a pickled state dict or module: it holds no architecture that
can be read without running the code that defined it, and is refused with how to export.
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

from sncc.errors import SnccError

PT_MESSAGE = ("'{path}' is a PyTorch pickle ({suffix}): a state dict holds weights but no architecture, and "
              "unpickling a model runs code. Export the model with its architecture instead: "
              "torch.export.save(torch.export.export(model.eval(), (example_input,)), 'model.pt2') and give "
              "'model.pt2' (or torch.onnx.export(...) and give the .onnx file)")


@contextlib.contextmanager
def _tensors_only():
    import pickle

    import torch

    real_load, real_loads = torch.load, pickle.loads
    real_c = getattr(torch._C, "_pickle_load_obj", None)

    def load(f, *args, **kwargs):
        kwargs["weights_only"] = True  # the restricted unpickler: tensors and plain containers only
        return real_load(f, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise SnccError("the .pt2 archive holds pickled Python objects; sncc does not unpickle code from model files")

    torch.load, pickle.loads = load, refuse
    if real_c is not None:
        torch._C._pickle_load_obj = refuse
    try:
        yield
    finally:
        torch.load, pickle.loads = real_load, real_loads
        if real_c is not None:
            torch._C._pickle_load_obj = real_c


def load_pt2(path):
    """The float IR module of a `torch.export` program saved with `torch.export.save`."""
    try:
        import torch
    except ImportError:
        raise SnccError("reading a .pt2 program needs torch: pip install torch==2.13.0") from None
    import onnx

    from sncc.onnx_frontend import import_onnx

    p = Path(os.fspath(path))
    if not p.exists():
        raise SnccError(f"model file '{p}' does not exist")
    try:
        with _tensors_only(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ep = torch.export.load(str(p))
    except SnccError:
        raise
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SnccError(f"'{p}' is not a readable torch.export program (.pt2): {first[:200]}") from None
    try:
        example = ep.example_inputs[0]
    except Exception:
        example = None
    if not example or len(example) != 1 or not hasattr(example[0], "shape"):
        raise SnccError(f"'{p}': sncc takes a program with one tensor input, saved with its example input")
    gm = ep.module()
    for t in list(gm.parameters()) + list(gm.buffers()):
        t.requires_grad_(False)

    class Program(torch.nn.Module):
        """The program as a module the TorchScript exporter accepts (an unlifted export
        program refuses train()/eval(); it has no training mode to switch)."""

        def __init__(self):
            super().__init__()
            self.program = gm

        def train(self, mode=True):
            self.training = mode
            return self

        def forward(self, x):
            return self.program(x)

    buf = io.BytesIO()
    x = torch.zeros_like(example[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Program(), (x,), buf, input_names=["x"], output_names=["y"], dynamo=False)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise SnccError(f"'{p}': the program could not be lowered to ONNX: {first[:200]}") from None
    return import_onnx(onnx.load_from_string(buf.getvalue()), name=p.stem)
