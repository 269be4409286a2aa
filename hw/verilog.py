"""Verilog and RTLIL generation for sysconv's components."""

import re
from contextlib import contextmanager

from amaranth.back import rtlil, verilog
from amaranth.hdl import Const, ValueCastable

__all__ = [
    "LOCAL",
    "LOCAL_FLIP_FLOPS",
    "KEEP_LOCAL",
    "HIDE_ELEMENT_NAMES",
    "AFTER_READ",
    "to_verilog",
    "to_rtlil",
    "no_rw_check",
]

# A register of one PE's own (``Signal(attrs=LOCAL)``), which the PE's neighbours read and no PE
# further away. The array's weight-bank tags are such registers: PE (r, c)'s tag is the array's
# bank delayed r + c + 1 cycles, the same on every anti-diagonal, and Yosys's opt_merge would
# keep one flip-flop per diagonal and fan it out across the array (on the ECP5, a critical path
# from a tag to a PE rows and columns away). opt_merge leaves apart cells marked ``keep``;
# Amaranth puts a signal's attributes on its wire, so :data:`KEEP_LOCAL`, a Yosys command for
# after ``read_rtlil`` (before synthesis flattens the design), marks the flip-flop that drives
# each such wire.
_LOCAL = "sysconv_local"

#: The attributes of a register read by its own PE and its neighbours only.
LOCAL = {_LOCAL: 1}
#: The Yosys selection of the flip-flops that drive :data:`LOCAL` registers' wires.
LOCAL_FLIP_FLOPS = f"a:{_LOCAL} %ci1:+$dff[Q] t:$dff %i"
#: The Yosys command, after ``read_rtlil``, that keeps each :data:`LOCAL` register apart.
KEEP_LOCAL = f"setattr -set keep 1 {LOCAL_FLIP_FLOPS}"

# Amaranth names a wire for each element of an array (``bias_shift[3]``) beside the whole
# (``bias_shift``). ABC9 (Yosys 0.70's ``synth_ecp5``) names each bit it maps by its wire and
# index, ``name[index]`` (``name`` for index 0), and its reintegration joins equal names and
# rebuilds wide wires from them: in the ULX3S board top with the requantiser's products in DSP
# blocks, bit 3 of ``core.engine.params.bias_shift`` and bit 0 of its element
# ``bias_shift[3]`` were both ``bias_shift[3]``, and Yosys stopped on "Assert
# `GetSize(conn.first) == GetSize(conn.second)' failed".
#: The Yosys command, after ``read_rtlil``, that makes private (``$``-named) every wire whose
#: name ends in ``]``, ports excepted, so that no such name reaches ABC9.
HIDE_ELEMENT_NAMES = "rename -hide w:*]"
#: What the board and engine builds run after ``read_rtlil``.
AFTER_READ = f"{KEEP_LOCAL}\n{HIDE_ELEMENT_NAMES}"


def _ports(component):
    # Amaranth 0.5 (amaranth-lang/amaranth#1574) takes the Const(1) of an always_ready or
    # always_valid stream for a port; ports are listed here without those constants.
    ports = []
    for _path, _member, value in component.signature.flatten(component):
        value = value.as_value() if isinstance(value, ValueCastable) else value
        if not isinstance(value, Const):
            ports.append(value)
    return ports


@contextmanager
def _zero_init(*, emit):
    """Amaranth 0.5 writes a memory's initial contents as one constant net per bit: 3 million
    for the engine's default limits, 25 s of the 8x8 engine's conversion, where every memory
    of sysconv's starts all zero. Within this context, such a memory's ``$meminit_v2`` cell
    is written as one constant string (the same RTLIL text) if ``emit``, else left out (for
    :func:`to_verilog`, which clears the memory with a loop). Memories with other contents
    are written by Amaranth's own emitter. Amaranth is pinned to 0.5.x (pyproject.toml);
    tests/test_verilog.py holds both forms to Amaranth's unpatched output."""
    original = rtlil.ModuleEmitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            return original(self, cell_idx, cell)
        if not emit:
            return
        bits = cell.width * cell.depth
        self.builder.cell(
            "$meminit_v2",
            ports={
                "ADDR": self.sigspec(),
                "DATA": f"{bits}'{'0' * bits}",
                "EN": f"{cell.width}'{'1' * cell.width}",
            },
            parameters={
                "MEMID": self.memories[cell_idx].memid,
                "ABITS": 0,
                "WIDTH": cell.width,
                "WORDS": cell.depth,
                "PRIORITY": 0,
            },
            src_loc=cell.src_loc,
        )

    rtlil.ModuleEmitter.emit_memory = emit_memory
    try:
        yield
    finally:
        rtlil.ModuleEmitter.emit_memory = original


def to_verilog(component, name, *, platform=None):
    """Reproducible Verilog for ``component`` with top module ``name``: no source locations,
    no local paths. ``platform`` is passed to ``elaborate`` (vendor primitives: the ECP5 PE's
    DSP block). A memory that starts all zero is cleared by a loop in a named ``initial``
    block, where Yosys would write a line a word (222,000 of the 8x8 engine's 241,000 lines,
    which every Verilog reader pays for)."""
    with _zero_init(emit=False):
        text = verilog.convert(
            component, name=name, emit_src=False, ports=_ports(component), platform=platform
        )
    return _clear_uninitialised_memories(text)


_MODULE = re.compile(r"^module .*?^endmodule$", re.M | re.S)
_MEMORY = re.compile(r"^  reg (?:\[(\d+):0\] )?(\S+) +\[(\d+):0\];$", re.M)
_INITIALISED = re.compile(r"^    (\S+) ?\[\d+\] = ", re.M)


def _clear_uninitialised_memories(text):
    # Yosys declares a memory as `reg [W-1:0] name [D-1:0];` (an escaped name ends in a space)
    # and writes the words of one with initial contents as `name[i] = ...;` lines.
    def module(match):
        initialised = set(_INITIALISED.findall(match[0]))
        return _MEMORY.sub(lambda memory: _zero_loop(memory, initialised), match[0])

    return _MODULE.sub(module, text)


def _zero_loop(memory, initialised):
    top, name, last = memory.groups()
    if name in initialised:
        return memory[0]
    width = int(top or 0) + 1
    escaped = name.startswith("\\")  # and ends at a space
    label, word = (f"{name}__zero ", f"{name} [i]") if escaped else (f"{name}__zero", f"{name}[i]")
    return "\n".join(
        [
            memory[0],
            f"  initial begin : {label}",
            "    integer i;",
            f"    for (i = 0; i < {int(last) + 1}; i = i + 1) {word} = {{{width}{{1'b0}}}};",
            "  end",
        ]
    )


def to_rtlil(component, name, *, platform=None):
    """The same design as :func:`to_verilog`, in Yosys's RTLIL, for a Yosys flow: a memory's
    initial contents are one ``$meminit_v2`` cell, and the read ports of a memory with the
    ``no_rw_check`` attribute have their ``COLLISION_X_MASK`` set (a read that meets a write
    is undefined)."""
    with _zero_init(emit=True):
        text = rtlil.convert(
            component, name=name, emit_src=False, ports=_ports(component), platform=platform
        )
    return no_rw_check(text)


_RTLIL_MODULE = re.compile(r"^module .*?^end$", re.M | re.S)
_UNCHECKED = re.compile(r"^ *attribute \\no_rw_check 1\n *memory [^\n]*? (\S+)$", re.M)
_READ_PORT = re.compile(
    r"(^ *cell \$memrd_v2 .*?parameter \\MEMID \"\\(\S+)\"\n.*?"
    r"parameter \\COLLISION_X_MASK )(\d+)'([01]+)",
    re.M | re.S,
)


def no_rw_check(text):
    """``text`` (RTLIL, as Amaranth writes it) with the ``COLLISION_X_MASK`` of every read
    port of a memory with the ``no_rw_check`` attribute set: what Yosys's Verilog frontend
    does with the attribute, for a flow that reads RTLIL (:func:`to_rtlil`, and the board
    tops' build plans)."""

    # Amaranth 0.5 writes COLLISION_X_MASK 0 on every read port, and Yosys's memory_libmap
    # reads the `no_rw_check` attribute only as the Verilog frontend sets it, on the port:
    # without this it emulates read-before-write around each block RAM (registered write
    # data, an address compare and a multiplexer after the RAM's output, on the way from
    # the ECP5's DP16KD, whose output is valid 5.8 ns after the clock).
    def module(match):
        unchecked = {name.lstrip("\\") for name in _UNCHECKED.findall(match[0])}

        def port(read):
            if read[2].lstrip("\\") not in unchecked:
                return read[0]
            width = int(read[3])
            return f"{read[1]}{width}'{'1' * width}"

        return _READ_PORT.sub(port, match[0])

    return _RTLIL_MODULE.sub(module, text)
