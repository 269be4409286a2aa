"""Verilog generation for sysconv's components."""

from amaranth.back import verilog
from amaranth.hdl import Const, ValueCastable

__all__ = ["to_verilog"]


def to_verilog(component, name, *, platform=None):
    """Reproducible Verilog for ``component`` with top module ``name``: no source locations,
    no local paths. ``platform`` is passed to ``elaborate`` (vendor primitives: the ECP5 PE's
    DSP block)."""
    # Amaranth 0.5 (amaranth-lang/amaranth#1574) takes the Const(1) of an always_ready or
    # always_valid stream for a port; ports are listed here without those constants.
    ports = []
    for _path, _member, value in component.signature.flatten(component):
        value = value.as_value() if isinstance(value, ValueCastable) else value
        if not isinstance(value, Const):
            ports.append(value)
    return verilog.convert(component, name=name, emit_src=False, ports=ports,
                           platform=platform)
