// sncc_scan: turns a stored tensor into events (sncc FPGA backends, family-independent).
//
// The tensor [C, H, W] is stored as NW words of L lanes x XW bits, read through a port whose
// data return in order, a fixed number of cycles after the request (rd_valid). Word order ORDER = 0: word
// (y*W + x)*G + g with G = ceil(C/L), lane j = channel g*L + j (a layer's own layout); ORDER = 1 (L = 1 only):
// word c*H*W + y*W + x (C order, the input's layout). A banked layout (ORDER 0 with BY x BX
// banks, backends/fpga/graph.py `Node.pos_index`) walks bank by bank, each bank's positions
// (y, x) = (yy*BY + rb, xx*BX + cb) row-major; positions past the edge are holes and give no
// events. After `start` every nonzero lane becomes
// one event (c, y, x, value), lowest lane first, one per accepted transfer: consumers see only
// the elements that spiked (or, for values, that are not zero). A word with nothing costs one
// cycle; up to 4 words are fetched ahead. With `words` set (a lane-diagonal consumer, e.g. a
// depthwise pool whose lanes are the source's), every nonzero word is one event instead:
// ev_c its first channel, ev_word all its lanes. Only words below `limit` are read: the input can be
// scanned while it streams in.
`default_nettype none

module sncc_scan #(
    parameter integer NW = 4,      // words
    parameter integer NB = 2,      // bits of a word address
    parameter integer L = 1,       // lanes
    parameter integer XW = 1,      // bits per lane (1: spikes)
    parameter integer W = 1,       // width
    parameter integer H = 1,       // height
    parameter integer C = 1,       // channels
    parameter integer CB = 1,      // bits of c
    parameter integer YB = 1,      // bits of y
    parameter integer XB = 1,      // bits of x
    parameter integer ORDER = 0,
    parameter integer BY = 1,      // banks (ORDER 0): rows ...
    parameter integer BX = 1,      // ... and columns
    parameter integer HB = H,      // positions of a bank: rows ...
    parameter integer WB = W       // ... and columns
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    input  wire            words,       // one event per nonzero word (ev_word), not per lane
    input  wire [NB:0]     limit,       // words that may be read (NW, or fewer while they are being written)
    output wire            busy,
    output wire            rd_req,
    output wire [NB-1:0]   rd_addr,
    input  wire            rd_valid,
    input  wire [L*XW-1:0] rd_data,
    output wire            ev_valid,
    input  wire            ev_ready,
    output wire [CB-1:0]   ev_c,
    output wire [YB-1:0]   ev_y,
    output wire [XB-1:0]   ev_x,
    output wire [XW-1:0]   ev_val,
    output wire [L*XW-1:0] ev_word
);
    // up to 4 words are fetched ahead (FIFO of 4)
    localparam [CB:0] LC = L[CB:0];
    localparam [CB:0] CC = C[CB:0];
    localparam [XB-1:0] WL1 = W[XB-1:0] - 1'b1;
    localparam [YB-1:0] HL1 = H[YB-1:0] - 1'b1;
    localparam [NB:0] NWL = NW[NB:0];
    localparam [YB-1:0] BYL = BY[YB-1:0];
    localparam [XB-1:0] BXL = BX[XB-1:0];
    localparam [YB-1:0] HBL1 = HB[YB-1:0] - 1'b1;
    localparam [XB-1:0] WBL1 = WB[XB-1:0] - 1'b1;
    localparam [XB-1:0] BXL1 = BX[XB-1:0] - 1'b1;
    localparam [YB:0] HH = H[YB:0];
    localparam [XB:0] WW = W[XB:0];

    // ---- issue: word addresses in order, with the coordinates of each word
    reg            active;
    reg [NB:0]     issued;
    reg [CB-1:0]   ic;          // channel of lane 0 of the issued word
    reg [YB-1:0]   iy, iyy, irb;   // position (absolute; in the bank; the bank's row) ...
    reg [XB-1:0]   ix, ixx, icb;   // ... and the same for columns
    reg [2:0]      inflight;    // requests whose data have not returned
    reg [2:0]      count;       // words in the FIFO
    wire           more = (issued != NWL);
    wire [3:0]     ahead = {1'b0, count} + {1'b0, inflight};
    wire           can_issue = active && more && (issued < limit) && (ahead < 4'd4);
    assign rd_req = can_issue;
    assign rd_addr = issued[NB-1:0];

    // coordinate FIFO (written at issue) and data FIFO (written at return); both in order
    // The data FIFO also keeps each word's nonzero lanes and the same without the lowest
    // one, computed as the word arrives: the emit logic below then never has a subtraction
    // or a wide zero test between its registers (timing: report.md's estimate).
    reg [CB+YB+XB:0] cfifo [0:3];    // {hole, c, y, x}
    reg [L*XW-1:0]     dfifo [0:3];
    reg [L-1:0]        zfifo [0:3];  // nonzero lanes
    reg [L-1:0]        yfifo [0:3];  // the same without the lowest
    reg [1:0] cw, cr, dw;
    wire hole = ({1'b0, iy} >= HH) || ({1'b0, ix} >= WW);
    reg [L-1:0] nzin;
    integer i;
    always @* begin
        for (i = 0; i < L; i = i + 1) nzin[i] = (rd_data[i*XW +: XW] != {XW{1'b0}});
    end
    always @(posedge clk) begin
        if (can_issue) cfifo[cw] <= {hole, ic, iy, ix};
        if (rd_valid) begin
            dfifo[dw] <= rd_data;
            zfifo[dw] <= nzin;
            yfifo[dw] <= nzin & (nzin - 1'b1);
        end
    end

    // ---- emit: the word being handed over as events
    reg [L*XW-1:0] cur;
    reg [L-1:0]    pend;        // lanes still to hand over
    reg [L-1:0]    nxt;         // pend without its lowest lane (what a take leaves)
    reg            emp, one;    // pend is empty; nxt is (the word's last event)
    reg [CB-1:0]   cc;
    reg [YB-1:0]   cy;
    reg [XB-1:0]   cx;
    wire           chole = cfifo[cr][CB+YB+XB];
    wire [L-1:0]   nz = zfifo[cr];
    wire [L-1:0]   nzy = yfifo[cr];
    reg [CB-1:0] lsb;
    always @* begin
        lsb = {CB{1'b0}};
        for (i = L - 1; i >= 0; i = i - 1) if (pend[i]) lsb = i[CB-1:0];
    end
    // nxt2 = nxt without its lowest lane (nxt & (nxt - 1)) and "nxt has at most one lane"
    // (nxt2 == 0), as AND/OR logic: lane i stays if any lane below it is set, a wide OR of its
    // own (a tree), not a subtraction's carry chain or a serial prefix (timing)
    reg [L-1:0] nxt2;
    always @* begin
        for (i = 0; i < L; i = i + 1) nxt2[i] = nxt[i] && (|(nxt << (L - i)));
    end
    wire two = |nxt2;
    wire e_valid = active && !emp;      // an event to hand over
    reg  s_full;                        // the output stage's skid register holds one
    wire take = e_valid && !s_full;
    // the next word moves in when this one is empty or its last event is taken; written from
    // registers only: have = (count != 0), and take's !emp is implied by the OR (timing)
    reg  have;
    wire pop = have && (emp || (active && one && !s_full));

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0; issued <= {(NB+1){1'b0}}; inflight <= 3'd0; count <= 3'd0; have <= 1'b0;
            cw <= 2'd0; cr <= 2'd0; dw <= 2'd0; pend <= {L{1'b0}}; emp <= 1'b1;
            ic <= {CB{1'b0}}; iy <= {YB{1'b0}}; ix <= {XB{1'b0}};
            iyy <= {YB{1'b0}}; ixx <= {XB{1'b0}}; irb <= {YB{1'b0}}; icb <= {XB{1'b0}};
        end else if (start) begin
            active <= 1'b1; issued <= {(NB+1){1'b0}}; inflight <= 3'd0; count <= 3'd0; have <= 1'b0;
            cw <= 2'd0; cr <= 2'd0; dw <= 2'd0; pend <= {L{1'b0}}; emp <= 1'b1;
            ic <= {CB{1'b0}}; iy <= {YB{1'b0}}; ix <= {XB{1'b0}};
            iyy <= {YB{1'b0}}; ixx <= {XB{1'b0}}; irb <= {YB{1'b0}}; icb <= {XB{1'b0}};
        end else begin
            if (active) begin
                if (can_issue) begin
                    issued <= issued + 1'b1;
                    cw <= cw + 1'b1;
                    if (ORDER == 0) begin
                        if ({1'b0, ic} + LC >= CC) begin
                            ic <= {CB{1'b0}};
                            if (ixx == WBL1) begin
                                ixx <= {XB{1'b0}};
                                if (iyy == HBL1) begin
                                    iyy <= {YB{1'b0}};
                                    if (icb == BXL1) begin
                                        icb <= {XB{1'b0}}; irb <= irb + 1'b1; iy <= irb + 1'b1; ix <= {XB{1'b0}};
                                    end else begin
                                        icb <= icb + 1'b1; iy <= irb; ix <= icb + 1'b1;
                                    end
                                end else begin iyy <= iyy + 1'b1; iy <= iy + BYL; ix <= icb; end
                            end else begin ixx <= ixx + 1'b1; ix <= ix + BXL; end
                        end else ic <= ic + LC[CB-1:0];
                    end else begin
                        if (ix == WL1) begin
                            ix <= {XB{1'b0}};
                            if (iy == HL1) begin iy <= {YB{1'b0}}; ic <= ic + 1'b1; end
                            else iy <= iy + 1'b1;
                        end else ix <= ix + 1'b1;
                    end
                end
                inflight <= inflight + {2'd0, can_issue} - {2'd0, rd_valid};
                if (rd_valid) dw <= dw + 1'b1;
                count <= count + {2'd0, rd_valid} - {2'd0, pop};
                have <= rd_valid || (count > 3'd1) || (count == 3'd1 && !pop);
                if (!more && inflight == 3'd0 && count == 3'd0 && !can_issue && !rd_valid && (emp || (take && one)))
                    active <= 1'b0;
            end
            // (outside the active test: when the scan is not active, have and take are 0)
            if (pop) begin
                cur <= dfifo[cr];
                pend <= chole ? {L{1'b0}} : nz;
                nxt <= (chole || words) ? {L{1'b0}} : nzy;
                emp <= chole || (nz == {L{1'b0}});
                one <= chole || words || (nzy == {L{1'b0}});
                {cc, cy, cx} <= cfifo[cr][CB+YB+XB-1:0];
                cr <= cr + 1'b1;
            end else if (take) begin
                pend <= nxt;
                nxt <= nxt2;
                emp <= one;
                one <= words || !two;
            end
        end
    end

    reg [XW-1:0] val;
    always @* begin
        val = {XW{1'b0}};
        for (i = 0; i < L; i = i + 1) if (lsb == i[CB-1:0]) val = cur[i*XW +: XW];
    end

    // ---- output stage: a register and a skid register, so the hand-over above sees a
    // registered ready (s_full) and the consumer's ev_ready only chooses what the output
    // register loads (timing: it no longer runs through pop into the lane registers)
    localparam integer DW = CB + YB + XB + XW + L * XW;
    wire [DW-1:0] e_d = {words ? cc : cc + lsb, cy, cx, val, cur};
    reg           o_valid;
    reg [DW-1:0]  o_d, s_d;
    wire          o_free = !o_valid || ev_ready;
    always @(posedge clk) begin
        if (rst || start) begin
            o_valid <= 1'b0; s_full <= 1'b0;
        end else if (o_free) begin
            if (s_full) begin o_d <= s_d; o_valid <= 1'b1; s_full <= 1'b0; end
            else if (take) begin o_d <= e_d; o_valid <= 1'b1; end
            else o_valid <= 1'b0;
        end else if (take) begin
            s_d <= e_d; s_full <= 1'b1;
        end
    end
    assign ev_valid = o_valid;
    assign {ev_c, ev_y, ev_x, ev_val, ev_word} = o_d;
    assign busy = active || o_valid || s_full;
endmodule

`default_nettype wire
