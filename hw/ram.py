import contextlib

from amaranth.hdl import Cat, Elaboratable, Module, Mux, Shape, Signal, Value, unsigned
from amaranth.lib.memory import Memory

__all__ = ["BLOCK_RAM_BITS", "BlockRAM", "poisoned_collisions"]

# A block RAM's bits: one DP16KD of the ECP5 (in its 1-, 2- or 4-bit-wide modes), four
# SB_RAM40_4K of the iCE40.
BLOCK_RAM_BITS = 16384

_poisoned = False


@contextlib.contextmanager
def poisoned_collisions():
    """Within the ``with`` block, a :class:`BlockRAM` elaborates with a read that met a write
    to its address reading the complement of the stored word: a simulation that still matches
    the golden model shows that the design never uses such a read, whose data the hardware
    leaves undefined. No effect on a design elaborated outside the block."""
    global _poisoned
    saved, _poisoned = _poisoned, True
    try:
        yield
    finally:
        _poisoned = saved


class BlockRAM(Elaboratable):
    """``depth`` words of ``shape``, no initial contents, with write ports and synchronous read
    ports (made with :meth:`write_port` and :meth:`read_port`, before elaboration) for block
    RAM.

    Contract: a read whose address a write port writes in the same cycle returns undefined
    data, and its user must not use it. The memories carry Yosys' ``no_rw_check``, so that
    Yosys does not emulate the read-old-data behaviour of Verilog with flip-flops on the write
    data and an address compare after the block RAM's output (on the ECP5, 19 flip-flops and
    16 LUTs a DP16KD, and the engine's critical path). Yosys's Verilog frontend turns the
    attribute into the read ports' ``COLLISION_X_MASK``; the builds read RTLIL, where
    :func:`~sysconv.hw.verilog.no_rw_check` sets the mask (in :func:`~sysconv.hw.verilog.to_rtlil`
    and on the board tops' build plans). Simulation of the Verilog still reads
    the old data; elaborated within :func:`poisoned_collisions`, it reads the complement, so
    that a use of such a read shows up as a mismatch.

    With ``sliced``, the words are kept in bit slices (submodules ``slice_0``, ...), each as
    narrow as a block RAM holds at the depth. A memory deeper than a block RAM holds is
    otherwise built of block RAMs stacked in depth, with a multiplexer after their outputs: on
    the ECP5 a DP16KD's output is valid 5.6 ns after the clock, which leaves no time for that
    multiplexer at 100 MHz. (Yosys chooses the block RAMs' aspect ratio by cost; slicing is
    how to ask for the narrow, deep ones.) Without, one memory, submodule ``memory``.
    """

    def __init__(self, *, shape, depth, sliced):
        self._shape, self._depth, self._sliced = shape, depth, sliced
        self._writes, self._reads = [], []

    def write_port(self):
        """A port with ``addr``, ``data`` and ``en`` (init 0), all inputs."""
        port = _Port(self._shape, self._depth, en_init=0)
        self._writes.append(port)
        return port

    def read_port(self):
        """A port with inputs ``addr`` and ``en`` (init 1) and output ``data``, the word at
        ``addr`` one cycle after ``en``, held while ``en`` is low."""
        port = _Port(self._shape, self._depth, en_init=1)
        self._reads.append(port)
        return port

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        fit = 1 << max((BLOCK_RAM_BITS // self._depth).bit_length() - 1, 0)
        step = fit if self._sliced and fit < width else width
        words = [Signal(width, name=f"read_{k}") for k in range(len(self._reads))]
        for k, low in enumerate(range(0, width, step)):
            high = min(low + step, width)
            m.submodules[f"slice_{k}" if step < width else "memory"] = memory = Memory(
                shape=unsigned(high - low), depth=self._depth, init=[], attrs={"no_rw_check": 1}
            )
            for port in self._writes:
                write = memory.write_port()
                m.d.comb += [
                    write.addr.eq(port.addr),
                    write.en.eq(port.en),
                    write.data.eq(Value.cast(port.data)[low:high]),
                ]
            for port, word in zip(self._reads, words, strict=True):
                read = memory.read_port()
                m.d.comb += [
                    read.addr.eq(port.addr),
                    read.en.eq(port.en),
                    word[low:high].eq(read.data),
                ]
        for k, (port, word) in enumerate(zip(self._reads, words, strict=True)):
            if _poisoned:
                met = Signal(name=f"read_{k}_met")
                with m.If(port.en):
                    m.d.sync += met.eq(
                        Cat(*(w.en & (w.addr == port.addr) for w in self._writes)).any()
                    )
                word = Mux(met, ~word, word)
            m.d.comb += port.data.eq(word)
        return m


class _Port:
    """The address, enable and data of a :class:`BlockRAM` port."""

    def __init__(self, shape, depth, *, en_init):
        self.addr = Signal(range(depth))
        self.en = Signal(init=en_init)
        self.data = Signal(shape)
