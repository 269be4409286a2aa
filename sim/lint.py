"""``make lint`` / ``sysconv lint``: ``verilator --lint-only -Wall`` on the generated Verilog of
every block, for the default configuration and the extremes (smallest, widest, largest).

The waivers are all in ``lint_waivers.vlt`` beside this file, each with its reason.
"""

import subprocess
import sys
from pathlib import Path

from hw import SystolicArray

from . import toolchain
from .runner import build_root, to_verilog

__all__ = ["CONFIGURATIONS", "lint", "lint_verilog", "main"]

WAIVERS = Path(__file__).with_name("lint_waivers.vlt")

# name -> (top module name, component factory)
CONFIGURATIONS = {
    "array-default-4x4": ("sysconv_array", lambda: SystolicArray(4, 4)),
    "array-smallest-1x1": ("sysconv_array", lambda: SystolicArray(1, 1)),
    "array-widest-8x8": ("sysconv_array",
                         lambda: SystolicArray(8, 8, act_width=16, weight_width=16, acc_width=64)),
    "array-largest-16x16": ("sysconv_array", lambda: SystolicArray(16, 16)),
}


def lint_verilog(text, top, name):
    """Lint Verilog ``text`` (top module ``top``), written to ``build/lint/<name>.v``.

    Returns ``(ok, report)``: ``ok`` only if Verilator exits cleanly with no warning."""
    tool = toolchain.verilator()
    tool.activate()
    path = build_root() / "lint" / f"{name}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    result = subprocess.run([tool.executable, "--lint-only", "-Wall", "--top-module", top,
                             str(WAIVERS), str(path)], capture_output=True, text=True)
    return result.returncode == 0 and "%Warning" not in result.stderr, result.stderr


def lint(name):
    """Lint one of :data:`CONFIGURATIONS`; returns ``(ok, report)``."""
    top, make = CONFIGURATIONS[name]
    return lint_verilog(to_verilog(make(), top), top, name)


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
