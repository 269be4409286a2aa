"""Reset in the middle of a layer (while taking the input, computing, or sending the output),
then a new layer: its output is exactly its golden result, on both simulators."""

import json

import pytest
from helpers import SMALL, runs_for

from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import to_verilog
from sysconv.sim import runner
from sysconv.sim.engine.layer import scenario_json

LAYERS = [
    dict(height=8, width=7, in_channels=4, out_channels=5, kernel=3, padding=1, pool_size=2),
    dict(height=6, width=6, in_channels=3, out_channels=4, kernel=3, stride=2, padding=1),
]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize(
    "phase, delay", [(1, 20), (2, 100), (3, 3)], ids=["input", "compute", "output"]
)
def test_reset_mid_layer_then_new_layer(phase, delay, simulator, test_dir):
    runs = runs_for(LAYERS, seed=5)
    scenario = json.loads(scenario_json(runs))
    scenario.update(reset_phase=phase, reset_delay=delay)
    built = runner.build(
        to_verilog(Accelerator(SMALL), "sysconv_accel"), "sysconv_accel", simulator
    )

    def run(waves):
        return runner.run_scenario(
            built, "sysconv.sim.engine.tb_reset", test_dir, json.dumps(scenario), waves=waves
        )

    result, _ = run(waves=False)
    if result["status"] != "pass":
        _, waves = run(waves=True)  # again, for its waveform
        pytest.fail(f"{result['message']} (waveform {waves})")
