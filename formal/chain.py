# amaranth: UnusedElaboratable=no
"""Formal harness for the engine's network-mode part, :class:`sysconv.hw.engine.Chain`, on its
own: an engine of a 2x1 array (two output beats of a pixel make a buffer word) with a
four-word activation buffer bank.

Two packets: the first (``chain_output``) sends its output tensors into the buffer, the second
(``chain_input``) replays them. The registers (the first packet's images, pixels a tensor and
beats a pixel, ``col_tiles``; the second's images and input words) are any legal values, the
first packet's from reset, the second's from the cycle its ``registers_done`` pulses, which the
solver places anywhere after the first packet's last output beat; the output beats' data, their
``valid`` and the input writer's ``ready`` are free in every cycle. The buffer is a real
:class:`~amaranth.lib.memory.Memory`.
"""

from amaranth.asserts import AnyConst
from amaranth.hdl import Assert, Assume, Cover, Mux, Signal, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory

from sysconv.hw.engine import Chain
from sysconv.hw.engine._common import connect_read, connect_write
from sysconv.hw.layer import EngineConfig

from .harness import Harness, History, any_seq, assert_source_rules, handshake, raw

__all__ = ["CHAIN", "ChainHarness", "chain"]

CHAIN = EngineConfig(
    2,
    1,
    max_height=2,
    max_width=2,
    max_in_channels=1,
    max_out_channels=2,
    max_kernel=1,
    max_pool=0,
    mult_width=2,
    network_depth=4,
)
# The most images, pixels (words) a tensor and beats a pixel the harness lets a packet have.
MAX_IMAGES, MAX_WORDS, MAX_TILES = 2, 2, 2


def chain():
    return Chain(CHAIN)


class ChainHarness(Harness):
    """One property of the chain (see :data:`PROPERTIES`)."""

    PROPERTIES = {
        "replay": "the replayed stream keeps the stream rules and carries the words the "
        "first packet sent into the buffer (a pixel's beats side by side, the lanes past them "
        "zero), in order, last on each tensor's last word only, "
        "no more than the packet's tensors; the host's input is not taken and nothing goes "
        "to the host's output meanwhile; error pulses exactly when the replay's words are "
        "not the words held",
    }

    def __init__(self, prop, design=chain, depth=20):
        super().__init__(prop, design, depth)

    def elaborate(self, platform):
        m, dut, _module = self._open(platform)
        config = dut.config
        history = History(m)
        words = data.ArrayLayout(signed(8), config.rows)

        # The two packets' registers.
        def const(name, high):
            value = Signal(range(high + 1), name=name)
            m.d.comb += [value.eq(AnyConst(value.shape())), Assume((value >= 1) & (value <= high))]
            return value

        images_1, out_words = const("images_1", MAX_IMAGES), const("out_words", MAX_WORDS)
        col_tiles = const("col_tiles", MAX_TILES)
        images_2, in_words = const("images_2", MAX_IMAGES), const("in_words", MAX_WORDS)
        any_seq(m, dut.registers_done)
        second = Signal()  # the second packet's registers are in
        is_second = second | dut.registers_done & history.had()
        m.d.comb += [
            dut.regs["chain"].eq(Mux(is_second, 1, 2)),
            dut.regs["images"].eq(Mux(is_second, images_2, images_1)),
            dut.regs["in_words"].eq(in_words),
            dut.regs["col_tiles"].eq(col_tiles),
        ]
        # The first packet's registers_done in cycle 0; the second's once, after its output.
        tensors_out = Signal(range(MAX_IMAGES + 1))
        captured = Signal(range(MAX_IMAGES * MAX_WORDS + 1))
        m.d.comb += Assume(dut.registers_done == ~history.had() | (is_second & ~second))
        with m.If(dut.registers_done & history.had()):
            m.d.sync += second.eq(1)
            m.d.comb += Assume(tensors_out == images_1)

        m.submodules.buffer = buffer = Memory(shape=words, depth=2 * config.network_depth, init=[])
        connect_read(m, buffer.read_port(), dut.read)
        connect_write(m, buffer.write_port(), dut.write)

        # The first packet's output tensors: out_words pixels of col_tiles beats each, last on
        # the last beat. A pixel's beats make one word (col_tiles <= rows // cols).
        any_seq(m, dut.o.valid)
        any_seq(m, dut.o.payload.data)
        any_seq(m, dut.host_o.ready)
        pixel_in_tensor = Signal(range(MAX_WORDS + 1))
        tile = Signal(range(MAX_TILES + 1))
        m.d.comb += [
            Assume(~dut.o.valid | (history.had() & ~second & (tensors_out < images_1))),
            dut.o.payload.last.eq((pixel_in_tensor == out_words - 1) & (tile == col_tiles - 1)),
        ]
        sent_words = [Signal(words, name=f"captured_{k}") for k in range(MAX_IMAGES * MAX_WORDS)]
        o_fire = handshake(m, dut.o, "o_fire")
        with m.If(o_fire):
            m.d.comb += Assert(dut.o.ready & ~dut.host_o.valid, "an output word went to the host")
            for k, word in enumerate(sent_words):
                with m.If(captured == k):
                    for place in range(MAX_TILES):
                        with m.If(tile == place):
                            m.d.sync += word[place].eq(dut.o.payload.data[0])
            with m.If(tile == col_tiles - 1):
                m.d.sync += [tile.eq(0), captured.eq(captured + 1)]
                with m.If(dut.o.payload.last):
                    m.d.sync += [pixel_in_tensor.eq(0), tensors_out.eq(tensors_out + 1)]
                with m.Else():
                    m.d.sync += pixel_in_tensor.eq(pixel_in_tensor + 1)
            with m.Else():
                m.d.sync += tile.eq(tile + 1)

        # The second packet's replay.
        any_seq(m, dut.i.ready)
        # The host offers input only once the replay is on (which must not take it).
        any_seq(m, dut.host_i.valid)
        m.d.comb += Assume(second | ~dut.host_i.valid)
        assert_source_rules(m, history, dut.i, "i")
        i_fire = handshake(m, dut.i, "i_fire")
        replayed = Signal(range(MAX_IMAGES * MAX_WORDS + 2))
        word_of_tensor = Signal(range(MAX_WORDS + 1))
        total = Signal(range(MAX_IMAGES * MAX_WORDS + 1))
        m.d.comb += total.eq(images_2 * in_words)
        errors = Signal(range(4))
        with m.If(dut.error):
            m.d.sync += errors.eq(errors + 1)
        with m.If(second):
            m.d.comb += Assert(~dut.host_i.ready, "the host's input taken during the replay")
        with m.If(i_fire):
            m.d.comb += [
                Assert(second, "a word replayed before the second packet"),
                Assert(replayed < total, "more words replayed than the packet's tensors"),
                Assert(
                    dut.i.payload.last == (word_of_tensor == in_words - 1),
                    "last not on each tensor's last word only",
                ),
            ]
            for k, word in enumerate(sent_words):
                with m.If((replayed == k) & (k < captured)):
                    m.d.comb += Assert(
                        raw(dut.i.payload.data) == raw(word), "a replayed word is not the word held"
                    )
            m.d.sync += replayed.eq(replayed + 1)
            with m.If(dut.i.payload.last):
                m.d.sync += word_of_tensor.eq(0)
            with m.Else():
                m.d.sync += word_of_tensor.eq(word_of_tensor + 1)
            with m.If(replayed == total - 1):
                # The error pulsed with the last word's read, a cycle or more before.
                m.d.comb += Assert(
                    (errors == 1) == (total != captured), "error not exactly on a mismatch"
                )
        m.d.comb += Assert(errors <= 1, "error pulsed twice")
        m.d.comb += Cover(
            i_fire & (replayed == total - 1) & (total == MAX_IMAGES * MAX_WORDS) & (errors == 0),
            "the longest replay, to its last word",
        )
        return m
