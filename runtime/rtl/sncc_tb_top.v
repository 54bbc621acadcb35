// sncc_tb_top: self-checking testbench of a board build's `top` through its UART (sncc FPGA
// backends; a build's tb/tb_top.v instantiates it with the build's widths and baud rate).
//
// The host side is a bit-accurate UART model timed in real time (BIT_NS per bit, independent of
// the FPGA clock, optionally off by +skew_ppm=P parts per million), so the FPGA's fractional bit
// timers are checked at the real rate. The run, in order (spec/uart.md):
//   1. a burst of two bad header bytes            -> one error frame EE 01 <first byte>
//   2. every vector of +requests= (the frames' payload bytes, hex, one vector per line), each
//      checked against +expected= (class and outputs, hex, as tb/expected.txt); +n= limits them
//   3. a frame that stops halfway                  -> EE 02 00 after the timeout
//   4. BENCH_N > 0: the benchmark command followed at once by more than FD bytes of frames: the
//      frames wait in the FIFO while the benchmark runs, it overflows -> EE 03 00 (after part of
//      the benchmark's answer, maybe)
//   5. a character without its stop bit            -> EE 04 00
//   6. the first vector again (the core recovers from the abort)
//   7. BENCH_N > 0: the benchmark command 0xB5, its answer checked against +bench= (hex, as
//      tb/expected.txt); prints SNCC_BENCH cycles=C images=N
// It ends with SNCC_UART_RESULT vectors=V errors=E.
`timescale 1ns/1ps
`default_nettype none

module sncc_tb_top #(
    parameter integer K = 1,            // input elements per frame
    parameter integer N = 1,            // outputs
    parameter integer OW = 8,           // output bits
    parameter integer IN_BYTES = 1,
    parameter integer OUT_BYTES = 1,
    parameter integer CLS_BYTES = 1,
    parameter integer NL = 4,           // LEDs
    parameter integer BTN_IDLE = 1,     // the reset button's level when not pressed
    parameter real    CLK_NS = 10.0,    // FPGA clock period
    parameter real    BIT_NS = 333.333, // host bit time (1e9 / baud)
    parameter integer TIMEOUT = 2000,   // the top's inter-byte timeout, shortened (clock cycles)
    parameter integer FD = 32,          // the frontend's receive FIFO (bytes)
    parameter integer BENCH_N = 0
) ();
    localparam integer PAY = K * IN_BYTES;
    localparam integer RESP = 1 + CLS_BYTES + N * OUT_BYTES;
    localparam integer RXMAX = 1 << 20;

    reg clk = 1'b0;
    always #(CLK_NS / 2.0) clk = ~clk;
    reg rx = 1'b1;
    wire tx;
    wire [NL-1:0] led;
    reg btn = BTN_IDLE[0];
    top #(.TIMEOUT(TIMEOUT)) dut (.clk(clk), .reset_btn(btn), .uart_rx(rx), .uart_tx(tx), .led(led));

    real hb;                                    // the host's bit time
    integer skew;

    // ------------------------------------------------------------------ host receiver
    reg [7:0] rxb [0:RXMAX-1];
    integer rxn = 0, rx_framing = 0;
    reg [7:0] rd;
    integer rj;
    initial begin
        #1;
        forever begin
            @(negedge tx);
            #(hb / 2.0);
            if (tx === 1'b0) begin
                for (rj = 0; rj < 8; rj = rj + 1) begin
                    #(hb);
                    rd[rj] = tx;
                end
                #(hb);
                if (tx === 1'b1) begin
                    rxb[rxn % RXMAX] = rd;
                    rxn = rxn + 1;
                end else rx_framing = rx_framing + 1;
            end
        end
    end

    // ------------------------------------------------------------------ host sender
    task send_char(input [7:0] d, input stop);
        integer j;
        begin
            rx = 1'b0;
            #(hb);
            for (j = 0; j < 8; j = j + 1) begin
                rx = d[j];
                #(hb);
            end
            rx = stop;
            #(hb);
            rx = 1'b1;
        end
    endtask

    task send_byte(input [7:0] d);
        send_char(d, 1'b1);
    endtask

    // wait until `want` bytes have arrived in all, or the line has been quiet for `quiet` bit times
    task wait_rx(input integer want, input integer quiet);
        integer last, q;
        begin
            last = rxn; q = 0;
            while (rxn < want && q < quiet) begin
                #(hb);
                if (rxn != last) begin last = rxn; q = 0; end else q = q + 1;
            end
        end
    endtask

    integer fr, fe, fb, r, nv, vi, i, k, errors, base, nerr_seen;
    reg [8*512-1:0] rfile, efile, bfile;
    reg [7:0] req [0:PAY-1];
    reg [7:0] req0 [0:PAY-1];
    reg [31:0] expc;
    reg [OW-1:0] expv;
    reg [63:0] v64;
    reg [47:0] bcyc;

    // the answer at rxb[at]: class and N outputs against the next line of file f
    task check_result(input integer f, input integer at, input integer tag);
        integer j, m, c;
        begin
            r = $fscanf(f, "%h", expc);
            c = 0;
            for (m = 0; m < CLS_BYTES; m = m + 1) c = c | (rxb[at + m] << (8 * m));
            if (c !== expc) begin
                errors = errors + 1;
                $display("SNCC_UART_ERROR vector %0d class %0d expected %0d", tag, c, expc);
            end
            for (j = 0; j < N; j = j + 1) begin
                r = $fscanf(f, "%h", expv);
                v64 = 64'd0;
                for (m = 0; m < OUT_BYTES; m = m + 1) v64[m*8 +: 8] = rxb[at + CLS_BYTES + j * OUT_BYTES + m];
                if (v64[OW-1:0] !== expv) begin
                    errors = errors + 1;
                    $display("SNCC_UART_ERROR vector %0d output %0d: %0d expected %0d", tag, j,
                             $signed(v64[OW-1:0]), $signed(expv));
                end
            end
        end
    endtask

    task expect_error(input [7:0] code, input [7:0] detail, input integer from);
        begin
            wait_rx(rxn + 1 + 64, 4 * TIMEOUT * CLK_NS / hb + 64);   // until quiet after the error frame
            if (rxn - from < 3 || rxb[rxn - 3] !== 8'hEE || rxb[rxn - 2] !== code || rxb[rxn - 1] !== detail) begin
                errors = errors + 1;
                $display("SNCC_UART_ERROR expected the error frame EE %h %h, got %0d bytes ending %h %h %h", code, detail,
                         rxn - from, rxb[rxn - 3], rxb[rxn - 2], rxb[rxn - 1]);
            end else $display("SNCC_UART error frame EE %h %h (%0d bytes before it)", code, detail, rxn - from - 3);
        end
    endtask

    task classify(input integer tag);
        begin
            base = rxn;
            send_byte(8'hA5);
            for (i = 0; i < PAY; i = i + 1) send_byte(req[i]);
            wait_rx(base + RESP, 4 * TIMEOUT * CLK_NS / hb + 1000);
            if (rxn - base != RESP || rxb[base] !== 8'h5A) begin
                errors = errors + 1;
                $display("SNCC_UART_ERROR vector %0d: %0d answer bytes, first %h", tag, rxn - base, rxb[base]);
                r = $fscanf(fe, "%h", expc);
                for (i = 0; i < N; i = i + 1) r = $fscanf(fe, "%h", expv);
            end else check_result(fe, base + 1, tag);
        end
    endtask

    initial begin
        if (!$value$plusargs("requests=%s", rfile)) rfile = "tb/uart_requests.txt";
        if (!$value$plusargs("expected=%s", efile)) efile = "tb/uart_expected.txt";
        if (!$value$plusargs("bench=%s", bfile)) bfile = "tb/bench_expected.txt";
        if (!$value$plusargs("n=%d", nv)) nv = 1;
        if (!$value$plusargs("skew_ppm=%d", skew)) skew = 0;
        hb = BIT_NS * (1.0 + skew / 1000000.0);
        fr = $fopen(rfile, "r");
        fe = $fopen(efile, "r");
        if (fr == 0 || fe == 0) begin
            $display("SNCC_UART_ERROR cannot open %0s or %0s", rfile, efile);
            $finish;
        end
        errors = 0;
        btn = ~BTN_IDLE[0];                                       // press
        repeat (20) @(posedge clk);
        btn = BTN_IDLE[0];                                        // release
        repeat (20) @(posedge clk);

        // 1. a burst of garbage: one error frame, with the first byte
        base = rxn;
        send_byte(8'h11);
        send_byte(8'h22);
        expect_error(8'h01, 8'h11, base);

        // 2. the vectors
        for (vi = 0; vi < nv; vi = vi + 1) begin
            for (i = 0; i < PAY; i = i + 1) begin
                r = $fscanf(fr, "%h", req[i]);
                if (vi == 0) req0[i] = req[i];
            end
            classify(vi);
            $display("SNCC_UART vector %0d class %0d led %b", vi, rxb[base + 1], led);
        end

        // 3. a frame that stops halfway: timeout
        base = rxn;
        send_byte(8'hA5);
        for (i = 0; i < PAY / 2; i = i + 1) send_byte(req0[i]);
        expect_error(8'h02, 8'h00, base);

        // 4. more than the FIFO holds while the benchmark keeps the core: overrun
        if (BENCH_N > 0) begin
            base = rxn;
            send_byte(8'hB5);
            for (k = 0; k <= FD / (PAY + 1) + 1; k = k + 1) begin
                send_byte(8'hA5);
                for (i = 0; i < PAY; i = i + 1) send_byte(req0[i]);
            end
            expect_error(8'h03, 8'h00, base);
        end

        // 5. a character without a stop bit
        base = rxn;
        send_char(8'h00, 1'b0);
        expect_error(8'h04, 8'h00, base);

        // 6. the core still works: the first vector again
        $fclose(fe);
        fe = $fopen(efile, "r");
        for (i = 0; i < PAY; i = i + 1) req[i] = req0[i];
        classify(0);

        // 7. the benchmark
        if (BENCH_N > 0) begin
            fb = $fopen(bfile, "r");
            base = rxn;
            send_byte(8'hB5);
            wait_rx(base + 9 + BENCH_N * (RESP - 1), 4 * TIMEOUT * CLK_NS / hb + 100000);
            if (fb == 0 || rxn - base != 9 + BENCH_N * (RESP - 1) || rxb[base] !== 8'h5B
                || {rxb[base + 2], rxb[base + 1]} != BENCH_N) begin
                errors = errors + 1;
                $display("SNCC_UART_ERROR benchmark: %0d answer bytes, first %h", rxn - base, rxb[base]);
            end else begin
                for (k = 0; k < 6; k = k + 1) bcyc[k*8 +: 8] = rxb[base + 3 + k];
                for (k = 0; k < BENCH_N; k = k + 1) check_result(fb, base + 9 + k * (RESP - 1), k);
                $display("SNCC_BENCH cycles=%0d images=%0d", bcyc, BENCH_N);
            end
        end
        if (rx_framing != 0) begin
            errors = errors + 1;
            $display("SNCC_UART_ERROR %0d characters from the FPGA without a stop bit", rx_framing);
        end
        $display("SNCC_UART_RESULT vectors=%0d errors=%0d", nv, errors);
        $finish;
    end
endmodule

`default_nettype wire
