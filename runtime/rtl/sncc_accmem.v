// sncc_accmem: an accumulator memory with a pipelined read-modify-write port (sncc FPGA backends).
//
// D words of L lanes x AW-bit signed integers. Each cycle the port takes one request: add
// `req_add` lane by lane to word `req_addr` (or, with `req_clear`, return the word and write
// zero). The old value leaves on `rd_data` two cycles later (`rd_valid`). Reads are registered
// twice (block RAM with its output register); the sum is written in the third stage, and the
// two writes still in flight are forwarded, so back-to-back requests to one word are exact.
// `clear_start` zeroes every word (D cycles, `busy`), e.g. at the start of an inference.
// No sum can overflow: the widths come from the quantize pass's worst case (spec/ir.md 6).
`default_nettype none

module sncc_accmem #(
    parameter integer D = 16,
    parameter integer AB = 4,
    parameter integer L = 1,
    parameter integer AW = 8
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            clear_start,
    output wire            busy,
    input  wire            req_valid,
    input  wire [AB-1:0]   req_addr,
    input  wire [L*AW-1:0] req_add,
    input  wire            req_clear,
    output wire            rd_valid,
    output wire [L*AW-1:0] rd_data
);
    reg [L*AW-1:0] mem [0:D-1];
    integer i;
    initial for (i = 0; i < D; i = i + 1) mem[i] = {(L*AW){1'b0}};

    // stage 1: read; stage 2: output register; stage 3: add (forwarded) and write
    reg            v1, v2, c1, c2;
    reg [AB-1:0]   a1, a2;
    reg [L*AW-1:0] d1, d2, q1, q2;
    reg            h1v;                   // the writes of the last two cycles (h1, h2)
    reg            f1, f2;                // stage 3 forwards h1 / h2 (compared a cycle ahead)
    reg [AB-1:0]   h1a;
    reg [L*AW-1:0] h1d, h2d;
    reg            clearing;
    reg [AB:0]     ccnt;

    // which write in flight stage 3 must see: decided in stage 2 from the addresses one cycle
    // ahead (next cycle h1 = this cycle's stage 3, h2 = this cycle's h1); a clear zeroes both
    // addends (the addend already in stage 2), so the path into the memory's write port is
    // one mux and one adder
    wire [L*AW-1:0] old = f1 ? h1d : f2 ? h2d : q2;
    // clearing the whole memory writes the same sum with both addends zero: no mux after the adder
    wire [L*AW-1:0] oldc = (c2 || clearing) ? {(L*AW){1'b0}} : old;
    wire [L*AW-1:0] addc = clearing ? {(L*AW){1'b0}} : d2;
    reg  [L*AW-1:0] wval;
    always @* begin
        for (i = 0; i < L; i = i + 1)
            wval[i*AW +: AW] = oldc[i*AW +: AW] + addc[i*AW +: AW];
    end
    localparam [AB:0] DL = D[AB:0];

    always @(posedge clk) begin
        q1 <= mem[req_addr];
        q2 <= q1;
        a1 <= req_addr;  a2 <= a1;
        d1 <= req_add;   d2 <= c1 ? {(L*AW){1'b0}} : d1;
        c1 <= req_clear; c2 <= c1;
        if (clearing || v2) mem[clearing ? ccnt[AB-1:0] : a2] <= wval;
        h1a <= a2; h1d <= wval;
        h2d <= h1d;
        if (rst) begin
            v1 <= 1'b0; v2 <= 1'b0; h1v <= 1'b0; f1 <= 1'b0; f2 <= 1'b0;
            clearing <= 1'b0; ccnt <= {(AB+1){1'b0}};
        end else begin
            v1 <= req_valid && !clearing;
            v2 <= v1;
            h1v <= v2 && !clearing;
            f1 <= v2 && !clearing && a2 == a1;
            f2 <= h1v && !clearing && h1a == a1;
            if (clear_start) begin
                clearing <= 1'b1;
                ccnt <= {(AB+1){1'b0}};
            end else if (clearing) begin
                if (ccnt == DL - 1'b1) clearing <= 1'b0;
                ccnt <= ccnt + 1'b1;
            end
        end
    end

    assign rd_valid = v2;
    assign rd_data = old;
    assign busy = clearing || v1 || v2;
endmodule

`default_nettype wire
