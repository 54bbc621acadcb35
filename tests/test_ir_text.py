"""The text format: byte-for-byte round trip, readable errors, the verifier's messages."""
import numpy as np
import pytest

import sncc
from sncc import ir
from sncc.types import Fixed, TensorType


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet", "resnet_folded"])
@pytest.mark.parametrize("pipeline", ["", "canonicalize,fold-batchnorm,dce"])
def test_round_trip_on_every_test_model(exported, name, pipeline):
    path, x = exported[name]
    module = sncc.import_onnx(path)
    if pipeline:
        module = sncc.PassManager.parse(pipeline).run(module)
    text = module.to_text()
    again = ir.parse(text)
    assert again.to_text() == text
    # weights included: the parsed module computes exactly the same
    np.testing.assert_array_equal(sncc.interpret(again, x), sncc.interpret(module, x))
    assert "resources {" in text  # large weights live at the end, as hex


def test_printing_is_deterministic(exported):
    path, _ = exported["resnet"]
    assert sncc.import_onnx(path).to_text() == sncc.import_onnx(path).to_text()


def test_floats_round_trip_exactly():
    m = ir.Module("f", {"T": 4})
    x = m.add("input", (), {"index": 0}, "x", TensorType((3,)))
    vals = np.array([0.1, 1 / 3, -2.5e-38], dtype=np.float32)
    c = m.const(vals, "c")
    y = m.add("add", [x, c], name="y")
    z = m.add("clip", [y], {"min": -1e-7, "max": 1 / 3}, "z")
    m.add("if", [z], {"threshold": np.float32(0.7), "v0": 0.35}, "s")
    m.outputs = [z]
    text = m.to_text()
    assert "dense<[0.1, 0.33333334, -2.5e-38]> : tensor<3xf32>" in text
    back = ir.parse(text)
    assert back.to_text() == text
    np.testing.assert_array_equal(back.const_value(back.ops[1].result), vals)
    assert back.ops[3].attrs["max"] == 1 / 3


def test_fixed_point_and_spike_types_round_trip():
    m = ir.Module("q", {"T": 8})
    x = m.add("input", (), {"index": 0}, "x", TensorType((16,)))
    s = m.add("encode", [x], {"mode": "rate", "seed": 7}, "s")
    w = m.const(np.arange(-64, 64, dtype=np.int64).reshape(8, 16) % 100 - 50, "w", elem=Fixed(8, 6))
    h = m.add("dense", [s, w], name="h", result_type=TensorType((8,), Fixed(16, 6)))
    o = m.add("readout", [m.add("if", [h], {"threshold": np.full(8, 0.5, np.float32), "vbits": 20}, "spk")], {"mode": "count"}, "o",
              result_type=TensorType((8,), Fixed(8, 0)))
    m.outputs = [o]
    m.verify()
    text = m.to_text()
    assert "tensor<8x16xfx<8,6>>" in text and "tensor<16xspike>" in text and "tensor<8xfx<16,6>>" in text
    assert ir.parse(text).to_text() == text


def test_elided_print_is_readable_and_refused_by_the_parser(exported):
    module = sncc.import_onnx(exported["mlp"][0])
    text = module.to_text(elide=True)
    assert "resources" not in text and "elided<50176 values: min" in text
    with pytest.raises(sncc.ParseError, match=r"<string>:3:\d+: this IR was printed with elided weights"):
        ir.parse(text)


GOOD = """\
module @m attributes {T = 4} {
  %x = input {index = 0} : tensor<4xf32>
  %y = relu(%x) : tensor<4xf32>
  return %y
}
"""


@pytest.mark.parametrize("broken,where,what", [
    (GOOD.replace("relu(%x)", "relu(%z)"), "3:13", "use of undefined value %z"),
    (GOOD.replace("relu(%x)", "frobnicate(%x)"), "3:8", "unknown op 'frobnicate'"),
    (GOOD.replace(": tensor<4xf32>\n  return", ": tensor<5xf32>\n  return"), "3:3", "does not match the inferred tensor<4xf32>"),
    (GOOD.replace("return %y", "return"), "5:1", "expected one of"),
    (GOOD.replace("tensor<4xf32>\n  %y", "tensor<4xf33>\n  %y"), "2:", "unexpected"),
    (GOOD.replace("%y = relu(%x)", "%x = relu(%x)"), "3:3", "defined twice"),
    (GOOD.replace("{index = 0}", "{index = 0, bogus = 1}"), "2:3", "unknown attribute(s) bogus"),
    (GOOD.replace("relu(%x) :", "clip(%x) {min = 2.0, max = 1.0} :"), "3:3", "min 2.0 must not exceed max 1.0"),
    (GOOD.replace("T = 4", "T = 0"), "1:8", "T must be an integer in 1..65536"),
])
def test_parse_errors_carry_line_and_column(broken, where, what):
    with pytest.raises(sncc.ParseError) as e:
        ir.parse(broken, "model.sir")
    msg = str(e.value)
    assert msg.startswith(f"model.sir:{where}"), msg
    assert what in msg, msg


def test_missing_resource_is_reported():
    text = GOOD.replace("%y = relu(%x) : tensor<4xf32>", "%w = const {value = dense_resource<w> : tensor<4x4xf32>} : tensor<4x4xf32>\n  %y = dense(%x, %w) : tensor<4xf32>")
    with pytest.raises(sncc.ParseError, match="resource 'w' is not defined"):
        ir.parse(text)
    with pytest.raises(sncc.ParseError, match="resource 'w' has 4 bytes, tensor<4x4xf32> needs 64"):
        ir.parse(text + "\nresources {\n  w = 0x00000000\n}\n")


def test_verifier_names_the_op_and_the_problem():
    m = ir.Module("v")
    x = m.add("input", (), {"index": 0}, "x", TensorType((1, 8, 8)))
    w = m.const(np.zeros((4, 2, 3, 3), np.float32), "w")
    with pytest.raises(sncc.VerificationError, match=r"'conv2d' op: weight tensor<4x2x3x3xf32> needs 1 input channels"):
        m.add("conv2d", [x, w], name="c")
    with pytest.raises(sncc.VerificationError, match=r"'qcfs' op: attribute 'threshold' must be > 0"):
        m.add("qcfs", [x], {"threshold": -1.0, "levels": 4})
    with pytest.raises(sncc.VerificationError, match=r"'if' op: attribute 'reset' must be one of subtract, zero"):
        m.add("if", [x], {"threshold": 1.0, "reset": "sideways"})
    r = m.add("relu", [x], name="r")
    m.outputs = [r]
    m.ops.reverse()  # break SSA order
    with pytest.raises(sncc.VerificationError, match=r"'relu' op %r: operand #0 \(%x\) is not defined before"):
        m.verify()
