"""The lean speed testbench of :mod:`sysconv.sim.engine.tb` (``accelerator_speed``), in
Amaranth's simulator: layers back to back on :class:`sysconv.hw.ConvEngine`, no stalls, every
output word compared with the golden model, and the simulation speed measured.

Amaranth's simulator evaluates the whole design in Python every cycle, so the testbench wakes
on every clock edge (it counts cycles by them) and that costs little beside the design; what it
saves is per-cycle work: it samples one ready a cycle while sending, writes a stream's payload
only when a beat is taken, and compares ``o``'s payload only when ``o.valid``.
"""

import time

from amaranth.sim import Simulator

from sysconv.hw.engine import ConvEngine
from sysconv.hw.lanes import unpack
from sysconv.sim.cycle_streams import StreamMismatch
from sysconv.sim.engine.bench import deadlock_budget

__all__ = ["run_engine_speed"]


def run_engine_speed(runs):
    """Simulate ``runs`` back to back. Returns ``(layers, speed)``: per layer the handshake
    cycles (the keys of :meth:`sysconv.sim.engine.bench.LayerTiming.as_dict`), and
    ``{"wall_seconds", "cycles", "words_checked"}`` for the simulation itself. Raises
    :class:`~sysconv.sim.cycle_streams.StreamMismatch` on the first wrong output word."""
    engine = runs[0].engine
    dut = ConvEngine(engine)
    work = [(run.packet(), run.input_beats(), run.expected_beats()) for run in runs]
    layers = []
    state = {"cycle": -1}

    async def send(ctx, stream, data, words):
        ctx.set(stream.valid, 1)
        first = None
        for k, word in enumerate(words):
            ctx.set(data, word)
            ctx.set(stream.payload.last, k == len(words) - 1)
            ready = False
            while not ready:
                _clk, _rst, ready = await ctx.tick().sample(stream.ready)
                state["cycle"] += 1
            first = state["cycle"] if first is None else first
        ctx.set(stream.valid, 0)
        return first, state["cycle"]

    async def receive(ctx, n, run, expected):
        o, o_data = dut.o, dut.o.payload.data.as_value()
        ctx.set(o.ready, 1)
        deadline = state["cycle"] + deadlock_budget([run])
        cycles = []
        while len(cycles) < len(expected):
            _clk, _rst, valid, word, last = await ctx.tick().sample(o.valid, o_data, o.payload.last)
            state["cycle"] += 1
            cycle = state["cycle"]
            if valid:
                k = len(cycles)
                cycles.append(cycle)
                show = lambda word: unpack(word, 8, engine.cols)  # noqa: E731
                if word != expected[k]:
                    raise StreamMismatch(
                        cycle,
                        f"layer {n}: output word {k} = {show(word)}, expected {show(expected[k])}",
                    )
                if bool(last) != (k == len(expected) - 1):
                    raise StreamMismatch(cycle, f"layer {n}: output word {k}: last = {last}")
            elif cycle > deadline:
                raise StreamMismatch(
                    cycle, f"layer {n}: no output word after {len(cycles)} (deadlock?)"
                )
        ctx.set(o.ready, 0)
        return cycles

    async def testbench(ctx):
        i_data = dut.i.payload.data.as_value()
        for n, (run, (packet, beats, expected)) in enumerate(zip(runs, work, strict=True)):
            first_param, _ = await send(ctx, dut.p, dut.p.payload.data, packet)
            first_input, last_input = await send(ctx, dut.i, i_data, beats)
            outputs = await receive(ctx, n, run, expected)
            layers.append(
                {
                    "params": len(packet),
                    "first_param": first_param,
                    "first_input": first_input,
                    "last_input": last_input,
                    "first_output": outputs[0],
                    "last_output": outputs[-1],
                    "output_cycles": outputs,
                    "compute_cycles": ctx.get(dut.compute_cycles),
                    "total_cycles": outputs[-1] - first_input + 1,
                }
            )

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    start = time.perf_counter()
    sim.run()
    wall = time.perf_counter() - start
    return layers, {
        "wall_seconds": wall,
        "cycles": state["cycle"] + 1,
        "words_checked": sum(len(layer["output_cycles"]) for layer in layers),
    }
