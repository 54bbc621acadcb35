"""The `sncc` program: outputs, exit codes (0 ok, 1 user error, 2 internal), no tracebacks."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

import sncc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "mlp.onnx"


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "sncc", *map(str, args)], capture_output=True, text=True,
                          input=stdin, cwd=ROOT)


def test_compile_example_to_ir_file(tmp_path):
    out = tmp_path / "sub" / "mlp.sir"
    r = run(EXAMPLE, "-o", out, "-T", 16)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    m = sncc.ir.parse(text)
    assert m.attrs["T"] == 16
    assert [op.kind for op in m.ops if op.kind not in ("input", "const")] == ["dense", "relu", "dense", "relu", "dense"]
    assert not list(out.parent.glob(".mlp.sir.*"))  # no temporary left behind


def test_stdout_print_ir_after_and_time_passes():
    r = run(EXAMPLE, "--print-ir-after", "canonicalize", "--time-passes", "--elide-weights")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("module @mlp {") and "elided<200704 values" in r.stdout
    assert "// ----- IR after canonicalize -----" in r.stderr and "Pass execution timing report" in r.stderr


def test_opt_round_trip(tmp_path):
    sir = tmp_path / "m.sir"
    assert run(EXAMPLE, "-o", sir).returncode == 0
    r = run("opt", sir, "--pipeline", "canonicalize,dce")
    assert r.returncode == 0, r.stderr
    assert r.stdout == sir.read_text()
    r = run("opt", "-", "--pipeline", "dce", stdin=sir.read_text())
    assert r.returncode == 0 and r.stdout == sir.read_text()


def test_help_teaches():
    r = run("--help")
    assert r.returncode == 0
    for word in ("--target", "--pipeline", "--print-ir-after-all", "examples:", "exit codes"):
        assert word in r.stdout
    r = run("passes")
    assert r.returncode == 0 and "fold-batchnorm" in r.stdout and "canonicalize" in r.stdout


def _unsupported_model(tmp_path, op):
    nodes = [helper.make_node(op, ["x"], ["y"], name=f"my_{op.lower()}")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    path = tmp_path / f"{op}.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    return path


@pytest.mark.parametrize("op", ["Sigmoid", "Tanh", "Exp", "Erf", "HardSwish", "Sin", "Softplus"])
def test_unsupported_op_exit_code_1_and_no_output(tmp_path, op):
    out = tmp_path / "out.sir"
    r = run(_unsupported_model(tmp_path, op), "-o", out)
    assert r.returncode == 1
    assert f"ONNX node 'my_{op.lower()}' ({op})" in r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize("args,message", [
    (["missing.onnx"], "model file 'missing.onnx' does not exist"),
    (["model.txt"], "unknown model format '.txt'"),
    ([EXAMPLE, "--pipeline", "canonicalize,nope"], "unknown pass 'nope'"),
    ([EXAMPLE, "-T", "0"], "-T must be an integer in 1..65536"),
    ([EXAMPLE, "--target", "fpga"], "invalid choice: 'fpga'"),
    # (without --calib and --pipeline, target cpu converts by SC-NeuroCore's rule: test_seed_conventions.py)
    ([EXAMPLE, "--target", "cpu", "--pipeline", "canonicalize"], "target cpu needs a spiking network: give --calib"),
    (["run", EXAMPLE, "--input", "nothere.npy"], "input file 'nothere.npy' does not exist"),
    ([EXAMPLE, "--calib", "nothere.npy"], "calibration file 'nothere.npy' does not exist"),
    ([EXAMPLE, "--print-ir-after", "nope"], "--print-ir-after: unknown pass 'nope'"),
    (["opt", "nothere.sir", "--pipeline", "dce"], "cannot read IR file 'nothere.sir'"),
    ([EXAMPLE, "--target", "artix7", "-o", "/nonexistent/b", "--lanes", "4", "--target-fps", "100"],
     "--lanes and --target-fps both set the lanes: give one of them"),
    ([EXAMPLE, "--target", "artix7", "-o", "/nonexistent/b", "--target-fps", "-5"],
     "--target-fps must be a positive number"),
])
def test_user_errors(args, message):
    r = run(*args)
    assert r.returncode == 1, r.stderr
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_parse_error_has_file_line_col_and_debug_shows_traceback(tmp_path):
    bad = tmp_path / "bad.sir"
    bad.write_text("module @m {\n  %x = input {index = 0} : tensor<4xf32>\n  %y = relu(%q) : tensor<4xf32>\n  return %y\n}\n")
    r = run("opt", bad, "--pipeline", "dce")
    assert r.returncode == 1
    assert f"{bad}:3:13: use of undefined value %q" in r.stderr
    r = run("opt", bad, "--pipeline", "dce", "--debug")
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_bad_calibration_file(tmp_path):
    f = tmp_path / "c.npy"
    f.write_bytes(b"garbage")
    r = run(EXAMPLE, "--calib", f)
    assert r.returncode == 1 and "is not a readable .npy array" in r.stderr


def test_run_reports_accuracy_spikes_and_firing_rates(tmp_path, mnist):
    import json

    (x, _), (xt, yt) = mnist
    np.save(tmp_path / "calib.npy", x[:300])
    np.save(tmp_path / "x.npy", xt[:300])
    np.save(tmp_path / "y.npy", yt[:300])
    snn = tmp_path / "snn.sir"
    r = run(EXAMPLE, "--target", "cpu", "--calib", tmp_path / "calib.npy", "-T", 8, "-o", snn)
    assert r.returncode == 0, r.stderr
    r = run("run", snn, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert set(res) >= {"predictions", "accuracy", "spikes_per_inference", "firing_rates"}
    assert len(res["predictions"]) == 300 and res["accuracy"] > 0.9
    assert res["accuracy"] == float((np.array(res["predictions"]) == yt[:300]).mean())
    assert set(res["firing_rates"]) == {"1.Relu", "3.Relu"} and all(0 < f < 1 for f in res["firing_rates"].values())
    r = run("run", snn, "--input", tmp_path / "x.npy", "--labels", tmp_path / "y.npy", "--weight-bits", 4, "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["fixed_point"] is True
    r = run("run", snn, "--input", tmp_path / "x.npy", "--raster", tmp_path / "raster.png")
    assert r.returncode == 0 and "spikes per inference" in r.stdout and "firing rate" in r.stdout
    assert (tmp_path / "raster.png").read_bytes()[:4] == b"\x89PNG"
    np.save(tmp_path / "bad.npy", np.zeros((3, 5), np.float32))
    r = run("run", snn, "--input", tmp_path / "bad.npy")
    assert r.returncode == 1 and "input of shape [3, 5]" in r.stderr and "Traceback" not in r.stderr


QCFS_CNN = ROOT / "examples" / "cnn_qcfs.onnx"


@pytest.mark.parametrize("args,message", [
    ([EXAMPLE, "--staircase", "L"], "--staircase must be 'trained' or 'T', got 'L'"),
    ([EXAMPLE, "--v0-calibration", "-3"],
     "--v0-calibration must be a whole number of calibration inputs >= 0, got '-3'"),
    (["run", EXAMPLE, "--input", "x.npy", "--v0-calibration", "1e3"],
     "--v0-calibration must be a whole number of calibration inputs >= 0, got '1e3'"),
    ([EXAMPLE, "--target", "cpu", "--v0-calibration", "100"],
     "--v0-calibration matches spike counts to the ANN on calibration data: give --calib"),
    ([EXAMPLE, "--first-spikes", "late"], "--first-spikes must be 'auto', 'v0' or 'early', got 'late'"),
    ([EXAMPLE, "--first-spikes", "early"], "--first-spikes sets the conversion to a spiking network"),
    ([EXAMPLE, "--staircase", "T"], "--staircase sets the conversion to a spiking network, which this command does "
     "not run"),
    ([EXAMPLE, "--pipeline", "canonicalize", "--staircase", "T", "--v0-calibration", "0"],
     "--staircase and --v0-calibration set the conversion"),
])
def test_conversion_option_errors_are_one_line(args, message):
    r = run(*args)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [f"sncc: error: {r.stderr.strip().split('sncc: error: ', 1)[1]}"]
    assert message in r.stderr


def test_conversion_options_reach_the_conversion(tmp_path, mnist):
    """--staircase and --v0-calibration are sncc.convert's staircase and v0_calibration (QCFS CNN, L = 4)."""
    (x, _), (xt, yt) = mnist
    calib, xs = tmp_path / "calib.npy", tmp_path / "x.npy"
    np.save(calib, x[:50].reshape(-1, 1, 28, 28))
    np.save(xs, xt[:20].reshape(-1, 1, 28, 28))
    kept = run(QCFS_CNN, "--calib", calib, "-T", 8, "--elide-weights")
    assert kept.returncode == 0, kept.stderr
    assert "staircase_T = 8" in kept.stdout.splitlines()[0]  # the default keeps the trained staircase at T > L
    t = run(QCFS_CNN, "--calib", calib, "-T", 8, "--staircase", "T", "--elide-weights")
    assert t.returncode == 0, t.stderr
    assert "staircase_T" not in t.stdout and "(staircase=T)" in t.stderr
    assert run(QCFS_CNN, "--calib", calib, "-T", 8, "--staircase", "trained", "--elide-weights").stdout == kept.stdout
    v0 = run(QCFS_CNN, "--calib", calib, "-T", 2, "--v0-calibration", 50, "--elide-weights")
    assert v0.returncode == 0, v0.stderr
    assert "v0 = elided<16 values" in v0.stdout and "v0 = elided<32 values" in v0.stdout  # one v0 per channel
    off = run(QCFS_CNN, "--calib", calib, "-T", 2, "--v0-calibration", 0, "--elide-weights")
    assert off.returncode == 0 and "v0 = 0.5}" in off.stdout and "v0 = elided" not in off.stdout
    # --first-spikes early: the first layer's v0 just below its threshold (spec 5.6), the others' at 1/2
    early = run(QCFS_CNN, "--calib", calib, "-T", 4, "--first-spikes", "early", "--elide-weights")
    assert early.returncode == 0, early.stderr
    assert early.stdout.count("v0 = 0.99609375") == 1 and "v0 = 0.5}" in early.stdout, early.stdout
    assert run(QCFS_CNN, "--calib", calib, "-T", 4, "--first-spikes", "v0", "--elide-weights").stdout.count(
        "v0 = 0.99609375") == 0
    r = run("run", QCFS_CNN, "--calib", calib, "--input", xs, "-T", 8, "--staircase", "T", "--json")
    assert r.returncode == 0 and "(staircase=T)" in r.stderr, r.stderr


def _residual_mlp(tmp_path):
    """x -> Gemm-Relu -> Gemm, + the first Relu's output (a residual add) -> Relu -> Gemm."""
    rng = np.random.default_rng(0)
    w = [rng.normal(0, 0.6, s).astype(np.float32) for s in ((6, 4), (6, 6), (3, 6))]
    inits = [helper.make_tensor(f"w{i}", TensorProto.FLOAT, a.shape, a.ravel()) for i, a in enumerate(w)]
    inits += [helper.make_tensor(f"b{i}", TensorProto.FLOAT, (a.shape[0],), np.full(a.shape[0], 0.1, np.float32))
              for i, a in enumerate(w)]
    nodes = [helper.make_node("Gemm", ["x", "w0", "b0"], ["g0"], transB=1), helper.make_node("Relu", ["g0"], ["r0"]),
             helper.make_node("Gemm", ["r0", "w1", "b1"], ["g1"], transB=1), helper.make_node("Add", ["g1", "r0"], ["s"]),
             helper.make_node("Relu", ["s"], ["r1"]), helper.make_node("Gemm", ["r1", "w2", "b2"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], inits)
    path = tmp_path / "residual.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString())
    calib = tmp_path / "calib.npy"
    np.save(calib, rng.random((40, 4)).astype(np.float32))
    # the same network with QCFS activations (L = 4), as an IR file
    m = sncc.import_onnx(path)
    for op in [op for op in m.ops if op.kind == "relu"]:
        m.replace_all_uses(op.result, m.insert_before(op, "qcfs", op.operands, {"threshold": 2.0, "levels": 4},
                                                      f"{op.result.name}.q"))
        m.erase(op)
    (tmp_path / "residual_qcfs.sir").write_text(m.to_text())
    return path, calib


def test_first_spikes_default_on_a_residual_network_and_its_warning(tmp_path):
    """--first-spikes auto (the default): early on a QCFS network with a residual add (the first
    layer's v0 just below its threshold, spec 5.6), with a one-line warning naming
    --first-spikes early and --v0-calibration; --first-spikes v0 keeps v0 = 1/2 and warns;
    both options given: no warning. The same network with ReLU, and the MLP example (no
    residual add): auto is v0, silent."""
    relu, calib = _residual_mlp(tmp_path)
    r = run(relu, "--calib", calib, "-T", 4, "--elide-weights")
    assert r.returncode == 0 and "v0 = 0.99609375" not in r.stdout and "residual" not in r.stderr, r.stderr
    assert run(relu, "--calib", calib, "-T", 4, "--first-spikes", "v0", "--elide-weights").stdout == r.stdout
    model = tmp_path / "residual_qcfs.sir"
    auto = run(model, "--calib", calib, "-T", 4, "--elide-weights")
    assert auto.returncode == 0, auto.stderr
    assert auto.stdout.count("v0 = 0.99609375") == 1, auto.stdout
    assert run(model, "--calib", calib, "-T", 4, "--first-spikes", "early", "--elide-weights").stdout == auto.stdout
    assert run(model, "--calib", calib, "-T", 4, "--first-spikes", "auto", "--elide-weights").stdout == auto.stdout
    warned = [line for line in auto.stderr.splitlines() if "residual add" in line]
    assert len(warned) == 1 and "--first-spikes early" in warned[0] and "--v0-calibration" in warned[0], auto.stderr
    v0 = run(model, "--calib", calib, "-T", 4, "--first-spikes", "v0", "--elide-weights")
    assert v0.returncode == 0 and "v0 = 0.99609375" not in v0.stdout
    assert "converting with first_spikes='v0'" in v0.stderr, v0.stderr
    both = run(model, "--calib", calib, "-T", 4, "--first-spikes", "early", "--v0-calibration", 40, "--elide-weights")
    assert both.returncode == 0 and "residual add" not in both.stderr, both.stderr
    np.save(tmp_path / "mlp_calib.npy", np.random.default_rng(1).random((20, 784)).astype(np.float32))
    plain = run(EXAMPLE, "--calib", tmp_path / "mlp_calib.npy", "-T", 4, "--elide-weights")
    assert plain.returncode == 0 and "residual" not in plain.stderr and "v0 = 0.99609375" not in plain.stdout
    assert "v0 = 0.5}" in plain.stdout, plain.stdout
    assert run(EXAMPLE, "--calib", tmp_path / "mlp_calib.npy", "-T", 4, "--first-spikes", "v0",
               "--elide-weights").stdout == plain.stdout
