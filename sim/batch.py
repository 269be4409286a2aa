"""Several scenarios in one simulator process: the testbench side of
:func:`sysconv.sim.runner.run_scenarios`.

Starting a simulator and cocotb costs seconds; a small block's scenario simulates in a fraction
of one. A testbench reads the scenarios (JSON texts) from ``scenarios.json`` in its test folder,
runs them one after another with a reset between, and records each result in
``results.json`` as it finishes, so that a run that dies still reports the scenarios before.
"""

import json
import os
from pathlib import Path

__all__ = ["SCENARIOS", "RESULTS", "Batch"]

SCENARIOS = "scenarios.json"
RESULTS = "results.json"


class Batch:
    """The scenarios of this simulator process, and their results so far."""

    def __init__(self):
        self.test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
        self.scenarios = json.loads((self.test_dir / SCENARIOS).read_text())
        self.results = []

    def record(self, **result):
        """The current scenario's result; the next scenario is current after a pass."""
        (self.test_dir / RESULTS).write_text(json.dumps([*self.results, result]))
        if result["status"] == "pass":
            self.results.append(result)
