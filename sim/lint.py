"""``make lint`` / ``sysconv lint``: ``verilator --lint-only -Wall`` on the generated Verilog of
every block, for the default configuration and the extremes (smallest, widest, largest).

The waivers are all in ``lint_waivers.vlt`` beside this file, each with its reason.

Each configuration's Verilog is kept in the model cache (:func:`sysconv.sim.runner.cached_verilog`,
keyed by this file's and ``sysconv.hw``'s source), and each verdict beside it, keyed by the
Verilog, the waivers, the Verilator version and its options: a run after one that linted the
same text reports that verdict without running Verilator again.
"""

import hashlib
import json
import subprocess
import sys
from importlib.resources import files

from sysconv.hw import Accelerator, EngineConfig, MaxPool2d, Requantizer, SystolicArray
from sysconv.hw.boards.board_top import BoardCore
from sysconv.hw.boards.platforms import BOARDS
from sysconv.hw.verilog import to_verilog
from sysconv.sim import toolchain
from sysconv.sim.runner import (
    build_root,
    cached_verilog,
    hash_sources,
    model_cache,
    write_atomic,
)

__all__ = ["CONFIGURATIONS", "lint", "lint_verilog", "main"]

WAIVERS = files(__package__) / "lint_waivers.vlt"

# name -> (top module name, component factory)
CONFIGURATIONS = {
    "array-default-4x4": ("sysconv_array", lambda: SystolicArray(4, 4)),
    "array-smallest-1x1": ("sysconv_array", lambda: SystolicArray(1, 1)),
    "array-widest-8x8": (
        "sysconv_array",
        lambda: SystolicArray(8, 8, act_width=16, weight_width=16, acc_width=64),
    ),
    "array-largest-16x16": ("sysconv_array", lambda: SystolicArray(16, 16)),
    "requant-default": ("sysconv_requant", lambda: Requantizer(lanes=8, acc_width=24)),
    "requant-widest": (
        "sysconv_requant",
        lambda: Requantizer(lanes=2, acc_width=64, bias_width=64, mult_width=32, out_width=32),
    ),
    "maxpool-default": (
        "sysconv_maxpool",
        lambda: MaxPool2d(lanes=8, max_width=24, max_channels=64),
    ),
    "accel-default-8x8": ("sysconv_accel", lambda: Accelerator(EngineConfig(8, 8))),
    "accel-smallest-1x1": (
        "sysconv_accel",
        lambda: Accelerator(
            EngineConfig(
                1,
                1,
                max_height=1,
                max_width=1,
                max_in_channels=1,
                max_out_channels=1,
                max_kernel=1,
                max_pool=0,
            )
        ),
    ),
    # Network mode: the activation buffer and the chain between the engine's streams.
    "accel-network-4x4": (
        "sysconv_accel",
        lambda: Accelerator(EngineConfig(4, 4, max_in_channels=128, network_depth=1024)),
    ),
    # ... packing two output beats of a pixel into each word.
    "accel-network-4x2": (
        "sysconv_accel",
        lambda: Accelerator(EngineConfig(4, 2, max_in_channels=128, network_depth=1024)),
    ),
    # The largest array linted; its 32x32x64 maps and 5x5 kernels give every buffer and
    # counter a wide address. (Amaranth writes a memory's initial contents word by word, so
    # the Verilog grows with the buffers; this keeps the lint under 20 s.)
    "accel-large-16x16": (
        "sysconv_accel",
        lambda: Accelerator(
            EngineConfig(
                16,
                16,
                max_height=32,
                max_width=32,
                max_in_channels=64,
                max_out_channels=64,
                max_kernel=5,
            )
        ),
    ),
    # The board tops (engine + UART host link) with each board's default engine, and one
    # with a single output lane (a READ can then ask for the most words a frame holds).
    "board-icebreaker": (
        "sysconv_board",
        lambda: BoardCore(
            EngineConfig(**BOARDS["icebreaker"].engine), clock_hz=12_000_000, baud=115200
        ),
    ),
    "board-ulx3s-85f": (
        "sysconv_board",
        lambda: BoardCore(
            EngineConfig(**BOARDS["ulx3s-85f"].engine), clock_hz=25_000_000, baud=115200
        ),
    ),
    "board-one-lane": (
        "sysconv_board",
        lambda: BoardCore(
            EngineConfig(
                3,
                1,
                max_height=4,
                max_width=4,
                max_in_channels=3,
                max_out_channels=1,
                max_kernel=1,
                max_pool=0,
            ),
            clock_hz=100_000_000,
            baud=12_500_000,
        ),
    ),
}


def lint_verilog(text, top, name):
    """Lint Verilog ``text`` (top module ``top``), written to ``build/lint/<name>.v``.

    Returns ``(ok, report)``: ``ok`` only if Verilator exits cleanly with no warning. The
    verdict is cached (see the module's documentation)."""
    tool = toolchain.verilator()
    tool.activate()
    path = build_root() / "lint" / f"{name}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    options = ["--lint-only", "-Wall", "--top-module", top]
    digest = hashlib.sha256(
        json.dumps([text, WAIVERS.read_text(), tool.version, options]).encode()
    ).hexdigest()[:16]
    verdict = model_cache() / "lint" / f"{digest}.json"
    if verdict.exists():
        ok, report = json.loads(verdict.read_text())
        return ok, report
    result = subprocess.run(
        [tool.executable, *options, str(WAIVERS), str(path)], capture_output=True, text=True
    )
    ok = result.returncode == 0 and "%Warning" not in result.stderr
    write_atomic(verdict, json.dumps([ok, result.stderr]))
    return ok, result.stderr


def lint(name):
    """Lint one of :data:`CONFIGURATIONS`; returns ``(ok, report)``."""
    top, make = CONFIGURATIONS[name]
    key = f"lint {name} " + hash_sources(["sysconv.sim.lint"])
    return lint_verilog(cached_verilog(key, lambda: to_verilog(make(), top)), top, name)


def main():
    failed = 0
    for name in CONFIGURATIONS:
        ok, report = lint(name)
        print(f"lint: {'clean' if ok else 'FAILED'}: {name}")
        if not ok:
            failed += 1
            print(report, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
