"""The register-to-register timing estimate (backends/artix7/timing.py) against netlists whose
paths the tests know by construction: primitives instantiated by hand, read by Yosys and
written as JSON, and a random pipeline whose longest path the test computes itself from the
graph it generated (not from the netlist the estimate reads)."""
import json
import math
import random
import re
import subprocess

import pytest

from conftest import needs_yosys
from sncc.backends.artix7 import timing

# Published Artix-7 numbers the test restates on its own (prjxray-db, as Yosys's
# xilinx/cells_sim.v carries them): LUTk pin Ii -> O in ps, FF clock-to-Q, block RAM clock-to-out.
LUT_PIN = {1: [127], 2: [238, 127], 3: [407, 238, 127], 4: [472, 407, 238, 127],
           5: [631, 472, 407, 238, 127], 6: [642, 631, 472, 407, 238, 127]}
CLK_Q = 303


def net(fanout):
    return 0.35 + 0.13 * math.log2(max(1, fanout))


def yosys_json(tmp_path, verilog: str, top: str, synth: bool = False) -> dict:
    from sncc.backends.fpga import sim

    (tmp_path / "d.v").write_text(verilog)
    flow = (f"synth_xilinx -family xc7 -flatten -top {top}" if synth
            else f"hierarchy -top {top}; select {top}")
    r = subprocess.run([sim.yosys_exe(), "-q", "-p", ("" if synth else "read_verilog -lib +/xilinx/cells_sim.v; ") + f"read_verilog d.v; {flow}; write_json -selected n.json"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads((tmp_path / "n.json").read_text())


@needs_yosys
def test_random_lut_pipeline_longest_path(tmp_path):
    """A random DAG of LUTs between 12 registers: the estimate's worst delay and deepest LUT
    chain equal the longest paths the test computes over the DAG it generated."""
    rng = random.Random(7)
    n_ff, n_lut = 12, 60
    sig = [f"q[{i}]" for i in range(n_ff)]             # what LUT inputs may read: registers, earlier LUTs
    luts = []                                            # (k, [input signal indices])
    for j in range(n_lut):
        k = rng.randint(1, 6)
        ins = [rng.randrange(len(sig)) for _ in range(k)]
        luts.append((k, ins))
        sig.append(f"l{j}")
    d_of = [n_ff + rng.randrange(n_lut) for _ in range(n_ff)]   # each register's D: some LUT
    v = ["module t(input clk, input [11:0] din, output [11:0] dout);", "  wire [11:0] q;"]
    v += [f"  wire l{j};" for j in range(n_lut)]
    for j, (k, ins) in enumerate(luts):
        pins = ", ".join(f".I{i}({sig[s]})" for i, s in enumerate(ins))
        v.append(f"  LUT{k} #(.INIT({2 ** k}'h{rng.getrandbits(2 ** k):x})) u{j} ({pins}, .O(l{j}));")
    for i in range(n_ff):
        v.append(f"  FDRE r{i} (.C(clk), .CE(1'b1), .R(1'b0), .D({sig[d_of[i]]}), .Q(q[{i}]));")
    v += ["  assign dout = q;", "endmodule"]
    rep = timing.analyze(yosys_json(tmp_path, "\n".join(v), "t"), top="t")

    fanout = [0] * len(sig)
    for k, ins in luts:
        for s in ins:
            fanout[s] += 1
    for s in d_of:
        fanout[s] += 1
    arr, lev = {}, {}
    for i in range(n_ff):
        arr[i], lev[i] = CLK_Q / 1000 + net(fanout[i]), 0
    for j, (k, ins) in enumerate(luts):
        s = n_ff + j
        arr[s] = max(arr[x] + LUT_PIN[k][i] / 1000 for i, x in enumerate(ins)) + net(fanout[s])
        lev[s] = 1 + max(lev[x] for x in ins)
    expect_delay = max(arr[s] for s in d_of)             # D setup is 0 (prjxray: -46 ps, clipped)
    assert rep["worst_delay_ns"] == pytest.approx(round(expect_delay, 2), abs=0.006)
    assert rep["max_lut_levels"] == max(lev[s] for s in d_of)
    assert rep["paths"] == n_ff                           # CE and R are constants: no path
    assert not rep["unmodelled_cells"] and rep["combinational_loop_bits"] == 0


@needs_yosys
def test_block_ram_output_register_and_carry_chain(tmp_path):
    """A block RAM read into a 32-bit adder into a register: the path starts at the RAM with its
    clock-to-out (2.454 ns without DOA_REG, 0.882 with), runs through 8 CARRY4 and 1 LUT level."""
    def design(doa_reg):
        return f"""
module t(input clk, input [8:0] a, input [31:0] x, output reg [31:0] s);
  wire [31:0] d;
  RAMB18E1 #(.READ_WIDTH_A(36), .WRITE_WIDTH_B(36), .RAM_MODE("SDP"), .DOA_REG({doa_reg}))
    m (.CLKARDCLK(clk), .CLKBWRCLK(clk), .ENARDEN(1'b1), .ENBWREN(1'b0), .REGCEAREGCE(1'b1),
       .RSTRAMARSTRAM(1'b0), .RSTRAMB(1'b0), .RSTREGARSTREG(1'b0), .RSTREGB(1'b0),
       .ADDRARDADDR({{a, 5'b0}}), .ADDRBWRADDR(14'b0), .WEA(2'b0), .WEBWE(4'b0),
       .DIADI(16'b0), .DIBDI(16'b0), .DIPADIP(2'b0), .DIPBDIP(2'b0), .DOADO(d[15:0]), .DOBDO(d[31:16]));
  reg [31:0] xr;
  always @(posedge clk) begin xr <= x; s <= d + xr; end
endmodule
"""
    r0 = timing.analyze(yosys_json(tmp_path, design(0), "t", synth=True), top="t")
    r1 = timing.analyze(yosys_json(tmp_path, design(1), "t", synth=True), top="t")
    w0, w1 = r0["worst_paths"][0], r1["worst_paths"][0]
    assert w0["carry4"] == 8 and w0["lut_levels"] == 1 and w0["from"].startswith("d[")
    # it ends in the last CARRY4's bits: s[28..31]
    assert re.fullmatch(r"FDRE s\[(28|29|30|31)\] \(D\)", w0["to"]), w0["to"]
    # the same path, the output register saves exactly the difference of the clock-to-outs
    assert w0["delay_ns"] - w1["delay_ns"] == pytest.approx(2.454 - 0.882, abs=0.011)
    assert r0["max_lut_levels"] == 1


@needs_yosys
def test_dsp_input_setup_by_pipeline_registers(tmp_path):
    """A multiply of a LUT's output: Yosys packs it into a DSP48E1 with the product register
    (MREG) and no A register, so the path ends at A with the multiplier in front of MREG
    (1.416 ns setup, not the 0.254 ns of a registered A)."""
    v = """
module t(input clk, input [15:0] a, b, output reg [31:0] p);
  reg [15:0] ar, br;
  always @(posedge clk) begin ar <= a; br <= b; p <= (ar ^ {br[7:0], br[15:8]}) * br; end
endmodule
"""
    n = yosys_json(tmp_path, v, "t", synth=True)
    dsp = [c for c in n["modules"]["t"]["cells"].values() if c["type"] == "DSP48E1"]
    assert len(dsp) == 1 and int(dsp[0]["parameters"]["AREG"], 2) == 0 and int(dsp[0]["parameters"]["MREG"], 2) == 1
    rep = timing.analyze(n, top="t")
    w = rep["worst_paths"][0]
    assert w["to"].startswith("DSP48E1") and w["to"].endswith("(A)") and w["through"] == "LUT"
    lo = CLK_Q / 1000 + net(1) + LUT_PIN[6][-1] / 1000 + net(1) + 1.416
    hi = CLK_Q / 1000 + net(4) + LUT_PIN[6][0] / 1000 + net(1) + 1.416
    assert lo <= w["delay_ns"] <= hi + 0.005
    assert not rep["unmodelled_cells"]


def test_unknown_cells_are_listed_not_guessed():
    n = {"modules": {"t": {"cells": {"x": {"type": "MMCME2_ADV", "connections": {}}}, "netnames": {}}}}
    assert timing.analyze(n)["unmodelled_cells"] == {"MMCME2_ADV": 1}
