// sncc_rom: a read-only memory with a registered read and an output register (data two cycles
// after the address), initialized from a $readmemh image (sncc FPGA backends, family-independent).
//
// BLOCK = 1 asks for block RAM (the `rom_style = "block"` attribute, which Yosys and Vivado both
// honour); BLOCK = 0 leaves the mapping to the synthesis tool. The family backend sets it from the
// ROM's size with the same rule as its resource plan (Artix-7: backends/artix7/report.py,
// LUTRAM_MAX_BITS), so the Yosys estimate, the plan and Vivado map the ROM alike. Without the
// attribute Yosys builds a wide, shallow ROM (a tap-parallel engine's weights, 144 x 256 bits)
// from logic: thousands of LUTs and nine LUT levels from the address register to the data.
`default_nettype none

module sncc_rom #(
    parameter integer W = 8,        // data bits
    parameter integer D = 1,        // words
    parameter integer AB = 1,       // address bits
    parameter integer BLOCK = 0,
    parameter INIT = ""
) (
    input  wire          clk,
    input  wire [AB-1:0] addr,
    output reg  [W-1:0]  q
);
    reg [W-1:0] r;                  // the read register (a block RAM's own); q is its output register
    generate
        if (BLOCK != 0) begin : blk
            (* rom_style = "block" *) reg [W-1:0] rom [0:D-1];
            initial $readmemh(INIT, rom);
            always @(posedge clk) r <= rom[addr];
        end else begin : any
            reg [W-1:0] rom [0:D-1];
            initial $readmemh(INIT, rom);
            always @(posedge clk) r <= rom[addr];
        end
    endgenerate
    always @(posedge clk) q <= r;
endmodule

`default_nettype wire
