"""Formal proofs of the stream blocks with SymbiYosys (``formal/``; README, "Formal
verification"): every property passes, and every mutated design fails on the assertion its
check names. One test per check, so that pytest-xdist spreads them; the deeper bounds are
marked ``long``. A check that does not come out as expected reports the counterexample trace
(VCD) and its first steps as a table. ``python -m sysconv.formal`` prints each check's start
and end as they happen.
"""

import dataclasses
import re

import pytest
from amaranth.back import rtlil

from sysconv.formal import __main__ as formal_main
from sysconv.formal.checks import CHECKS, LONG, MUTANTS
from sysconv.formal.engine import EngineHarness
from sysconv.formal.maxpool import PoolHarness
from sysconv.formal.report import explain, finished, verdict
from sysconv.formal.sby import Check, Result, run

# The deep checks (the engine's at 85 cycles, pooling's results at 30) take 15-35 s each; the
# others a few seconds.
DEEP = 29


def _params(checks, marks=()):
    return [
        pytest.param(
            check,
            id=check.key,
            marks=[*marks, pytest.mark.heavy] if check.depth >= DEEP else marks,
        )
        for check in checks
    ]


def _long(expect):
    return _params([check for check in LONG if check.expect == expect], [pytest.mark.long])


@pytest.mark.parametrize("check", _params(CHECKS) + _long("pass"))
def test_property_holds(check):
    result = run(check)
    assert verdict(check, result)[0], explain(check, result)


@pytest.mark.parametrize("check", _params(MUTANTS) + _long("fail"))
def test_mutant_is_caught(check):
    result = run(check)
    assert verdict(check, result)[0], explain(check, result)


PROPERTY = Check("array-o_rules-prove4", "array", "o_rules", "prove", 4, harness=None)
MUTANT = Check(
    "array-o_rules-mutant-withdraw",
    "array",
    "o_rules",
    "bmc",
    12,
    harness=None,
    expect="fail",
    catches="o.valid withdrawn before o.ready",
)


@pytest.mark.parametrize(
    "check, result, line",
    [
        (
            PROPERTY,
            Result(PROPERTY.key, "PASS", 7.74, 2.1),
            "formal: [3/46] array-o_rules-prove4 (prove, depth 4): PASS, 7.7 s, 2.1 s CPU",
        ),
        (
            PROPERTY,
            Result(PROPERTY.key, "PASS", 7.7, 2.1, cached=True),
            "formal: [3/46] array-o_rules-prove4 (prove, depth 4): PASS, cached (7.7 s, 2.1 s CPU "
            "when run)",
        ),
        (
            PROPERTY,
            Result(PROPERTY.key, "UNKNOWN", 30.0, 55.5),
            "formal: [3/46] array-o_rules-prove4 (prove, depth 4): UNKNOWN <-- NOT AS EXPECTED, "
            "30.0 s, 55.5 s CPU",
        ),
        (
            MUTANT,
            Result(
                MUTANT.key, "FAIL", 3.0, 2.5, step=5, failed=["o.valid withdrawn before o.ready"]
            ),
            "formal: [3/46] array-o_rules-mutant-withdraw (bmc, depth 12): caught (step 5), 3.0 s, "
            "2.5 s CPU",
        ),
        (
            MUTANT,
            Result(MUTANT.key, "PASS", 3.0, 2.5),
            "formal: [3/46] array-o_rules-mutant-withdraw (bmc, depth 12): MISSED "
            "(PASS) <-- NOT AS "
            "EXPECTED, 3.0 s, 2.5 s CPU",
        ),
    ],
)
def test_progress_line(check, result, line):
    assert finished(check, result, 3, 46) == line


@pytest.mark.parametrize(
    "failed, caught",
    [(["b"], True), (["a", "c"], True), (["c"], False), ([], False)],
)
def test_mutant_with_several_catching_assertions(failed, caught):
    # Any one of a tuple of messages catches the mutant; another failure does not.
    check = dataclasses.replace(MUTANT, catches=("a", "b"))
    result = Result(check.key, "FAIL", 1.0, 1.0, step=3, failed=failed)
    assert verdict(check, result)[0] == caught


def test_progress_of_a_run(monkeypatch, capsys):
    # Each check's start (only when SymbiYosys runs it, not for a cached result) and end, on
    # stderr as they happen; the table on stdout.
    def fake_run(check, *, use_cache, on_start):
        if check is not PROPERTY:
            on_start()
        return Result(
            check.key,
            "FAIL" if check is MUTANT else "PASS",
            1.0,
            0.5,
            step=2,
            failed=[MUTANT.catches],
            cached=check is PROPERTY,
        )

    monkeypatch.setattr(formal_main, "CHECKS", [PROPERTY])
    monkeypatch.setattr(formal_main, "MUTANTS", [MUTANT])
    monkeypatch.setattr(formal_main, "run", fake_run)
    assert formal_main.main(["-j", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "formal: [1/2] array-o_rules-prove4 (prove, depth 4): PASS, cached (1.0 s, 0.5 s CPU "
        "when run)",
        "formal: start array-o_rules-mutant-withdraw (bmc, depth 12)",
        "formal: [2/2] array-o_rules-mutant-withdraw (bmc, depth 12): caught (step 2), 1.0 s, "
        "0.5 s CPU",
    ]
    assert captured.out.startswith("block  property")
    assert formal_main.main(["-j", "1", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def _assertions(harness):
    """The messages of every assertion in ``harness``'s RTLIL, as SymbiYosys reads it."""
    il = rtlil.convert(harness, platform="formal", ports=[], emit_src=False)
    return set(re.findall(r'parameter \\FORMAT "([^"]*)"', il))


@pytest.mark.parametrize(
    "harness, first, second, key",
    [
        (EngineHarness, "layer", "feed", "engine-layer+feed-bmc85"),
        (PoolHarness, "values", "timing", "pool-values+timing-overlap+partial-bmc30"),
    ],
)
def test_properties_checked_in_one_run_keep_every_assertion(harness, first, second, key):
    # One run asks the solver about both properties' assertions at once: the union of what
    # each asks on its own, and nothing else (the environment is the same).
    one, other, both = (
        _assertions(harness(p, depth=32)) for p in (first, second, f"{first}+{second}")
    )
    assert both == one | other
    assert one - other and other - one
    assert key in {check.key for check in CHECKS}


@pytest.mark.parametrize(
    "prop, message",
    [
        ("layer+progress", "only feed and layer can be checked in one run, not 'layer+progress'"),
        (
            "layer+nothing",
            "prop must be one of phases, layer, feed, progress, cover, not 'nothing'",
        ),
    ],
)
def test_properties_that_cannot_share_a_run(prop, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        EngineHarness(prop)
