"""The systolic array's generated Verilog against golden.systolic, cycle by cycle, on Icarus,
Verilator and Amaranth's simulator; its parameter checks; its failure reports.

Every cycle of a run (``i.ready``, ``w.ready``, ``o.valid``, ``o.payload``) is checked against
the golden model driven by the same inputs, so the three simulators' traces of a scenario are
the same whenever each passes: no test compares them with each other."""

import re
from pathlib import Path

import pytest
from amaranth.hdl import Module, Shape, unsigned
from helpers import STALLS, stall_seed

from sysconv.hw import ProcessingElement, SystolicArray
from sysconv.hw import pe as hw_pe
from sysconv.hw import systolic_array as hw_systolic_array
from sysconv.hw.dual_multiplier import DualMultiplier
from sysconv.hw.registered_multiplier import RegisteredMultiplier
from sysconv.hw.verilog import to_verilog
from sysconv.sim import SIMULATORS
from sysconv.sim.array.bench import ArrayScenario
from sysconv.sim.array.run import array_for, run_array, run_arrays

SHAPES = [(1, 1), (1, 4), (3, 2), (4, 4), (8, 8)]
# Each shape is a Verilator build of a minute or so. Verilator runs the degenerate 1x1, the
# uneven 3x2 (which the command-line tests build too) and the largest; Icarus (a second to
# build) and Amaranth every shape.
VERILATOR_SHAPES = [(1, 1), (3, 2), (8, 8)]


def on_simulators(shapes):
    """``(shape, simulator)`` pairs: every simulator on each shape, Verilator only on
    :data:`VERILATOR_SHAPES`."""
    return [
        pytest.param(shape, simulator, id=f"{shape[0]}x{shape[1]}-{simulator}")
        for shape in shapes
        for simulator in SIMULATORS
        if simulator != "verilator" or shape in VERILATOR_SHAPES
    ]


# name -> ArrayScenario.random keyword arguments
STIMULI = {
    "random": dict(vectors=48),
    "extremes": dict(vectors=48, data="extremes", sets=2),
    "reload": dict(vectors=64, sets=4),
    "gaps": dict(vectors=48, sets=3, idle=0.3, backpressure=0.3),
}


def scenario_for(shape, stimulus, seed=1):
    rows, cols = shape
    return ArrayScenario.random(rows, cols, seed=seed, **STIMULI[stimulus])


def check_pass(result, scenario, name=""):
    assert result.status == "pass", (
        f"{result.simulator}{name}: {result.message} (seed {scenario.seed}, "
        f"waveform {result.waves})"
    )


def check_all(named_scenarios, simulator, test_dir, platform=None):
    """Run the scenarios (one array) together and check each: every failure is reported."""
    results = run_arrays(list(named_scenarios.values()), simulator, test_dir, platform=platform)
    failures = []
    for (name, scenario), result in zip(named_scenarios.items(), results, strict=True):
        try:
            check_pass(result, scenario, f" {name}")
            assert len(result.details["trace"]) == result.cycles, name
        except AssertionError as failure:
            failures.append(str(failure))
    assert not failures, "\n".join(failures)


# Every stimulus of a shape runs in one simulator process (sysconv.sim.batch).
@pytest.mark.parametrize("shape, simulator", on_simulators(SHAPES))
def test_array_matches_golden_every_cycle(shape, simulator, test_dir):
    check_all(
        {stimulus: scenario_for(shape, stimulus) for stimulus in STIMULI}, simulator, test_dir
    )


@pytest.mark.parametrize("shape, simulator", on_simulators([(1, 1), (3, 2), (4, 4)]))
def test_array_under_stalls(shape, simulator, test_dir):
    scenarios = {
        name: ArrayScenario.random(
            *shape, vectors=40, sets=3, idle=idle, backpressure=backpressure, seed=stall_seed()
        )
        for name, idle, backpressure in STALLS
    }
    check_all(scenarios, simulator, test_dir)


def test_sustains_one_vector_per_cycle_at_documented_latency(test_dir):
    rows, cols, vectors = 3, 2, 40  # a shape Verilator builds for the tests above
    scenario = ArrayScenario.random(rows, cols, vectors=vectors, seed=2)
    result = run_array(scenario, "verilator", test_dir)
    check_pass(result, scenario)
    accepted = [n for n, (i_ready, *_rest) in enumerate(result.details["trace"]) if i_ready]
    valid = [n for n, (_i, _w, o_valid, _p) in enumerate(result.details["trace"]) if o_valid]
    # Weights take `rows` cycles, then every cycle takes a vector and, `latency` later, gives one.
    assert accepted[:vectors] == list(range(rows, rows + vectors))
    latency = SystolicArray.latency_of(rows, cols)
    assert latency == rows + cols + 2
    assert valid == [n + latency for n in accepted[:vectors]]


def ecp5_platform():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    return ULX3S_85F_Platform()


def check_caught(scenario, test_dir, platform):
    """A vendor flavour of the array wired wrongly fails ``scenario`` on Icarus, at an output
    word that differs from the golden model's."""
    result = run_array(scenario, "icarus", test_dir, platform=platform)
    assert result.status == "fail"
    assert re.fullmatch(r"cycle \d+: o\.payload = .*, expected .*", result.message), result.message


@pytest.mark.parametrize("shape", [(3, 2), (8, 8)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_ecp5_array_matches_golden_every_cycle(shape, test_dir):
    # The PEs' MULT18X18D (output register on) under sim.ecp5_models, against the same model.
    scenarios = {stimulus: scenario_for(shape, stimulus) for stimulus in ("extremes", "gaps")}
    check_all(scenarios, "icarus", test_dir, platform=ecp5_platform())


def test_ecp5_array_has_one_dsp_per_pe_holding_the_pe_registers():
    # Every PE's product register, and every PE's but (0, 0)'s operand registers too.
    scenario = ArrayScenario.random(3, 2, vectors=4)
    ecp5 = to_verilog(array_for(scenario), "sysconv_array", platform=ecp5_platform())
    assert ecp5.count("MULT18X18D #(") == 6
    assert ecp5.count('.REG_OUTPUT_CLK("CLK0")') == 6
    assert ecp5.count('.REG_INPUTA_CLK("CLK0")') == 5
    assert ecp5.count('.REG_INPUTB_CLK("CLK0")') == 5
    assert "MULT18X18D" not in to_verilog(array_for(scenario), "sysconv_array")


def test_ecp5_pe_wider_than_the_dsp_multiplies_in_logic():
    array = SystolicArray(2, 2, act_width=19, weight_width=8, acc_width=32)
    assert "MULT18X18D" not in to_verilog(array, "sysconv_array", platform=ecp5_platform())


def test_ecp5_pe_with_unsigned_activations_fails(test_dir, monkeypatch):
    # The scoreboard and the model catch a DSP wired wrongly (a_in zero-extended).
    monkeypatch.setattr(
        hw_pe,
        "RegisteredMultiplier",
        lambda a, b, **kwargs: RegisteredMultiplier(unsigned(Shape.cast(a).width), b, **kwargs),
    )
    check_caught(scenario_for((3, 2), "extremes"), test_dir, ecp5_platform())


def ice40_platform():
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    return ICEBreakerPlatform()


# int8 corners: every product of two of them is checked on its own below.
CORNERS = (-128, -127, -1, 0, 1, 127)


def corner_scenario(rows, cols, seed=0):
    """Weight set ``k`` has ``CORNERS[(k + r + c) % 6]`` in PE ``(r, c)``; each set meets every
    corner as every activation: every PE multiplies every pair of corners (with ``rows == 1``
    each output is one product)."""
    n = len(CORNERS)
    weight_sets = [
        [[CORNERS[(k + r + c) % n] for c in range(cols)] for r in range(rows)] for k in range(n)
    ]
    vectors = [[CORNERS[(j + r) % n] for r in range(rows)] for _ in range(n) for j in range(n)]
    set_of = [k for k in range(n) for _ in range(n)]
    return ArrayScenario(rows, cols, weight_sets, vectors, set_of, seed=seed)


@pytest.mark.parametrize("shape", [(1, 4), (3, 3), (4, 4)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_ice40_array_matches_golden_every_cycle(shape, test_dir):
    # Two PEs per SB_MAC16 (8x8 mode, Yosys's own model); 3x3 leaves one PE with a block to
    # itself. 1x4's outputs are single products: every int8 corner pair, -128 * -128 and
    # -128 * 127 among them, in both halves of the block.
    scenarios = {stimulus: scenario_for(shape, stimulus) for stimulus in ("extremes", "gaps")}
    scenarios["corners"] = corner_scenario(*shape)
    check_all(scenarios, "icarus", test_dir, platform=ice40_platform())


def test_ice40_array_has_one_dsp_per_two_pes():
    scenario = ArrayScenario.random(3, 3, vectors=4)
    ice40 = to_verilog(array_for(scenario), "sysconv_array", platform=ice40_platform())
    assert ice40.count("SB_MAC16 #(") == 5
    assert ice40.count(".MODE_8x8(1'h1)") == 5
    assert "SB_MAC16" not in to_verilog(array_for(scenario), "sysconv_array")
    wide = SystolicArray(2, 2, act_width=9, weight_width=8, acc_width=32)
    assert "SB_MAC16" not in to_verilog(wide, "sysconv_array", platform=ice40_platform())


def test_ice40_unsigned_products_fail(test_dir, monkeypatch):
    # With A_SIGNED and B_SIGNED clear, Yosys's model multiplies unsigned: the scoreboard and
    # the model catch it (a design whose signedness is wrong cannot pass the corner test).
    monkeypatch.setattr(DualMultiplier, "_SIGNED", 0)
    check_caught(corner_scenario(1, 4), test_dir, ice40_platform())


class _BrokenPE(ProcessingElement):
    """A PE whose partial sum is off by one: the scoreboard must catch it."""

    def elaborate(self, platform):
        m = Module()
        m.submodules.pe = pe = ProcessingElement(
            act_width=self._act_width, weight_width=self._weight_width, acc_width=self._acc_width
        )
        for name in ("a_in", "bank_in", "psum_in", "w_in", "w_shift", "w_bank"):
            m.d.comb += getattr(pe, name).eq(getattr(self, name))
        for name in ("a_out", "bank_out", "w_out"):
            m.d.comb += getattr(self, name).eq(getattr(pe, name))
        m.d.comb += self.psum_out.eq(pe.psum_out + 1)
        return m


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_a_wrong_design_fails_with_cycle_signal_values_and_waveform(
    simulator, test_dir, monkeypatch
):
    monkeypatch.setattr(hw_systolic_array, "ProcessingElement", _BrokenPE)
    scenario = ArrayScenario.random(2, 2, vectors=8, seed=3)
    result = run_array(scenario, simulator, test_dir)
    assert result.status == "fail"
    first_valid = 2 + SystolicArray.latency_of(2, 2)  # weights take 2 cycles
    assert re.fullmatch(
        rf"cycle {first_valid}: o\.payload = \(-?\d+, -?\d+\), "
        r"expected \(-?\d+, -?\d+\)",
        result.message,
    ), result.message
    assert Path(result.waves).stat().st_size > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(rows=0, cols=4), r"rows must be an integer from 1 to 256, not 0"),
        (dict(rows=4, cols=300), r"cols must be an integer from 1 to 256, not 300"),
        (dict(rows=2.0, cols=4), r"rows must be an integer from 1 to 256, not 2\.0"),
        (dict(rows=4, cols=4, act_width=1), r"act_width must be an integer from 2 to 32, not 1"),
        (
            dict(rows=4, cols=4, weight_width=True),
            r"weight_width must be an integer from 2 to 32, not True",
        ),
        (
            dict(rows=4, cols=4, acc_width=17),
            r"acc_width must be at least 18 to hold the sum of 4 products of signed 8-bit "
            r"activations and signed 8-bit weights, not 17",
        ),
        (
            dict(rows=4, cols=4, buffer_depth=1),
            r"buffer_depth must be an integer from 2 to 65536, "
            r"not 1",
        ),
    ],
)
def test_wrong_parameters(kwargs, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        SystolicArray(**kwargs)


@pytest.mark.parametrize(
    "modes",
    [
        dict(shared_multiplier=True, early_operands=True),
        dict(early_operands=True, early_weight=True),
        dict(shared_multiplier=True, early_weight=True),
    ],
)
def test_pe_takes_one_multiplier_mode(modes):
    with pytest.raises(
        ValueError,
        match=r"^a PE takes at most one of shared_multiplier, early_operands and early_weight$",
    ):
        ProcessingElement(act_width=8, weight_width=8, acc_width=20, **modes)


@pytest.mark.parametrize("rows, act, weight", [(1, 8, 8), (4, 8, 8), (8, 8, 8), (3, 4, 6)])
def test_min_acc_width_is_tight(rows, act, weight):
    width = SystolicArray.min_acc_width(rows, act, weight)
    worst = rows * (1 << (act - 1)) * (1 << (weight - 1))  # (-2**(a-1)) * (-2**(w-1)) summed
    assert worst <= (1 << (width - 1)) - 1
    assert worst > (1 << (width - 2)) - 1
    SystolicArray.check_parameters(
        rows=rows, cols=2, act_width=act, weight_width=weight, acc_width=width
    )


def test_a_failure_in_a_batch_is_run_again_alone_with_its_waveform(test_dir, monkeypatch):
    # One simulator process runs the batch and stops at the first failure; each failing (or
    # unreached) scenario then runs alone, with its own waveform and its own first mismatch.
    monkeypatch.setattr(hw_systolic_array, "ProcessingElement", _BrokenPE)
    scenarios = [ArrayScenario.random(2, 2, vectors=8, seed=seed) for seed in (3, 4)]
    results = run_arrays(scenarios, "icarus", test_dir)
    for n, result in enumerate(results):
        assert result.status == "fail"
        assert re.match(r"cycle \d+: o\.payload = ", result.message), result.message
        assert Path(result.waves).is_relative_to(test_dir / str(n))
        assert Path(result.waves).stat().st_size > 0


def test_a_batch_shares_one_array():
    scenarios = [ArrayScenario.random(2, 2, vectors=4), ArrayScenario.random(2, 3, vectors=4)]
    with pytest.raises(ValueError, match="must share the array's rows, cols and widths"):
        run_arrays(scenarios, "icarus", "unused")
