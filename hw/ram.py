import contextlib

from amaranth.hdl import (
    Cat,
    ClockSignal,
    Const,
    Elaboratable,
    Instance,
    Module,
    Mux,
    Shape,
    Signal,
    Value,
    unsigned,
)
from amaranth.lib.memory import Memory

from .family import is_ecp5

__all__ = ["BLOCK_RAM_BITS", "BlockRAM", "dp16kd_columns", "poisoned_collisions"]

# A block RAM's bits: one DP16KD of the ECP5 (in its 1-, 2- or 4-bit-wide modes), four
# SB_RAM40_4K of the iCE40.
BLOCK_RAM_BITS = 16384

# A DP16KD's data widths and, for each, the address pins below the word address (in the
# 18-bit mode the lowest two are port A's byte write enables).
_DP16KD_SHIFT = {1: 0, 2: 1, 4: 2, 9: 3, 18: 4}

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

    A port made with ``read_port(registered=True)`` has a second register after the read:
    on the ECP5 (``platform.family == "ecp5"``), for a memory with one write port and that
    read port, the memory is DP16KDs instantiated here with their output register on
    (``REGMODE_B "OUTREG"``): their outputs are valid 0.96 ns after the clock, against 5.83
    ns without (nextpnr-ecp5's timing), and Yosys's DP16KD mapping never enables the
    register (``share/lattice/brams_map_16kd.v`` writes ``NOREG``). Elsewhere the register
    is a flip-flop after the read, the same cycle for cycle.

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

    def read_port(self, *, registered=False):
        """A port with inputs ``addr`` and ``en`` (init 1) and output ``data``, the word at
        ``addr`` one cycle after ``en``, held while ``en`` is low. With ``registered``, two
        stages, both advancing only in cycles with ``en``: the read, then a register, so that
        ``data`` is the word read in the last cycle with ``en`` before the latest (a word is
        out after two cycles with ``en``; the register holds 0 until then)."""
        port = _Port(self._shape, self._depth, en_init=1, registered=registered)
        self._reads.append(port)
        return port

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        if (
            is_ecp5(platform)
            and len(self._writes) == 1
            and len(self._reads) == 1
            and self._reads[0].registered
        ):
            self._dp16kd(m, width)
            return m
        step = self._slice_width(width)
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
            if port.registered:
                registered = Signal(width, name=f"read_{k}_reg", reset_less=True)
                with m.If(port.en):
                    m.d.sync += registered.eq(word)
                word = registered
            m.d.comb += port.data.eq(word)
        return m

    def _slice_width(self, width):
        """The bits of a word in each slice: with ``sliced``, as many as a block RAM holds at
        the depth (a power of two), else all ``width``."""
        fit = 1 << max((BLOCK_RAM_BITS // self._depth).bit_length() - 1, 0)
        return fit if self._sliced and fit < width else width

    def _dp16kd(self, m, width):
        """The memory as DP16KD columns per slice (:func:`dp16kd_columns`): port A writes,
        port B reads into its output register, both enabled by the read's ``en``."""
        (write,), (read,) = self._writes, self._reads
        step = self._slice_width(width)
        data = Value.cast(write.data)
        word = Signal(width)
        for k, low in enumerate(range(0, width, step)):
            high = min(low + step, width)
            for c, (bits, mode) in enumerate(dp16kd_columns(high - low, self._depth)):
                shift = _DP16KD_SHIFT[mode]
                ports = {
                    "p_DATA_WIDTH_A": mode,
                    "p_DATA_WIDTH_B": mode,
                    "p_REGMODE_A": "NOREG",
                    "p_REGMODE_B": "OUTREG",
                    "p_RESETMODE": "SYNC",
                    "p_ASYNC_RESET_RELEASE": "SYNC",
                    "p_CSDECODE_A": "0b000",
                    "p_CSDECODE_B": "0b000",
                    "p_WRITEMODE_A": "NORMAL",
                    "p_WRITEMODE_B": "NORMAL",
                    "p_GSR": "DISABLED",
                    "i_CLKA": ClockSignal("sync"),
                    "i_CLKB": ClockSignal("sync"),
                    "i_CEA": Const(1),
                    "i_OCEA": Const(1),
                    "i_WEA": write.en,
                    "i_RSTA": Const(0),
                    "i_CEB": read.en,
                    "i_OCEB": read.en,
                    "i_WEB": Const(0),
                    "i_RSTB": Const(0),
                }
                for pin in range(3):
                    ports[f"i_CSA{pin}"] = ports[f"i_CSB{pin}"] = Const(0)
                for pin in range(14):
                    bit = pin - shift
                    if 0 <= bit < len(read.addr):
                        ports[f"i_ADA{pin}"], ports[f"i_ADB{pin}"] = write.addr[bit], read.addr[bit]
                    else:  # below the word address; in the 18-bit mode port A's byte enables
                        ports[f"i_ADA{pin}"] = Const(int(mode == 18 and pin < 2))
                        ports[f"i_ADB{pin}"] = Const(0)
                base = low + c * mode
                for pin in range(mode):
                    ports[f"i_DIA{pin}"] = data[base + pin] if pin < bits else Const(0)
                    if pin < bits:
                        ports[f"o_DOB{pin}"] = word[base + pin]
                name = f"slice_{k}" if step < width else "memory"
                m.submodules[f"{name}_{c}"] = Instance("DP16KD", **ports)
        m.d.comb += read.data.eq(word)


def dp16kd_columns(width, depth):
    """The DP16KDs side by side that hold ``depth`` words of ``width`` bits: a list of
    ``(bits, mode)``, each block's share of the word and its data width (1, 2, 4, 9 or 18),
    the mode with the fewest blocks (then the narrowest) among those ``depth`` words fit.
    ValueError past 16384 words (a DP16KD's most, in its 1-bit mode)."""
    modes = [mode for mode, shift in _DP16KD_SHIFT.items() if depth <= BLOCK_RAM_BITS >> shift]
    if not modes:
        raise ValueError(f"a DP16KD holds at most {BLOCK_RAM_BITS} words, not {depth}")
    mode = min(modes, key=lambda mode: (-(-width // mode), mode))
    return [(min(mode, width - low), mode) for low in range(0, width, mode)]


class _Port:
    """The address, enable and data of a :class:`BlockRAM` port."""

    def __init__(self, shape, depth, *, en_init, registered=False):
        self.addr = Signal(range(depth))
        self.en = Signal(init=en_init)
        self.data = Signal(shape)
        self.registered = registered
