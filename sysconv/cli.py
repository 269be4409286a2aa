"""The ``sysconv`` command line.

Every parameter is checked before anything is simulated or written: a bad one prints
``sysconv: error: ...`` naming it, and exits with status 2, without a traceback.
"""

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


class UsageError(Exception):
    """A bad parameter; printed without a traceback."""


def _array_parameters(args):
    """The array's parameters from the options, checked."""
    from hw import SystolicArray
    parameters = dict(rows=args.rows, cols=args.cols, act_width=args.act_width,
                      weight_width=args.weight_width, acc_width=args.acc_width)
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


def cmd_verilog(args):
    from hw import SystolicArray
    from sim.runner import to_verilog
    component = SystolicArray(**_array_parameters(args))
    text = to_verilog(component, "sysconv_array")
    _write_output(args.output, text)
    print(f"sysconv: wrote {args.output}: {args.rows}x{args.cols} array, "
          f"latency {component.latency} cycles", file=sys.stderr)
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
    from sim.array_bench import ArrayScenario
    from sim.array_run import run_array
    _array_parameters(args)  # checked before anything runs
    if args.vectors < 1:
        raise UsageError(f"--vectors must be at least 1, not {args.vectors}")
    try:
        scenario = ArrayScenario.random(
            args.rows, args.cols, vectors=args.vectors, seed=args.seed, sets=args.weight_sets,
            act_width=args.act_width, weight_width=args.weight_width, acc_width=args.acc_width,
            idle=args.idle, backpressure=args.backpressure)
    except ValueError as error:
        raise UsageError(str(error).replace("sets ", "--weight-sets ", 1)) from None
    workdir = Path(args.workdir or f"build/runs/array-{args.rows}x{args.cols}-"
                   f"s{args.seed}-{args.simulator}")
    result = run_array(scenario, args.simulator, workdir, waves=not args.no_waves)
    if args.json:
        print(json.dumps(result.summary(scenario)))
    elif result.status == "pass":
        print(f"PASS: {args.rows}x{args.cols} array, {args.vectors} vectors, seed {args.seed}, "
              f"{args.simulator}: every cycle matches golden.systolic ({result.cycles} cycles)")
    else:
        print(f"FAIL: {args.rows}x{args.cols} array, seed {args.seed}, {args.simulator}: "
              f"{result.message} ({result.cycles} cycles); waveform: {result.waves}")
    return 0 if result.status == "pass" else 1


def cmd_lint(args):
    from sim.lint import main as lint_main
    return lint_main()


def _parser():
    parser = argparse.ArgumentParser(prog="sysconv", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("verilog", help="write the Verilog of a block")
    p.add_argument("--top", choices=["array"], required=True, help="which block")
    _add_array_options(p)
    p.add_argument("-o", "--output", required=True, help="Verilog file to write")
    p.set_defaults(func=cmd_verilog)

    p = commands.add_parser("sim", help="simulate a block against the golden model")
    blocks = p.add_subparsers(dest="block", required=True, metavar="BLOCK")
    a = blocks.add_parser("array", help="random vectors through the systolic array")
    _add_array_options(a)
    a.add_argument("--vectors", type=int, default=64, help="activation vectors (default 64)")
    a.add_argument("--weight-sets", type=int, default=1,
                   help="weight sets, reloaded mid-stream (default 1)")
    a.add_argument("--seed", type=int, default=0)
    a.add_argument("--idle", type=float, default=0.0,
                   help="probability of an idle input cycle (default 0)")
    a.add_argument("--backpressure", type=float, default=0.0,
                   help="probability that the output is not ready in a cycle (default 0)")
    a.add_argument("--simulator", choices=["icarus", "verilator", "amaranth"], default="verilator")
    a.add_argument("--workdir", help="folder for the run's files (default build/runs/...)")
    a.add_argument("--no-waves", action="store_true", help="do not write a waveform")
    a.add_argument("--json", action="store_true", help="print a one-line JSON summary")
    a.set_defaults(func=cmd_sim_array)

    p = commands.add_parser("lint", help="verilator --lint-only -Wall on the generated Verilog")
    p.set_defaults(func=cmd_lint)
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


if __name__ == "__main__":
    sys.exit(main())
