"""sysconv: an open FPGA/ASIC design flow for CNN accelerators on systolic arrays.

Subpackages, from the bottom up: :mod:`sysconv.hw` (the hardware, in Amaranth),
:mod:`sysconv.golden` (the bit-exact NumPy judge), :mod:`sysconv.sim` (testbenches on the
generated Verilog), :mod:`sysconv.formal` (the formal checks); the flows above them
(:mod:`sysconv.build`, :mod:`sysconv.dse`, :mod:`sysconv.bench`, :mod:`sysconv.demo`) and the
command line, :mod:`sysconv.cli`.
"""

from importlib import metadata

try:
    __version__ = metadata.version("sysconv")
except metadata.PackageNotFoundError:  # a checkout that was never installed
    __version__ = "unknown"
