"""The board link of spec/uart.md, shared by the generators, the testbenches and the host tool
(any FPGA family): rates, the fractional bit timer, the input encoding and the frame codec.

The RTL side is runtime/rtl/sncc_uart_{rx,tx,frontend}.v; `LinkFormat` is the host side. Both
follow spec/uart.md byte for byte; tests/test_board_link.py runs one against the other in
Verilator.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sncc.errors import SnccError

H_REQ, H_BENCH = 0xA5, 0xB5                 # host -> FPGA
H_RESP, H_BRESP, H_ERR = 0x5A, 0x5B, 0xEE   # FPGA -> host
ERRORS = {1: "bad header", 2: "timeout (the frame stopped in the middle)",
          3: "overrun (a byte arrived while the FPGA was busy: send one frame at a time)",
          4: "framing (a character without a stop bit: is the baud rate right?)"}
ERROR_BYTES = 3

# The default rate: 3 Mbaud. The boards' FTDI FT2232HQ derives its rate from 12 MHz (3 MHz on
# the FT232R-compatible path) divided by n + k/8; 3,000,000 is 12 MHz / 4 and 3 MHz / 1, exact on
# both paths and in every FTDI driver (Linux ftdi_sio, Windows VCP/D2XX, macOS); 12 Mbaud
# (12 MHz / 1) is the chip's maximum but only the H-chip path of a driver can set it. See
# spec/uart.md, "Line".
DEFAULT_BAUD = 3_000_000
MAX_BAUD = 12_000_000
MIN_CYCLES_PER_BIT = 8       # the receiver samples within one cycle of a bit's middle: <= 1/8 bit
FR = 8                       # fraction bits of the bit timer
TIMEOUT_S = 0.05             # inter-byte timeout inside a frame (spec/uart.md, "Errors")
MAX_BENCH = 4096             # images in the benchmark ROM
ENCODINGS = ("auto", "u8", "unorm8", "int")
BYTE_ENCODINGS = ("u8", "unorm8")     # one byte per element, through the frontend's table


def bits(n: int) -> int:
    """Bits of an unsigned counter holding 0..n (at least 1)."""
    return max(1, int(n).bit_length())


def bit_timer(clock_hz: int, baud: int) -> tuple[int, float, float]:
    """(BIT_FX, the rate it gives, its relative error): clock / baud in fixed point with FR
    fraction bits, checked: at least MIN_CYCLES_PER_BIT cycles per bit, rate error below 1%."""
    if isinstance(baud, bool) or not isinstance(baud, int) or not 1 <= baud <= MAX_BAUD:
        raise SnccError(f"the baud rate must be an integer in 1..{MAX_BAUD:,}, got {baud!r}")
    if clock_hz < MIN_CYCLES_PER_BIT * baud:
        raise SnccError(f"{baud:,} baud is too fast for a {clock_hz / 1e6:g} MHz clock: the UART needs at least "
                        f"{MIN_CYCLES_PER_BIT} clock cycles per bit (at most {clock_hz // MIN_CYCLES_PER_BIT:,} baud)")
    bit_fx = round(clock_hz * 2 ** FR / baud)
    actual = clock_hz * 2 ** FR / bit_fx
    err = abs(actual - baud) / baud
    if err >= 0.01:  # pragma: no cover - impossible with FR = 8 and >= 8 cycles per bit
        raise SnccError(f"{baud:,} baud cannot be made within 1% from {clock_hz / 1e6:g} MHz")
    return bit_fx, actual, err


def decode_table(IW: int, F: int, encoding: str = "unorm8") -> list[int]:
    """The core integer of each byte u of a one-byte encoding (the frontend's 256-entry table).

    u8: the input integer itself, u (clamped to fx<IW,F>: it always fits when IW > 8).
    unorm8: the input integer of x = u/255 (spec/ir.md section 6: floor(x * 2^F + 1/2), clamped
    to fx<IW,F>), in exact arithmetic. It equals `quantize_input` of float32(u/255): u * 2^F / 255
    + 1/2 is never within 1/510 of an integer, far more than float32's error."""
    lo, hi = -(1 << (IW - 1)), (1 << (IW - 1)) - 1
    if encoding == "u8":
        return [min(hi, u) for u in range(256)]
    return [min(hi, max(lo, math.floor(Fraction(u * 2 ** F, 255) + Fraction(1, 2)) if F >= 0
                        else math.floor(Fraction(u, 255 * 2 ** -F) + Fraction(1, 2)))) for u in range(256)]


def choose_encoding(requested: str, IW: int, F: int, calib_lo, calib_hi) -> str:
    """The input encoding on the link (spec/uart.md, "Input encoding"):

    u8: the input integer q as one unsigned byte, for inputs whose calibrated range gives
      0 <= q <= 255 (MNIST pixels k/256 with fx<9,8>: q = k); exact on that range.
    unorm8: one byte u per element standing for x = u/255 (8-bit images k/255, where 1.0 makes
      q = 2^F, one more than a byte); exact for such images.
    int: the input integer in ceil(IW/8) bytes; exact for any input.
    "auto": u8, else unorm8, else int, the first whose condition the calibrated input range
    (the input op's calib.min/calib.max) meets, when the integers need more than one byte."""
    if requested not in ENCODINGS:
        raise SnccError(f"the UART input encoding must be one of {', '.join(ENCODINGS)}, got {requested!r}")
    if requested != "auto":
        return requested
    if calib_lo is None or calib_hi is None or IW <= 8 or float(calib_lo) < 0.0:
        return "int"
    q_hi = math.floor(max(float(calib_hi), 0.0) * 2.0 ** F + 0.5)     # as the quantize pass sizes the type
    if q_hi <= 255:
        return "u8"
    return "unorm8" if float(calib_hi) <= 1.0 else "int"


@dataclass(frozen=True)
class LinkFormat:
    """The frame sizes and the codec of one build (report.json "network" and "uart")."""
    K: int                  # input elements
    N: int                  # output values
    IW: int                 # input integer bits
    F: int                  # input fraction bits
    OW: int                 # output integer bits
    out_frac: int
    encoding: str           # "u8", "unorm8" or "int"
    bench: int = 0          # images in the benchmark ROM

    @property
    def in_bytes(self) -> int:
        return 1 if self.encoding in BYTE_ENCODINGS else -(-self.IW // 8)

    @property
    def out_bytes(self) -> int:
        return -(-self.OW // 8)

    @property
    def cls_bytes(self) -> int:
        return -(-max(1, (self.N - 1).bit_length()) // 8)

    @property
    def request_bytes(self) -> int:
        return 1 + self.K * self.in_bytes

    @property
    def response_bytes(self) -> int:
        return 1 + self.cls_bytes + self.N * self.out_bytes

    @property
    def bench_response_bytes(self) -> int:
        return 1 + 2 + 6 + self.bench * (self.cls_bytes + self.N * self.out_bytes)

    @classmethod
    def from_report(cls, rep: dict) -> "LinkFormat":
        """From a build's report.json (checked: a damaged file is a SnccError, not a crash)."""
        try:
            net, u = rep["network"], rep["uart"]
            W, F = (int(v) for v in str(net["input_type"]).strip()[3:-1].split(","))
            fmt = cls(K=int(net["inputs"]), N=int(net["outputs"]), IW=W, F=F, OW=int(net["output_bits"]),
                      out_frac=int(net["output_frac"]), encoding=str(u["input_encoding"]),
                      bench=int((rep.get("bench") or {}).get("images", 0)))
            ok = (1 <= fmt.K <= 1 << 24 and 1 <= fmt.N <= 1 << 16 and 2 <= fmt.IW <= 64 and -64 <= fmt.F <= 64
                  and 2 <= fmt.OW <= 64 and fmt.encoding in ("u8", "unorm8", "int") and 0 <= fmt.bench <= MAX_BENCH
                  and u["request_bytes"] == fmt.request_bytes and u["response_bytes"] == fmt.response_bytes)
        except (KeyError, TypeError, ValueError, AttributeError):
            ok = False
        if not ok:
            raise SnccError("report.json has no valid UART section (is this a board build of this sncc version?)")
        return fmt

    # ------------------------------------------------------------------ host -> FPGA

    def quantize(self, x: np.ndarray) -> np.ndarray:
        """Input integers (spec/ir.md section 6) of inputs [n, K]."""
        q = np.floor(np.asarray(x, np.float64) * 2.0 ** self.F + 0.5)
        return np.clip(q, -(1 << (self.IW - 1)), (1 << (self.IW - 1)) - 1).astype(np.int64)

    def codes(self, x: np.ndarray) -> tuple[np.ndarray, int, float]:
        """The per-element link values of inputs [n, K]: u8 bytes (the input integers clamped to
        0..255), unorm8 bytes u = round(255 x) clamped to 0..255, or input integers. Returns
        (values [n, K], elements clamped, the largest distance |255 x - u| (unorm8; 0 for 8-bit
        images))."""
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if x.shape[1] != self.K:
            raise SnccError(f"an input has {x.shape[1]} elements, the build takes {self.K}")
        if not np.all(np.isfinite(x)):
            raise SnccError("the inputs hold NaN or infinite values")
        if self.encoding == "unorm8":
            s = x * 255.0
            u = np.floor(s + 0.5)
            clamped = int(np.sum((u < 0) | (u > 255)))
            u = np.clip(u, 0, 255)
            dist = float(np.max(np.abs(np.clip(s, 0, 255) - u), initial=0.0))
            return u.astype(np.int64), clamped, dist
        q = self.quantize(x)
        if self.encoding == "u8":
            clamped = int(np.sum((q < 0) | (q > 255)))
            return np.clip(q, 0, 255), clamped, 0.0
        return q, 0, 0.0

    def link_inputs(self, x: np.ndarray) -> np.ndarray:
        """What the board computes on: the inputs as the link delivers them (unorm8: u/255; u8:
        the clamped integers / 2^F, exact in float32)."""
        v = self.codes(x)[0]
        if self.encoding == "unorm8":
            return (v / 255.0).astype(np.float32)
        if self.encoding == "u8":
            return (v * 2.0 ** -self.F).astype(np.float32)
        return np.asarray(x, np.float32)

    def core_integers(self, codes: np.ndarray) -> np.ndarray:
        """The integers the core receives for link values (the frontend's decoding)."""
        if self.encoding in BYTE_ENCODINGS:
            return np.asarray(decode_table(self.IW, self.F, self.encoding), np.int64)[codes]
        return codes

    def request(self, codes_row: np.ndarray) -> bytes:
        """One classify frame: 0xA5 and the K elements."""
        if self.encoding in BYTE_ENCODINGS:
            return bytes([H_REQ]) + bytes(int(v) for v in codes_row)
        m = (1 << (8 * self.in_bytes)) - 1
        return bytes([H_REQ]) + b"".join((int(v) & m).to_bytes(self.in_bytes, "little") for v in codes_row)

    # ------------------------------------------------------------------ FPGA -> host

    def _value(self, b: bytes) -> int:
        v = int.from_bytes(b, "little", signed=True)
        lim = 1 << (self.OW - 1)
        if not -lim <= v < lim:
            raise SnccError(f"malformed answer: an output value {v} does not fit the build's {self.OW} bits")
        return v

    def _result(self, b: bytes) -> tuple[int, list[int]]:
        cls_ = int.from_bytes(b[:self.cls_bytes], "little")
        if cls_ >= self.N:
            raise SnccError(f"malformed answer: class {cls_} of {self.N} outputs")
        o, k = self.cls_bytes, self.out_bytes
        return cls_, [self._value(b[o + i * k:o + (i + 1) * k]) for i in range(self.N)]

    @staticmethod
    def error_text(frame: bytes) -> str:
        code, detail = frame[1], frame[2]
        what = ERRORS.get(code, f"unknown error code {code}")
        return f"the board answered error {code}: {what}" + (f" (byte 0x{detail:02X})" if code == 1 else "")

    def parse_response(self, b: bytes) -> tuple[int, list[int]]:
        """A classify answer (0x5A, class, outputs) -> (class, output integers)."""
        if len(b) >= ERROR_BYTES and b[0] == H_ERR:
            raise SnccError(self.error_text(b[:3]))
        if len(b) != self.response_bytes or b[0] != H_RESP:
            raise SnccError(f"malformed answer: {len(b)} bytes starting 0x{b[0] if b else 0:02X}, expected "
                            f"{self.response_bytes} bytes starting 0x{H_RESP:02X}")
        return self._result(b[1:])

    def parse_bench(self, b: bytes) -> tuple[int, list[int], list[list[int]]]:
        """A benchmark answer -> (cycles, classes, outputs)."""
        if len(b) >= ERROR_BYTES and b[0] == H_ERR:
            raise SnccError(self.error_text(b[:3]))
        if len(b) != self.bench_response_bytes or b[0] != H_BRESP:
            raise SnccError(f"malformed benchmark answer: {len(b)} bytes starting 0x{b[0] if b else 0:02X}, "
                            f"expected {self.bench_response_bytes} bytes starting 0x{H_BRESP:02X}")
        n = int.from_bytes(b[1:3], "little")
        if n != self.bench:
            raise SnccError(f"malformed benchmark answer: {n} images, the build has {self.bench}")
        cycles = int.from_bytes(b[3:9], "little")
        per = self.cls_bytes + self.N * self.out_bytes
        res = [self._result(b[9 + i * per:9 + (i + 1) * per]) for i in range(n)]
        return cycles, [r[0] for r in res], [r[1] for r in res]


def hexrows(values, width: int) -> str:
    """$readmemh text: one word per line, `width` bits (two's complement)."""
    d, m = max(1, -(-width // 4)), (1 << width) - 1
    return "".join(format(int(v) & m, f"0{d}x") + "\n" for v in values)
