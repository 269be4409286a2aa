"""The ``sysconv`` command line.

Every parameter is checked before anything is simulated or written: a bad one prints
``sysconv: error: ...`` naming it, and exits with status 2, without a traceback.
"""

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from amaranth._toolchain.yosys import YosysError
from amaranth.hdl import Shape
from amaranth.lib import wiring

from . import __version__
from .compiler import PACKING

__all__ = ["main"]


class UsageError(Exception):
    """A bad parameter; printed without a traceback."""


def _array_parameters(args):
    """The array's parameters from the options, checked."""
    from sysconv.hw import SystolicArray

    parameters = dict(
        rows=args.rows,
        cols=args.cols,
        act_width=args.act_width,
        weight_width=args.weight_width,
        acc_width=args.acc_width,
    )
    try:
        SystolicArray.check_parameters(**parameters)
    except ValueError as error:
        raise UsageError(str(error)) from None
    return parameters


def _add_array_options(parser):
    parser.add_argument("--rows", type=int, required=True, help="PE rows (vector length)")
    parser.add_argument("--cols", type=int, required=True, help="PE columns (result length)")
    parser.add_argument("--act-width", type=int, default=8, help="activation bits (default 8)")
    parser.add_argument("--weight-width", type=int, default=8, help="weight bits (default 8)")
    parser.add_argument("--acc-width", type=int, default=32, help="accumulator bits (default 32)")


# The engine limit that a layer option sets when its --max-* option is not given.
_LIMIT_OF = {
    "max_height": "height",
    "max_width": "width",
    "max_in_channels": "in_channels",
    "max_out_channels": "out_channels",
    "max_kernel": "kernel",
}


def _engine_config(args, layer=None):
    """The engine options, checked; with ``layer``, maxima default to what it needs."""
    from sysconv.hw.layer import EngineConfig

    needs = {}
    if layer is not None:
        needs = dict(
            max_height=max(layer.height, layer.out_height),
            max_width=max(layer.width, layer.out_width),
            max_in_channels=layer.in_channels,
            max_out_channels=layer.out_channels,
            max_kernel=layer.kernel,
        )
    options = {
        name: getattr(args, name)
        for name in (
            "max_height",
            "max_width",
            "max_in_channels",
            "max_out_channels",
            "max_kernel",
            "max_pool",
        )
        if getattr(args, name, None) is not None
    }
    try:
        return EngineConfig(args.rows, args.cols, **{**needs, **options})
    except ValueError as error:
        for limit in needs.keys() - options.keys():
            if str(error).startswith(f"{limit} "):
                option = _LIMIT_OF[limit]
                raise UsageError(
                    f"--{option.replace('_', '-')} {getattr(args, option)} is "
                    f"beyond any engine: {error}"
                ) from None
        raise UsageError(str(error)) from None


def _add_engine_options(parser):
    for name, default in (
        ("max-height", 24),
        ("max-width", 24),
        ("max-in-channels", 32),
        ("max-out-channels", 64),
        ("max-kernel", 3),
        ("max-pool", 4),
    ):
        parser.add_argument(
            f"--{name}",
            type=int,
            default=None,
            help=f"engine limit (default {default}"
            f"{', or what the layer needs' if name != 'max-pool' else ''})",
        )


def cmd_verilog(args):
    from sysconv.hw.verilog import to_verilog

    if args.top == "array":
        from sysconv.hw import SystolicArray

        component = SystolicArray(**_array_parameters(args))
        text = to_verilog(component, "sysconv_array")
        what = f"{args.rows}x{args.cols} array, latency {component.latency} cycles"
    else:
        from sysconv.hw.top import Accelerator

        config = _engine_config(args)
        component = Accelerator(config)
        text = to_verilog(component, "sysconv_accel")
        what = f"sysconv_accel, {args.rows}x{args.cols} array"
        ports = [
            {
                "name": name,
                "direction": "in" if member.flow == wiring.In else "out",
                "width": member.shape.width
                if hasattr(member.shape, "width")
                else Shape.cast(member.shape).width,
            }
            for name, member in component.signature.members.items()
        ]
        ports = [
            {"name": "clk", "direction": "in", "width": 1},
            {"name": "rst", "direction": "in", "width": 1},
        ] + ports
        _write_output(
            Path(args.output).with_suffix(".ports.json"),
            json.dumps(
                {"module": "sysconv_accel", "config": asdict(config), "ports": ports}, indent=2
            )
            + "\n",
        )
    _write_output(args.output, text)
    print(f"sysconv: wrote {args.output}: {what}", file=sys.stderr)
    return 0


def _write_output(path, text):
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"-o {path} is a directory; give a file name")
    if not path.parent.exists():
        raise UsageError(f"-o {path}: folder {path.parent} does not exist")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)  # all or nothing


def cmd_sim_array(args):
    from sysconv.sim.array.bench import ArrayScenario
    from sysconv.sim.array.run import run_array

    _array_parameters(args)  # checked before anything runs
    if args.vectors < 1:
        raise UsageError(f"--vectors must be at least 1, not {args.vectors}")
    try:
        scenario = ArrayScenario.random(
            args.rows,
            args.cols,
            vectors=args.vectors,
            seed=args.seed,
            sets=args.weight_sets,
            act_width=args.act_width,
            weight_width=args.weight_width,
            acc_width=args.acc_width,
            idle=args.idle,
            backpressure=args.backpressure,
        )
    except ValueError as error:
        raise UsageError(str(error).replace("sets ", "--weight-sets ", 1)) from None
    workdir = Path(
        args.workdir or f"build/runs/array-{args.rows}x{args.cols}-s{args.seed}-{args.simulator}"
    )
    result = run_array(scenario, args.simulator, workdir, waves=not args.no_waves)
    summary = {
        "status": result.status,
        "simulator": result.simulator,
        "cycles": result.cycles,
        "rows": scenario.rows,
        "cols": scenario.cols,
        "vectors": len(scenario.vectors),
        "seed": scenario.seed,
        "message": result.message,
        "waves": result.waves,
    }
    return _report(
        args,
        result,
        summary,
        lambda: (
            f"{args.rows}x{args.cols} array, {args.vectors} vectors, seed {args.seed}, "
            f"{args.simulator}: every cycle matches golden.systolic ({result.cycles} cycles)"
        ),
    )


def cmd_sim_conv(args):
    from sysconv.golden.perf import predict_layer
    from sysconv.hw.layer import LayerConfig
    from sysconv.sim.engine.layer import random_layer
    from sysconv.sim.engine.run import run_layers

    if args.pool_stride is not None and not args.pool:
        raise UsageError(
            f"--pool-stride must come with --pool (a pooling window), not alone "
            f"(--pool-stride {args.pool_stride})"
        )
    try:
        layer = LayerConfig(
            args.height,
            args.width,
            args.in_channels,
            args.out_channels,
            args.kernel,
            stride=args.stride,
            padding=args.padding,
            relu=args.relu,
            pool_size=args.pool or 0,
            pool_stride=args.pool_stride,
        )
        engine = _engine_config(args, layer)
        run = random_layer(
            engine,
            height=args.height,
            width=args.width,
            in_channels=args.in_channels,
            out_channels=args.out_channels,
            kernel=args.kernel,
            stride=args.stride,
            padding=args.padding,
            relu=args.relu,
            pool_size=args.pool or 0,
            pool_stride=args.pool_stride if args.pool else None,
            seed=args.seed,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    workdir = Path(
        args.workdir or f"build/runs/conv-{args.rows}x{args.cols}-s{args.seed}-{args.simulator}"
    )
    result = run_layers(
        [run],
        args.simulator,
        workdir,
        idle=args.idle,
        backpressure=args.backpressure,
        seed=args.seed,
        waves=not args.no_waves,
    )
    predicted = predict_layer(engine.rows, engine.cols, run.layer)
    summary = {
        "status": result.status,
        "simulator": args.simulator,
        "seed": args.seed,
        "rows": engine.rows,
        "cols": engine.cols,
        "layer": asdict(run.layer),
        "predicted_cycles": predicted.total_cycles,
        "predicted_compute_cycles": predicted.compute_cycles,
        "ideal_cycles": predicted.ideal_cycles,
        "message": result.message,
        "waves": result.waves,
    }
    if result.details["layers"]:
        measured = result.details["layers"][0]
        summary.update(
            cycles=measured["total_cycles"],
            compute_cycles=measured["compute_cycles"],
            utilization=run.layer.macs / (engine.rows * engine.cols * measured["compute_cycles"]),
        )
    else:
        summary.update(cycles=None, compute_cycles=None, utilization=None)
    return _report(
        args,
        result,
        summary,
        lambda: (
            f"{args.height}x{args.width}x{args.in_channels} -> {args.out_channels}, "
            f"{args.kernel}x{args.kernel} stride {args.stride} padding {args.padding}"
            f"{' relu' if args.relu else ''}"
            f"{f' pool {args.pool}/{run.layer.pool_stride}' if args.pool else ''} on "
            f"{engine.rows}x{engine.cols}, {args.simulator}: every output matches the golden "
            f"model\n  cycles {summary['cycles']} (predicted {predicted.total_cycles}), "
            f"compute {summary['compute_cycles']} (predicted {predicted.compute_cycles}), "
            f"ideal {predicted.ideal_cycles:.0f}, PE utilisation {summary['utilization']:.1%}"
        ),
    )


def cmd_sim_pool(args):
    from sysconv.hw._check import check_int
    from sysconv.hw.maxpool import HEIGHT_WIDTH, MaxPool2d
    from sysconv.sim.pool.bench import PoolScenario
    from sysconv.sim.pool.run import run_pool

    try:
        check_int("height", args.height, 1, (1 << HEIGHT_WIDTH) - 1)  # the unit's height port
        # The unit is generated for this width and these channels (their upper limits are
        # max_width's and max_channels').
        check_int("width", args.width, 1)
        check_int("channels", args.channels, 1)
        MaxPool2d.check_parameters(
            lanes=args.lanes, max_width=args.width, max_channels=args.channels, max_size=4
        )
        check_int("size", args.size, 2, 4)
        check_int("stride", args.size if args.stride is None else args.stride, 1, args.size)
        scenario = PoolScenario.random(
            height=args.height,
            width=args.width,
            channels=args.channels,
            size=args.size,
            stride=args.stride,
            lanes=args.lanes,
            idle=args.idle,
            backpressure=args.backpressure,
            seed=args.seed,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    workdir = Path(args.workdir or f"build/runs/pool-s{args.seed}-{args.simulator}")
    result = run_pool(scenario, args.simulator, workdir, waves=not args.no_waves)
    out_h = (args.height - args.size) // scenario.stride + 1
    out_w = (args.width - args.size) // scenario.stride + 1
    summary = {
        "status": result.status,
        "simulator": args.simulator,
        "seed": args.seed,
        "cycles": result.cycles,
        "input_words": args.height * args.width * -(-args.channels // args.lanes),
        "output_shape": [args.channels, out_h, out_w],
        "message": result.message,
        "waves": result.waves,
    }
    return _report(
        args,
        result,
        summary,
        lambda: (
            f"max pool {args.size}x{args.size} stride {scenario.stride} over "
            f"{args.channels}x{args.height}x{args.width}, {args.lanes} lanes, {args.simulator}: "
            f"every output matches golden.maxpool2d"
            f"{'' if args.idle or args.backpressure else ' and golden.pool_timing'} "
            f"({result.cycles} cycles)"
        ),
    )


def cmd_demo(args):
    from sysconv.golden import digits
    from sysconv.hw.layer import EngineConfig

    from .demo import run_demo

    available = len(digits.load("test")[1])
    if not 1 <= args.images <= available:
        raise UsageError(
            f"--images must be from 1 to {available} (the test images), not {args.images}"
        )
    if args.batch is not None and not 1 <= args.batch <= args.images:
        raise UsageError(f"--batch must be from 1 to --images ({args.images}), not {args.batch}")
    try:
        EngineConfig(args.rows, args.cols, network_depth=1 if args.network_mode else 0)
    except ValueError as error:
        raise UsageError(str(error)) from None
    summary = run_demo(
        images=args.images,
        simulator=args.simulator,
        rows=args.rows,
        cols=args.cols,
        batch=args.batch,
        network_mode=args.network_mode,
        out=args.out,
    )
    return 0 if summary["status"] == "pass" else 1


def _output_path(option, path):
    """``-o`` checked before anything runs: not a folder, in a folder that exists."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a directory; give a file name")
    if not path.parent.exists():
        raise UsageError(f"{option} {path}: folder {path.parent} does not exist")
    return path


def _open_model(path, mult_width):
    try:
        from .model import open_model

        return open_model(path, mult_width=mult_width)
    except ValueError as error:  # ModelError, or a bad --mult-width
        raise UsageError(str(error)) from None


def cmd_run(args):
    import numpy as np

    from sysconv.hw.layer import EngineConfig

    from .model import run_model

    out = _output_path("-o", args.output) if args.output else None
    try:
        EngineConfig(args.rows, args.cols)
    except ValueError as error:
        raise UsageError(str(error)) from None
    imported = _open_model(args.model, args.mult_width)
    try:
        x = np.load(args.input, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--input {args.input}: no such file") from None
    except (ValueError, OSError) as error:
        raise UsageError(f"--input {args.input} is not a .npy array ({error})") from None
    if not isinstance(x, np.ndarray):
        raise UsageError(f"--input {args.input} is not a .npy array")
    try:
        y, summary = run_model(
            imported,
            x,
            simulator=args.simulator,
            rows=args.rows,
            cols=args.cols,
            packing=args.packing,
            workdir=args.workdir,
        )
    except ValueError as error:
        raise UsageError(f"{error}") from None
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        with open(tmp, "wb") as file:
            np.save(file, y, allow_pickle=False)
        tmp.replace(out)
    summary = {
        "status": summary["status"],
        "model": str(args.model),
        "output": str(out) if out else None,
        **summary,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        for row in summary["passes"]:
            print(
                f"  {row['pass']:<34} x{row['runs']:<4} cycles {row['cycles']:>7} "
                f"(predicted {row['predicted_cycles']}), PE utilisation "
                f"{row['utilization']:.1%}"
            )
        rtl = {
            None: "golden model only",
            True: "every RTL output equals golden's",
            False: "RTL DIFFERS from golden",
        }[summary["rtl_equals_golden"]]
        print(
            f"{summary['status'].upper()}: {summary['images']} images on "
            f"{args.rows}x{args.cols}, {args.simulator}: {rtl}; "
            f"{summary['cycles_per_image']:.0f} cycles per image"
            f"{'; wrote ' + str(out) if out else ''}"
        )
        if summary["message"]:
            print(f"  {summary['message']}")
    return 0 if summary["status"] == "pass" else 1


def cmd_import(args):
    from .compiler import CompileError, compile_network, engine_for
    from .model import mapping_text, save_imported

    out = _output_path("-o", args.output)
    if not str(args.model).lower().endswith(".onnx"):
        raise UsageError(f"{args.model}: give an .onnx file")
    imported = _open_model(args.model, args.mult_width)
    try:
        engine = engine_for(
            imported.network, imported.input_shape, 8, 8, mult_width=imported.mult_width
        )
        passes = compile_network(imported.network, imported.input_shape, engine)
    except CompileError as error:  # load checked this already
        raise UsageError(str(error)) from None
    save_imported(imported, out)
    for line in mapping_text(imported, passes):
        print(line)
    print(
        f"sysconv: wrote {out}: {len(imported.network)} layers, {len(passes)} passes",
        file=sys.stderr,
    )
    return 0


def cmd_bench(args):
    from .bench import run_bench

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    results = run_bench(
        quick=args.quick,
        out=out,
        progress=False if args.no_progress else None,
        regression=False if args.no_regression else None,
        speed=not args.no_speed,
    )
    print((out / "summary.md").read_text(), end="")
    print(
        f"sysconv: wrote {out}/results.json, {out}/summary.md and {len(results['plots'])} plots",
        file=sys.stderr,
    )
    return 0 if results["status"] == "pass" else 1


def cmd_lint(args):
    from sysconv.sim.lint import main as lint_main

    return lint_main()


_BUILD_ENGINE_OPTIONS = (
    "rows",
    "cols",
    "max_height",
    "max_width",
    "max_in_channels",
    "max_out_channels",
    "max_kernel",
    "max_pool",
    "mult_width",
    "input_depth",
    "weight_depth",
    "acc_depth",
    "output_depth",
)


def cmd_build(args):
    from sysconv.build import build_board, engine_config
    from sysconv.tools import ToolError

    overrides = {name: getattr(args, name) for name in _BUILD_ENGINE_OPTIONS}
    out = Path(args.output_dir) if args.output_dir else None
    try:
        config = engine_config(args.board, **overrides)
        # Every parameter (board, engine, baud, seeds) is checked before anything is built.
        report = build_board(
            args.board,
            config,
            out=out,
            baud=args.baud,
            clock_hz=None if args.clock is None else args.clock * 1e6,
            engine_alone=not args.no_engine,
            seeds=args.seed,
            engine_seeds=args.engine_seeds,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    except ToolError as error:
        print(f"sysconv: error: {error}", file=sys.stderr)
        return 1
    from sysconv.build import text_report

    print(json.dumps(report) if args.json else text_report(report), end="\n" if args.json else "")
    if not report["timing_met"]:
        print(
            f"sysconv: error: the board top does not meet its {report['clock_mhz']:g} MHz "
            "clock (see the report)",
            file=sys.stderr,
        )
        return 1
    if report["warnings"]:
        print(f"sysconv: error: {report['warnings'][0]}", file=sys.stderr)
        return 1
    return 0


def _report(args, result, summary, passed):
    """Print a run's outcome: the JSON summary, or ``PASS: <passed()>``, or the first mismatch
    with the seed and the waveform; returns the exit status."""
    if args.json:
        print(json.dumps(summary))
    elif result.status == "pass":
        print(f"PASS: {passed()}")
    else:
        print(f"FAIL: {result.message} (seed {args.seed}); waveform: {result.waves}")
    return 0 if result.status == "pass" else 1


def _seed(text):
    """``--seed``: an integer >= 0, as NumPy's generators take."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, not {text!r}")
    return value


def _nextpnr_seeds(text):
    """``sysconv build``'s ``--seed`` and ``--engine-seeds``: nextpnr seeds as ``1,2,3`` or
    ``1-3`` (or both, ``1-3,7``)."""
    from sysconv.build import check_seeds

    seeds = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a list of seeds (as 1,2,3 or 1-3)"
            ) from None
        if last < first:
            raise argparse.ArgumentTypeError(f"{text!r}: the range {part} is empty")
        seeds += range(first, last + 1)
    try:
        return check_seeds(seeds, "seeds")
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r}: {error}") from None


def _add_run_options(parser):
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument(
        "--idle", type=float, default=0.0, help="probability of an idle input cycle (default 0)"
    )
    parser.add_argument(
        "--backpressure",
        type=float,
        default=0.0,
        help="probability that the output is not ready in a cycle (default 0)",
    )
    parser.add_argument(
        "--simulator", choices=["icarus", "verilator", "amaranth"], default="verilator"
    )
    parser.add_argument("--workdir", help="folder for the run's files (default build/runs/...)")
    parser.add_argument("--no-waves", action="store_true", help="do not write a waveform")
    parser.add_argument("--json", action="store_true", help="print a one-line JSON summary")


def _parser():
    parser = argparse.ArgumentParser(prog="sysconv", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sysconv {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("verilog", help="write the Verilog of a block")
    p.add_argument(
        "--top",
        choices=["array", "accel"],
        required=True,
        help="array: the systolic array; accel: the engine with AXI4-Stream ports "
        "(also writes FILE.ports.json)",
    )
    _add_array_options(p)
    _add_engine_options(p)
    p.add_argument("-o", "--output", required=True, help="Verilog file to write")
    p.set_defaults(func=cmd_verilog)

    p = commands.add_parser("sim", help="simulate a block against the golden model")
    blocks = p.add_subparsers(dest="block", required=True, metavar="BLOCK")
    a = blocks.add_parser("array", help="random vectors through the systolic array")
    _add_array_options(a)
    a.add_argument("--vectors", type=int, default=64, help="activation vectors (default 64)")
    a.add_argument(
        "--weight-sets", type=int, default=1, help="weight sets, reloaded mid-stream (default 1)"
    )
    _add_run_options(a)
    a.set_defaults(func=cmd_sim_array)

    c = blocks.add_parser("conv", help="one random conv layer through the engine's RTL")
    for name in ("height", "width", "in-channels", "out-channels", "kernel"):
        c.add_argument(f"--{name}", type=int, required=True)
    c.add_argument("--stride", type=int, default=1)
    c.add_argument("--padding", type=int, default=0)
    c.add_argument("--relu", action="store_true")
    c.add_argument("--pool", type=int, help="fused max pooling window (2 to 4)")
    c.add_argument("--pool-stride", type=int, help="pooling stride (default: the window)")
    c.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    c.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    _add_engine_options(c)
    _add_run_options(c)
    c.set_defaults(func=cmd_sim_conv)

    q = blocks.add_parser("pool", help="one random tensor through the max-pooling unit")
    for name in ("height", "width", "channels", "size"):
        q.add_argument(f"--{name}", type=int, required=True)
    q.add_argument("--stride", type=int, help="window step (default: the window size)")
    q.add_argument("--lanes", type=int, default=8, help="channels a beat (default 8)")
    _add_run_options(q)
    q.set_defaults(func=cmd_sim_pool)

    d = commands.add_parser("demo", help="the digits CNN on the simulated accelerator RTL")
    d.add_argument("--images", type=int, default=16, help="test images to run (default 16)")
    d.add_argument("--simulator", choices=["verilator", "icarus"], default="verilator")
    d.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    d.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    d.add_argument(
        "--batch", type=int, help="images a Linear pass, up to --images (default min(images, 16))"
    )
    d.add_argument(
        "--network-mode",
        action="store_true",
        help="chain the layers on chip: only each batch's packets, first input and logits "
        "cross the engine's streams (needs --rows a multiple of --cols)",
    )
    d.add_argument("--out", default="build/demo", help="folder for the PNG and summary")
    d.set_defaults(func=cmd_demo)

    r = commands.add_parser(
        "run",
        help="a model (quantised ONNX or network file) on the golden model or the simulated RTL",
    )
    r.add_argument("model", help="an .onnx model quantised by onnxruntime, or a network file")
    r.add_argument(
        "--input", required=True, help="X.npy: float32 (N, C, H, W), what onnxruntime would be fed"
    )
    r.add_argument("-o", "--output", help="Y.npy: the output, as onnxruntime returns it")
    r.add_argument(
        "--simulator",
        choices=["golden", "verilator", "icarus", "amaranth"],
        default="golden",
        help="golden: the bit-exact integer model only (default); "
        "a simulator runs the RTL and checks it against golden",
    )
    r.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    r.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    r.add_argument(
        "--mult-width",
        type=int,
        default=16,
        help="requantisation multiplier bits of an ONNX model's scales and of the "
        "engine (default 16, the engine's; 24 agrees with onnxruntime more "
        "often)",
    )
    r.add_argument(
        "--packing",
        choices=PACKING,
        default="auto",
        help="which conv passes run with their kernel taps packed (im2col on the host): "
        "auto, where golden.perf predicts fewer cycles (default), never or always",
    )
    r.add_argument(
        "--workdir", help="folder for the simulation's files (default build/runs/model-SIMULATOR)"
    )
    r.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    r.set_defaults(func=cmd_run)

    i = commands.add_parser(
        "import",
        help="an ONNX model quantised by onnxruntime to a network "
        "file, printing each node's layer and pass",
    )
    i.add_argument("model", help="an .onnx model quantised by onnxruntime.quantize_static")
    i.add_argument("-o", "--output", required=True, help="NET.npz to write")
    i.add_argument(
        "--mult-width",
        type=int,
        default=16,
        help="requantisation multiplier bits (default 16, the engine's)",
    )
    i.set_defaults(func=cmd_import)

    b = commands.add_parser(
        "bench",
        help="cycles, PE utilisation, SCALE-Sim comparison, simulation speed, regression time",
    )
    b.add_argument(
        "--quick",
        action="store_true",
        help="tiny layers on 2x2 and 4x4 arrays, no regression timing (a smoke run)",
    )
    b.add_argument(
        "--out",
        default="bench/results",
        help="folder for results.json, summary.md and the plots (default bench/results)",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.add_argument(
        "--no-regression",
        action="store_true",
        help="leave out part 5, timing the regression (the longest part)",
    )
    b.add_argument(
        "--no-speed",
        action="store_true",
        help="leave out part 4, the simulators' speed (with --no-regression: cycles and "
        "SCALE-Sim only, a few minutes)",
    )
    b.set_defaults(func=cmd_bench)

    p = commands.add_parser("lint", help="verilator --lint-only -Wall on the generated Verilog")
    p.set_defaults(func=cmd_lint)

    from sysconv.hw.boards.platforms import BOARDS

    p = commands.add_parser("build", help="an FPGA board's bitstream and resource/Fmax report")
    p.add_argument(
        "--board", required=True, help="icebreaker or ulx3s-85f (hw/boards/platforms.py)"
    )
    for name in _BUILD_ENGINE_OPTIONS:
        p.add_argument(
            f"--{name.replace('_', '-')}",
            type=int,
            default=None,
            help="engine parameter (default: the board's)",
        )
    p.add_argument(
        "--baud", type=int, default=None, help="UART rate (default 3000000, both boards)"
    )
    p.add_argument(
        "--clock",
        type=float,
        default=None,
        metavar="MHZ",
        help="the clock the PLL makes for the board top (default the board's: "
        + ", ".join(f"{name} {spec.clock_hz / 1e6:g}" for name, spec in BOARDS.items())
        + " MHz)",
    )
    p.add_argument(
        "--no-engine", action="store_true", help="skip the engine-alone Fmax run (out of context)"
    )
    p.add_argument(
        "--seed",
        type=_nextpnr_seeds,
        default=(1,),
        help="nextpnr seeds of the board top, as 1 or 1,2,3 or 1-3: the bitstream from the "
        "first, the others placed for their Fmax alone (default 1)",
    )
    p.add_argument(
        "--engine-seeds",
        type=_nextpnr_seeds,
        default=None,
        help="nextpnr seeds the engine-alone run tries, keeping the fastest, as "
        "1,2,3 or 1-3 (default: the board's, 1-3)",
    )
    p.add_argument("-o", "--output-dir", help="folder (default build/boards/BOARD)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_build)

    from .dse.cli import add_commands  # sysconv asic, sysconv sweep

    add_commands(commands)
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    for name in ("idle", "backpressure"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value < 1:
            parser.error(f"--{name} must be from 0 to less than 1, not {value}")
    try:
        return args.func(args)
    except UsageError as error:
        parser.exit(2, f"sysconv: error: {error}\n")
    except YosysError as error:
        # Amaranth's own Yosys, which writes its Verilog: the one YOSYS names if set (as the
        # FPGA flow's, sysconv.tools), else its built-in one. Its message is Yosys's stderr.
        named = f"YOSYS={os.environ['YOSYS']}" if os.environ.get("YOSYS") else "built in"
        detail = str(error).strip().splitlines()
        print(
            f"sysconv: error: Amaranth's Verilog output failed in Yosys ({named}): "
            f"{detail[-1] if detail else 'it exited non-zero with no message'}"
            + ("; unset YOSYS to use Amaranth's built-in Yosys" if named != "built in" else ""),
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        # Ctrl-C in a long build or simulation: one line, not Python's traceback; a tool
        # that was running is stopped by the subprocess call it ran in.
        print("\nsysconv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
