"""Testbenches: the generated Verilog on Icarus and Verilator (through cocotb), and the
Amaranth design in Amaranth's simulator, compared with :mod:`sysconv.golden`.

The common part is here: :mod:`~sysconv.sim.runner` (cached builds, one folder per run),
:mod:`~sysconv.sim.toolchain`, the stream protocol checker (:mod:`~sysconv.sim.protocol`), the
stream drivers of the Amaranth simulator (:mod:`~sysconv.sim.cycle_streams`,
:mod:`~sysconv.sim.amaranth_streams`), vendor primitive models (:mod:`~sysconv.sim.ecp5_models`,
:mod:`~sysconv.sim.ice40_models`) and lint (:mod:`~sysconv.sim.lint`). Then one subpackage per
block, each of the same shape: ``bench`` (the scenario and its cycle-level comparison with
golden), ``run`` (one run on any simulator, returning a :class:`Result`), ``tb`` (the cocotb
testbench) and ``amaranth_sim`` where the block has one: :mod:`~sysconv.sim.array`,
:mod:`~sysconv.sim.pool`, :mod:`~sysconv.sim.engine`, :mod:`~sysconv.sim.network`,
:mod:`~sysconv.sim.board`.
"""

import functools
from dataclasses import dataclass, field

__all__ = ["SIMULATORS", "HDL_SIMULATORS", "ON_FAILURE", "Result", "waves_on_failure"]

# Every simulator a block's run takes; the first two run the generated Verilog through cocotb.
SIMULATORS = ("icarus", "verilator", "amaranth")
HDL_SIMULATORS = SIMULATORS[:2]


@dataclass
class Result:
    """What one simulation run found.

    ``status`` is ``"pass"`` or ``"fail"``; ``message`` the first mismatch or why the run
    failed (empty on a pass); ``cycles`` the clock cycles simulated; ``waves`` the waveform
    file of the run, if any. ``details`` holds what the block reports besides: the array's
    per-cycle ``trace``, the engine's per-layer ``layers`` timing and ``speed``, the network's
    ``logits``, ``passes`` and ``seconds``, the board's ``checks`` and ``link``.
    """

    status: str
    simulator: str
    message: str = ""
    cycles: int = 0
    waves: str | None = None
    details: dict = field(default_factory=dict)


# ``waves=ON_FAILURE``: a waveform only for a run that fails.
ON_FAILURE = "on failure"


def waves_on_failure(run):
    """Give ``run`` (a block's run function, whose ``waves`` keyword is ``True`` or ``False``
    and which returns a :class:`Result`) the default ``waves=ON_FAILURE``: run without a
    waveform, and if the run fails, run it again (the same scenario and seed, so the same
    failure) writing one. Tracing every signal costs Verilator and Icarus a large part of
    their time; a regression mostly passes, and a failure still comes with its waveform."""

    @functools.wraps(run)
    def with_waves(*args, waves=ON_FAILURE, **kwargs):
        if waves != ON_FAILURE:
            return run(*args, waves=waves, **kwargs)
        result = run(*args, waves=False, **kwargs)
        if result.status == "pass":
            return result
        return run(*args, waves=True, **kwargs)

    return with_waves
