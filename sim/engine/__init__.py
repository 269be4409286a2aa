"""The convolution engine's testbenches: layers compared with golden, cycles with golden.perf."""
