"""Hostile input (issue 10): every bad model, IR file, data file or option is one line
`sncc: error: ...` and exit code 1 (or simply works), never a traceback, exit 2 or a hang.

Each test drives the real entry point `sncc.cli.main` in-process."""
from __future__ import annotations

import contextlib
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
