// sncc_spike_scanner: a spike buffer and the event generator that reads it (sncc Artix-7 backend).
//
// The producer (a layer's neuron pass, or the rate encoder) writes one word of WB spike bits
// per cycle (word i holds the spikes of elements i*WB .. i*WB+WB-1). After `start` the
// scanner turns the set bits into events, lowest index first, one per accepted transfer:
// the consumer only ever sees the elements that spiked (spikes are binary and sparse).
// A word without spikes costs one cycle; the next word is fetched while the last spike of
// the current one is handed over, so consecutive events need no bubble.
`default_nettype none

module sncc_spike_scanner #(
    parameter integer NW = 4,     // words
    parameter integer WB = 8,     // spike bits per word
    parameter integer NWB = 2,    // bits of a word address
    parameter integer JB = 3,     // bits of a bit index within a word
    parameter integer KB = 5      // bits of an event index (element = word*WB + bit)
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           we,
    input  wire [NWB-1:0] waddr,
    input  wire [WB-1:0]  wdata,
    input  wire           start,
    output wire           busy,
    output wire           ev_valid,
    input  wire           ev_ready,
    output wire [KB-1:0]  ev_index
);
    localparam integer ND = 1 << NWB;
    localparam [NWB:0] NWL = NW[NWB:0];
    localparam [KB-1:0] WBK = WB[KB-1:0];

    reg [WB-1:0] sbuf [0:ND-1];
    always @(posedge clk) if (we) sbuf[waddr] <= wdata;

    reg           active;
    reg [NWB:0]   gi;       // next word to fetch
    reg [NWB-1:0] pbase;    // word of `pend`
    reg [WB-1:0]  pend;     // spikes of that word not yet handed over

    wire [WB-1:0] pend_next = pend & (pend - 1'b1);   // lowest set bit cleared
    wire          more = (gi != NWL);
    wire [WB-1:0] fetched = sbuf[gi[NWB-1:0]];
    wire          take = ev_valid && ev_ready;

    always @(posedge clk) begin
        if (rst) begin
            active <= 1'b0;
            gi     <= {(NWB+1){1'b0}};
            pbase  <= {NWB{1'b0}};
            pend   <= {WB{1'b0}};
        end else if (start) begin
            active <= 1'b1;
            gi     <= {(NWB+1){1'b0}};
            pend   <= {WB{1'b0}};
        end else if (active) begin
            if (take && (pend_next != {WB{1'b0}})) begin
                pend <= pend_next;
            end else if (take || (pend == {WB{1'b0}})) begin
                if (more) begin
                    pend  <= fetched;
                    pbase <= gi[NWB-1:0];
                    gi    <= gi + 1'b1;
                end else begin
                    pend   <= {WB{1'b0}};
                    active <= take;   // one more cycle to settle after the last event
                end
            end
        end
    end

    // index of the lowest set bit of `pend`
    reg [JB-1:0] lsb;
    integer i;
    always @* begin
        lsb = {JB{1'b0}};
        for (i = WB - 1; i >= 0; i = i - 1)
            if (pend[i]) lsb = i[JB-1:0];
    end

    reg [KB-1:0] base_ext, lsb_ext;
    always @* begin
        base_ext = {KB{1'b0}};
        base_ext[NWB-1:0] = pbase;
        lsb_ext = {KB{1'b0}};
        lsb_ext[JB-1:0] = lsb;
    end

    assign ev_valid = active && (pend != {WB{1'b0}});
    assign ev_index = base_ext * WBK + lsb_ext;
    assign busy = active;
endmodule

`default_nettype wire
