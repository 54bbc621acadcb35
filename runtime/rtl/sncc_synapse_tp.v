// sncc_synapse_tp: a tap-parallel event-driven convolution into a banked accumulator memory
// (sncc FPGA backends, family-independent).
//
// The same projection as sncc_synapse (every event (c, y, x, value) adds its weights, times
// the value, to every output it reaches), but all taps of an event at once: the sink is
// banked (backends/fpga/graph.py, `Node.banks` = (BY, BX)), bank (rb, cb) holding the output
// positions (i, j) with i % BY = rb and j % BX = cb, and the bank sizes are chosen so that
// the outputs one event reaches lie in distinct banks. Port (rb, cb) serves bank (rb, cb).
//
// Tables, per input row y and row bank rb (ROWT[y*BY + rb]) and per input column x and column
// bank cb (COLT[x*BX + cb]): {valid, weight part, sink part}, where the weight part is
// a*KW*NWG (kernel row a) or b*NWG (kernel column b) and the sink part the bank-local
// address of output row i ((i / BY) * WB * GS) or column j ((j / BX) * GS). CHAN[c] is
// {weight base, sink base} as in sncc_synapse. For k = 0 .. NWG-1 port (rb, cb) issues
//
//     weight address = CB[c] + row.w + col.w + k      bank address = SB[c] + row.s + col.s + k
//
// when both entries are valid: an event costs NWG cycles, whatever its reach. Each port has
// its own copy of the weight ROM (one read per port per cycle). The pipeline: addresses, ROM
// read, ROM output register, the product in two halves, their sum into the request registers.
`default_nettype none

module sncc_synapse_tp #(
    parameter integer L = 1,        // sink lanes
    parameter integer WW = 8,       // weight bits
    parameter integer XW = 1,       // value bits
    parameter integer SPIKE = 1,
    parameter integer LUTMUL = 0,   // values of a few bits: w * value as shift-adds in logic, not a DSP
    parameter integer AW = 16,      // sink accumulator bits
    parameter integer CB = 1, parameter integer YB = 1, parameter integer XB = 1,
    parameter integer NH = 1,       // source height
    parameter integer NWD = 1,      // source width
    parameter integer BY = 1,       // row banks
    parameter integer BX = 1,       // column banks
    parameter integer RIB = 1,      // bits of a row table index (>= YB)
    parameter integer CIB = 1,      // bits of a column table index (>= XB)
    parameter integer WAB = 1,      // weight address bits
    parameter integer SAB = 1,      // bank address bits
    parameter integer WD = 1,       // weight words
    parameter integer NWG = 1,      // words per tap
    parameter integer NGB = 1,      // bits of a word-in-tap counter
    parameter ROWT = "", parameter COLT = "", parameter CHAN = "", parameter WEIGHTS = "",
    parameter integer BLOCK = 0     // each weight copy in block RAM (sncc_rom)
) (
    input  wire                  clk,
    input  wire                  rst,
    input  wire                  ev_valid,
    output wire                  ev_ready,
    input  wire [CB-1:0]         ev_c,
    input  wire [YB-1:0]         ev_y,
    input  wire [XB-1:0]         ev_x,
    input  wire [XW-1:0]         ev_val,
    output wire                  busy,
    output reg  [BY*BX-1:0]      req_valid,
    output reg  [BY*BX*SAB-1:0]  req_addr,
    output reg  [BY*BX*L*AW-1:0] req_add
);
    localparam integer B = BY * BX;
    localparam integer EW = 1 + WAB + SAB;     // table entry: {valid, weight part, sink part}
    reg [EW-1:0]      rowt [0:NH*BY-1];
    reg [EW-1:0]      colt [0:NWD*BX-1];
    reg [WAB+SAB-1:0] chan [0:(1<<CB)-1];      // per channel {weight base, sink base} (NC used)
    initial begin
        $readmemh(ROWT, rowt); $readmemh(COLT, colt); $readmemh(CHAN, chan);
    end

    // ---- the event being expanded: its row and column entries, one per bank row / column
    reg               active;
    reg [NGB-1:0]     k;
    reg [WAB+SAB-1:0] base;
    reg [XW-1:0]      val;
    reg [EW-1:0]      re [0:BY-1];
    reg [EW-1:0]      ce [0:BX-1];
    localparam [NGB-1:0] KL1 = NWG[NGB-1:0] - 1'b1;
    wire last = active && (k == KL1);
    assign ev_ready = !active || last;
    wire take = ev_valid && ev_ready;
    // the event's entries: table rows y*BY + rb and x*BX + cb (BY, BX are small constants)
    localparam [RIB-1:0] BYR = BY[RIB-1:0];
    localparam [CIB-1:0] BXR = BX[CIB-1:0];
    wire [RIB-1:0] ry = {{(RIB-YB){1'b0}}, ev_y} * BYR;
    wire [CIB-1:0] cx = {{(CIB-XB){1'b0}}, ev_x} * BXR;
    reg [EW-1:0] ren [0:BY-1];
    reg [EW-1:0] cen [0:BX-1];
    reg any_r, any_c;
    integer r;
    always @* begin
        any_r = 1'b0; any_c = 1'b0;
        for (r = 0; r < BY; r = r + 1) begin ren[r] = rowt[ry + r[RIB-1:0]]; any_r = any_r | ren[r][EW-1]; end
        for (r = 0; r < BX; r = r + 1) begin cen[r] = colt[cx + r[CIB-1:0]]; any_c = any_c | cen[r][EW-1]; end
    end
    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
        end else if (take) begin
            active <= any_r && any_c;      // an event that reaches no output costs one cycle
            k <= {NGB{1'b0}};
            base <= chan[ev_c];
            val <= ev_val;
            for (r = 0; r < BY; r = r + 1) re[r] <= ren[r];
            for (r = 0; r < BX; r = r + 1) ce[r] <= cen[r];
        end else if (active) begin
            if (last) active <= 1'b0;
            k <= k + 1'b1;
        end
    end

    reg  [WAB-1:0] kw;
    reg  [SAB-1:0] ks;
    always @* begin
        kw = {WAB{1'b0}}; kw[NGB-1:0] = k;
        ks = {SAB{1'b0}}; ks[NGB-1:0] = k;
    end
    reg            v1, v2, v3, v4;
    reg [XW-1:0]   x1, x2, x3;
    always @(posedge clk) begin
        x1 <= val; x2 <= x1; x3 <= x2;
        if (rst) begin v1 <= 1'b0; v2 <= 1'b0; v3 <= 1'b0; v4 <= 1'b0; end
        else begin v1 <= active; v2 <= v1; v3 <= v2; v4 <= v3; end
    end

    // ---- one port per bank: addresses, weight ROM copy, addends
    localparam integer PW = (AW > WW + XW) ? AW : WW + XW;
    genvar gy, gx;
    generate
        for (gy = 0; gy < BY; gy = gy + 1) begin : row
            for (gx = 0; gx < BX; gx = gx + 1) begin : col
                localparam integer P = gy * BX + gx;
                wire [EW-1:0] rr = re[gy];
                wire [EW-1:0] cc = ce[gx];
                wire on = rr[EW-1] && cc[EW-1];
                reg            o1, o2, o3;
                reg [WAB-1:0]  wa1;
                reg [SAB-1:0]  sa1, sa2, sa3;
                wire [L*WW-1:0] wq3;    // the weight word, two cycles after wa1
                always @(posedge clk) begin
                    wa1 <= base[WAB+SAB-1:SAB] + rr[WAB+SAB-1:SAB] + cc[WAB+SAB-1:SAB] + kw;
                    sa1 <= base[SAB-1:0] + rr[SAB-1:0] + cc[SAB-1:0] + ks;
                    sa2 <= sa1; sa3 <= sa2;
                    o1 <= on; o2 <= o1; o3 <= o2;
                end
                sncc_rom #(.W(L*WW), .D(WD), .AB(WAB), .BLOCK(BLOCK), .INIT(WEIGHTS)) wrom (.clk(clk), .addr(wa1), .q(wq3));
                // w * value fits the sink's AW bits exactly (quantize's worst case, spec/ir.md 6),
                // in two registered halves added in the next stage (timing: a shift-add of XW
                // terms would chain XW - 1 adders): pa + pb = w * value
                localparam integer XH = XW / 2;
                integer j, m;
                reg [L*AW-1:0] pa, pb, pa4, pb4, add;
                reg signed [WW-1:0] wl;
                /* verilator lint_off UNUSEDSIGNAL */
                reg signed [PW-1:0] prod, prodb;
                /* verilator lint_on UNUSEDSIGNAL */
                always @* begin
                    for (j = 0; j < L; j = j + 1) begin
                        wl = wq3[j*WW +: WW];
                        prodb = {PW{1'b0}};
                        if (SPIKE != 0) prod = {{(PW-WW){wl[WW-1]}}, wl};
                        else if (LUTMUL != 0) begin     // two's complement value: the top bit weighs -2^(XW-1)
                            prod = {PW{1'b0}};
                            for (m = 0; m < XW; m = m + 1)
                                if (x3[m]) begin
                                    if (m == XW - 1) prodb = prodb - ({{(PW-WW){wl[WW-1]}}, wl} << m);
                                    else if (m >= XH) prodb = prodb + ({{(PW-WW){wl[WW-1]}}, wl} << m);
                                    else prod = prod + ({{(PW-WW){wl[WW-1]}}, wl} << m);
                                end
                        end
                        else prod = {{(PW-WW){wl[WW-1]}}, wl} * {{(PW-XW){x3[XW-1]}}, x3};
                        pa[j*AW +: AW] = prod[AW-1:0];
                        pb[j*AW +: AW] = prodb[AW-1:0];
                    end
                end
                reg            o4;
                reg [SAB-1:0]  sa4;
                always @(posedge clk) begin
                    pa4 <= pa; pb4 <= pb; sa4 <= sa3; o4 <= o3;
                end
                always @* begin
                    for (j = 0; j < L; j = j + 1) add[j*AW +: AW] = pa4[j*AW +: AW] + pb4[j*AW +: AW];
                end
                always @(posedge clk) begin
                    req_addr[P*SAB +: SAB] <= sa4;
                    req_add[P*L*AW +: L*AW] <= add;
                    if (rst) req_valid[P] <= 1'b0;
                    else req_valid[P] <= v4 && o4;
                end
            end
        end
    endgenerate

    assign busy = active || v1 || v2 || v3 || v4 || (req_valid != {B{1'b0}});
endmodule

`default_nettype wire
