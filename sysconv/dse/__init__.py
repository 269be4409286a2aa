"""Design-space exploration: ASIC estimates (:mod:`.asic`) and sweeps over array sizes, widths,
FPGA boards and the ASIC flow (:mod:`.sweep`, run on Dask), with their tables and Pareto plots
(:mod:`.report`). ``sysconv asic`` and ``sysconv sweep`` are in :mod:`.cli`."""
