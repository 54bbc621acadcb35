// sncc_tb_link: a build's `top` as a simulated serial port (sncc FPGA backends; `sncc board
// --sim` and tests/test_board_link.py run it). The host side is the same bit-accurate UART model
// as sncc_tb_top (real-time bit periods at the build's baud rate). It reads commands from stdin,
// in decimal and hex words, and answers on stdout:
//     1 <n> <b0> .. <b(n-1)>   send n bytes (hex) on the line, back to back
//     2 <n> <q>                wait until n bytes (decimal) are waiting, or the line from the FPGA has
//                              been quiet for q bit times; answers "SNCC_LINK <m> <b0> .. <b(m-1)>"
//                              (hex) with every byte received since the last answer
//     0                        end
// Simulated time only advances inside commands, so the host's pauses cost nothing. +skew_ppm=P
// makes the host's bit time P parts per million longer (negative: shorter) than BIT_NS.
`timescale 1ns/1ps
`default_nettype none

module sncc_tb_link #(
    parameter integer K = 1,            // (the widths are not needed: the host does the framing)
    parameter integer N = 1,
    parameter integer OW = 8,
    parameter integer IN_BYTES = 1,
    parameter integer OUT_BYTES = 1,
    parameter integer CLS_BYTES = 1,
    parameter integer NL = 4,
    parameter integer BTN_IDLE = 1,
    parameter real    CLK_NS = 10.0,
    parameter real    BIT_NS = 333.333,
    parameter integer TIMEOUT = 2000,
    parameter integer FD = 32,
    parameter integer BENCH_N = 0
) ();
    localparam integer RXMAX = 1 << 20;
    reg clk = 1'b0;
    always #(CLK_NS / 2.0) clk = ~clk;
    reg rx = 1'b1;
    wire tx;
    wire [NL-1:0] led;
    reg btn = BTN_IDLE[0];
    top #(.TIMEOUT(TIMEOUT)) dut (.clk(clk), .reset_btn(btn), .uart_rx(rx), .uart_tx(tx), .led(led));
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = ^{led, K[0], N[0], OW[0], IN_BYTES[0], OUT_BYTES[0], CLS_BYTES[0], BENCH_N[0], FD[0]};
    /* verilator lint_on UNUSEDSIGNAL */

    real hb;                            // the host's bit time
    integer skew;
    initial begin
        if (!$value$plusargs("skew_ppm=%d", skew)) skew = 0;
        hb = BIT_NS * (1.0 + skew / 1000000.0);
    end

    reg [7:0] rxb [0:RXMAX-1];
    integer rxn = 0, shown = 0;
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
                end
            end
        end
    end

    task send_byte(input [7:0] d);
        integer j;
        begin
            rx = 1'b0;
            #(hb);
            for (j = 0; j < 8; j = j + 1) begin
                rx = d[j];
                #(hb);
            end
            rx = 1'b1;
            #(hb);
        end
    endtask

    integer fd, r, cmd, n, q, i, last, quiet;
    reg [7:0] b;
    initial begin
        fd = $fopen("/dev/stdin", "r");
        btn = ~BTN_IDLE[0];
        repeat (20) @(posedge clk);
        btn = BTN_IDLE[0];
        repeat (20) @(posedge clk);
        $display("SNCC_LINK ready");
        $fflush(32'h8000_0001);
        cmd = 1;
        while (cmd != 0) begin
            r = $fscanf(fd, "%d", cmd);
            if (r != 1) cmd = 0;
            if (cmd == 1) begin
                r = $fscanf(fd, "%d", n);
                for (i = 0; i < n; i = i + 1) begin
                    r = $fscanf(fd, "%h", b);
                    send_byte(b);
                end
            end else if (cmd == 2) begin
                r = $fscanf(fd, "%d %d", n, q);
                last = rxn; quiet = 0;
                while (rxn - shown < n && quiet < q) begin
                    #(hb);
                    if (rxn != last) begin last = rxn; quiet = 0; end else quiet = quiet + 1;
                end
                $write("SNCC_LINK %0d", rxn - shown);
                for (i = shown; i < rxn; i = i + 1) $write(" %h", rxb[i % RXMAX]);
                $write("\n");
                $fflush(32'h8000_0001);
                shown = rxn;
            end
        end
        $finish;
    end
endmodule

`default_nettype wire
