"""Dependencies point one way: ``sysconv.hw`` and ``sysconv.golden`` import nothing of ours
above them, ``sysconv.sim`` imports only those two, and golden knows no Amaranth. A few leaf
modules, which import nothing of ours, any of them may use."""

import ast
import importlib
from pathlib import Path

import pytest

# package -> what of ours its modules may import (besides the package itself)
ALLOWED = {
    "sysconv.hw": (),
    "sysconv.golden": (),
    "sysconv.sim": ("sysconv.hw", "sysconv.golden"),
}

# Modules that import nothing of ours: every package may import them.
LEAVES = ("sysconv.progress",)


def imports(path):
    """Every absolute module name a file imports, at any depth (function-level included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules(package):
    root = Path(importlib.import_module(package).__file__).parent
    return sorted(root.rglob("*.py"))


@pytest.mark.parametrize("package", ALLOWED)
def test_imports_point_down(package):
    allowed = (package, *ALLOWED[package], *LEAVES)
    wrong = [
        f"{path.name} imports {name}"
        for path in modules(package)
        for name in sorted(imports(path))
        if name.split(".")[0] == "sysconv"
        and name != "sysconv"
        and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert not wrong, wrong


@pytest.mark.parametrize("leaf", LEAVES)
def test_leaves_import_nothing_of_ours(leaf):
    path = Path(importlib.import_module(leaf).__file__)
    wrong = [name for name in sorted(imports(path)) if name.split(".")[0] == "sysconv"]
    assert not wrong, wrong


def test_golden_knows_no_amaranth():
    wrong = [
        f"{path.name} imports {name}"
        for path in modules("sysconv.golden")
        for name in imports(path)
        if name.split(".")[0] == "amaranth"
    ]
    assert not wrong, wrong
