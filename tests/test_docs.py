"""The manual in docs/ builds with Sphinx, warnings as errors, as `make docs` builds it: a
docstring that is not valid reStructuredText, a broken link between pages or a missing results
file fails here."""

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    # A fresh process and a fresh environment (-E): no cached doctree hides a warning.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-E",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if "No module named sphinx" in done.stderr:
        raise AssertionError(
            "Sphinx is missing: install the docs extra, "
            "pip install -e '.[test,docs]' (make setup does)"
        )
    assert done.returncode == 0 and not done.stderr.strip(), (
        f"sphinx-build exited {done.returncode}:\n{done.stderr}"
    )
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "api" / "hw.html").is_file()
