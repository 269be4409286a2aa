"""cocotb testbench for the generated ``sysconv_accel`` Verilog (Icarus and Verilator).

Reads ``scenario.json`` from ``$SYSCONV_TEST_DIR``, sends each layer's parameter packet and
input tensor with cocotbext-axi sources (seeded pause generators for input gaps), takes the
output with a cocotbext-axi sink (seeded backpressure), compares every output word with the
golden model, and writes ``result.json`` with the cycle of every handshake.
"""

import json
import os
import random
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge, SimTimeoutError, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from hw.lanes import unpack
from sim.engine_bench import LayerTiming, deadlock_budget
from sim.engine_run import runs_from_json


def _pauses(rng, probability):
    while True:
        yield rng.random() < probability


def _to_bytes(words, width):
    return b"".join(int(word).to_bytes(width // 8, "little") for word in words)


class TB:
    def __init__(self, dut, scenario):
        self.dut = dut
        Clock(dut.clk, 10, unit="ns").start()
        self.param = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_param"), dut.clk,
                                     dut.rst)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        rng = random.Random(scenario["seed"])
        if scenario["idle"]:
            self.param.set_pause_generator(_pauses(rng, scenario["idle"]))
            self.source.set_pause_generator(_pauses(rng, scenario["idle"]))
        if scenario["backpressure"]:
            self.sink.set_pause_generator(_pauses(rng, scenario["backpressure"]))
        self.handshakes = {"param": [], "input": [], "output": []}
        self.cycle = 0

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def monitor(self):
        """Record the cycle of every handshake (cycle 0 ends at the first rising edge after
        reset)."""
        dut = self.dut
        ports = {"param": (dut.s_axis_param_tvalid, dut.s_axis_param_tready),
                 "input": (dut.s_axis_tvalid, dut.s_axis_tready),
                 "output": (dut.m_axis_tvalid, dut.m_axis_tready)}
        while True:
            await RisingEdge(dut.clk)
            for name, (valid, ready) in ports.items():
                if valid.value == 1 and ready.value == 1:
                    self.handshakes[name].append(self.cycle)
            self.cycle += 1


@cocotb.test()
async def accelerator_matches_golden(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    runs, scenario = runs_from_json((test_dir / "scenario.json").read_text())
    engine = runs[0].engine
    tb = TB(dut, scenario)
    await tb.reset()
    cocotb.start_soon(tb.monitor())
    for run in runs:
        await tb.param.send(AxiStreamFrame(_to_bytes(run.packet(), engine.param_width)))
        await tb.source.send(AxiStreamFrame(_to_bytes(run.input_beats(), 8 * engine.rows)))

    layers, status, message = [], "pass", ""
    seen = {"param": 0, "input": 0, "output": 0}
    for n, run in enumerate(runs):
        budget = deadlock_budget([run], scenario["idle"], scenario["backpressure"])
        try:
            frame = await with_timeout(tb.sink.recv(), 10 * budget, "ns")
        except SimTimeoutError:
            status = "fail"
            message = (f"cycle {tb.cycle}: layer {n}: no complete output tensor within "
                       f"{budget} cycles (deadlock?); engine phase {int(dut.phase.value)}, "
                       f"{len(tb.handshakes['output']) - seen['output']} output words seen")
            break
        data = bytes(frame.tdata)
        words = [int.from_bytes(data[k:k + engine.cols], "little")
                 for k in range(0, len(data), engine.cols)]
        expected = run.expected_beats()
        await RisingEdge(dut.clk)  # let the monitor record the last beat
        timing = LayerTiming(compute_cycles=int(dut.compute_cycles.value))
        for name, lengths in (("param", len(run.packet())), ("input", len(run.input_beats())),
                              ("output", len(words))):
            cycles = tb.handshakes[name][seen[name]:seen[name] + lengths]
            seen[name] += lengths
            getattr(timing, f"{name}_cycles").extend(cycles)
        mismatch = next((k for k, (a, b) in enumerate(zip(words, expected, strict=False))
                         if a != b), None)
        if mismatch is None and len(words) != len(expected):
            mismatch = min(len(words), len(expected))
        if mismatch is not None:
            status = "fail"
            width = run.layer.pool_out_width
            col_tiles = -(-run.layer.out_channels // engine.cols)
            pixel, tile = divmod(mismatch, col_tiles)
            got = unpack(words[mismatch], 8, engine.cols) if mismatch < len(words) else "nothing"
            want = unpack(expected[mismatch], 8, engine.cols) \
                if mismatch < len(expected) else "nothing"
            cycle = timing.output_cycles[mismatch] if mismatch < len(timing.output_cycles) \
                else "end"
            message = (f"cycle {cycle}: layer {n}: output word {mismatch} (pixel "
                       f"y={pixel // width} x={pixel % width}, channels "
                       f"{tile * engine.cols}..{tile * engine.cols + engine.cols - 1}) = {got}, "
                       f"expected {want} ({len(words)} words received, {len(expected)} expected)")
            break
        layers.append(timing.as_dict())
    if int(dut.error.value) and status == "pass":
        status, message = "fail", "the engine raised its error flag"
    (test_dir / "result.json").write_text(json.dumps(
        {"status": status, "message": message, "layers": layers}))
    assert status == "pass", message
