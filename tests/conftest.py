import os
import sys
from pathlib import Path

import pytest
from helpers import STALLS, stall_seed
from hypothesis import HealthCheck, settings

from sysconv.sim.runner import build_root, safe_name

# Hypothesis profiles: "ci" for `make test` (the default), "long" for `make test-long`
# (`--hypothesis-profile=long`). No deadline (simulations vary in time), the
# `@reproduce_failure` blob printed on a failure. Tests that size themselves by profile read
# `settings.get_current_profile_name()`.
_PROFILE = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", **_PROFILE)
settings.register_profile("long", **_PROFILE)
settings.load_profile("ci")

# Every simulation writes below build/ in the repository, whatever the working directory.
os.environ.setdefault("SYSCONV_BUILD_DIR", str(Path(__file__).resolve().parents[1] / "build"))
# No test times a simulation: the speed builds compile for compile speed (sim.runner).
os.environ.setdefault("SYSCONV_SPEED_BUILDS", "fast-compile")


def pytest_collection_modifyitems(items):
    """Tests marked ``heavy`` first, the rest in their order: with pytest-xdist handing out tests
    one at a time in this order (``--maxschedchunk=1``, pyproject.toml), the heavy ones go to
    every worker, and a multi-minute test started last does not leave one worker running it
    alone."""
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_report_header(config):
    return f"stall seed: {stall_seed()} (set SYSCONV_SEED to reproduce another run)"


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
        tool.write_text(f"#!{sys.executable}\nimport sys\nprint({output!r})\nsys.exit({status})\n")
        tool.chmod(0o755)
        return tool

    return make
