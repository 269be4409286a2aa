import os
import sys
from pathlib import Path

import pytest

from sysconv.sim.runner import build_root, safe_name

# Every simulation writes below build/ in the repository, whatever the working directory.
os.environ.setdefault("SYSCONV_BUILD_DIR", str(Path(__file__).resolve().parents[1] / "build"))


# Stall patterns every stream test runs with: (name, input idle probability, output
# backpressure probability), from rare to 90 % stalled.
STALLS = [("rare", 0.05, 0.05), ("half", 0.5, 0.5), ("heavy", 0.9, 0.9)]


def pytest_report_header(config):
    return f"stall seed: {stall_seed()} (set SYSCONV_SEED to reproduce another run)"


def stall_seed():
    """The seed of every random stall pattern: $SYSCONV_SEED, or 1 (printed in the header
    and in every stall test's failure message)."""
    return int(os.environ.get("SYSCONV_SEED", "1"))


@pytest.fixture(params=STALLS, ids=[name for name, _idle, _backpressure in STALLS])
def stalls(request):
    """``(idle, backpressure, seed)`` for a stall test."""
    _name, idle, backpressure = request.param
    return idle, backpressure, stall_seed()


@pytest.fixture
def test_dir(request):
    """A folder of this test's own (waveforms, logs), kept after the run."""
    path = build_root() / "tests" / safe_name(request.node.nodeid.split("::", 1)[-1])
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def fake_tool(tmp_path):
    """``make(name, output, status)``: an executable ``name`` in a folder of its own that
    prints ``output`` and exits with ``status``, to stand in for an external tool."""
    def make(name, output, status):
        folder = tmp_path / "fake-tools"
        folder.mkdir(exist_ok=True)
        tool = folder / name
        tool.write_text(f"#!{sys.executable}\nimport sys\nprint({output!r})\n"
                        f"sys.exit({status})\n")
        tool.chmod(0o755)
        return tool
    return make
