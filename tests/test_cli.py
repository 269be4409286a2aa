"""The `sysconv` command: its outputs, exit codes and error messages."""

import json
import subprocess
import sys

import pytest


def sysconv(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "sysconv", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_verilog_writes_the_array(tmp_path):
    out = tmp_path / "array.v"
    run = sysconv("verilog", "--top", "array", "--rows", "3", "--cols", "2", "-o", str(out))
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "module sysconv_array(" in text
    for port in ("i__payload", "i__valid", "i__ready", "w__payload", "o__payload", "o__ready"):
        assert port in text


@pytest.mark.parametrize("args, message", [
    (["--rows", "0", "--cols", "2"], "rows must be an integer from 1 to 256, not 0"),
    (["--rows", "4", "--cols", "2", "--acc-width", "16"],
     "acc_width must be at least 18 to hold the sum of 4 products of signed 8-bit activations "
     "and signed 8-bit weights, not 16"),
])
def test_verilog_bad_parameter_exits_2_and_writes_nothing(tmp_path, args, message):
    out = tmp_path / "array.v"
    run = sysconv("verilog", "--top", "array", *args, "-o", str(out))
    assert run.returncode == 2
    assert run.stderr.strip().endswith(f"sysconv: error: {message}")
    assert "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("simulator", ["icarus", "verilator", "amaranth"])
def test_sim_array_json(simulator, test_dir):
    run = sysconv("sim", "array", "--rows", "3", "--cols", "2", "--vectors", "20", "--seed", "4",
                  "--simulator", simulator, "--json", "--workdir", str(test_dir))
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["status"] == "pass"
    assert summary["simulator"] == simulator
    assert summary["cycles"] > 20


def test_sim_array_prints_pass(test_dir):
    run = sysconv("sim", "array", "--rows", "2", "--cols", "2", "--vectors", "5",
                  "--simulator", "amaranth", "--workdir", str(test_dir))
    assert run.returncode == 0
    assert run.stdout.startswith("PASS: 2x2 array, 5 vectors, seed 0, amaranth")


def test_sim_array_bad_parameter_runs_nothing(test_dir):
    run = sysconv("sim", "array", "--rows", "2", "--cols", "2", "--vectors", "0",
                  "--workdir", str(test_dir / "run"))
    assert run.returncode == 2
    assert "sysconv: error: --vectors must be at least 1, not 0" in run.stderr
    assert not (test_dir / "run").exists()
