"""Hostile input (issue 10): every bad model, IR file, data file or option is one line
`sncc: error: ...` and exit code 1 (or simply works), never a traceback, exit 2 or a hang.

Each test drives the real entry point `sncc.cli.main` in-process."""
from __future__ import annotations

import contextlib
import os
import stat
import io
import sys
import time

import numpy as np
import pytest

import sncc
from sncc import ir
from sncc.cli import main
from sncc.limits import MAX_ELEMENTS, MAX_T


class Result:
    def __init__(self, code, out, err, seconds):
        self.code, self.out, self.err, self.seconds = code, out, err, seconds


def cli(*args, stdin: bytes | None = None) -> Result:
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:  # argparse --help
                code = e.code
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue(), time.perf_counter() - start)


def assert_user_error(r: Result, *words: str):
    """Exit 1 with exactly one line `sncc: error: ...` containing `words`."""
    assert r.code == 1, (r.code, r.err)
    lines = [line for line in r.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("sncc: error: ")]
    assert len(errors) == 1 and "Traceback" not in r.err and "Warning" not in r.err, r.err
    for w in words:
        assert w in errors[0], errors[0]


def sir(tmp_path, text: str | bytes, name="m.sir"):
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def opt(tmp_path, text, *extra, pipeline="dce"):
    return cli("opt", sir(tmp_path, text), "--pipeline", pipeline, *extra)


RELU = """\
module @m {
  %x = input {index = 0} : tensor<4xf32>
  %y = relu(%x) : tensor<4xf32>
  return %y
}
"""


# -- bad IR text --------------------------------------------------------------------------

@pytest.mark.parametrize("text,words", [
    (RELU.replace("{index = 0}", '{index = 0, a.b = "\\q"}'), ["m.sir:2:", "invalid string literal"]),
    (RELU.replace("tensor<4xf32>\n  %y", "tensor<99999999999999999999999xf32>\n  %y"),
     ["m.sir:2:", "does not fit in a signed 64-bit integer"]),
    # 2^32 * 2^32 wraps to 0 in int64 arithmetic
    (RELU.replace("tensor<4xf32>\n  %y", "tensor<4294967296x4294967296xf32>\n  %y"),
     ["m.sir:2:", f"more than {MAX_ELEMENTS} (2^31 - 1) elements"]),
    (RELU.replace("{index = 0}", "{index = " + "9" * 400 + "}"), ["(400 digits) does not fit"]),
    (RELU.replace("{index = 0}", "{index = " + "9" * 5000 + "}"), ["(5000 digits) does not fit"]),
    (RELU.replace("relu(%x) :", "clip(%x) {min = -" + "9" * 5000 + "} :"), ["(5000 digits) does not fit"]),
    ("module @m {\n  %w = const {value = dense<[1.0]> : tensor<1xf32>} : tensor<1xf32>\n  return %w\n}\n",
     ["has no input op"]),
    (RELU.replace("relu(%x) :", "clip(%x) {min = [1.5]} :"), ["attribute 'min' must be a number"]),
    (RELU.replace("tensor<4xf32>\n  %y", "tensor<4xfx<99999999999999999999999,0>>\n  %y"),
     ["does not fit in a signed 64-bit integer"]),
])
def test_bad_ir_text(tmp_path, text, words):
    assert_user_error(opt(tmp_path, text), *words)


def test_non_utf8_file_and_stdin(tmp_path):
    data = RELU.replace("@m", "@m\xff").encode("latin-1")
    assert_user_error(opt(tmp_path, data), "m.sir:1:10: byte 0xff is not UTF-8")
    assert_user_error(cli("opt", "-", "--pipeline", "dce", stdin=data), "<stdin>:1:10: byte 0xff is not UTF-8")


def test_f32_overflow_is_refused_not_turned_into_inf(tmp_path):
    spiking = ("module @m attributes {T = 2} {\n  %x = input {index = 0} : tensor<4xf32>\n"
               "  %s = if(%x) {threshold = THETA} : tensor<4xspike>\n  %r = readout(%s) : tensor<4xf32>\n"
               "  return %r\n}\n")
    assert_user_error(opt(tmp_path, spiking.replace("THETA", "1e300")), "m.sir:3:", "'threshold' must be representable in f32")
    assert_user_error(opt(tmp_path, spiking.replace("THETA", "1e-300")), "'threshold' must be representable in f32")
    assert_user_error(opt(tmp_path, spiking.replace("THETA", "dense<[1e300, 1.0, 1.0, 1.0]> : tensor<4xf32>")),
                      "m.sir:3:", "value 1e+300 is beyond the f32 range")
    assert_user_error(opt(tmp_path, spiking.replace("{threshold = THETA}", "{threshold = 1.0, v0 = -1e39}")),
                      "'v0' must be representable in f32")
    qcfs = RELU.replace("relu(%x) :", "qcfs(%x) {threshold = 1e-30, levels = 9000000000000000000} :")
    assert_user_error(opt(tmp_path, qcfs), "overflows or underflows f32")
    assert_user_error(opt(tmp_path, RELU.replace("T", "").replace("@m {", "@m attributes {T = 65537} {")),
                      f"T must be an integer in 1..{MAX_T}")


@pytest.mark.parametrize("shape,pool", [
    # 10^12 output positions: the window check used to loop over each
    ("1x1x999999999999", "kernel = [1, 1]"),
    ("1x4x4", "kernel = [1000000000000, 1], pads = [999999999999, 0, 999999999999, 0]"),
    ("1x4x4", "kernel = [1000000000000, 1], strides = [1000000000000, 1], pads = [999999999999, 0, 999999999999, 0]"),
])
def test_huge_pooling_windows_do_not_hang(tmp_path, shape, pool):
    text = (f"module @m {{\n  %x = input {{index = 0}} : tensor<{shape}xf32>\n"
            f"  %y = maxpool2d(%x) {{{pool}}} : tensor<1x1x1xf32>\n  return %y\n}}\n")
    r = opt(tmp_path, text)
    assert r.seconds < 2
    assert r.code == 1 and r.err.startswith("sncc: error: "), r.err


def test_window_check_matches_brute_force():
    from sncc.ops import _window_missing_input

    def brute(size, k, s, p, pb, dil, n):
        return next((i for i in range(n) if not any(0 <= i * s + j * dil - p < size for j in range(k))), None)

    checked = missing = 0
    for size in range(1, 6):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(k):  # the verifier requires pads < kernel first
                    for pb in range(k):
                        for dil in range(1, 8):
                            n = (size + p + pb - dil * (k - 1) - 1) // s + 1
                            if n >= 1:
                                want = brute(size, k, s, p, pb, dil, n)
                                assert _window_missing_input(size, s, p, dil, n) == want, (size, k, s, p, pb, dil)
                                checked += 1
                                missing += want is not None
    assert checked > 800 and missing > 10


def test_printed_module_parses_back_with_a_dotted_array_attribute():
    m = ir.parse(RELU)
    m.ops[0].attrs["calib.hist"] = np.array([1, 2], dtype=np.int8)
    w = m.const(np.ones(3, np.float32), "w")
    w.owner.attrs["note.ids"] = np.arange(3, dtype=np.int32)
    m.outputs.append(w)
    text = m.to_text()
    assert "note.ids = dense<[0, 1, 2]> : tensor<3xfx<32,0>>} : tensor<3xf32>" in text
    assert ir.parse(text).to_text() == text


# -- bad ONNX -----------------------------------------------------------------------------

def onnx_model(nodes, inits=(), in_shape=("N", 1, 4, 4), opset=13):
    from onnx import TensorProto, helper

    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _init(name, arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr), name)


def _hostile_onnx():
    from onnx import TensorProto, helper

    node = helper.make_node
    ones = _init("s", np.ones(1, np.float32))
    dataless = TensorProto(name="c", data_type=TensorProto.FLOAT, dims=[3])
    bn = ["x", "s", "b", "m", "v"]
    bn_inits = [ones, _init("b", np.zeros(1, np.float32)), _init("m", np.zeros(1, np.float32)),
                _init("v", -np.ones(1, np.float32))]
    return {
        "add one input": (onnx_model([node("Add", ["x"], ["y"])]), "(Add): takes 2 inputs, got 1"),
        "batchnorm two inputs": (onnx_model([node("BatchNormalization", ["x", "s"], ["y"])], [ones]),
                                 "(BatchNormalization): takes 5 inputs, got 2"),
        "maxpool no kernel": (onnx_model([node("MaxPool", ["x"], ["y"])]), "lacks the required attribute 'kernel_shape'"),
        "concat no axis": (onnx_model([node("Concat", ["x", "x"], ["y"])]), "lacks the required attribute 'axis'"),
        "clip vector": (onnx_model([node("Clip", ["x", "lo"], ["y"])], [_init("lo", np.zeros(2, np.float32))]),
                        "the Clip minimum must be a single number, got shape [2]"),
        "dropout vector": (onnx_model([node("Dropout", ["x", "r"], ["y"])], [_init("r", np.full(2, .5, np.float32))]),
                           "the Dropout ratio must be a single number"),
        "gemm alpha int": (onnx_model([node("Flatten", ["x"], ["f"]), node("Gemm", ["f", "w"], ["y"], alpha=2)],
                                      [_init("w", np.ones((16, 3), np.float32))]),
                           "attribute 'alpha' must be of type FLOAT, got INT"),
        "flatten axis float": (onnx_model([node("Flatten", ["x"], ["y"], axis=1.5)]),
                               "attribute 'axis' must be of type INT, got FLOAT"),
        "string initializer": (onnx_model([node("Add", ["x", "c"], ["y"])],
                                          [helper.make_tensor("c", TensorProto.STRING, [1], [b"hi"])]),
                               "initializer 'c' holds string values"),
        "data-less initializer": (onnx_model([node("Add", ["x", "c"], ["y"])], [dataless]),
                                  "initializer 'c' cannot be read"),
        "auto_pad stride 0": (onnx_model([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="SAME_UPPER",
                                               strides=[0, 0])]), "strides [0, 0] must be two numbers >= 1"),
        "two writers": (onnx_model([node("Relu", ["x"], ["y"], name="a"), node("Relu", ["x"], ["y"], name="b")]),
                        "ONNX node 'b' (Relu): writes 'y', which node 'a' (Relu) already defines"),
        "negative variance": (onnx_model([node("BatchNormalization", bn, ["y"])], bn_inits),
                              "the variance must be >= 0; channel 0 has -1.0"),
        "complex initializer": (onnx_model([node("Add", ["x", "c"], ["y"])], [_init("c", np.ones(1, np.complex64))]),
                                "initializer 'c' holds complex64 values"),
        "division by zero": (onnx_model([node("Div", ["x", "c"], ["y"])], [_init("c", np.zeros(1, np.float32))]),
                             "divides by a constant that contains 0"),
        "huge input": (onnx_model([node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1])], in_shape=("N", 1, 1, 999999999999)),
                       "graph input 'x': a tensor of shape 1x1x999999999999 has more than"),
        "huge window": (onnx_model([node("MaxPool", ["x"], ["y"], kernel_shape=[10**12, 1],
                                         pads=[10**12 - 1, 0, 10**12 - 1, 0])]), "(MaxPool): a tensor of shape"),
        "huge constant": (onnx_model([node("ConstantOfShape", ["sh"], ["c"]), node("Add", ["x", "c"], ["y"])],
                                     [_init("sh", np.array([10**11], np.int64))]), "makes a tensor of 100000000000 elements"),
        "unknown auto_pad": (onnx_model([node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], auto_pad="WHATEVER")]),
                             "auto_pad 'WHATEVER' is not one of"),
    }


@pytest.mark.parametrize("case", list(_hostile_onnx()))
def test_bad_onnx(tmp_path, case):
    model, words = _hostile_onnx()[case]
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    r = cli(path)
    assert r.seconds < 5
    assert_user_error(r, words)
    assert r.out == ""


# -- sncc run -----------------------------------------------------------------------------

SNN = """\
module @tiny attributes {T = 4} {
  %x = input {index = 0} : tensor<4xf32>
  %e = encode(%x) : tensor<4xf32>
  %w1 = const {value = dense<[1.0, 0.5, 0.0, -0.5, 0.25, 1.0, 0.5, 0.0]> : tensor<2x4xf32>} : tensor<2x4xf32>
  %d1 = dense(%e, %w1) : tensor<2xf32>
  %s1 = if(%d1) {threshold = 1.0, v0 = 0.5} : tensor<2xspike>
  %w2 = const {value = dense<[1.0, -1.0, -1.0, 1.0]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %d2 = dense(%s1, %w2) : tensor<2xf32>
  %out = readout(%d2) : tensor<2xf32>
  return %out
}
"""


@pytest.fixture
def snn_files(tmp_path):
    rng = np.random.default_rng(0)
    files = {"snn": sir(tmp_path, SNN, "snn.sir")}
    for name, arr in {"x": rng.random((5, 4), dtype=np.float32), "y": np.array([0, 1, 0, 1, 1]),
                      "yf": np.array([0., 1, 0, 1, 1]), "ys": np.array(list("abaab")),
                      "yhalf": np.array([0, 1, 0.5, 1, 1]), "y4": np.array([0, 1, 0, 1]),
                      "y2d": np.eye(5, 2), "x0": np.zeros((0, 4), np.float32), "xbig": np.full((5, 4), 1e300),
                      "xc": np.ones((5, 4), np.complex64)}.items():
        np.save(tmp_path / f"{name}.npy", arr)
        files[name] = tmp_path / f"{name}.npy"
    return files


def test_run_works_and_accepts_whole_float_labels(snn_files):
    f = snn_files
    r = cli("run", f["snn"], "--input", f["x"], "--labels", f["y"], "--json")
    assert r.code == 0, r.err
    r2 = cli("run", f["snn"], "--input", f["x"], "--labels", f["yf"], "--json")
    assert r2.code == 0 and '"accuracy"' in r2.out


@pytest.mark.parametrize("extra,words", [
    (["--input", "x0"], ["--input holds no samples"]),
    (["--input", "xbig"], ["--input contains NaN or infinite values, or values beyond the float32 range"]),
    (["--input", "xc"], ["--input is complex"]),
    (["--input", "x", "--labels", "ys"], ["--labels holds <U1 values; labels must be integer class indices"]),
    (["--input", "x", "--labels", "yhalf"], ["labels must be integer class indices"]),
    (["--input", "x", "--labels", "y4"], ["--labels has 4 entries for 5 inputs"]),
    (["--input", "x", "--labels", "y2d"], ["--labels has shape [5, 2]"]),
    (["--input", "x", "--weight-bits", "0"], ["--weight-bits must be in 2..16, got 0"]),
    (["--input", "x", "-T", "2147483648"], [f"-T must be an integer in 1..{MAX_T}, got 2147483648"]),
    (["--input", "x", "-T", "0"], [f"-T must be an integer in 1..{MAX_T}, got 0"]),
])
def test_run_refuses_before_simulating(snn_files, extra, words):
    args = [snn_files.get(a, a) for a in extra]
    r = cli("run", snn_files["snn"], *args)
    assert_user_error(r, *words)
    assert "simulate" not in r.err  # no progress bar: found before the simulation


def test_run_overflow_is_one_line(tmp_path):
    text = SNN.replace("%out = readout(%d2)", "%out = readout(%d1)").replace("return %out", "return %out")
    np.save(tmp_path / "x.npy", np.full((2, 4), 3e38, np.float32))
    r = cli("run", sir(tmp_path, text), "--input", tmp_path / "x.npy")
    assert_user_error(r, "the simulation overflowed float32 on 2 of 2 inputs")


def test_raster_path_checks_and_atomic_write(snn_files, tmp_path):
    f = snn_files
    run = lambda target: cli("run", f["snn"], "--input", f["x"], "--raster", target)  # noqa: E731
    assert_user_error(run(tmp_path / "r.xyz"), "unknown image format '.xyz'")
    assert_user_error(run(tmp_path / "nope" / "r.png"), "folder", "does not exist")
    assert_user_error(run(tmp_path), "is not a regular file")
    (tmp_path / "real.png").write_bytes(b"old")
    (tmp_path / "link.png").symlink_to(tmp_path / "real.png")
    assert_user_error(run(tmp_path / "link.png"), "is a symbolic link")
    assert (tmp_path / "real.png").read_bytes() == b"old"
    if os.geteuid() != 0:  # root may write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        assert_user_error(run(ro / "r.png"), "cannot write in folder")
    r = run(tmp_path / "r.svg")
    assert r.code == 0, r.err
    assert (tmp_path / "r.svg").read_bytes().lstrip().startswith(b"<?xml")
    assert not list(tmp_path.glob(".r.svg.*"))  # no temporary left behind
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "r.svg").stat().st_mode) == 0o666 & ~umask


# -- usability ----------------------------------------------------------------------------

def test_elide_weights_with_output_is_refused(tmp_path):
    path = sir(tmp_path, SNN)
    assert_user_error(cli("opt", path, "--pipeline", "dce", "--elide-weights", "-o", tmp_path / "o.sir"),
                      "--elide-weights prints weights as statistics, which cannot be loaded again")
    assert not (tmp_path / "o.sir").exists()
    r = cli("opt", path, "--pipeline", "dce", "--elide-weights")
    assert r.code == 0 and r.out.startswith("module @tiny")


def test_opt_with_only_analyses_prints_the_report_not_the_ir(snn_files):
    r = cli("opt", snn_files["snn"], "--pipeline", "bitwidth-report", "--calib", snn_files["x"])
    assert r.code == 0, r.err
    assert "module" not in r.out and r.out.startswith("layer")
    r = cli("opt", snn_files["snn"], "--pipeline", "bitwidth-report,dce", "--calib", snn_files["x"])
    assert r.code == 0 and r.out.startswith("module @tiny")


def test_duplicate_pass_option_is_refused(tmp_path):
    assert_user_error(cli("opt", sir(tmp_path, SNN), "--pipeline", "quantize{weight_bits=4, weight_bits=8}"),
                      "option 'weight_bits' of pass 'quantize' is given twice")
