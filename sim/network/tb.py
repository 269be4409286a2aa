"""cocotb testbench: a compiled network on the generated ``sysconv_accel`` Verilog.

Reads ``scenario.json`` (engine, passes, images, batch) from ``$SYSCONV_TEST_DIR``. For every
pass it sends the parameter packet and the input tensor that the *previous pass's RTL output*
became (the host only lays it out: pad, pack taps, flatten, batch), takes the output, and
compares it with the golden model of that pass on the input the engine actually got. Writes
``progress.json`` after each sample and ``result.json`` at the end: status, the RTL's logits,
and every pass's cycles.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import NextTimeStep

from sysconv.hw.lanes import unpack
from sysconv.sim.engine.bench import deadlock_budget
from sysconv.sim.engine.layer import LayerRun
from sysconv.sim.engine.tb import LeanTB, attach_checkers, layer_end, write_result
from sysconv.sim.network.run import batch_layer, host_input, load_scenario


class PassMismatch(AssertionError):
    pass


@cocotb.test()
async def network_on_accelerator(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    engine, passes, images, batch = load_scenario((test_dir / "scenario.json").read_text())
    # The lean driver: the testbench sleeps through every compute phase.
    tb = LeanTB(dut, clock_impl="gpi")
    await tb.reset()
    checkers = attach_checkers(
        dut, lambda message: write_result(test_dir, status="fail", message=message)
    )
    stats = [
        {"name": p["name"], "stage": p["stage"], "cycles": [], "compute_cycles": []} for p in passes
    ]  # cycles: the engine's layer_cycles counter
    logits = []

    async def run_pass(index, x, sample):
        p = passes[index]
        layer = p["layer"] if p["stage"] == "conv" else batch_layer(p["layer"], x.shape[2])
        x = host_input(x, layer, p["pad"], p["taps"])
        run = LayerRun(engine, layer, x, p["weights"], p["bias"])
        packet, beats, expected = run.packet(), run.input_beats(), run.expected_beats()
        for name, words in (("param", packet), ("input", beats), ("output", expected)):
            checkers[name].expect(len(words))
        await tb.send("s_axis_param", packet)
        await tb.send("s_axis", beats)
        cycles, problem = await tb.receive(
            expected, deadlock_budget([run]), lambda word: unpack(word, 8, engine.cols)
        )
        if problem is not None:
            k, what = problem
            raise PassMismatch(
                f"cycle {tb.now()}: pass {index} ({p['name']}), {sample}: output word {k} {what}"
            )
        compute_cycles, layer_cycles = await layer_end(dut)
        await NextTimeStep()  # out of the read-only phase, to drive the next pass
        stats[index]["cycles"].append(layer_cycles)
        stats[index]["compute_cycles"].append(compute_cycles)
        # The words received equal `expected`: that tensor goes on to the next pass.
        return run.layer.output_tensor(engine, expected)

    status, message = "pass", ""
    try:
        for first in range(0, len(images), batch):
            features = []
            for n in range(first, min(first + batch, len(images))):
                x = images[n]
                for index, p in enumerate(passes):
                    if p["stage"] == "conv":
                        x = await run_pass(index, x, f"image {n}")
                features.append(x.reshape(-1))
            x = np.stack(features, axis=1)[:, None, :]
            for index, p in enumerate(passes):
                if p["stage"] == "dense":
                    x = await run_pass(index, x, f"images {first}..{first + len(features) - 1}")
            logits.extend(x[:, 0, :].T.tolist())
            (test_dir / "progress.json").write_text(json.dumps({"done": len(logits)}))
    except PassMismatch as mismatch:
        status, message = "fail", str(mismatch)
    write_result(
        test_dir, status=status, message=message, logits=logits, passes=stats, cycles=tb.now()
    )
    assert status == "pass", message
