"""The same conv layers in SCALE-Sim (PyPI ``scalesim``), for comparison with the engine.

SCALE-Sim models a systolic array's compute with the operands already in its SRAMs; its
``COMPUTE_REPORT.csv`` gives, per layer, "Total Cycles" (compute, stalls included; what we
compare with the engine's compute cycles) and "Total Cycles (incl. prefetch)" (with the first
fill of the SRAMs from DRAM).

Settings (:data:`SETTINGS`), written to a ``.cfg`` file per array size: weight-stationary
dataflow (``Dataflow : ws``), ``ArrayHeight`` x ``ArrayWidth`` = the engine's rows x cols, and
the memory of SCALE-Sim's own example configuration (``configs/scale.cfg``): 64 kB each for
the ifmap, filter and ofmap SRAMs, DRAM bandwidth estimated (``InterfaceBandwidth: CALC``),
request buffers 512, no custom layouts, no sparsity. SCALE-Sim's topology has no padding, so
a layer's ifmap is given padded (``H + 2p`` x ``W + 2p``); ReLU and pooling are not modelled.

SCALE-Sim runs in a child process (:mod:`sysconv.bench._scalesim_worker`): it prints, calls
``exit()`` on bad input, and needs a NumPy >= 2.4 work-around (see the worker).
"""

import csv
import json
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["SETTINGS", "ScaleSimError", "available", "scalesim_version", "run_scalesim"]

SETTINGS = {
    "Dataflow": "ws",
    "IfmapSramSzkB": 64,
    "FilterSramSzkB": 64,
    "OfmapSramSzkB": 64,
    "IfmapOffset": 0,
    "FilterOffset": 10000000,
    "OfmapOffset": 20000000,
    "Bandwidth": 10,
    "MemoryBanks": 1,
    "ReadRequestBuffer": 512,
    "WriteRequestBuffer": 512,
    "InterfaceBandwidth": "CALC",
}

_CONFIG = """\
[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {IfmapSramSzkB}
FilterSramSzkB: {FilterSramSzkB}
OfmapSramSzkB: {OfmapSramSzkB}
IfmapOffset: {IfmapOffset}
FilterOffset: {FilterOffset}
OfmapOffset: {OfmapOffset}
Bandwidth: {Bandwidth}
Dataflow: {Dataflow}
MemoryBanks: {MemoryBanks}
ReadRequestBuffer: {ReadRequestBuffer}
WriteRequestBuffer: {WriteRequestBuffer}

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: {InterfaceBandwidth}
UseRamulatorTrace: False
"""

# The report columns read, as SCALE-Sim 3 names them.
_TOTAL = "Total Cycles (incl. prefetch)"
_COMPUTE = "Total Cycles"
_STALL = "Stall Cycles"
_MAPPING = "Mapping Efficiency %"
_UTIL = "Compute Util %"


class ScaleSimError(RuntimeError):
    """SCALE-Sim failed or wrote a report this module cannot read."""


def scalesim_version():
    try:
        return version("scalesim")
    except PackageNotFoundError:
        return None


def available():
    return scalesim_version() is not None


def _topology(layers):
    lines = [
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
        "Num Filter, Strides,"
    ]
    for n, layer in enumerate(layers):
        lines.append(
            f"layer{n}, {layer.height + 2 * layer.padding}, "
            f"{layer.width + 2 * layer.padding}, {layer.kernel}, {layer.kernel}, "
            f"{layer.in_channels}, {layer.out_channels}, {layer.stride},"
        )
    return "\n".join(lines) + "\n"


def _layout(layers):
    # Read by SCALE-Sim 3 whatever the configuration; with custom layouts off, never used.
    header = "Layer name, " + ", ".join(f"f{k}" for k in range(20)) + ","
    row = "1, 1, 1, 1, 1, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3"
    return "\n".join([header] + [f"layer{n}, {row}," for n in range(len(layers))]) + "\n"


def _read_report(path, count):
    with open(path, newline="") as file:
        rows = [[cell.strip() for cell in row] for row in csv.reader(file)]
    header = rows[0]
    missing = [name for name in (_TOTAL, _COMPUTE, _STALL, _MAPPING, _UTIL) if name not in header]
    if missing:
        raise ScaleSimError(
            f"{path}: no column {missing[0]!r} in the header {header}; this "
            "SCALE-Sim writes a report this parser does not know"
        )
    results = []
    for row in rows[1 : 1 + count]:
        cell = dict(zip(header, row, strict=False))
        results.append(
            {
                "compute_cycles": int(float(cell[_COMPUTE])),
                "total_cycles_with_prefetch": int(float(cell[_TOTAL])),
                "stall_cycles": int(float(cell[_STALL])),
                "mapping_efficiency": float(cell[_MAPPING]) / 100,
                "compute_utilization": float(cell[_UTIL]) / 100,
            }
        )
    if len(results) != count:
        raise ScaleSimError(f"{path}: {len(results)} layers reported, {count} expected")
    return results


def run_scalesim(arrays, layers, workdir):
    """Run ``layers`` (:class:`sysconv.hw.layer.LayerConfig`) on each ``(rows, cols)`` of
    ``arrays``.

    Returns ``{(rows, cols): [per layer: compute_cycles, total_cycles_with_prefetch,
    stall_cycles, mapping_efficiency, compute_utilization]}``. Raises :class:`ScaleSimError`.
    """
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "topology.csv").write_text(_topology(layers))
    (workdir / "layout.csv").write_text(_layout(layers))
    jobs = []
    for rows, cols in arrays:
        name = f"array{rows}x{cols}"
        config = workdir / f"{name}.cfg"
        config.write_text(_CONFIG.format(run_name=name, rows=rows, cols=cols, **SETTINGS))
        jobs.append(
            {
                "config": str(config),
                "topology": str(workdir / "topology.csv"),
                "layout": str(workdir / "layout.csv"),
                "out": str(workdir),
            }
        )
    (workdir / "jobs.json").write_text(json.dumps(jobs))
    log = workdir / "scalesim.log"
    with open(log, "w") as output:
        done = subprocess.run(
            [sys.executable, "-m", "sysconv.bench._scalesim_worker", str(workdir / "jobs.json")],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    if done.returncode:
        raise ScaleSimError(f"SCALE-Sim exited with status {done.returncode}; see {log}")
    return {
        (rows, cols): _read_report(
            workdir / f"array{rows}x{cols}" / "COMPUTE_REPORT.csv", len(layers)
        )
        for rows, cols in arrays
    }
