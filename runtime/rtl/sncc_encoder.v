// sncc_encoder: rate encoding of the stored input, one element per cycle (spec/ir.md 5.2, 6).
//
// At every timestep (`start`) walks the K input integers in C order; element e draws
// r = next(s) from the xorshift32 state (which carries on across timesteps: draw k = t*K + e)
// and spikes iff (r >> 8) < clamp(q, 0, 2^F) * 2^(24-F). `reset_state` (the start of an
// inference) sets the state to INIT = init(seed), computed by the generator. Input reads have
// latency 2; the spikes are written to the encoder's spike map (one bit per word, C order).
`default_nettype none

module sncc_encoder #(
    parameter integer K = 1,
    parameter integer AB = 1,
    parameter integer IW = 8,          // input integer bits (fx<IW,F>)
    parameter integer F = 8,           // input fraction bits, 0..24
    parameter [31:0] INIT = 32'h1
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          reset_state,
    input  wire          start,
    output wire          busy,
    output wire [AB-1:0] rd_addr,
    input  wire [IW-1:0] rd_data,
    output reg           spk_we,
    output reg  [AB-1:0] spk_addr,
    output reg           spk_bit
);
    reg [31:0] s;
    reg        active;
    reg [AB:0] e;
    reg [AB-1:0] a1, a2;
    reg        v1, v2;
    localparam [AB:0] KL = K[AB:0];
    wire issue = active && e != KL;
    assign rd_addr = e[AB-1:0];

    function [31:0] next;
        input [31:0] x;
        reg [31:0] y;
        begin
            y = x ^ (x << 13);
            y = y ^ (y >> 17);
            next = y ^ (y << 5);
        end
    endfunction

    // p = clamp(q, 0, 2^F), compared as u < p << (24 - F)
    wire signed [IW-1:0] q = rd_data;
    wire [31:0] r = next(s);
    reg  [IW+24:0] p;
    always @* begin
        if (q <= 0) p = {(IW+25){1'b0}};
        else if (q >= (1 << F)) p = (1 << 24);
        else p = {{25{1'b0}}, q} << (24 - F);
    end

    always @(posedge clk) begin
        a1 <= e[AB-1:0]; a2 <= a1;
        if (rst) begin
            active <= 1'b0; v1 <= 1'b0; v2 <= 1'b0; spk_we <= 1'b0; s <= INIT;
        end else begin
            v1 <= issue; v2 <= v1;
            if (reset_state) s <= INIT;
            if (start) begin active <= 1'b1; e <= {(AB+1){1'b0}}; end
            else if (issue) e <= e + 1'b1;
            else if (active && !v1 && !v2) active <= 1'b0;
            spk_we <= v2;
            spk_addr <= a2;
            if (v2) begin
                s <= r;
                spk_bit <= ({{(IW+1){1'b0}}, r[31:8]} < p);
            end
        end
    end
    assign busy = active || spk_we;
endmodule

`default_nettype wire
