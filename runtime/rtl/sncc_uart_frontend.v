// sncc_uart_frontend: the board link of spec/uart.md in front of an sncc core (family-independent).
//
// Frames (every number little endian; spec/uart.md is the reference, byte for byte):
//   host -> FPGA  0xA5 x[0] .. x[K-1]     classify one input: K elements of IN_BYTES bytes
//                                         (BYTE_TABLE: one byte u per element, the core gets DECODE[u])
//                 0xB5                    run the on-board benchmark (BENCH_N > 0)
//   FPGA -> host  0x5A class y[0] .. y[N-1]                      the answer to 0xA5
//                 0x5B count[2] cycles[6] {class y[0] .. y[N-1]} x count   the answer to 0xB5
//                 0xEE code detail                               an error (below)
// Received bytes go through a FIFO of FD bytes (block RAM), so a host may send the next frame
// while the core works on the previous one and its answer is on the way: the link, not the
// round trip, sets the rate. Frames are checked as they arrive (header, timeout) and run in
// order; answers come back in the same order.
// Errors: 0x01 bad header (detail: the byte), 0x02 timeout (a frame stopped for TIMEOUT cycles
// in the middle; detail 0), 0x03 overrun (a byte arrived with the FIFO full: more than FD bytes
// ahead of the core; detail 0), 0x04 framing (a character without a stop bit: a wrong baud
// rate; detail 0). After an error the frontend drops everything: the FIFO, the frames and
// answers in flight, the core's inference (core_abort resets the core for a cycle), the rest of
// an answer being sent. It ignores bytes until the line has been quiet for TIMEOUT cycles and
// then sends one error frame, so a burst of garbage gives one error, and a host resynchronises
// by waiting for it.
//
// The benchmark streams BENCH_N inputs from a ROM (BENCH_INPUTS, core integers) through the core
// back to back and stores the classes and outputs in block RAM; its cycle count runs from the
// first cycle the core sees in_valid to the cycle of the last inference's `done` (the same
// measure as the core testbench's cycles per inference, summed). The answer is sent after the
// run, so the link does not slow the measured core down.
`default_nettype none

module sncc_uart_frontend #(
    parameter integer BIT_FX = 868 * 256,    // clock cycles per bit, times 2^FR (fractional divider)
    parameter integer FR = 8,
    parameter integer RW = 18,               // bits of the bit timers
    parameter integer TIMEOUT = 5000000,     // inter-byte timeout (clock cycles)
    parameter integer TOB = 23,              // bits of the quiet-time counter (holds TIMEOUT)
    parameter integer FD = 32,               // receive FIFO bytes (a power of two)
    parameter integer FAB = 5,               // log2(FD)
    parameter integer LB = 5,                // bits of a frame byte counter (holds K * IN_BYTES)
    parameter integer K = 16,                // input elements per request
    parameter integer KB = 5,                // bits of an element counter (holds K)
    parameter integer IW = 9,                // input element bits
    parameter integer IN_BYTES = 2,          // bytes per element on the link
    parameter integer BYTE_TABLE = 0,        // 1: elements are one byte u, the core gets DECODE[u]
    parameter DECODE = "",                   // $readmemh table of 256 core integers (BYTE_TABLE;
                                             // spec/uart.md: u8 and unorm8)
    parameter integer OW = 16,               // output value bits
    parameter integer OUT_BYTES = 2,
    parameter integer NOUT = 10,             // output values per inference
    parameter integer NOB = 4,               // bits of an output counter (holds NOUT)
    parameter integer CLW = 4,               // class bits
    parameter integer CLS_BYTES = 1,
    parameter integer BENCH_N = 0,           // benchmark images in the ROM (0: no benchmark)
    parameter integer BNB = 1,               // bits of an image index (0 .. BENCH_N-1)
    parameter integer BAB = 1,               // bits of a ROM address (0 .. BENCH_N*K-1)
    parameter integer RAB = 1,               // bits of a result address (0 .. BENCH_N*NOUT-1)
    parameter BENCH_INPUTS = ""              // $readmemh ROM: BENCH_N * K core integers
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           rx,
    output wire           tx,
    output reg            core_abort,        // reset the core (an error during an inference)
    // to the core
    output wire           in_valid,
    input  wire           in_ready,
    output wire [IW-1:0]  in_data,
    input  wire           out_valid,
    output wire           out_ready,
    input  wire [OW-1:0]  out_data,
    input  wire           out_last,
    input  wire [CLW-1:0] out_class,
    input  wire           done
);
    localparam integer AW = 8 * IN_BYTES;
    localparam integer BD = (BENCH_N > 0) ? BENCH_N * K : 1;      // ROM depth
    localparam integer RD = (BENCH_N > 0) ? BENCH_N * NOUT : 1;   // result RAM depth
    localparam integer CD = (BENCH_N > 0) ? BENCH_N : 1;
    localparam integer KLASTI = K - 1, ILASTI = IN_BYTES - 1, NLASTI = NOUT - 1, BLASTI = BD - 1, CLASTI = CD - 1;
    localparam [KB-1:0]  KLAST = KLASTI[KB-1:0];
    localparam [7:0]     ILAST = ILASTI[7:0];
    localparam [NOB-1:0] NLAST = NLASTI[NOB-1:0];
    localparam [BAB-1:0] BLAST = BLASTI[BAB-1:0];
    localparam [BNB-1:0] NLASTB = CLASTI[BNB-1:0];
    localparam [15:0]    BCOUNT = BENCH_N[15:0];
    localparam [TOB-1:0] TMAX = TIMEOUT[TOB-1:0];
    localparam [3:0]     CLSB = CLS_BYTES[3:0], OUTB = OUT_BYTES[3:0];
    localparam integer   PAYI = K * IN_BYTES;
    localparam [LB-1:0]  PAY = PAYI[LB-1:0];

    localparam [7:0] H_REQ = 8'hA5, H_BENCH = 8'hB5, H_RESP = 8'h5A, H_BRESP = 8'h5B, H_ERR = 8'hEE;
    localparam [7:0] E_HEADER = 8'h01, E_TIMEOUT = 8'h02, E_OVERRUN = 8'h03, E_FRAMING = 8'h04;

    // ------------------------------------------------------------------ line
    wire       rx_valid, rx_framing;
    wire [7:0] rx_byte;
    sncc_uart_rx #(.BIT_FX(BIT_FX), .FR(FR), .RW(RW)) urx (
        .clk(clk), .rst(rst), .rx(rx), .valid(rx_valid), .data(rx_byte), .framing(rx_framing));

    reg        t_start;
    reg  [7:0] t_byte;
    wire       t_ready;
    sncc_uart_tx #(.BIT_FX(BIT_FX), .FR(FR), .RW(RW)) utx (
        .clk(clk), .rst(rst), .start(t_start), .data(t_byte), .ready(t_ready), .tx(tx));

    // ------------------------------------------------------------------ tables
    reg [IW-1:0] dec [0:255];                    // BYTE_TABLE: byte code -> core integer
    reg [IW-1:0] rom [0:BD-1];                   // benchmark inputs
    reg [OW-1:0] rvals [0:RD-1];                 // benchmark outputs
    reg [CLW-1:0] rcls [0:CD-1];                 // benchmark classes
    integer i;
    initial begin
        for (i = 0; i < 256; i = i + 1) dec[i] = {IW{1'b0}};
        if (BYTE_TABLE != 0) $readmemh(DECODE, dec);
        if (BENCH_N > 0) $readmemh(BENCH_INPUTS, rom);
        else rom[0] = {IW{1'b0}};
    end

    // ------------------------------------------------------------------ receive FIFO
    reg [7:0]     fifo [0:FD-1];
    reg [FAB:0]   f_w, f_r;      // write and read counts (one bit more than the address)
    reg [7:0]     f_q;           // registered read: the byte at f_r - 1 when p_have
    reg           p_have;        // f_q holds a byte for the parser
    // full, as a register kept with the counts (timing: the line check's overrun error starts
    // here and selects the next value of most registers below)
    reg           f_full;
    localparam [FAB:0] FDL = FD[FAB:0];
    wire          f_empty = (f_w == f_r);
    wire          f_near = ((f_w - f_r) == FDL - 1'b1);   // one byte short of full
    reg           l_in;          // the line is inside a frame
    reg [LB-1:0]  l_left;        // its bytes still to come

    // ------------------------------------------------------------------ state
    localparam [2:0] R_IDLE = 3'd0, R_DATA = 3'd1, R_BENCHW = 3'd2, R_BENCH = 3'd3, R_DISCARD = 3'd4,
                     R_ERR = 3'd5;
    reg [2:0]     r_st;
    // r_st == R_DISCARD and r_st == R_ERR, kept with r_st: the line check, the FIFO and the
    // transmitter test one flip-flop, not a decode of the state (timing)
    reg           r_disc, r_err;
    reg [KB-1:0]  r_elems;       // elements received in this frame
    reg [7:0]     r_bi;          // byte of the current element
    reg [AW-1:0]  r_acc;         // bytes of the current element (shift register, first byte low)
    reg           u_valid;       // an element for the core (from the link)
    reg [IW-1:0]  u_data;
    reg [TOB-1:0] quiet;         // cycles since the last byte (saturates at TIMEOUT)
    reg [7:0]     e_code, e_detail;
    reg           e_pend;        // an error frame to send
    reg [7:0]     owed;          // classify answers still to send (frames handed to the core)

    /* verilator lint_off UNUSEDSIGNAL */
    wire [AW+7:0]    merged = {f_q, r_acc};              // the element with this byte shifted in
    wire [AW+IW-1:0] el_wide = {{IW{1'b0}}, merged[AW+7:8]};
    /* verilator lint_on UNUSEDSIGNAL */
    wire [AW-1:0]    element = merged[AW+7:8];
    reg           quiet_full;    // quiet == TMAX, as a register (timing: the timeout check starts here)
    // the line check's verdict on this cycle's byte, applied the next cycle (timing: the check
    // no longer sits in front of the twenty registers an error resets; to the rest of the
    // design a failing byte arrives one cycle later)
    reg           l_fail, l_tmo;
    reg [7:0]     l_code, l_detail;

    // benchmark
    reg           b_mode;        // the core belongs to the benchmark (inputs from the ROM)
    reg           b_feed;        // ROM addresses left to read
    reg [BAB-1:0] b_addr;
    reg           b_valid;       // rom output register holds an element for the core
    reg [IW-1:0]  b_q;
    reg           b_count;       // the cycle counter runs
    // the 48-bit cycle count as two 24-bit halves with a registered carry (timing: one short
    // carry chain per cycle); read only after the run, when the last carry has landed
    reg [23:0]    b_lo, b_hi;
    reg           b_wrap, b_started;
    wire [47:0]   b_cyc = {b_hi, b_lo};
    reg [BNB-1:0] b_done;        // inferences finished
    reg           b_first;       // the next output is an image's first (its class is stored then)
    reg           b_fin;         // the run is over: its answer is to be sent
    reg [RAB-1:0] b_waddr;
    reg [BNB-1:0] b_cimg;        // image whose class is written
    // benchmark answer: registered reads of the result RAMs (the transmitter needs many
    // cycles per byte, so a read is always ready long before it is used)
    reg [RAB-1:0] q_raddr;
    reg [BNB-1:0] q_img;
    reg [NOB-1:0] q_vi;
    reg [OW-1:0]  q_val;
    reg [CLW-1:0] q_cls;

    wire b_adv = b_feed && (!b_valid || in_ready);
    assign in_valid  = b_mode ? b_valid : u_valid;
    assign in_data   = b_mode ? b_q : u_data;

    // transmitter: a field of up to 8 bytes goes out low byte first
    localparam [3:0] T_IDLE = 4'd0, T_ERR = 4'd1, T_CLS = 4'd2, T_VAL = 4'd3, T_END = 4'd4,
                     T_BN = 4'd5, T_BC = 4'd6, T_BCLS = 4'd7, T_BVAL = 4'd8, T_BEND = 4'd9;
    reg [3:0]  t_st;
    reg [63:0] t_field;
    reg [3:0]  t_cnt;            // bytes of t_field still to send
    reg        t_z;              // t_cnt == 0, kept with it (timing: owed's update starts here)
    reg        t_oready;
    wire       t_go = t_ready && !t_start;
    assign out_ready = b_mode ? 1'b1 : t_oready;

    // sign-extended value and zero-extended class, as 64-bit fields
    reg [63:0] f_val, f_cls, f_bval, f_bcls;
    always @* begin
        f_val  = {64{out_data[OW-1]}};
        f_val[OW-1:0] = out_data;
        f_bval = {64{q_val[OW-1]}};
        f_bval[OW-1:0] = q_val;
        f_cls  = 64'd0;
        f_cls[CLW-1:0] = out_class;
        f_bcls = 64'd0;
        f_bcls[CLW-1:0] = q_cls;
    end

    // memories: one write and one registered read port each
    wire f_push = rx_valid && !r_disc && !r_err && !f_full;
    // a frame's last element goes to the core / a classify answer's last byte goes out
    wire owed_inc = (r_st == R_DATA) && p_have && (r_bi == ILAST) && (!u_valid || in_ready) && (r_elems == KLAST);
    wire owed_dec = t_go && !r_disc && t_z && (t_st == T_END);
    wire f_pop  = !f_empty && !p_have;
    always @(posedge clk) begin
        if (f_push) fifo[f_w[FAB-1:0]] <= rx_byte;
        if (f_pop) f_q <= fifo[f_r[FAB-1:0]];
        if (b_adv) b_q <= rom[b_addr];
        if (b_mode && out_valid) rvals[b_waddr] <= out_data;
        if (b_mode && out_valid && b_first) rcls[b_cimg] <= out_class;
        q_val <= rvals[q_raddr];
        q_cls <= rcls[q_img];
    end

    // the line check found an error (applied the next cycle)
    task verdict(input [7:0] code, input [7:0] detail, input timeout);
        begin
            l_fail   <= 1'b1;
            l_tmo    <= timeout;
            l_code   <= code;
            l_detail <= detail;
        end
    endtask

    // an error: drop everything, reset the core, and wait for a quiet line
    task fail(input [7:0] code, input [7:0] detail);
        begin
            e_code     <= code;
            e_detail   <= detail;
            r_st       <= R_DISCARD;
            r_disc     <= 1'b1;
            r_err      <= 1'b0;
            core_abort <= 1'b1;
            u_valid    <= 1'b0;
            b_mode     <= 1'b0;
            b_feed     <= 1'b0;
            b_valid    <= 1'b0;
            b_count    <= 1'b0;
            b_fin      <= 1'b0;
            t_st       <= T_IDLE;
            t_cnt      <= 4'd0;
            t_z        <= 1'b1;
            f_w        <= {(FAB+1){1'b0}};
            f_r        <= {(FAB+1){1'b0}};
            f_full     <= 1'b0;
            p_have     <= 1'b0;
            l_in       <= 1'b0;
            owed       <= 8'd0;
        end
    endtask

    always @(posedge clk) begin
        if (rst) begin
            r_st <= R_IDLE; r_disc <= 1'b0; r_err <= 1'b0; r_elems <= {KB{1'b0}}; r_bi <= 8'd0; r_acc <= {AW{1'b0}};
            u_valid <= 1'b0; u_data <= {IW{1'b0}}; quiet <= {TOB{1'b0}}; quiet_full <= 1'b0;
            l_fail <= 1'b0; l_tmo <= 1'b0; l_code <= 8'd0; l_detail <= 8'd0;
            e_code <= 8'd0; e_detail <= 8'd0; e_pend <= 1'b0; core_abort <= 1'b0;
            b_mode <= 1'b0; b_feed <= 1'b0; b_addr <= {BAB{1'b0}}; b_valid <= 1'b0;
            b_count <= 1'b0; b_lo <= 24'd0; b_hi <= 24'd0; b_wrap <= 1'b0; b_started <= 1'b0;
            b_done <= {BNB{1'b0}}; b_first <= 1'b1; b_fin <= 1'b0;
            b_waddr <= {RAB{1'b0}}; b_cimg <= {BNB{1'b0}};
            q_raddr <= {RAB{1'b0}}; q_img <= {BNB{1'b0}}; q_vi <= {NOB{1'b0}};
            t_st <= T_IDLE; t_field <= 64'd0; t_cnt <= 4'd0; t_z <= 1'b1; t_start <= 1'b0; t_byte <= 8'd0;
            t_oready <= 1'b0;
            f_w <= {(FAB+1){1'b0}}; f_r <= {(FAB+1){1'b0}}; f_full <= 1'b0; p_have <= 1'b0; l_in <= 1'b0;
            l_left <= {LB{1'b0}}; owed <= 8'd0;
        end else begin
            core_abort <= 1'b0;
            t_start    <= 1'b0;
            t_oready   <= 1'b0;
            if (u_valid && in_ready && !b_mode) u_valid <= 1'b0;
            if (f_push) f_w <= f_w + 1'b1;
            // full next: full and nothing read, or one short of full and a byte in, none out
            // (a push needs !f_full); no adder after f_push (timing)
            f_full <= f_full ? !f_pop : (f_near && f_push && !f_pop);
            if (owed_inc && !owed_dec) owed <= owed + 8'd1;
            else if (owed_dec && !owed_inc) owed <= owed - 8'd1;
            if (f_pop) begin
                f_r    <= f_r + 1'b1;
                p_have <= 1'b1;
            end
            if (rx_valid || rx_framing) begin
                quiet <= {TOB{1'b0}}; quiet_full <= 1'b0;
            end else if (!quiet_full) begin
                quiet <= quiet + 1'b1; quiet_full <= (quiet == TMAX - 1'b1);
            end

            // ---------------------------------------------------------- benchmark run
            if (b_adv) begin
                b_valid <= 1'b1;
                b_addr  <= b_addr + 1'b1;
                if (b_addr == BLAST) b_feed <= 1'b0;
                if (!b_started) begin b_count <= 1'b1; b_started <= 1'b1; end   // first element: start counting
            end else if (b_valid && in_ready) b_valid <= 1'b0;
            if (b_count) b_lo <= b_lo + 24'd1;
            b_wrap <= b_count && (&b_lo);
            if (b_wrap) b_hi <= b_hi + 24'd1;
            if (b_mode && out_valid) begin                 // out_ready is 1 in benchmark mode
                b_waddr <= b_waddr + 1'b1;
                b_first <= out_last;
                if (out_last) b_cimg <= b_cimg + 1'b1;
            end
            if (b_mode && done) begin
                b_done <= b_done + 1'b1;
                if (b_done == NLASTB) begin
                    b_count <= 1'b0;
                    b_mode  <= 1'b0;
                    b_fin   <= 1'b1;
                end
            end

            // ---------------------------------------------------------- transmit
            // (before receive: an error found below overrides what the transmitter does)
            if (t_go && !r_disc) begin
                if (!t_z) begin
                    t_start <= 1'b1;
                    t_byte  <= t_field[7:0];
                    t_field <= {8'd0, t_field[63:8]};
                    t_cnt   <= t_cnt - 4'd1;
                    t_z     <= (t_cnt == 4'd1);
                end else case (t_st)
                    T_IDLE: if (e_pend) begin
                        e_pend  <= 1'b0;
                        t_field <= {56'd0, H_ERR};
                        t_cnt   <= 4'd1; t_z <= 1'b0;
                        t_st    <= T_ERR;
                    end else if (owed != 8'd0 && out_valid && !b_mode) begin
                        t_field <= {56'd0, H_RESP};
                        t_cnt   <= 4'd1; t_z <= 1'b0;
                        t_st    <= T_CLS;
                    end else if (r_st == R_BENCH && b_fin) begin
                        t_field <= {56'd0, H_BRESP};
                        t_cnt   <= 4'd1; t_z <= 1'b0;
                        t_st    <= T_BN;
                        q_raddr <= {RAB{1'b0}};
                        q_img   <= {BNB{1'b0}};
                        q_vi    <= {NOB{1'b0}};
                    end
                    T_ERR: begin
                        t_field <= {48'd0, e_detail, e_code};
                        t_cnt   <= 4'd2; t_z <= 1'b0;
                        t_st    <= T_IDLE;
                    end
                    T_CLS: begin
                        t_field <= f_cls;
                        t_cnt   <= CLSB; t_z <= 1'b0;
                        t_st    <= T_VAL;
                    end
                    T_VAL: if (out_valid) begin
                        t_field  <= f_val;
                        t_cnt    <= OUTB; t_z <= 1'b0;
                        t_oready <= 1'b1;                  // value taken: the core shows the next
                        t_st     <= out_last ? T_END : T_VAL;
                    end
                    T_END: t_st <= T_IDLE;                 // the last byte is on its way (owed_dec)
                    T_BEND: begin
                        t_st  <= T_IDLE;
                        r_st  <= R_IDLE;
                        b_fin <= 1'b0;
                    end
                    T_BN: begin
                        t_field <= {48'd0, BCOUNT};
                        t_cnt   <= 4'd2; t_z <= 1'b0;
                        t_st    <= T_BC;
                    end
                    T_BC: begin
                        t_field <= {16'd0, b_cyc};
                        t_cnt   <= 4'd6; t_z <= 1'b0;
                        t_st    <= T_BCLS;
                    end
                    T_BCLS: begin
                        t_field <= f_bcls;
                        t_cnt   <= CLSB; t_z <= 1'b0;
                        t_st    <= T_BVAL;
                    end
                    T_BVAL: begin
                        t_field <= f_bval;
                        t_cnt   <= OUTB; t_z <= 1'b0;
                        q_raddr <= q_raddr + 1'b1;
                        if (q_vi == NLAST) begin
                            q_vi  <= {NOB{1'b0}};
                            q_img <= q_img + 1'b1;
                            t_st  <= (q_img == NLASTB) ? T_BEND : T_BCLS;
                        end else begin
                            q_vi <= q_vi + 1'b1;
                        end
                    end
                    default: t_st <= T_IDLE;
                endcase
            end
            // ---------------------------------------------------------- parser: frames from the FIFO
            case (r_st)
                R_IDLE: if (p_have) begin
                    p_have <= 1'b0;
                    if (f_q == H_BENCH) r_st <= R_BENCHW;
                    else begin                             // H_REQ (the line checked it)
                        r_st    <= R_DATA;
                        r_elems <= {KB{1'b0}};
                        r_bi    <= 8'd0;
                    end
                end
                R_DATA: if (p_have && (r_bi != ILAST || !u_valid || in_ready)) begin
                    p_have <= 1'b0;
                    if (r_bi == ILAST) begin
                        u_valid <= 1'b1;
                        u_data  <= (BYTE_TABLE != 0) ? dec[f_q] : el_wide[IW-1:0];
                        r_bi    <= 8'd0;
                        r_elems <= r_elems + 1'b1;
                        if (r_elems == KLAST) r_st <= R_IDLE;    // (owed_inc)
                    end else begin
                        r_acc <= element;
                        r_bi  <= r_bi + 1'b1;
                    end
                end
                R_BENCHW: if (owed == 8'd0 && t_st == T_IDLE && !u_valid) begin   // earlier answers sent
                    r_st <= R_BENCH;
                    b_mode <= 1'b1; b_feed <= 1'b1; b_addr <= {BAB{1'b0}}; b_valid <= 1'b0;
                    b_count <= 1'b0; b_lo <= 24'd0; b_hi <= 24'd0; b_wrap <= 1'b0; b_started <= 1'b0;
                    b_done <= {BNB{1'b0}}; b_first <= 1'b1;
                    b_fin <= 1'b0; b_waddr <= {RAB{1'b0}}; b_cimg <= {BNB{1'b0}};
                end
                R_BENCH: ;                                 // T_BEND returns to R_IDLE
                R_DISCARD: if (quiet_full) begin r_st <= R_ERR; r_disc <= 1'b0; r_err <= 1'b1; end
                R_ERR: if (t_st == T_IDLE && !e_pend) begin
                    e_pend <= 1'b1;
                    r_st   <= R_IDLE;
                    r_err  <= 1'b0;
                end
                default: r_st <= R_IDLE;
            endcase
            // ---------------------------------------------------------- line: check frames as they arrive
            // The verdict goes to l_fail; the next cycle applies it (last: an error overrides what
            // the parser and transmitter do). No check while a verdict waits.
            l_fail <= 1'b0;
            l_tmo  <= 1'b0;
            if (l_fail) begin
                fail(l_code, l_detail);
                if (l_tmo) begin
                    r_st <= R_ERR;                         // the line is already quiet
                    r_disc <= 1'b0; r_err <= 1'b1;
                end
            end else if (!r_disc && !r_err) begin
                if (rx_framing) verdict(E_FRAMING, 8'd0, 1'b0);
                else if (rx_valid) begin
                    if (f_full) verdict(E_OVERRUN, 8'd0, 1'b0);
                    else if (!l_in) begin
                        if (rx_byte == H_REQ) begin
                            l_in   <= 1'b1;
                            l_left <= PAY;
                        end else if (!(rx_byte == H_BENCH && BENCH_N > 0)) verdict(E_HEADER, rx_byte, 1'b0);
                    end else begin
                        l_left <= l_left - 1'b1;
                        if (l_left == {{(LB-1){1'b0}}, 1'b1}) l_in <= 1'b0;
                    end
                end else if (l_in && quiet_full) verdict(E_TIMEOUT, 8'd0, 1'b1);
            end

        end
    end
endmodule

`default_nettype wire
