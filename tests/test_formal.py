"""Formal proofs of the stream blocks with SymbiYosys (``formal/``; README, "Formal
verification"): every property passes, and every mutated design fails on the assertion its
check names. One test per check, so that pytest-xdist spreads them; the deeper bounds are
marked ``long``. A check that does not come out as expected reports the counterexample trace
(VCD) and its first steps as a table.
"""

import pytest

from sysconv.formal.checks import CHECKS, LONG, MUTANTS
from sysconv.formal.report import explain, verdict
from sysconv.formal.sby import run


def _params(checks, marks=()):
    return [pytest.param(check, id=check.key, marks=marks) for check in checks]


@pytest.mark.parametrize("check", _params(CHECKS) + _params(LONG, pytest.mark.long))
def test_property_holds(check):
    result = run(check)
    assert verdict(check, result)[0], explain(check, result)


@pytest.mark.parametrize("check", _params(MUTANTS))
def test_mutant_is_caught(check):
    result = run(check)
    assert verdict(check, result)[0], explain(check, result)
