import os
from pathlib import Path

import pytest

from sim.runner import build_root, safe_name

# Every simulation writes below build/ in the repository, whatever the working directory.
os.environ.setdefault("SYSCONV_BUILD_DIR", str(Path(__file__).resolve().parents[1] / "build"))


@pytest.fixture
def test_dir(request):
    """A folder of this test's own (waveforms, logs), kept after the run."""
    path = build_root() / "tests" / safe_name(request.node.nodeid.split("::", 1)[-1])
    path.mkdir(parents=True, exist_ok=True)
    return path
