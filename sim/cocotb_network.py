"""cocotb testbench: a compiled network on the generated ``sysconv_accel`` Verilog.

Reads ``scenario.json`` (engine, passes, images, batch) from ``$SYSCONV_TEST_DIR``. For every
pass it sends the parameter packet and the input tensor that the *previous pass's RTL output*
became (the host only reshapes: flatten, batch), takes the output, and compares it with the
golden model of that pass on the input the engine actually got. Writes ``progress.json`` after
each sample and ``result.json`` at the end: status, the RTL's logits, and every pass's cycles.
"""

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiStreamFrame

from sim.cocotb_accel import TB, _to_bytes, layer_end, write_result
from sim.engine_layer import LayerRun
from sim.network_run import batch_layer, load_scenario

CLOCK_NS = 10


class PassMismatch(AssertionError):
    pass


def _cycle():
    return int(get_sim_time("ns")) // CLOCK_NS


@cocotb.test()
async def network_on_accelerator(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    engine, passes, images, batch = load_scenario((test_dir / "scenario.json").read_text())
    tb = TB(dut, {"seed": 0, "idle": 0, "backpressure": 0})
    await tb.reset()
    tb.check_streams(lambda message: write_result(test_dir, status="fail", message=message))
    stats = [{"name": p["name"], "stage": p["stage"], "cycles": [], "compute_cycles": []}
             for p in passes]  # cycles: the engine's layer_cycles counter
    logits = []

    async def run_pass(index, x, sample):
        p = passes[index]
        layer = p["layer"] if p["stage"] == "conv" else batch_layer(p["layer"], x.shape[2])
        run = LayerRun(engine, layer, x, p["weights"], p["bias"])
        tb.checkers["param"].expect(len(run.packet()))
        tb.checkers["input"].expect(len(run.input_beats()))
        tb.checkers["output"].expect(len(run.expected_beats()))
        await tb.param.send(AxiStreamFrame(_to_bytes(run.packet(), engine.param_width)))
        await tb.source.send(AxiStreamFrame(_to_bytes(run.input_beats(), 8 * engine.rows)))
        frame = await tb.sink.recv()
        compute_cycles, layer_cycles = await layer_end(dut)
        stats[index]["cycles"].append(layer_cycles)
        stats[index]["compute_cycles"].append(compute_cycles)
        data = bytes(frame.tdata)
        words = [int.from_bytes(data[k:k + engine.cols], "little")
                 for k in range(0, len(data), engine.cols)]
        expected = run.expected_beats()
        if words != expected:
            k = next((k for k, (a, b) in enumerate(zip(words, expected, strict=False))
                      if a != b), min(len(words), len(expected)))
            raise PassMismatch(f"cycle {_cycle()}: pass {index} ({p['name']}), {sample}: output "
                               f"word {k} differs from the golden model "
                               f"({len(words)} words, {len(expected)} expected)")
        return run.layer.output_tensor(engine, words)

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
    write_result(test_dir, status=status, message=message, logits=logits, passes=stats,
                 cycles=_cycle())
    assert status == "pass", message
