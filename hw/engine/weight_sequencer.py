from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import (
    Count,
    EnginePart,
    after_skid,
    at_least,
    read_port,
    register_layout,
)

__all__ = ["WeightSequencer"]


class WeightSequencer(EnginePart):
    """Streams the layer's weight sets from the weight buffer into the array's weight port.

    The weight words go out in buffer order, ``rows`` beats a set, ``sets`` sets. A set's last
    beat (which switches the array's weight bank) waits until the window generator has sent
    every vector of the set before (``set_sent``); the other beats shift in while the array
    computes. While the parameter loader is still writing the layer's weights (``writing``,
    network mode), no word is read before it is written: the beat of word ``n`` is offered
    no earlier than the fourth cycle after the cycle its word was taken.

    Four stages, advancing together but for the last: the buffer's read, its output (the
    block RAM's own register), that output registered as it is, and the beat offered, a
    register of its own, with a skid register before it. The block RAM's output goes into
    flip-flops with no logic before them, which may sit beside it (on the ECP5 a DP16KD's
    output is valid 5.8 ns after the clock; into PE (0, 0)'s weight multiplexer, and into the
    beat's multiplexer, it was the engine alone's critical path on a seed), and the array's
    ready reaches only the beat's register and the skid register's flag, not the counters and
    the read (the iCE40 engine's critical path on two seeds). The stages run ahead, so the
    array sees a beat a cycle as soon as it may take one.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``COMPUTE`` phase. While low, everything holds its start value
        for the next layer; the first beat is offered in the fourth cycle of ``active``.
    regs : In(register_layout(config))
        The layer's registers (``sets``).
    read : In(ReadPort.Signature(...)) of the weight buffer
        A registered port (:meth:`~sysconv.hw.ram.BlockRAM.read_port` with ``registered``):
        its output register is the sequencer's second stage. Read up to three words ahead of
        the beat offered: latency three cycles from address to beat. A word read before it
        is written (while ``writing``) is not used.
    o : Out(stream.Signature(ArrayLayout(signed(8), cols)))
        Weight beats, for the array's ``w``, from registers. Throughput one beat a cycle while
        ``o.ready`` (and a set's last beat not held back); valid held and payload steady until
        taken.
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
        words = data.ArrayLayout(signed(8), cfg.cols)
        set_shape = range(max_sets + 1)

        # The loop counter keeps its "at the last value" as a flip-flop worked out a step
        # ahead (`Count`), and the condition on which the stream waits is kept the same way
        # (`w_go`): no compare between a register and the enables it drives (Fmax).
        vec_sets_sent = Signal(set_shape)  # sets whose vectors are all in the array
        w_addr = Signal(range(cfg.weight_depth + 1))
        w_beat = Signal(range(max(rows, 2)))
        w_set = Count(reg["sets"], "w_set", set_shape)
        w_more = Signal()  # w_set < sets
        # The word at w_addr is in the buffer (the reads never pass the writes: w_addr is at
        # most `written`, and reads it once it is more).
        w_written = Signal()
        w_read = Signal()  # w_addr is read in this cycle
        advance = Signal()  # the stages before `held` and `out` advance
        # The stages: `rd_*` the block RAM's output (its word read last time `advance` was
        # high), `got_*` that output registered (the read port's own register: on the ECP5
        # the DP16KDs', Fmax), `held_*` the skid register, `out_*` the beat offered. The
        # buffer reads whenever the stages advance, so that its register moves with them; a
        # word not yet written is read as such and marked not valid.
        rd_valid = Signal()
        rd_final = Signal(reset_less=True)  # a set's last beat
        rd_set = Signal(set_shape, reset_less=True)
        got_valid = Signal()
        got_data = self.read.data
        got_final = Signal(reset_less=True)
        got_set = Signal(set_shape, reset_less=True)
        held_valid = Signal()
        held_data = Signal(words, reset_less=True)
        held_final = Signal(reset_less=True)
        held_set = Signal(set_shape, reset_less=True)
        out_valid = Signal()
        out_data = Signal(words, reset_less=True)
        out_final = Signal(reset_less=True)
        out_set = Signal(set_shape, reset_less=True)
        # The set of the beat offered is 0, or its previous set's vectors are all in:
        # (out_set == 0) | (vec_sets_sent >= out_set).
        w_go = Signal(init=1)
        w_fire = Signal()
        take = Signal()  # `out` takes the next word
        m.d.comb += [
            w_fire.eq(self.o.valid & self.o.ready),
            take.eq(~out_valid | w_fire),
            advance.eq(~held_valid),
            w_written.eq(~self.writing | (w_addr != self.written)),
            w_read.eq(advance & w_more & w_written),
            self.read.addr.eq(w_addr),
            self.read.en.eq(advance),
            self.o.payload.eq(out_data),
            # A set's last beat switches the array's bank: only once the previous set's
            # vectors are all in.
            self.o.valid.eq(out_valid & (~out_final | w_go)),
            self.set_done.eq(w_fire & out_final),
        ]

        # The stream condition, a cycle ahead, from the count as it will be: the compare is
        # made on registers for every case, and this cycle's handshakes only pick one (a
        # count goes up by at most 1, and the set compared is kept or replaced).
        set_sent = self.set_sent

        def go(beat_set):
            return (beat_set == 0) | at_least(vec_sets_sent, set_sent, beat_set)

        w_go_next = Mux(take, go(Mux(held_valid, held_set, got_set)), go(out_set))

        with m.If(~self.active):
            m.d.sync += [
                rd_valid.eq(0),
                got_valid.eq(0),
                held_valid.eq(0),
                out_valid.eq(0),
                w_addr.eq(0),
                w_beat.eq(0),
                *w_set.restart(),
                w_more.eq(reg["sets"] != 0),
                w_go.eq(1),
                vec_sets_sent.eq(0),
            ]
        with m.Else():
            m.d.sync += [
                vec_sets_sent.eq(vec_sets_sent + set_sent),
                w_go.eq(w_go_next),
            ]
            with m.If(advance):
                m.d.sync += [
                    rd_valid.eq(w_read),
                    rd_final.eq(w_beat == rows - 1),
                    rd_set.eq(w_set.value),
                    got_valid.eq(rd_valid),
                    got_final.eq(rd_final),
                    got_set.eq(rd_set),
                ]
                with m.If(w_read):
                    m.d.sync += w_addr.eq(w_addr + 1)
                    with m.If(w_beat == rows - 1):
                        m.d.sync += [w_beat.eq(0), *w_set.step(), w_more.eq(~w_set.last)]
                    with m.Else():
                        m.d.sync += w_beat.eq(w_beat + 1)
            after_skid(
                m,
                held_valid,
                take,
                got_valid,
                out_valid,
                [
                    (out_data, held_data, got_data),
                    (out_final, held_final, got_final),
                    (out_set, held_set, got_set),
                ],
            )
        return m
