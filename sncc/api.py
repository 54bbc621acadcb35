"""The user-facing conversion API: `sncc.convert(...)` -> `SpikingNetwork`.

    >>> import numpy as np, sncc
    >>> from sncc.datasets import load_mnist                          # doctest: +SKIP
    >>> (x, y), (x_test, y_test) = load_mnist()                       # doctest: +SKIP
    >>> snn = sncc.convert("examples/mlp.onnx", calibration_data=x[:1000], T=32)  # doctest: +SKIP
    >>> (snn.classify(x_test) == y_test).mean()                       # doctest: +SKIP
    0.98
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from sncc.errors import SnccError
from sncc.ir import Module
from sncc.limits import check_T
from sncc.pass_manager import PassContext, PassManager


def _to_onnx(model, example: np.ndarray):
    """Export a torch.nn.Module with the TorchScript exporter (no onnxscript needed)."""
    try:
        import torch
    except ImportError:
        raise SnccError("converting a torch.nn.Module needs torch: pip install torch==2.13.0") from None
    import onnx

    model = model.eval()
    buf = io.BytesIO()
    x = torch.from_numpy(np.ascontiguousarray(example[:1], dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(model, (x,), buf, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "N"}, "y": {0: "N"}}, dynamo=False)
        except Exception as e:  # the model rejected the example, or torch cannot export it
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SnccError(f"could not export the {type(model).__name__} to ONNX with an example input of shape "
                            f"{list(x.shape)} taken from calibration_data: {first}; give calibration data in the "
                            "model's own input shape") from None
    return onnx.load_from_string(buf.getvalue())


def _first_linear_shape(model) -> tuple[int, ...]:
    """The input shape of an nn.Module whose first weighted layer is a Linear (an MLP)."""
    for mod in model.modules():
        if type(mod).__name__ == "Linear":
            return (int(mod.in_features),)
        if type(mod).__name__.startswith("Conv"):
            break
    raise SnccError(f"converting a {type(model).__name__} without calibration_data needs its input shape: "
                    "give input_shape=(C, H, W) (or calibration_data)")


def _as_batch(calibration_data) -> np.ndarray:
    if hasattr(calibration_data, "detach"):
        calibration_data = calibration_data.detach().cpu().numpy()
    x = np.asarray(calibration_data, dtype=np.float32)
    if x.ndim < 2 or len(x) == 0:
        raise SnccError(f"calibration data of shape {list(x.shape)}: give a batch [N, ...] of at least one sample")
    return x


def import_model(model, calibration_data=None, input_shape=None) -> Module:
    """A float IR module from a torch.nn.Module, an ONNX path/ModelProto, a .pt2 torch.export
    program, an .sir path or a Module."""
    from sncc.onnx_frontend import import_onnx

    if isinstance(model, Module):
        return model.clone()
    if isinstance(model, (str, os.PathLike)):
        from sncc.driver import load_model

        return load_model(model)
    if type(model).__module__.startswith("onnx") or isinstance(model, (bytes, bytearray)):
        return import_onnx(model)
    if hasattr(model, "state_dict") and hasattr(model, "forward"):
        if calibration_data is not None:
            example = _as_batch(calibration_data)
        else:
            shape = tuple(input_shape) if input_shape is not None else _first_linear_shape(model)
            example = np.zeros((1,) + shape, np.float32)
        return import_onnx(_to_onnx(model, example), name=type(model).__name__.lower())
    raise SnccError(f"cannot convert a {type(model).__name__}: give a torch.nn.Module, an ONNX file or ModelProto, "
                    "or an .sir file")


class SpikingNetwork:
    """A converted spiking network: its IR `module`, `T`, and a simulator to `run` it.

    `run(x)` takes one sample or a batch (numpy or torch) and returns the readouts
    (accumulated output membranes, or output spike counts); `classify(x)` their argmax.
    The numpy reference interpreter executes it (`backend="reference"`).
    """

    def __init__(self, module: Module, report: dict | None = None):
        if not module.is_spiking:
            raise SnccError("SpikingNetwork needs a spiking module (run convert-to-snn)")
        self.module = module
        self.report = report or {}
        self._cpu = None

    @property
    def T(self) -> int:
        return int(self.module.attrs["T"])

    @property
    def n_layers(self) -> int:
        """Number of weighted layers (dense and conv2d ops), SC-NeuroCore's count: 3 for a
        784-256-128-10 MLP. A sum pool written as an all-ones depthwise convolution is not one."""
        def weighted(op):
            if op.kind not in ("dense", "conv2d", "matmul"):
                return False
            w = self.module.const_value(op.operands[1])
            return not (op.kind == "conv2d" and op.attrs["groups"] > 1 and w is not None and w.shape[1] == 1
                        and np.all(w == 1) and len(op.operands) == 2)
        return sum(weighted(op) for op in self.module.ops)

    @property
    def n_neuron_layers(self) -> int:
        """Number of IF neuron layers (an output layer included for count readout)."""
        return sum(op.kind == "if" for op in self.module.ops)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.module.inputs[0].type.shape

    @property
    def fixed(self) -> bool:
        """True for a quantized network (integer arithmetic, spec/ir.md section 6)."""
        from sncc.types import Fixed

        return any(isinstance(v.type.elem, Fixed) for v in self.module.inputs)

    def _check_staircase(self, T: int):
        built = self.module.attrs.get("staircase_T")
        if built is not None and int(T) != int(built):
            import logging

            logging.getLogger("sncc").warning(
                f"this QCFS network's currents were scaled for T = {built} (spec/ir.md section 5.6); run at T = {T} "
                f"it does not compute the trained staircase: convert it again with T={T}")

    def simulator(self, backend: str = "auto"):
        """The backend that runs this network: "cpu" (the compiled simulator), "reference"
        (the numpy interpreter) or "auto" (cpu when it supports the network)."""
        if backend not in ("auto", "cpu", "reference"):
            raise SnccError(f"unknown backend '{backend}'; available: auto, cpu, reference")
        if backend == "reference":
            return None
        try:
            from sncc.backends.cpu import CpuSimulator

            if self._cpu is None:
                self._cpu = CpuSimulator(self.module, mode="fixed" if self.fixed else "float")
            return self._cpu
        except (ImportError, SnccError) as e:
            if backend == "cpu":
                raise SnccError(f"the CPU backend cannot run this network: {e}") from None
            return None

    def run(self, x, T: int | None = None, *, batch_size: int = 2000, backend: str = "auto",
            progress: bool = False, record: bool = False):
        """Readouts for one sample ([n_outputs]) or a batch ([N, n_outputs]) after T timesteps.

        With `record=True` it returns (readouts, {neuron layer: total spikes}) for firing rates."""
        from sncc.interpreter import interpret

        if T is not None:
            check_T(T)
            self._check_staircase(T)
        sim = self.simulator(backend)
        xb, single = self.module.input_batch(x)
        chunks = range(0, len(xb), batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"simulate T={T or self.T}", unit="batch", leave=False)
        outs, spikes = [], {}
        for s in chunks:
            xs = xb[s:s + batch_size]
            if sim is not None:
                res = sim.run(xs, T=T, record=record)
                out, counts = res if record else (res, {})
            else:
                counts = {}

                def count(op, value, counts=counts):
                    if op.kind == "if":
                        counts[op.result.name] = counts.get(op.result.name, 0) + int(value.sum())

                out = interpret(self.module, xs, T=T, observer=count if record else None)
            outs.append(out)
            for k, v in counts.items():
                spikes[k] = spikes.get(k, 0) + int(v)
        out = np.concatenate(outs)
        out = out[0] if single else out
        return (out, spikes) if record else out

    def run_over_time(self, x, Ts, *, batch_size: int = 2000, progress: bool = False,
                      backend: str = "auto") -> dict[int, np.ndarray]:
        """{T: readouts after T timesteps} for every T in `Ts`, from one simulation of max(Ts) steps."""
        from sncc.interpreter import interpret

        sim = self.simulator(backend)
        run = (lambda xs, Ts: sim.run(xs, snapshots=Ts)) if sim is not None else \
            (lambda xs, Ts: interpret(self.module, xs, snapshots=Ts))

        Ts = sorted({int(t) for t in Ts})
        if not Ts:
            raise SnccError("give at least one number of timesteps")
        check_T(Ts[0], "timesteps")
        check_T(Ts[-1], "timesteps")
        self._check_staircase(Ts[-1])
        xb, single = self.module.input_batch(x)
        chunks = range(0, len(xb), batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"simulate T<={Ts[-1]}", unit="batch", leave=False)
        parts = [run(xb[s:s + batch_size], Ts) for s in chunks]
        return {t: (np.concatenate([p[t] for p in parts])[0] if single else np.concatenate([p[t] for p in parts]))
                for t in Ts}

    def spike_trains(self, x, T: int | None = None) -> dict[str, np.ndarray]:
        """The spikes of every neuron layer for one sample: {layer: [T, neurons]} (0/1),
        from the reference interpreter; `sncc.plots.raster` draws them."""
        from sncc.interpreter import interpret

        xb, single = self.module.input_batch(x)
        if not single and len(xb) != 1:
            raise SnccError(f"spike_trains takes one sample, got a batch of {len(xb)}")
        trains: dict[str, list] = {}

        def record(op, value):
            if op.kind == "if":
                trains.setdefault(op.result.name, []).append(np.asarray(value[0]).reshape(-1).astype(np.uint8))

        interpret(self.module, xb[:1], T=T, observer=record)
        return {k: np.stack(v) for k, v in trains.items()}

    def classify(self, x, T: int | None = None, **kw):
        """Predicted class: an int for one sample, an int array for a batch."""
        out = self.run(x, T, **kw)
        return int(out.argmax()) if out.ndim == 1 else out.argmax(axis=1)

    def export_nir(self, path) -> list[str]:
        """Write the network as a NIR graph (`.nir`, spec/nir.md section 3) for snnTorch, Norse,
        Sinabs, ...; returns what NIR cannot express (recorded for sncc, and warned about once).

            >>> snn.export_nir("model.nir")                   # doctest: +SKIP
        """
        from sncc.nir_export import NirExportWarning, export_nir, warning_text

        lost = export_nir(self.module, path, warn=False)
        if lost:  # one warning, pointing at the caller's line
            warnings.warn(warning_text(lost), NirExportWarning, stacklevel=2)
        return lost

    def save(self, path) -> None:
        """Write the IR text (.sir); `sncc.load(path)` reads it back."""
        from sncc.driver import write_atomically

        write_atomically(Path(path), self.module.to_text())

    def __repr__(self) -> str:
        return (f"<SpikingNetwork @{self.module.name}: {self.n_layers} weighted layers, {self.n_neuron_layers} IF "
                f"layers, T={self.T}>")


def load(path) -> SpikingNetwork:
    """Read a spiking network saved with `SpikingNetwork.save` (or any spiking .sir file)."""
    from sncc.ir import load as load_ir

    return SpikingNetwork(load_ir(path))


DEFAULT_T = 32  # timesteps when T is not given and the model has no QCFS activations


def default_T(module: Module) -> int:
    """T when the caller gives none (SC-NeuroCore's rule): a QCFS model runs at its trained
    L (the largest, if layers differ); any other model at DEFAULT_T = 32."""
    levels = [op.attrs["levels"] for op in module.ops if op.kind == "qcfs"]
    return max(levels) if levels else DEFAULT_T


def conversion_pipeline(T=32, encoding="constant", reset="subtract", readout="membrane", percentile=99.9,
                        granularity="channel", seed=0, v0=0.5, maxpool="gate", samples=0, staircase="trained",
                        v0_calibration=0, calibrated=True, first_spikes="auto") -> str:
    """The pass pipeline of `convert`; without calibration data (`calibrated=False`) the scales
    come from `assume-scale` (QCFS thresholds, else 1.0 per ReLU layer)."""
    scales = (f"calibrate{{percentile={percentile},granularity={granularity},samples={samples}}}" if calibrated
              else "assume-scale")
    return (f"canonicalize,fold-batchnorm,dce,{scales},normalize,"
            f"convert-to-snn{{T={T},encoding={encoding},reset={reset},readout={readout},seed={seed},v0={v0},"
            f"maxpool={maxpool},staircase={staircase},v0_calibration={v0_calibration},first_spikes={first_spikes}}}")


def convert(model, calibration_data=None, T: int | None = None, *, encoding: str = "constant",
            reset: str = "subtract", readout: str = "membrane", percentile: float = 99.9,
            granularity: str = "channel", seed: int = 0, v0: float = 0.5, maxpool: str = "gate", samples: int = 0,
            staircase: str = "trained", v0_calibration: int = 0, first_spikes: str = "auto", input_shape=None,
            progress: bool = True) -> SpikingNetwork:
    """Convert a trained ANN into a rate-coded spiking network.

    model: a torch.nn.Module, an ONNX path or ModelProto, a `.pt2` torch.export program, or
    an IR Module / .sir path.
    calibration_data: a batch of typical inputs (numpy or torch), e.g. 1,000 training images.
    Without it (SC-NeuroCore's convention) a QCFS model takes its learned thresholds and a
    ReLU model threshold 1.0 per layer, with a warning that accuracy will suffer; an
    nn.Module then needs `input_shape` unless its first layer is a Linear.
    T: timesteps; omitted, a QCFS model runs at its trained L, any other at 32.
    The defaults give the best accuracy: constant-current input, reset by subtraction,
    99.9th-percentile calibration per layer, membrane readout of a non-spiking output layer.
    first_spikes="early": the neurons of a constant input current (the first layer) fire their
    first spike at step 0, with the same counts (spec/ir.md 5.6); for networks whose first layer
    fires on a uniform background (a ResNet on MNIST's zero pixels), with v0_calibration.
    The default, "auto", is "early" for a QCFS network with a residual add and "v0" otherwise;
    converting such a network under constant input without early first spikes and
    v0_calibration logs a warning naming both.

        >>> snn = convert("examples/mlp.onnx", x_train[:1000], T=16)   # doctest: +SKIP
    """
    if T is not None:
        check_T(T)
    calibrated = calibration_data is not None
    if not calibrated and readout == "count":
        raise SnccError("readout='count' sets the output threshold from the calibrated output range: "
                        "give calibration_data")
    if not calibrated and v0_calibration:
        raise SnccError("v0_calibration matches spike counts to the ANN on calibration data: give calibration_data")
    module = import_model(model, calibration_data, input_shape=input_shape)
    T = default_T(module) if T is None else T
    pipeline = conversion_pipeline(T, encoding, reset, readout, percentile, granularity, seed, v0, maxpool, samples,
                                   staircase, v0_calibration, calibrated=calibrated, first_spikes=first_spikes)
    ctx = PassContext(calibration_data=calibration_data, progress=progress)
    module = PassManager.parse(pipeline).run(module, ctx)
    return SpikingNetwork(module, ctx.reports)
