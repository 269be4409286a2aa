"""The max-pooling unit's testbenches: scenarios compared with golden.maxpool2d and its cycle
model."""
