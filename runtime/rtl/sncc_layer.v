// sncc_layer: one time-multiplexed dense layer and its neurons (spec/ir.md sections 5 and 6).
//
// Part of sncc's Artix-7 backend (hand-written static RTL; the generator instantiates it
// with the widths of one quantized `dense` -> `if` (or `dense` -> `readout`) layer).
//
// Organisation. The N neurons are spread over L lanes: neuron n = g*L + lane, g < G.
// Each lane owns one column slice of the weight memory (all lanes side by side in one
// block RAM word of L*WW bits: word k*G + g holds W[g*L + lane][k]), its current
// accumulators, membranes (and spike counts) for its G neurons.
//
//   clear   (clear_start): current accumulators := 0                        G cycles
//   events  (ev_valid/ev_ready): input k with value x (x = 1 for spikes):
//           for g < G: cur[g] += W[g*L+lane][k] * x     (all lanes at once)   G cycles/event
//           pipeline: issue address -> BRAM read -> product -> read-modify-write
//   pass    (pass_start, pass_first): per g, a 3-stage pipeline
//           A: s = (first ? v0 : v) + cur + bias      (cur := 0 unless STATIC_CUR)
//           B: v = sat(s) (vbits), spike = v >= theta
//           C: v := spike ? (RESET_ZERO ? 0 : v - theta) : v ; spike word out   G+3 cycles
//           MODE 1 (membrane readout): v := (first ? 0 : v) + cur + bias, no spikes.
//           COUNT 1 (count readout): cnt := (first ? 0 : cnt) + spike.
//
// All arithmetic is exact two's complement integer arithmetic; the generator chooses every
// width so that nothing but the membrane (saturated to VB bits) can overflow.
`default_nettype none

module sncc_layer #(
    parameter integer K = 16,            // inputs (events k < K)
    parameter integer L = 4,             // lanes
    parameter integer G = 4,             // neuron groups (neurons per lane)
    parameter integer KB = 4,            // bits of an event index
    parameter integer GB = 2,            // bits of a group index
    parameter integer AB = 6,            // weight-memory address bits (K*G words)
    parameter integer WW = 8,            // weight bits
    parameter integer XW = 1,            // event value bits
    parameter integer SPIKE_IN = 1,      // 1: events are spikes (value 1), no multiplier
    parameter integer PW = 8,            // product bits (WW + XW, or WW for spikes)
    parameter integer AW = 16,           // current accumulator bits (bias excluded)
    parameter integer BW = 8,            // bias bits
    parameter integer MODE = 0,          // 0: integrate-and-fire neurons, 1: membrane readout
    parameter integer VB = 16,           // membrane bits (vbits) / readout accumulator bits
    parameter integer V0W = 8,           // bits of the initial membrane v0
    parameter integer TW = 8,            // bits of the threshold
    parameter integer SW = 20,           // bits of the membrane update sum
    parameter integer RESET_ZERO = 0,    // 0: reset by subtraction, 1: reset to zero
    parameter integer STATIC_CUR = 0,    // 1: the current is time-invariant (not cleared by a pass)
    parameter integer COUNT = 0,         // 1: count the spikes (count readout)
    parameter integer CW = 8,            // count bits
    parameter integer RW = 8,            // readout port bits per lane (VB for MODE 1, CW for COUNT)
    parameter WEIGHTS = "weights.mem",   // L*WW bits per line, K*G lines
    parameter BIAS = "bias.mem",         // L*BW bits per line, 2^GB lines
    parameter THETA = "theta.mem",       // L*TW bits per line, 2^GB lines (MODE 0)
    parameter V0 = "v0.mem"              // L*V0W bits per line, 2^GB lines (MODE 0)
) (
    input  wire              clk,
    input  wire              rst,
    input  wire              clear_start,
    input  wire              ev_valid,
    output wire              ev_ready,
    input  wire [KB-1:0]     ev_index,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [XW-1:0]     ev_value,   // unused when SPIKE_IN
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire              pass_start,
    input  wire              pass_first,
    output wire              busy,
    output wire              spk_we,
    output wire [GB-1:0]     spk_addr,
    output wire [L-1:0]      spk_word,
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [GB-1:0]     rd_g,       // unused without a readout
    /* verilator lint_on UNUSEDSIGNAL */
    output wire [L*RW-1:0]   rd_data
);
    localparam integer GD = 1 << GB;           // depth of the per-lane memories
    localparam integer DEPTH = K * G;          // weight words
    localparam integer GLASTI = G - 1;
    localparam [GB-1:0] GLAST = GLASTI[GB-1:0];
    localparam [AB-1:0] GA = G[AB-1:0];

    // ------------------------------------------------------------------ sequencing
    reg          clr_busy;
    reg [GB-1:0] clr_g;
    reg          pa_busy;
    reg [GB-1:0] pa_g;
    reg          pa_first;
    always @(posedge clk) begin
        if (rst) begin
            clr_busy <= 1'b0;
            clr_g    <= {GB{1'b0}};
            pa_busy  <= 1'b0;
            pa_g     <= {GB{1'b0}};
            pa_first <= 1'b0;
        end else begin
            if (clear_start) begin
                clr_busy <= 1'b1;
                clr_g    <= {GB{1'b0}};
            end else if (clr_busy) begin
                if (clr_g == GLAST) clr_busy <= 1'b0;
                else clr_g <= clr_g + 1'b1;
            end
            if (pass_start) begin
                pa_busy  <= 1'b1;
                pa_g     <= {GB{1'b0}};
                pa_first <= pass_first;
            end else if (pa_busy) begin
                if (pa_g == GLAST) pa_busy <= 1'b0;
                else pa_g <= pa_g + 1'b1;
            end
        end
    end

    // ------------------------------------------------------------------ events: issue
    reg          ev_busy;
    reg [GB-1:0] ev_g;
    reg [AB-1:0] ev_addr;
    reg [XW-1:0] ev_x;
    wire         ev_last = (ev_g == GLAST);
    assign ev_ready = !ev_busy || ev_last;
    wire ev_take = ev_valid && ev_ready;
    reg [AB-1:0] idx_ext;
    always @* begin
        idx_ext = {AB{1'b0}};
        idx_ext[KB-1:0] = ev_index;
    end
    always @(posedge clk) begin
        if (rst) begin
            ev_busy <= 1'b0;
            ev_g    <= {GB{1'b0}};
            ev_addr <= {AB{1'b0}};
            ev_x    <= {XW{1'b0}};
        end else if (ev_take) begin
            ev_busy <= 1'b1;
            ev_g    <= {GB{1'b0}};
            ev_addr <= idx_ext * GA;
            ev_x    <= ev_value;
        end else if (ev_busy) begin
            if (ev_last) ev_busy <= 1'b0;
            else begin
                ev_g    <= ev_g + 1'b1;
                ev_addr <= ev_addr + 1'b1;
            end
        end
    end

    // ------------------------------------------------------------------ events: weight read
    reg [L*WW-1:0] wmem [0:DEPTH-1];
    initial $readmemh(WEIGHTS, wmem);
    reg [L*WW-1:0] w1;
    always @(posedge clk) w1 <= wmem[ev_addr];

    reg          s1_v;
    reg [GB-1:0] s1_g;
    /* verilator lint_off UNUSEDSIGNAL */
    reg [XW-1:0] s1_x;
    /* verilator lint_on UNUSEDSIGNAL */
    reg          s2_v;
    reg [GB-1:0] s2_g;
    always @(posedge clk) begin
        if (rst) begin
            s1_v <= 1'b0;
            s2_v <= 1'b0;
        end else begin
            s1_v <= ev_busy;
            s2_v <= s1_v;
        end
        s1_g <= ev_g;
        s1_x <= ev_x;
        s2_g <= s1_g;
    end

    // ------------------------------------------------------------------ shared memory addresses
    // the current accumulators are a single-port memory: RMW at s2_g, clear at clr_g, pass at pa_g
    wire [GB-1:0] cur_a = s2_v ? s2_g : (clr_busy ? clr_g : pa_g);
    wire          cur_clear = clr_busy || (pa_busy && (STATIC_CUR == 0));

    // pass pipeline control
    reg          b_v, c_v;
    reg [GB-1:0] b_g, c_g;
    reg          b_first, c_first;
    always @(posedge clk) begin
        if (rst) begin
            b_v <= 1'b0;
            c_v <= 1'b0;
        end else begin
            b_v <= pa_busy;
            c_v <= b_v;
        end
        b_g     <= pa_g;
        c_g     <= b_g;
        b_first <= pa_first;
        c_first <= b_first;
    end

    assign busy = clr_busy || pa_busy || b_v || c_v || ev_busy || s1_v || s2_v;
    assign spk_we = c_v && (MODE == 0);
    assign spk_addr = c_g;

    // per-lane ROMs (bias, threshold, v0)
    reg [L*BW-1:0] brom [0:GD-1];
    initial $readmemh(BIAS, brom);
    wire [L*BW-1:0] b_row = brom[pa_g];

    // ------------------------------------------------------------------ lanes
    genvar j;
    generate
        for (j = 0; j < L; j = j + 1) begin : lane
            // ---- product (stage 2)
            wire [WW-1:0] wl = w1[j*WW +: WW];
            reg  [PW-1:0] p2;
            if (SPIKE_IN != 0) begin : spk
                always @(posedge clk) p2 <= wl;
            end else begin : mul
                reg [PW-1:0] wx, xx;
                always @* begin
                    wx = {PW{wl[WW-1]}};
                    wx[WW-1:0] = wl;
                    xx = {PW{s1_x[XW-1]}};
                    xx[XW-1:0] = s1_x;
                end
                always @(posedge clk) p2 <= wx * xx;
            end
            reg [AW-1:0] p2x;
            always @* begin
                p2x = {AW{p2[PW-1]}};
                p2x[PW-1:0] = p2;
            end

            // ---- current accumulators (stage 3 read-modify-write; pass reads; clears)
            reg [AW-1:0] cur [0:GD-1];
            wire [AW-1:0] cur_q = cur[cur_a];
            always @(posedge clk) begin
                if (s2_v) cur[cur_a] <= cur_q + p2x;
                else if (cur_clear) cur[cur_a] <= {AW{1'b0}};
            end

            // ---- pass stage A: s = vin + cur + bias
            wire [BW-1:0] bl = b_row[j*BW +: BW];
            reg  [SW-1:0] a_cur, a_b;
            always @* begin
                a_cur = {SW{cur_q[AW-1]}};
                a_cur[AW-1:0] = cur_q;
                a_b = {SW{bl[BW-1]}};
                a_b[BW-1:0] = bl;
            end
            reg  [VB-1:0] vmem [0:GD-1];
            wire [VB-1:0] v_q = vmem[pa_g];
            reg  [SW-1:0] a_v;
            always @* begin
                a_v = {SW{v_q[VB-1]}};
                a_v[VB-1:0] = v_q;
            end
            reg  [SW-1:0] b_s;
            wire [VB-1:0] v_new;

            if (MODE == 0) begin : ifn
                reg [L*TW-1:0]  trom [0:GD-1];
                reg [L*V0W-1:0] vrom [0:GD-1];
                initial $readmemh(THETA, trom);
                initial $readmemh(V0, vrom);
                wire [TW-1:0]  tl  = trom[pa_g][j*TW +: TW];
                wire [V0W-1:0] v0l = vrom[pa_g][j*V0W +: V0W];
                reg  [SW-1:0] a_v0, a_t;
                always @* begin
                    a_v0 = {SW{v0l[V0W-1]}};
                    a_v0[V0W-1:0] = v0l;
                    a_t = {SW{1'b0}};
                    a_t[TW-1:0] = tl;
                end
                reg [SW-1:0] b_t, c_t;
                always @(posedge clk) begin
                    b_s <= (pa_first ? a_v0 : a_v) + a_cur + a_b;
                    b_t <= a_t;
                end
                // stage B: saturate to VB bits, compare with the threshold
                localparam [SW-1:0] VMAX = {{(SW-VB+1){1'b0}}, {(VB-1){1'b1}}};
                localparam [SW-1:0] VMIN = {{(SW-VB+1){1'b1}}, {(VB-1){1'b0}}};
                wire [SW-1:0] b_sat = ($signed(b_s) > $signed(VMAX)) ? VMAX :
                                      (($signed(b_s) < $signed(VMIN)) ? VMIN : b_s);
                reg  [SW-1:0] c_sat;
                reg           c_spk;
                always @(posedge clk) begin
                    c_sat <= b_sat;
                    c_spk <= ($signed(b_sat) >= $signed(b_t));
                    c_t   <= b_t;
                end
                // stage C: reset
                if (RESET_ZERO != 0) begin : rz
                    assign v_new = c_spk ? {VB{1'b0}} : c_sat[VB-1:0];
                    /* verilator lint_off UNUSEDSIGNAL */
                    wire unused_t = ^c_t;
                    /* verilator lint_on UNUSEDSIGNAL */
                end else begin : rs
                    wire [SW-1:0] c_sub = c_sat - c_t;   // >= 0 where c_spk
                    assign v_new = c_spk ? c_sub[VB-1:0] : c_sat[VB-1:0];
                    /* verilator lint_off UNUSEDSIGNAL */
                    wire unused_sub = ^c_sub[SW-1:VB];
                    /* verilator lint_on UNUSEDSIGNAL */
                end
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hi = ^{c_sat[SW-1:VB], c_first};
                /* verilator lint_on UNUSEDSIGNAL */
                assign spk_word[j] = c_spk;

                if (COUNT != 0) begin : cnt
                    reg [CW-1:0] cmem [0:GD-1];
                    wire [CW-1:0] c_old = c_first ? {CW{1'b0}} : cmem[c_g];
                    always @(posedge clk) if (c_v) cmem[c_g] <= c_old + {{(CW-1){1'b0}}, c_spk};
                    assign rd_data[j*RW +: RW] = cmem[rd_g];
                end else begin : nocnt
                    assign rd_data[j*RW +: RW] = {RW{1'b0}};
                end
            end else begin : ro
                // membrane readout: v := (first ? 0 : v) + cur + bias (cannot overflow VB bits)
                reg [SW-1:0] c_s;
                always @(posedge clk) begin
                    b_s <= (pa_first ? {SW{1'b0}} : a_v) + a_cur + a_b;
                    c_s <= b_s;
                end
                assign v_new = c_s[VB-1:0];
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hi = ^{c_s[SW-1:VB], c_first};
                /* verilator lint_on UNUSEDSIGNAL */
                assign spk_word[j] = 1'b0;
                assign rd_data[j*RW +: RW] = vmem[rd_g];
            end

            always @(posedge clk) if (c_v) vmem[c_g] <= v_new;
        end
    endgenerate
endmodule

`default_nettype wire
