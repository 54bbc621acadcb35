// sncc_output: the readout's integers to the output stream, and their argmax (sncc FPGA backends).
//
// The readout layer holds N = C*H*W sums in words of L lanes (word pos*G + g, lane j =
// channel g*L + j). `start` walks them in C order twice: first for the class (the index of
// the first largest value, spec/ir.md readout), then streaming each value on out_* with
// out_index and out_last. Reads have latency 2; one value per cycle when out_ready stays high.
`default_nettype none

module sncc_output #(
    parameter integer N = 1,
    parameter integer NB = 1,        // bits of an output index
    parameter integer P = 1,         // positions (H*W)
    parameter integer G = 1,
    parameter integer L = 1,
    parameter integer AB = 1,        // readout word address bits
    parameter integer JB = 1,        // lane index bits
    parameter integer RW = 8         // value bits
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    output wire            busy,
    output wire [AB-1:0]   rd_addr,
    input  wire [L*RW-1:0] rd_data,
    output wire            out_valid,
    input  wire            out_ready,
    output wire [RW-1:0]   out_data,
    output wire [NB-1:0]   out_index,
    output wire            out_last,
    output reg  [NB-1:0]   out_class
);
    // element e = c*P + pos lives in word pos*G + c/L, lane c%L (counters, no division)
    reg [1:0]    mode;          // 0 idle, 1 argmax, 2 stream
    reg [NB:0]   e;             // next element to read
    reg [AB-1:0] pos, cg;       // its position and channel group (word = pos*G + cg)
    reg [JB-1:0] lane;
    localparam [AB-1:0] GA = G[AB-1:0];
    localparam [AB-1:0] PL1 = P[AB-1:0] - 1'b1;
    localparam [JB-1:0] LL1 = L[JB-1:0] - 1'b1;
    localparam [NB-1:0] NL1 = N[NB-1:0] - 1'b1;
    wire [AB-1:0] word = pos * GA + cg;
    assign rd_addr = word;

    // read pipeline: element index and lane follow the data
    reg [NB:0]   e1, e2;
    reg [JB-1:0] j1, j2;
    reg          v1, v2;
    wire [RW-1:0] val = rd_data[j2*RW +: RW];
    reg          have;           // the stream holds a value
    reg [RW-1:0] hold;
    reg [NB-1:0] hidx;
    reg [RW-1:0] best;
    localparam [NB:0] NL = N[NB:0];
    wire can_read = (mode == 2'd1 && e != NL) || (mode == 2'd2 && e != NL && !have && !v1 && !v2);
    wire take = out_valid && out_ready;

    always @(posedge clk) begin
        if (rst) begin
            mode <= 2'd0; v1 <= 1'b0; v2 <= 1'b0; have <= 1'b0; out_class <= {NB{1'b0}};
        end else begin
            v1 <= can_read; v2 <= v1;
            e1 <= e; e2 <= e1; j1 <= lane; j2 <= j1;
            if (start) begin
                mode <= 2'd1; e <= {(NB+1){1'b0}}; pos <= {AB{1'b0}}; cg <= {AB{1'b0}}; lane <= {JB{1'b0}};
            end else if (can_read) begin
                e <= e + 1'b1;
                if (pos == PL1) begin
                    pos <= {AB{1'b0}};
                    if (lane == LL1) begin lane <= {JB{1'b0}}; cg <= cg + 1'b1; end
                    else lane <= lane + 1'b1;
                end else pos <= pos + 1'b1;
            end
            if (v2 && mode == 2'd1) begin
                if (e2 == {(NB+1){1'b0}} || $signed(val) > $signed(best)) begin
                    best <= val;
                    out_class <= e2[NB-1:0];
                end
            end
            if (mode == 2'd1 && e == NL && !v1 && !v2) begin
                mode <= 2'd2; e <= {(NB+1){1'b0}}; pos <= {AB{1'b0}}; cg <= {AB{1'b0}}; lane <= {JB{1'b0}};
            end
            if (v2 && mode == 2'd2) begin
                have <= 1'b1; hold <= val; hidx <= e2[NB-1:0];
            end else if (take) begin
                have <= 1'b0;
                if (hidx == NL1) mode <= 2'd0;
            end
        end
    end

    assign out_valid = have;
    assign out_data = hold;
    assign out_index = hidx;
    assign out_last = (hidx == NL1);
    assign busy = (mode != 2'd0);
endmodule

`default_nettype wire
