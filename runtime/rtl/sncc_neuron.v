// sncc_neuron: one timestep of a layer of IF neurons, or of a readout (sncc FPGA backends).
//
// Walks the layer's NW words (L neurons each) once: takes each word's current from the
// layer's sncc_accmem (clearing it, unless the current is time-invariant, STATIC = 1), adds
// the per-channel bias, and updates the membranes exactly as spec/ir.md section 6 says:
//
//     IF (MODE 0):       v = sat_VB(v + x);  s = (v >= theta);  v -= theta (or v = 0) where s
//     readout (MODE 1):  v = v + x            (the sum over time; VB is wide enough)
//
// with v = v0 (IF) or 0 (readout) at the first step. Membranes live in a block RAM; the
// spikes of each word go out on spk_* (the layer's spike map). Per-channel bias, theta and v0
// are small ROMs indexed by the word's channel group. `rd_*` reads the membranes (the
// readout's sums) when the unit is idle.
`default_nettype none

module sncc_neuron #(
    parameter integer MODE = 0,       // 0: IF, 1: readout
    parameter integer NW = 1,         // words
    parameter integer AB = 1,         // word address bits
    parameter integer L = 1,
    parameter integer G = 1,          // channel groups
    parameter integer GB = 1,
    parameter integer AW = 8,         // current bits
    parameter integer BW = 2,         // bias bits
    parameter integer VB = 8,         // membrane (readout: sum) bits
    parameter integer TW = 2,         // threshold bits
    parameter integer V0W = 2,        // v0 bits
    parameter integer SW = 12,        // internal sum bits
    parameter integer RESET_ZERO = 0,
    parameter integer STATIC = 0,
    parameter integer CUR_LAT = 2,    // cycles from a request to its current: 2, or 4 from sncc_accbanks (2..4)
    parameter BIAS = "", parameter THETA = "", parameter V0 = ""
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    input  wire            first,
    output wire            busy,
    output wire            req_valid,
    output wire [AB-1:0]   req_addr,
    output wire            req_clear,
    input  wire            cur_valid,
    input  wire [L*AW-1:0] cur_data,
    output reg             spk_we,
    output reg  [AB-1:0]   spk_addr,
    output reg  [L-1:0]    spk_word,
    input  wire [AB-1:0]   rd_addr,
    output wire [L*VB-1:0] rd_data
);
    reg [L*BW-1:0]  bias  [0:G-1];
    reg [L*TW-1:0]  theta [0:G-1];
    reg [L*V0W-1:0] v0    [0:G-1];
    initial begin
        $readmemh(BIAS, bias);
        if (MODE == 0) begin
            $readmemh(THETA, theta);
            $readmemh(V0, v0);
        end
    end

    reg            active;
    reg [AB:0]     n;
    reg [GB-1:0]   g;
    localparam [AB:0] NWL = NW[AB:0];
    localparam [GB-1:0] GL1 = G[GB-1:0] - 1'b1;
    wire issue = active && (n != NWL);
    assign req_valid = issue;
    assign req_addr = n[AB-1:0];
    assign req_clear = (STATIC == 0);

    // the word issued at cycle t: membrane and current arrive at t+CUR_LAT (registered block
    // RAM reads, the membrane's address delayed by CUR_LAT - 2 to meet the current), then
    // three register stages keep every path to one adder or comparator (timing: report.md's
    // estimate): P1 x = current + bias, v = v0 or the membrane; P2 s = v + x; P3 saturation,
    // threshold compare and reset side by side; the write at t+CUR_LAT+3.
    reg [GB-1:0] g1, g2;
    reg [AB-1:0] a1, a2, a3, a4;
    reg          i1, i2, i3, i4;
    reg          wv;
    reg [AB-1:0] wa;
    reg [L*VB-1:0] wd;
    wire [L*VB-1:0] vq;
    // CUR_LAT > 2: the membrane read and the stages wait CUR_LAT - 2 more cycles for the
    // current (delay lines of two stages, the first CUR_LAT - 2 used)
    reg [AB-1:0] nq [0:1];
    reg [AB-1:0] ad [0:1];
    reg [GB-1:0] gd [0:1];
    reg [1:0]    id;
    localparam integer XD = CUR_LAT - 2;
    localparam integer XI = (XD > 0) ? XD - 1 : 0;    // the delay line's tap, where used
    wire [AB-1:0] aA = (XD == 0) ? a2 : ad[XI];
    wire [GB-1:0] gA = (XD == 0) ? g2 : gd[XI];
    wire          iA = (XD == 0) ? i2 : id[XI];
    sncc_ram #(.D(NW), .AB(AB), .L(1), .LW(L * VB)) vmem (
        .clk(clk), .we(wv), .waddr(wa), .wdata(wd),
        .raddr(active ? ((XD == 0) ? n[AB-1:0] : nq[XI]) : rd_addr), .rdata(vq));
    assign rd_data = vq;

    always @(posedge clk) begin
        g1 <= g; g2 <= g1; gd[0] <= g2; gd[1] <= gd[0];
        nq[0] <= n[AB-1:0]; nq[1] <= nq[0];
        a1 <= n[AB-1:0]; a2 <= a1; ad[0] <= a2; ad[1] <= ad[0]; a3 <= aA; a4 <= a3;
        if (rst) begin
            active <= 1'b0; n <= {(AB+1){1'b0}}; g <= {GB{1'b0}};
            i1 <= 1'b0; i2 <= 1'b0; id <= 2'b00; i3 <= 1'b0; i4 <= 1'b0;
        end else begin
            i1 <= issue; i2 <= i1; id <= {id[0], i2}; i3 <= iA; i4 <= i3;
            if (start) begin
                active <= 1'b1; n <= {(AB+1){1'b0}}; g <= {GB{1'b0}};
            end else if (issue) begin
                n <= n + 1'b1;
                g <= (g == GL1) ? {GB{1'b0}} : g + 1'b1;
            end else if (active && !i1 && !i2 && id == 2'b00 && !i3 && !i4) active <= 1'b0;
        end
    end

    // every operand is sign-extended to SW bits, which hold any sum here without overflow
    integer j;
    wire [L*BW-1:0]  bw = bias[gA];
    wire [L*TW-1:0]  tw = theta[gA];
    wire [L*V0W-1:0] v0w = v0[gA];
    localparam signed [SW-1:0] VMAX = (1 << (VB - 1)) - 1;
    localparam signed [SW-1:0] VMIN = -(1 << (VB - 1));
    reg [L*SW-1:0] x3, v3, s4;                // flat lane vectors (not memories)
    reg [L*TW-1:0] th3, th4;
    reg        [L-1:0]  thok3, thok4;         // theta <= VMAX: a saturated membrane fires
    /* verilator lint_off WIDTHEXPAND */
    always @(posedge clk) begin
        for (j = 0; j < L; j = j + 1) begin
            // P1
            x3[j*SW +: SW] <= $signed(cur_data[j*AW +: AW]) + $signed(bw[j*BW +: BW]);
            if (MODE == 0) v3[j*SW +: SW] <= first ? $signed(v0w[j*V0W +: V0W]) : $signed(vq[j*VB +: VB]);
            else           v3[j*SW +: SW] <= first ? {SW{1'b0}} : $signed(vq[j*VB +: VB]);
            th3[j*TW +: TW] <= tw[j*TW +: TW];
            thok3[j] <= (MODE == 0) && ($signed({1'b0, tw[j*TW +: TW]}) <= VMAX);
            // P2
            s4[j*SW +: SW] <= $signed(v3[j*SW +: SW]) + $signed(x3[j*SW +: SW]);
            th4[j*TW +: TW] <= th3[j*TW +: TW];
            thok4[j] <= thok3[j];
        end
    end

    // P3, as spec/ir.md section 6: s = sat(v + x); spike = s >= theta; s -= theta (or 0) on a
    // spike. The saturated cases are decided apart: above VMAX the membrane is VMAX and fires
    // when theta <= VMAX, leaving VMAX - theta (= VMAX ^ theta, no borrow for 0 <= theta <=
    // VMAX); below VMIN it is VMIN and never fires (theta >= 0).
    reg signed [SW-1:0] s, d, th;
    reg hi, lo;
    reg [L*VB-1:0] vn;
    reg [L-1:0]    sp;
    always @* begin
        for (j = 0; j < L; j = j + 1) begin
            s = $signed(s4[j*SW +: SW]);
            th = $signed({1'b0, th4[j*TW +: TW]});
            if (MODE == 0) begin
                hi = s > VMAX;
                lo = s < VMIN;
                d = s - th;
                sp[j] = hi ? thok4[j] : lo ? 1'b0 : (s >= th);
                if (sp[j] && RESET_ZERO != 0) s = {SW{1'b0}};
                else if (hi) s = sp[j] ? (VMAX ^ th) : VMAX;
                else if (lo) s = VMIN;
                else if (sp[j]) s = d;
            end else begin
                hi = 1'b0; lo = 1'b0; d = {SW{1'b0}};
                sp[j] = 1'b0;
            end
            vn[j*VB +: VB] = s[VB-1:0];
        end
    end
    /* verilator lint_on WIDTHEXPAND */
    always @(posedge clk) begin
        wv <= i4 && !rst;
        wa <= a4;
        wd <= vn;
        spk_we <= i4 && !rst && (MODE == 0);
        spk_addr <= a4;
        spk_word <= sp;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = ^{cur_valid, ad[0], ad[1], gd[0], gd[1], id, nq[0], nq[1]};   // delay stages CUR_LAT leaves unread
    /* verilator lint_on UNUSEDSIGNAL */
    assign busy = active || wv || spk_we;
endmodule

`default_nettype wire
