from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import Count, EnginePart, at_least, read_port, register_layout

__all__ = ["WeightSequencer"]


class WeightSequencer(EnginePart):
    """Streams the layer's weight sets from the weight buffer into the array's weight port.

    The weight words go out in buffer order, ``rows`` beats a set, ``sets`` sets. A set's last
    beat (which switches the array's weight bank) waits until the window generator has sent
    every vector of the set before (``set_sent``); the other beats shift in while the array
    computes. While the parameter loader is still writing the layer's weights (``writing``,
    network mode), no word is read before it is written: the beat of word ``n`` is offered
    no earlier than the second cycle after the cycle its word was taken.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``COMPUTE`` phase. While low, everything holds its start value
        for the next layer; the first beat is offered in the second cycle of ``active``.
    regs : In(register_layout(config))
        The layer's registers (``sets``).
    read : In(ReadPort.Signature(...)) of the weight buffer
        The buffer is read a word ahead of the beat offered: the payload is the block RAM's
        output (latency one cycle from address to beat).
    o : Out(stream.Signature(ArrayLayout(signed(8), cols)))
        Weight beats, for the array's ``w``. Throughput one beat a cycle while ``o.ready``
        (and a set's last beat not held back); valid held and payload steady until taken.
    set_sent : In(1)
        The window generator sent a set's last vector into the array in this cycle.
    set_done : Out(1)
        A set's last beat is taken in this cycle.
    writing : In(1)
        The parameter loader is writing the layer's weights into the buffer. Tie to 0 where the
        weights are all in before ``active`` rises.
    written : In(range(config.weight_depth + 1))
        While ``writing``: the words written so far (:attr:`.ParamLoader.weights_written`);
        the words from address ``written`` on are not read.
    """

    def __init__(self, config):
        self.check_parameters(config)
        words = data.ArrayLayout(signed(8), config.cols)
        super().__init__(
            config,
            {
                "active": In(1),
                "regs": In(register_layout(config)),
                "read": read_port(config.weight_depth, words),
                "o": Out(stream.Signature(words)),
                "set_sent": In(1),
                "set_done": Out(1),
                "writing": In(1),
                "written": In(range(config.weight_depth + 1)),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        rows = cfg.rows
        max_sets = cfg.register_limits()["sets"]

        # The loop counter keeps its "at the last value" as a flip-flop worked out a step
        # ahead (`Count`), and the condition on which the stream waits is kept the same way
        # (`w_go`): no compare between a register and the enables it drives (Fmax).
        vec_sets_sent = Signal(range(max_sets + 1))  # sets whose vectors are all in the array
        w_addr = Signal(range(cfg.weight_depth + 1))
        w_beat = Signal(range(max(rows, 2)))
        w_set = Count(reg["sets"], "w_set", range(max_sets + 1))
        w_more = Signal()  # w_set < sets
        w_valid = Signal()
        w_final = Signal()
        w_valid_set = Signal(range(max_sets + 1))
        # The set of the beat offered is 0, or its previous set's vectors are all in:
        # (w_valid_set == 0) | (vec_sets_sent >= w_valid_set).
        w_go = Signal(init=1)
        w_fire = Signal()
        w_advance = Signal()
        # The word at w_addr is in the buffer (the reads never pass the writes: w_addr is at
        # most `written`, and reads it once it is more).
        w_written = Signal()
        w_read = Signal()  # w_addr is read in this cycle
        m.d.comb += [
            w_fire.eq(self.o.valid & self.o.ready),
            w_advance.eq(~w_valid | w_fire),
            w_written.eq(~self.writing | (w_addr != self.written)),
            w_read.eq(w_advance & w_more & w_written),
            self.read.addr.eq(w_addr),
            self.read.en.eq(w_advance & w_written),
            self.o.payload.eq(self.read.data),
            # A set's last beat switches the array's bank: only once the previous set's
            # vectors are all in.
            self.o.valid.eq(w_valid & (~w_final | w_go)),
            self.set_done.eq(w_fire & w_final),
        ]

        # The stream condition, a cycle ahead, from the count as it will be: the compare is
        # made on registers for every case, and this cycle's handshakes only pick one (a
        # count goes up by at most 1, and the set compared is kept or replaced).
        set_sent = self.set_sent

        w_go_next = Mux(
            w_advance,
            (w_set.value == 0) | at_least(vec_sets_sent, set_sent, w_set.value),
            (w_valid_set == 0) | at_least(vec_sets_sent, set_sent, w_valid_set),
        )

        with m.If(~self.active):
            m.d.sync += [
                w_valid.eq(0),
                w_addr.eq(0),
                w_beat.eq(0),
                *w_set.restart(),
                w_more.eq(reg["sets"] != 0),
                w_valid_set.eq(0),
                w_go.eq(1),
                vec_sets_sent.eq(0),
            ]
        with m.Else():
            m.d.sync += [
                vec_sets_sent.eq(vec_sets_sent + set_sent),
                w_go.eq(w_go_next),
            ]
            with m.If(w_advance):
                m.d.sync += [
                    w_valid.eq(w_read),
                    w_final.eq(w_beat == rows - 1),
                    w_valid_set.eq(w_set.value),
                ]
                with m.If(w_read):
                    m.d.sync += w_addr.eq(w_addr + 1)
                    with m.If(w_beat == rows - 1):
                        m.d.sync += [w_beat.eq(0), *w_set.step(), w_more.eq(~w_set.last)]
                    with m.Else():
                        m.d.sync += w_beat.eq(w_beat + 1)
        return m
