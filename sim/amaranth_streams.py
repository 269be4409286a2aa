"""``amaranth.lib.stream`` drivers and monitors for Amaranth-simulator testbenches.

Every block with stream ports reuses these: :func:`stream_put` and :func:`stream_get` move one
beat with a full handshake (the pattern of Amaranth's stream guide), :func:`random_ready`
throttles a sink from a ``background=True`` testbench, and :class:`StreamRecorder` notes every
handshake with its cycle number for scoreboards and cycle-exact checks.

Cycle ``n`` is the clock period that ends with the ``n``-th rising edge (from 0) after the
simulation starts; a handshake "in cycle ``n``" is one the DUT sees at that edge.
"""

from sysconv.hw.ram import poisoned_collisions

__all__ = [
    "Ports",
    "StreamRecorder",
    "random_ready",
    "simulate",
    "stream_get",
    "stream_put",
]


async def stream_put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` (a sink of the DUT) until the DUT takes it.

    Returns after the clock edge of the handshake, with ``valid`` low again, so back-to-back
    calls send one beat per cycle when the DUT is ready."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    # An explicit loop rather than `.until()`: a testbench left waiting when the simulation
    # ends is then closed quietly (`.until()` iterates an async generator, which complains).
    ready = False
    while not ready:
        _clk, _rst, ready = await ctx.tick().sample(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream):
    """Take one beat from ``stream`` (a source of the DUT); returns its payload.

    Holds ``ready`` high until the handshake and low after it, so back-to-back calls take one
    beat per cycle. Not for a stream whose ``ready`` another testbench drives (see
    :func:`random_ready` and :class:`StreamRecorder`)."""
    ctx.set(stream.ready, 1)
    valid = False
    while not valid:
        _clk, _rst, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
    ctx.set(stream.ready, 0)
    return payload


def random_ready(stream, rng, probability):
    """A ``background=True`` testbench driving ``stream.ready`` high with ``probability`` each
    cycle, drawn from ``rng`` (a :class:`random.Random`, seeded by the test)."""

    async def testbench(ctx):
        while True:
            ctx.set(stream.ready, rng.random() < probability)
            await ctx.tick()

    return testbench


class StreamRecorder:
    """Records ``(cycle, payload)`` for every handshake on each of ``streams``, and checks the
    stream rule their sources must keep: a beat offered (``valid``) and not taken stays offered,
    unchanged, in the next cycle.

    Add :attr:`testbench` with ``background=True``; it drives nothing. ``beats[k]`` lists the
    handshakes of ``streams[k]`` in order; payloads are converted by ``convert`` (default: the
    value as the simulator samples it) when sampled. ``violations`` lists broken rules, one
    message each, with the cycle. :attr:`cycle` is the number of clock edges seen so far."""

    def __init__(self, *streams, convert=lambda payload: payload):
        self.streams = streams
        self.convert = convert
        self.beats = [[] for _ in streams]
        self.violations = []
        self.cycle = 0

    async def testbench(self, ctx):
        sampled = [signal for s in self.streams for signal in (s.valid, s.ready, s.payload)]
        held = [None] * len(self.streams)  # payload offered and not taken in the last cycle
        while True:
            _clk, _rst, *values = await ctx.tick().sample(*sampled)
            for k in range(len(self.streams)):
                valid, ready, payload = values[3 * k : 3 * k + 3]
                payload = self.convert(payload) if valid else None
                if held[k] is not None and (not valid or payload != held[k]):
                    self.violations.append(
                        f"cycle {self.cycle}: stream {k} dropped or changed a beat not taken: "
                        f"{held[k]} became {'nothing' if not valid else payload}"
                    )
                if valid and ready:
                    self.beats[k].append((self.cycle, payload))
                held[k] = payload if valid and not ready else None
            self.cycle += 1


class Ports:
    """A cycle-by-cycle bench's view of a DUT's ports: ``outputs`` and ``inputs`` map names to
    Amaranth values (signals, slices, ``View.as_value()``), resolved once rather than through
    the DUT's signature and layouts every cycle.

    :meth:`read` gets every output; :meth:`write` sets the inputs, only those whose value
    changed since the last write (the testbench is their only driver, so a value set stays): in
    Amaranth's simulator a set costs as much as a cycle of a small design."""

    def __init__(self, *, outputs, inputs):
        self.outputs = outputs
        self.inputs = inputs
        self._written = {}

    def read(self, ctx):
        return {name: ctx.get(value) for name, value in self.outputs.items()}

    def write(self, ctx, values):
        for name, value in values.items():
            if name not in self._written or self._written[name] != value:
                ctx.set(self.inputs[name], value)
                self._written[name] = value


def simulate(dut, testbench, *, vcd_path=None, period=1e-8):
    """Run ``testbench`` (an ``async def testbench(ctx)``) on ``dut`` with a ``period`` clock
    in Amaranth's simulator until it returns; with ``vcd_path``, write the waveform there.
    The block RAMs' reads that meet a write are poisoned
    (:func:`sysconv.hw.ram.poisoned_collisions`): the hardware leaves their data undefined."""
    from amaranth.sim import Simulator

    with poisoned_collisions():
        sim = Simulator(dut)
    sim.add_clock(period)
    sim.add_testbench(testbench)
    if vcd_path is None:
        sim.run()
    else:
        with sim.write_vcd(str(vcd_path)):
            sim.run()
