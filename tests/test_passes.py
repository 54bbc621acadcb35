"""The pass manager (pipelines, options, instrumentation) and the core passes."""
import io

import numpy as np
import pytest

import sncc
from sncc import ir
from sncc.pass_manager import Option, Pass, PassContext, PASSES
from conftest import assert_close


def test_pipeline_text_round_trips():
    pm = sncc.PassManager.parse(" canonicalize , fold-batchnorm,dce ")
    assert str(pm) == "canonicalize,fold-batchnorm,dce"
    assert [type(p).__name__ for p in pm.passes] == ["Canonicalize", "FoldBatchNorm", "DeadCodeElimination"]


@pytest.mark.parametrize("text,message", [
    ("canonicalize,frobnicate", "unknown pass 'frobnicate'; available passes:"),
    ("canonicalize{level=3}", "pass 'canonicalize' has no option 'level'"),
    ("canonicalize,,dce", "cannot read from column"),
    ("dce{oops}", "needs key=value"),
])
def test_bad_pipelines_are_explained(text, message):
    with pytest.raises(sncc.SnccError, match=message.replace("(", r"\(").replace("{", r"\{")):
        sncc.PassManager.parse(text)


class _Scale(Pass):
    """A test pass with typed options: multiplies every constant by `factor`, `times` times."""

    name = "test-scale"
    summary = "scale constants"
    options = {"factor": Option(float, 1.0), "times": Option(int, 1, check=lambda v: None if v >= 0 else "must be >= 0"),
               "mode": Option(str, "all", choices=("all", "none")), "dry": Option(bool, False)}

    def run(self, m, ctx):
        ctx.reports[self.name] = dict(self.opts)
        if self.opts["dry"] or self.opts["mode"] == "none":
            return
        for op in m.walk("const"):
            op.attrs["value"] = (op.attrs["value"] * self.opts["factor"] ** self.opts["times"]).astype(np.float32)


@pytest.fixture
def scale_pass():
    sncc.register_pass(_Scale)
    yield _Scale
    PASSES.pop("test-scale")


def tiny():
    return ir.parse("""
module @t {
  %x = input {index = 0} : tensor<2xf32>
  %w = const {value = dense<[1.0, 2.0, 3.0, 4.0]> : tensor<2x2xf32>} : tensor<2x2xf32>
  %y = dense(%x, %w) : tensor<2xf32>
  return %y
}""")


def test_typed_options_from_text_and_python(scale_pass):
    ctx = PassContext()
    m = sncc.PassManager.parse("test-scale{factor=2.5,times=2,dry=false}").run(tiny(), ctx)
    assert ctx.reports["test-scale"] == {"factor": 2.5, "times": 2, "mode": "all", "dry": False}
    np.testing.assert_allclose(m.const_value(m.ops[1].result), np.array([[1, 2], [3, 4]]) * 6.25)
    pm = sncc.PassManager().add(_Scale(factor=3)).add(PASSES["dce"]())
    assert str(pm) == "test-scale{factor=3.0},dce"
    for text, message in [("test-scale{times=1.5}", "option 'times' takes a int"),
                          ("test-scale{times=-1}", "option 'times' must be >= 0"),
                          ("test-scale{mode=some}", "must be one of all, none"),
                          ("test-scale{dry=maybe}", "takes a bool")]:
        with pytest.raises(sncc.SnccError, match=message):
            sncc.PassManager.parse(text)


def test_instrumentation_prints_and_times(scale_pass):
    out = io.StringIO()
    sncc.PassManager.parse("test-scale{factor=2},dce", print_ir_after={"test-scale"}, time_passes=True,
                           stream=out).run(tiny())
    text = out.getvalue()
    assert "// ----- IR after test-scale{factor=2.0} -----" in text
    assert "dense<[2.0, 4.0, 6.0, 8.0]>" in text
    assert "IR after dce" not in text
    assert "Pass execution timing report" in text and "dce" in text
    out = io.StringIO()
    sncc.PassManager.parse("test-scale,dce", print_ir_after_all=True, stream=out).run(tiny())
    assert out.getvalue().count("// ----- IR after") == 2


def test_verifier_runs_after_each_pass():
    class Breaks(Pass):
        name = "test-break"

        def run(self, m, ctx):
            m.ops.reverse()

    with pytest.raises(sncc.SnccError, match="after pass 'test-break': 'dense' op %y: operand #0"):
        sncc.PassManager([Breaks()]).run(tiny())
    sncc.PassManager([Breaks()], verify_each=False).run(tiny())  # opt-out works


def test_canonicalize_folds_weight_subgraphs_and_is_idempotent():
    m = ir.parse("""
module @c {
  %x = input {index = 0} : tensor<3xf32>
  %w = const {value = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<3x2xf32>} : tensor<3x2xf32>
  %wt = transpose(%w) {perm = [1, 0]} : tensor<2x3xf32>
  %s = const {value = dense<[0.5]> : tensor<1xf32>} : tensor<1xf32>
  %ws = mul(%wt, %s) : tensor<2x3xf32>
  %wss = identity(%ws) : tensor<2x3xf32>
  %h = dense(%x, %wss) : tensor<2xf32>
  %b = const {value = dense<[1.0, -1.0]> : tensor<2xf32>} : tensor<2xf32>
  %hb = add(%h, %b) : tensor<2xf32>
  %d = dropout(%hb) : tensor<2xf32>
  %r = clip(%d) {min = 0.0} : tensor<2xf32>
  %unused = relu(%x) : tensor<3xf32>
  return %r
}""")
    x = np.array([[1.0, -2.0, 0.5], [3.0, 1.0, -1.0]], np.float32)
    before = sncc.interpret(m, x)
    out = sncc.PassManager.parse("canonicalize").run(m)
    assert [op.kind for op in out.ops] == ["input", "const", "const", "dense", "relu"]
    np.testing.assert_array_equal(out.const_value(out.ops[1].result), np.array([[1, 3, 5], [2, 4, 6]], np.float32) * 0.5)
    np.testing.assert_array_equal(sncc.interpret(out, x), before)
    text = out.to_text()
    assert sncc.PassManager.parse("canonicalize").run(out).to_text() == text


def test_dce_keeps_inputs_and_removes_dead_ops():
    m = tiny()
    x = m.inputs[0]
    m.add("relu", [x], name="dead")
    ctx = PassContext()
    sncc.PassManager.parse("dce").run(m, ctx)
    assert ctx.reports["dce"] == {"removed": 1}
    assert [op.kind for op in m.ops] == ["input", "const", "dense"]


def test_fold_batchnorm_into_dense_and_conv_is_exact(exported):
    path, x = exported["cnn"]
    module = sncc.import_onnx(path)
    ctx = PassContext()
    folded = sncc.PassManager.parse("fold-batchnorm").run(module.clone(), ctx)
    assert ctx.reports["fold-batchnorm"] == {"folded": 2, "kept": []}
    assert_close(sncc.interpret(folded, x), sncc.interpret(module, x), rtol=1e-5)


def test_fold_batchnorm_dense():
    rng = np.random.default_rng(1)
    from sncc.types import TensorType

    m = ir.Module("d")
    x = m.add("input", (), {"index": 0}, "x", TensorType((5,)))
    h = m.add("dense", [x, m.const(rng.standard_normal((4, 5))), m.const(rng.standard_normal(4))], name="h")
    bn = m.add("batchnorm", [h] + [m.const(v) for v in (rng.random(4) + .5, rng.standard_normal(4),
                                                        rng.standard_normal(4), rng.random(4) + .5)], name="bn")
    shared = m.add("batchnorm", [x] + [m.const(np.ones(5)) for _ in range(4)], name="kept")
    m.outputs = [bn, shared]
    xs = rng.standard_normal((7, 5)).astype(np.float32)
    before = sncc.interpret(m, xs)
    ctx = PassContext()
    sncc.PassManager.parse("fold-batchnorm").run(m, ctx)
    assert ctx.reports["fold-batchnorm"] == {"folded": 1, "kept": ["kept"]}
    after = sncc.interpret(m, xs)
    for a, b in zip(after, before):
        assert_close(a, b, rtol=1e-5)
