// sncc_uart_rx: 8N1 UART receiver (sncc Artix-7 backend). The line is synchronised with two
// flip-flops; each bit is sampled in its middle (CLKS_PER_BIT clock cycles per bit).
`default_nettype none

module sncc_uart_rx #(
    parameter integer CLKS_PER_BIT = 868,   // clock frequency / baud rate
    parameter integer CB = 10               // bits of the cycle counter (holds CLKS_PER_BIT-1)
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       rx,
    output reg        valid,                // one-cycle pulse: `data` holds a received byte
    output reg  [7:0] data
);
    localparam integer HALFI = CLKS_PER_BIT / 2 - 1;
    localparam integer FULLI = CLKS_PER_BIT - 1;
    localparam [CB-1:0] HALF = HALFI[CB-1:0];
    localparam [CB-1:0] FULL = FULLI[CB-1:0];
    localparam [1:0] S_IDLE = 2'd0, S_START = 2'd1, S_DATA = 2'd2, S_STOP = 2'd3;

    reg        rx1, rx2;
    reg [1:0]  st;
    reg [CB-1:0] cnt;
    reg [2:0]  bitn;

    always @(posedge clk) begin
        rx1 <= rx;
        rx2 <= rx1;
        if (rst) begin
            rx1   <= 1'b1;
            rx2   <= 1'b1;
            st    <= S_IDLE;
            cnt   <= {CB{1'b0}};
            bitn  <= 3'd0;
            valid <= 1'b0;
            data  <= 8'd0;
        end else begin
            valid <= 1'b0;
            case (st)
                S_IDLE: begin
                    cnt <= {CB{1'b0}};
                    if (!rx2) st <= S_START;
                end
                S_START: begin
                    if (cnt == HALF) begin
                        cnt  <= {CB{1'b0}};
                        bitn <= 3'd0;
                        st   <= rx2 ? S_IDLE : S_DATA;   // a glitch is not a start bit
                    end else cnt <= cnt + 1'b1;
                end
                S_DATA: begin
                    if (cnt == FULL) begin
                        cnt  <= {CB{1'b0}};
                        data <= {rx2, data[7:1]};         // LSB first
                        bitn <= bitn + 1'b1;
                        if (bitn == 3'd7) st <= S_STOP;
                    end else cnt <= cnt + 1'b1;
                end
                default: begin // S_STOP
                    if (cnt == FULL) begin
                        valid <= rx2;                     // drop frames without a stop bit
                        st    <= S_IDLE;
                    end else cnt <= cnt + 1'b1;
                end
            endcase
        end
    end
endmodule

`default_nettype wire
