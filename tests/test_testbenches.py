"""The cocotb testbenches load in their simulator process without Amaranth: they need only the
plain-NumPy parts of :mod:`sysconv.hw` (``layer``, ``lanes``, ``boards.host``) and of
:mod:`sysconv.sim`, and a ``make test`` starts a simulator about a hundred times, each start
longer by Amaranth's import if a testbench pulls it in (``sysconv.hw`` imports its blocks
lazily)."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Every testbench module: sim/<block>/tb*.py and sim/*_tb.py.
TESTBENCHES = sorted(
    "sysconv." + ".".join(path.relative_to(REPO).with_suffix("").parts)
    for path in (REPO / "sim").rglob("*.py")
    if path.name.startswith("tb") or path.stem.endswith("_tb")
)


def test_the_testbenches_are_found():
    assert TESTBENCHES == [
        "sysconv.sim.array.tb",
        "sysconv.sim.board.tb",
        "sysconv.sim.engine.tb",
        "sysconv.sim.engine.tb_reset",
        "sysconv.sim.network.tb",
        "sysconv.sim.pool.tb",
        "sysconv.sim.protocol_tb",
        "sysconv.sim.ram.tb",
    ]


@pytest.mark.parametrize("module", TESTBENCHES)
def test_testbench_loads_without_amaranth(module):
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sys, {module}; print(sorted(m for m in sys.modules if m == 'amaranth' "
            "or m.startswith('amaranth.')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.strip() == "[]", f"{module} imports Amaranth: {loaded.stdout[:300]}"


def test_blocks_are_still_named_from_the_package():
    from sysconv import hw
    from sysconv.hw.engine import ConvEngine

    assert hw.ConvEngine is ConvEngine
    assert set(hw.__all__) <= set(dir(hw))
    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        _ = hw.Nothing
