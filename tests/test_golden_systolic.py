"""golden.systolic, the cycle model the RTL is judged by, is itself checked against
golden.matmul, over random shapes, weight reloads, idle gaps and backpressure."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sysconv.golden.systolic import SystolicArrayModel, latency
from sysconv.hw.lanes import unpack
from sysconv.sim.array.bench import ArrayBench, ArrayScenario, Mismatch


def run_model(scenario, model_class=SystolicArrayModel):
    """Drive a model as the device under test, with the bench judging by the same model class:
    only ``finish``'s comparison with golden.matmul is independent of it."""
    s = scenario
    dut = model_class(
        s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width, acc_width=s.acc_width
    )
    bench = ArrayBench(s)
    bench.model = model_class(
        s.rows, s.cols, act_width=s.act_width, weight_width=s.weight_width, acc_width=s.acc_width
    )
    while not bench.done:
        inputs = bench.tick(dut.outputs())
        dut.step(
            i_valid=inputs["i_valid"],
            i_payload=unpack(inputs["i_payload"], s.act_width, s.rows),
            w_valid=inputs["w_valid"],
            w_payload=unpack(inputs["w_payload"], s.weight_width, s.cols),
            o_ready=inputs["o_ready"],
        )
    bench.finish()
    return bench


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 6),
    cols=st.integers(1, 6),
    vectors=st.integers(1, 30),
    sets=st.integers(1, 4),
    data=st.sampled_from(["random", "extremes"]),
    idle=st.sampled_from([0.0, 0.3, 0.7]),
    backpressure=st.sampled_from([0.0, 0.3, 0.7]),
    seed=st.integers(0, 2**16),
)
def test_model_results_equal_matmul(rows, cols, vectors, sets, data, idle, backpressure, seed):
    scenario = ArrayScenario.random(
        rows,
        cols,
        vectors=vectors,
        sets=min(sets, vectors),
        data=data,
        idle=idle,
        backpressure=backpressure,
        seed=seed,
    )
    run_model(scenario)


@pytest.mark.parametrize("rows, cols", [(1, 1), (2, 5), (6, 3)])
def test_model_latency_and_throughput(rows, cols):
    scenario = ArrayScenario.random(rows, cols, vectors=20, seed=0)
    bench = run_model(scenario)
    accepted = [n for n, step in enumerate(bench.trace) if step[0]][:20]
    valid = [n for n, step in enumerate(bench.trace) if step[2]]
    assert accepted == list(range(rows, rows + 20))
    assert valid == [n + latency(rows, cols) for n in accepted]


def test_a_wrong_model_is_caught_by_matmul():
    scenario = ArrayScenario.random(3, 2, vectors=10, seed=5)

    class OffByOne(SystolicArrayModel):
        def outputs(self):
            out = super().outputs()
            if out.o_valid:
                out = type(out)(
                    out.i_ready, out.w_ready, True, (out.o_payload[0] + 1,) + out.o_payload[1:]
                )
            return out

    with pytest.raises(Mismatch, match=r"^cycle \d+: result 0 \(golden\.matmul\) = "):
        run_model(scenario, OffByOne)


def test_model_rejects_out_of_range_inputs():
    model = SystolicArrayModel(2, 2)
    with pytest.raises(
        ValueError,
        match=r"^i_payload values must fit in signed 8-bit integers "
        r"\(-128\.\.127\); found 128$",
    ):
        model.step(i_valid=True, i_payload=[128, 0])
