"""Behavioural Verilog for the ECP5 primitives the design instantiates, for simulating the
ECP5 flavour of a block (``platform`` passed to ``elaborate``) on Icarus or Verilator, and the
ECP5 board top's PLL on Icarus.

Yosys ships only a black box of ``MULT18X18D`` (``share/ecp5/cells_bb.v``), no simulation
model, so this is ours, written from Lattice's sysDSP user guide (FPGA-TN-02205): ``P = A * B``
over 18-bit operands, each signed when its ``SIGNEDx`` input is high, the 36-bit product
through the input, pipeline and output registers that are enabled. Only what the design uses is
modelled: registers clocked by ``CLK0``, enabled by ``CE0`` and reset (synchronously) by
``RST0``, or not there (``"NONE"``); anything else stops the simulation at time zero.
"""

__all__ = ["DP16KD", "MULT18X18D", "EHXPLLL", "LOCK_CYCLES", "models_for"]

LOCK_CYCLES = 16  # reference cycles the PLL model takes to lock

_A = ", ".join(f"A{k}" for k in range(18))
_B = ", ".join(f"B{k}" for k in range(18))
_C = ", ".join(f"C{k}" for k in range(18))
_P = ", ".join(f"P{k}" for k in range(36))

MULT18X18D = f"""
module MULT18X18D (
    input {_A},
    input {_B},
    input {_C},
    input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB,
    input CLK0, CLK1, CLK2, CLK3, CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3,
    output {_P}
);
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTA_CE = "CE0";
    parameter REG_INPUTA_RST = "RST0";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_INPUTB_CE = "CE0";
    parameter REG_INPUTB_RST = "RST0";
    parameter REG_INPUTC_CLK = "NONE";
    parameter REG_INPUTC_CE = "CE0";
    parameter REG_INPUTC_RST = "RST0";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_PIPELINE_CE = "CE0";
    parameter REG_PIPELINE_RST = "RST0";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter REG_OUTPUT_CE = "CE0";
    parameter REG_OUTPUT_RST = "RST0";
    parameter CLK0_DIV = "ENABLED";
    parameter CLK1_DIV = "ENABLED";
    parameter CLK2_DIV = "ENABLED";
    parameter CLK3_DIV = "ENABLED";
    parameter HIGHSPEED_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter CAS_MATCH_REG = "FALSE";
    parameter SOURCEB_MODE = "B_SHIFT";
    parameter MULT_BYPASS = "DISABLED";
    parameter RESETMODE = "SYNC";

    localparam IN_A = REG_INPUTA_CLK != "NONE";
    localparam IN_B = REG_INPUTB_CLK != "NONE";
    localparam PIPE = REG_PIPELINE_CLK != "NONE";
    localparam OUT = REG_OUTPUT_CLK != "NONE";

    initial begin
        if ((IN_A && (REG_INPUTA_CLK != "CLK0" || REG_INPUTA_CE != "CE0"
                      || REG_INPUTA_RST != "RST0"))
            || (IN_B && (REG_INPUTB_CLK != "CLK0" || REG_INPUTB_CE != "CE0"
                         || REG_INPUTB_RST != "RST0"))
            || (PIPE && (REG_PIPELINE_CLK != "CLK0" || REG_PIPELINE_CE != "CE0"
                         || REG_PIPELINE_RST != "RST0"))
            || (OUT && (REG_OUTPUT_CLK != "CLK0" || REG_OUTPUT_CE != "CE0"
                        || REG_OUTPUT_RST != "RST0"))
            || REG_INPUTC_CLK != "NONE" || RESETMODE != "SYNC" || MULT_BYPASS != "DISABLED"
            || SOURCEB_MODE != "B_SHIFT" || CAS_MATCH_REG != "FALSE"
            || HIGHSPEED_CLK != "NONE") begin
            $display("MULT18X18D model: configuration not modelled (%m)");
            $finish;
        end
    end

    wire [17:0] a = {{{", ".join(f"A{k}" for k in reversed(range(18)))}}};
    wire [17:0] b = {{{", ".join(f"B{k}" for k in reversed(range(18)))}}};
    // The block's registers hold 0 after configuration.
    reg [17:0] a_q = 0, b_q = 0;
    reg sa_q = 0, sb_q = 0;
    always @(posedge CLK0) begin
        if (RST0) begin
            a_q <= 0; b_q <= 0; sa_q <= 0; sb_q <= 0;
        end else if (CE0) begin
            a_q <= a; b_q <= b; sa_q <= SIGNEDA; sb_q <= SIGNEDB;
        end
    end
    wire [17:0] a_m = IN_A ? a_q : a;
    wire [17:0] b_m = IN_B ? b_q : b;
    wire sa = IN_A ? sa_q : SIGNEDA;
    wire sb = IN_B ? sb_q : SIGNEDB;
    wire signed [35:0] a_x = {{{{18{{sa & a_m[17]}}}}, a_m}};
    wire signed [35:0] b_x = {{{{18{{sb & b_m[17]}}}}, b_m}};
    wire [35:0] product = a_x * b_x;

    reg [35:0] pipe_q = 0, out_q = 0;
    wire [35:0] pipe_m = PIPE ? pipe_q : product;
    always @(posedge CLK0) begin
        if (RST0) begin
            pipe_q <= 0; out_q <= 0;
        end else if (CE0) begin
            pipe_q <= product; out_q <= pipe_m;
        end
    end
    wire [35:0] p = OUT ? out_q : pipe_m;
    assign {{{", ".join(f"P{k}" for k in reversed(range(36)))}}} = p;
endmodule
"""


# Yosys ships only a black box of DP16KD (share/lattice/cells_bb_ecp5.v, parameters only). From
# Lattice's ECP5 memory usage guide (FPGA-TN-02204): in each data width, 1, 2, 4, 9 or 18 bits,
# a port's word address is its address pins above the width's (ADx13 .. ADx4 at 18 bits,
# where ADA1 and ADA0 are byte write enables, .. ADx13 .. ADx0 at 1 bit) and its data the low
# data pins; a read with CEx high loads the port's output latch, and with REGMODE_x "OUTREG"
# the output register takes the latch with OCEx high (with "NOREG" the latch drives DOx). A
# read on one port of the address the other writes in the same cycle gives undefined data:
# here X, so that a design that used it would not match. Only what hw.ram uses is modelled:
# port A writing, port B reading, both widths the same, the chip selects, resets and port B's
# write enable low; anything else stops the simulation.
DP16KD = f"""
module DP16KD (
    input {", ".join(f"DIA{k}" for k in range(18))},
    input {", ".join(f"ADA{k}" for k in range(14))},
    input CEA, OCEA, CLKA, WEA, CSA0, CSA1, CSA2, RSTA,
    input {", ".join(f"DIB{k}" for k in range(18))},
    input {", ".join(f"ADB{k}" for k in range(14))},
    input CEB, OCEB, CLKB, WEB, CSB0, CSB1, CSB2, RSTB,
    output {", ".join(f"DOA{k}" for k in range(18))},
    output {", ".join(f"DOB{k}" for k in range(18))}
);
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter GSR = "ENABLED";

    localparam W = DATA_WIDTH_A;
    localparam SHIFT = W == 18 ? 4 : W == 9 ? 3 : W == 4 ? 2 : W == 2 ? 1 : 0;
    localparam OUT = REGMODE_B == "OUTREG";

    initial begin
        if (DATA_WIDTH_B != W || !(W == 1 || W == 2 || W == 4 || W == 9 || W == 18)
            || REGMODE_A != "NOREG" || !(OUT || REGMODE_B == "NOREG")
            || WRITEMODE_A != "NORMAL" || CSDECODE_A != "0b000" || CSDECODE_B != "0b000") begin
            $display("DP16KD model: configuration not modelled (%m)");
            $finish;
        end
    end

    wire [13:0] ada = {{{", ".join(f"ADA{k}" for k in reversed(range(14)))}}};
    wire [13:0] adb = {{{", ".join(f"ADB{k}" for k in reversed(range(14)))}}};
    wire [17:0] dia = {{{", ".join(f"DIA{k}" for k in reversed(range(18)))}}};
    wire [13 - SHIFT:0] wa = ada[13:SHIFT];
    wire [13 - SHIFT:0] ra = adb[13:SHIFT];

    reg [W - 1:0] mem [0:(1 << (14 - SHIFT)) - 1];
    integer i;
    initial for (i = 0; i < (1 << (14 - SHIFT)); i = i + 1) mem[i] = 0;
    // The output latch and register hold 0 after configuration.
    reg [W - 1:0] latch = 0, out_q = 0;
    always @(posedge CLKA) begin
        if ({{CSA2, CSA1, CSA0, RSTA}} !== 4'b0 || (W == 18 && WEA && {{ADA1, ADA0}} !== 2'b11))
        begin
            $display("DP16KD model: port A use not modelled (%m)");
            $finish;
        end
        if (CEA && WEA) mem[wa] <= dia[W - 1:0];
    end
    always @(posedge CLKB) begin
        if ({{CSB2, CSB1, CSB0, RSTB, WEB}} !== 5'b0) begin
            $display("DP16KD model: port B use not modelled (%m)");
            $finish;
        end
        if (CEB) latch <= CEA && WEA && wa == ra ? {{W{{1'bx}}}} : mem[ra];
        if (OCEB) out_q <= latch;
    end
    wire [17:0] dob = OUT ? out_q : latch;
    assign {{{", ".join(f"DOB{k}" for k in reversed(range(18)))}}} = dob;
    assign {{{", ".join(f"DOA{k}" for k in reversed(range(18)))}}} = 18'b0;
endmodule
"""

# Yosys ships only a black box of EHXPLLL too. From Lattice's ECP5 sysCLOCK PLL guide
# (FPGA-TN-02200): with CLKOP as the feedback, CLKOP runs at CLKI * CLKFB_DIV / CLKI_DIV. The
# model measures the reference's period between rising edges and, from its second edge,
# toggles CLKOP every half output period (delays: Icarus, or Verilator with --timing); LOCK
# rises after LOCK_CYCLES reference cycles. Phase, the other outputs, dynamic phase shift,
# standby and reset are not modelled: any configuration that needs them stops the simulation.
EHXPLLL = f"""
module EHXPLLL (
    input CLKI, CLKFB, PHASESEL1, PHASESEL0, PHASEDIR, PHASESTEP, PHASELOADREG, STDBY,
    input PLLWAKESYNC, RST, ENCLKOP, ENCLKOS, ENCLKOS2, ENCLKOS3,
    output CLKOP, CLKOS, CLKOS2, CLKOS3, LOCK, INTLOCK, REFCLK, CLKINTFB
);
    parameter CLKI_DIV = 1;
    parameter CLKFB_DIV = 1;
    parameter CLKOP_DIV = 8;
    parameter CLKOS_DIV = 8;
    parameter CLKOS2_DIV = 8;
    parameter CLKOS3_DIV = 8;
    parameter CLKOP_ENABLE = "ENABLED";
    parameter CLKOS_ENABLE = "DISABLED";
    parameter CLKOS2_ENABLE = "DISABLED";
    parameter CLKOS3_ENABLE = "DISABLED";
    parameter CLKOP_CPHASE = 0;
    parameter CLKOS_CPHASE = 0;
    parameter CLKOS2_CPHASE = 0;
    parameter CLKOS3_CPHASE = 0;
    parameter CLKOP_FPHASE = 0;
    parameter CLKOS_FPHASE = 0;
    parameter CLKOS2_FPHASE = 0;
    parameter CLKOS3_FPHASE = 0;
    parameter FEEDBK_PATH = "CLKOP";
    parameter CLKOP_TRIM_POL = "RISING";
    parameter CLKOP_TRIM_DELAY = 0;
    parameter CLKOS_TRIM_POL = "RISING";
    parameter CLKOS_TRIM_DELAY = 0;
    parameter OUTDIVIDER_MUXA = "DIVA";
    parameter OUTDIVIDER_MUXB = "DIVB";
    parameter OUTDIVIDER_MUXC = "DIVC";
    parameter OUTDIVIDER_MUXD = "DIVD";
    parameter PLL_LOCK_MODE = 0;
    parameter PLL_LOCK_DELAY = 200;
    parameter STDBY_ENABLE = "DISABLED";
    parameter REFIN_RESET = "DISABLED";
    parameter SYNC_ENABLE = "DISABLED";
    parameter INT_LOCK_STICKY = "ENABLED";
    parameter DPHASE_SOURCE = "DISABLED";
    parameter PLLRST_ENA = "DISABLED";
    parameter INTFB_WAKE = "DISABLED";
    parameter LOCK_CYCLES = {LOCK_CYCLES};

    initial begin
        if (FEEDBK_PATH != "CLKOP" || CLKOP_ENABLE != "ENABLED" || CLKOS_ENABLE != "DISABLED"
            || CLKOS2_ENABLE != "DISABLED" || CLKOS3_ENABLE != "DISABLED"
            || DPHASE_SOURCE != "DISABLED" || PLLRST_ENA != "DISABLED"
            || STDBY_ENABLE != "DISABLED" || OUTDIVIDER_MUXA != "DIVA") begin
            $display("EHXPLLL model: configuration not modelled (%m)");
            $finish;
        end
    end

    real last_edge, half_period;
    integer edges = 0;
    reg clk = 0, lock = 0;
    always @(posedge CLKI) begin
        if (edges > 0)
            half_period = ($realtime - last_edge) * CLKI_DIV / CLKFB_DIV / 2.0;
        last_edge = $realtime;
        edges = edges + 1;
        if (edges == LOCK_CYCLES) lock <= 1;
    end
    initial begin
        wait (edges >= 2);
        forever #(half_period) clk = ~clk;
    end
    assign CLKOP = clk;
    assign LOCK = lock;
    assign {{CLKOS, CLKOS2, CLKOS3, INTLOCK, REFCLK, CLKINTFB}} = {{3'b000, lock, CLKI, 1'b0}};
endmodule
"""


def models_for(verilog_text):
    """The models of the primitives ``verilog_text`` instantiates, to append to it."""
    return "".join(
        model
        for name, model in (
            ("MULT18X18D", MULT18X18D),
            ("DP16KD", DP16KD),
            ("EHXPLLL", EHXPLLL),
        )
        if name in verilog_text
    )
