"""spec/ir.md says what the code does: its examples run, and its statements about what is
accepted and rejected hold (issue 10, "Spec = code")."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import sncc
from sncc import ir

SPEC = (Path(__file__).resolve().parent.parent / "spec" / "ir.md").read_text()
MODULES = re.findall(r"```\n(module @.*?)```", SPEC, re.S)


def test_spec_has_text_examples():
    assert MODULES, "spec/ir.md lost its text-format example"


@pytest.mark.parametrize("text", MODULES)
def test_text_examples_parse_and_are_the_canonical_print(text):
    assert ir.parse(text).to_text() == text


def test_elided_example_is_what_the_printer_prints_and_is_refused():
    (module,) = [t for t in MODULES if "dense_resource<w2>" in t]
    line = re.search(r"```\n(%w2 = const \{value = elided<.*?)\n```", SPEC).group(1)
    elided = ir.parse(module).to_text(elide=True)
    assert "  " + line + "\n" in elided
    with pytest.raises(sncc.ParseError, match="elided weights"):
        ir.parse(elided)


def test_example_resource_holds_the_weights_the_spec_lists():
    (module,) = [t for t in MODULES if "dense_resource<w2>" in t]
    m = ir.parse(module)
    w2 = next(op for op in m.ops if op.result.name == "w2").attrs["value"]
    want = np.array([[1, -1, 0.25, 0], [0, 1, 1, -0.5], [0.1, 0.2, 0.3, 0.4]], np.float32)
    assert np.array_equal(w2, want)


def test_prng_table():
    from sncc.interpreter import prng_initial_state, xorshift32_stream

    rows = re.findall(r"\| (\d) \| (init|r_(\d) = (\d+)) \| `0x([0-9a-f]{8})` \|\s*(\d*)\s*\|", SPEC)
    assert len(rows) == 10
    for seed, what, k, value, hexval, u in rows:
        seed = int(seed)
        if what == "init":
            assert prng_initial_state(seed) == int(hexval, 16)
        else:
            r = int(xorshift32_stream(seed, 4)[int(k)])
            assert r == int(value) == int(hexval, 16) and r >> 8 == int(u)


BASE = """\
module @m {
  %x = input {index = 0} : tensor<1x4x4xf32>
  %y = OP : TYPE
  return %y
}
"""


@pytest.mark.parametrize("op,ty,error", [
    # 3.2: float literals in integer lists are rejected, not truncated
    ("maxpool2d(%x) {kernel = [2.0, 2]}", "tensor<1x3x3xf32>", "must be a list of integers"),
    # 3.1: a STRING is JSON
    ('relu(%x) {a.b = "\\q"}', "tensor<1x4x4xf32>", "invalid string literal"),
    # 3.1: integers are int64
    ("relu(%x) {a.b = 9223372036854775808}", "tensor<1x4x4xf32>", "does not fit in a signed 64-bit integer"),
    # 4 avgpool2d: pads as large as the kernel are rejected (no window without input)
    ("avgpool2d(%x) {kernel = [2, 2], pads = [2, 0, 0, 0]}", "tensor<1x5x3xf32>", "must be smaller than the window"),
    # 4 maxpool2d: a dilated window whose taps all fall in the padding
    ("maxpool2d(%w) {kernel = [1, 2], pads = [0, 1, 0, 1], dilations = [1, 2]}", "tensor<1x4x1xf32>",
     "lies entirely in the padding"),
    # 4 dropout: the ratio is range-checked
    ("dropout(%x) {ratio = 1.0}", "tensor<1x4x4xf32>", "'ratio' must be in [0, 1)"),
    # 4 batchnorm epsilon, qcfs threshold: checked after rounding to f32
    ("qcfs(%x) {threshold = 1e300, levels = 4}", "tensor<1x4x4xf32>", "must be representable in f32"),
])
def test_spec_statements_on_rejected_text(op, ty, error):
    text = BASE.replace("%y = OP : TYPE", f"%y = {op} : {ty}")
    if "%w" in op:  # a [1, 4, 1] input: width 1
        text = text.replace("tensor<1x4x4xf32>\n  %y", "tensor<1x4x1xf32>\n  %w = identity(%x) : tensor<1x4x1xf32>\n  %y")
    with pytest.raises(sncc.ParseError, match=re.escape(error)):
        ir.parse(text)


def test_section_6_overflow_statement():
    """Widths cover every integer the input type admits, not only the calibrated range: at
    the type's extremes the accumulator still fits its declared width (spec/ir.md section 6)."""
    m = ir.parse("""\
module @m attributes {T = 1} {
  %x = input {index = 0} : tensor<4xf32>
  %e = encode(%x) : tensor<4xf32>
  %w = const {value = dense<[0.7, -0.7, 0.7, -0.7]> : tensor<1x4xf32>} : tensor<1x4xf32>
  %d = dense(%e, %w) : tensor<1xf32>
  %r = readout(%d) : tensor<1xf32>
  return %r
}
""")
    q = sncc.PassManager.parse("quantize").run(m)  # no calib.*: the calibrated range is 0 .. 1
    x_type, d_type = q.inputs[0].type.elem, next(op for op in q.ops if op.kind == "dense").type.elem
    assert (x_type.width, x_type.frac) == (10, 8)  # holds 0 .. 256, admits -512 .. 511
    for x in ([[1.997, -2.0, 1.997, -2.0]], [[-2.0, 1.997, -2.0, 1.997]], [[5.0, -5.0, 5.0, -5.0]]):
        seen = {}
        out = sncc.interpret(q, np.array(x, np.float32), observer=lambda op, v: seen.setdefault(op.kind, v))
        acc = int(seen["dense"].reshape(-1)[0])
        assert abs(acc) > 4 * 256 * 90          # far outside what calibrated inputs (0 .. 1) give
        assert d_type.min_int <= acc <= d_type.max_int
        assert out[0, 0] == acc * 2.0 ** -d_type.frac
