// sncc_uart_frontend: the UART protocol of spec/uart.md in front of an sncc core.
//
// Request  (host -> FPGA): 0xA5, then K input elements, each IN_BYTES bytes, little endian,
//                          two's complement (the core uses the low IW bits).
// Response (FPGA -> host): 0x5A, the class (CLS_BYTES bytes, little endian), then the N
//                          output values, each OUT_BYTES bytes, little endian, two's
//                          complement (sign-extended from OW bits).
// Bytes other than 0xA5 between requests are ignored. One request at a time: the host
// waits for the response before sending the next image.
`default_nettype none

module sncc_uart_frontend #(
    parameter integer CLKS_PER_BIT = 868,
    parameter integer CB = 10,
    parameter integer K = 16,           // input elements per request
    parameter integer KB1 = 5,          // bits of an element counter (holds K)
    parameter integer IW = 9,           // input element bits
    parameter integer IN_BYTES = 2,
    parameter integer OW = 16,          // output value bits
    parameter integer OUT_BYTES = 2,
    parameter integer CLW = 4,          // class bits
    parameter integer CLS_BYTES = 1
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           rx,
    output wire           tx,
    // to the core
    output reg            in_valid,
    input  wire           in_ready,
    output reg  [IW-1:0]  in_data,
    input  wire           out_valid,
    output reg            out_ready,
    input  wire [OW-1:0]  out_data,
    input  wire           out_last,
    input  wire [CLW-1:0] out_class
);
    localparam integer OBB = 8 * OUT_BYTES;
    localparam integer CBB = 8 * CLS_BYTES;
    localparam integer KI = K;
    localparam [KB1-1:0] KK = KI[KB1-1:0];

    // ------------------------------------------------------------------ receive
    wire       rx_valid;
    wire [7:0] rx_byte;
    sncc_uart_rx #(.CLKS_PER_BIT(CLKS_PER_BIT), .CB(CB)) urx (
        .clk(clk), .rst(rst), .rx(rx), .valid(rx_valid), .data(rx_byte));

    reg           r_data;      // inside a request
    reg [KB1-1:0] r_elems;     // elements received
    reg [7:0]     r_bi;        // byte of the current element
    reg [IW-1:0]  r_acc;       // element being assembled
    reg [IW-1:0]  r_merged;
    integer b;
    always @* begin
        r_merged = r_acc;
        for (b = 0; b < IW; b = b + 1)
            if ({24'd0, r_bi} == b / 8) r_merged[b] = rx_byte[b % 8];
    end
    localparam integer ILASTI = IN_BYTES - 1;
    wire r_last_byte = (r_bi == ILASTI[7:0]);

    always @(posedge clk) begin
        if (rst) begin
            r_data   <= 1'b0;
            r_elems  <= {KB1{1'b0}};
            r_bi     <= 8'd0;
            r_acc    <= {IW{1'b0}};
            in_valid <= 1'b0;
            in_data  <= {IW{1'b0}};
        end else begin
            if (in_valid && in_ready) in_valid <= 1'b0;
            if (rx_valid) begin
                if (!r_data) begin
                    if (rx_byte == 8'hA5) begin
                        r_data  <= 1'b1;
                        r_elems <= {KB1{1'b0}};
                        r_bi    <= 8'd0;
                        r_acc   <= {IW{1'b0}};
                    end
                end else if (r_last_byte) begin
                    in_valid <= 1'b1;
                    in_data  <= r_merged;
                    r_acc    <= {IW{1'b0}};
                    r_bi     <= 8'd0;
                    r_elems  <= r_elems + 1'b1;
                    if (r_elems + 1'b1 == KK) r_data <= 1'b0;
                end else begin
                    r_acc <= r_merged;
                    r_bi  <= r_bi + 1'b1;
                end
            end
        end
    end

    // ------------------------------------------------------------------ transmit
    reg        t_start;
    reg  [7:0] t_byte;
    wire       t_ready;
    sncc_uart_tx #(.CLKS_PER_BIT(CLKS_PER_BIT), .CB(CB)) utx (
        .clk(clk), .rst(rst), .start(t_start), .data(t_byte), .ready(t_ready), .tx(tx));

    localparam [1:0] T_IDLE = 2'd0, T_CLS = 2'd1, T_VAL = 2'd2, T_NEXT = 2'd3;
    reg [1:0] t_st;
    reg [7:0] t_bi;

    // sign-extended value and zero-extended class, as byte strings
    reg [OBB-1:0] val_x;
    reg [CBB-1:0] cls_x;
    always @* begin
        val_x = {OBB{out_data[OW-1]}};
        val_x[OW-1:0] = out_data;
        cls_x = {CBB{1'b0}};
        cls_x[CLW-1:0] = out_class;
    end
    reg [7:0] val_byte, cls_byte;
    integer c;
    always @* begin
        val_byte = 8'd0;
        for (c = 0; c < OUT_BYTES; c = c + 1)
            if (t_bi == c[7:0]) val_byte = val_x[c*8 +: 8];
        cls_byte = 8'd0;
        for (c = 0; c < CLS_BYTES; c = c + 1)
            if (t_bi == c[7:0]) cls_byte = cls_x[c*8 +: 8];
    end

    localparam integer OLASTI = OUT_BYTES - 1;
    localparam integer CLASTI = CLS_BYTES - 1;
    // a byte is handed to the transmitter when it is ready and no start is pending
    wire t_go = t_ready && !t_start;

    always @(posedge clk) begin
        if (rst) begin
            t_st      <= T_IDLE;
            t_bi      <= 8'd0;
            t_start   <= 1'b0;
            t_byte    <= 8'd0;
            out_ready <= 1'b0;
        end else begin
            t_start   <= 1'b0;
            out_ready <= 1'b0;
            case (t_st)
                T_IDLE: if (out_valid && t_go) begin
                    t_start <= 1'b1;
                    t_byte  <= 8'h5A;
                    t_bi    <= 8'd0;
                    t_st    <= T_CLS;
                end
                T_CLS: if (t_go) begin
                    t_start <= 1'b1;
                    t_byte  <= cls_byte;
                    if (t_bi == CLASTI[7:0]) begin
                        t_bi <= 8'd0;
                        t_st <= T_VAL;
                    end else t_bi <= t_bi + 1'b1;
                end
                T_VAL: if (t_go) begin
                    t_start <= 1'b1;
                    t_byte  <= val_byte;
                    if (t_bi == OLASTI[7:0]) begin
                        t_bi      <= 8'd0;
                        out_ready <= 1'b1;           // value sent: next one
                        t_st      <= out_last ? T_IDLE : T_NEXT;
                    end else t_bi <= t_bi + 1'b1;
                end
                default: t_st <= T_VAL;             // T_NEXT: the core presents the next value
            endcase
        end
    end
endmodule

`default_nettype wire
