# amaranth: UnusedElaboratable=no
"""Formal harnesses for the engine's stream parts (:mod:`sysconv.hw.engine`) on their own: the
output reader and the weight sequencer, on an engine of a 2x1 array, 2x2 maps, 1x1 kernels and
up to 2 output channels (two column tiles; weight sets of two beats).

Each part sits on a real buffer (:class:`~sysconv.hw.ram.BlockRAM`) that the solver fills
with any words while the part is inactive. The layer's registers are any legal values, steady
(as the engine keeps them outside its ``PARAMS`` phase); ``active`` rises once, at any cycle,
and stays high (one phase of the engine; it ends only after the part's last beat). Every
``ready`` the part sees is free in every cycle. Each property's cover check (the same harness
in ``cover`` mode) reaches the end of the longest layer within the bound.
"""

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cover, Signal, signed
from amaranth.lib import data

from sysconv.hw.engine import OutputReader, WeightSequencer
from sysconv.hw.engine._common import connect_read
from sysconv.hw.layer import EngineConfig
from sysconv.hw.ram import BlockRAM

from .harness import Harness, History, any_seq, assert_source_rules, bits_for, handshake, raw

__all__ = ["PARTS", "PartsHarness", "output_reader", "weight_sequencer"]

PARTS = EngineConfig(
    2,
    1,
    max_height=2,
    max_width=2,
    max_in_channels=2,
    max_out_channels=2,
    max_kernel=1,
    max_pool=0,
    mult_width=2,
)


def output_reader():
    return OutputReader(PARTS)


def weight_sequencer():
    return WeightSequencer(PARTS)


class PartsHarness(Harness):
    """One property of a part of the engine (see :data:`PROPERTIES`)."""

    PROPERTIES = {
        "reader": "the output reader's o keeps the stream rules and sends words 0 .. "
        "out_words - 1 of the buffer in order, last on the last only, then nothing",
        "weights": "the weight sequencer's o keeps the stream rules and sends the buffer's "
        "words in order, sets x rows of them, set_done on each set's last; a set's last "
        "beat only after the previous sets' vectors were all sent (set_sent); while the "
        "loader still writes the weights (writing), no word is read before it is written",
    }

    def __init__(self, prop, design=None, depth=16):
        if design is None:
            design = {"reader": output_reader, "weights": weight_sequencer}.get(prop)
        super().__init__(prop, design, depth)

    def elaborate(self, platform):
        m, dut, _module = self._open(platform)
        config = dut.config
        history = History(m)
        width = bits_for(self._depth)

        # `active` rises once and stays; the registers are steady.
        any_seq(m, dut.active)
        with m.If(history.had() & history.past(dut.active)):
            m.d.comb += Assume(dut.active)
        limits = config.register_limits()
        name = "out_words" if self._prop == "reader" else "sets"
        length = Signal(range(limits[name] + 1), name=name)
        m.d.comb += [
            length.eq(AnyConst(length.shape())),
            Assume((length >= 1) & (length <= limits[name])),
            dut.regs[name].eq(length),
        ]

        # The buffer, filled with any words while the part is inactive.
        words = data.ArrayLayout(signed(8), config.cols)
        depth = config.output_depth if self._prop == "reader" else config.weight_depth
        m.submodules.buffer = buffer = BlockRAM(shape=words, depth=depth, sliced=False)
        write = buffer.write_port()
        any_seq(m, write.addr)
        any_seq(m, write.data)
        any_seq(m, write.en)
        if self._prop == "reader":
            m.d.comb += Assume(~write.en | ~dut.active)
        else:
            # The parameter loader (network mode): `writing` from reset, the words in order
            # from address 0 (`written` of them so far), before and after `active` rises; it
            # stops once, with the layer's words all written. Other writes (earlier layers'
            # words) only while neither it nor the part runs.
            writing = Signal(name="writing")
            written = Signal(range(depth + 1), name="written")
            any_seq(m, writing)
            with m.If(history.had() & ~history.past(writing)):
                m.d.comb += Assume(~writing)
            with m.If(history.had() & history.past(writing) & ~writing):
                m.d.comb += Assume(written >= length * config.rows)
            with m.If(writing):
                m.d.comb += Assume(~write.en | (write.addr == written))
                with m.If(write.en):
                    m.d.sync += written.eq(written + 1)
            with m.Else():
                m.d.comb += Assume(~write.en | ~dut.active)
            m.d.comb += [dut.writing.eq(writing), dut.written.eq(written)]
        # The weight sequencer's port is registered (WeightSequencer.read).
        connect_read(m, buffer.read_port(registered=self._prop == "weights"), dut.read)
        # What the buffer holds at each address, as the harness saw it written.
        held = [Signal(words, name=f"held_{k}") for k in range(depth)]
        for k, word in enumerate(held):
            with m.If(write.en & (write.addr == k)):
                m.d.sync += word.eq(write.data)

        any_seq(m, dut.o.ready)
        fire = handshake(m, dut.o, "o_fire")
        assert_source_rules(m, history, dut.o, "o")
        sent = Signal(width, name="o_beats")
        with m.If(fire):
            m.d.sync += sent.eq(sent + 1)
        payload = dut.o.payload.data if self._prop == "reader" else dut.o.payload
        beats = length if self._prop == "reader" else length * config.rows

        with m.If(fire):
            m.d.comb += Assert(sent < beats, "more beats than the layer's words")
            for k, word in enumerate(held):
                with m.If(sent == k):
                    m.d.comb += Assert(
                        raw(payload) == raw(word), "a beat is not the buffer's word in order"
                    )

        if self._prop == "reader":
            with m.If(fire):
                m.d.comb += Assert(
                    dut.o.payload.last == (sent == beats - 1), "last not on the last word only"
                )
            m.d.comb += Cover(
                fire & dut.o.payload.last & (length == limits[name]),
                "the longest layer's last word",
            )
        else:
            any_seq(m, dut.set_sent)
            sets_sent = Signal(width, name="sets_sent")
            sets_done = Signal(width, name="sets_done")
            with m.If(dut.set_sent):
                m.d.sync += sets_sent.eq(sets_sent + 1)
            with m.If(dut.set_done):
                m.d.sync += sets_done.eq(sets_done + 1)
            # The window generator sends a set's vectors only once its weights are in.
            m.d.comb += Assume(~dut.set_sent | (sets_sent < sets_done))
            rows = config.rows
            final = Signal(name="final_beat")
            m.d.comb += final.eq(fire & ((sent % rows) == rows - 1))
            m.d.comb += Assert(dut.set_done == final, "set_done not exactly on a set's last beat")
            with m.If(final):
                m.d.comb += Assert(
                    sets_sent >= sent // rows, "a set's last beat before the previous set's vectors"
                )
            # A word written by the loader after its beat was sent (or with it) was read
            # before it was written.
            streamed = Signal(name="streamed")  # the loader wrote a word while the part ran
            with m.If(writing & write.en & dut.active):
                m.d.sync += streamed.eq(1)
            with m.If(writing & write.en):
                m.d.comb += Assert(
                    sent + fire <= write.addr, "a weight word sent before it was written"
                )
            m.d.comb += [
                Cover(
                    final & (sent == beats - 1) & (length == limits[name]),
                    "the last beat of the most sets",
                ),
                Cover(
                    final & (sent == beats - 1) & (length == limits[name]) & streamed,
                    "the last beat of the most sets, their words written while it ran",
                ),
            ]
        return m
