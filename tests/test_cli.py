"""The `sysconv` command: its outputs, exit codes and error messages."""

import json
import os
import subprocess
import sys

import pytest


def sysconv(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "sysconv", *args], capture_output=True, text=True, cwd=cwd
    )


def test_a_yosys_that_fails_is_one_line(tmp_path):
    # YOSYS names the Yosys that Amaranth writes Verilog with, too (as the FPGA flow's).
    out = tmp_path / "array.v"
    run = subprocess.run(
        [sys.executable, "-m", "sysconv", "verilog", "--top", "array", "--rows", "2", "--cols", "2"]
        + ["-o", str(out)],
        capture_output=True,
        text=True,
        env={**os.environ, "YOSYS": "/bin/false"},
    )
    assert run.returncode == 1
    assert run.stderr == (
        "sysconv: error: Amaranth's Verilog output failed in Yosys (YOSYS=/bin/false): it "
        "exited non-zero with no message; unset YOSYS to use Amaranth's built-in Yosys\n"
    )
    assert not out.exists()


def test_verilog_writes_the_array(tmp_path):
    out = tmp_path / "array.v"
    run = sysconv("verilog", "--top", "array", "--rows", "3", "--cols", "2", "-o", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "module sysconv_array(" in text
    for port in ("i__payload", "i__valid", "i__ready", "w__payload", "o__payload", "o__ready"):
        assert port in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rows", "0", "--cols", "2"], "rows must be an integer from 1 to 256, not 0"),
        (
            ["--rows", "4", "--cols", "2", "--acc-width", "16"],
            "acc_width must be at least 18 to hold the sum of 4 products of signed "
            "8-bit activations "
            "and signed 8-bit weights, not 16",
        ),
    ],
)
def test_verilog_bad_parameter_exits_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "array.v"
    run = sysconv("verilog", "--top", "array", *args, "-o", str(out))
    assert run.returncode == 2
    assert run.stderr.strip().endswith(f"sysconv: error: {message}")
    assert "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("simulator", ["icarus", "verilator", "amaranth"])
def test_sim_array_json(simulator, test_dir):
    run = sysconv(
        "sim",
        "array",
        "--rows",
        "3",
        "--cols",
        "2",
        "--vectors",
        "20",
        "--seed",
        "4",
        "--simulator",
        simulator,
        "--json",
        "--workdir",
        str(test_dir),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "pass"
    assert summary["simulator"] == simulator
    assert summary["cycles"] > 20


def test_sim_array_prints_pass(test_dir):
    run = sysconv(
        "sim",
        "array",
        "--rows",
        "2",
        "--cols",
        "2",
        "--vectors",
        "5",
        "--simulator",
        "amaranth",
        "--workdir",
        str(test_dir),
    )
    assert run.returncode == 0
    assert run.stdout.startswith("PASS: 2x2 array, 5 vectors, seed 0, amaranth")


def test_sim_array_bad_parameter_runs_nothing(test_dir):
    run = sysconv(
        "sim",
        "array",
        "--rows",
        "2",
        "--cols",
        "2",
        "--vectors",
        "0",
        "--workdir",
        str(test_dir / "run"),
    )
    assert run.returncode == 2
    assert "sysconv: error: --vectors must be at least 1, not 0" in run.stderr
    assert not (test_dir / "run").exists()


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_sim_conv_json(simulator, test_dir):
    run = sysconv(
        "sim",
        "conv",
        "--height",
        "6",
        "--width",
        "5",
        "--in-channels",
        "3",
        "--out-channels",
        "5",
        "--kernel",
        "3",
        "--padding",
        "1",
        "--relu",
        "--pool",
        "2",
        # tests/helpers.py's SMALL engine, whose models the engine tests build
        "--rows",
        "3",
        "--cols",
        "2",
        "--max-height",
        "10",
        "--max-width",
        "10",
        "--max-in-channels",
        "5",
        "--max-out-channels",
        "5",
        "--max-kernel",
        "5",
        "--simulator",
        simulator,
        "--seed",
        "3",
        "--json",
        "--workdir",
        str(test_dir),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "pass"
    assert summary["cycles"] == summary["predicted_cycles"]
    assert summary["compute_cycles"] == summary["predicted_compute_cycles"]
    macs = 6 * 5 * 9 * 3 * 5
    assert summary["ideal_cycles"] == macs / 6
    assert summary["utilization"] == pytest.approx(macs / (6 * summary["compute_cycles"]))


def test_sim_conv_prints_pass_with_cycles(test_dir):
    run = sysconv(
        "sim",
        "conv",
        "--height",
        "4",
        "--width",
        "4",
        "--in-channels",
        "2",
        "--out-channels",
        "2",
        "--kernel",
        "1",
        "--rows",
        "2",
        "--cols",
        "2",
        "--simulator",
        "amaranth",
        "--workdir",
        str(test_dir),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("PASS: 4x4x2 -> 2, 1x1 stride 1 padding 0 on 2x2, amaranth")
    assert "PE utilisation" in run.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kernel", "3", "--stride", "4"], "stride must be an integer from 1 to 3, not 4"),
        (["--kernel", "3", "--pool", "5"], "pool_size must be an integer from 2 to 4, not 5"),
        (["--kernel", "9"], "kernel 9 is larger than the padded input 6x6"),
    ],
)
def test_sim_conv_bad_layer_runs_nothing(args, message, test_dir):
    run = sysconv(
        "sim",
        "conv",
        "--height",
        "6",
        "--width",
        "6",
        "--in-channels",
        "2",
        "--out-channels",
        "2",
        *args,
        "--workdir",
        str(test_dir / "run"),
    )
    assert run.returncode == 2
    assert run.stderr.strip().endswith(f"sysconv: error: {message}")
    assert not (test_dir / "run").exists()


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_sim_pool_json(simulator, test_dir):
    run = sysconv(
        "sim",
        "pool",
        # the four-lane unit of tests/test_maxpool.py (9 wide, 5 channels), which Verilator builds
        "--height",
        "9",
        "--width",
        "9",
        "--channels",
        "5",
        "--size",
        "3",
        "--stride",
        "2",
        "--lanes",
        "4",
        "--simulator",
        simulator,
        "--json",
        "--workdir",
        str(test_dir),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "pass"
    assert summary["output_shape"] == [5, 4, 4]


def test_sim_pool_bad_stride(test_dir):
    run = sysconv(
        "sim",
        "pool",
        "--height",
        "7",
        "--width",
        "9",
        "--channels",
        "1",
        "--size",
        "2",
        "--stride",
        "3",
        "--workdir",
        str(test_dir / "run"),
    )
    assert run.returncode == 2
    assert "sysconv: error: stride must be an integer from 1 to 2, not 3" in run.stderr
    assert not (test_dir / "run").exists()


def test_verilog_accel_writes_ports(tmp_path):
    out = tmp_path / "accel.v"
    run = sysconv(
        "verilog",
        "--top",
        "accel",
        "--rows",
        "2",
        "--cols",
        "2",
        "--max-height",
        "8",
        "--max-width",
        "8",
        "--max-in-channels",
        "4",
        "--max-out-channels",
        "4",
        "-o",
        str(out),
    )
    assert run.returncode == 0, run.stderr
    assert "module sysconv_accel(" in out.read_text()
    ports = json.loads(out.with_suffix(".ports.json").read_text())
    names = {port["name"]: port for port in ports["ports"]}
    assert names["s_axis_tdata"] == {"name": "s_axis_tdata", "direction": "in", "width": 16}
    assert names["m_axis_tready"]["direction"] == "in"
    assert names["s_axis_param_tdata"]["width"] == 32
