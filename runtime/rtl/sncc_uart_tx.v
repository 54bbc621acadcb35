// sncc_uart_tx: 8N1 UART transmitter (sncc Artix-7 backend).
`default_nettype none

module sncc_uart_tx #(
    parameter integer CLKS_PER_BIT = 868,
    parameter integer CB = 10
) (
    input  wire       clk,
    input  wire       rst,
    input  wire       start,    // send `data` (taken when `ready`)
    input  wire [7:0] data,
    output wire       ready,
    output wire       tx
);
    localparam integer FULLI = CLKS_PER_BIT - 1;
    localparam [CB-1:0] FULL = FULLI[CB-1:0];

    reg [9:0]    sh;        // stop, data[7:0], start (shifted out LSB first)
    reg [3:0]    left;      // bits still to send
    reg [CB-1:0] cnt;

    assign ready = (left == 4'd0);
    assign tx = sh[0];

    always @(posedge clk) begin
        if (rst) begin
            sh   <= 10'h3ff;
            left <= 4'd0;
            cnt  <= {CB{1'b0}};
        end else if (ready) begin
            if (start) begin
                sh   <= {1'b1, data, 1'b0};
                left <= 4'd10;
                cnt  <= {CB{1'b0}};
            end
        end else if (cnt == FULL) begin
            cnt  <= {CB{1'b0}};
            sh   <= {1'b1, sh[9:1]};
            left <= left - 1'b1;
        end else begin
            cnt <= cnt + 1'b1;
        end
    end
endmodule

`default_nettype wire
