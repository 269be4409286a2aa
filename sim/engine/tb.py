"""cocotb testbench for the generated ``sysconv_accel`` Verilog (Icarus and Verilator).

Reads ``scenario.json`` from ``$SYSCONV_TEST_DIR``, sends each layer's parameter packet and
input tensor with cocotbext-axi sources (seeded pause generators for input gaps), takes the
output with a cocotbext-axi sink (seeded backpressure), compares every output word with the
golden model, and writes ``result.json`` with the cycle of every handshake.

A second test, :func:`accelerator_speed`, skipped unless selected by name (``COCOTB_TEST_FILTER``,
as :func:`sysconv.sim.engine.run.run_layers` does with ``speed=True``), runs the same scenario
without stalls through a lean driver (:class:`LeanTB`) to measure simulation speed; it too compares
every output word with the golden model.
"""

import json
import os
import random
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import (
    ClockCycles,
    FallingEdge,
    ReadOnly,
    RisingEdge,
    SimTimeoutError,
    with_timeout,
)
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from sysconv.hw.lanes import unpack
from sysconv.sim.engine.bench import LayerTiming, deadlock_budget
from sysconv.sim.engine.layer import runs_from_json
from sysconv.sim.protocol import StreamChecker


def _pauses(rng, probability):
    while True:
        yield rng.random() < probability


async def layer_end(dut):
    """Wait for the end of the image whose output was just received (trailing words may still
    be going into the pooling unit: the engine leaves its OUTPUT phase when they are in);
    returns the engine's (compute_cycles, layer_cycles)."""
    await ReadOnly()
    while int(dut.phase.value) == 3:
        await RisingEdge(dut.clk)
        await ReadOnly()
    return int(dut.compute_cycles.value), int(dut.layer_cycles.value)


def attach_checkers(dut, on_violation=None):
    """:class:`~sysconv.sim.protocol.StreamChecker` on ``s_axis_param``, ``s_axis`` and
    ``m_axis``."""
    return {
        name: StreamChecker(
            dut.clk,
            name=prefix,
            valid=getattr(dut, f"{prefix}_tvalid"),
            ready=getattr(dut, f"{prefix}_tready"),
            payload=[getattr(dut, f"{prefix}_tdata")],
            last=getattr(dut, f"{prefix}_tlast"),
            on_violation=on_violation,
        ).start()
        for name, prefix in (("param", "s_axis_param"), ("input", "s_axis"), ("output", "m_axis"))
    }


def write_result(test_dir, **fields):
    (test_dir / "result.json").write_text(json.dumps(fields))


def _to_bytes(words, width):
    return b"".join(int(word).to_bytes(width // 8, "little") for word in words)


class TB:
    def __init__(self, dut, scenario):
        self.dut = dut
        Clock(dut.clk, 10, unit="ns").start()
        self.param = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, "s_axis_param"), dut.clk, dut.rst
        )
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

    def check_streams(self, on_violation=None):
        """Attach a protocol checker to each of the three streams (after reset)."""
        self.checkers = attach_checkers(self.dut, on_violation)

    async def monitor(self, progress_file=None):
        """Record the cycle of every handshake (cycle 0 ends at the first rising edge after
        reset); with ``progress_file``, write ``{"packets": n}`` there as the engine takes the
        last word of its ``n``-th parameter packet."""
        dut = self.dut
        packets = 0
        ports = {
            "param": (dut.s_axis_param_tvalid, dut.s_axis_param_tready),
            "input": (dut.s_axis_tvalid, dut.s_axis_tready),
            "output": (dut.m_axis_tvalid, dut.m_axis_tready),
        }
        while True:
            await RisingEdge(dut.clk)
            for name, (valid, ready) in ports.items():
                if valid.value == 1 and ready.value == 1:
                    self.handshakes[name].append(self.cycle)
                    if name == "param" and progress_file and dut.s_axis_param_tlast.value == 1:
                        packets += 1
                        progress_file.write_text(json.dumps({"packets": packets}))
            self.cycle += 1


@cocotb.test()
async def accelerator_matches_golden(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    runs, scenario = runs_from_json((test_dir / "scenario.json").read_text())
    engine = runs[0].engine
    tb = TB(dut, scenario)
    await tb.reset()
    cocotb.start_soon(tb.monitor(test_dir / "progress.json"))
    tb.check_streams(
        lambda message: write_result(test_dir, status="fail", message=message, layers=[])
    )
    # One entry per image (a layer of several images has several): (name, run, packet).
    images = [
        (f"layer {n}" if run.layer.images == 1 else f"layer {n} image {k}", one, k == 0)
        for n, run in enumerate(runs)
        for k, one in enumerate(run.image_runs())
    ]
    # Network mode: a chained layer's input does not come from the host, nor its output back.
    for run in runs:
        tb.checkers["param"].expect(len(run.packet()))
        await tb.param.send(AxiStreamFrame(_to_bytes(run.packet(), engine.param_width)))
        for one in run.image_runs():
            if not one.layer.chain_input:
                tb.checkers["input"].expect(len(one.input_beats()))
                await tb.source.send(AxiStreamFrame(_to_bytes(one.input_beats(), 8 * engine.rows)))
            if not one.layer.chain_output:
                tb.checkers["output"].expect(len(one.expected_beats()))

    layers, status, message = [], "pass", ""
    seen = {"param": 0, "input": 0, "output": 0}
    chained = []  # the chained images before this one, which the budget covers
    for n, run, with_packet in images:
        if run.layer.chain_output:
            seen["param"] += len(run.packet()) if with_packet else 0
            seen["input"] += len(run.input_beats())
            chained.append(run)
            continue
        budget = deadlock_budget([*chained, run], scenario["idle"], scenario["backpressure"])
        chained = []
        try:
            frame = await with_timeout(tb.sink.recv(), 10 * budget, "ns")
        except SimTimeoutError:
            status = "fail"
            message = (
                f"cycle {tb.cycle}: {n}: no complete output tensor within "
                f"{budget} cycles (deadlock?); engine phase {int(dut.phase.value)}, "
                f"{len(tb.handshakes['output']) - seen['output']} output words seen"
            )
            break
        data = bytes(frame.tdata)
        words = [
            int.from_bytes(data[k : k + engine.cols], "little")
            for k in range(0, len(data), engine.cols)
        ]
        expected = run.expected_beats()
        compute_cycles, layer_cycles = await layer_end(dut)
        timing = LayerTiming(
            compute_cycles=compute_cycles,
            layer_cycles=layer_cycles,
            start=tb.handshakes["param"][0],
        )
        for name, lengths in (
            ("param", len(run.packet()) if with_packet else 0),
            ("input", len(run.input_beats())),
            ("output", len(words)),
        ):
            cycles = tb.handshakes[name][seen[name] : seen[name] + lengths]
            seen[name] += lengths
            getattr(timing, f"{name}_cycles").extend(cycles)
        mismatch = next(
            (k for k, (a, b) in enumerate(zip(words, expected, strict=False)) if a != b), None
        )
        if mismatch is None and len(words) != len(expected):
            mismatch = min(len(words), len(expected))
        if mismatch is not None:
            status = "fail"
            width = run.layer.pool_out_width
            col_tiles = -(-run.layer.out_channels // engine.cols)
            pixel, tile = divmod(mismatch, col_tiles)
            got = unpack(words[mismatch], 8, engine.cols) if mismatch < len(words) else "nothing"
            want = (
                unpack(expected[mismatch], 8, engine.cols)
                if mismatch < len(expected)
                else "nothing"
            )
            cycle = (
                timing.output_cycles[mismatch] if mismatch < len(timing.output_cycles) else "end"
            )
            message = (
                f"cycle {cycle}: {n}: output word {mismatch} (pixel "
                f"y={pixel // width} x={pixel % width}, channels "
                f"{tile * engine.cols}..{tile * engine.cols + engine.cols - 1}) = {got}, "
                f"expected {want} ({len(words)} words received, {len(expected)} expected)"
            )
            break
        layers.append(timing.as_dict())
    if int(dut.error.value) and status == "pass":
        status, message = "fail", "the engine raised its error flag"
    write_result(test_dir, status=status, message=message, layers=layers)
    assert status == "pass", message


class LeanTB:
    """The lean driver of :func:`accelerator_speed`: a few signal handles touched per beat.

    Packed ``tdata`` words are written whole; the testbench wakes on a clock edge only while a
    beat is pending, sleeps through the compute phase on ``m_axis_tvalid``'s rising edge, and
    reads ``tdata`` only in cycles where ``tvalid`` is high. ``m_axis_tready`` is held high
    and the sources never pause, so every handshake comes as early as the engine allows.

    Cycle numbers are those of :class:`TB`'s monitor: cycle 0 ends at the first rising edge
    after reset. They come from the simulation time, read once per phase, and from counting
    the edges awaited within a phase.
    """

    PERIOD_NS = 10

    def __init__(self, dut, *, clock_impl=None):
        self.dut = dut
        Clock(dut.clk, self.PERIOD_NS, unit="ns", impl=clock_impl).start()
        self.edge = RisingEdge(dut.clk)
        self.origin_ns = 0.0

    async def reset(self):
        dut = self.dut
        for name in (
            "s_axis_param_tvalid",
            "s_axis_param_tlast",
            "s_axis_tvalid",
            "s_axis_tlast",
            "m_axis_tready",
        ):
            getattr(dut, name).value = 0
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        self.origin_ns = get_sim_time("ns") + self.PERIOD_NS / 2

    def now(self):
        """The cycle that ends with the rising edge the testbench last woke on."""
        return round((get_sim_time("ns") - self.origin_ns) / self.PERIOD_NS)

    async def send(self, prefix, words):
        """Send ``words`` back to back on ``<prefix>_t*``, ``tlast`` on the last one; returns
        the cycles of the first and the last handshake."""
        dut = self.dut
        valid, data = getattr(dut, f"{prefix}_tvalid"), getattr(dut, f"{prefix}_tdata")
        ready, last = getattr(dut, f"{prefix}_tready"), getattr(dut, f"{prefix}_tlast")
        edge, count = self.edge, len(words)
        data.value = words[0]
        last.value = count == 1
        valid.value = 1
        k, first, cycle = 0, None, None
        while k < count:
            await edge
            cycle = self.now() if cycle is None else cycle + 1
            if ready.value == 1:
                first = cycle if first is None else first
                k += 1
                if k < count:
                    data.value = words[k]
                    if k == count - 1:
                        last.value = 1
        valid.value = 0
        last.value = 0
        return first, cycle

    async def receive(self, expected, budget_cycles, show):
        """Take ``len(expected)`` words and compare each with ``expected`` as it arrives.

        Returns ``(cycles, problem)``: the cycle of every handshake, and ``None`` or
        ``(index, what)`` for the first word that is wrong (``show(word)`` prints a word)."""
        dut = self.dut
        valid, data, last = dut.m_axis_tvalid, dut.m_axis_tdata, dut.m_axis_tlast
        dut.m_axis_tready.value = 1
        if valid.value != 1:
            try:
                await with_timeout(RisingEdge(valid), budget_cycles * self.PERIOD_NS, "ns")
            except SimTimeoutError:
                return [], (0, f"nothing within {budget_cycles} cycles (deadlock?)")
        edge, count, cycles = self.edge, len(expected), []
        cycle = self.now()
        deadline = cycle + budget_cycles
        while len(cycles) < count:
            await edge
            cycle += 1
            if valid.value == 1:
                k = len(cycles)
                cycles.append(cycle)
                word = data.value.to_unsigned()
                if word != expected[k]:
                    return cycles, (k, f"= {show(word)}, expected {show(expected[k])}")
                if (last.value == 1) != (k == count - 1):
                    return cycles, (k, f"= {show(word)} with tlast = {int(last.value)}")
            elif cycle > deadline:
                return cycles, (len(cycles), f"nothing by cycle {cycle} (deadlock?)")
        dut.m_axis_tready.value = 0
        return cycles, None


@cocotb.test(skip=True)  # a benchmark: runs only when selected (sysconv.sim.engine.run, speed=True)
async def accelerator_speed(dut):
    """Every layer's output word against the golden model, with the lean driver of
    :class:`LeanTB` and no stalls. ``result.json`` gets the handshake cycles as
    :func:`accelerator_matches_golden` writes them (the parameter and input beats by their
    first and last cycle), and the simulation speed: wall-clock seconds and cycles simulated
    from the end of reset to the last output word."""
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    runs, scenario = runs_from_json((test_dir / "scenario.json").read_text())
    if scenario["idle"] or scenario["backpressure"]:
        raise ValueError("the speed test drives no stalls; idle and backpressure must be 0")
    engine = runs[0].engine
    tb = LeanTB(dut, clock_impl=os.environ.get("SYSCONV_CLOCK_IMPL") or None)
    # Stimulus and golden words are ready before the clock starts counting.
    work = [(run.packet(), run.input_beats(), run.expected_beats()) for run in runs]
    await tb.reset()
    start = time.perf_counter()
    layers, status, message = [], "pass", ""
    for n, (run, (packet, beats, expected)) in enumerate(zip(runs, work, strict=True)):
        first_param, _ = await tb.send("s_axis_param", packet)
        first_input, last_input = await tb.send("s_axis", beats)
        outputs, problem = await tb.receive(
            expected, deadlock_budget([run]), lambda word: unpack(word, 8, engine.cols)
        )
        if problem is not None:
            k, what = problem
            width = run.layer.pool_out_width
            pixel, tile = divmod(k, -(-run.layer.out_channels // engine.cols))
            status = "fail"
            message = (
                f"cycle {outputs[-1] if len(outputs) > k else tb.now()}: layer {n}: "
                f"output word {k} (pixel y={pixel // width} x={pixel % width}, channels "
                f"{tile * engine.cols}..{tile * engine.cols + engine.cols - 1}) {what}"
            )
            break
        layers.append(
            {
                "params": len(packet),
                "first_param": first_param,
                "first_input": first_input,
                "last_input": last_input,
                "first_output": outputs[0],
                "last_output": outputs[-1],
                "output_cycles": outputs,
                "compute_cycles": int(dut.compute_cycles.value),
                "total_cycles": outputs[-1] - first_input + 1,
            }
        )
    wall = time.perf_counter() - start
    cycles = tb.now() + 1
    if int(dut.error.value) and status == "pass":
        status, message = "fail", "the engine raised its error flag"
    (test_dir / "result.json").write_text(
        json.dumps(
            {
                "status": status,
                "message": message,
                "layers": layers,
                "speed": {
                    "wall_seconds": wall,
                    "cycles": cycles,
                    "words_checked": sum(len(layer["output_cycles"]) for layer in layers),
                },
            }
        )
    )
    assert status == "pass", message
