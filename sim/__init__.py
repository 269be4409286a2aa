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

from dataclasses import dataclass, field

__all__ = ["SIMULATORS", "HDL_SIMULATORS", "Result"]

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
