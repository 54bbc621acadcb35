// sncc_uart_rx: 8N1 UART receiver with a fractional bit timer (sncc FPGA board link, spec/uart.md).
//
// A bit lasts BIT_FX / 2^FR clock cycles (fixed point: clock / baud with FR fraction bits), so any
// rate works at any clock without the error of an integer divider: 100 MHz / 12 Mbaud = 8.33
// cycles is timed as 8 or 9 cycles such that the sample points never drift more than one cycle
// from the ideal ones. The line passes a two-flip-flop synchroniser (ASYNC_REG: Vivado places
// both in one slice and does not time the first). A falling edge starts a character; each bit
// is sampled in its middle (the synchroniser's delay cancels: the start edge is seen through
// the same two flip-flops); a start bit that is high again at its middle was a glitch.
`default_nettype none

module sncc_uart_rx #(
    parameter integer BIT_FX = 868 * 256,   // clock cycles per bit, times 2^FR
    parameter integer FR = 8,               // fraction bits of BIT_FX
    parameter integer RW = 18               // bits of the bit timer (holds BIT_FX + 2^FR)
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg        valid,                // one-cycle pulse: `data` holds a received byte
    output reg  [7:0] data,
    output reg        framing               // one-cycle pulse: a character without its stop bit
);
    localparam integer ONEI = 1 << FR;
    localparam [RW-1:0] ONE = ONEI[RW-1:0];
    localparam integer STEPI = BIT_FX - ONEI;          // a bit, minus the cycle that ends it
    localparam integer HALFI = BIT_FX / 2 - ONEI;      // half a bit, from the cycle the edge is seen
    localparam [RW-1:0] STEP = STEPI[RW-1:0];
    localparam [RW-1:0] HALF = HALFI[RW-1:0];

    (* ASYNC_REG = "TRUE" *) reg rx1;
    (* ASYNC_REG = "TRUE" *) reg rx2;
    initial begin           // configuration values: an idle line
        rx1 = 1'b1;
        rx2 = 1'b1;
    end
    always @(posedge clk) begin    // no reset: a synchroniser only follows the line
        rx1 <= rx;
        rx2 <= rx1;
    end

    reg          active;           // inside a character
    reg [3:0]    bitn;             // 0 start, 1..8 data, 9 stop
    reg [RW-1:0] rem;              // time to the next sample point, in 1/2^FR cycles
    wire         tick = (rem < ONE);

    always @(posedge clk) begin
        if (rst) begin
            active  <= 1'b0;
            bitn    <= 4'd0;
            rem     <= {RW{1'b0}};
            valid   <= 1'b0;
            framing <= 1'b0;
            data    <= 8'd0;
        end else begin
            valid   <= 1'b0;
            framing <= 1'b0;
            if (!active) begin
                if (!rx2) begin
                    active <= 1'b1;
                    bitn   <= 4'd0;
                    rem    <= HALF;
                end
            end else if (tick) begin
                rem  <= rem + STEP;                 // keeps the fraction: no drift
                bitn <= bitn + 4'd1;
                if (bitn == 4'd0) begin
                    if (rx2) active <= 1'b0;        // a glitch, not a start bit
                end else if (bitn == 4'd9) begin
                    valid   <= rx2;                 // a character without a stop bit is dropped
                    framing <= !rx2;
                    active  <= 1'b0;
                end else begin
                    data <= {rx2, data[7:1]};       // LSB first
                end
            end else begin
                rem <= rem - ONE;
            end
        end
    end
endmodule

`default_nettype wire
