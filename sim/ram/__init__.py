"""A BlockRAM's testbench (tests/test_ram.py): the ECP5 flavour, DP16KDs under
:mod:`sysconv.sim.ecp5_models`, driven with the same steps as the Amaranth simulation."""
