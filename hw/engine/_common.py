"""What the engine's parts share: the layer's register file as a layout, the stream beat with
``last``, the column tile's constants, memory port signatures, the loop counter, the skid
register's update (:func:`skid`) and that of the register after it (:func:`after_skid`)."""

from amaranth.hdl import Cat, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In
from amaranth.utils import ceil_log2

from ..layer import REGISTERS, SHIFT_BITS, SIGNED_REGISTERS, EngineConfig

__all__ = [
    "EnginePart",
    "at_least",
    "after_skid",
    "Count",
    "beat",
    "check_config",
    "connect_read",
    "connect_write",
    "constants_layout",
    "read_port",
    "register_layout",
    "shift_in",
    "skid",
    "write_port",
]


def check_config(config):
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")


class EnginePart(wiring.Component):
    """A part of the engine, built for one :class:`~sysconv.hw.layer.EngineConfig`: a part's
    ``__init__`` checks it (:meth:`check_parameters`) before working out its signature's
    ``members`` from it, and passes both here."""

    def __init__(self, config, members):
        self._config = config
        super().__init__(members)

    @classmethod
    def check_parameters(cls, config):
        check_config(config)

    config = property(lambda self: self._config)


def at_least(count, step, bound):
    """``count + step >= bound`` (``step`` 0 or 1), as two compares on registers that ``step``
    picks between: the stream conditions worked out a cycle ahead."""
    return Mux(step, count + 1 >= bound, count >= bound)


def skid(m, held_valid, taken, offered, pairs):
    """A skid register's updates (``m.d.sync``, in the enclosing condition): while it holds a
    word (``held_valid``) it empties when that word is ``taken``; while empty it takes the
    ``(register, value)`` ``pairs`` of the word ``offered`` (valid) and not ``taken``, so that
    what feeds it advances whenever it is empty."""
    with m.If(held_valid):
        m.d.sync += held_valid.eq(~taken)
    with m.Else():
        m.d.sync += [held_valid.eq(offered & ~taken), *(reg.eq(value) for reg, value in pairs)]


def after_skid(m, held_valid, taken, offered, out_valid, fields, *, skid_buffer=True):
    """The register after a skid register, and the skid register (``m.d.sync``, in the
    enclosing condition): while ``taken`` the register takes the skid register's word if it
    holds one, else the word ``offered`` (valid); with ``skid_buffer``, the skid register's
    updates (:func:`skid`). ``fields`` are ``(register, held, offered)`` triples."""
    with m.If(taken):
        m.d.sync += [
            out_valid.eq(held_valid | offered),
            *(reg.eq(Mux(held_valid, held, value)) for reg, held, value in fields),
        ]
    if skid_buffer:
        skid(m, held_valid, taken, offered, [(held, value) for _reg, held, value in fields])


def beat(lanes_shape):
    """A stream beat: ``data`` and ``last`` (on a packet's or tensor's last beat)."""
    return data.StructLayout({"data": lanes_shape, "last": 1})


def register_layout(config):
    """The layer's registers (:data:`~sysconv.hw.layer.REGISTERS`) as one struct, each field as
    wide as its largest value on ``config`` (int8 for the zero points)."""
    limits = config.register_limits()
    return data.StructLayout(
        {
            name: signed(8) if name in SIGNED_REGISTERS else range(limits[name] + 1)
            for name in REGISTERS
        }
    )


def constants_layout(config):
    """A column tile's biases and requantisation constants: one word of the bias buffer."""
    cols = config.cols
    return data.StructLayout(
        {
            "bias": data.ArrayLayout(signed(32), cols),
            "multiplier": data.ArrayLayout(unsigned(config.mult_width), cols),
            "shift": data.ArrayLayout(unsigned(SHIFT_BITS), cols),
        }
    )


def read_port(depth, shape):
    """A component's member for a synchronous read port of a ``depth``-word buffer: ``addr``
    and ``en`` out, ``data`` (the word ``addr`` held one cycle after ``en``) in."""
    return In(ReadPort.Signature(addr_width=ceil_log2(depth), shape=shape))


def write_port(depth, shape):
    """A component's member for a write port of a ``depth``-word buffer: ``addr``, ``data``,
    ``en``, all out."""
    return In(WritePort.Signature(addr_width=ceil_log2(depth), shape=shape))


def connect_read(m, port, member):
    """Drive the buffer's read ``port`` from a component's read ``member``."""
    m.d.comb += [port.addr.eq(member.addr), port.en.eq(member.en), member.data.eq(port.data)]


def connect_write(m, port, member):
    """Drive the buffer's write ``port`` from a component's write ``member``."""
    m.d.comb += [port.addr.eq(member.addr), port.en.eq(member.en), port.data.eq(member.data)]


def shift_in(lanes, value):
    """``lanes`` (an ArrayLayout view) moved down by one lane, ``value`` entering the top."""
    layout = lanes.shape()
    return data.View(layout, Cat(*(lanes[k] for k in range(1, layout.length)), value))


class Count:
    """A loop counter of the layer, ``length`` steps and round again (``length`` a layer
    register, at least 1, steady while the counter runs). It counts down what is left, and
    keeps ``last`` (at the last step) in a flip-flop worked out a step ahead, ``left == 1``:
    nothing adds to or compares with the layer's registers on the way to what ``last``
    drives (Fmax). With ``lookahead``, what ``last`` becomes at the next step
    (:meth:`last_after_step`) is a flip-flop too, worked out two steps ahead (Fmax: the
    window generator's nested ends had a compare of each count before them, the iCE40 engine
    alone's critical path on two seeds; a flip-flop and two compares more, so only where a
    counter's next step's end is used). ``value`` (0 to ``length - 1``, up) only if
    ``shape`` is given."""

    def __init__(self, length, name, shape=None, *, lookahead=False):
        self._length = length
        self.left = Signal(len(length), name=f"{name}_left")
        self.last = Signal(name=f"{name}_last")
        self._next_last = Signal(name=f"{name}_next_last") if lookahead else None
        self.value = None if shape is None else Signal(shape, name=name)

    def restart(self, length=None):
        """Back to the first step; ``length`` (default the register) if the register is only
        being written now."""
        length = self._length if length is None else length
        statements = [self.left.eq(length - 1), self.last.eq(length == 1)]
        if self._next_last is not None:
            statements.append(self._next_last.eq((length == 1) | (length == 2)))
        if self.value is not None:
            statements.append(self.value.eq(0))
        return statements

    def last_after_step(self):
        """What ``last`` becomes when the counter steps (with ``lookahead``, a flip-flop)."""
        if self._next_last is not None:
            return self._next_last
        return Mux(self.last, self._length == 1, self.left == 1)

    def step(self):
        statements = [
            self.left.eq(Mux(self.last, self._length - 1, self.left - 1)),
            self.last.eq(self.last_after_step()),
        ]
        if self._next_last is not None:
            # After this step `left` is `length - 1` (at the last step) or `left - 1`; the
            # step after it is the last if that is 1.
            statements.append(
                self._next_last.eq(
                    Mux(
                        self._next_last,
                        self._length == 1,
                        Mux(self.last, self._length == 2, self.left == 2),
                    )
                )
            )
        if self.value is not None:
            statements.append(self.value.eq(Mux(self.last, 0, self.value + 1)))
        return statements
