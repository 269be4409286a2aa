"""The systolic array's testbenches: scenarios compared with golden.systolic every cycle."""
