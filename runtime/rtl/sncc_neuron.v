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

    reg [GB-1:0] g1, g2;
    reg [AB-1:0] a1, a2;
    reg          i1, i2;
    reg          wv;
    reg [AB-1:0] wa;
    reg [L*VB-1:0] wd;
    wire [L*VB-1:0] vq;
    sncc_ram #(.D(NW), .AB(AB), .L(1), .LW(L * VB)) vmem (
        .clk(clk), .we(wv), .waddr(wa), .wdata(wd), .raddr(active ? n[AB-1:0] : rd_addr), .rdata(vq));
    assign rd_data = vq;

    always @(posedge clk) begin
        g1 <= g; g2 <= g1; a1 <= n[AB-1:0]; a2 <= a1;
        if (rst) begin
            active <= 1'b0; n <= {(AB+1){1'b0}}; g <= {GB{1'b0}}; i1 <= 1'b0; i2 <= 1'b0;
        end else begin
            i1 <= issue; i2 <= i1;
            if (start) begin
                active <= 1'b1; n <= {(AB+1){1'b0}}; g <= {GB{1'b0}};
            end else if (issue) begin
                n <= n + 1'b1;
                g <= (g == GL1) ? {GB{1'b0}} : g + 1'b1;
            end else if (active && !i1 && !i2) active <= 1'b0;
        end
    end

    // ---- the update, two cycles after the issue (current and membrane arrive together)
    integer j;
    reg signed [SW-1:0] x, v, s, th;
    reg [L*VB-1:0] vn;
    reg [L-1:0]    sp;
    wire [L*BW-1:0]  bw = bias[g2];
    wire [L*TW-1:0]  tw = theta[g2];
    wire [L*V0W-1:0] v0w = v0[g2];
    localparam signed [SW-1:0] VMAX = (1 << (VB - 1)) - 1;
    localparam signed [SW-1:0] VMIN = -(1 << (VB - 1));
    // every operand is sign-extended to SW bits, which hold any sum here without overflow
    /* verilator lint_off WIDTHEXPAND */
    always @* begin
        for (j = 0; j < L; j = j + 1) begin
            x = $signed(cur_data[j*AW +: AW]) + $signed(bw[j*BW +: BW]);
            if (MODE == 0) begin
                v = first ? $signed(v0w[j*V0W +: V0W]) : $signed(vq[j*VB +: VB]);
                s = v + x;
                if (s > VMAX) s = VMAX;
                if (s < VMIN) s = VMIN;
                th = $signed({1'b0, tw[j*TW +: TW]});
                sp[j] = (s >= th);
                if (sp[j]) s = (RESET_ZERO != 0) ? {SW{1'b0}} : s - th;
            end else begin
                v = first ? {SW{1'b0}} : $signed(vq[j*VB +: VB]);
                s = v + x;
                sp[j] = 1'b0;
                th = {SW{1'b0}};
            end
            vn[j*VB +: VB] = s[VB-1:0];
        end
    end
    /* verilator lint_on WIDTHEXPAND */
    always @(posedge clk) begin
        wv <= i2 && !rst;
        wa <= a2;
        wd <= vn;
        spk_we <= i2 && !rst && (MODE == 0);
        spk_addr <= a2;
        spk_word <= sp;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = cur_valid;
    /* verilator lint_on UNUSEDSIGNAL */
    assign busy = active || wv || spk_we;
endmodule

`default_nettype wire
