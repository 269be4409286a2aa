"""Sphinx configuration for the sysconv manual (``make docs``)."""

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "sysconv"
author = "the sysconv developers"
copyright = "2026, the sysconv developers"

try:
    from sysconv import __version__ as release
except ImportError:  # the manual still builds, without a version, from a bare checkout
    release = ""
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sysconv_results",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# results/ holds files the chapters include (tables, JSON, plots), not pages of their own.
exclude_patterns = ["_build", "results/**"]
templates_path = []

# Docstrings are NumPy style; members in source order, as the modules present them.
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# The components' docstrings list their ports and attributes under "Members" (house style).
napoleon_custom_sections = [("Members", "params_style")]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_typehints = "description"

# The benchmark summary's headings become the chapter's subsections.
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"sysconv {release}".strip()
html_static_path = []
