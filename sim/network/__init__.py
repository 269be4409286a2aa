"""Whole networks through the engine: every pass compared with the golden network."""
