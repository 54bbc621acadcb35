"""The board link (spec/uart.md) and `sncc board`: rates, the unorm8 input rule, the frame codec,
hostile answers through a real serial device (a pty), and the host code end to end against the
Verilator simulation of a board top (host encoder -> RTL frontend and core -> host decoder),
including error frames, the on-board benchmark and +-2% host rate error at 12 Mbaud."""
from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from sncc.backends.fpga import link
from sncc.errors import SnccError
from sncc.interpreter import quantize_input
from sncc.types import Fixed, TensorType

from conftest import needs_verilator  # noqa: E402


# ------------------------------------------------------------------ rates and encodings

def test_bit_timer_all_rates_within_one_percent():
    for clock in (100_000_000, 50_000_000):
        for baud in (9600, 115_200, 921_600, 1_000_000, 2_000_000, 3_000_000, 4_000_000, 6_000_000, 12_000_000):
            if clock < 8 * baud:
                with pytest.raises(SnccError, match="too fast"):
                    link.bit_timer(clock, baud)
                continue
            bit_fx, actual, err = link.bit_timer(clock, baud)
            assert err < 0.01 and bit_fx >= 8 * 256
            assert abs(clock * 256 / bit_fx - actual) < 1e-6
    assert link.bit_timer(100_000_000, 3_000_000)[0] == 8533          # 33.33 cycles per bit
    assert link.bit_timer(100_000_000, 12_000_000)[2] < 2e-4
    for bad in (0, -1, 12_000_001, True, 3.0, "3000000"):
        with pytest.raises(SnccError, match="baud"):
            link.bit_timer(100_000_000, bad)


def test_unorm8_table_is_the_reference_quantization_of_u_over_255():
    """The frontend's table gives the core exactly what quantize_input gives float32(u/255)."""
    u = (np.arange(256) / 255).astype(np.float32)
    for IW, F in ((10, 8), (9, 8), (12, 10), (8, 6), (6, 8), (16, 12), (10, -1), (10, 0)):
        want = quantize_input(u, TensorType((256,), Fixed(IW, F))).tolist()
        assert link.decode_table(IW, F) == want, (IW, F)
    t = link.decode_table(10, 8)                  # MNIST: q = u below 128, u + 1 from 128 on
    assert t[:128] == list(range(128)) and t[128:] == list(range(129, 257))


def test_u8_table_is_the_identity():
    assert link.decode_table(9, 8, "u8") == list(range(256))
    assert link.decode_table(12, 3, "u8") == list(range(256))


def test_encoding_choice():
    assert link.choose_encoding("auto", 9, 8, 0.0, 255 / 256) == "u8"      # MNIST k/256: q = k
    assert link.choose_encoding("auto", 10, 8, 0.0, 1.0) == "unorm8"       # k/255 images: 1.0 is 256
    assert link.choose_encoding("auto", 8, 8, 0.0, 1.0) == "int"           # one byte already
    assert link.choose_encoding("auto", 10, 8, -0.5, 1.0) == "int"
    assert link.choose_encoding("auto", 12, 8, 0.0, 3.0) == "int"
    assert link.choose_encoding("auto", 10, 8, None, None) == "int"        # no calibration: exact integers
    assert link.choose_encoding("int", 10, 8, 0.0, 1.0) == "int"
    with pytest.raises(SnccError, match="encoding"):
        link.choose_encoding("uint8", 10, 8, 0.0, 1.0)


MNIST_MLP = link.LinkFormat(K=784, N=10, IW=10, F=8, OW=24, out_frac=0, encoding="unorm8", bench=100)


def test_frame_sizes():
    f = MNIST_MLP
    assert (f.in_bytes, f.out_bytes, f.cls_bytes) == (1, 3, 1)
    assert f.request_bytes == 785 and f.response_bytes == 32
    assert f.bench_response_bytes == 9 + 100 * 31
    g = link.LinkFormat(K=784, N=10, IW=10, F=8, OW=24, out_frac=0, encoding="int")
    assert g.request_bytes == 1 + 2 * 784
    assert link.LinkFormat(K=3, N=300, IW=4, F=2, OW=9, out_frac=0, encoding="int").cls_bytes == 2


def test_codec_round_trip_and_malformed_answers():
    f = link.LinkFormat(K=3, N=2, IW=10, F=8, OW=12, out_frac=0, encoding="unorm8", bench=2)
    codes, clamped, dist = f.codes(np.array([[0.0, 0.5, 1.2], [-0.1, 1 / 255, 128 / 255]]))
    assert codes.tolist() == [[0, 128, 255], [0, 1, 128]] and clamped == 2
    assert f.request(codes[1]) == bytes([0xA5, 0, 1, 128])
    assert f.core_integers(codes[1]).tolist() == [0, 1, 129]
    ok = bytes([0x5A, 1]) + (-5 & 0xFFFF).to_bytes(2, "little") + (2047).to_bytes(2, "little")
    assert f.parse_response(ok) == (1, [-5, 2047])
    bad = {"truncated": ok[:-1], "header": b"\x5B" + ok[1:], "class": bytes([0x5A, 2]) + ok[2:],
           "width": bytes([0x5A, 0]) + (4096).to_bytes(2, "little") + ok[4:], "empty": b""}
    for what, b in bad.items():
        with pytest.raises(SnccError, match="malformed"):
            f.parse_response(b)
    with pytest.raises(SnccError, match="error 1: bad header .byte 0x11"):
        f.parse_response(bytes([0xEE, 1, 0x11]))
    with pytest.raises(SnccError, match="error 9: unknown"):
        f.parse_response(bytes([0xEE, 9, 0]))
    bench = bytes([0x5B, 2, 0]) + (123456).to_bytes(6, "little") + ok[1:] + ok[1:]
    assert f.parse_bench(bench) == (123456, [1, 1], [[-5, 2047], [-5, 2047]])
    with pytest.raises(SnccError, match="3 images, the build has 2"):
        f.parse_bench(bytes([0x5B, 3, 0]) + bench[3:])
    u8 = link.LinkFormat(K=3, N=2, IW=9, F=8, OW=12, out_frac=0, encoding="u8")
    codes, clamped, _ = u8.codes(np.array([[0.0, 128 / 256, 255 / 256], [-0.01, 1.0, 2.0]]))
    assert codes.tolist() == [[0, 128, 255], [0, 255, 255]] and clamped == 1   # -0.01 -> q = -3
    assert u8.link_inputs(np.array([[0.0, 128 / 256, 255 / 256]])).tolist() == [[0.0, 0.5, 255 / 256]]
    i = link.LinkFormat(K=2, N=2, IW=10, F=8, OW=12, out_frac=0, encoding="int")
    assert i.request(i.codes(np.array([[1.0, -0.5]]))[0][0]) == bytes([0xA5, 0x00, 0x01, 0x80, 0xFF])


def fake_report(encoding="unorm8", bench=0) -> dict:
    f = link.LinkFormat(K=3, N=2, IW=10, F=8, OW=12, out_frac=0, encoding=encoding, bench=bench)
    return {"target": {"clock_hz": 100_000_000}, "network": {"inputs": 3, "outputs": 2, "input_type": "fx<10,8>",
            "output_bits": 12, "output_frac": 0, "input_shape": [3]},
            "uart": {"baud": 115_200, "input_encoding": encoding, "request_bytes": f.request_bytes,
                     "response_bytes": f.response_bytes},
            "bench": {"images": bench, "labels": [0] * bench, "reference_classes": [0] * bench} if bench else None}


def test_report_validation():
    assert link.LinkFormat.from_report(fake_report()).K == 3
    for damage in (lambda r: r.pop("uart"), lambda r: r["uart"].update(input_encoding="raw"),
                   lambda r: r["network"].update(input_type="f32"), lambda r: r["uart"].update(request_bytes=7),
                   lambda r: r["network"].update(outputs=0), lambda r: r.update(bench={"images": -1})):
        r = fake_report()
        damage(r)
        with pytest.raises(SnccError, match="UART section"):
            link.LinkFormat.from_report(r)


# ------------------------------------------------------------------ the host over a real serial device

def sncc(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "sncc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


class FakeBoard(threading.Thread):
    """The other end of a pty: reads the host's frames and answers `answer(frame)` bytes."""

    def __init__(self, answer):
        super().__init__(daemon=True)
        self.master, slave = pty.openpty()
        import tty

        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self.slave = slave
        self.answer = answer
        self.got = b""
        self.stop = False

    def run(self):
        import select

        while not self.stop:
            if select.select([self.master], [], [], 0.05)[0]:
                try:
                    data = os.read(self.master, 4096)
                except OSError:
                    return
                self.got += data
                if len(self.got) >= 4:                     # a whole frame (K = 3 unorm8 elements)
                    frame, self.got = self.got[:4], self.got[4:]
                    os.write(self.master, self.answer(frame))


@pytest.mark.parametrize("answer,message", [
    (lambda f: b"", "no answer from the board within 0.3 s"),
    (lambda f: bytes([0x5A, 1, 0]), "malformed answer: 3 bytes"),
    (lambda f: bytes([0xEE, 3, 0]), "error 3: overrun"),
    (lambda f: bytes([0xEE, 1]), "error frame cut short"),
    (lambda f: bytes([0x5A, 7, 0, 0, 0, 0]), "class 7 of 2 outputs"),
    (lambda f: bytes([0x42] * 64), "malformed answer"),
])
def test_board_hostile_serial_answers(tmp_path, answer, message):
    pytest.importorskip("serial")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "report.json").write_text(json.dumps(fake_report()))
    np.save(tmp_path / "x.npy", np.array([[0.0, 0.5, 1.0]], np.float32))
    dev = FakeBoard(answer)
    dev.start()
    try:
        t = time.monotonic()
        r = sncc("board", tmp_path / "b", "--port", dev.path, "--input", tmp_path / "x.npy", "--timeout", "0.3")
        assert time.monotonic() - t < 30
    finally:
        dev.stop = True
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr and message in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and r.stdout == ""


def test_board_classify_through_a_serial_device(tmp_path):
    """A well-behaved fake board: the host's frames arrive as spec/uart.md says and its answers are
    decoded (classes, accuracy, errors, JSON)."""
    pytest.importorskip("serial")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "report.json").write_text(json.dumps(fake_report()))
    np.save(tmp_path / "x.npy", np.array([[0.0, 0.5, 1.0], [1.0, 1.0, 0.0]], np.float32))
    np.save(tmp_path / "y.npy", np.array([1, 1]))
    frames = []

    def answer(f):
        frames.append(f)
        c = f[2] // 128                      # class 1 when the second pixel is >= 0.5
        return bytes([0x5A, c]) + (-3 & 0xFFFF).to_bytes(2, "little") + (7).to_bytes(2, "little")

    dev = FakeBoard(answer)
    dev.start()
    try:
        r = sncc("board", tmp_path / "b", "--port", dev.path, "--input", tmp_path / "x.npy", "--labels",
                 tmp_path / "y.npy", "--json")
    finally:
        dev.stop = True
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert frames == [bytes([0xA5, 0, 128, 255]), bytes([0xA5, 255, 255, 0])]
    assert out["predictions"] == [1, 1] and out["outputs"] == [[-3, 7], [-3, 7]]
    assert out["accuracy"] == 1.0 and out["errors"] == 0 and out["request_bytes"] == 4


def test_board_command_errors(tmp_path):
    (tmp_path / "b").mkdir()
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 3), np.float32))
    cases = [(["board", tmp_path / "nope", "--sim", "--bench"], "no report.json"),
             (["board", tmp_path / "b", "--sim", "--bench"], "no report.json")]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "report.json").write_text(json.dumps({"uart": None, "target": {}}))
    cases.append((["board", tmp_path / "c", "--sim", "--bench"], "core-only build"))
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "report.json").write_text("{not json")
    cases.append((["board", tmp_path / "d", "--sim", "--bench"], "not readable JSON"))
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "report.json").write_text(json.dumps(fake_report()))
    e = tmp_path / "e"
    cases += [(["board", e, "--bench"], "--port"), (["board", e, "--sim", "--port", "/dev/null", "--bench"], "--port"),
              (["board", e, "--sim"], "--input X.npy"), (["board", e, "--sim", "--bench", "--input", x], "--input X.npy"),
              (["board", e, "--sim", "--input", tmp_path / "missing.npy"], "does not exist"),
              (["board", e, "--port", tmp_path / "no-such-port", "--input", x], "cannot open the serial port"),
              (["board", e, "--sim", "--input", x, "--timeout", "-1"], "--timeout")]
    np.save(tmp_path / "x5.npy", np.zeros((2, 5), np.float32))
    cases.append((["board", e, "--sim", "--input", tmp_path / "x5.npy"], "3 elements per input"))
    for args, msg in cases:
        r = sncc(*args)
        assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert not (tmp_path / "no-such-port").exists()


# ------------------------------------------------------------------ end to end in Verilator

@needs_verilator
def test_host_and_board_top_end_to_end(tmp_path):
    """sncc.board's encoder and decoder against the RTL of a board build at 12 Mbaud, u8 inputs (MNIST-like
    pixels k/256, one byte each):
    answers bit-exact with the reference with two frames in flight (the receive FIFO), error frames
    (bad header, timeout, FIFO overrun), recovery, the benchmark's classes and its cycle count
    against the core testbench's, and a host clock 2% fast or slow."""
    from test_artix7 import hand_inputs, hand_mlp

    from sncc import board
    from sncc.backends import artix7

    m = hand_mlp(sizes=(12, 9, 5), T=4)
    m.inputs[0].owner.attrs.update({"calib.min": 0.0, "calib.max": 255 / 256})
    x = (np.floor(hand_inputs(4, 12, seed=3, lo=0.0, hi=1.0) * 256) / 256).astype(np.float32)    # pixels k/256
    labels = np.array([0, 1, 2, 3])
    out = tmp_path / "b"
    rep = artix7.build(m, out, vectors=x, n_vectors=4, labels=labels, synth=False, baud=12_000_000, bench=4)
    assert rep["verification"]["mismatches"] == 0 and rep["verification"]["lint"] is True
    u = rep["uart"]
    assert (u["input_encoding"], u["in_bytes"], u["request_bytes"], u["bit_fx"]) == ("u8", 1, 13, 2133)
    assert rep["bench"]["labels"] == labels.tolist()
    _, q_out, cls_ = artix7.reference(m, x)
    fmt = link.LinkFormat.from_report(json.loads((out / "report.json").read_text()))
    core_cycles = rep["performance"]["cycles_mean"] * 4

    tr = board.SimTransport(out, u["baud"], work=tmp_path / "w")
    try:
        res = board.classify(tr, fmt, x)
        assert res["classes"] == cls_.tolist() and res["outputs"] == q_out.tolist()
        assert res["clamped"] == 0
        tr.write(b"\x11\x22")                                              # garbage: one error frame
        assert tr.read(3, 1e-4) == bytes([0xEE, 0x01, 0x11])
        tr.write(fmt.request(fmt.codes(x[:1])[0][0])[:5])                  # half a frame: timeout
        assert tr.read(3, 1e-4) == bytes([0xEE, 0x02, 0x00])
        with pytest.raises(SnccError, match="bad header"):
            board._exchange(tr, fmt, b"\x33", 3, 1e-4)
        b = board.bench(tr, fmt, u["baud"])
        assert b["classes"] == cls_.tolist() and b["outputs"] == q_out.tolist()
        assert abs(b["cycles"] - core_cycles) <= 4 + 1, (b["cycles"], core_cycles)
        assert u["fifo_bytes"] == 32                                       # frames wait while the benchmark
        tr.write(bytes([0xB5]) + fmt.request(fmt.codes(x[:1])[0][0]) * 4)  # runs: 52 bytes overflow the FIFO
        got = tr.read(1 << 20, 400 / u["baud"])
        assert got[-3:] == bytes([0xEE, 0x03, 0x00]), got.hex()
        res = board.classify(tr, fmt, x[:2])                               # still answers after the errors
        assert res["classes"] == cls_[:2].tolist()
        binary = tr.binary
    finally:
        tr.close()
    for skew in (20_000, -20_000):                                         # host 2% slow / fast
        tr = board.SimTransport(out, u["baud"], binary=binary, skew_ppm=skew)
        try:
            res = board.classify(tr, fmt, x[:2])
            assert res["outputs"] == q_out[:2].tolist(), skew
        finally:
            tr.close()
