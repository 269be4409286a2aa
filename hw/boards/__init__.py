"""The accelerator on FPGA boards: UART, host link, board top, and the board table.

Nothing here is imported by :mod:`hw` itself; the engine does not depend on it.
"""
