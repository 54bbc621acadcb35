// sncc_gmax: one timestep of gated spiking max pooling (spec/ir.md 5.4; sncc FPGA backends).
//
// Phase 1 (`upd_start`): for each of the source's NW words, counts += spikes (the running
// sums `acc` of the spec, CW bits, lanes as the source's). Phase 2 (`sel_start`): for each
// output word (position po, channel group g) walk the window's input positions that exist
// (row-major, from the table WIN: per output position {first entry, count}; entries are input
// positions), and per lane pass through the spike of the first position with the largest
// count. Spikes are read from the source's spike map (latency 2), counts from a block RAM.
`default_nettype none

module sncc_gmax #(
    parameter integer NW = 1,        // source words
    parameter integer AB = 1,        // source word address bits
    parameter integer OB = 1,        // output word address bits
    parameter integer PO = 1,        // output positions
    parameter integer POB = 1,
    parameter integer G = 1,         // channel groups (source and output)
    parameter integer GB = 1,
    parameter integer L = 1,
    parameter integer CW = 2,        // count bits
    parameter integer WLN = 1,       // window list entries
    parameter integer WLB = 1,
    parameter integer KB = 1,        // bits of a window's entry count
    parameter integer PIB = 1,       // bits of an input position
    parameter WIN = "", parameter WINL = ""
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           clear_start,
    input  wire           upd_start,
    input  wire           sel_start,
    output wire           busy,
    output wire           src_req,
    output wire [AB-1:0]  src_addr,
    input  wire [L-1:0]   src_data,
    output reg            spk_we,
    output reg  [OB-1:0]  spk_addr,
    output reg  [L-1:0]   spk_word
);
    reg [WLB+KB-1:0] win  [0:PO-1];
    reg [PIB-1:0]    winl [0:WLN-1];
    initial begin
        $readmemh(WIN, win);
        $readmemh(WINL, winl);
    end

    localparam [AB:0] NWL = NW[AB:0];
    localparam [AB-1:0] GA = G[AB-1:0];
    localparam [OB-1:0] GO = G[OB-1:0];
    localparam [GB-1:0] GL1 = G[GB-1:0] - 1'b1;
    reg          clearing, upd, sel;
    reg [AB:0]   n;                 // clear / update: word
    reg [POB:0]  po;                // select: output position ...
    reg [GB-1:0] g;                 // ... and channel group
    reg [KB-1:0] ki;                // ... and window entry
    reg [WLB-1:0] wl;
    // The window table is read a position ahead: `cur` = win[po], `nxt` = win[po + 1], and
    // "this window is empty", "this is its last entry" and "the walk is done" are registers
    // set a cycle ahead, so the walk's next-state logic starts at flip-flops (timing: the
    // table lookup, a compare and the list address mux were one path).
    reg [WLB+KB-1:0] cur, nxt;
    reg          empty, lastk, done;
    wire [KB-1:0] wn = cur[KB-1:0];
    wire [KB-1:0] nn = nxt[KB-1:0];
    localparam [KB-1:0] K1 = {{(KB-1){1'b0}}, 1'b1};
    localparam integer P1 = (PO > 1) ? 1 : 0;    // win[1], where it exists
    localparam integer TWO = 2;
    wire [POB:0] po2 = po + TWO[POB:0];
    wire [WLB+KB-1:0] ahead = (po2 < POL) ? win[po2[POB-1:0]] : {(WLB+KB){1'b0}};
    wire [PIB-1:0] pin = winl[wl];
    reg  [AB-1:0] sel_addr;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [AB+OB+GB-1:0] gw = {{(AB+OB){1'b0}}, g};   // g, zero-extended
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        sel_addr = {AB{1'b0}};
        sel_addr = pin * GA + gw[AB-1:0];
    end
    localparam [POB:0] POL = PO[POB:0];
    wire upd_issue = upd && (n != NWL);
    wire sel_issue = sel && !done && !empty;
    wire sel_empty = sel && !done && empty;   // a window with no input (padding only)
    wire sel_lastk = lastk;
    assign src_req = upd_issue || sel_issue;
    assign src_addr = upd ? n[AB-1:0] : sel_addr;

    // counts: read with the spikes (latency 2), written back in the update phase
    reg  [L*CW-1:0] cw_data;
    reg  [AB-1:0]   cw_addr;
    reg             cw_we;
    wire [L*CW-1:0] cq;
    sncc_ram #(.D(NW), .AB(AB), .L(1), .LW(L * CW)) counts (
        .clk(clk), .we(cw_we), .waddr(cw_addr), .wdata(cw_data), .raddr(src_addr), .rdata(cq));

    reg i1, i2, u1, u2, f1, f2, l1, l2, e1, e2;
    reg [AB-1:0] a1, a2;
    reg [OB-1:0] o1, o2;
    reg [OB-1:0] ow;            // output word of the current window
    always @* ow = po[POB-1:0] * GO + gw[OB-1:0];
    always @(posedge clk) begin
        a1 <= src_addr; a2 <= a1;
        o1 <= ow; o2 <= o1;
        if (rst) begin
            clearing <= 1'b0; upd <= 1'b0; sel <= 1'b0;
            i1 <= 1'b0; i2 <= 1'b0; e1 <= 1'b0; e2 <= 1'b0;
        end else begin
            i1 <= src_req; i2 <= i1;
            u1 <= upd; u2 <= u1;
            f1 <= sel_issue && ki == {KB{1'b0}}; f2 <= f1;
            l1 <= sel_issue && sel_lastk; l2 <= l1;
            e1 <= sel_empty; e2 <= e1;
            if (clear_start) begin clearing <= 1'b1; n <= {(AB+1){1'b0}}; end
            else if (clearing) begin
                if (n == NWL - 1'b1) clearing <= 1'b0;
                n <= n + 1'b1;
            end
            if (upd_start) begin upd <= 1'b1; n <= {(AB+1){1'b0}}; end
            else if (upd) begin
                if (n == NWL) upd <= 1'b0;
                else n <= n + 1'b1;
            end
            if (sel_start) begin
                sel <= 1'b1; po <= {(POB+1){1'b0}}; g <= {GB{1'b0}}; ki <= {KB{1'b0}};
                cur <= win[0]; nxt <= (PO > 1) ? win[P1] : {(WLB+KB){1'b0}};
                wl <= win[0][WLB+KB-1:KB];
                empty <= (win[0][KB-1:0] == {KB{1'b0}}); lastk <= (win[0][KB-1:0] == K1);
                done <= 1'b0;
            end else if (sel) begin
                if (done) sel <= 1'b0;
                else if (sel_empty || sel_lastk) begin
                    ki <= {KB{1'b0}};
                    if (g == GL1) begin
                        g <= {GB{1'b0}};
                        po <= po + 1'b1;
                        done <= (po + 1'b1 == POL);
                        cur <= nxt; nxt <= ahead;
                        wl <= nxt[WLB+KB-1:KB];
                        empty <= (nn == {KB{1'b0}}); lastk <= (nn == K1);
                    end else begin
                        g <= g + 1'b1;
                        wl <= cur[WLB+KB-1:KB];
                        lastk <= (wn == K1);
                    end
                end else begin
                    ki <= ki + 1'b1;
                    wl <= wl + 1'b1;
                    lastk <= (ki + K1 == wn - K1);
                end
            end
        end
    end

    // ---- two cycles after the read: update the counts, or compare for the selection
    integer j;
    reg [L*CW-1:0] best, nsum;
    reg [L-1:0]    pick, npick;
    always @* begin
        for (j = 0; j < L; j = j + 1)
            nsum[j*CW +: CW] = cq[j*CW +: CW] + {{(CW-1){1'b0}}, src_data[j]};
        npick = pick;
        for (j = 0; j < L; j = j + 1)
            if (f2 || cq[j*CW +: CW] > best[j*CW +: CW]) npick[j] = src_data[j];
    end
    always @(posedge clk) begin
        cw_we <= (i2 && u2) || clearing;
        cw_addr <= clearing ? n[AB-1:0] : a2;
        cw_data <= clearing ? {(L*CW){1'b0}} : nsum;
        if (i2 && !u2) begin
            for (j = 0; j < L; j = j + 1)
                if (f2 || cq[j*CW +: CW] > best[j*CW +: CW]) best[j*CW +: CW] <= cq[j*CW +: CW];
            pick <= npick;
        end
        spk_we <= !rst && ((i2 && !u2 && l2) || e2);
        spk_addr <= o2;
        spk_word <= e2 ? {L{1'b0}} : npick;
    end

    assign busy = clearing || upd || sel || i1 || i2 || e1 || e2 || cw_we || spk_we;
endmodule

`default_nettype wire
