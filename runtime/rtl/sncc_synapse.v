// sncc_synapse: an event-driven convolution into an accumulator memory (sncc FPGA backends).
//
// One projection of the hardware graph (backends/fpga/graph.py): every event (c, y, x, value)
// of the source adds its weights, times the value, to every output it reaches. Dense layers
// are convolutions whose kernel covers their input, pools are depthwise all-ones kernels.
// The reach of an event is precomputed per row and per column (stride, padding and dilation
// included): ROW list entries for input row y are the valid (kernel row p, output row i)
// pairs, stored as the weight-address part p*KW*NWG and the sink-address part i*WO*GS; the
// same for columns. For each pair of row and column entries the engine issues NWG words
// (L output channels each) starting at the channel's weight base CB[c] and sink base SB[c]
// (its group's first output word, concat offset included):
//
//     weight address = CB[c] + row.w + col.w + k      sink address = SB[c] + row.s + col.s + k
//
// One word per cycle. The lanes' addends are w * value (XW-bit signed values) or w (spikes,
// SPIKE = 1), sign-extended to the sink's AW bits, sent to the sink's sncc_accmem.
// DIAG = 1 (a depthwise projection whose sink lanes are the source's lanes): an event is a
// whole source word (ev_word, ev_c its first channel) and lane j's addend is w_j * value_j.
`default_nettype none

module sncc_synapse #(
    parameter integer L = 1,        // sink lanes
    parameter integer WW = 8,       // weight bits
    parameter integer XW = 1,       // value bits
    parameter integer SPIKE = 1,
    parameter integer DIAG = 0,
    parameter integer AW = 16,      // sink accumulator bits
    parameter integer CB = 1, parameter integer YB = 1, parameter integer XB = 1,
    parameter integer NH = 1,       // source height
    parameter integer NWD = 1,      // source width
    parameter integer RLN = 1,      // row list entries
    parameter integer CLN = 1,      // column list entries
    parameter integer RLB = 1,      // bits of a row/column list index
    parameter integer KB = 2,       // bits of a per-position entry count
    parameter integer WAB = 1,      // weight address bits
    parameter integer SAB = 1,      // sink address bits
    parameter integer WD = 1,       // weight words
    parameter integer NWG = 1,      // words per tap
    parameter integer NGB = 1,      // bits of a word-in-tap counter
    parameter ROWS = "", parameter COLS = "", parameter ROWL = "", parameter COLL = "",
    parameter CHAN = "", parameter WEIGHTS = "",
    parameter integer BLOCK = 0     // weights in block RAM (sncc_rom)
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            ev_valid,
    output wire            ev_ready,
    input  wire [CB-1:0]   ev_c,
    input  wire [YB-1:0]   ev_y,
    input  wire [XB-1:0]   ev_x,
    input  wire [XW-1:0]   ev_val,
    input  wire [L*XW-1:0] ev_word,     // DIAG: the event's lanes
    output wire            busy,
    output reg             req_valid,
    output reg  [SAB-1:0]  req_addr,
    output reg  [L*AW-1:0] req_add
);
    // per input row / column: {first list entry, entry count}; list entries {weight part, sink part}
    reg [RLB+KB-1:0]    rows [0:NH-1];
    reg [RLB+KB-1:0]    cols [0:NWD-1];
    reg [WAB+SAB-1:0]   rowl [0:RLN-1];
    reg [WAB+SAB-1:0]   coll [0:CLN-1];
    reg [WAB+SAB-1:0]   chan [0:(1<<CB)-1];   // per channel {weight base, sink base} (NC used)
    initial begin
        $readmemh(ROWS, rows); $readmemh(COLS, cols);
        $readmemh(ROWL, rowl); $readmemh(COLL, coll);
        $readmemh(CHAN, chan);
    end

    // ---- the event being expanded
    reg            active;
    reg [RLB-1:0]  rl, c0, cl;              // current row entry; first and current column entries
    reg [KB-1:0]   rn, cn, ri, ci;          // counts and positions in the lists
    reg [NGB-1:0]  k;
    reg [WAB+SAB-1:0] base;
    reg [L*XW-1:0] val;                  // the event's value (DIAG: per lane)

    reg [L*XW-1:0] ev_in;
    always @* begin
        ev_in = {(L*XW){1'b0}};
        if (DIAG != 0) ev_in = ev_word;
        else ev_in[XW-1:0] = ev_val;
    end

    // ---- the accepted event, looked up: an event's table entries are read into registers as
    // it is accepted (each table's only reader is its register, so synthesis keeps the table
    // between the scanner's coordinate registers and these, not in front of the coordinates'
    // next-state logic: timing), and the expansion below loads them when it is free.
    reg               lv;                   // a looked-up event waits
    reg [RLB+KB-1:0]  re, ce;               // its row and column entries
    reg [WAB+SAB-1:0] lbase;
    reg [L*XW-1:0]    lval;
    localparam [NGB-1:0] KL1 = NWG[NGB-1:0] - 1'b1;
    localparam [KB-1:0] ONE = {{(KB-1){1'b0}}, 1'b1};
    // "the last word of the tap / column / row": registers set a cycle ahead, so that
    // ev_ready and the load enables they drive start at flip-flops (timing)
    reg last_k, last_c, last_r;
    wire last = active && last_k && last_c && last_r;
    wire load = lv && (!active || last);
    assign ev_ready = !lv || !active || last;
    wire take = ev_valid && ev_ready;
    wire [KB-1:0] ev_rn = re[KB-1:0];
    wire [KB-1:0] ev_cn = ce[KB-1:0];

    always @(posedge clk) begin
        if (take) begin
            re <= rows[ev_y]; ce <= cols[ev_x]; lbase <= chan[ev_c]; lval <= ev_in;
        end
        if (rst) lv <= 1'b0;
        else if (take) lv <= 1'b1;
        else if (load) lv <= 1'b0;
    end

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
        end else if (load) begin
            active <= (ev_rn != {KB{1'b0}}) && (ev_cn != {KB{1'b0}});
            rl <= re[RLB+KB-1:KB]; rn <= ev_rn; ri <= {KB{1'b0}};
            c0 <= ce[RLB+KB-1:KB]; cl <= ce[RLB+KB-1:KB]; cn <= ev_cn; ci <= {KB{1'b0}};
            k <= {NGB{1'b0}};
            last_k <= (NWG == 1); last_c <= (ev_cn == ONE); last_r <= (ev_rn == ONE);
            base <= lbase;
            val <= lval;
        end else if (active) begin
            if (last) active <= 1'b0;
            if (!last_k) begin
                k <= k + 1'b1;
                last_k <= (k == KL1 - 1'b1);
            end else begin
                k <= {NGB{1'b0}};
                last_k <= (NWG == 1);
                if (!last_c) begin
                    ci <= ci + 1'b1; cl <= cl + 1'b1;
                    last_c <= (ci + ONE == cn - ONE);
                end else begin
                    ci <= {KB{1'b0}}; cl <= c0;
                    last_c <= (cn == ONE);
                    ri <= ri + 1'b1; rl <= rl + 1'b1;
                    last_r <= (ri + ONE == rn - ONE);
                end
            end
        end
    end

    // ---- list entries (stage 0 -> A): registered reads, each table's only reader, so that
    // synthesis keeps the tables after rl/cl rather than pulling their next-state logic in
    // front of them (timing); the rest of the word's state moves along with them
    reg [WAB+SAB-1:0] rw, cw, basea;
    reg [NGB-1:0]     ka;
    reg [L*XW-1:0]    xa;
    reg               va;
    always @(posedge clk) begin
        rw <= rowl[rl]; cw <= coll[cl];
        ka <= k; basea <= base; xa <= val;
        va <= !rst && active;
    end

    // ---- addresses (stage A -> 1)
    reg  [WAB-1:0] kw;
    reg  [SAB-1:0] ks;
    always @* begin
        kw = {WAB{1'b0}}; kw[NGB-1:0] = ka;
        ks = {SAB{1'b0}}; ks[NGB-1:0] = ka;
    end
    reg            v1, v2, v3;
    reg [WAB-1:0]  wa1;
    reg [SAB-1:0]  sa1, sa2, sa3;
    reg [L*XW-1:0] x1, x2, x3;
    wire [L*WW-1:0] wq3;            // the weight word, two cycles after wa1
    always @(posedge clk) begin
        wa1 <= basea[WAB+SAB-1:SAB] + rw[WAB+SAB-1:SAB] + cw[WAB+SAB-1:SAB] + kw;
        sa1 <= basea[SAB-1:0] + rw[SAB-1:0] + cw[SAB-1:0] + ks;
        x1 <= xa;
        sa2 <= sa1; sa3 <= sa2;
        x2 <= x1; x3 <= x2;
        if (rst) begin
            v1 <= 1'b0; v2 <= 1'b0; v3 <= 1'b0; req_valid <= 1'b0;
        end else begin
            v1 <= va; v2 <= v1; v3 <= v2; req_valid <= v3;
        end
    end

    sncc_rom #(.W(L*WW), .D(WD), .AB(WAB), .BLOCK(BLOCK), .INIT(WEIGHTS)) wrom (.clk(clk), .addr(wa1), .q(wq3));

    // ---- addends (stage 4, registered into the request): w * value fits the sink's AW bits
    // exactly (each term lies within the quantize pass's worst-case range of the sum)
    localparam integer PW = (AW > WW + XW) ? AW : WW + XW;
    integer j;
    reg [L*AW-1:0] add;
    reg signed [WW-1:0] wl;
    /* verilator lint_off UNUSEDSIGNAL */
    reg signed [PW-1:0] prod;      // its top bits are sign copies: the sum fits AW bits
    reg [XW-1:0] xl;
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        for (j = 0; j < L; j = j + 1) begin
            wl = wq3[j*WW +: WW];
            xl = (DIAG != 0) ? x3[j*XW +: XW] : x3[XW-1:0];
            if (SPIKE != 0 && DIAG != 0) prod = xl[0] ? {{(PW-WW){wl[WW-1]}}, wl} : {PW{1'b0}};
            else if (SPIKE != 0) prod = {{(PW-WW){wl[WW-1]}}, wl};
            else prod = {{(PW-WW){wl[WW-1]}}, wl} * {{(PW-XW){xl[XW-1]}}, xl};
            add[j*AW +: AW] = prod[AW-1:0];
        end
    end
    always @(posedge clk) begin
        req_addr <= sa3;
        req_add <= add;
    end

    assign busy = lv || active || va || v1 || v2 || v3 || req_valid;
endmodule

`default_nettype wire
