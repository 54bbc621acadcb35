"""The CPU backend's float mode (sncc.backends.cpu) agrees with the reference interpreter.

Most networks use dyadic weights, thresholds and inputs (small multiples of 1/8, 1/16):
every sum is then exact in f32, whatever its order, so the simulator must reproduce
the interpreter *exactly* (outputs and every spike, ties `v == threshold` included).
Networks with random float weights are compared within float rounding.
"""
import numpy as np
import pytest

import sncc
from sncc import ops
from sncc.backends.cpu import CpuSimulator, printed_names, simulate
from sncc.interpreter import prng_initial_state, xorshift32_stream
from sncc.ir import Module
from sncc.runtime import spiking_kernels as K
from sncc.types import Fixed, TensorType


def dy(rng, shape, lo=-4, hi=5, den=8):
    """Dyadic values k/den, k in [lo, hi): exact f32 arithmetic."""
    return (rng.integers(lo, hi, size=shape) / den).astype(np.float32)


def reference(m, *xs, T=None):
    """sncc.interpret plus the total spike count of every `if` op (by printed name)."""
    names = printed_names(m)
    counts = {names[id(op.result)]: 0 for op in m.ops if op.kind == "if"}

    def observe(op, val):
        if op.kind == "if":
            counts[names[id(op.result)]] += int(np.asarray(val).sum())

    return sncc.interpret(m, *xs, T=T, observer=observe), counts


def check(m, *xs, T=None, exact=True, rtol=1e-4, spike_rtol=2e-3, **kw):
    ref, ref_counts = reference(m, *xs, T=T)
    out, counts = CpuSimulator(m, **kw).run(*xs, T=T, record=True)
    refs, outs = (ref, out) if isinstance(ref, tuple) else ((ref,), (out,))
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert o.dtype == np.float32 and o.shape == r.shape
        if exact:
            np.testing.assert_array_equal(o, r)
        else:
            scale = max(float(np.abs(r).max()), 1e-6)
            assert float(np.abs(o - r).max()) / scale <= rtol
    assert counts.keys() == ref_counts.keys()
    for k in counts:
        if exact:
            assert counts[k] == ref_counts[k], k
        else:
            assert abs(counts[k] - ref_counts[k]) <= spike_rtol * max(ref_counts[k], 1), (k, counts[k], ref_counts[k])
    assert all(v > 0 for v in counts.values()), counts  # the networks do spike
    return out, counts


def inp(m, shape, name="x", index=0):
    return m.add("input", (), {"index": index}, name, TensorType(shape))


# -- networks ---------------------------------------------------------------------

def mlp(rng, sizes=(20, 16, 12, 5), mode="constant", reset="subtract", T=8, weights=dy, seed=3):
    m = Module("mlp", {"T": T})
    h = m.add("encode", [inp(m, (sizes[0],))], {"mode": mode, "seed": seed}, "enc")
    n = len(sizes) - 1
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        h = m.add("dense", [h, m.const(weights(rng, (b, a)), f"w{i}"), m.const(weights(rng, (b,)), f"b{i}")], name=f"fc{i}")
        if i < n - 1:
            th = np.float32(1.0) if i == 0 else (rng.integers(2, 9, size=b) / 8).astype(np.float32)
            h = m.add("if", [h], {"threshold": th, "reset": reset, "v0": 0.25 * i}, f"s{i}")
    m.outputs = [m.add("readout", [h], name="out")]
    return m.verify()


def cnn(rng, mode="constant", reset="subtract", weights=dy):
    m = Module("cnn", {"T": 8})
    e = m.add("encode", [inp(m, (2, 9, 9))], {"mode": mode, "seed": 11}, "e")
    c1 = m.add("conv2d", [e, m.const(weights(rng, (8, 1, 3, 3)), "w1"), m.const(weights(rng, (8,)), "b1")],
               {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2], "groups": 2}, "c1")
    s1 = m.add("if", [c1], {"threshold": (np.arange(1, 9) / 8).astype(np.float32), "reset": reset}, "s1")
    p1 = m.add("avgpool2d", [s1], {"kernel": [2, 2]}, "p1")
    c2 = m.add("conv2d", [p1, m.const(weights(rng, (6, 8, 3, 3)), "w2")], {"pads": [1, 1, 1, 1]}, "c2")
    s2 = m.add("if", [c2], {"threshold": 0.5, "reset": reset, "v0": np.full(6, 0.25, np.float32)}, "s2")
    p2 = m.add("maxpool2d", [s2], {"kernel": [2, 2], "strides": [2, 2], "pads": [1, 1, 0, 0]}, "p2")
    f = m.add("flatten", [p2], name="f")
    d = m.add("dense", [f, m.const(weights(rng, (5, f.type.shape[0])), "w3"), m.const(weights(rng, (5,)), "b3")], name="d")
    m.outputs = [m.add("readout", [d], name="o")]
    return m.verify()


def randn(scale):
    return lambda rng, shape: (rng.standard_normal(shape) * scale).astype(np.float32)


# -- tests ------------------------------------------------------------------------

def test_prng_matches_spec_and_interpreter():
    assert K.prng_initial_state(0) == 0x92CA2F0E == prng_initial_state(0)
    assert K.prng_initial_state(1) == 0x36DEB503
    np.testing.assert_array_equal(K.xorshift_u24(0, 4), [3300119, 4468650, 10396820, 9138191])
    np.testing.assert_array_equal(K.xorshift_u24(1, 4), [15706626, 5261181, 4393788, 11972829])
    for seed in (0, 7, 2**31, 2**32 - 1):
        assert K.prng_initial_state(seed) == prng_initial_state(seed)
        np.testing.assert_array_equal(K.xorshift_u24(seed, 999), xorshift32_stream(seed, 999) >> 8)


@pytest.mark.parametrize("mode", ["constant", "rate"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_mlp_exact(mode, reset):
    rng = np.random.default_rng(1)
    m = mlp(rng, mode=mode, reset=reset)
    x = dy(rng, (33, 20), 0, 17, 16)
    check(m, x)
    check(m, x, T=3)   # a run may override T


@pytest.mark.parametrize("mode", ["constant", "rate"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_cnn_exact(mode, reset):
    """conv2d (stride, asymmetric pads, dilation, groups) + avgpool + maxpool (padded) +
    flatten + dense; per-channel threshold and v0; spikes into avgpool, floats into conv."""
    rng = np.random.default_rng(2)
    m = cnn(rng, mode, reset)
    check(m, dy(rng, (9, 2, 9, 9), 0, 17, 16))


def test_rate_encoding_gives_the_interpreters_spike_trains():
    """The encoder and the first IF layer after it (integer weights): identical spike
    counts per neuron for every T (draws of step t do not depend on T) and every seed, and
    identical spike trains step by step."""
    rng = np.random.default_rng(3)
    x = rng.random((40, 50), dtype=np.float32)
    x[:, :5] = [0.0, 1.0, -0.5, 2.0, 1e-7]  # never, always, never, always, almost never
    for seed in (0, 12345, 2**32 - 1):
        for T in (1, 7, 16):
            m = Module("rate", {"T": T})
            e = m.add("encode", [inp(m, (50,))], {"mode": "rate", "seed": seed}, "e")
            W = rng.integers(-1, 3, size=(30, 50)).astype(np.float32)
            s = m.add("if", [m.add("dense", [e, m.const(W, "w")], name="h")], {"threshold": 2.0}, "s")
            m.outputs = [m.add("readout", [s], {"mode": "count"}, name="n"),
                         m.add("readout", [e], {"mode": "count"}, name="enc_count")]
            (n, enc), counts = check(m.verify(), x)
            np.testing.assert_array_equal(enc[:, :5], [[0, T, 0, T, 0]] * 40)
            assert counts["s"] == n.sum()
        # the spike trains themselves, step by step: differences of the count snapshots
        steps = list(range(1, 17))
        got = CpuSimulator(m).run(x, snapshots=steps)
        ref = sncc.interpret(m, x, snapshots=steps)
        trains = [np.diff(np.stack([d[t][i] for t in steps]), axis=0, prepend=0) for d in (got, ref) for i in (0, 1)]
        np.testing.assert_array_equal(trains[0], trains[2])   # IF layer
        np.testing.assert_array_equal(trains[1], trains[3])   # encoder
        assert set(np.unique(trains[1])) == {0, 1}


def test_float_weights_within_rounding():
    rng = np.random.default_rng(4)
    m = mlp(rng, sizes=(64, 48, 32, 10), weights=randn(0.3), T=16)
    check(m, rng.random((50, 64), dtype=np.float32), exact=False)
    m = cnn(rng, "rate", weights=randn(0.4))
    check(m, rng.random((20, 2, 9, 9), dtype=np.float32), exact=False)


def test_residual_add_mul_concat_and_shape_ops():
    """Residual add (spikes + current), mul by a per-channel [C,1,1] and a right-aligned
    [W] constant, concat of spikes with floats, global_avgpool, reshape, transpose."""
    rng = np.random.default_rng(5)
    m = Module("res", {"T": 6})
    e = m.add("encode", [inp(m, (3, 6, 6))], {"mode": "constant"}, "e")
    c1 = m.add("conv2d", [e, m.const(dy(rng, (4, 3, 3, 3)), "w1")], {"pads": [1, 1, 1, 1]}, "c1")
    s1 = m.add("if", [c1], {"threshold": 0.5}, "s1")
    c2 = m.add("conv2d", [s1, m.const(dy(rng, (4, 4, 3, 3)), "w2")], {"pads": [1, 1, 1, 1]}, "c2")
    r = m.add("add", [c2, s1], name="res")                                  # float + spikes
    r = m.add("mul", [r, m.const(dy(rng, (4, 1, 1), 1, 5, 4), "scale")], name="scaled")  # per channel
    r = m.add("add", [r, m.const(dy(rng, (6,)), "shift")], name="shift_w")  # [W]: aligns with the last axis
    r = m.add("add", [r, c1], name="static_in")                             # + a time-invariant value
    s2 = m.add("if", [r], {"threshold": 1.0, "reset": "zero"}, "s2")
    both = m.add("add", [s2, s1], name="spikes_sum")                        # spikes + spikes
    cat = m.add("concat", [s2, s1, m.add("avgpool2d", [both], {"kernel": [1, 1]}, "pool")], {"axis": 0}, "cat")
    t = m.add("transpose", [cat], {"perm": [1, 2, 0]}, "t")
    s3 = m.add("if", [m.add("reshape", [t], {"shape": [108, 2, 2]}, "rs")], {"threshold": 0.75}, "s3")
    g = m.add("global_avgpool", [s3], name="gap")
    d = m.add("dense", [m.add("flatten", [g], name="f"), m.const(dy(rng, (7, 108)), "w3")], name="d")
    m.outputs = [m.add("readout", [d], name="o")]
    check(m.verify(), dy(rng, (11, 3, 6, 6), 0, 17, 16))


def test_readout_partial_sums_multiple_outputs_and_time_invariant_paths():
    """A readout read by later ops sees partial sums; outputs: a readout, the last step of
    an `if`, a time-invariant value and a constant; readout of a time-invariant input."""
    rng = np.random.default_rng(6)
    m = Module("multi", {"T": 5})
    x = inp(m, (8,))
    e = m.add("encode", [x], {"mode": "constant"}, "e")
    h = m.add("dense", [e, m.const(dy(rng, (6, 8)), "w")], name="h")
    s = m.add("if", [h], {"threshold": 0.5}, "s")
    acc = m.add("readout", [s], {"mode": "count"}, "acc")
    s2 = m.add("if", [m.add("mul", [acc, m.const(np.float32([0.5]), "half")], name="m")], {"threshold": 2.0}, "s2")
    out1 = m.add("readout", [s2], {"mode": "count"}, "o1")
    static_out = m.add("readout", [e], name="o_static")            # sum of T copies of x
    c = m.add("relu", [m.const(dy(rng, (3,)), "c")], name="folded")  # constant-only: folded
    m.outputs = [out1, s, acc, static_out, h, c]
    check(m.verify(), dy(rng, (9, 8), 0, 17, 16))


def test_snapshots_match_interpreter():
    """Outputs after several T from one run, like interpret(..., snapshots=...)."""
    rng = np.random.default_rng(15)
    m = mlp(rng, mode="rate")
    x = dy(rng, (6, 20), 0, 17, 16)
    snaps = [1, 3, 8, 13]
    got = CpuSimulator(m).run(x, snapshots=snaps)
    assert sorted(got) == snaps
    for t in snaps:
        np.testing.assert_array_equal(got[t], sncc.interpret(m, x, T=t))
    m2 = Module("two", {"T": 4})   # a spiking output read by another op, a time-invariant output
    s = m2.add("if", [m2.add("encode", [inp(m2, (5,))], name="e")], {"threshold": 0.5}, "s")
    acc = m2.add("readout", [s], {"mode": "count"}, "acc")
    m2.outputs = [acc, m2.add("add", [acc, m2.const(np.ones(5, np.float32), "one")], name="a"), s]
    x2 = dy(rng, (3, 5), 0, 9, 8)
    got = CpuSimulator(m2.verify()).run(x2, snapshots=[2, 5])
    for t in (2, 5):
        for g, r in zip(got[t], sncc.interpret(m2, x2, T=t)):
            np.testing.assert_array_equal(g, r)
    with pytest.raises(sncc.SnccError, match="snapshots must be"):
        CpuSimulator(m).run(x, snapshots=[0, 2])


def test_float_module_matches_interpreter():
    """A non-spiking module runs once: conv, batchnorm, relu, clip, qcfs, pools, matmul."""
    rng = np.random.default_rng(7)
    m = Module("ann")
    x = inp(m, (3, 10, 10))
    c = m.add("conv2d", [x, m.const(randn(0.3)(rng, (6, 1, 3, 3)), "w"), m.const(randn(0.1)(rng, (6,)), "b")],
              {"groups": 3, "strides": [1, 2], "pads": [0, 1, 2, 1]}, "c")
    bn = m.add("batchnorm", [c] + [m.const(rng.random(6, dtype=np.float32) + 0.5, n) for n in ("sc", "bi", "me", "va")],
               name="bn")
    r = m.add("relu", [bn], name="r")
    a = m.add("avgpool2d", [r], {"kernel": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": True}, "a")
    b = m.add("avgpool2d", [r], {"kernel": [3, 2], "strides": [2, 2], "pads": [2, 1, 0, 1]}, "b")
    mx = m.add("maxpool2d", [m.add("clip", [a], {"min": 0.1, "max": 0.9}, "cl")],
               {"kernel": [2, 2], "dilations": [2, 2], "pads": [1, 0, 1, 1]}, "mx")
    q = m.add("qcfs", [mx], {"threshold": 1.5, "levels": 4}, "q")
    f = m.add("flatten", [m.add("global_avgpool", [b], name="g")], name="f")
    mm = m.add("matmul", [m.add("flatten", [q], name="fq"), m.const(randn(0.2)(rng, (q.type.size, 6)), "wm")], name="mm")
    m.outputs = [m.add("add", [mm, f], name="y"), q]
    xs = rng.standard_normal((13, 3, 10, 10)).astype(np.float32)
    ref = sncc.interpret(m.verify(), xs)
    out = CpuSimulator(m).run(xs)
    for o, r_ in zip(out, ref):
        np.testing.assert_allclose(o, r_, rtol=1e-5, atol=1e-5)


def test_maxpool_window_entirely_in_the_padding_is_rejected():
    """A dilated window that skips every real element has no value (it would be -inf even
    for spikes): the verifier refuses it before any simulator sees it."""
    m = Module("mp", {"T": 2})
    s = m.add("if", [m.add("encode", [inp(m, (1, 3, 3))], name="e")], {"threshold": 0.5}, "s")
    with pytest.raises(sncc.VerificationError, match="lies entirely in the padding"):
        m.add("maxpool2d", [s], {"kernel": [2, 1], "dilations": [4, 1], "pads": [1, 0, 1, 0]}, "p")


@pytest.mark.parametrize("mode", ["constant", "rate"])
def test_gated_maxpool_exact(mode):
    """gated_maxpool2d (padded, strided, dilated windows; many ties between spike counts:
    the first maximum in window order wins) on spikes, and on a time-invariant current."""
    rng = np.random.default_rng(13)
    m = Module("gmp", {"T": 8})
    e = m.add("encode", [inp(m, (3, 8, 8))], {"mode": mode, "seed": 5}, "e")
    g0 = m.add("gated_maxpool2d", [e], {"kernel": [2, 2], "strides": [2, 2]}, "g0")
    c = m.add("conv2d", [e, m.const(dy(rng, (4, 3, 3, 3)), "w")], {"pads": [1, 1, 1, 1]}, "c")
    s = m.add("if", [c], {"threshold": 0.5}, "s")
    g1 = m.add("gated_maxpool2d", [s], {"kernel": [3, 2], "strides": [2, 1], "pads": [1, 1, 2, 0],
                                        "dilations": [1, 2]}, "g1")
    s2 = m.add("if", [m.add("conv2d", [g1, m.const(dy(rng, (2, 4, 2, 2)), "w2")], name="c2")],
               {"threshold": 0.75}, "s2")
    d = m.add("dense", [m.add("flatten", [s2], name="f"), m.const(dy(rng, (5, s2.type.size)), "w3")], name="d")
    m.outputs = [m.add("readout", [d], name="o"), m.add("readout", [g0], name="o0")]
    check(m.verify(), dy(rng, (10, 3, 8, 8), 0, 17, 16))


@pytest.mark.parametrize("level", [0, 1, 2])
def test_every_instruction_set(level):
    """The dense/GEMM/conv kernels exist for AVX-512, AVX2 and the baseline (picked at run
    time); run each one this CPU supports, exactly, on spikes and on float inputs."""
    best = K.isa_level()
    if level > best:
        pytest.skip(f"this CPU supports instruction-set level {best} < {level}")
    try:
        assert K.set_isa_level(level) == level
        rng = np.random.default_rng(16)
        for mode in ("constant", "rate"):
            check(cnn(rng, mode), dy(rng, (5, 2, 9, 9), 0, 17, 16))
            m = mlp(rng, sizes=(70, 45, 33, 10), mode=mode)
            x = dy(rng, (9, 70), 0, 17, 16)
            check(m, x)                                            # dense data: GEMM
            check(m, np.where(rng.random(x.shape) < 0.8, 0, x))    # mostly zeros: zero-skipping
    finally:
        K.set_isa_level(best)


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(8)
    m = cnn(rng, "rate")
    x = dy(rng, (9, 2, 9, 9), 0, 17, 16)
    whole, c1 = CpuSimulator(m, chunk_bytes=1 << 30).run(x, record=True)
    small = CpuSimulator(m, chunk_bytes=1)                          # one sample per chunk
    parts, c2 = small.run(x, record=True)
    np.testing.assert_array_equal(whole, parts)
    assert c1 == c2
    again, c3 = small.run(x, record=True)                            # buffers reused across runs
    np.testing.assert_array_equal(whole, again)
    assert c1 == c3
    assert small.run(x[:0]).shape == (0, 5)


def test_parallel_chunks_match_serial_run():
    """Large batches run as chunks in parallel worker threads (serial kernels); small ones
    with OpenMP inside the kernels; one thread: all serial. Same results, bit for bit."""
    rng = np.random.default_rng(14)
    m = cnn(rng, "rate", weights=randn(0.4))
    x = rng.random((70, 2, 9, 9), dtype=np.float32)
    serial, c1 = CpuSimulator(m, threads=1).run(x, record=True)
    par = CpuSimulator(m, threads=2, chunk_bytes=1)
    assert len(par._plan_chunks(70, 8)[0]) > 2 and par._plan_chunks(70, 8)[1] == 2
    out, c2 = par.run(x, record=True)
    np.testing.assert_array_equal(out, serial)
    assert c1 == c2
    small, c3 = CpuSimulator(m, threads=2).run(x[:5], record=True)   # kernel-parallel mode
    np.testing.assert_array_equal(small, serial[:5])
    m2 = mlp(rng, sizes=(300, 200, 10), weights=randn(0.1), T=16)   # GEMM + event-driven dense
    x2 = rng.random((100, 300), dtype=np.float32)
    np.testing.assert_array_equal(CpuSimulator(m2, threads=2).run(x2), CpuSimulator(m2, threads=1).run(x2))
    with pytest.raises(sncc.SnccError, match="threads must be a positive integer"):
        CpuSimulator(m, threads=0)


def test_record_and_neurons():
    rng = np.random.default_rng(9)
    m = mlp(rng)
    sim = CpuSimulator(m)
    x = dy(rng, (4, 20), 0, 17, 16)
    y = sim.run(x)
    y2, counts = sim.run(x, record=True)
    np.testing.assert_array_equal(y, y2)
    assert sim.neurons == {"s0": 16, "s1": 12}
    assert set(counts) == {"s0", "s1"} and all(isinstance(v, int) for v in counts.values())
    assert simulate(m, x).shape == (4, 5)


def test_parsed_text_module_runs():
    m = sncc.parse(mlp(np.random.default_rng(10)).to_text())
    x = dy(np.random.default_rng(0), (3, 20), 0, 17, 16)
    np.testing.assert_array_equal(CpuSimulator(m).run(x), sncc.interpret(m, x))


# -- converted networks -------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["constant", "rate"])
def test_converted_mnist_mlp(mnist, encoding):
    """The trained example MLP, converted by sncc.convert, on real test digits."""
    from pathlib import Path

    (x, _), (x_test, y_test) = mnist
    path = Path(__file__).parent.parent / "examples" / "mlp.onnx"
    snn = sncc.convert(str(path), calibration_data=x[:500], T=16, encoding=encoding, progress=False)
    out, _ = check(snn.module, x_test[:300], exact=False, rtol=1e-5, spike_rtol=1e-4)
    assert np.mean(out.argmax(1) == y_test[:300]) > 0.9


@pytest.mark.parametrize("name,maxpool", [("cnn", "gate"), ("cnn", "avg"), ("resnet", "gate")])
def test_converted_cnns(exported, name, maxpool):
    """Exported PyTorch CNN / ResNet (batchnorm, both poolings, residual adds, global
    average pooling) converted to spiking networks."""
    path, x = exported[name]
    snn = sncc.convert(path, calibration_data=x, T=8, maxpool=maxpool, progress=False)
    check(snn.module, x, exact=False, rtol=1e-4, spike_rtol=1e-3)


# -- errors -----------------------------------------------------------------------

@pytest.fixture
def sim():
    return CpuSimulator(mlp(np.random.default_rng(11)))


@pytest.mark.parametrize("x,match", [
    (np.zeros(20, np.float32), r"input %x: got one sample of shape \[20\].*add a leading axis"),
    (np.zeros((2, 21), np.float32), r"input %x: expected a batch of shape \[N, 20\], got \[2, 21\]"),
    (np.zeros((2, 1, 20), np.float32), r"expected a batch of shape \[N, 20\]"),
    (np.full((2, 20), "a"), r"input %x: expected a numeric array .* got dtype <U1"),
    (np.zeros((2, 20), object), r"got dtype object"),
    (np.zeros((2, 20), np.complex64), r"got dtype complex64"),
    ([[1, 2], [3]], r"input %x: not a numeric array"),
])
def test_bad_inputs(sim, x, match):
    with pytest.raises(sncc.SnccError, match=match):
        sim.run(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e39])
def test_non_finite_inputs(sim, bad):
    x = np.zeros((3, 20), np.float64)
    x[1, 7] = bad
    with pytest.raises(sncc.SnccError, match=r"input %x: 1 non-finite value.*first at index \[1, 7\]"):
        sim.run(x)


def test_inputs_are_cast(sim):
    x = np.random.default_rng(0).integers(0, 2, size=(3, 20))
    ref = sncc.interpret(sim_module := mlp(np.random.default_rng(11)), x.astype(np.float32))
    np.testing.assert_array_equal(sim.run(x), ref)                       # int
    np.testing.assert_array_equal(sim.run(x.astype(np.float64)), ref)    # float64
    np.testing.assert_array_equal(sim.run(x.astype(bool)), ref)          # bool
    np.testing.assert_array_equal(sim.run(x.tolist()), sncc.interpret(sim_module, x.astype(np.float32)))


@pytest.mark.parametrize("T", [0, -1, 1.5, True, "8"])
def test_bad_T(sim, T):
    with pytest.raises(sncc.SnccError, match="needs a number of timesteps T >= 1"):
        sim.run(np.zeros((1, 20)), T=T)


def test_module_errors(monkeypatch):
    m = mlp(np.random.default_rng(12))
    with pytest.raises(sncc.SnccError, match="takes 1 input"):
        CpuSimulator(m).run(np.zeros((1, 20)), np.zeros((1, 20)))
    del m.attrs["T"]
    with pytest.raises(sncc.SnccError, match=r"\bT\b"):  # the verifier or run() asks for T
        CpuSimulator(m).run(np.zeros((1, 20)))
    with pytest.raises(sncc.SnccError, match="fixed-point mode runs quantized modules"):
        CpuSimulator(m, mode="fixed")
    with pytest.raises(sncc.SnccError, match="unknown CPU simulator mode"):
        CpuSimulator(m, mode="double")

    # a weight that depends on the input
    m = Module("w", {"T": 2})
    x = inp(m, (4,))
    w = m.add("reshape", [m.add("concat", [x, x, x, x], {"axis": 0}, "xx")], {"shape": [4, 4]}, "wx")
    m.outputs = [m.add("readout", [m.add("dense", [x, w], name="fc")], name="o")]
    with pytest.raises(sncc.SnccError, match=r"'dense' op %fc: the CPU backend needs a constant weight"):
        CpuSimulator(m.verify())

    # fixed-point IR
    m = Module("q", {"T": 2})
    x = m.add("input", (), {"index": 0}, "x", TensorType((4,), Fixed(16, 8)))
    w = m.const(np.ones((3, 4), np.int8), "w", elem=Fixed(8, 4))
    m.outputs = [m.add("dense", [x, w], name="fc", result_type=TensorType((3,), Fixed(16, 4)))]
    with pytest.raises(sncc.SnccError, match=r"float mode cannot run fixed-point IR \('input' op %x has type "
                                             r"tensor<4xfx<16,8>>\); use mode='fixed'"):
        CpuSimulator(m)

    # an op kind the backend does not know
    monkeypatch.setitem(ops.OPS, "frobnicate", ops.OpDef("frobnicate", ("x",), {}, lambda ts, a: ts[0]))
    m = Module("u", {"T": 2})
    m.outputs = [m.add("frobnicate", [inp(m, (4,))], name="f")]
    with pytest.raises(sncc.SnccError, match=r"cannot execute 'frobnicate' op %f: unsupported op kind"):
        CpuSimulator(m.verify())
    with pytest.raises(sncc.SnccError, match="needs an sncc.ir.Module"):
        CpuSimulator("module")


def test_kernels_check_shapes():
    """The kernels refuse inconsistent shapes before touching memory."""
    x = np.zeros((2, 5), np.uint8)
    with pytest.raises(ValueError, match="dense"):
        K.dense(x, np.zeros((4, 3), np.float32), np.zeros(0, np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="if"):
        K.if_neuron(np.zeros((2, 3, 4), np.float32), np.ones(4, np.float32), np.zeros(3, np.float32),
                    np.zeros((2, 3, 4), np.uint8), np.zeros(2, np.int64), False)
    with pytest.raises(ValueError, match="conv2d"):
        K.conv2d(np.zeros((1, 3, 4, 4), np.float32), np.zeros((1, 3, 3, 4, 16), np.float32), np.zeros(0, np.float32),
                 np.zeros((1, 4, 2, 2), np.float32), 1, 1, 0, 0, 1, 1)
    with pytest.raises(ValueError, match="encode"):
        K.encode_rate(np.zeros((2, 1, 4), np.float32), np.zeros((3, 5), np.uint32), np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(ValueError, match="dense_fixed"):
        K.dense_fixed(x, np.zeros((4, 16), np.int32), np.zeros(0, np.int32), np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="int32 accumulators"):
        K.dense_fixed(np.zeros((2, 4), np.int64), np.zeros((4, 16), np.int32), np.zeros(0, np.int32),
                      np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="dense_fixed"):
        K.dense_fixed_exact_f32(np.zeros((2, 4), np.int32), np.zeros((4, 16), np.float32), np.zeros(0, np.int32),
                                np.zeros((2, 3), np.int32), 0)
    with pytest.raises(ValueError, match="if_fixed"):
        K.if_neuron_fixed(np.zeros((2, 3, 4), np.int32), np.ones(4, np.int32), np.zeros(3, np.int32),
                          np.zeros((2, 3, 4), np.uint8), np.zeros(2, np.int64), -8, 7, False)
    with pytest.raises(ValueError, match="int64 membranes"):
        K.if_neuron_fixed(np.zeros((2, 3, 4), np.int64), np.ones(4, np.int32), np.zeros(4, np.int32),
                          np.zeros((2, 3, 4), np.uint8), np.zeros(2, np.int64), -8, 7, False)
    with pytest.raises(ValueError, match="readout_fixed"):
        K.readout_sum_fixed(np.zeros((2, 3, 4), np.int32), np.zeros((2, 2, 4), np.int64), 3, True)
    with pytest.raises(ValueError, match="encode_fixed"):
        K.encode_rate_fixed(np.zeros((2, 1, 4), np.uint32), np.zeros((3, 5), np.uint32), np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(ValueError, match="quantize_input"):
        K.quantize_input(np.zeros(4, np.float32), 8, -512, 511, np.zeros(3, np.int32))


# -- fixed-point mode (spec/ir.md section 6): bit-exact against sncc.interpret ----------

def quantized(m, opts="weight_bits=8"):
    ctx = sncc.pass_manager.PassContext()
    qm = sncc.PassManager.parse(f"quantize{{{opts}}}").run(m.clone(), ctx)
    return qm, ctx.reports["quantize"]["layers"]


def check_fixed(qm, *xs, T=None, sim=None):
    """mode="fixed" equals the interpreter exactly: outputs (float64 q * 2^-F) and the
    spike count of every `if` op."""
    ref, ref_counts = reference(qm, *xs, T=T)
    out, counts = (sim or CpuSimulator(qm, mode="fixed")).run(*xs, T=T, record=True)
    refs, outs = (ref, out) if isinstance(ref, tuple) else ((ref,), (out,))
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert o.dtype == np.float64 and o.shape == r.shape
        assert np.array_equal(o, r)
    assert counts == ref_counts
    assert any(v > 0 for v in counts.values()), counts
    return out, counts


def fixed_cnn(rng, mode="constant", reset="subtract", T=8):
    """Everything quantize accepts: conv2d (groups, strides, asymmetric pads, dilation),
    2x2 avgpool, padded gated_maxpool2d, residual add of spikes and currents, mul by a constant,
    concat, transpose, reshape, global_avgpool, flatten, dense, count and current readouts,
    a readout read by another op (partial sums)."""
    m = Module("qcnn", {"T": T})
    e = m.add("encode", [inp(m, (2, 9, 9))], {"mode": mode, "seed": 11}, "e")
    c1 = m.add("conv2d", [e, m.const(dy(rng, (8, 1, 3, 3)), "w1"), m.const(dy(rng, (8,)), "b1")],
               {"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2], "groups": 2}, "c1")
    s1 = m.add("if", [c1], {"threshold": 1.0, "reset": reset}, "s1")                       # [8, 5, 6]
    p1 = m.add("avgpool2d", [s1], {"kernel": [2, 2], "strides": [2, 1]}, "p1")             # [8, 2, 5]
    c2 = m.add("conv2d", [p1, m.const(dy(rng, (8, 8, 3, 3)), "w2")], {"pads": [1, 1, 1, 1]}, "c2")
    r = m.add("add", [c2, p1], name="res")
    r = m.add("mul", [r, m.const(dy(rng, (8, 1, 1), 1, 5, 4), "scale")], name="scaled")
    s2 = m.add("if", [r], {"threshold": 1.0, "reset": reset, "v0": 0.5}, "s2")
    g = m.add("gated_maxpool2d", [s2], {"kernel": [2, 2], "strides": [1, 2], "pads": [1, 0, 0, 0]}, "g")  # [8, 2, 2]
    cat = m.add("concat", [g, m.add("avgpool2d", [g], {"kernel": [1, 1]}, "id_pool")], {"axis": 0}, "cat")
    t = m.add("transpose", [cat], {"perm": [0, 2, 1]}, "t")                               # [16, 2, 2]
    gap = m.add("global_avgpool", [t], name="gap")
    d = m.add("dense", [m.add("flatten", [gap], name="f"), m.const(dy(rng, (10, 16)), "w3"),
                        m.const(dy(rng, (10,)), "b3")], name="d")
    s3 = m.add("if", [d], {"threshold": 1.0, "reset": reset}, "s3")
    acc = m.add("readout", [s3], {"mode": "count"}, "acc")
    s4 = m.add("if", [m.add("mul", [acc, m.const(np.float32([0.5]), "half")], name="m")], {"threshold": 1.0}, "s4")
    m.outputs = [m.add("readout", [d], name="o"), m.add("readout", [s4], {"mode": "count"}, name="o2"), acc]
    return m.verify()


@pytest.mark.parametrize("mode", ["constant", "rate"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fixed_mlp_exact(mode, reset):
    rng = np.random.default_rng(21)
    m = mlp(rng, sizes=(40, 36, 20, 6), mode=mode, reset=reset, T=12)
    x = dy(rng, (40, 40), 0, 17, 16)
    for opts in ("weight_bits=8", "weight_bits=4"):
        qm, _ = quantized(m, opts)
        check_fixed(qm, x)
        check_fixed(qm, x, T=5)                      # a run may override T
    # narrow membranes (5 bits): saturation, still bit for bit
    qw, _ = quantized(m, "weight_bits=4,input_bits=2")
    qn, layers = quantized(m, "weight_bits=4,input_bits=2,membrane_bits=5")
    assert all(d["may_saturate"] for d in layers if "membrane_bits" in d)
    _, counts_n = check_fixed(qn, x)
    _, counts_w = check_fixed(qw, x)
    if mode == "rate":
        assert counts_n != counts_w                  # saturation did change the spikes


@pytest.mark.parametrize("mode", ["constant", "rate"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_fixed_cnn_exact(mode, reset):
    rng = np.random.default_rng(22)
    m = fixed_cnn(rng, mode, reset)
    x = dy(rng, (12, 2, 9, 9), 0, 17, 16)
    for opts in ("weight_bits=8", "weight_bits=4,membrane_bits=12", "weight_bits=16,input_bits=16"):
        qm, _ = quantized(m, opts)  # 16 bits: sums beyond 2^24 (conv/pool in int64 numpy, not via f32)
        check_fixed(qm, x)


def test_fixed_gated_maxpool_with_padding():
    """Padded, strided, dilated gated_maxpool2d windows of rate-encoded dyadic inputs: the
    quantized module's spikes are the float module's, so fixed mode equals the float
    interpreter too."""
    rng = np.random.default_rng(26)
    m = Module("gq", {"T": 9})
    e = m.add("encode", [inp(m, (3, 7, 7))], {"mode": "rate", "seed": 4}, "e")
    g = m.add("gated_maxpool2d", [e], {"kernel": [3, 2], "strides": [2, 1], "pads": [1, 1, 2, 0],
                                       "dilations": [1, 2]}, "g")
    m.outputs = [m.add("readout", [g], {"mode": "count"}, name="o")]
    m.verify()
    qm, _ = quantized(m)
    x = dy(rng, (8, 3, 7, 7), 0, 17, 16)
    ref = sncc.interpret(m, x)
    assert np.array_equal(CpuSimulator(qm, mode="fixed").run(x), ref) and ref.sum() > 0
    assert np.array_equal(CpuSimulator(qm, mode="fixed").run(x), sncc.interpret(qm, x))


def test_fixed_snapshots_chunks_and_threads():
    rng = np.random.default_rng(23)
    qm, _ = quantized(mlp(rng, sizes=(30, 24, 10), mode="rate", T=10))
    x = dy(rng, (70, 30), 0, 17, 16)
    ref, _ = check_fixed(qm, x)
    snaps = [1, 4, 10]
    got = CpuSimulator(qm, mode="fixed").run(x, snapshots=snaps)
    for t in snaps:
        assert np.array_equal(got[t], sncc.interpret(qm, x, T=t))
    for sim in (CpuSimulator(qm, mode="fixed", chunk_bytes=1), CpuSimulator(qm, mode="fixed", threads=1),
                CpuSimulator(qm, mode="fixed", threads=3)):
        assert np.array_equal(sim.run(x), ref)


def test_fixed_int64_paths():
    """Wide accumulators and membranes (> 31 bits: int64 kernels) and inputs that fall
    outside the calibrated range (clamped to the input type like the interpreter)."""
    rng = np.random.default_rng(24)
    m = mlp(rng, sizes=(64, 32, 8), T=6, weights=lambda r, s: (r.integers(-128, 128, s) / 8).astype(np.float32))
    qm, _ = quantized(m, "weight_bits=16,input_bits=20")
    x = rng.random((10, 64)) * 2.5 - 0.5                        # float64, beyond calib range [0, 1]
    sim = CpuSimulator(qm, mode="fixed")
    assert "int64" in sim.describe()
    check_fixed(qm, x, sim=sim)
    # int32 inputs into int64 sums, int32 currents into 40-bit (int64) membranes
    m = mlp(rng, sizes=(256, 32, 8), T=6, weights=lambda r, s: (r.integers(-128, 128, s) / 8).astype(np.float32))
    qm, _ = quantized(m, "weight_bits=16,input_bits=10,membrane_bits=40")
    x = rng.random((10, 256)) * 1.5
    check_fixed(qm, x)


def test_fixed_first_layer_in_exact_f32_blocks():
    """Integer inputs of dense go through f32 FMAs in blocks of active inputs whose sums
    stay below 2^24; with 12 input bits the blocks hold 16 inputs: several per row."""
    rng = np.random.default_rng(27)
    # weights that are not short dyadic fractions, so quantize gives them all 8 bits
    m = mlp(rng, sizes=(100, 40, 10), T=5, weights=lambda r, s: (0.3 * r.standard_normal(s)).astype(np.float32))
    qm, _ = quantized(m, "weight_bits=8,input_bits=12")
    sim = CpuSimulator(qm, mode="fixed")
    step = next(st for st in sim.program.steps if getattr(st, "block", 0))
    assert 1 <= step.block < 40
    check_fixed(qm, rng.random((25, 100)) * 1.2 - 0.1, sim=sim)


def test_fixed_every_instruction_set():
    best = K.isa_level()
    rng = np.random.default_rng(28)
    qm, _ = quantized(mlp(rng, sizes=(70, 45, 33, 10), mode="rate"))
    qc, _ = quantized(mlp(rng, sizes=(70, 45, 33, 10)))
    x = dy(rng, (9, 70), 0, 17, 16)
    try:
        for level in range(best + 1):
            assert K.set_isa_level(level) == level
            check_fixed(qm, x)
            check_fixed(qc, x)
    finally:
        K.set_isa_level(best)


def test_fixed_converted_mnist_mlp(mnist):
    from pathlib import Path

    (x, _), (x_test, y_test) = mnist
    path = Path(__file__).parent.parent / "examples" / "mlp.onnx"
    for encoding in ("constant", "rate"):
        snn = sncc.convert(str(path), calibration_data=x[:500], T=16, encoding=encoding, progress=False)
        qm, _ = quantized(snn.module)
        out, _ = check_fixed(qm, x_test[:300])
        assert np.mean(out.argmax(1) == y_test[:300]) > 0.9


def test_fixed_errors():
    rng = np.random.default_rng(25)
    qm, _ = quantized(mlp(rng))
    sim = CpuSimulator(qm, mode="fixed")
    for bad in (np.nan, np.inf):
        x = np.zeros((2, 20))
        x[1, 3] = bad
        with pytest.raises(sncc.SnccError, match=r"input %x: 1 non-finite value.*first at index \[1, 3\]"):
            sim.run(x)
    with pytest.raises(sncc.SnccError, match=r"expected a batch of shape \[N, 20\], got \[2, 21\]"):
        sim.run(np.zeros((2, 21)))
    with pytest.raises(sncc.SnccError, match="add a leading axis"):
        sim.run(np.zeros(20))
    with pytest.raises(sncc.SnccError, match="takes 1 input"):
        sim.run(np.zeros((1, 20)), np.zeros((1, 20)))
    with pytest.raises(sncc.SnccError, match="fixed-point mode runs quantized modules"):
        CpuSimulator(mlp(rng), mode="fixed")
    with pytest.raises(sncc.SnccError, match="float mode cannot run fixed-point IR"):
        CpuSimulator(qm)
    # an op without fixed-point semantics, named
    m = Module("mx", {"T": 2})
    x = m.add("input", (), {"index": 0}, "x", TensorType((1, 4, 4), Fixed(10, 8)))
    p = m.add("maxpool2d", [x], {"kernel": [2, 2]}, "pool", TensorType((1, 3, 3), Fixed(10, 8)))
    m.outputs = [m.add("readout", [p], name="o", result_type=TensorType((1, 3, 3), Fixed(16, 8)))]
    with pytest.raises(sncc.SnccError, match=r"fixed-point mode cannot execute 'maxpool2d' op %pool"):
        CpuSimulator(m.verify(), mode="fixed")
