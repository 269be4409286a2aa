"""cocotb testbench: a compiled network on the generated ``sysconv_accel`` Verilog.

Reads ``scenario.json`` (engine, passes, images, batch) from ``$SYSCONV_TEST_DIR``. Batch by
batch, pass by pass (a conv pass with one packet for the batch's images, the next image's input
sent while the current output comes back), it sends the parameter packet and the input
tensors that the *previous pass's RTL output* became (the host only lays them out: pad, pack
taps, flatten, batch), takes the outputs, and compares each with the golden model of that pass
on the input the engine actually got. Writes ``progress.json`` after each batch and
``result.json`` at the end: status, the RTL's logits, and every pass's cycles (per image).
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
from sysconv.sim.network.scenario import host_input, load_scenario, pass_layer


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

    async def send_inputs(image_runs):
        for one in image_runs:
            await tb.send("s_axis", one.input_beats())

    async def run_pass(index, xs, names):
        """Pass ``index`` on ``xs``, one input a name of ``names`` (a conv pass: a sample's
        map each, the packet's images; a dense pass: the batch's ``(C, 1, N)`` map); returns
        the output tensors."""
        p = passes[index]
        if p["stage"] == "conv":
            layer = pass_layer("conv", p["layer"], len(xs))
        else:
            layer = pass_layer("dense", p["layer"], xs[0].shape[2])
        xs = [host_input(x, layer, p["pad"], p["taps"]) for x in xs]
        x = xs[0] if len(xs) == 1 else np.stack(xs)
        run = LayerRun(engine, layer, x, p["weights"], p["bias"])
        packet, image_runs = run.packet(), run.image_runs()
        checkers["param"].expect(len(packet))
        for one in image_runs:
            checkers["input"].expect(len(one.input_beats()))
            checkers["output"].expect(len(one.expected_beats()))
        await tb.send("s_axis_param", packet)
        # The inputs go as fast as the engine takes them: the next image's while the current
        # one's output comes back, as a host feeding the hardware would.
        sender = cocotb.start_soon(send_inputs(image_runs))
        outputs = []
        for name, one in zip(names, image_runs, strict=True):
            expected = one.expected_beats()
            cycles, problem = await tb.receive(
                expected, deadlock_budget([one]), lambda word: unpack(word, 8, engine.cols)
            )
            if problem is not None:
                k, what = problem
                raise PassMismatch(
                    f"cycle {tb.now()}: pass {index} ({p['name']}), {name}: output word {k} {what}"
                )
            compute_cycles, layer_cycles = await layer_end(dut)
            await NextTimeStep()  # out of the read-only phase, to drive the next pass
            stats[index]["cycles"].append(layer_cycles)
            stats[index]["compute_cycles"].append(compute_cycles)
            # The words received equal `expected`: that tensor goes on to the next pass.
            outputs.append(one.layer.output_tensor(engine, expected))
        await sender
        return outputs

    status, message = "pass", ""
    try:
        for first in range(0, len(images), batch):
            xs = list(images[first : first + batch])
            names = [f"image {first + k}" for k in range(len(xs))]
            for index, p in enumerate(passes):
                if p["stage"] == "conv":
                    xs = await run_pass(index, xs, names)
            x = np.stack([x.reshape(-1) for x in xs], axis=1)[:, None, :]
            for index, p in enumerate(passes):
                if p["stage"] == "dense":
                    (x,) = await run_pass(index, [x], [f"images {first}..{first + len(xs) - 1}"])
            logits.extend(x[:, 0, :].T.tolist())
            (test_dir / "progress.json").write_text(json.dumps({"done": len(logits)}))
    except PassMismatch as mismatch:
        status, message = "fail", str(mismatch)
    write_result(
        test_dir, status=status, message=message, logits=logits, passes=stats, cycles=tb.now()
    )
    assert status == "pass", message
