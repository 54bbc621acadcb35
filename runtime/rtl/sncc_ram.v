// sncc_ram: a lane-wide simple dual-port RAM (sncc FPGA backends, family-independent).
//
// D words of L lanes x LW bits. One write port (whole words, or a write enable per lane), one read port
// whose data appear two cycles after the address (a registered read plus an output register,
// which FPGA block RAMs absorb: no combinational path leaves the memory). Contents start at
// zero, or at FILE ($readmemh) if given.
`default_nettype none

module sncc_ram #(
    parameter integer D = 16,
    parameter integer AB = 4,
    parameter integer L = 1,
    parameter integer LW = 1,
    parameter integer LANE_WE = 0,   // 1: a write enable per lane; 0: whole words (we[0])
    parameter FILE = ""
) (
    input  wire            clk,
    input  wire [L-1:0]    we,
    input  wire [AB-1:0]   waddr,
    input  wire [L*LW-1:0] wdata,
    input  wire [AB-1:0]   raddr,
    output reg  [L*LW-1:0] rdata
);
    reg [L*LW-1:0] mem [0:D-1];
    reg [L*LW-1:0] q;
    integer i;
    initial begin
        if (FILE != "") $readmemh(FILE, mem);
        else for (i = 0; i < D; i = i + 1) mem[i] = {(L*LW){1'b0}};
    end
    always @(posedge clk) begin
        if (LANE_WE != 0) begin
            for (i = 0; i < L; i = i + 1)
                if (we[i]) mem[waddr][i*LW +: LW] <= wdata[i*LW +: LW];
        end else if (we[0]) mem[waddr] <= wdata;
        q <= mem[raddr];
        rdata <= q;
    end
endmodule

`default_nettype wire
