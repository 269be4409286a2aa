"""The board top in simulation: the host driver over a UART model, and its self-test."""
