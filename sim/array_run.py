"""One systolic-array comparison run on any simulator: what ``sysconv sim array`` and the
tests call."""

from dataclasses import dataclass

from sysconv.hw import SystolicArray
from sysconv.hw.verilog import to_verilog

from . import runner
from .amaranth_array import run_array_amaranth
from .array_bench import Mismatch
from .ecp5_models import models_for

__all__ = ["ArrayResult", "run_array", "ALL_SIMULATORS"]

ALL_SIMULATORS = ("icarus", "verilator", "amaranth")
TOPLEVEL = "sysconv_array"


@dataclass
class ArrayResult:
    status: str        # "pass" or "fail"
    simulator: str
    cycles: int
    message: str       # the first mismatch, or why the run failed
    waves: str | None  # waveform file of this run
    trace: list        # per cycle: i.ready, w.ready, o.valid, o.payload or None

    def summary(self, scenario):
        return {"status": self.status, "simulator": self.simulator, "cycles": self.cycles,
                "rows": scenario.rows, "cols": scenario.cols, "vectors": len(scenario.vectors),
                "seed": scenario.seed, "message": self.message, "waves": self.waves}


def array_for(scenario):
    s = scenario
    return SystolicArray(s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width,
                         acc_width=s.acc_width)


def run_array(scenario, simulator, test_dir, *, waves=True, platform=None):
    """Run ``scenario`` on the array on ``simulator``; never raises on a mismatch.

    With ``platform``, the array is elaborated for it (vendor primitives, such as the ECP5 PE's
    DSP block) and simulated with :mod:`sysconv.sim.ecp5_models`: Icarus and Verilator only."""
    test_dir = runner.prepare(simulator, test_dir,
                              ALL_SIMULATORS if platform is None else ("icarus", "verilator"))
    if simulator == "amaranth":
        wave_path = test_dir / "waves.vcd" if waves else None
        try:
            bench = run_array_amaranth(scenario, vcd_path=wave_path)
        except Mismatch as mismatch:
            # The VCD is complete up to the mismatch: the simulator stopped there.
            return ArrayResult("fail", simulator, mismatch.cycle, str(mismatch),
                               str(wave_path) if waves else None, [])
        return ArrayResult("pass", simulator, bench.cycle, "", str(wave_path) if waves else None,
                           bench.trace)

    verilog_text = to_verilog(array_for(scenario), TOPLEVEL, platform=platform)
    built = runner.build(verilog_text + models_for(verilog_text), TOPLEVEL, simulator,
                         waves=waves)
    result, wave_path = runner.run_scenario(built, "sysconv.sim.cocotb_array", test_dir,
                                            scenario.to_json(), waves=waves)
    return ArrayResult(result["status"], simulator, result.get("cycles", 0), result["message"],
                       wave_path, result.get("trace", []))
