// Behaviour of the ECP5 MULT18X18D in the modes augsnn uses (augsnn.hw.dsp, hw/dsp.py), for
// simulation: an 18 x 18 multiply with optional A/B input registers and an optional output
// register, all on CLK0 with CE0 and a synchronous RST0 (RESETMODE "SYNC"); no pipeline
// register, no C input, no cascade or shift (SOURCEA/SOURCEB must be 0). SIGNEDA/SIGNEDB
// make the operands two's complement, registered with them. Yosys ships only a black box
// of this cell (share/ecp5/cells_bb.v); the behaviour follows Lattice's sysDSP usage guide
// (TN1267) for these modes. A parameter value this model does not cover stops the
// simulation at time 0.
module MULT18X18D #(
    parameter REG_INPUTA_CLK = "NONE",
    parameter REG_INPUTA_CE = "CE0",
    parameter REG_INPUTA_RST = "RST0",
    parameter REG_INPUTB_CLK = "NONE",
    parameter REG_INPUTB_CE = "CE0",
    parameter REG_INPUTB_RST = "RST0",
    parameter REG_INPUTC_CLK = "NONE",
    parameter REG_INPUTC_CE = "CE0",
    parameter REG_INPUTC_RST = "RST0",
    parameter REG_PIPELINE_CLK = "NONE",
    parameter REG_PIPELINE_CE = "CE0",
    parameter REG_PIPELINE_RST = "RST0",
    parameter REG_OUTPUT_CLK = "NONE",
    parameter REG_OUTPUT_CE = "CE0",
    parameter REG_OUTPUT_RST = "RST0",
    parameter CLK0_DIV = "ENABLED",
    parameter CLK1_DIV = "ENABLED",
    parameter CLK2_DIV = "ENABLED",
    parameter CLK3_DIV = "ENABLED",
    parameter HIGHSPEED_CLK = "NONE",
    parameter GSR = "ENABLED",
    parameter CAS_MATCH_REG = "FALSE",
    parameter SOURCEB_MODE = "B_SHIFT",
    parameter MULT_BYPASS = "DISABLED",
    parameter RESETMODE = "SYNC"
) (
    input A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0,
    input B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0,
    input C17, C16, C15, C14, C13, C12, C11, C10, C9, C8, C7, C6, C5, C4, C3, C2, C1, C0,
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CE0, RST0,
    output P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0
);
    wire [17:0] a_in = {A17, A16, A15, A14, A13, A12, A11, A10, A9, A8, A7, A6, A5, A4, A3, A2, A1, A0};
    wire [17:0] b_in = {B17, B16, B15, B14, B13, B12, B11, B10, B9, B8, B7, B6, B5, B4, B3, B2, B1, B0};
    reg [17:0] a_q = 18'd0, b_q = 18'd0;
    reg sa_q = 1'b0, sb_q = 1'b0;
    reg [35:0] p_q = 36'd0;
    initial begin
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
                || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
                || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0")
                || REG_PIPELINE_CLK != "NONE" || RESETMODE != "SYNC"
                || MULT_BYPASS != "DISABLED")
            $fatal(1, "MULT18X18D model: a mode it does not cover");
    end
    always @(posedge CLK0) begin
        if (RST0) begin
            a_q <= 18'd0; b_q <= 18'd0; sa_q <= 1'b0; sb_q <= 1'b0;
        end else if (CE0) begin
            a_q <= a_in; b_q <= b_in; sa_q <= SIGNEDA; sb_q <= SIGNEDB;
        end
    end
    wire [17:0] a = REG_INPUTA_CLK == "NONE" ? a_in : a_q;
    wire [17:0] b = REG_INPUTB_CLK == "NONE" ? b_in : b_q;
    wire sa = REG_INPUTA_CLK == "NONE" ? SIGNEDA : sa_q;
    wire sb = REG_INPUTB_CLK == "NONE" ? SIGNEDB : sb_q;
    wire signed [18:0] a_ext = {sa & a[17], a};
    wire signed [18:0] b_ext = {sb & b[17], b};
    wire signed [37:0] product = a_ext * b_ext;
    always @(posedge CLK0) begin
        if (RST0) p_q <= 36'd0;
        else if (CE0) p_q <= product[35:0];
    end
    assign {P35, P34, P33, P32, P31, P30, P29, P28, P27, P26, P25, P24, P23, P22, P21, P20, P19, P18, P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2, P1, P0} = REG_OUTPUT_CLK == "NONE" ? product[35:0] : p_q;
endmodule
