from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..layer import REGISTERS, SHIFT_BITS, SIGNED_REGISTERS
from ._common import (
    Count,
    EnginePart,
    beat,
    constants_layout,
    register_layout,
    shift_in,
    write_port,
)

__all__ = ["ParamLoader"]

# The parameter packet's sections are counted from its last two register words.
assert REGISTERS[-2:] == ("bias_words", "weight_words"), REGISTERS


class ParamLoader(EnginePart):
    """Takes a layer's parameter packet: its registers, its biases and requantisation
    constants into the bias buffer, its weights into the weight buffer.

    The packet's format is :mod:`sysconv.hw.layer`'s: ``len(REGISTERS)`` register words, then
    ``bias_words`` words (per column tile ``cols`` biases, then ``cols`` requantisation words),
    then ``weight_words`` weight words.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    p : In(stream.Signature(StructLayout({"data": unsigned(config.param_width), "last": 1})))
        The packet. Ready exactly while ``active``: throughput one word a cycle.
    active : In(1)
        The engine is in its ``PARAMS`` phase. While low, the loader is back at a packet's
        first word (it starts the cycle after ``active`` rises).
    regs : Out(register_layout(config))
        The layer's registers, each from the cycle after its word; 0 from reset until the
        first packet writes them.
    bias_write : In(WritePort.Signature(...)) of the bias buffer
        One word a column tile (``constants_layout(config)``), written with the tile's last
        requantisation word.
    weight_write : In(WritePort.Signature(...)) of the weight buffer
        One word a weight word, in the cycle the word is taken, from address 0.
    first : Out(1)
        The packet's first word is taken in this cycle.
    registers_done : Out(1)
        The packet's last register word is taken in this cycle: ``regs`` hold the packet's
        values from the next cycle (and every register but ``weight_words`` already).
    setup_done : Out(1)
        The packet's last bias word (its last register word if it has no biases) is taken in
        this cycle: the registers, biases and requantisation constants are in from the next
        cycle, and only weight words follow.
    weights_written : Out(range(config.weight_depth + 1))
        The packet's weight words written so far (into addresses ``0`` to
        ``weights_written - 1``; a word taken in a cycle counts from the next).
    done : Out(1)
        The packet's last word (by its length, not its ``last``) is taken in this cycle.
    error : Out(1)
        A word is taken whose ``last`` is not set exactly on the packet's last word.
    """

    def __init__(self, config):
        self.check_parameters(config)
        super().__init__(
            config,
            {
                "p": In(stream.Signature(beat(unsigned(config.param_width)))),
                "active": In(1),
                "regs": Out(register_layout(config)),
                "bias_write": write_port(config.max_col_tiles, constants_layout(config)),
                "weight_write": write_port(
                    config.weight_depth, data.ArrayLayout(signed(8), config.cols)
                ),
                "first": Out(1),
                "registers_done": Out(1),
                "setup_done": Out(1),
                "weights_written": Out(range(config.weight_depth + 1)),
                "done": Out(1),
                "error": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        cols = cfg.cols
        limits = cfg.register_limits()

        # The registers, reset: the loop counters restart from them while their parts wait, so
        # before the first packet too; unknown values there would be harmless in silicon, but
        # a gate-level simulation's X would stay in the counters.
        reg = {
            name: Signal(
                signed(8) if name in SIGNED_REGISTERS else range(limits[name] + 1),
                name=f"reg_{name}",
            )
            for name in REGISTERS
        }
        m.d.comb += [self.regs[name].eq(reg[name]) for name in REGISTERS]

        p_fire = Signal()
        m.d.comb += [
            self.p.ready.eq(self.active),
            p_fire.eq(self.p.valid & self.p.ready),
        ]
        # Which part of the packet the next word is, in flip-flops: `in_registers`, then
        # `in_biases`, then the weights; their counts start when the last register word comes
        # (bias_words is in by then, weight_words is that word).
        p_word = Signal(range(len(REGISTERS) + 1))
        in_registers = Signal(init=1)
        in_biases = Signal()
        biases = Count(reg["bias_words"], "biases")
        weights = Count(reg["weight_words"], "weights")
        # A column tile's words: `cols` biases, then `cols` requantisation words.
        bias_lane = Signal(range(2 * cols))
        bias_second = Signal()  # bias_lane >= cols
        # bias_lane == 2 * cols - 1, a flip-flop (Fmax: the compare, after the handshake, into
        # the bias address's enable was the ECP5 engine alone's critical path on a seed).
        bias_final = Signal()
        bias_addr = Signal(range(max(cfg.max_col_tiles, 2)))
        bias_shift = Signal(data.ArrayLayout(signed(32), cols), reset_less=True)
        mult_shift = Signal(data.ArrayLayout(unsigned(cfg.mult_width), cols), reset_less=True)
        shift_shift = Signal(data.ArrayLayout(unsigned(SHIFT_BITS), cols), reset_less=True)
        weight_count = Signal(range(cfg.weight_depth + 1))
        bias_write, weight_write = self.bias_write, self.weight_write
        param = self.p.payload.data
        param_multiplier = param[: cfg.mult_width]
        param_shift = param[cfg.mult_width : cfg.mult_width + SHIFT_BITS]
        in_weights = ~in_registers & ~in_biases
        # The next word is the packet's last (in_weights & weights.last), a flip-flop worked
        # out a word ahead (Fmax: the phase flags through the handshake and this and into the
        # engine's sequencing was the ECP5 engine alone's critical path on two seeds).
        params_last = Signal()
        m.d.comb += [
            bias_write.addr.eq(bias_addr),
            bias_write.data.bias.eq(bias_shift),
            bias_write.data.multiplier.eq(shift_in(mult_shift, param_multiplier)),
            bias_write.data.shift.eq(shift_in(shift_shift, param_shift)),
            bias_write.en.eq(p_fire & in_biases & bias_final),
            weight_write.addr.eq(weight_count),
            weight_write.data.eq(param[: 8 * cols]),
            weight_write.en.eq(p_fire & in_weights),
            self.first.eq(p_fire & (p_word == 0)),
            self.registers_done.eq(p_fire & in_registers & (p_word == len(REGISTERS) - 1)),
            self.setup_done.eq(
                (self.registers_done & (reg["bias_words"] == 0))
                | (p_fire & in_biases & biases.last)
            ),
            self.weights_written.eq(weight_count),
            self.done.eq(p_fire & params_last),
            self.error.eq(p_fire & (self.p.payload.last != params_last)),
        ]
        # The counters are cleared while inactive (not on the cycle the phase is entered:
        # that would hang them on the handshake that ends the previous phase, a long path).
        with m.If(~self.active):
            m.d.sync += [
                p_word.eq(0),
                in_registers.eq(1),
                in_biases.eq(0),
                params_last.eq(0),
                bias_lane.eq(0),
                bias_final.eq(0),
                bias_second.eq(0),
                bias_addr.eq(0),
                weight_count.eq(0),
            ]
        with m.Elif(p_fire):
            with m.If(in_registers):
                for index, name in enumerate(REGISTERS):
                    with m.If(p_word == index):
                        m.d.sync += reg[name].eq(param)
                m.d.sync += p_word.eq(p_word + 1)
                with m.If(p_word == len(REGISTERS) - 1):
                    weight_words = param[: len(reg["weight_words"])]
                    m.d.sync += [
                        in_registers.eq(0),
                        in_biases.eq(reg["bias_words"] != 0),
                        params_last.eq((reg["bias_words"] == 0) & (weight_words == 1)),
                        *biases.restart(),
                        *weights.restart(weight_words),
                    ]
            with m.Elif(in_biases):
                m.d.sync += [
                    *biases.step(),
                    in_biases.eq(~biases.last),
                    params_last.eq(biases.last & weights.last),
                ]
                with m.If(bias_second):
                    m.d.sync += [
                        mult_shift.eq(shift_in(mult_shift, param_multiplier)),
                        shift_shift.eq(shift_in(shift_shift, param_shift)),
                    ]
                with m.Else():
                    m.d.sync += bias_shift.eq(shift_in(bias_shift, param[:32]))
                with m.If(bias_final):
                    m.d.sync += [
                        bias_lane.eq(0),
                        bias_final.eq(0),
                        bias_second.eq(0),
                        bias_addr.eq(bias_addr + 1),
                    ]
                with m.Else():
                    m.d.sync += [
                        bias_lane.eq(bias_lane + 1),
                        bias_final.eq(bias_lane == 2 * cols - 2),
                        bias_second.eq((bias_lane == cols - 1) | bias_second),
                    ]
            with m.Else():
                m.d.sync += [
                    weight_count.eq(weight_count + 1),
                    *weights.step(),
                    params_last.eq(weights.last_after_step()),
                ]
        return m
