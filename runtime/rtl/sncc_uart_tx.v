// sncc_uart_tx: 8N1 UART transmitter with a fractional bit timer (sncc FPGA board link,
// spec/uart.md). A bit lasts BIT_FX / 2^FR clock cycles on average (8 or 9 cycles for 8.33, the
// fraction carried from bit to bit), so the rate is exact to 2^-FR of a cycle per bit at any
// clock. The line is driven from a flip-flop (no glitches) and idles high from configuration on.
`default_nettype none

module sncc_uart_tx #(
    parameter integer BIT_FX = 868 * 256,   // clock cycles per bit, times 2^FR
    parameter integer FR = 8,
    parameter integer RW = 18               // bits of the bit timer (holds BIT_FX + 2^FR)
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       start,    // send `data` (taken when `ready`)
    input  wire [7:0] data,
    output wire       ready,
    output wire       tx
);
    localparam integer ONEI = 1 << FR;
    localparam [RW-1:0] ONE = ONEI[RW-1:0];
    localparam integer STEPI = BIT_FX - ONEI;
    localparam [RW-1:0] STEP = STEPI[RW-1:0];

    reg [9:0]    sh;            // stop, data[7:0], start (shifted out LSB first)
    initial sh = 10'h3ff;       // idle high from configuration on
    reg [3:0]    left;          // bits still to send
    reg [RW-1:0] rem;           // time to the end of the current bit, in 1/2^FR cycles
    reg          idle;          // left == 0, as a register: the front end's state logic starts here (timing)

    assign ready = idle;
    assign tx = sh[0];

    always @(posedge clk) begin
        if (rst) begin
            sh   <= 10'h3ff;
            left <= 4'd0;
            idle <= 1'b1;
            rem  <= {RW{1'b0}};
        end else if (idle) begin
            if (start) begin
                sh   <= {1'b1, data, 1'b0};
                left <= 4'd10;
                idle <= 1'b0;
                rem  <= STEP;
            end
        end else if (rem < ONE) begin
            rem  <= rem + STEP;
            sh   <= {1'b1, sh[9:1]};
            left <= left - 4'd1;
            idle <= (left == 4'd1);
        end else begin
            rem <= rem - ONE;
        end
    end
endmodule

`default_nettype wire
