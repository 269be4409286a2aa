"""The stream protocol checker (sim/protocol.py), attached to every stream in every cocotb
test, reports each rule's violation, with the cycle, on a source built to break it."""

import re

import pytest

from sysconv.sim import runner

# A stream source whose misbehaviour is chosen by FAULT; otherwise it offers 3-beat packets
# properly (data counts up, last on every third beat).
SOURCE = """
module bad_source(input clk, input rst, input ready, output reg valid, output reg [7:0] data,
                  output reg last);
  reg [7:0] beat;
  always @(posedge clk) begin
    if (rst) begin valid <= 0; data <= 0; last <= 0; beat <= 0; end
    else begin
      if (!valid || ready) begin
        valid <= 1; data <= beat; last <= (beat % 3 == 2); beat <= beat + 1;
      end
      `FAULT
    end
  end
endmodule
"""

FAULTS = {
    "valid-drop": (
        "if (valid && !ready && beat == 2) valid <= 0;",
        r"valid fell before the handshake",
    ),
    "payload-change": (
        "if (valid && !ready && beat == 2) data <= 8'hee;",
        r"payload changed while valid and not ready",
    ),
    "x-payload": (
        "if (beat == 2 && (!valid || ready)) data <= 8'bx;",
        r"payload data is [xX]+ while valid",
    ),
    "last-early": (
        "if ((!valid || ready) && beat == 0) last <= 1;",
        r"last on beat 1 of a packet of 3",
    ),
    "last-missing": (
        "if ((!valid || ready) && beat == 2) last <= 0;",
        r"no last on beat 3, the packet's last",
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_checker_catches(fault, test_dir):
    statement, rule = FAULTS[fault]
    verilog = SOURCE.replace("`FAULT", statement)
    built = runner.build(verilog, "bad_source", "icarus")
    result, _ = runner.run_scenario(built, "sysconv.sim.protocol_tb", test_dir, "{}", waves=False)
    assert result["status"] == "fail", "the checker reported nothing"
    assert result["message"].startswith("cycle "), result["message"]
    assert "stream bad: " in result["message"]
    assert re.search(rule, result["message"]), result["message"]


def test_checker_passes_a_good_source(test_dir):
    built = runner.build(SOURCE.replace("`FAULT", ""), "bad_source", "icarus")
    result, _ = runner.run_scenario(built, "sysconv.sim.protocol_tb", test_dir, "{}", waves=False)
    assert result == {"status": "pass", "message": ""}
