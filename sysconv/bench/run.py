"""``sysconv bench``: cycles, PE utilisation, SCALE-Sim, simulation speed, regression time.

1. **Cycles.** Each layer of the workload, back to back on each array size, in Verilator
   (the lean speed testbench, every output word compared with the golden model): measured
   total and compute cycles beside :mod:`sysconv.golden.perf`'s prediction (and every output word's
   cycle), the ideal ``MACs / (rows x cols)``, PE utilisation.
2. **SCALE-Sim.** The same layers in SCALE-Sim (:mod:`sysconv.bench.scalesim`): its compute
   cycles beside ours, the ratio, and why where ours are not below.
3. **The seed CNN.** The demo's network (``models/digits_cnn.onnx``), a batch of
   :data:`~sysconv.demo.MAX_BATCH` test images as ``sysconv demo`` runs them, on each array
   size: :mod:`sysconv.golden.perf`'s cycles per image, pass by pass, against the array's
   limit (the network's MACs per image over the PEs); in the full benchmark also the RTL on
   the speed array (``sysconv demo`` on Verilator), every run of every pass against the
   prediction and the logits against the golden model.
4. **Simulation speed.** The speed array's run on Verilator, Icarus and Amaranth's simulator:
   simulated cycles per wall-clock second inside the testbench, and the ratios; in the full
   benchmark also Verilator on the regression's test build (C++ at -O0, not traced).
5. **Regression time** (full benchmark only): the regression's pytest command twice, with an
   empty build folder and then with what that run built.

Results go to ``OUT/results.json``, ``OUT/summary.md`` and ``OUT/*.png``, the simulations' own
folders to ``OUT/runs/``; the summary is also printed. Both record the versions of the tools
the figures were made with (``tools``: :func:`sysconv.tools.versions`, the packages pinned in
``constraints.txt``). The benchmark reports and never asserts on time; it fails (exit status
1) only when a simulation does not match the golden model or the cycle model.
"""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from sysconv.golden.perf import predict_network
from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import to_verilog
from sysconv.sim import runner
from sysconv.sim.engine.run import TOPLEVEL, accelerator_verilog, run_layers, run_speed_test

from .. import tools
from . import report, scalesim
from .workloads import FULL, QUICK

__all__ = ["run_bench", "GOAL_NETWORK_RATIO", "GOAL_VERILATOR_CPS", "GOAL_VERILATOR_OVER_ICARUS"]

# The seed CNN on the 8x8 array: cycles per image at most this times the array's limit
# (>= 90 % of the MAC-cycles busy, the whole network, a batch as the demo runs it).
GOAL_NETWORK_RATIO = 1.11
GOAL_VERILATOR_CPS = 100_000  # simulated cycles/s, 8x8 engine
GOAL_VERILATOR_OVER_ICARUS = 3
# Verilator's runs take a second or less, so another process can skew one: the fastest of a
# few is reported (every wall time is in results.json). Icarus and Amaranth run once.
VERILATOR_RUNS = 3


def _package_version(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    tools = {}
    for name, probe in (("verilator", "verilator"), ("icarus", "icarus")):
        try:
            from sysconv.sim import toolchain

            tools[name] = getattr(toolchain, probe)().version
        except Exception as error:  # noqa: BLE001 - a missing tool is reported, not fatal
            tools[name] = f"missing ({error})"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {
            name: _package_version(name) for name in ("amaranth", "cocotb", "scalesim", "numpy")
        },
        "simulators": tools,
    }


def _timing_check(measured, predicted):
    """Measured layers (from one run) against the model: ``(exact, differences)``."""
    start = measured[0]["first_param"]
    differences = []
    for n, (got, model) in enumerate(zip(measured, predicted, strict=True)):
        for name, value, want in (
            ("first input", got["first_input"] - start, model.first_input_cycle),
            ("compute cycles", got["compute_cycles"], model.compute_cycles),
            ("total cycles", got["total_cycles"], model.total_cycles),
        ):
            if value != want:
                differences.append(f"layer {n}: {name} {value}, predicted {want}")
        outputs = [cycle - start for cycle in got["output_cycles"]]
        if outputs != model.output_beat_cycles:
            wrong = next(
                (
                    k
                    for k, (a, b) in enumerate(zip(outputs, model.output_beat_cycles, strict=False))
                    if a != b
                ),
                min(len(outputs), len(model.output_beat_cycles)),
            )
            differences.append(f"layer {n}: output word {wrong} cycle differs from the model")
    return not differences, differences


class Bench:
    def __init__(self, workload, out, progress):
        self.workload, self.out = workload, Path(out)
        # The simulations' folders (logs, scenarios, SCALE-Sim's reports) go with the results,
        # so that benchmarks may run side by side.
        self.work = self.out / "runs"
        self.progress = progress
        self.failures = []

    def step(self, text):
        if self.progress is not None:
            self.progress.set_description(text)

    def done(self):
        if self.progress is not None:
            self.progress.update()

    # Part 1 and the Verilator side of part 4
    def _verilator(self, size, runs):
        verilog_start = time.perf_counter()
        text = to_verilog(Accelerator(runs[0].engine), TOPLEVEL)
        verilog_seconds = time.perf_counter() - verilog_start
        build_start = time.perf_counter()
        built = runner.build(text, TOPLEVEL, "verilator", speed=True)
        build_seconds = time.perf_counter() - build_start
        run_start = time.perf_counter()
        result = run_speed_test(built, runs, self.work / f"{size}x{size}-verilator")
        run_seconds = time.perf_counter() - run_start
        return (
            result,
            built,
            {
                "verilog_seconds": verilog_seconds,
                "build_seconds": build_seconds,
                "process_seconds": run_seconds,
            },
        )

    def _best_of(self, built, runs, folder, first=None):
        """Runs the speed test until there are :data:`VERILATOR_RUNS` results; returns the
        fastest passing one (a failing one if any failed) and every run's wall time."""
        results = [first] if first is not None else []
        while len(results) < VERILATOR_RUNS:
            results.append(run_speed_test(built, runs, folder))
        failed = [result for result in results if result.status != "pass"]
        best = (
            failed[0] if failed else min(results, key=lambda r: r.details["speed"]["wall_seconds"])
        )
        return best, [r.details["speed"] and r.details["speed"]["wall_seconds"] for r in results]

    def cycles(self):
        rows, speed_runs = [], {}
        for size in self.workload.arrays:
            self.step(f"cycles: {size}x{size} on Verilator")
            runs = self.workload.runs(size)
            result, built, times = self._verilator(size, runs)
            predicted = predict_network(size, size, [run.layer for run in runs])
            if result.status != "pass":
                self.failures.append(f"{size}x{size} Verilator: {result.message}")
                exact, differences = False, ["the simulation failed"]
            else:
                exact, differences = _timing_check(result.details["layers"], predicted)
                if not exact:
                    self.failures.append(f"{size}x{size} Verilator: " + "; ".join(differences))
            if size == self.workload.speed_array:
                speed_runs = {"runs": runs, "verilator": (result, built, times, exact)}
            packed = self.workload.packed(size)
            for n, ((name, _), run, model) in enumerate(
                zip(self.workload.layers, runs, predicted, strict=True)
            ):
                got = result.details["layers"][n] if n < len(result.details["layers"]) else None
                macs = run.layer.macs
                pes = size * size
                tiles = model.tile_cycles
                rows.append(
                    {
                        "array": f"{size}x{size}",
                        "rows": size,
                        "cols": size,
                        "layer": name,
                        "packed": packed[n],
                        "status": result.status,
                        "exact": exact and got is not None,
                        "measured_total": got and got["total_cycles"],
                        "measured_compute": got and got["compute_cycles"],
                        "predicted_total": model.total_cycles,
                        "predicted_compute": model.compute_cycles,
                        "ideal": model.ideal_cycles,
                        "macs": macs,
                        "utilization": macs / (pes * got["compute_cycles"]) if got else None,
                        "utilization_total": macs / (pes * got["total_cycles"]) if got else None,
                        "phases": {
                            "params": model.param_cycles,
                            "input": model.input_cycles,
                            "weight_load": model.weight_load_cycles,
                            "compute": model.compute_cycles,
                            "drain": model.drain_cycles,
                            "output": model.output_cycles,
                        },
                        "tiles": {
                            "count": model.sets,
                            "pixels": model.pixels,
                            "first": tiles[0],
                            "steady": tiles[1] if len(tiles) > 2 else tiles[0],
                            "last": tiles[-1],
                            "gap_cycles": model.set_gap_cycles,
                            "array_latency": model.array_latency,
                        },
                        "traffic": model.traffic,
                    }
                )
            self.done()
        return rows, speed_runs

    def scalesim(self, cycle_rows):
        self.step("SCALE-Sim")
        section = {
            "version": scalesim.scalesim_version(),
            "settings": scalesim.SETTINGS,
            "rows": [],
        }
        if not scalesim.available():
            section["skipped"] = "scalesim is not installed (pip install 'scalesim>=3,<4')"
            self.done()
            return section
        layers = self.workload.configs()  # as stated, tap-packed or not on our side
        arrays = [(size, size) for size in self.workload.arrays]
        try:
            reports = scalesim.run_scalesim(arrays, layers, self.work / "scalesim")
        except scalesim.ScaleSimError as error:
            section["skipped"] = str(error)
            self.failures.append(f"SCALE-Sim: {error}")
            self.done()
            return section
        for row in cycle_rows:
            n = [name for name, _ in self.workload.layers].index(row["layer"])
            theirs = reports[(row["rows"], row["cols"])][n]
            ours = row["measured_compute"]
            entry = {
                "array": row["array"],
                "layer": row["layer"],
                "packed": row["packed"],
                "scalesim_compute": theirs["compute_cycles"],
                "scalesim_with_prefetch": theirs["total_cycles_with_prefetch"],
                "scalesim_stalls": theirs["stall_cycles"],
                "scalesim_mapping_efficiency": theirs["mapping_efficiency"],
                "our_compute": ours,
                "our_total": row["measured_total"],
                "ratio": ours / theirs["compute_cycles"] if ours else None,
            }
            entry["below"] = ours is not None and ours < theirs["compute_cycles"]
            entry["why"] = report.why(
                layers[n],
                row["rows"],
                row["cols"],
                ours,
                theirs["compute_cycles"],
                packed=row["packed"],
            )
            section["rows"].append(entry)
        self.done()
        return section

    def network(self, *, rtl):
        """Part 3: the seed CNN, :data:`~sysconv.demo.MAX_BATCH` test images in one batch, on
        each array size, predicted; with ``rtl`` also simulated on the speed array."""
        from sysconv.demo import (
            MAX_BATCH,
            ONNX_MODEL,
            chained_batch_cycles,
            demo_passes,
            float_inputs,
            run_demo,
        )
        from sysconv.golden import digits
        from sysconv.model import run_model
        from sysconv.onnx import load

        imported = load(ONNX_MODEL)
        x = float_inputs(digits.load("test")[0][:MAX_BATCH])
        arrays = []
        for size in self.workload.arrays:
            self.step(f"seed CNN: {size}x{size}, golden.perf")
            _, summary = run_model(imported, x, simulator="golden", rows=size, cols=size)
            macs = sum(row["macs_per_image"] for row in summary["passes"])
            limit = macs / (size * size)
            cycles = summary["predicted_cycles_per_image"]
            # Network mode: the batch's packets back to back, only its first input and its
            # logits crossing the streams.
            engine, chained = demo_passes(size, size, batch=MAX_BATCH, network_mode=True)
            chained_cycles = chained_batch_cycles(engine, chained, MAX_BATCH) / MAX_BATCH
            arrays.append(
                {
                    "array": f"{size}x{size}",
                    "rows": size,
                    "macs_per_image": macs,
                    "limit": limit,
                    "predicted_cycles_per_image": cycles,
                    "ratio": cycles / limit,
                    "network_mode_cycles_per_image": chained_cycles,
                    "network_mode_ratio": chained_cycles / limit,
                    "passes": [
                        {
                            "pass": row["pass"],
                            "runs": row["runs"],
                            "cycles_per_image": row["predicted_cycles_per_image"],
                            "limit": row["macs_per_image"] / (size * size),
                            "compute_cycles": row["predicted_compute_cycles"],
                        }
                        for row in summary["passes"]
                    ],
                }
            )
            self.done()
        size = self.workload.speed_array
        section = {
            "model": ONNX_MODEL.name,
            "images": len(x),
            "batch": MAX_BATCH,
            "arrays": arrays,
            "rtl": {"skipped": "quick mode: the RTL runs in the full benchmark only"},
        }
        if rtl:
            self.step(f"seed CNN: {size}x{size} RTL on Verilator (minutes)")
            demo = run_demo(
                images=len(x),
                simulator="verilator",
                rows=size,
                cols=size,
                out=self.work / "seed-cnn",
                echo=lambda *_: None,
            )
            predicted = next(a for a in arrays if a["rows"] == size)
            section["rtl"] = measured = {
                "array": f"{size}x{size}",
                "status": demo["status"],
                "message": demo.get("message", ""),
            }
            if "layers" in demo:  # the simulation ran to its end
                measured.update(
                    cycles_per_image=demo["cycles_per_image"],
                    logits_bit_exact=demo["logits_bit_exact"],
                    runs_equal_prediction=all(
                        layer["run_cycles"] == layer["predicted_run_cycles"]
                        for layer in demo["layers"]
                    ),
                    wall_seconds=demo["wall_seconds"],
                )
                measured["exact"] = (
                    measured["logits_bit_exact"]
                    and measured["runs_equal_prediction"]
                    and demo["cycles_per_image"] == predicted["predicted_cycles_per_image"]
                )
            else:
                measured["exact"] = False
            if not measured["exact"]:
                self.failures.append(
                    f"seed CNN on {size}x{size}: the RTL differs from golden "
                    f"({measured['message'] or 'logits or cycles'})"
                )
            self.done()
            self.step(f"seed CNN: {size}x{size} RTL in network mode on Verilator (minutes)")
            chained = run_demo(
                images=len(x),
                simulator="verilator",
                rows=size,
                cols=size,
                network_mode=True,
                out=self.work / "seed-cnn-network",
                echo=lambda *_: None,
            )
            section["rtl_network_mode"] = network = {
                "array": f"{size}x{size}",
                "status": chained["status"],
                "message": chained.get("message", ""),
            }
            if "batches" in chained:
                network.update(
                    cycles_per_image=chained["cycles_per_image"],
                    logits_bit_exact=chained["logits_bit_exact"],
                    batches_equal_prediction=chained["cycles_equal_prediction"],
                    stream_bytes_per_image=chained["stream_bytes_per_image"],
                    wall_seconds=chained["wall_seconds"],
                )
            network["exact"] = chained["status"] == "pass"
            if not network["exact"]:
                self.failures.append(
                    f"seed CNN on {size}x{size} in network mode: the RTL differs from golden "
                    f"({network['message'] or 'logits or cycles'})"
                )
            self.done()
        goal = next((a for a in arrays if a["rows"] == 8), None)
        section["goal"] = {
            "goal": GOAL_NETWORK_RATIO,
            "value": goal and goal["ratio"],
            "met": bool(goal and goal["ratio"] <= GOAL_NETWORK_RATIO),
            "applies": goal is not None,
        }
        return section

    def speed(self, speed_runs, *, runner_build):
        size = self.workload.speed_array
        runs = speed_runs["runs"]
        predicted = predict_network(size, size, [run.layer for run in runs])
        entries = []

        def add(name, build, result, times, exact=None):
            if exact is None and result.status == "pass":
                exact, _ = _timing_check(result.details["layers"], predicted)
            ok = result.status == "pass" and exact
            if not ok:
                self.failures.append(f"speed, {name}: {result.message or 'cycles differ'}")
            speed = result.details["speed"] or {}
            entries.append(
                {
                    "simulator": name,
                    "build": build,
                    "status": result.status,
                    "exact": exact,
                    "cycles": speed.get("cycles"),
                    "wall_seconds": speed.get("wall_seconds"),
                    "cycles_per_second": speed["cycles"] / speed["wall_seconds"]
                    if speed.get("wall_seconds")
                    else None,
                    "words_checked": speed.get("words_checked"),
                    "runs": 1,
                    **times,
                }
            )

        self.step(f"speed: {size}x{size} on Verilator, best of {VERILATOR_RUNS}")
        first, built, times, exact = speed_runs["verilator"]
        result, walls = self._best_of(built, runs, self.work / f"{size}x{size}-verilator", first)
        add(
            "verilator",
            "speed build (top ports public)",
            result,
            {**times, "runs": VERILATOR_RUNS, "all_wall_seconds": walls},
            exact if result is first else None,
        )
        self.done()
        if runner_build:
            self.step(f"speed: {size}x{size} on Verilator, the test build (C++ -O0, not traced)")
            text = accelerator_verilog(runs[0].engine)
            start = time.perf_counter()
            built = runner.build(text, TOPLEVEL, "verilator")
            build_seconds = time.perf_counter() - start
            start = time.perf_counter()
            result = run_speed_test(built, runs, self.work / f"{size}x{size}-verilator-runner")
            process_seconds = time.perf_counter() - start
            result, walls = self._best_of(
                built, runs, self.work / f"{size}x{size}-verilator-runner", result
            )
            add(
                "verilator",
                "test build (-O0, not traced)",
                result,
                {
                    "build_seconds": build_seconds,
                    "process_seconds": process_seconds,
                    "runs": VERILATOR_RUNS,
                    "all_wall_seconds": walls,
                },
            )
            self.done()
        for simulator in ("icarus", "amaranth"):
            self.step(f"speed: {size}x{size} on {simulator}")
            if simulator == "icarus":
                text = accelerator_verilog(runs[0].engine)
                start = time.perf_counter()
                built = runner.build(text, TOPLEVEL, "icarus", speed=True)
                build_seconds = time.perf_counter() - start
                start = time.perf_counter()
                result = run_speed_test(built, runs, self.work / f"{size}x{size}-icarus")
                times = {"build_seconds": build_seconds}
            else:
                start = time.perf_counter()
                result = run_layers(
                    runs, "amaranth", self.work / f"{size}x{size}-amaranth", speed=True
                )
                times = {}
            times["process_seconds"] = time.perf_counter() - start
            add(
                simulator,
                "waves off" if simulator == "icarus" else "amaranth.sim (pysim)",
                result,
                times,
            )
            self.done()

        def cps(name, build_prefix=""):
            for entry in entries:
                if entry["simulator"] == name and entry["build"].startswith(build_prefix):
                    return entry["cycles_per_second"]
            return None

        verilator, icarus, amaranth = cps("verilator", "speed"), cps("icarus"), cps("amaranth")
        ratios = {}
        if verilator and icarus:
            ratios["verilator_over_icarus"] = verilator / icarus
        if verilator and amaranth:
            ratios["verilator_over_amaranth"] = verilator / amaranth
        if icarus and amaranth:
            ratios["icarus_over_amaranth"] = icarus / amaranth
        default = cps("verilator", "cocotb")
        if verilator and default:
            ratios["speed_build_over_default_build"] = verilator / default
        goals = {
            "verilator_cycles_per_second": {
                "goal": GOAL_VERILATOR_CPS,
                "value": verilator,
                "met": bool(verilator and verilator >= GOAL_VERILATOR_CPS),
                "applies": size == 8,
            },
            "verilator_over_icarus": {
                "goal": GOAL_VERILATOR_OVER_ICARUS,
                "value": ratios.get("verilator_over_icarus"),
                "met": ratios.get("verilator_over_icarus", 0) >= GOAL_VERILATOR_OVER_ICARUS,
                "applies": True,
            },
        }
        return {
            "array": f"{size}x{size}",
            "layers": [name for name, _ in self.workload.layers],
            "rows": entries,
            "ratios": ratios,
            "goals": goals,
        }

    def regression(self):
        """``make test``'s pytest twice, like for like: the same command (``-n auto``), first
        with an empty build folder (no simulator models, no formal results, as a clean clone
        has), then with what that run built (as the next run on the same checkout has)."""
        root = Path(__file__).resolve().parents[2]
        if not (root / "tests").is_dir() or not (root / "pyproject.toml").is_file():
            self.done()
            self.done()
            return {"skipped": f"no tests/ beside the installed package ({root})"}
        rows = []
        build = self.out / "regression-build"
        cache = build / "sim"
        shutil.rmtree(build, ignore_errors=True)
        env = {**os.environ, "SYSCONV_BUILD_DIR": str(build), "SYSCONV_MODEL_CACHE": str(cache)}
        for cache_state in ("clean", "warm"):
            self.step(f"regression: pytest -n auto, {cache_state} model cache (minutes)")
            log = self.out / f"regression-{cache_state}.log"
            command = [
                sys.executable,
                "-m",
                "pytest",
                "-n",
                "auto",
                "-m",
                "not long",
                "-q",
                "-p",
                "no:cacheprovider",
            ]
            start = time.perf_counter()
            with open(log, "w") as output:
                done = subprocess.run(
                    command, cwd=root, stdout=output, env=env, stderr=subprocess.STDOUT
                )
            seconds = time.perf_counter() - start
            lines = [line for line in log.read_text().splitlines() if line.strip()]
            outcome = next(
                (
                    line.strip("= ")
                    for line in reversed(lines)
                    if re.search(r"\d+ (passed|failed|error)", line)
                ),
                "no summary",
            )
            rows.append(
                {
                    "cache": cache_state,
                    "seconds": seconds,
                    "returncode": done.returncode,
                    "outcome": outcome,
                    "builds": sum(1 for _ in cache.glob("*/*/BUILT")),
                    "command": " ".join(["python"] + command[1:]),
                    "log": log.name,
                }
            )
            self.done()
        shutil.rmtree(build, ignore_errors=True)
        return {"rows": rows, "warm_over_clean": rows[1]["seconds"] / rows[0]["seconds"]}


def _load():
    """The 1-minute load average: wall-clock figures mean little on a busy machine."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_bench(*, quick=False, out="bench/results", progress=None, regression=None, speed=True):
    """Run the benchmark; returns the results dict (``results["status"]`` is ``"pass"`` when
    every simulation matched the golden model and the cycle model).

    ``progress`` (``None``: when stderr is a terminal) shows a progress bar; ``regression``
    (``None``: not in quick mode) times the regression (part 5); ``speed`` races the
    simulators (part 4)."""
    from tqdm import tqdm

    from sysconv.tools import source_commit

    workload = QUICK if quick else FULL
    regression = not quick if regression is None else regression
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = (
        len(workload.arrays)
        + 1
        + len(workload.arrays)
        + (0 if quick else 2)
        + ((3 + (0 if quick else 1)) if speed else 0)
        + (2 if regression else 0)
    )
    bar = tqdm(
        total=steps,
        unit="step",
        file=sys.stderr,
        disable=None if progress is None else not progress,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}]",
    )
    started = time.perf_counter()
    load_start = _load()
    bench = Bench(workload, out, bar)
    results = {
        "mode": workload.name,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": source_commit(),
        "machine": _machine(),
        "tools": tools.versions(),
        "workload": {
            "layers": [{"name": name, **spec} for name, spec in workload.layers],
            "arrays": [f"{n}x{n}" for n in workload.arrays],
            "speed_array": f"{workload.speed_array}x{workload.speed_array}",
        },
    }
    try:
        results["cycles"], speed_runs = bench.cycles()
        results["scalesim"] = bench.scalesim(results["cycles"])
        results["network"] = bench.network(rtl=not quick)
        results["speed"] = (
            bench.speed(speed_runs, runner_build=not quick)
            if speed
            else {"skipped": "not asked for"}
        )
        results["regression"] = (
            bench.regression()
            if regression
            else {"skipped": "quick mode" if quick else "not asked for"}
        )
    finally:
        bar.close()
    results["seconds"] = time.perf_counter() - started
    results["machine"]["load_average"] = {"start": load_start, "end": _load()}
    results["status"] = "fail" if bench.failures else "pass"
    results["failures"] = bench.failures
    results["plots"] = report.plots(results, out)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "summary.md").write_text(report.markdown(results))
    return results
