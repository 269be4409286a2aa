"""Run layers on the accelerator on any simulator: what ``sysconv sim conv`` and the tests call.

On Icarus and Verilator the AXI4-Stream top (``sysconv_accel``) is simulated by the cocotb
testbench :mod:`sysconv.sim.engine.tb`, with cocotbext-axi drivers; in Amaranth's simulator the
engine is driven by :class:`sysconv.sim.engine.bench.EngineBench`. Both compare every output word
with the golden model and record the cycle of every handshake.

``speed=True`` selects the lean testbenches instead (``accelerator_speed`` in
:mod:`sysconv.sim.engine.tb`, :mod:`sysconv.sim.engine.amaranth_speed`), for measuring simulation
speed: no stalls, no waveforms, every output word still compared; the result also carries the
wall-clock time and the cycles simulated.
"""

import json
from pathlib import Path

from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import to_verilog
from sysconv.sim import HDL_SIMULATORS, ON_FAILURE, SIMULATORS, Result, runner, waves_on_failure
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.engine.layer import scenario_json

__all__ = [
    "accelerator_verilog",
    "run_layers",
    "run_speed_test",
]

TOPLEVEL = "sysconv_accel"


def accelerator_verilog(engine):
    """The Verilog of the AXI4-Stream top for ``engine`` (an :class:`EngineConfig`), top module
    :data:`TOPLEVEL`; from the model cache when generated before
    (:func:`sysconv.sim.runner.cached_verilog`)."""
    return runner.cached_verilog(
        f"{TOPLEVEL} {engine!r}", lambda: to_verilog(Accelerator(engine), TOPLEVEL)
    )


def _result(status, simulator, message, layers, waves, speed=None):
    """A :class:`~sysconv.sim.Result` whose ``details`` hold ``layers`` (per layer:
    ``LayerTiming.as_dict()``) and ``speed`` (``speed=True``: wall_seconds, cycles,
    words_checked); its cycles end at the last layer's last output."""
    cycles = layers[-1]["last_output"] + 1 if layers else 0
    return Result(status, simulator, message, cycles, waves, {"layers": layers, "speed": speed})


@waves_on_failure
def run_layers(
    runs,
    simulator,
    test_dir,
    *,
    idle=0.0,
    backpressure=0.0,
    seed=0,
    waves=ON_FAILURE,
    speed=False,
    verilog=None,
):
    """Run ``runs`` back to back on one engine; never raises on a mismatch. A waveform only of a
    failing run unless ``waves`` says otherwise (:func:`~sysconv.sim.waves_on_failure`).
    ``speed=True`` runs the lean speed testbench (no stalls, no waveforms). ``verilog`` (Icarus and
    Verilator) is simulated instead of the engine's generated Verilog: another description
    of the same ``sysconv_accel`` top, such as its gate-level netlist with cell models."""
    test_dir = runner.prepare(
        simulator, test_dir, HDL_SIMULATORS if verilog is not None else SIMULATORS
    )
    if speed:
        if idle or backpressure:
            raise ValueError("speed=True runs without stalls: idle and backpressure must be 0")
        if verilog is not None:
            raise ValueError("speed=True runs the generated Verilog; verilog must be None")
        if any(run.layer.images > 1 for run in runs):
            raise ValueError("speed=True runs layers of one image; images must be 1")
        return _run_speed(runs, simulator, test_dir)
    if simulator == "amaranth":
        from sysconv.sim.engine.amaranth_sim import run_engine_amaranth

        wave_path = str(test_dir / "waves.vcd") if waves else None
        try:
            bench = run_engine_amaranth(
                runs, idle=idle, backpressure=backpressure, seed=seed, vcd_path=wave_path
            )
        except StreamMismatch as mismatch:
            return _result("fail", simulator, str(mismatch), [], wave_path)
        return _result("pass", simulator, "", [t.as_dict() for t in bench.timing], wave_path)

    if verilog is None:
        verilog = accelerator_verilog(runs[0].engine)
    built = runner.build(verilog, TOPLEVEL, simulator)
    result, wave_path = runner.run_scenario(
        built,
        "sysconv.sim.engine.tb",
        test_dir,
        scenario_json(runs, idle=idle, backpressure=backpressure, seed=seed),
        waves=waves,
    )
    return _result(
        result["status"], simulator, result["message"], result.get("layers", []), wave_path
    )


def _run_speed(runs, simulator, test_dir):
    if simulator == "amaranth":
        from sysconv.sim.engine.amaranth_speed import run_engine_speed

        try:
            timing, speed = run_engine_speed(runs)
        except StreamMismatch as mismatch:
            return _result("fail", simulator, str(mismatch), [], None)
        return _result("pass", simulator, "", timing, None, speed)
    built = runner.build(accelerator_verilog(runs[0].engine), TOPLEVEL, simulator, speed=True)
    return run_speed_test(built, runs, test_dir)


def run_speed_test(built, runs, test_dir):
    """Run the lean speed test of :mod:`sysconv.sim.engine.tb` on ``built`` (a
    :class:`sysconv.sim.runner.Build` of the ``sysconv_accel`` Verilog of ``runs``' engine)."""
    test_dir = Path(test_dir).resolve()
    test_dir.mkdir(parents=True, exist_ok=True)
    simulator = built.simulator
    (test_dir / "scenario.json").write_text(scenario_json(runs))
    result_file = test_dir / "result.json"
    result_file.unlink(missing_ok=True)
    # The speed test is skipped in a plain run; naming it selects it alone. Its clock toggles
    # in cocotb's C layer (on Icarus too), not in a Python coroutine.
    runner.run_cocotb(
        built,
        "sysconv.sim.engine.tb",
        test_dir,
        waves=False,
        env={"COCOTB_TEST_FILTER": r"accelerator_speed$", "SYSCONV_CLOCK_IMPL": "gpi"},
    )
    if not result_file.exists():
        return _result(
            "fail",
            simulator,
            f"the simulation ended without a result; see {test_dir / 'sim.log'}",
            [],
            None,
        )
    result = json.loads(result_file.read_text())
    return _result(
        result["status"], simulator, result["message"], result["layers"], None, result.get("speed")
    )
