"""Which FPGA family a platform passed to ``elaborate`` is for; the parts that map onto a
family's primitives (DSP blocks, block RAM output registers) or that add registers for its
routing ask here. ``None``, or a platform of another family, gets the generic logic."""

__all__ = ["is_ecp5", "is_ice40"]


def _family(platform):
    return str(getattr(platform, "family", "")).lower()


def is_ecp5(platform):
    """Whether ``platform`` is an ECP5's (Amaranth's Lattice ECP5 platforms say ``"ecp5"``)."""
    return _family(platform) == "ecp5"


def is_ice40(platform):
    """Whether ``platform`` is an iCE40's (Amaranth's SiliconBlue platforms say ``"iCE40"``)."""
    return _family(platform) == "ice40"
