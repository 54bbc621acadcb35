"""The compiler driver: model file -> IR -> pipeline -> target, shared by the CLI and the API."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sncc.errors import SnccError, UnsupportedError
from sncc.ir import Module, load
from sncc.limits import check_T
from sncc.pass_manager import PassContext, PassManager

TARGETS = ("ir", "cpu", "artix7", "nir")
DEFAULT_PIPELINE = {"ir": "canonicalize,fold-batchnorm,dce"}


def load_model(path) -> Module:
    """An `.onnx` file through the ONNX frontend, an `.sir` file through the parser, a `.nir`
    graph through the NIR frontend (a spiking module), a `.pt2` torch.export program."""
    p = Path(path)
    if p.suffix == ".sir":
        return load(p)
    if p.suffix == ".nir":
        from sncc.nir_frontend import import_nir

        return import_nir(p).module
    if p.suffix == ".pt2":
        from sncc.torch_program import load_pt2

        return load_pt2(p)
    if p.suffix in (".pt", ".pth"):
        from sncc.torch_program import PT_MESSAGE

        raise SnccError(PT_MESSAGE.format(path=p, suffix=p.suffix))
    if p.suffix == ".onnx":
        from sncc.onnx_frontend import import_onnx

        return import_onnx(p)
    raise SnccError(f"'{p}': unknown model format '{p.suffix or '(no extension)'}'; give an .onnx model, a .pt2 torch.export program, a .nir graph or an .sir IR file")


def load_array(path, what: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise SnccError(f"{what} file '{p}' does not exist")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as e:
        raise SnccError(f"{what} file '{p}' is not a readable .npy array: {e}") from None
    if not isinstance(arr, np.ndarray):
        raise SnccError(f"{what} file '{p}' holds several arrays (an .npz); save one array with numpy.save")
    return arr


def write_atomically(path: Path, data: str | bytes, what: str = "output") -> None:
    """Write an output file without ever leaving it half-written or replacing a device or a
    symbolic link (`sncc.outputs.write_file`)."""
    from sncc.outputs import write_file

    write_file(path, data, what)


def compile_model(module: Module, pipeline: str, *, target: str = "ir", T: int | None = None,
                  calibration_data=None, instrumentation: dict | None = None) -> tuple[Module, PassContext]:
    if target not in TARGETS:
        raise SnccError(f"unknown target '{target}'; targets: {', '.join(TARGETS)}")
    if T is not None:
        check_T(T, "-T")
        module.attrs["T"] = int(T)
    pm = PassManager.parse(pipeline, **(instrumentation or {}))
    ctx = PassContext(calibration_data=calibration_data, T=T)
    module = pm.run(module, ctx)
    if target in ("cpu", "artix7", "nir") and not module.is_spiking:
        raise SnccError(f"target {target} needs a spiking network: give --calib FILE.npy to convert this model "
                        "(or a pipeline ending in convert-to-snn)")
    return module, ctx
