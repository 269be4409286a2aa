"""The wheel, as a new user gets it: built from this checkout, installed into a fresh virtual
environment, and run from an empty folder, away from the checkout.

The fresh environment takes its dependencies from the regression's own environment (a ``.pth``
line, so nothing is downloaded) but sysconv only from the wheel. The simulator models are
shared with the regression through ``SYSCONV_MODEL_CACHE``: the same Verilog, built once.
"""

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from sysconv.sim.runner import model_cache

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(dist),
            str(REPO),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = dist.glob("sysconv-*.whl")
    return path


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """``(bin folder, site-packages)`` of a fresh environment with the wheel installed."""
    root = tmp_path_factory.mktemp("venv")
    venv.create(root, with_pip=False)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (site / "regression_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return root / "bin", site


def test_wheel_installs_one_namespace_with_its_data(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert archive.read(top_level).decode().split() == ["sysconv"]
    assert {n.split("/")[0] for n in names if not n.startswith("sysconv-")} == {"sysconv"}
    for data in ("sysconv/models/digits_cnn.npz", "sysconv/sim/lint_waivers.vlt"):
        assert data in names
    for package in (
        "hw",
        "hw/boards",
        "hw/engine",
        "golden",
        "sim",
        "sim/array",
        "sim/pool",
        "sim/engine",
        "sim/network",
        "sim/board",
        "formal",
        "bench",
        "dse",
    ):
        assert f"sysconv/{package}/__init__.py" in names


def _files(folder):
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*") if path.is_file()}


@pytest.mark.heavy
def test_wheel_runs_from_an_empty_folder(installed, tmp_path):
    bin_folder, site = installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYSCONV_")}
    env["SYSCONV_MODEL_CACHE"] = str(model_cache())
    env["PATH"] = f"{bin_folder}{os.pathsep}{env['PATH']}"
    before = _files(site / "sysconv")

    def sysconv(*args):
        done = subprocess.run(
            [bin_folder / "sysconv", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"sysconv {' '.join(args)}: {done.stderr}"
        return done

    where = subprocess.run(
        [bin_folder / "python", "-c", "import sysconv; print(sysconv.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout
    assert sysconv("--version").stdout.startswith("sysconv ")
    sysconv("verilog", "--top", "array", "--rows", "2", "--cols", "2", "-o", "array.v")
    assert "module sysconv_array" in (tmp_path / "array.v").read_text()
    sysconv(
        "sim", "array", "--rows", "2", "--cols", "2", "--vectors", "5", "--simulator", "verilator"
    )
    sysconv("demo", "--images", "1")
    assert (tmp_path / "build" / "demo" / "demo.png").stat().st_size > 0
    assert _files(site / "sysconv") == before, "the package wrote into site-packages"
