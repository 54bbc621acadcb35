"""Seeded, bounded fuzzing of the CLI (issue 10): valid IR text and valid ONNX graphs are
mutated at random (byte flips, token swaps, huge numbers, attribute changes, deleted
inputs, ...) and fed to the real entry point `sncc.cli.main` in-process. Every case must
end with exit 0 or 1 (never 2, the internal-error code), within a per-case time limit; an
error is one line `sncc: error: ...`; and whatever IR sncc prints or writes parses back
and prints byte for byte the same.

Environment: SNCC_FUZZ_SEED (default 0), SNCC_FUZZ_CASES (cases per corpus, default 700),
SNCC_FUZZ_SECONDS (total budget, default 24) for longer local runs.
"""
from __future__ import annotations

import os
import random
import re
import signal
import time

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from sncc import ir
from test_hostile_input import RELU, SNN, cli  # noqa: E402  (tests/ is on sys.path under pytest)

SEED = int(os.environ.get("SNCC_FUZZ_SEED", "0"))
CASES = int(os.environ.get("SNCC_FUZZ_CASES", "700"))
BUDGET = float(os.environ.get("SNCC_FUZZ_SECONDS", "24"))
CASE_LIMIT = 10.0  # seconds; the slowest legitimate case takes well under 1 s
SMALL = 100_000  # elements: only networks this small are simulated (bounded memory and time)

SPEC_EXAMPLE = """\
module @tiny attributes {T = 4} {
  %x = input {index = 0} : tensor<1x4x4xf32>
  %enc = encode(%x) {mode = "rate", seed = 7} : tensor<1x4x4xspike>
  %w1 = const {value = dense<[0.5, 0.5, 0.5, 0.5]> : tensor<1x1x2x2xf32>} : tensor<1x1x2x2xf32>
  %c1 = conv2d(%enc, %w1) {strides = [2, 2]} : tensor<1x2x2xf32>
  %s1 = if(%c1) {threshold = 1.0} : tensor<1x2x2xspike>
  %f = flatten(%s1) : tensor<4xspike>
  %w2 = const {value = dense_resource<w2> : tensor<3x4xf32>} : tensor<3x4xf32>
  %b2 = const {value = dense<[0.0, 0.5, -1.0]> : tensor<3xf32>} : tensor<3xf32>
  %fc = dense(%f, %w2, %b2) : tensor<3xf32>
  %out = readout(%fc) : tensor<3xf32>
  return %out
}

resources {
  w2 = 0x0000803f000080bf0000803e00000000000000000000803f0000803f000000bfcdcccc3dcdcc4c3e9a99993ecdcccc3e
}
"""

FIXED = """\
module @q attributes {T = 3} {
  %x = input {index = 0, calib.max = 1.0} : tensor<4xfx<10,8>>
  %e = encode(%x) : tensor<4xfx<10,8>>
  %w = const {value = dense<[64, -32, 0, 127, 5, 6, -7, 8]> : tensor<2x4xfx<8,6>>} : tensor<2x4xfx<8,6>>
  %d = dense(%e, %w) : tensor<2xfx<20,14>>
  %s = if(%d) {threshold = 1.0, vbits = 24} : tensor<2xspike>
  %p = reshape(%s) {shape = [1, 1, 2]} : tensor<1x1x2xspike>
  %m = maxpool2d(%p) {kernel = [1, 2]} : tensor<1x1x1xspike>
  %r = readout(%s) {mode = "count"} : tensor<2xfx<4,0>>
  return %r
}
"""

NUMBERS = ["0", "-1", "1", "2", "3", "65536", "65537", "2147483648", "9223372036854775808", "9" * 400, "9" * 5000,
           "1e300", "-1e300", "1e-300", "1e39", "nan", "inf", "-inf", "0.5", "-0.0", "1.5"]
TOKENS = ["%x", "%y", "{", "}", "(", ")", ",", "=", ":", "[", "]", '"\\q"', '"\\u12"', "tensor<f32>",
          "tensor<0xf32>", "tensor<4294967296x4294967296xf32>", "tensor<2xfx<99,0>>", "tensor<2xspike>",
          "dense<[1.0]> : tensor<1xf32>", "dense_resource<w2> : tensor<3x4xf32>", "elided<3 values> : tensor<3xf32>",
          "a.b = dense<[1, 2]> : tensor<2xfx<8,0>>", "maxpool2d", "avgpool2d", "if", "readout", "encode", "concat",
          "batchnorm", "qcfs", "input", "const", "return", "index", "threshold", "kernel", "pads", "T"]


class _Hang(BaseException):  # not an Exception: main() must not turn it into exit code 2
    pass


def _alarm(signum, frame):
    raise _Hang()


def run_case(args, stdin=None):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_LIMIT)
    try:
        return cli(*args, stdin=stdin)
    except _Hang:
        pytest.fail(f"sncc {' '.join(map(str, args))} did not finish within {CASE_LIMIT} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


STATS: dict[str, int] = {}


def check(r, args, what: str):
    STATS[f"{args[0] if args[0] in ('opt', 'run') else 'compile'} exit {r.code}"] = \
        STATS.get(f"{args[0] if args[0] in ('opt', 'run') else 'compile'} exit {r.code}", 0) + 1
    assert r.code in (0, 1), f"{what}: exit {r.code}\n{r.err[-2000:]}"
    if r.code == 1:
        lines = [line for line in r.err.splitlines() if line.strip() and "simulate" not in line]
        assert len(lines) == 1 and lines[0].startswith("sncc: error: "), f"{what}: not one error line:\n{r.err[-2000:]}"
    else:
        assert "Traceback" not in r.err and "Warning" not in r.err, f"{what}: {r.err[-2000:]}"
    if r.code == 0 and r.out.startswith("module @") and "elided<" not in r.out:
        assert ir.parse(r.out).to_text() == r.out, f"{what}: printed IR does not print back the same"


def small_enough(text: str) -> bool:
    try:
        m = ir.parse(text)
    except Exception:
        return False
    return all(op.type.size <= SMALL for op in m.ops)


# -- IR text mutations -----------------------------------------------------------------------

_TOKEN = re.compile(r'tensor<(?:[^<>]|<[^<>]*>)*>|dense_resource<[^>]*>|elided<[^>]*>|"(?:[^"\\]|\\.)*"'
                    r'|[%@]?[A-Za-z0-9_.$+-]+|\s+|.', re.S)
_NUMBER = re.compile(r"[-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")


def mutate_text(rng: random.Random, text: str) -> str:
    """One random edit; most keep the text well-formed so that the checks behind the parser
    (verifier, passes, printer, simulator) see hostile values too."""
    tokens = _TOKEN.findall(text)
    words = [k for k, t in enumerate(tokens) if not t.isspace()]
    numbers = [k for k, t in enumerate(tokens) if _NUMBER.fullmatch(t)]
    how = rng.choice("nnnnddaaaswitlb")
    if how == "n" and numbers:  # a number becomes an extreme one
        tokens[rng.choice(numbers)] = rng.choice(NUMBERS)
    elif how == "d":  # a dimension of a type changes
        dims = list(re.finditer(r"(?<=[<x])[0-9]+(?=x)", text))
        if dims:
            d = rng.choice(dims)
            return text[:d.start()] + rng.choice(["0", "1", "2", "3", "7", "999999999999", "4294967296"]) + text[d.end():]
    elif how == "a":  # an attribute value changes
        vals = list(re.finditer(r"[{,] *[A-Za-z_][A-Za-z0-9_.]* = (\[[^\]]*\]|[^,}\[]+)", text))
        if vals:
            v = rng.choice(vals)
            return text[:v.start(1)] + rng.choice(NUMBERS + ['"rate"', '"zero"', '"x"', "true", "[1, 2]", "[2.5]",
                                                             "[]", "[1, 1, 1, 1]", "[0, 0]",
                                                             "dense<[1.0, 2.0]> : tensor<2xf32>"]) + text[v.end(1):]
    elif how == "s":  # two tokens swap places
        i, j = rng.choice(words), rng.choice(words)
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif how == "i":  # a token is inserted
        tokens.insert(rng.randrange(len(tokens)), rng.choice(TOKENS + NUMBERS) + " ")
    elif how == "t":  # a token disappears
        del tokens[rng.choice(words)]
    elif how == "l":  # a line disappears or doubles
        lines = text.split("\n")
        i = rng.randrange(len(lines))
        lines[i:i + 1] = [] if rng.random() < 0.5 else [lines[i], lines[i]]
        return "\n".join(lines)
    else:  # a byte flips (some become invalid UTF-8 once encoded as latin-1 by the caller)
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(1, 256)) + text[i + 1:]
    return "".join(tokens)


def test_fuzz_ir_text(tmp_path):
    STATS.clear()
    rng = random.Random(SEED)
    seeds = [RELU, SNN, SPEC_EXAMPLE, FIXED, _onnx_seed_ir()]
    for s in seeds:  # the corpus itself is valid and round-trips
        assert ir.parse(s).to_text() == ir.parse(ir.parse(s).to_text()).to_text()
    x = tmp_path / "x.npy"
    deadline = time.perf_counter() + BUDGET / 2
    done = 0
    for case in range(CASES):
        if time.perf_counter() > deadline:
            break
        text = rng.choice(seeds)
        for _ in range(rng.choice([1, 1, 2, 3])):
            text = mutate_text(rng, text)
        data = text.encode("utf-8", "surrogatepass") if rng.random() < 0.9 else text.encode("latin-1", "replace")
        path = tmp_path / "case.sir"
        path.write_bytes(data)
        what = f"IR case {case} (seed {SEED}):\n{data[:3000]!r}"
        mode = rng.randrange(4)
        if mode == 0:
            args = ["opt", "-", "--pipeline", rng.choice(["dce", "canonicalize", "canonicalize,fold-batchnorm,dce"])]
            r = run_case(args, stdin=data)
        elif mode == 1:
            out = tmp_path / "out.sir"
            out.unlink(missing_ok=True)
            args = ["opt", path, "--pipeline", "canonicalize,dce", "-o", out]
            r = run_case(args)
            if r.code == 0:
                written = out.read_text()
                assert ir.parse(written).to_text() == written, what
        elif mode == 2:
            args = [path]
            r = run_case(args)
        else:  # simulate, when the network is small
            try:
                shape = ir.parse(text).inputs[0].type.shape
            except Exception:
                shape = (4,)
            np.save(x, np.random.default_rng(case).random((2,) + shape, dtype=np.float32))
            if not small_enough(text):  # unparsable text is still fine to run: it fails fast
                text_ok = False
                try:
                    ir.parse(text)
                    text_ok = True
                except Exception:
                    pass
                if text_ok:
                    continue
            args = ["run", path, "--input", x, "-T", "3", "--json"] + (["--fixed"] if rng.random() < 0.3 else [])
            r = run_case(args)
        check(r, args, what)
        done += 1
    print(f"IR fuzz: {done} cases, {sorted(STATS.items())}")
    assert done >= min(CASES, 50), f"only {done} IR cases ran within the budget"


# -- ONNX graph mutations --------------------------------------------------------------------

def _arr(rng: np.random.Generator, shape) -> np.ndarray:
    return (rng.standard_normal(shape) * 0.5).astype(np.float32)


def onnx_seeds() -> list[onnx.ModelProto]:
    rng = np.random.default_rng(0)
    init = numpy_helper.from_array
    node = helper.make_node
    cnn_nodes = [
        node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        node("BatchNormalization", ["c1", "s", "bb", "mu", "var"], ["bn"], name="bn1"),
        node("Relu", ["bn"], ["r1"]),
        node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        node("AveragePool", ["p1"], ["ap"], kernel_shape=[2, 2]),
        node("Conv", ["ap", "w2"], ["c2"], name="conv2"),
        node("Add", ["c2", "ap"], ["a"]),
        node("Concat", ["a", "ap"], ["cat"], axis=1),
        node("Clip", ["cat", "lo", "hi"], ["cl"]),
        node("Div", ["cl", "two"], ["dv"]),
        node("Mul", ["dv", "two"], ["mu2"]),
        node("Flatten", ["mu2"], ["f"]),
        node("Gemm", ["f", "wf", "bf"], ["g"], transB=1),
        node("Dropout", ["g"], ["d"]),
        node("Sub", ["d", "two"], ["y"]),
    ]
    cnn_inits = [init(_arr(rng, (4, 1, 3, 3)), "w1"), init(_arr(rng, 4), "b1"),
                 init(np.ones(4, np.float32), "s"), init(np.zeros(4, np.float32), "bb"),
                 init(np.zeros(4, np.float32), "mu"), init(np.ones(4, np.float32), "var"),
                 init(_arr(rng, (4, 4, 1, 1)), "w2"), init(np.array(0, np.float32), "lo"),
                 init(np.array(6, np.float32), "hi"), init(np.array(2, np.float32), "two"),
                 init(_arr(rng, (10, 32)), "wf"), init(_arr(rng, 10), "bf")]
    cnn = helper.make_graph(cnn_nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
                            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], cnn_inits)
    mlp_nodes = [node("Flatten", ["x"], ["f"]), node("MatMul", ["f", "w1"], ["m1"]), node("Add", ["m1", "b1"], ["a1"]),
                 node("Relu", ["a1"], ["r1"]), node("Gemm", ["r1", "w2", "b2"], ["y"]),
                 node("Softmax", ["y"], ["p"], axis=1)]
    mlp_inits = [init(_arr(rng, (36, 16)), "w1"), init(_arr(rng, 16), "b1"), init(_arr(rng, (16, 10)), "w2"),
                 init(_arr(rng, 10), "b2")]
    mlp = helper.make_graph(mlp_nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 6, 6])],
                            [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["N", 10])], mlp_inits)
    return [helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]) for g in (cnn, mlp)]


def _onnx_seed_ir() -> str:
    from sncc.onnx_frontend import import_onnx

    return import_onnx(onnx_seeds()[0]).to_text()


ATTR_VALUES = [0, -1, 1, 2, 3, 10**12, 2**63 - 1, 1.5, -0.5, float("nan"), float("inf"), "SAME_UPPER", "SAME_LOWER",
               "VALID", "abc", [0, 0], [1, 1, 1], [2, 2], [-1, 2], [10**9, 1], [1, 1, 1, 1], [5, 5, 5, 5],
               [0.5, 1.0], ["a"]]
OPS = ["Relu", "Add", "Mul", "Sub", "Div", "Conv", "MaxPool", "AveragePool", "BatchNormalization", "Concat", "Clip",
       "Flatten", "Gemm", "MatMul", "Reshape", "Dropout", "Identity", "Sum", "GlobalAveragePool", "Softmax",
       "Sigmoid", "Floor", "Transpose", "ConstantOfShape", "Shape"]


def _random_array(rng: random.Random):
    shape = [rng.choice([1, 2, 3, 4, 10, 16, 32, 36]) for _ in range(rng.randrange(0, 5))]
    kind = rng.randrange(7)
    if kind == 0:
        return np.array(["s"] * int(np.prod(shape)), dtype=object).reshape(shape)
    if kind == 1:
        return np.ones(shape, np.complex64)
    if kind == 2:
        return np.full(shape, rng.choice([np.nan, np.inf, -1e30, 0.0, -1.0, 1e-45]), np.float32)
    if kind == 3:
        return np.full(shape, rng.choice([0, -1, 2, 2**40]), np.int64)
    if kind == 4:
        return np.ones(shape, bool)
    return np.random.default_rng(rng.randrange(1000)).standard_normal(shape).astype(rng.choice([np.float32, np.float64]))


def mutate_onnx(rng: random.Random, model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    for _ in range(rng.randint(1, 3)):
        how = rng.randrange(11)
        n = rng.choice(g.node) if len(g.node) else None
        if n is None:
            break
        if how == 0:  # an attribute gets a random value
            names = [a.name for a in n.attribute] + ["kernel_shape", "pads", "strides", "axis", "alpha", "auto_pad",
                                                      "group", "dilations", "epsilon", "ceil_mode", "transB"]
            name = rng.choice(names)
            keep = [a for a in n.attribute if a.name != name]
            del n.attribute[:]
            n.attribute.extend(keep)
            n.attribute.append(helper.make_attribute(name, rng.choice(ATTR_VALUES)))
        elif how == 1 and len(n.attribute):  # an attribute disappears
            del n.attribute[rng.randrange(len(n.attribute))]
        elif how == 2 and len(n.input):  # an input disappears
            del n.input[rng.randrange(len(n.input))]
        elif how == 3:  # an input is added, known or not
            n.input.append(rng.choice(["x", "two", "nope", "", n.output[0]]))
        elif how == 4:  # the op changes
            n.op_type = rng.choice(OPS)
        elif how == 5:  # a second node writes the same output
            g.node.append(onnx.NodeProto())
            g.node[-1].CopyFrom(n)
        elif how == 6 and len(g.initializer):  # an initializer gets another value, shape or type
            i = rng.randrange(len(g.initializer))
            name = g.initializer[i].name
            g.initializer[i].CopyFrom(numpy_helper.from_array(_random_array(rng), name))
        elif how == 7:  # the input shape changes
            dims = g.input[0].type.tensor_type.shape.dim
            d = dims[rng.randrange(len(dims))]
            if rng.random() < 0.3:
                d.dim_param = "M"
            else:
                d.dim_value = rng.choice([0, 1, 2, 3, 7, 999999999999, 2**40])
        elif how == 8:  # a node disappears
            g.node.remove(n)
        elif how == 9:
            m.opset_import[0].version = rng.choice([7, 9, 11, 12, 13, 17, 21, 99])
        else:  # an output is renamed
            n.output[0] = rng.choice(["y", "x", "p", "f", ""])
    return m


def test_fuzz_onnx(tmp_path):
    STATS.clear()
    rng = random.Random(SEED + 1)
    seeds = onnx_seeds()
    path = tmp_path / "case.onnx"
    calib = tmp_path / "calib.npy"
    np.save(calib, np.random.default_rng(0).random((4, 1, 6, 6), dtype=np.float32))
    for s in seeds:  # the corpus itself compiles
        path.write_bytes(s.SerializeToString())
        check(run_case([path]), [path], "seed")
    deadline = time.perf_counter() + BUDGET / 2
    done = 0
    for case in range(CASES):
        if time.perf_counter() > deadline:
            break
        model = mutate_onnx(rng, rng.choice(seeds))
        path.write_bytes(model.SerializeToString())
        args = [path]
        if rng.random() < 0.25:  # convert to a spiking network too, when it stays small
            from sncc.onnx_frontend import import_onnx

            try:
                small = all(op.type.size <= SMALL for op in import_onnx(model).ops)
            except Exception:
                small = False
            if small:
                args += ["--calib", calib, "-T", "3"]
        r = run_case(args)
        check(r, args, f"ONNX case {case} (seed {SEED}): {model.graph}")
        done += 1
    print(f"ONNX fuzz: {done} cases, {sorted(STATS.items())}")
    assert done >= min(CASES, 50), f"only {done} ONNX cases ran within the budget"
