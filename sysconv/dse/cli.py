"""``sysconv asic`` and ``sysconv sweep``: their options, checked before anything runs."""

import json
import re
import sys
from pathlib import Path

from sysconv.hw.layer import EngineConfig

__all__ = ["add_commands"]

_ENGINE_OPTIONS = (
    "max_height",
    "max_width",
    "max_in_channels",
    "max_out_channels",
    "max_kernel",
    "max_pool",
    "mult_width",
)
_ARRAY_OPTIONS = ("act_width", "weight_width")


def _usage(error):
    """A :class:`sysconv.cli.UsageError` whose message names the option, not the parameter
    (``rows must be ...`` becomes ``--rows must be ...``)."""
    from sysconv.cli import UsageError

    message = str(error)
    for name in sorted(_OPTIONS, key=len, reverse=True):
        if message.startswith(f"{name} "):
            message = _OPTIONS[name] + message[len(name) :]
            break
    return UsageError(message)


# Parameter names in error messages -> the options that set them.
_OPTIONS = {
    name: f"--{name.replace('_', '-')}"
    for name in (
        "rows",
        "cols",
        "targets",
        "boards",
        "workload",
        "liberty",
        "mult_widths",
        "acc_widths",
        "acc_width",
        "mult_width",
        "act_width",
        "weight_width",
        *_ENGINE_OPTIONS,
    )
}


def cmd_asic(args):
    from sysconv.tools import ToolError

    from . import asic

    parameters = {"rows": args.rows, "cols": args.cols}
    given = [name for name in _ENGINE_OPTIONS + _ARRAY_OPTIONS if getattr(args, name) is not None]
    wrong = [
        n for n in given if n not in (_ENGINE_OPTIONS if args.top == "engine" else _ARRAY_OPTIONS)
    ]
    if wrong:
        raise _usage(f"--{wrong[0].replace('_', '-')} is not an option of --top {args.top}")
    if args.check and args.top != "engine":
        raise _usage(
            f"--check runs a layer through the engine; it needs --top engine, not --top {args.top}"
        )
    parameters.update({name: getattr(args, name) for name in given})
    if args.acc_width is not None:
        parameters["acc_width"] = args.acc_width
    try:
        asic.design(args.top, parameters)
        liberty = asic.check_liberty(args.liberty)
        if args.output_dir and Path(args.output_dir).is_file():
            raise ValueError(f"--output-dir must be a folder, not the file {args.output_dir!r}")
    except ValueError as error:
        raise _usage(error) from None
    try:
        report = asic.synthesize(args.top, parameters, liberty=liberty, out=args.output_dir)
    except ToolError as error:
        print(f"sysconv: error: {error}", file=sys.stderr)
        return 1
    status = 0
    if args.check:
        try:
            result = asic.simulate_netlist(report, simulator=args.check, seed=args.seed)
        except ToolError as error:  # Yosys, deriving the Liberty cells' models
            print(f"sysconv: error: {error}", file=sys.stderr)
            return 1
        report["check"] = {
            "simulator": args.check,
            "seed": args.seed,
            "status": result.status,
            "message": result.message,
            "layer": asic.check_layer(EngineConfig(**report["parameters"])),
        }
        Path(report["netlist"]).with_name("report.json").write_text(
            json.dumps(report, indent=2) + "\n"
        )
        status = 0 if result.status == "pass" else 1
    if args.json:
        print(json.dumps(report))
    else:
        print(asic.text_report(report), end="")
        if args.check:
            check = report["check"]
            print(
                f"gate-level check on {args.check} (seed {args.seed}): "
                f"{check['status'].upper()}"
                f"{': every output word matches the golden model' if not status else ''}"
                f"{': ' + check['message'] if status else ''}"
            )
    return status


def _list(text, name, convert=int):
    items = [item.strip() for item in text.split(",")]
    try:
        return [convert(item) for item in items]
    except ValueError:
        raise _usage(
            f"--{name} must be a comma-separated list of "
            f"{'integers' if convert is int else 'values'}, not {text!r}"
        ) from None


def _acc_width(item):
    return None if item == "auto" else int(item)


def cmd_sweep(args):
    from . import sweep

    try:
        points = sweep.grid(
            rows=_list(args.rows, "rows"),
            cols=_list(args.cols, "cols") if args.cols else None,
            targets=_list(args.targets, "targets", str),
            workload=args.workload,
            mult_widths=_list(args.mult_widths, "mult-widths"),
            acc_widths=_list(args.acc_widths, "acc-widths", _acc_width),
            boards=_list(args.boards, "boards", str) if args.boards else None,
            liberty=args.liberty,
        )
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be at least 1, not {args.workers}")
        if args.workers is not None and args.scheduler:
            raise ValueError("--workers sizes the local cluster; it cannot go with --scheduler")
        if args.scheduler is not None and not re.fullmatch(
            r"(\w+://)?(\[[0-9a-fA-F:.]+\]|[^\s:/\[\]]+):\d+", args.scheduler
        ):
            raise ValueError(
                f"--scheduler must be a Dask scheduler's address, such as "
                f"tcp://HOST:8786, not {args.scheduler!r}"
            )
        if Path(args.out).is_file():
            raise ValueError(f"--out must be a folder, not the file {args.out!r}")
    except ValueError as error:
        if str(error).startswith("acc_width "):  # from an engine of the grid
            error = "acc_widths " + str(error)[len("acc_width ") :]
        raise _usage(error) from None
    try:
        results = sweep.run_sweep(
            points,
            out=args.out,
            scheduler=args.scheduler,
            workers=args.workers,
            progress=False if args.no_progress else None,
        )
    except OSError as error:  # no scheduler at --scheduler
        print(
            f"sysconv: error: cannot run the sweep on {args.scheduler or 'a local cluster'}:"
            f" {error}",
            file=sys.stderr,
        )
        return 1
    out = Path(args.out)
    if args.json:
        print(json.dumps(results))
    else:
        print((out / "results.md").read_text(), end="")
    counts = {}
    for row in results:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(
        f"sysconv: {len(results)} points ("
        + ", ".join(f"{n} {status}" for status, n in counts.items())
        + f", {sum(row['cached'] for row in results)} from the cache); wrote {out}/"
        "results.{json,csv,md}"
        + (
            " and Pareto plots"
            if any(
                (out / name).exists()
                for name in ("pareto_fpga.png", "pareto_asic.png", "pareto_asic_area.png")
            )
            else ""
        ),
        file=sys.stderr,
    )
    return 1 if "error" in counts else 0


def add_commands(commands):
    """Add ``asic`` and ``sweep`` to the ``sysconv`` subparsers ``commands``."""
    from .sweep import TARGETS, WORKLOADS

    p = commands.add_parser(
        "asic",
        help="gate-level netlist, gate/transistor counts or "
        "Liberty cell area of the engine or the array",
    )
    p.add_argument(
        "--top",
        choices=["engine", "array"],
        default="engine",
        help="engine: the AXI4-Stream engine (default); array: the bare array",
    )
    p.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    defaults = EngineConfig(8, 8)
    for name in _ENGINE_OPTIONS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help=f"engine parameter (default {getattr(defaults, name)})",
        )
    for name in _ARRAY_OPTIONS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help="array parameter (default 8)",
        )
    p.add_argument(
        "--acc-width",
        type=int,
        default=None,
        help="accumulator bits (default: the engine's least; 32 for the array)",
    )
    p.add_argument(
        "--liberty",
        help="map onto this Liberty file's standard cells and report "
        "their area (default: technology-independent gates)",
    )
    p.add_argument(
        "--check",
        choices=["icarus", "verilator"],
        help="then simulate a small random layer through the gate-level netlist "
        "and compare every output with the golden model (--top engine)",
    )
    p.add_argument("--seed", type=int, default=0, help="the --check layer's seed (default 0)")
    p.add_argument("-o", "--output-dir", help="folder (default build/asic/TOP-RxC[-LIB])")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_asic)

    s = commands.add_parser(
        "sweep",
        help="a grid of configurations through perf, FPGA and "
        "ASIC targets on Dask, with Pareto plots",
    )
    s.add_argument("--rows", default="2,4,8", help="array rows, comma-separated (default 2,4,8)")
    s.add_argument(
        "--cols",
        help="array columns, comma-separated (default: square arrays, as many columns as rows)",
    )
    s.add_argument(
        "--targets", default=",".join(TARGETS), help=f"among {', '.join(TARGETS)} (default all)"
    )
    s.add_argument(
        "--boards",
        help="FPGA boards, comma-separated (default: every board of each FPGA target's family)",
    )
    s.add_argument(
        "--workload",
        choices=list(WORKLOADS),
        default="seed",
        help="; ".join(f"{k}: {v[0]}" for k, v in WORKLOADS.items()) + " (default seed)",
    )
    s.add_argument(
        "--mult-widths", default="16", help="requantisation multiplier widths (default 16)"
    )
    s.add_argument(
        "--acc-widths",
        default="auto",
        help="accumulator widths, or auto: the least the workload needs (default)",
    )
    s.add_argument("--liberty", help="asic points: map onto this Liberty file")
    s.add_argument(
        "--scheduler",
        help="address of a running Dask scheduler (default: a local cluster on this machine)",
    )
    s.add_argument(
        "--workers", type=int, help="local cluster: worker processes (default: one per CPU)"
    )
    s.add_argument("--out", default="build/sweep", help="folder (default build/sweep)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.add_argument("--json", action="store_true", help="print the results as JSON")
    s.set_defaults(func=cmd_sweep)
