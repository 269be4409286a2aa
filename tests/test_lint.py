"""Generated Verilog is clean under `verilator --lint-only -Wall` with the listed waivers."""

import pytest

from sysconv.sim import lint as lint_module
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


def test_a_verdict_is_reused_for_the_same_text_only(tmp_path, monkeypatch):
    # Verilator runs once per text: the same text again takes the cached verdict, another
    # text (here the output driven) runs it again.
    monkeypatch.setenv("SYSCONV_MODEL_CACHE", str(tmp_path))
    broken = "module broken(input clk, output [3:0] y);\nendmodule\n"
    first = lint_verilog(broken, "broken", "test-cached")
    assert not first[0] and len(list((tmp_path / "lint").glob("*.json"))) == 1
    runs = []
    real_run = lint_module.subprocess.run
    monkeypatch.setattr(
        lint_module.subprocess, "run", lambda *a, **k: runs.append(a) or real_run(*a, **k)
    )
    assert lint_verilog(broken, "broken", "test-cached") == first and runs == []
    fixed = "module broken(input clk, output [3:0] y);\nassign y = 0;\nendmodule\n"
    assert lint_verilog(fixed, "broken", "test-cached") == (True, "")
    assert len(runs) == 1
