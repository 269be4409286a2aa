"""Verilog and RTLIL generation for sysconv's components."""

from amaranth.back import rtlil, verilog
from amaranth.hdl import Const, ValueCastable

__all__ = ["to_verilog", "to_rtlil"]


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
    DSP block)."""
    return verilog.convert(
        component, name=name, emit_src=False, ports=_ports(component), platform=platform
    )


def to_rtlil(component, name, *, platform=None):
    """The same design as :func:`to_verilog`, in Yosys's RTLIL, for a Yosys flow. A memory's
    initial contents are one ``$meminit_v2`` cell there, where the Verilog has a line per word
    (with the engine's default limits, 600,000 lines that YoWASP's Yosys runs out of memory
    reading)."""
    return rtlil.convert(
        component, name=name, emit_src=False, ports=_ports(component), platform=platform
    )
