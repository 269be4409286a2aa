"""Generated Verilog is clean under `verilator --lint-only -Wall` with the listed waivers."""

import pytest

from sysconv.sim.lint import CONFIGURATIONS, lint, lint_verilog


# The 16x16 engine's lint takes about a minute: in `make test-long` (and `make lint`).
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=pytest.mark.long) if name == "accel-large-16x16" else name
        for name in CONFIGURATIONS
    ],
)
def test_generated_verilog_is_lint_clean(name):
    ok, report = lint(name)
    assert ok, report


def test_lint_catches_a_real_problem():
    # An output nobody drives: not one of the waived rules, so lint must fail.
    ok, report = lint_verilog(
        "module broken(input clk, output [3:0] y);\nendmodule\n", "broken", "test-broken"
    )
    assert not ok
    assert "UNDRIVEN" in report
