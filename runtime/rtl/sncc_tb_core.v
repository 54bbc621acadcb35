// sncc_tb_core: self-checking testbench of sncc_core (sncc FPGA backends; a build's tb/tb_core.v
// instantiates it with the core's widths).
// Reads +vectors=FILE (input integers, hex, K per vector) and +expected=FILE (class and N
// output integers per vector, hex, from the fixed-point reference), streams every vector through
// the core, compares the outputs bit for bit and writes one line per vector to +out=FILE:
//     <vector> <cycles> <class> <output 0> ... <output N-1>        (decimal)
// Cycles count from the first cycle the core sees in_valid to the cycle it raises done.
// +n=COUNT limits the number of vectors, +stall=1 inserts random input and output stalls,
// +maxcycles=M stops with SNCC_SIM_ERROR when one vector takes more than M cycles.
`timescale 1ns/1ps
`default_nettype none

module sncc_tb_core #(
    parameter integer K = 1,       // input integers per inference
    parameter integer N = 1,       // output integers
    parameter integer IW = 8,      // input integer bits
    parameter integer OW = 8,      // output integer bits
    parameter integer NB = 1,      // bits of an output index
    parameter integer PH = 1       // bits of the core's phase register (dut.ph), for the profile
) ();
    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg rst = 1'b1;
    reg in_valid = 1'b0;
    reg [IW-1:0] in_data = {IW{1'b0}};
    wire in_ready, out_valid, out_last, done, busy;
    reg out_ready = 1'b0;
    wire [OW-1:0] out_data;
    wire [NB-1:0] out_index, out_class;

    sncc_core dut (
        .clk(clk), .rst(rst), .in_valid(in_valid), .in_ready(in_ready), .in_data(in_data),
        .out_valid(out_valid), .out_ready(out_ready), .out_data(out_data), .out_index(out_index),
        .out_last(out_last), .out_class(out_class), .done(done), .busy(busy)
    );

    integer fv, fe, fo, r, nv, vi, ei, i, mism, bad, stall, cyc, t0, cmin, cmax, nrec, maxc;
    // profile: cycles spent in each phase of the core's controller, over all vectors
    reg [63:0] phc [0:(1<<PH)-1];
    initial for (i = 0; i < (1 << PH); i = i + 1) phc[i] = 64'd0;
    always @(posedge clk) if (!rst) phc[dut.ph] <= phc[dut.ph] + 64'd1;
    reg [8*512-1:0] vfile, efile, ofile;
    reg [IW-1:0] vin [0:K-1];
    reg [OW-1:0] expv [0:N-1];
    reg [OW-1:0] got [0:N-1];
    reg [31:0] expc;
    reg [31:0] lfsr = 32'h1;
    reg [63:0] ctot;
    reg [2:0] st = 3'd0;

    initial begin
        if (!$value$plusargs("vectors=%s", vfile)) vfile = "tb/vectors.txt";
        if (!$value$plusargs("expected=%s", efile)) efile = "tb/expected.txt";
        if (!$value$plusargs("out=%s", ofile)) ofile = "sim_out.txt";
        if (!$value$plusargs("n=%d", nv)) nv = 32'h7fffffff;
        if (!$value$plusargs("stall=%d", stall)) stall = 0;
        if (!$value$plusargs("maxcycles=%d", maxc)) maxc = 0;
        fv = $fopen(vfile, "r");
        fe = $fopen(efile, "r");
        fo = $fopen(ofile, "w");
        if (fv == 0 || fe == 0 || fo == 0) begin
            $display("SNCC_SIM_ERROR cannot open the vector, expected or output file");
            $finish;
        end
        vi = 0; mism = 0; cyc = 0; ctot = 64'd0; cmin = 0; cmax = 0; nrec = 0;
    end

    always @(posedge clk) begin
        cyc <= cyc + 1;
        lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
        out_ready <= !(stall != 0 && lfsr[3]);
        if (out_valid && out_ready) got[out_index] <= out_data;
        if (st != 3'd0 && st != 3'd1 && st != 3'd5 && maxc > 0 && cyc - t0 > maxc) begin
            $display("SNCC_SIM_ERROR vector %0d: no result after %0d cycles (the core hangs)", vi, maxc);
            $finish;
        end
        case (st)
            3'd0: begin                                  // reset
                if (cyc == 8) begin rst <= 1'b0; st <= 3'd1; end
            end
            3'd1: begin                                  // next vector
                if (vi >= nv || $feof(fv)) st <= 3'd5;
                else begin
                    r = $fscanf(fv, "%h", vin[0]);
                    if (r != 1) st <= 3'd5;
                    else begin
                        for (i = 1; i < K; i = i + 1) r = $fscanf(fv, "%h", vin[i]);
                        r = $fscanf(fe, "%h", expc);
                        for (i = 0; i < N; i = i + 1) r = $fscanf(fe, "%h", expv[i]);
                        ei <= 0;
                        in_valid <= 1'b1;
                        in_data <= vin[0];
                        t0 <= cyc;
                        st <= 3'd2;
                    end
                end
            end
            3'd2: if (in_valid && in_ready) begin          // stream the input
                if (ei == K - 1) begin
                    in_valid <= 1'b0;
                    st <= 3'd4;
                end else if (stall != 0 && lfsr[5]) begin
                    in_valid <= 1'b0;
                    ei <= ei + 1;
                    st <= 3'd3;
                end else begin
                    ei <= ei + 1;
                    in_data <= vin[ei + 1];
                end
            end
            3'd3: begin                                  // input bubble
                in_valid <= 1'b1;
                in_data <= vin[ei];
                st <= 3'd2;
            end
            3'd4: if (done) begin                         // wait for the outputs
                bad = 0;
                for (i = 0; i < N; i = i + 1) if (got[i] !== expv[i]) bad = bad + 1;
                if ({{(32-NB){1'b0}}, out_class} !== expc) bad = bad + 1;
                if (bad != 0) begin
                    mism = mism + 1;
                    if (mism <= 10) begin
                        $display("SNCC_MISMATCH vector %0d: class %0d (expected %0d)", vi, out_class, expc);
                        for (i = 0; i < N; i = i + 1)
                            if (got[i] !== expv[i]) $display("  output %0d: %0d, expected %0d", i, $signed(got[i]), $signed(expv[i]));
                    end
                end
                $fwrite(fo, "%0d %0d %0d", vi, cyc - t0, out_class);
                for (i = 0; i < N; i = i + 1) $fwrite(fo, " %0d", $signed(got[i]));
                $fwrite(fo, "\n");
                ctot = ctot + (cyc - t0);
                if (nrec == 0 || cyc - t0 < cmin) cmin = cyc - t0;
                if (nrec == 0 || cyc - t0 > cmax) cmax = cyc - t0;
                nrec = nrec + 1;
                vi = vi + 1;
                st <= 3'd1;
            end
            3'd5: begin
                $fclose(fo);
                for (i = 0; i < (1 << PH); i = i + 1)
                    if (phc[i] != 64'd0) $display("SNCC_PHASE %0d %0d", i, phc[i]);
                $display("SNCC_SIM vectors=%0d mismatches=%0d cycles_total=%0d cycles_min=%0d cycles_max=%0d",
                         nrec, mism, ctot, cmin, cmax);
                $finish;
            end
            default: st <= 3'd5;
        endcase
    end
endmodule

`default_nettype wire
