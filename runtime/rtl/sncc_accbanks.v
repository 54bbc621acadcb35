// sncc_accbanks: a banked accumulator memory (sncc FPGA backends, family-independent).
//
// B banks of WPB words (L lanes x AW bits), each an sncc_accmem. Two ways in:
//   * B bank ports (`par_*`, bank-local addresses), all usable in the same cycle: a
//     tap-parallel synapse engine (sncc_synapse_tp) sends each tap to its bank;
//   * one port over the whole memory (`req_*`, address = bank * WPB + local, the node's word
//     address): the neuron unit and the scanners walk the node word by word through it. The
//     request is registered, then its bank decode (timing: the decode alone is B constant
//     compares and a subtract), so the old value leaves on rd_data four cycles after the
//     request, two more than sncc_accmem's two (sncc_neuron's CUR_LAT = 4).
// Never both in one cycle (the controller runs one phase at a time).
`default_nettype none

module sncc_accbanks #(
    parameter integer B = 2,        // banks
    parameter integer WPB = 16,     // words per bank
    parameter integer LAB = 4,      // bank-local address bits
    parameter integer AB = 5,       // word address bits
    parameter integer BB = 1,       // bits of a bank index
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
    output wire [L*AW-1:0] rd_data,
    input  wire [B-1:0]         par_valid,
    input  wire [B*LAB-1:0]     par_addr,
    input  wire [B*L*AW-1:0]    par_add
);
    // the word port: the request is registered (r*), then decoded into its bank and local
    // address (B comparisons with constants) into q*, which goes to the bank
    reg [AB-1:0]   ra;
    reg [L*AW-1:0] radd;
    reg            rv, rclear;
    reg [BB-1:0]  nb;
    reg [AB-1:0]  nl;
    reg [31:0]    base;
    integer b;
    always @* begin
        nb = {BB{1'b0}};
        nl = ra;
        for (b = 1; b < B; b = b + 1) begin
            base = b * WPB;
            if ({{(32-AB){1'b0}}, ra} >= base) begin
                nb = b[BB-1:0];
                nl = ra - base[AB-1:0];
            end
        end
    end
    reg [BB-1:0]   qb, nb1, nb2;
    reg [LAB-1:0]  ql;
    reg [L*AW-1:0] qadd;
    reg            qv, qclear, n1, n2;
    always @(posedge clk) begin
        ra <= req_addr; radd <= req_add; rclear <= req_clear;
        qb <= nb; ql <= nl[LAB-1:0]; qadd <= radd; qclear <= rclear;
        nb1 <= qb; nb2 <= nb1;
        if (rst) begin rv <= 1'b0; qv <= 1'b0; n1 <= 1'b0; n2 <= 1'b0; end
        else begin rv <= req_valid; qv <= rv; n1 <= qv; n2 <= n1; end
    end

    wire [B-1:0]      bbusy, bvalid;
    wire [B*L*AW-1:0] bdata;
    genvar g;
    generate
        for (g = 0; g < B; g = g + 1) begin : bank
            wire mine = qv && (qb == g[BB-1:0]);
            sncc_accmem #(.D(WPB), .AB(LAB), .L(L), .AW(AW)) acc (
                .clk(clk), .rst(rst), .clear_start(clear_start), .busy(bbusy[g]),
                .req_valid(mine || par_valid[g]),
                .req_addr(mine ? ql : par_addr[g*LAB +: LAB]),
                .req_add(mine ? qadd : par_add[g*L*AW +: L*AW]),
                .req_clear(mine && qclear),
                .rd_valid(bvalid[g]), .rd_data(bdata[g*L*AW +: L*AW]));
        end
    endgenerate

    assign rd_valid = n2;
    assign rd_data = bdata[nb2*L*AW +: L*AW];
    assign busy = |bbusy || rv || qv;
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = ^{bvalid, nl};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule

`default_nettype wire
