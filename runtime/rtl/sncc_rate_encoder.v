// sncc_rate_encoder: the xorshift32 rate encoder of spec/ir.md 5.2 in fixed point (section 6).
//
// Part of sncc's Artix-7 backend. During the load phase the input integers q (IW bits,
// F fraction bits) are stored E per word. Every timestep, `enc_start` runs one pass over
// the words, E elements per cycle: element e at timestep t uses draw k = t*K + e of the
// encoder's xorshift32 stream (t-major, then element index), u = r_k >> 8, and spikes iff
//     u < clamp(q, 0, 2^F) * 2^(24-F)   <=>   q > 0 and (q >= 2^F or (u >> (24-F)) < q).
// The E draws of a word are computed at once by `sncc_prng_jump` (generated: the GF(2)
// matrices of 1..E xorshift32 steps, as XOR equations); the state advances by E draws per
// word and by K mod E after the last, partial word (K input elements). It restarts from INIT = init(seed)
// (precomputed by the generator) at every inference (`load_start`).
`default_nettype none

module sncc_rate_encoder #(
    parameter integer E = 4,         // elements per word
    parameter integer NW = 4,        // words = ceil(K / E)
    parameter integer NWB = 2,       // bits of a word address
    parameter integer EB = 2,        // bits of an element index within a word
    parameter integer IW = 9,        // input bits
    parameter integer F = 8,         // input fraction bits (0..24)
    parameter integer FU = 8,        // max(F, 1): draw bits used per element
    parameter integer QW = 11,       // compare width: max(IW, F + 1) + 1
    parameter [31:0] INIT = 32'h1    // init(seed)
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           load_start,
    input  wire           in_we,
    input  wire [IW-1:0]  in_data,
    input  wire           enc_start,
    output wire           busy,
    output reg            spk_we,
    output reg  [NWB-1:0] spk_addr,
    output reg  [E-1:0]   spk_word
);
    localparam integer ND = 1 << NWB;
    localparam integer ELASTI = E - 1;
    localparam [EB-1:0] ELAST = ELASTI[EB-1:0];
    localparam integer NWLASTI = NW - 1;
    localparam [NWB-1:0] NWLAST = NWLASTI[NWB-1:0];
    localparam integer ONEI = 1 << F;
    localparam [QW-1:0] ONE_F = ONEI[QW-1:0];

    // ------------------------------------------------------------------ input buffer
    reg [E*IW-1:0]  ibuf [0:ND-1];
    reg [E*IW-1:0]  stage;
    reg [EB-1:0]    ei;
    reg [NWB-1:0]   wi;
    reg [E*IW-1:0]  merged;
    integer m;
    always @* begin
        merged = stage;
        for (m = 0; m < E; m = m + 1)
            if (ei == m[EB-1:0]) merged[m*IW +: IW] = in_data;
    end
    always @(posedge clk) begin
        if (rst || load_start) begin
            stage <= {(E*IW){1'b0}};
            ei    <= {EB{1'b0}};
            wi    <= {NWB{1'b0}};
        end else if (in_we) begin
            if (ei == ELAST) begin
                stage <= {(E*IW){1'b0}};
                ei    <= {EB{1'b0}};
                wi    <= wi + 1'b1;
            end else begin
                stage <= merged;
                ei    <= ei + 1'b1;
            end
        end
    end
    // write-through: the current word is rewritten with every element (padding stays 0)
    always @(posedge clk) if (in_we) ibuf[wi] <= merged;

    // ------------------------------------------------------------------ PRNG and encode pass
    reg  [31:0]     s;
    wire [E*FU-1:0] uh;
    wire [31:0]     s_full, s_part;
    sncc_prng_jump prng (.s(s), .uh(uh), .s_full(s_full), .s_part(s_part));

    reg           en_active;
    reg [NWB-1:0] ew;
    wire          ew_last = (ew == NWLAST);
    wire [E*IW-1:0] word = ibuf[ew];

    wire [E-1:0] spikes;
    genvar j;
    generate
        for (j = 0; j < E; j = j + 1) begin : el
            wire [IW-1:0] q = word[j*IW +: IW];
            reg  [QW-1:0] qx;
            always @* begin
                qx = {QW{q[IW-1]}};
                qx[IW-1:0] = q;
            end
            wire pos = !qx[QW-1] && (qx != {QW{1'b0}});
            wire ge  = !qx[QW-1] && (qx >= ONE_F);
            wire [FU-1:0] u_hi = uh[j*FU +: FU];
            if (F == 0) begin : f0
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused = ^{u_hi, ge};
                /* verilator lint_on UNUSEDSIGNAL */
                assign spikes[j] = pos;
            end else begin : fn
                assign spikes[j] = pos && (ge || (u_hi < qx[FU-1:0]));
            end
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            en_active <= 1'b0;
            ew        <= {NWB{1'b0}};
            spk_we    <= 1'b0;
            s         <= INIT;
        end else begin
            if (load_start) s <= INIT;
            spk_we <= 1'b0;
            if (enc_start) begin
                en_active <= 1'b1;
                ew        <= {NWB{1'b0}};
            end else if (en_active) begin
                spk_we   <= 1'b1;
                spk_addr <= ew;
                spk_word <= spikes;
                s        <= ew_last ? s_part : s_full;
                ew       <= ew + 1'b1;
                if (ew_last) en_active <= 1'b0;
            end
        end
    end
    assign busy = en_active || spk_we;
endmodule

`default_nettype wire
