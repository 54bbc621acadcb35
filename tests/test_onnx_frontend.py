"""The ONNX frontend and the reference interpreter against onnxruntime (the first rung of the
verification ladder): real exported PyTorch models and hand-built graphs of every supported op."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import sncc
from conftest import assert_close, ort_run

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet", "resnet_folded"])
def test_interpreter_matches_onnxruntime_on_exported_models(exported, name):
    path, x = exported[name]
    module = sncc.import_onnx(path)
    expected = ort_run(path, x)
    if name == "cnn":  # the final softmax is dropped by the frontend (argmax unchanged)
        logits = sncc.interpret(module, x)
        e = np.exp(logits - logits.max(1, keepdims=True))
        assert_close(e / e.sum(1, keepdims=True), expected)
    else:
        assert_close(sncc.interpret(module, x), expected)


def test_batchnorm_survives_import_and_is_folded(exported):
    path, x = exported["cnn"]
    ops = [n.op_type for n in onnx.load(path).graph.node]
    assert "BatchNormalization" in ops and "MaxPool" in ops and "AveragePool" in ops
    module = sncc.import_onnx(path)
    assert sum(op.kind == "batchnorm" for op in module.ops) == 2
    before = sncc.interpret(module, x)
    after_module = sncc.PassManager.parse("canonicalize,fold-batchnorm,dce").run(module.clone())
    assert not any(op.kind in ("batchnorm", "dropout", "identity") for op in after_module.ops)
    assert_close(sncc.interpret(after_module, x), before, rtol=1e-5)


def test_residual_batchnorm_folding_changes_no_output(exported):
    path, x = exported["resnet"]
    module = sncc.import_onnx(path)
    folded = sncc.PassManager.parse("canonicalize,fold-batchnorm").run(module.clone())
    assert sum(op.kind == "batchnorm" for op in module.ops) == 6
    assert not any(op.kind == "batchnorm" for op in folded.ops)
    assert sum(op.kind == "add" for op in folded.ops) == 2
    assert_close(sncc.interpret(folded, x), sncc.interpret(module, x), rtol=1e-5)


def test_dynamo_exporter_output_imports(tmp_path, mnist):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxscript")  # torch's dynamo exporter needs it (in the dev extra)
    from conftest import CNN, randomize_batchnorm

    model = randomize_batchnorm(CNN(), 5).eval()
    x = torch.from_numpy(mnist[1][0][:4].reshape(-1, 1, 28, 28))
    path = tmp_path / "dyn.onnx"
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(model, (x,), str(path), dynamo=True)
    module = sncc.import_onnx(path)
    logits = sncc.interpret(module, x.numpy())
    assert (logits.argmax(1) == ort_run(str(path), x.numpy()).argmax(1)).all()


# -- hand-built graphs: every op form, opsets 9 .. newest -------------------------------

def make_model(nodes, inits, in_shape, out_name="y", opset=13, dynamic=True):
    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, (["N"] if dynamic else [2]) + list(in_shape))
    out = helper.make_tensor_value_info(out_name, TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [inp], [out], [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7 if opset < 15 else 8
    return model


def check(model, in_shape, batch=3):
    x = RNG.standard_normal((batch, *in_shape)).astype(np.float32)
    module = sncc.import_onnx(model)
    assert_close(sncc.interpret(module, x), ort_run(model, x))
    text = module.to_text()
    assert sncc.parse(text).to_text() == text
    canon = sncc.PassManager.parse("canonicalize,fold-batchnorm,dce").run(module.clone())
    assert_close(sncc.interpret(canon, x), ort_run(model, x))
    return module, canon


def f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("trans_a_b", [(0, 0), (0, 1)])
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (0.5, 2.0), (1.0, 0.0)])
@pytest.mark.parametrize("bias_shape", [(4,), (1, 4), (1,), None])
def test_gemm_forms(trans_a_b, alpha, beta, bias_shape):
    ta, tb = trans_a_b
    w = f32(4, 6) if tb else f32(6, 4)
    inits = {"w": w}
    inputs = ["x", "w"]
    if bias_shape is not None:
        inits["c"] = f32(*bias_shape)
        inputs.append("c")
    node = helper.make_node("Gemm", inputs, ["y"], alpha=alpha, beta=beta, transA=ta, transB=tb)
    _, canon = check(make_model([node], inits, [6]), [6])
    assert [op.kind for op in canon.ops if op.kind not in ("input", "const")] == ["dense"]


def test_gemm_trans_a_on_activation_is_refused():
    node = helper.make_node("Gemm", ["x", "w"], ["y"], transA=1, name="g0")
    with pytest.raises(sncc.UnsupportedError, match=r"'g0' \(Gemm\): transA=1"):
        sncc.import_onnx(make_model([node], {"w": f32(2, 4)}, [6], dynamic=False))


def test_matmul_add_becomes_dense():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])]
    module, canon = check(make_model(nodes, {"w": f32(6, 5), "b": f32(5)}, [6]), [6])
    assert [op.kind for op in module.ops if op.kind not in ("input", "const")] == ["matmul", "add"]
    assert [op.kind for op in canon.ops if op.kind not in ("input", "const")] == ["dense"]
    assert len(canon.ops[-1].operands) == 3


@pytest.mark.parametrize("kw", [
    dict(strides=[1, 1], pads=[0, 0, 0, 0]),
    dict(strides=[2, 2], pads=[1, 1, 1, 1]),
    dict(strides=[1, 2], pads=[0, 1, 2, 1], dilations=[2, 1]),
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER"),
    dict(auto_pad="VALID", dilations=[2, 2]),
    dict(group=2, pads=[1, 1, 1, 1]),
    dict(group=4),
])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_forms(kw, bias):
    g = kw.get("group", 1)
    inits = {"w": f32(8, 4 // g, 3, 3)}
    inputs = ["x", "w"]
    if bias:
        inits["b"] = f32(8)
        inputs.append("b")
    node = helper.make_node("Conv", inputs, ["y"], kernel_shape=[3, 3], **kw)
    check(make_model([node], inits, [4, 9, 10]), [4, 9, 10])


@pytest.mark.parametrize("op,kw", [
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 1], pads=[1, 1, 1, 1])),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2])),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
])
def test_pool_forms(op, kw):
    check(make_model([helper.make_node(op, ["x"], ["y"], **kw)], {}, [3, 8, 8], opset=13), [3, 8, 8])


def test_ceil_mode_that_changes_the_shape_is_refused():
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, name="mp")
    with pytest.raises(sncc.UnsupportedError, match="'mp' \\(MaxPool\\): ceil_mode"):
        sncc.import_onnx(make_model([node], {}, [3, 7, 7]))


def test_global_average_pool_flatten_gemm():
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Flatten", ["p"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1)]
    check(make_model(nodes, {"w": f32(5, 3), "b": f32(5)}, [3, 6, 6]), [3, 6, 6])


@pytest.mark.parametrize("opset", [9, 11, 13, 17, 21, onnx.defs.onnx_opset_version()])
def test_all_opsets_relu_clip_batchnorm_dropout_identity(opset):
    clip = (helper.make_node("Clip", ["r"], ["c"], min=0.0, max=1.5) if opset < 11 else
            helper.make_node("Clip", ["r", "lo", "hi"], ["c"]))
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["bn"], epsilon=1e-3),
        helper.make_node("Relu", ["bn"], ["r"]),
        clip,
        helper.make_node("Dropout", ["c"], ["d"]),
        helper.make_node("Identity", ["d"], ["y"]),
    ]
    inits = {"s": f32(3), "bb": f32(3), "m": f32(3), "v": np.abs(f32(3)) + 0.1}
    if opset >= 11:
        inits.update(lo=np.array(0.0, np.float32), hi=np.array(1.5, np.float32))
    _, canon = check(make_model(nodes, inits, [3, 4, 4], opset=opset), [3, 4, 4])
    kinds = [op.kind for op in canon.ops if op.kind not in ("input", "const")]
    assert kinds == ["batchnorm", "relu", "clip"]  # no conv before it: batchnorm stays, identity/dropout go


def test_residual_add_sum_concat_sub_div():
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["a"], ["ra"]),
        helper.make_node("Conv", ["ra", "w2"], ["b"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["ra", "b"], ["s1"]),
        helper.make_node("Sum", ["s1", "ra", "b"], ["s2"]),
        helper.make_node("Concat", ["s2", "ra"], ["cat"], axis=1),
        helper.make_node("Sub", ["cat", "mean"], ["sub"]),
        helper.make_node("Div", ["sub", "std"], ["y"]),
    ]
    inits = {"w1": f32(4, 2, 1, 1), "w2": f32(4, 4, 3, 3), "mean": f32(1, 8, 1, 1), "std": np.abs(f32(8, 1, 1)) + 0.5}
    check(make_model(nodes, inits, [2, 5, 5]), [2, 5, 5])


def test_constant_and_constant_of_shape_produce_weights():
    nodes = [
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(f32(6, 3))),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([3], np.int64))),
        helper.make_node("ConstantOfShape", ["shape"], ["b"], value=numpy_helper.from_array(np.array([0.25], np.float32))),
        helper.make_node("MatMul", ["x", "w"], ["h"]),
        helper.make_node("Add", ["h", "b"], ["y"]),
    ]
    _, canon = check(make_model(nodes, {}, [6]), [6])
    np.testing.assert_array_equal(canon.const_value(canon.ops[-1].operands[2]), np.full(3, 0.25, np.float32))


def test_reshape_with_shape_computation_and_final_softmax():
    nodes = [
        helper.make_node("Shape", ["x"], ["sh"]),
        helper.make_node("Gather", ["sh", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["flat"]),
        helper.make_node("Gemm", ["flat", "w"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["y"], axis=1),
    ]
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "w": f32(12, 4)}
    model = make_model(nodes, inits, [3, 2, 2])
    module = sncc.import_onnx(model)
    x = f32(5, 3, 2, 2)
    logits = sncc.interpret(module, x)
    assert (logits.argmax(1) == ort_run(model, x).argmax(1)).all()
    canon = sncc.PassManager.parse("canonicalize").run(module)
    assert [op.kind for op in canon.ops if op.kind not in ("input", "const")] == ["flatten", "dense"]


def test_static_batch_reshape():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"])]
    check(make_model(nodes, {"s": np.array([2, 3, 4], np.int64)}, [12], dynamic=False), [12], batch=2)


UNSUPPORTED = [
    ("Sigmoid", {}, "cannot be represented by rate-coded integrate-and-fire"),
    ("Tanh", {}, "cannot be represented by rate-coded integrate-and-fire"),
    ("LeakyRelu", {"alpha": 0.1}, "cannot be represented by rate-coded integrate-and-fire"),
    ("Exp", {}, "op not supported; supported ops: Add, AveragePool"),
    ("LRN", {"size": 3}, "op not supported"),
    ("Softmax", {"axis": 1}, "op not supported"),  # not final: followed by Relu below
]


@pytest.mark.parametrize("op,kw,message", UNSUPPORTED)
def test_unsupported_ops_name_the_node(op, kw, message):
    nodes = [helper.make_node(op, ["x"], ["h"], name="bad_node", **kw), helper.make_node("Relu", ["h"], ["y"])]
    with pytest.raises(sncc.UnsupportedError) as e:
        sncc.import_onnx(make_model(nodes, {}, [3, 4, 4]))
    assert f"ONNX node 'bad_node' ({op})" in str(e.value)
    assert message in str(e.value)


def test_product_of_activations_is_refused():
    nodes = [helper.make_node("Mul", ["x", "x"], ["y"], name="sq")]
    with pytest.raises(sncc.UnsupportedError, match=r"'sq' \(Mul\): product of two activations"):
        sncc.import_onnx(make_model(nodes, {}, [4]))


def test_opset_out_of_range_is_refused():
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {}, [4], opset=8)
    with pytest.raises(sncc.UnsupportedError, match="opset 8; sncc supports opsets 9 to"):
        sncc.import_onnx(model)


def test_bad_files(tmp_path):
    with pytest.raises(sncc.SnccError, match="does not exist"):
        sncc.import_onnx(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not an onnx file at all")
    with pytest.raises(sncc.SnccError, match="not a readable ONNX model"):
        sncc.import_onnx(bad)
