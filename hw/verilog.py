"""Verilog and RTLIL generation for sysconv's components."""

import re

from amaranth.back import rtlil, verilog
from amaranth.hdl import Const, ValueCastable

__all__ = ["to_verilog", "to_rtlil", "compact_zero_init"]


def _ports(component):
    # Amaranth 0.5 (amaranth-lang/amaranth#1574) takes the Const(1) of an always_ready or
    # always_valid stream for a port; ports are listed here without those constants.
    ports = []
    for _path, _member, value in component.signature.flatten(component):
        value = value.as_value() if isinstance(value, ValueCastable) else value
        if not isinstance(value, Const):
            ports.append(value)
    return ports


def to_verilog(component, name, *, platform=None):
    """Reproducible Verilog for ``component`` with top module ``name``: no source locations,
    no local paths. ``platform`` is passed to ``elaborate`` (vendor primitives: the ECP5 PE's
    DSP block). A memory that starts all zero is cleared by a loop (:func:`compact_zero_init`)."""
    return compact_zero_init(
        verilog.convert(
            component, name=name, emit_src=False, ports=_ports(component), platform=platform
        )
    )


_INIT_WORD = re.compile(r"    (\S+)\[(\d+)\] = (\d+)'h0+;")


def compact_zero_init(text):
    """``text`` (Yosys's Verilog) with every ``initial`` block that sets a memory's words
    0, 1, ... N-1 to zero, one line a word, written as one loop: the same contents, in a few
    lines. With the engine's default limits, Yosys writes 222,000 such lines of 241,000, and
    every Verilog reader (Verilator, Icarus, Yosys) pays for them."""
    lines = text.split("\n")
    out = []
    n = 0
    while n < len(lines):
        run = _zero_run(lines, n + 1) if lines[n] == "  initial begin" else None
        if run is None:
            out.append(lines[n])
            n += 1
            continue
        memory, width, words = run
        out += [
            f"  initial begin : {memory}__zero",
            "    integer i;",
            f"    for (i = 0; i < {words}; i = i + 1) {memory}[i] = {{{width}{{1'b0}}}};",
            "  end",
        ]
        n += words + 2
    return "\n".join(out)


def _zero_run(lines, start):
    """``(memory, width, words)`` if ``lines[start:]`` set ``memory[0..words-1]`` to zero and
    then end the block, else None."""
    words = 0
    memory = width = None
    for line in lines[start:]:
        if line == "  end":
            return (memory, width, words) if words else None
        match = _INIT_WORD.fullmatch(line)
        if match is None or int(match[2]) != words or (memory or match[1]) != match[1]:
            return None
        memory, width = match[1], int(match[3])
        words += 1
    return None


def to_rtlil(component, name, *, platform=None):
    """The same design as :func:`to_verilog`, in Yosys's RTLIL, for a Yosys flow. A memory's
    initial contents are one ``$meminit_v2`` cell there, where the Verilog has a line per word
    (with the engine's default limits, 600,000 lines that YoWASP's Yosys runs out of memory
    reading)."""
    return rtlil.convert(
        component, name=name, emit_src=False, ports=_ports(component), platform=platform
    )
