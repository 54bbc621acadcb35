"""The CPU backend: a compiled simulator of spiking IR modules (float32 and fixed-point modes).

`CpuSimulator(module)` lowers a spiking (or float) `Module` once into a plan of calls to
the Cython kernels of `sncc.runtime.spiking_kernels`; `run(x)` executes it on a batch
and returns what `sncc.interpret(module, x)` returns (up to float rounding: summation
order is not specified by spec/ir.md).

    >>> import numpy as np, sncc
    >>> from sncc.backends.cpu import CpuSimulator
    >>> m = sncc.ir.parse('''
    ... module @m attributes {T = 4} {
    ...   %x = input {index = 0} : tensor<2xf32>
    ...   %e = encode(%x) : tensor<2xf32>
    ...   %s = if(%e) {threshold = 1.0} : tensor<2xspike>
    ...   %o = readout(%s) {mode = "count"} : tensor<2xf32>
    ...   return %o
    ... }''')
    >>> sim = CpuSimulator(m)
    >>> sim.run(np.array([[0.5, 1.0]], np.float32))
    array([[2., 4.]], dtype=float32)
    >>> sim.run(np.array([[0.5, 1.0]], np.float32), record=True)[1]
    {'s': 6}

How it runs (spec/ir.md section 5). A spiking module is a feed-forward graph whose only
state is per op (membranes, accumulators, encoder streams), so op k at step t depends on
its operands at step t and on its own state at step t-1 only. The simulator therefore
runs the ops **layer by layer over all T steps** instead of step by step: every value is
held for a chunk of samples as

* CONST   [1, ...]         batch- and time-invariant (constants and what only depends on them:
                           folded when lowering),
* STATIC  [B, ...]         time-invariant (inputs, constant-mode encoding, and stateless ops of
                           those: computed once per inference, e.g. the first layer's current),
* DYNAMIC [B, T, ...]      one value per timestep; stateless ops see B*T independent rows,

and each `if`/`readout`/rate-`encode`/`gated_maxpool2d` op runs its own time loop over
[B, T, ...]. Every element sees exactly the arithmetic of the step-by-step order. Spikes
are stored as uint8 and consumed as events by `dense` and `conv2d` (only the inputs that
fired are visited); time-invariant float inputs of `dense` go through a GEMM. `conv2d`
lists the non-zero inputs (spikes, pooled counts, pixels) of every input pixel once and
sums, per output pixel, value * weight row over the events its taps reach, SIMD over
output channels held in registers (runtime/spiking_simd_vec.h). An `avgpool2d` of spikes
read only by a `conv2d` hands it uint8 window counts (the conv's weights carry the 1/n;
exact for the power-of-two windows it is used for), so the conv sees one event per active
window: on the benchmark CNN's second layer, counting plus the 3x3 conv took 2.6x less time
than the pooling folded into a 6x6 stride-2 conv of the spikes.
Images between convolutions are stored channels last ([H, W, C] per sample, `_Slot.cl`)
wherever every reader takes that layout (conv2d, if, pooling, flatten into dense: see
`_FloatLowering.channels_last`): a pixel's channels are contiguous for the conv's listing,
its output rows and the pooling, and no op transposes between layers.

Parallelism: the batch is cut into chunks sized for the cache (`chunk_bytes`). With
enough samples the chunks run in a pool of worker threads, each through the whole plan
with serial kernels (the kernels release the GIL): one synchronisation per chunk instead
of one per kernel, which also keeps a busy machine from stalling every kernel on a
descheduled thread. Small batches run chunk after chunk with OpenMP inside each kernel.
Results do not depend on the split (every row is computed the same way).

Modes: "float" (IEEE binary32, the reference semantics of spec/ir.md section 5) and
"fixed" (quantized modules, spec/ir.md section 6: bit-exact integers; `_FixedLowering`
produces steps for the same executor). In fixed mode every value is its integers q:
spikes uint8, others int32 where the worst case over every input the types admit fits
(tracked per value when lowering: `_Slot.maxabs`), else int64; inputs are quantized per
chunk exactly like `sncc.interpreter.quantize_input`; outputs are float64 q * 2^-F, equal
(np.array_equal) to what `sncc.interpret` returns. Kernels: the float design with integer
types. dense on spikes is event driven with int32 vectors; dense on integer inputs (the
first layer) runs f32 FMAs in blocks of active inputs whose sums provably stay below 2^24
(exact) and adds them to int32 accumulators; conv2d is the float scatter kernel with
integer-valued f32 weights into int32 outputs when every partial sum is below 2^24
(exact in any order), else with int32 sums when they fit in 31 bits, else the
interpreter's int64 numpy; the power-of-two pooling windows are window sums (uint8 counts
of spikes for a conv2d that reads them, else int32/int64); add/mul are compiled integer
kernels (shifts aligning the fraction bits); gated_maxpool2d of spikes is the float kernel
(its running sums are counts, exact in f32); `if` saturates at `vbits` in int32 or int64
membranes; concat/transpose and gated_maxpool2d of integers use numpy int64.
Ops without fixed-point semantics (maxpool2d, relu, ...) raise SnccError naming the op.
"""
from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sncc.errors import SnccError
from sncc.semantics import neuron_integers
from sncc.ir import Module, Operation, Value
from sncc.types import Fixed

try:
    from sncc.runtime import spiking_kernels as _k
except ImportError as _e:  # pragma: no cover - only when the extension was not built
    _k = None
    _IMPORT_ERROR = _e

__all__ = ["CpuSimulator", "simulate"]

CONST, STATIC, DYNAMIC = 0, 1, 2
_KIND_NAMES = {CONST: "const", STATIC: "static", DYNAMIC: "dynamic"}
_U8, _F32 = np.dtype(np.uint8), np.dtype(np.float32)

#: default size of the intermediate values of one chunk of samples (bytes)
DEFAULT_CHUNK_BYTES = 8 << 20
#: fewest samples per chunk when chunks run in parallel
MIN_CHUNK_SAMPLES = 8
#: float inputs of dense with fewer non-zeros than this fraction skip zeros instead of a GEMM
#: (measured break-even about 0.35-0.4 with AVX-512)
SPARSE_DENSITY = 0.3

_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of `workers` threads (the kernels release the GIL)."""
    with _POOL_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="sncc-cpu")
        return pool


# -- values and the executor --------------------------------------------------------

class _Slot:
    """A lowered IR value: where it lives (its kind), its storage dtype and sample shape."""

    __slots__ = ("index", "kind", "dtype", "shape", "value", "name", "maxabs", "frac", "unit", "cl", "hwc")

    def __init__(self, index: int, kind: int, dtype: np.dtype, shape: tuple, name: str, cl: bool = False):
        self.index, self.kind, self.dtype, self.name = index, kind, dtype, name
        # cl: an image [C, H, W] stored channels last, `shape` is then the storage shape [H, W, C]
        self.cl = cl
        self.shape = (shape[1], shape[2], shape[0]) if cl else tuple(shape)
        # hwc: a flattened channels-last image (flatten of a cl slot): its [C, H, W], else None
        self.hwc: tuple | None = None
        self.value: np.ndarray | None = None  # CONST: the array, shape [1, *shape]
        self.maxabs = 0  # fixed mode: a bound on |q| for every input the type admits
        self.frac = 0    # fixed mode: fraction bits F (values are q * 2^-F)
        self.unit = 1.0  # float mode: the value of a stored 1 (uint8 window counts of spikes: 1/n)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __repr__(self):
        return f"<slot %{self.name} {_KIND_NAMES[self.kind]} {self.dtype} {list(self.shape)}>"


class _Ctx:
    """One chunk of B samples over T steps: the values (env) and the reusable buffers."""

    def __init__(self, nslots: int, B: int, T: int, buffers: dict, counts: dict | None, threads: int = 0):
        self.env: list[Any] = [None] * nslots
        self.B, self.T = B, T
        self.buffers = buffers
        self.counts = counts
        self.threads = threads  # kernels: 0 = OpenMP inside each kernel, 1 = serial (chunks run in parallel)
        self.inputs: list[np.ndarray] = []
        self.snapshots = False  # keep every partial sum of the output readouts
        self.cumulative: dict[int, np.ndarray] = {}  # slot index -> [B, T, ...] partial sums

    def lead(self, kind: int) -> tuple:
        return (1,) if kind == CONST else (self.B,) if kind == STATIC else (self.B, self.T)

    def buffer(self, key, slot: _Slot, dtype=None, shape=None, lead=None) -> np.ndarray:
        """The output buffer of a step (reused across chunks and runs of the same size)."""
        full = (self.lead(slot.kind) if lead is None else lead) + tuple(slot.shape if shape is None else shape)
        dtype = slot.dtype if dtype is None else dtype
        k = (key, full, dtype)
        buf = self.buffers.get(k)
        if buf is None:
            buf = self.buffers[k] = np.empty(full, dtype)
        return buf

    def broadcast(self, slot: _Slot, kind: int) -> np.ndarray:
        """slot's value with the leading axes of `kind` (a read-only view where broadcast)."""
        arr = self.env[slot.index]
        if slot.kind == kind:
            return arr
        lead = self.lead(kind)
        if kind == DYNAMIC:
            arr = arr.reshape((arr.shape[0], 1) + slot.shape)
        return np.broadcast_to(arr, lead + slot.shape)

    def steps_view(self, slot: _Slot) -> np.ndarray:
        """[B, T or 1, S]: the per-step input of a stateful kernel (1 = same every step)."""
        arr = self.env[slot.index]
        S = slot.size
        if slot.kind == DYNAMIC:
            return arr.reshape(self.B, self.T, S)
        if slot.kind == STATIC:
            return arr.reshape(self.B, 1, S)
        return np.broadcast_to(arr.reshape(1, 1, S), (self.B, 1, S))


class _Step:
    """One kernel call of the plan: computes `out` from `ins` for a chunk."""

    def __init__(self, op: Operation | None, out: _Slot, ins: list[_Slot]):
        self.op, self.out, self.ins = op, out, ins

    def run(self, ctx: _Ctx) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def rows(self, ctx: _Ctx, slot: _Slot, shape: tuple | None = None) -> np.ndarray:
        """slot's value as independent rows [R, *shape] (R = 1, B or B*T)."""
        arr = ctx.env[slot.index]
        return arr.reshape((-1,) + tuple(slot.shape if shape is None else shape))

    def prepare(self, T: int) -> None:
        """Called once per run before the chunks execute (per-T tables)."""

    def bytes_per_sample(self, T: int) -> int:
        """Size of this step's output buffer per sample (chunk sizing)."""
        if self.out.kind == CONST:
            return 0
        return self.out.size * self.out.dtype.itemsize * (T if self.out.kind == DYNAMIC else 1)


# -- steps of the float mode ---------------------------------------------------------

class _InputStep(_Step):
    def __init__(self, op, out, position):
        super().__init__(op, out, [])
        self.position = position

    def run(self, ctx):
        ctx.env[self.out.index] = ctx.inputs[self.position]

    def bytes_per_sample(self, T):
        return 0


class _AliasStep(_Step):
    """flatten, reshape, identity, dropout, constant-mode encode: the same data (a view)."""

    def run(self, ctx):
        src = ctx.env[self.ins[0].index]
        if src.dtype != self.out.dtype:
            src = src.astype(self.out.dtype)
        ctx.env[self.out.index] = src.reshape(ctx.lead(self.out.kind) + self.out.shape)

    def bytes_per_sample(self, T):
        return 0


class _DenseStep(_Step):
    """y = W x + b. Spikes: event-driven kernel over rows of the transposed weight. Floats
    (e.g. the first layer under constant encoding, computed once per inference): the same
    kernel skipping zeros if fewer than SPARSE_DENSITY of them are non-zero (MNIST pixels,
    pooled spikes), else a register-blocked GEMM. (Not numpy's BLAS: its spinning thread
    pool fights with the threads of the other kernels.)"""

    def __init__(self, op, out, x, wt, bias):
        super().__init__(op, out, [x])
        self.wt, self.bias = wt, bias  # [K, Np] float32 (see _k.dense_weight_layout); [N] or [0]

    def run(self, ctx):
        x = self.ins[0]
        xr = self.rows(ctx, x)
        buf = ctx.buffer(self, self.out)
        yr = buf.reshape(-1, self.out.shape[0])
        sparse = x.dtype != _F32 or np.count_nonzero(xr) < SPARSE_DENSITY * xr.size
        _k.dense(xr, self.wt, self.bias, yr, sparse, ctx.threads)
        ctx.env[self.out.index] = buf


class _Conv2dStep(_Step):
    def __init__(self, op, out, x, wt, bias, attrs):
        super().__init__(op, out, [x])
        self.wt, self.bias = wt, bias  # see _k.conv_weight_layout; [O] or [0]
        (self.sh, self.sw), (self.pt, self.pl, _, _) = attrs["strides"], attrs["pads"]
        self.dh, self.dw = attrs["dilations"]

    def run(self, ctx):
        buf = ctx.buffer(self, self.out)
        _k.conv2d(self.rows(ctx, self.ins[0]), self.wt, self.bias, buf.reshape((-1,) + self.out.shape),
                  self.sh, self.sw, self.pt, self.pl, self.dh, self.dw, ctx.threads, self.ins[0].cl, self.out.cl)
        ctx.env[self.out.index] = buf


class _AvgPoolStep(_Step):
    def __init__(self, op, out, x, attrs):
        super().__init__(op, out, [x])
        self.a = attrs

    def run(self, ctx):
        a = self.a
        buf = ctx.buffer(self, self.out)
        _k.avgpool2d(self.rows(ctx, self.ins[0]), buf.reshape((-1,) + self.out.shape), *a["kernel"], *a["strides"],
                     a["pads"][0], a["pads"][1], a["count_include_pad"], ctx.threads, self.out.cl)
        ctx.env[self.out.index] = buf


class _PoolSumStep(_Step):
    """Window sums of pooling: the fixed-point avgpool2d / global_avgpool (power-of-two
    windows: the sum is the result), and in float mode the spike counts of an avgpool2d
    whose only reader is a conv2d (uint8 events of value count/n; the conv's weights carry
    the 1/n: exact for a power-of-two n). Counting spikes is a byte sum, and the conv then
    sees one event per active window instead of up to n spikes or n float reads."""

    def __init__(self, op, out, x, kernel, strides, pads):
        super().__init__(op, out, [x])
        self.kernel, self.strides, self.pads = kernel, strides, pads

    def run(self, ctx):
        x = self.ins[0]
        buf = ctx.buffer(self, self.out)
        _k.pool_sum(self.rows(ctx, x), buf.reshape((-1,) + self.out.shape), *self.kernel, *self.strides, *self.pads,
                    ctx.threads, self.out.cl)
        ctx.env[self.out.index] = buf


class _MaxPoolStep(_Step):
    def __init__(self, op, out, x, attrs):
        super().__init__(op, out, [x])
        self.a = attrs

    def run(self, ctx):
        a = self.a
        x = self.rows(ctx, self.ins[0])
        if x.dtype != self.out.dtype:  # spikes with windows entirely in the padding: -inf needs floats
            x = x.astype(self.out.dtype)
        buf = ctx.buffer(self, self.out)
        _k.maxpool2d(x, buf.reshape((-1,) + self.out.shape), *a["kernel"], *a["strides"],
                     a["pads"][0], a["pads"][1], *a["dilations"], ctx.threads)
        ctx.env[self.out.index] = buf


class _GlobalAvgPoolStep(_Step):
    def run(self, ctx):
        x = self.ins[0]
        buf = ctx.buffer(self, self.out)
        _k.global_avgpool(self.rows(ctx, x, (x.shape[0], x.shape[1] * x.shape[2])), buf.reshape(-1, x.shape[0]),
                          ctx.threads)
        ctx.env[self.out.index] = buf


def _collapse(shape: tuple, *strides: tuple) -> tuple[list, list[list]]:
    """Merge adjacent axes that are contiguous with each other in every operand, drop
    size-1 axes (element strides)."""
    dims = [(n, [s[i] for s in strides]) for i, n in enumerate(shape) if n != 1]
    out: list = []
    for n, st in dims:
        if out and all(ps == s * n for ps, s in zip(out[-1][1], st)):
            out[-1] = (out[-1][0] * n, st)
        else:
            out.append((n, st))
    return [n for n, _ in out], [[st[j] for _, st in out] for j in range(len(strides))]


class _BinaryStep(_Step):
    """add / mul: b broadcast to a (numpy rules, right-aligned sample shapes); either may
    be time-invariant or constant (broadcast over time and batch)."""

    def __init__(self, op, out, a, b, multiply):
        super().__init__(op, out, [a, b])
        self.multiply = multiply

    def _operand(self, ctx, slot):
        arr = ctx.broadcast(slot, self.out.kind)
        lead = ctx.lead(self.out.kind)
        arr = arr.reshape(arr.shape[:len(lead)] + (1,) * (len(self.out.shape) - len(slot.shape)) + slot.shape) \
            if len(slot.shape) != len(self.out.shape) else arr
        return np.broadcast_to(arr, lead + self.out.shape)

    def run(self, ctx):
        a, b = (self._operand(ctx, s) for s in self.ins)
        buf = ctx.buffer(self, self.out)
        shape, (sa, sb, so) = _collapse(buf.shape, *[[s // v.itemsize for s in v.strides] for v in (a, b, buf)])
        if len(shape) <= 4:
            pad = 4 - len(shape)
            shape = [1] * pad + shape
            sa, sb = [0] * pad + sa, [0] * pad + sb
            av = np.lib.stride_tricks.as_strided(a, shape, [s * a.itemsize for s in sa], writeable=False)
            bv = np.lib.stride_tricks.as_strided(b, shape, [s * b.itemsize for s in sb], writeable=False)
            self.kernel(av, bv, buf.reshape(shape), ctx.threads)
        else:  # more than 4 irreducible axes: numpy's own broadcasting loop
            self.numpy(a, b, buf)
        ctx.env[self.out.index] = buf

    def kernel(self, a, b, out, threads):
        _k.binary(a, b, out, self.multiply, threads)

    def numpy(self, a, b, out):
        (np.multiply if self.multiply else np.add)(a, b, out=out, dtype=np.float32)


class _NumpyStep(_Step):
    """Rare elementwise ops (relu, clip, qcfs, batchnorm, transpose): numpy, with the
    reference interpreter's formulas."""

    def __init__(self, op, out, x, fn):
        super().__init__(op, out, [x])
        self.fn = fn

    def run(self, ctx):
        x = ctx.env[self.ins[0].index]
        buf = ctx.buffer(self, self.out)
        np.copyto(buf, self.fn(x, len(ctx.lead(self.ins[0].kind))), casting="unsafe")
        ctx.env[self.out.index] = buf


class _ConcatStep(_Step):
    def __init__(self, op, out, ins, axis):
        super().__init__(op, out, ins)
        self.axis = axis

    def run(self, ctx):
        parts = [ctx.broadcast(s, self.out.kind) for s in self.ins]
        buf = ctx.buffer(self, self.out)
        np.concatenate(parts, axis=len(ctx.lead(self.out.kind)) + self.axis, out=buf, casting="unsafe")
        ctx.env[self.out.index] = buf


class _EncodeRateStep(_Step):
    def __init__(self, op, out, x, seed):
        super().__init__(op, out, [x])
        self.seed = seed
        self._table: dict[int, np.ndarray] = {}

    def prepare(self, T: int) -> None:
        if T not in self._table:
            if len(self._table) > 8:
                self._table.clear()
            n = self.out.size
            self._table[T] = _k.xorshift_u24(self.seed, T * n).reshape(T, n)

    def table(self, T: int) -> np.ndarray:
        return self._table[T]

    def run(self, ctx):
        x = ctx.steps_view(self.ins[0])
        if x.dtype != _F32:
            x = x.astype(np.float32)
        buf = ctx.buffer(self, self.out)
        _k.encode_rate(x, self.table(ctx.T), buf.reshape(ctx.B, ctx.T, -1), ctx.threads)
        ctx.env[self.out.index] = buf


class _IfStep(_Step):
    def __init__(self, op, out, x, threshold, v0, reset_zero, record_name):
        super().__init__(op, out, [x])
        self.threshold, self.v0, self.reset_zero = threshold, v0, reset_zero  # [S] float32 each
        self.record_name = record_name

    def run(self, ctx):
        buf = ctx.buffer(self, self.out)
        counts = ctx.buffer((self, "counts"), self.out, np.dtype(np.int64), shape=(), lead=(ctx.B,))
        _k.if_neuron(ctx.steps_view(self.ins[0]), self.threshold, self.v0, buf.reshape(ctx.B, ctx.T, -1),
                     counts, self.reset_zero, ctx.threads)
        if ctx.counts is not None:
            ctx.counts[self.record_name] += int(counts.sum())
        ctx.env[self.out.index] = buf


class _GatedMaxPoolStep(_Step):
    """gated_maxpool2d: per window, the input whose accumulated sum is the largest so far."""

    def __init__(self, op, out, x, attrs):
        super().__init__(op, out, [x])
        self.a = attrs

    def run(self, ctx):
        a, x = self.a, self.ins[0]
        xv = ctx.steps_view(x).reshape((ctx.B, -1) + x.shape)
        buf = ctx.buffer(self, self.out)
        _k.gated_maxpool2d(xv, buf.reshape((ctx.B, ctx.T) + self.out.shape), *a["kernel"], *a["strides"],
                           a["pads"][0], a["pads"][1], *a["dilations"], ctx.threads)
        ctx.env[self.out.index] = buf


class _ReadoutStep(_Step):
    """acc_t = acc_{t-1} + x_t. Kept for every step only if another op reads it (it then
    sees the partial sums); otherwise only the final sum is computed (out is STATIC)."""

    def run(self, ctx):
        if self.out.kind == STATIC and ctx.snapshots:  # an output: keep the partial sums for the snapshots
            cum = ctx.buffer((self, "all"), self.out, lead=(ctx.B, ctx.T))
            _k.readout_sum(ctx.steps_view(self.ins[0]), cum.reshape(ctx.B, ctx.T, -1), ctx.T, True, ctx.threads)
            ctx.cumulative[self.out.index] = cum
            ctx.env[self.out.index] = cum[:, ctx.T - 1]
            return
        buf = ctx.buffer(self, self.out)
        keep_all = self.out.kind == DYNAMIC
        _k.readout_sum(ctx.steps_view(self.ins[0]), buf.reshape(ctx.B, ctx.T if keep_all else 1, -1), ctx.T, keep_all,
                       ctx.threads)
        ctx.env[self.out.index] = buf


# -- lowering (float mode) ----------------------------------------------------------

_SANITIZE = re.compile(r"[^A-Za-z0-9_.$-]")


def printed_names(module: Module) -> dict[int, str]:
    """id(value) -> the name `Module.to_text()` prints for it (same rules as the printer)."""
    names, used, counter = {}, set(), 0
    for op in module.ops:
        hint = op.result.name
        if hint:
            base = _SANITIZE.sub("_", hint)
        else:
            base, counter = str(counter), counter + 1
        name, k = base, 1
        while name in used:
            name, k = f"{base}_{k}", k + 1
        used.add(name)
        names[id(op.result)] = name
    return names


def _per_element(a, shape: tuple) -> np.ndarray:
    """An `if` threshold/v0 (scalar, per channel [C] or full shape) as one f32 per neuron."""
    size = int(np.prod(shape, dtype=np.int64))
    if not isinstance(a, np.ndarray) or a.ndim == 0:
        return np.full(size, np.float32(a), dtype=np.float32)
    a = np.asarray(a, dtype=np.float32)
    if a.shape == tuple(shape):
        return np.ascontiguousarray(a.reshape(-1))
    return np.ascontiguousarray(np.repeat(a.reshape(-1), size // a.shape[0]))


def _storage_order(a: np.ndarray, slot: _Slot) -> np.ndarray:
    """Per-neuron values [C*H*W] (logical order) in the order `slot` stores its elements."""
    if not slot.cl:
        return a
    H, W, C = slot.shape
    return np.ascontiguousarray(a.reshape(C, H, W).transpose(1, 2, 0).reshape(-1))


def _channel_axis(x_lead: int, rank: int):
    return lambda p: p.reshape((1,) * x_lead + (p.shape[0],) + (1,) * (rank - 1))


class _FloatLowering:
    """Walks module.ops once and builds the plan of the float32 mode."""

    def __init__(self, module: Module):
        self.m = module
        self.slots: dict[int, _Slot] = {}
        self.steps: list[_Step] = []
        self.names = printed_names(module)
        self.if_neurons: dict[str, int] = {}
        self.input_slots: list[_Slot] = []
        self.has_users = {id(v) for op in module.ops for v in op.operands}
        self.readers: dict[int, list[Operation]] = {}
        for op in module.ops:
            for v in op.operands:
                self.readers.setdefault(id(v), []).append(op)
        self.output_ids = {id(v) for v in module.outputs}
        self._cl_memo: dict[int, bool] = {}

    # helpers
    def slot(self, v: Value) -> _Slot:
        return self.slots[id(v)]

    def new_slot(self, op: Operation, kind: int, dtype, cl: bool = False) -> _Slot:
        s = _Slot(len(self.slots), kind, np.dtype(dtype), op.type.shape, self.names[id(op.result)], cl)
        self.slots[id(op.result)] = s
        return s

    def channels_last(self, op: Operation, kind: int) -> bool:
        """Whether `op` (a conv2d, or an if/avgpool2d of a channels-last input) stores its
        image result channels last: when every reader takes that layout as it is (conv2d
        reads either; if and pooling keep it; flatten then dense permutes the weight's
        columns once), so membranes, spikes, counts and currents stay [H, W, C] from one
        conv to the next: the scatter and the pooling are vectors over contiguous
        channels and no op transposes. Outputs and constants stay planar."""
        return kind != CONST and self._cl_ok(op.result)

    def _cl_ok(self, v: Value) -> bool:
        memo = self._cl_memo.get(id(v))
        if memo is None:
            memo = self._cl_memo[id(v)] = self._cl_readers_ok(v)
        return memo

    def _cl_readers_ok(self, v: Value) -> bool:
        readers = self.readers.get(id(v), [])
        if len(v.type.shape) != 3 or id(v) in self.output_ids or not readers:
            return False
        for r in readers:
            if r.kind == "conv2d" and r.operands[0] is v:
                continue
            if r.kind in ("if", "avgpool2d") and self._cl_ok(r.result):
                continue
            if r.kind == "flatten" and id(r.result) not in self.output_ids and self.readers.get(id(r.result)) and \
                    all(d.kind == "dense" and d.operands[0] is r.result for d in self.readers[id(r.result)]):
                continue
            return False
        return True

    def count_window(self, op: Operation, x: _Slot) -> int:
        """n if avgpool2d `op` may hand its only reader, a conv2d, uint8 window counts of
        spikes (_PoolSumStep): x holds spikes, the divisor is the same n = kh*kw <= 128
        for every window (count_include_pad, or no window reaches outside the input) and a
        power of two (scaling the conv's weights by 1/n is then exact); else 0."""
        a = op.attrs
        readers = self.readers.get(id(op.result), [])
        if x.dtype != _U8 or id(op.result) in self.output_ids or len(readers) != 1 or \
                readers[0].kind != "conv2d" or readers[0].operands[0] is not op.result:
            return 0
        (kh, kw), (sh, sw) = a["kernel"], a["strides"]
        n = kh * kw
        if n & (n - 1) or n > 128:
            return 0
        _, H, W = op.operands[0].type.shape
        _, Ho, Wo = op.type.shape
        inside = not any(a["pads"]) and (Ho - 1) * sh + kh <= H and (Wo - 1) * sw + kw <= W
        return n if a["count_include_pad"] or inside else 0

    def const_array(self, op: Operation, v: Value, what: str) -> np.ndarray:
        s = self.slot(v)
        if s.kind != CONST:
            raise SnccError(f"{op.describe()}: the CPU backend needs a constant {what} "
                            f"(%{s.name} depends on the input)")
        return s.value[0].astype(np.float32)

    def add_step(self, step: _Step) -> None:
        """Append a step, or fold it right away when all its operands are constants."""
        if step.out.kind == CONST:
            ctx = _Ctx(len(self.slots), 1, 1, {}, None)
            for s in self.slots.values():
                if s.kind == CONST:
                    ctx.env[s.index] = s.value
            step.run(ctx)
            step.out.value = np.array(ctx.env[step.out.index], dtype=step.out.dtype).reshape((1,) + step.out.shape)
        else:
            self.steps.append(step)

    # the walk
    @staticmethod
    def check_float(m: Module) -> None:
        for op in m.ops:
            if isinstance(op.type.elem, Fixed):
                raise SnccError(f"the CPU simulator's float mode cannot run fixed-point IR ({op.describe()} "
                                f"has type {op.type}); use mode='fixed'")

    def lower(self) -> "_Program":
        m = self.m
        for op in m.ops:
            self.lower_op(op)
        inputs = m.inputs
        self.input_slots = [self.slot(v) for v in inputs]
        return _Program(m, self.steps, list(self.slots.values()), self.input_slots, [self.slot(v) for v in m.outputs],
                        [v.type.shape for v in inputs], [self.names[id(v)] for v in inputs], self.if_neurons,
                        m.is_spiking)

    def check_layout(self, op: Operation, ins: list[_Slot]) -> None:
        """Channels-last values reach only the ops that read them as such (channels_last)."""
        if any(s.cl for s in ins) and op.kind not in ("conv2d", "if", "avgpool2d", "flatten"):
            raise AssertionError(f"{op.describe()}: reads a channels-last value")  # pragma: no cover
        if any(s.hwc for s in ins) and op.kind != "dense":
            raise AssertionError(f"{op.describe()}: reads a flattened channels-last value")  # pragma: no cover

    @staticmethod
    def dense_columns(w: np.ndarray, x: _Slot) -> np.ndarray:
        """dense weight [N, C*H*W] for an input flattened from a channels-last image: the
        columns in [H, W, C] order."""
        if not x.hwc:
            return w
        C, H, W = x.hwc
        return np.ascontiguousarray(w.reshape(-1, C, H, W).transpose(0, 2, 3, 1).reshape(w.shape[0], -1))

    def flatten_alias(self, op: Operation, out: _Slot, x: _Slot) -> None:
        if x.cl:
            out.hwc = tuple(op.operands[0].type.shape)
        self.alias(op, out, x)

    def lower_op(self, op: Operation) -> None:
        k, a = op.kind, op.attrs
        ins = [self.slot(v) for v in op.operands]
        self.check_layout(op, ins)
        kind = max((s.kind for s in ins), default=CONST)
        x = ins[0] if ins else None
        if k == "input":
            out = self.new_slot(op, STATIC, _F32)
            self.steps.append(_InputStep(op, out, a["index"]))
        elif k == "const":
            out = self.new_slot(op, CONST, _F32)
            out.value = np.ascontiguousarray(np.asarray(a["value"], dtype=np.float32)).reshape((1,) + op.type.shape)
        elif k in ("dense", "matmul"):
            w = self.const_array(op, op.operands[1], "weight")
            wt = _k.dense_weight_layout(self.dense_columns(w, x) if k == "dense" else w.T)  # [K, N rounded up to 16]
            bias = self.const_array(op, op.operands[2], "bias") if len(op.operands) > 2 else np.zeros(0, np.float32)
            self.add_step(_DenseStep(op, self.new_slot(op, x.kind, _F32), x, wt,
                                     np.ascontiguousarray(bias)))
        elif k == "conv2d":
            w = self.const_array(op, op.operands[1], "weight") * np.float32(x.unit)  # x.unit: see count_window
            wt = _k.conv_weight_layout(w, a["groups"])  # [G, kh, kw, C/G, O/G padded to 16]
            bias = self.const_array(op, op.operands[2], "bias") if len(op.operands) > 2 else np.zeros(0, np.float32)
            out = self.new_slot(op, x.kind, _F32, self.channels_last(op, x.kind))
            self.add_step(_Conv2dStep(op, out, x, wt, np.ascontiguousarray(bias), a))
        elif k == "avgpool2d":
            n = self.count_window(op, x)
            if n:  # uint8 window counts, each worth 1/n, for the conv2d that reads them
                out = self.new_slot(op, x.kind, _U8, x.cl)
                out.unit = 1.0 / n
                self.add_step(_PoolSumStep(op, out, x, a["kernel"], a["strides"], a["pads"][:2]))
            else:
                self.add_step(_AvgPoolStep(op, self.new_slot(op, x.kind, _F32, x.cl), x, a))
        elif k == "maxpool2d":
            dtype = x.dtype if x.dtype == _F32 or not _has_empty_window(op) else _F32
            self.add_step(_MaxPoolStep(op, self.new_slot(op, x.kind, dtype), x, a))
        elif k == "global_avgpool":
            self.add_step(_GlobalAvgPoolStep(op, self.new_slot(op, x.kind, _F32), [x]))
        elif k in ("add", "mul"):
            self.add_step(_BinaryStep(op, self.new_slot(op, kind, _F32), ins[0], ins[1], k == "mul"))
        elif k in ("relu", "clip", "qcfs", "batchnorm", "transpose"):
            self.add_step(_NumpyStep(op, self.new_slot(op, x.kind, x.dtype if k == "transpose" else _F32), x,
                                     self.numpy_fn(op)))
        elif k in ("identity", "dropout", "flatten", "reshape"):
            self.flatten_alias(op, self.new_slot(op, x.kind, x.dtype), x)
        elif k == "concat":
            dtype = _U8 if all(s.dtype == _U8 for s in ins) else _F32
            self.add_step(_ConcatStep(op, self.new_slot(op, kind, dtype), ins, a["axis"]))
        elif k == "encode":
            if a["mode"] == "constant":
                self.alias(op, self.new_slot(op, x.kind, _F32), x)
            else:
                self.steps.append(_EncodeRateStep(op, self.new_slot(op, DYNAMIC, _U8), x, a["seed"]))
        elif k == "if":
            out = self.new_slot(op, DYNAMIC, _U8, x.cl)
            self.if_neurons[out.name] = out.size
            shape = op.type.shape
            self.steps.append(_IfStep(op, out, x, _storage_order(_per_element(a["threshold"], shape), out),
                                      _storage_order(_per_element(a["v0"], shape), out), a["reset"] == "zero",
                                      out.name))
        elif k == "gated_maxpool2d":
            self.steps.append(_GatedMaxPoolStep(op, self.new_slot(op, DYNAMIC, x.dtype), x, a))
        elif k == "readout":
            keep_all = id(op.result) in self.has_users
            self.steps.append(_ReadoutStep(op, self.new_slot(op, DYNAMIC if keep_all else STATIC, _F32), [x]))
        else:
            raise SnccError(f"the CPU backend cannot execute {op.describe()}: unsupported op kind '{k}'")

    def alias(self, op, out, x):
        step = _AliasStep(op, out, [x])
        if out.kind == CONST:
            out.value = x.value.astype(out.dtype).reshape((1,) + out.shape)
        else:
            self.steps.append(step)

    def numpy_fn(self, op: Operation):
        k, a = op.kind, op.attrs
        rank = len(op.operands[0].type.shape)
        f = np.float32
        if k == "relu":
            return lambda x, lead: np.maximum(x.astype(np.float32, copy=False), f(0))
        if k == "clip":
            lo, hi = f(a["min"]), f(a["max"])
            return lambda x, lead: np.clip(x.astype(np.float32, copy=False), lo, hi)
        if k == "qcfs":
            lam, L = a["threshold"], a["levels"]
            up, down = f(L / lam), f(lam / L)
            return lambda x, lead: down * np.clip(np.floor(x.astype(np.float32, copy=False) * up + f(0.5)), 0,
                                                  L).astype(np.float32)
        if k == "batchnorm":
            scale, bias, mean, var = (self.const_array(op, v, n)
                                      for v, n in zip(op.operands[1:], ("scale", "bias", "mean", "var")))
            fac = (scale / np.sqrt(var + f(a["epsilon"]))).astype(np.float32)
            return lambda x, lead: ((x.astype(np.float32, copy=False) - _channel_axis(lead, rank)(mean))
                                    * _channel_axis(lead, rank)(fac) + _channel_axis(lead, rank)(bias))
        if k == "transpose":
            perm = a["perm"]
            return lambda x, lead: x.transpose(list(range(lead)) + [p + lead for p in perm])
        raise AssertionError(k)


def _has_empty_window(op: Operation) -> bool:
    """Whether some maxpool window lies entirely in the padding (its result is -inf)."""
    a = op.attrs
    _, H, W = op.operands[0].type.shape
    _, Ho, Wo = op.type.shape

    def empty(n_out, size, k, s, pad, d):
        return any(all(not 0 <= i * s + p * d - pad < size for p in range(k)) for i in range(n_out))

    return empty(Ho, H, a["kernel"][0], a["strides"][0], a["pads"][0], a["dilations"][0]) or \
        empty(Wo, W, a["kernel"][1], a["strides"][1], a["pads"][1], a["dilations"][1])


# -- steps and lowering of the fixed-point mode (spec/ir.md section 6) ----------------

_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)
_LIM32 = 1 << 31


def _int_dtype(maxabs: int) -> np.dtype:
    """int32 where every value the op can produce fits (its worst case), else int64."""
    return _I32 if maxabs < _LIM32 else _I64


def _frac_of(t) -> int:
    return t.elem.frac if isinstance(t.elem, Fixed) else 0


def _per_element64(a, shape: tuple) -> np.ndarray:
    """An `if` threshold/v0 as one float64 per neuron (the interpreter's broadcasting)."""
    size = int(np.prod(shape, dtype=np.int64))
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(size, float(arr))
    if arr.shape == tuple(shape):
        return arr.reshape(-1).copy()
    return np.repeat(arr.reshape(-1), size // arr.shape[0])


class _NonFinite(Exception):
    """A chunk's input holds NaN or inf (run() reports it like float mode)."""


class _FixedInputStep(_InputStep):
    """The input's integers, quantized per chunk into a reused buffer (spec/ir.md section 6):
    q = clamp(floor(x * 2^F + 1/2), min, max) in double precision."""

    def __init__(self, op, out, position, elem):
        super().__init__(op, out, position)
        self.frac, self.lo, self.hi = elem.frac, elem.min_int, elem.max_int

    def run(self, ctx):
        x = ctx.inputs[self.position]
        buf = ctx.buffer(self, self.out)
        if _k.quantize_input(x.reshape(-1), self.frac, self.lo, self.hi, buf.reshape(-1), ctx.threads):
            raise _NonFinite()
        ctx.env[self.out.index] = buf

    def bytes_per_sample(self, T):
        return self.out.size * self.out.dtype.itemsize


class _FixedDenseStep(_Step):
    """Integer dense: spikes event driven, integers skipping zeros; int32 or int64 sums."""

    def __init__(self, op, out, x, wt, bias, block=0):
        super().__init__(op, out, [x])
        self.wt, self.bias = wt, bias  # [K, Np] of out.dtype (zero padded), or float32 (block); [N] or [0]
        self.block = block  # > 0: int32 rows through exact f32 sums of `block` active inputs

    def run(self, ctx):
        xr = self.rows(ctx, self.ins[0])
        buf = ctx.buffer(self, self.out)
        if self.block:
            _k.dense_fixed_exact_f32(xr, self.wt, self.bias, buf.reshape(-1, self.out.shape[0]), self.block,
                                     ctx.threads)
        else:
            _k.dense_fixed(xr, self.wt, self.bias, buf.reshape(-1, self.out.shape[0]), ctx.threads)
        ctx.env[self.out.index] = buf


class _FixedNumpyStep(_Step):
    """The other stateless ops (add, mul, concat, transpose, and conv/pooling beyond the
    exact f32 range): the reference interpreter's int64 formulas on rows."""

    def __init__(self, op, out, ins):
        super().__init__(op, out, ins)
        from sncc.semantics import fixed_op
        self.fn = fixed_op

    def run(self, ctx):
        args = []
        for s in self.ins:
            if s.kind == CONST:
                args.append(ctx.env[s.index].astype(np.int64))
            else:
                arr = ctx.broadcast(s, self.out.kind).reshape((-1,) + s.shape)
                if s.cl:  # a conv2d beyond the kernels' range reading a channels-last image
                    arr = arr.transpose(0, 3, 1, 2)
                args.append(arr.astype(np.int64))
        y = self.fn(self.op, args)
        buf = ctx.buffer(self, self.out)
        np.copyto(buf, np.broadcast_to(y, (buf.size // self.out.size if self.out.size else 0,) + self.out.shape)
                  .reshape(buf.shape), casting="unsafe")
        ctx.env[self.out.index] = buf


class _FixedBinaryStep(_BinaryStep):
    """add / mul of integers (spec/ir.md section 6): (a << sa) + (b << sb), the shifts
    aligning each operand to the result's fraction bits, or a * b; computed in the
    result's integer type, which holds the worst case (so every intermediate does)."""

    def __init__(self, op, out, a, b, multiply, shifts):
        super().__init__(op, out, a, b, multiply)
        self.shifts = tuple(shifts)

    def kernel(self, a, b, out, threads):
        _k.binary_fixed(a, b, out, *self.shifts, self.multiply, threads)

    def numpy(self, a, b, out):
        a, b = a.astype(np.int64), b.astype(np.int64)
        y = a * b if self.multiply else (a << self.shifts[0]) + (b << self.shifts[1])
        np.copyto(out, y, casting="unsafe")


class _FixedEncodeRateStep(_EncodeRateStep):
    """Rate encoding of integers: spike iff u < clamp(q, 0, 2^F) << (24 - F)."""

    def __init__(self, op, out, x, seed, frac):
        super().__init__(op, out, x, seed)
        self.frac = frac

    def run(self, ctx):
        x = ctx.steps_view(self.ins[0])
        F = self.frac
        thr = (np.clip(x, 0, 1 << F).astype(np.int64) << (24 - F)).astype(np.uint32)
        buf = ctx.buffer(self, self.out)
        _k.encode_rate_fixed(np.ascontiguousarray(thr), self.table(ctx.T), buf.reshape(ctx.B, ctx.T, -1),
                             ctx.threads)
        ctx.env[self.out.index] = buf


class _FixedIfStep(_Step):
    def __init__(self, op, out, x, threshold, v0, lo, hi, reset_zero, record_name):
        super().__init__(op, out, [x])
        self.threshold, self.v0 = threshold, v0  # [S] each, of the membrane dtype
        self.lo, self.hi, self.reset_zero, self.record_name = lo, hi, reset_zero, record_name

    def run(self, ctx):
        buf = ctx.buffer(self, self.out)
        counts = ctx.buffer((self, "counts"), self.out, _I64, shape=(), lead=(ctx.B,))
        x = ctx.steps_view(self.ins[0])
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        _k.if_neuron_fixed(x, self.threshold, self.v0, buf.reshape(ctx.B, ctx.T, -1), counts, self.lo, self.hi,
                           self.reset_zero, ctx.threads)
        if ctx.counts is not None:
            ctx.counts[self.record_name] += int(counts.sum())
        ctx.env[self.out.index] = buf


class _FixedGatedMaxPoolStep(_Step):
    """gated_maxpool2d on integers (numpy, int64 running sums): per window the first
    position in row-major window order with the largest sum; padding never wins (its sum
    is below every integer sum) and contributes 0. Spikes (the usual case) go through the
    float kernel instead: their running sums are counts <= T, exact in f32 for T < 2^24,
    and it picks the same position by the same rule."""

    def __init__(self, op, out, ins):
        super().__init__(op, out, ins)
        from sncc.semantics import windows
        self.windows = windows

    def run(self, ctx):
        a, x = self.op.attrs, self.ins[0]
        k, s, p, d = a["kernel"], a["strides"], a["pads"], a["dilations"]
        xv = ctx.steps_view(x).reshape((ctx.B, -1) + x.shape)
        buf = ctx.buffer(self, self.out)
        if x.dtype == _U8 and ctx.T < _EXACT_F32:
            _k.gated_maxpool2d(np.ascontiguousarray(xv), buf.reshape((ctx.B, ctx.T) + self.out.shape), *k, *s, p[0],
                               p[1], *d, ctx.threads)
            ctx.env[self.out.index] = buf
            return
        acc = np.zeros((ctx.B,) + x.shape, np.int64)
        low = np.iinfo(np.int64).min
        for t in range(ctx.T):
            xt = xv[:, t if xv.shape[1] > 1 else 0]
            acc += xt
            win = self.windows(acc, k, s, p, d, low)
            flat = win.reshape(win.shape[:4] + (-1,))
            choice = flat.argmax(axis=-1)[..., None]
            win_x = self.windows(xt, k, s, p, d, 0).reshape(flat.shape)
            np.copyto(buf[:, t], np.take_along_axis(win_x, choice, axis=-1)[..., 0], casting="unsafe")
        ctx.env[self.out.index] = buf


class _FixedReadoutStep(_Step):
    """readout in int64 (see _ReadoutStep)."""

    def run(self, ctx):
        x = ctx.steps_view(self.ins[0])
        if not x.flags.c_contiguous:
            x = np.ascontiguousarray(x)
        if self.out.kind == STATIC and ctx.snapshots:
            cum = ctx.buffer((self, "all"), self.out, lead=(ctx.B, ctx.T))
            _k.readout_sum_fixed(x, cum.reshape(ctx.B, ctx.T, -1), ctx.T, True, ctx.threads)
            ctx.cumulative[self.out.index] = cum
            ctx.env[self.out.index] = cum[:, ctx.T - 1]
            return
        buf = ctx.buffer(self, self.out)
        keep_all = self.out.kind == DYNAMIC
        _k.readout_sum_fixed(x, buf.reshape(ctx.B, ctx.T if keep_all else 1, -1), ctx.T, keep_all, ctx.threads)
        ctx.env[self.out.index] = buf


_EXACT_F32 = 1 << 24  # integers below this (in magnitude) and their sums are exact in f32


class _FixedLowering(_FloatLowering):
    """Walks module.ops once and builds the plan of the fixed-point mode: every value is
    its integers q (spikes uint8; int32 where the worst case fits, else int64)."""

    @staticmethod
    def check_fixed(m: Module) -> None:
        ins = m.inputs
        if not ins or not all(isinstance(v.type.elem, Fixed) for v in ins):
            raise SnccError("the CPU simulator's fixed-point mode runs quantized modules (inputs of type fx<W,F>; "
                            "run the 'quantize' pass first) or use mode='float'")

    def new_fixed(self, op: Operation, kind: int, maxabs: int, spike: bool = False, dtype=None,
                  cl: bool = False) -> _Slot:
        dt = _U8 if spike else (dtype if dtype is not None else _int_dtype(maxabs))
        s = self.new_slot(op, kind, dt, cl)
        s.maxabs, s.frac = (1 if spike else int(maxabs)), _frac_of(op.type)
        return s

    def const_int(self, op: Operation, v: Value, what: str) -> np.ndarray:
        s = self.slot(v)
        if s.kind != CONST:
            raise SnccError(f"{op.describe()}: the CPU backend needs a constant {what} "
                            f"(%{s.name} depends on the input)")
        return s.value[0].astype(np.int64)

    def unsupported(self, op: Operation, why: str = ""):
        raise SnccError(f"the CPU simulator's fixed-point mode cannot execute {op.describe()}"
                        f"{': ' + why if why else ''} (no fixed-point semantics in spec/ir.md section 6)")

    def lower_op(self, op: Operation) -> None:
        k, a = op.kind, op.attrs
        ins = [self.slot(v) for v in op.operands]
        self.check_layout(op, ins)
        kind = max((s.kind for s in ins), default=CONST)
        x = ins[0] if ins else None
        spike_out = op.type.elem.__class__.__name__ == "Spike"
        if k == "input":
            e = op.type.elem
            if not isinstance(e, Fixed):
                self.unsupported(op, f"a float input ({op.type}) in a quantized module")
            out = self.new_fixed(op, STATIC, max(-e.min_int, e.max_int))
            self.steps.append(_FixedInputStep(op, out, a["index"], e))
        elif k == "const":
            val = np.asarray(a["value"]).astype(np.int64)
            out = self.new_fixed(op, CONST, int(np.abs(val).max(initial=0)), dtype=_I64)
            out.value = np.ascontiguousarray(val).reshape((1,) + op.type.shape)
        elif k == "dense":
            w = self.dense_columns(self.const_int(op, op.operands[1], "weight"), x)  # [N, K]
            b = self.const_int(op, op.operands[2], "bias") if len(op.operands) > 2 else None
            bound = int(np.abs(w).sum(axis=1).max(initial=0)) * x.maxabs + \
                (int(np.abs(b).max(initial=0)) if b is not None else 0)
            dtype = _I64 if x.dtype == _I64 else _int_dtype(bound)
            N, K_ = w.shape
            bias = np.ascontiguousarray(b.astype(dtype) if b is not None else np.zeros(0, dtype))
            prod = x.maxabs * int(np.abs(w).max(initial=0))
            out = self.new_fixed(op, x.kind, bound, dtype=dtype)
            if x.dtype == _I32 and dtype == _I32 and 0 < prod < _EXACT_F32:
                # integer inputs (the first layer): f32 FMAs, exact in blocks of active inputs
                wt = _k.dense_weight_layout(w.astype(np.float32))
                self.add_step(_FixedDenseStep(op, out, x, wt, bias, (_EXACT_F32 - 1) // prod))
            else:
                wt = np.zeros((K_, (N + 15) // 16 * 16), dtype)
                wt[:, :N] = w.T
                self.add_step(_FixedDenseStep(op, out, x, wt, bias))
        elif k == "conv2d":
            w = self.const_int(op, op.operands[1], "weight")
            b = self.const_int(op, op.operands[2], "bias") if len(op.operands) > 2 else None
            bound = int(np.abs(w).reshape(w.shape[0], -1).sum(axis=1).max(initial=0)) * x.maxabs + \
                (int(np.abs(b).max(initial=0)) if b is not None else 0)
            if x.dtype in (_U8, _I32) and bound < _LIM32:
                # the float kernel design, exact: every partial sum is within the bound. Below
                # 2^24 the sums run in f32 (FMAs, exact in any order) and land in int32; above,
                # in int32 (multiplies)
                exact_f32 = bound < _EXACT_F32 and x.maxabs < _EXACT_F32
                sdt = np.float32 if exact_f32 else np.int32
                out = self.new_fixed(op, x.kind, bound, dtype=_I32, cl=self.channels_last(op, x.kind))
                wt = _k.conv_weight_layout(w, a["groups"], sdt)
                bias = np.ascontiguousarray(b.astype(sdt) if b is not None else np.zeros(0, sdt))
                self.add_step(_Conv2dStep(op, out, x, wt, bias, a))
            else:
                self.add_step(_FixedNumpyStep(op, self.new_fixed(op, x.kind, bound, dtype=_I64), ins))
        elif k in ("avgpool2d", "global_avgpool"):
            from sncc import ops as _ops
            try:
                sh_ = _ops._pow2_window(k, op.operands[0].type, a)
            except _ops.TypeError_ as e:
                self.unsupported(op, str(e))
            n = 1 << sh_
            if k == "avgpool2d":
                window, strides, pads = a["kernel"], a["strides"], a["pads"][:2]
            else:
                window, strides, pads = op.operands[0].type.shape[1:], (1, 1), (0, 0)
            bound = x.maxabs * n
            if k == "avgpool2d" and self.count_window(op, x):
                dtype = _U8  # spike counts (<= 128) for the conv2d that reads them: the sum is the value
            else:
                dtype = _I64 if x.dtype == _I64 else _int_dtype(bound)
            self.add_step(_PoolSumStep(op, self.new_fixed(op, x.kind, bound, dtype=dtype, cl=x.cl), x, window, strides,
                                       pads))
        elif k in ("add", "concat"):
            F = _frac_of(op.type)
            shifts = [F - s.frac for s in ins]
            shifted = [s.maxabs << max(sft, 0) for s, sft in zip(ins, shifts)]
            bound = sum(shifted) if k == "add" else max(shifted)
            out = self.new_fixed(op, kind, bound)
            if k == "add" and min(shifts) >= 0:
                self.add_step(_FixedBinaryStep(op, out, ins[0], ins[1], False, shifts))
            else:
                self.add_step(_FixedNumpyStep(op, out, ins))
        elif k == "mul":
            c = ins[1]
            if c.kind != CONST:
                self.unsupported(op, "a product of two activations")
            self.add_step(_FixedBinaryStep(op, self.new_fixed(op, kind, x.maxabs * c.maxabs), x, c, True, (0, 0)))
        elif k == "transpose":
            self.add_step(_FixedNumpyStep(op, self.new_fixed(op, x.kind, x.maxabs, spike_out, dtype=x.dtype), [x]))
        elif k in ("identity", "dropout", "flatten", "reshape"):
            self.flatten_alias(op, self.new_fixed(op, x.kind, x.maxabs, spike_out, dtype=x.dtype), x)
        elif k == "encode":
            if a["mode"] == "constant":
                self.alias(op, self.new_fixed(op, x.kind, x.maxabs, dtype=x.dtype), x)
            else:
                F = x.frac
                if x.dtype == _U8 or not 0 <= F <= 24:
                    self.unsupported(op, f"rate encoding needs 0..24 fraction bits, got {op.operands[0].type}")
                self.steps.append(_FixedEncodeRateStep(op, self.new_fixed(op, DYNAMIC, 1, True), x, a["seed"], F))
        elif k == "if":
            F = x.frac
            S = x.size
            vbits = a.get("vbits")
            if not vbits:
                self.unsupported(op, "no membrane width (vbits)")
            xe = op.operands[0].type.elem
            shape = op.type.shape
            th, v0 = neuron_integers(_per_element64(a["threshold"], shape), _per_element64(a["v0"], shape),
                                     F, vbits, xe.width if isinstance(xe, Fixed) else 1)
            lim = 1 << (vbits - 1)
            narrow = (vbits <= 31 and x.dtype != _I64 and x.maxabs < (1 << 30) and
                      int(th.min(initial=0)) >= 0 and int(np.abs(th).max(initial=0)) < (1 << 30) and
                      int(np.abs(v0).max(initial=0)) < (1 << 30))
            mdt = _I32 if narrow else _I64
            out = self.new_fixed(op, DYNAMIC, 1, True, cl=x.cl)
            self.if_neurons[out.name] = S
            self.steps.append(_FixedIfStep(op, out, x, _storage_order(th.astype(mdt), out),
                                           _storage_order(v0.astype(mdt), out), -lim, lim - 1,
                                           a["reset"] == "zero", out.name))
        elif k == "gated_maxpool2d":
            out = self.new_fixed(op, DYNAMIC, x.maxabs, spike_out, dtype=x.dtype)
            self.steps.append(_FixedGatedMaxPoolStep(op, out, [x]))
        elif k == "readout":
            keep_all = id(op.result) in self.has_users
            out = self.new_fixed(op, DYNAMIC if keep_all else STATIC, 1 << 62, dtype=_I64)
            self.steps.append(_FixedReadoutStep(op, out, [x]))
        else:
            self.unsupported(op)

    def alias(self, op, out, x):
        if out.kind == CONST:
            out.value = x.value.astype(out.dtype).reshape((1,) + out.shape)
        else:
            self.steps.append(_AliasStep(op, out, [x]))


class _Program:
    """A lowered module: the plan of steps and how to feed and read it."""

    def __init__(self, module, steps, slots, input_slots, output_slots, input_shapes, input_names, if_neurons, spiking):
        self.module_name = module.name
        self.T = module.attrs.get("T")
        self.steps, self.slots = steps, slots
        self.input_slots, self.output_slots = input_slots, output_slots
        self.input_shapes, self.input_names = input_shapes, input_names
        self.if_neurons, self.spiking = if_neurons, spiking
        self.fixed = False
        self.input_types = [v.type for v in module.inputs]
        self.output_scales = [2.0 ** -s.frac for s in output_slots]  # fixed mode: q * 2^-F


# -- the public API -------------------------------------------------------------------

def _check_finite(what: str, arr: np.ndarray) -> None:
    finite = np.isfinite(arr)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise SnccError(f"{what}: {int((~finite).sum())} non-finite value(s) (NaN, inf, or too large for "
                        f"float32), first at index {bad.tolist()}: {arr[tuple(bad)]}")


class CpuSimulator:
    """A compiled simulator of one IR module.

    `CpuSimulator(module, mode="float", chunk_bytes=..., threads=None)` lowers `module`
    (verified first); `run(*inputs, T=None, record=False, snapshots=None)` runs a batch
    (leading axis) and returns the module's output(s) like `sncc.interpret` (float32; with
    mode="fixed", for quantized modules, exactly: float64 q * 2^-F);
    with `record=True` it returns `(outputs, spikes)` where `spikes` maps each `if` op (by
    its printed name) to its total number of spikes over the batch and all T steps
    (`neurons` maps it to its number of neurons per sample: firing rate = spikes /
    (batch * T * neurons)); `snapshots=[t, ...]` gives {t: outputs after t steps} from one
    run. `describe()` lists the plan. Invalid inputs raise SnccError.

    `threads`: worker threads (default: all cores, or OMP_NUM_THREADS). Large batches are
    split into chunks of samples that run in parallel; small ones run chunk after chunk
    with the kernels parallel inside. Buffers are per thread, so one simulator may be
    used from several threads.
    """

    def __init__(self, module: Module, mode: str = "float", chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 threads: int | None = None):
        if _k is None:  # pragma: no cover
            raise SnccError(f"the CPU backend's compiled kernels are missing ({_IMPORT_ERROR}); "
                            f"reinstall sncc (pip install -e .) to build them")
        if mode not in ("float", "fixed"):
            raise SnccError(f"unknown CPU simulator mode {mode!r}; expected 'float' or 'fixed'")
        if not isinstance(module, Module):
            raise SnccError(f"CpuSimulator needs an sncc.ir.Module, got {type(module).__name__}")
        lowering = _FloatLowering if mode == "float" else _FixedLowering
        if mode == "float":
            _FloatLowering.check_float(module)
        else:
            _FixedLowering.check_fixed(module)
        module.verify()
        self.mode = mode
        self.chunk_bytes = int(chunk_bytes)
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise SnccError(f"threads must be a positive integer or None (all cores), got {threads!r}")
        self.threads = threads or 0
        self.program = lowering(module).lower()
        self.program.fixed = mode == "fixed"
        self._tls = threading.local()  # per-thread buffers, reused across chunks and runs

    @property
    def neurons(self) -> dict[str, int]:
        """`if` op name -> neurons per sample."""
        return dict(self.program.if_neurons)

    def _check_inputs(self, inputs) -> list[np.ndarray]:
        p = self.program
        if len(inputs) != len(p.input_slots):
            raise SnccError(f"module @{p.module_name} takes {len(p.input_slots)} input(s), got {len(inputs)}")
        out = []
        for name, shape, x in zip(p.input_names, p.input_shapes, inputs):
            what = f"input %{name}"
            try:
                arr = np.asarray(x)
            except (ValueError, TypeError) as e:
                raise SnccError(f"{what}: not a numeric array ({e})") from None
            if arr.dtype.kind not in "biuf":
                raise SnccError(f"{what}: expected a numeric array (bool, int or float), got dtype {arr.dtype}")
            if arr.shape[1:] != tuple(shape) or arr.ndim != len(shape) + 1:
                if arr.shape == tuple(shape):
                    raise SnccError(f"{what}: got one sample of shape {list(arr.shape)}; the simulator takes a batch: "
                                    f"add a leading axis, shape {[1] + list(arr.shape)}")
                raise SnccError(f"{what}: expected a batch of shape [N, {', '.join(map(str, shape))}], "
                                f"got {list(arr.shape)}")
            if p.fixed:  # quantized per chunk (_FixedInputStep; non-finite values: see run())
                if arr.dtype not in (_F32, np.dtype(np.float64)):
                    arr = arr.astype(np.float64)
                out.append(np.ascontiguousarray(arr))
                continue
            with np.errstate(over="ignore", invalid="ignore"):
                arr = np.ascontiguousarray(arr, dtype=np.float32)
            _check_finite(what, arr)
            out.append(arr)
        batches = {a.shape[0] for a in out}
        if len(batches) > 1:
            raise SnccError(f"inputs have different batch sizes {sorted(batches)}")
        return out

    def _plan_chunks(self, B: int, T: int) -> tuple[list[tuple[int, int]], int]:
        """Split the batch: chunks small enough for the cache (chunk_bytes), and when there
        are enough samples at least 2 per worker thread, which then run whole chunks with
        serial kernels (one thread per chunk: no barrier per kernel, robust on a busy
        machine). Few samples: one chunk after the other, OpenMP inside each kernel."""
        per = sum(s.bytes_per_sample(T) for s in self.program.steps) or 1
        bc = max(1, min(B, self.chunk_bytes // per))
        workers = self.threads or _k.max_threads()
        if workers > 1 and B >= 2 * workers * MIN_CHUNK_SAMPLES:
            bc = min(bc, -(-B // (2 * workers)))
            bc = max(bc, MIN_CHUNK_SAMPLES)
        else:
            workers = 1
        return [(b0, min(B, b0 + bc)) for b0 in range(0, B, bc)], workers

    def _run_chunk(self, xs, b0, b1, T, outs, record, threads):
        """Run samples b0:b1; outs maps t -> output arrays to fill (rows b0:b1) after step t."""
        p = self.program
        buffers = getattr(self._tls, "buffers", None)
        if buffers is None or len(buffers) > 256:
            buffers = self._tls.buffers = {}
        counts = {name: 0 for name in p.if_neurons} if record else None
        ctx = _Ctx(len(p.slots), b1 - b0, T, buffers, counts, threads)
        ctx.inputs = [x[b0:b1] for x in xs]
        ctx.snapshots = len(outs) > 1 or T not in outs
        for s in p.slots:
            if s.kind == CONST:
                ctx.env[s.index] = s.value
        for step in p.steps:
            step.run(ctx)
        for t, arrays in outs.items():
            for o, s in zip(arrays, p.output_slots):
                v = ctx.env[s.index]
                if s.kind == DYNAMIC:
                    v = v[:, t - 1]
                elif s.index in ctx.cumulative:
                    v = ctx.cumulative[s.index][:, t - 1]
                if p.fixed:
                    np.multiply(v, p.output_scales[p.output_slots.index(s)], out=o[b0:b1], casting="unsafe")
                else:
                    o[b0:b1] = v
        return counts

    def run(self, *inputs: np.ndarray, T: int | None = None, record: bool = False,
            snapshots: list[int] | None = None):
        """The module's output(s) for a batch of inputs, after T timesteps (default: the
        module's T): one array, or a tuple for several outputs. `record=True`: returns
        (outputs, {if op name: total spikes}). `snapshots=[t1, t2, ...]` (spiking modules):
        returns {t: outputs after t steps} from one run of max(snapshots) steps, as
        `sncc.interpret(..., snapshots=...)` does."""
        p = self.program
        xs = self._check_inputs(inputs)
        if snapshots is not None:
            if not p.spiking:
                raise SnccError("snapshots are for spiking modules")
            snaps = list(snapshots)
            if not snaps or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1 for t in snaps):
                raise SnccError(f"snapshots must be a non-empty list of timesteps >= 1, got {snapshots!r}")
            snaps = sorted({int(t) for t in snaps})
            T = snaps[-1]
        if p.spiking:
            T = p.T if T is None else T
            if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or T < 1:
                raise SnccError(f"spiking module @{p.module_name} needs a number of timesteps T >= 1, got {T!r}")
            T = int(T)
        else:
            T = 1
        B = xs[0].shape[0] if xs else 1
        times = snaps if snapshots is not None else [T]
        odt = np.float64 if p.fixed else np.float32
        outs = {t: [np.empty((B,) + s.shape, odt) for s in p.output_slots] for t in times}
        for step in p.steps:
            step.prepare(T)
        chunks, workers = self._plan_chunks(B, T) if B else ([], 1)
        try:
            if workers > 1:
                pool = _pool(workers)
                futures = [pool.submit(self._run_chunk, xs, b0, b1, T, outs, record, 1) for b0, b1 in chunks]
                parts = [f.result() for f in futures]
            else:
                parts = [self._run_chunk(xs, b0, b1, T, outs, record, self.threads) for b0, b1 in chunks]
        except _NonFinite:
            for name, x in zip(p.input_names, xs):
                _check_finite(f"input %{name}", x)
            raise AssertionError("quantize_input saw non-finite values that numpy does not")  # pragma: no cover
        counts = None
        if record:
            counts = {name: sum(c[name] for c in parts) for name in p.if_neurons}
        results = {t: (o[0] if len(o) == 1 else tuple(o)) for t, o in outs.items()}
        result = results if snapshots is not None else results[T]
        return (result, counts) if record else result

    __call__ = run

    def describe(self) -> str:
        """The plan, one line per kernel call (for debugging and reports)."""
        lines = []
        for st in self.program.steps:
            o = st.out
            lines.append(f"%{o.name} = {type(st).__name__[1:-4]}({', '.join('%' + s.name for s in st.ins)})"
                         f"  [{_KIND_NAMES[o.kind]} {o.dtype} {list(o.shape)}]")
        return "\n".join(lines)


def simulate(module: Module, *inputs: np.ndarray, T: int | None = None, record: bool = False,
             mode: str = "float"):
    """One-shot `CpuSimulator(module, mode=mode).run(*inputs, T=T, record=record)`."""
    return CpuSimulator(module, mode=mode).run(*inputs, T=T, record=record)
