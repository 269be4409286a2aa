"""Map a quantised :class:`sysconv.golden.network.Sequential` onto the convolution engine.

The compiler turns the network into *passes*, each one engine layer (one parameter packet,
one input tensor in, one output tensor out):

- ``Conv2d``, with a following ``ReLU`` and then ``MaxPool2d`` fused into the same pass;
- ``Linear``, as a 1x1 convolution whose pixels are the batch: the ``N`` samples' feature
  vectors are the ``N`` pixels of a ``1 x N`` image with ``in_features`` channels, so one weight
  load serves the whole batch; a following ``ReLU`` is fused;
- ``Flatten`` is host work between passes: a ``(C, H, W)`` feature map becomes the
  ``C*H*W``-channel pixel of its sample, in PyTorch's ``C, H, W`` order.

Every pass is checked against the engine's generated limits (``LayerConfig.check``); the
engine the demo generates is sized by :func:`engine_for`. The host only moves tensors.
"""

from dataclasses import dataclass

from sysconv.golden.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from sysconv.hw.layer import EngineConfig, LayerConfig

__all__ = ["Pass", "compile_network", "engine_for", "CompileError"]


class CompileError(ValueError):
    """The network cannot run on the engine; the message names the layer and the rule."""


@dataclass
class Pass:
    """One engine layer. ``stage`` is ``"conv"`` (run per sample on its ``(C, H, W)`` map) or
    ``"dense"`` (run once per batch on a ``(C, 1, N)`` map); ``layers`` are the indices of
    the network layers it covers, ``name`` says which."""

    stage: str
    layer: LayerConfig
    weights: object   # (Cout, Cin, K, K) int array
    bias: object      # (Cout,) int array
    layers: tuple
    name: str


def _describe(index, layer):
    return f"layer {index} ({layer!r})"


def _layer_config(index, layer, *args, **kwargs):
    """``LayerConfig(*args, **kwargs)`` for the pass of network layer ``index``; a pass no
    engine can run is a :class:`CompileError` naming the layer."""
    try:
        return LayerConfig(*args, **kwargs)
    except ValueError as error:
        raise CompileError(f"{_describe(index, layer)}: {error}") from None


def _with_relu(layers, k):
    """The layers a pass starting at ``k`` covers so far, and whether a ReLU follows."""
    relu = k + 1 < len(layers) and isinstance(layers[k + 1], ReLU)
    return ([k, k + 1] if relu else [k]), relu


def compile_network(network, input_shape, engine=None, *, batch=1):
    """Passes for ``network`` on samples of ``input_shape`` ``(C, H, W)``, ``batch`` samples a
    dense pass. With ``engine``, every pass is checked against it (:class:`CompileError`
    otherwise)."""
    layers = list(network)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise CompileError(f"input_shape must be (C, H, W), not {input_shape!r}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise CompileError(f"batch must be an integer >= 1, not {batch!r}")
    passes, stage, k = [], "conv", 0
    while k < len(layers):
        layer = layers[k]
        if isinstance(layer, Flatten):
            if stage != "conv":
                raise CompileError(f"{_describe(k, layer)}: only one Flatten, before the Linear "
                                   "layers, is supported")
            stage = "dense"
            shape = (shape[0] * shape[1] * shape[2],)
            k += 1
            continue
        if isinstance(layer, Conv2d):
            if stage != "conv":
                raise CompileError(f"{_describe(k, layer)}: Conv2d after Flatten")
            covered, relu = _with_relu(layers, k)
            pool = layers[covered[-1] + 1] if covered[-1] + 1 < len(layers) else None
            if not isinstance(pool, MaxPool2d):
                pool = None
            else:
                covered.append(covered[-1] + 1)
            config = _layer_config(
                k, layer, shape[1], shape[2], layer.in_channels, layer.out_channels,
                layer.kernel_size, stride=layer.stride, padding=layer.padding,
                multiplier=layer.multiplier, shift=layer.shift, relu=relu,
                pool_size=pool.kernel_size if pool else 0,
                pool_stride=pool.stride if pool else None)
            weights, bias = layer.weight, layer.bias
            shape = (layer.out_channels, config.pool_out_height, config.pool_out_width)
        elif isinstance(layer, Linear):
            if stage != "dense":
                raise CompileError(f"{_describe(k, layer)}: Linear needs a Flatten before it")
            covered, relu = _with_relu(layers, k)
            config = _layer_config(k, layer, 1, batch, layer.in_features, layer.out_features,
                                   1, multiplier=layer.multiplier, shift=layer.shift,
                                   relu=relu)
            weights = layer.weight.reshape(layer.out_features, layer.in_features, 1, 1)
            bias = layer.bias
            shape = (layer.out_features,)
        else:
            raise CompileError(f"{_describe(k, layer)}: the engine runs ReLU and MaxPool2d only "
                               "fused after a Conv2d (ReLU also after a Linear)")
        name = " + ".join(type(layers[i]).__name__ for i in covered)
        passes.append(Pass(stage, config, weights, bias, tuple(covered), name))
        k = covered[-1] + 1
    if engine is not None:
        for step in passes:
            try:
                step.layer.check(engine)
            except ValueError as error:
                raise CompileError(f"pass {passes.index(step)} ({step.name}, network layers "
                                   f"{', '.join(map(str, step.layers))}): {error}") from None
    return passes


def engine_for(network, input_shape, rows, cols, *, batch=1, mult_width=16):
    """The smallest :class:`EngineConfig` (limits and buffer sizes) that runs every pass."""
    passes = compile_network(network, input_shape, batch=batch)
    configs = [step.layer for step in passes]
    groups = [-(-c.in_channels // rows) for c in configs]
    col_tiles = [-(-c.out_channels // cols) for c in configs]
    engine = EngineConfig(
        rows, cols,
        max_height=max(max(c.height, c.out_height) for c in configs),
        max_width=max(max(c.width, c.out_width) for c in configs),
        max_in_channels=max(c.in_channels for c in configs),
        max_out_channels=max(c.out_channels for c in configs),
        max_kernel=max(c.kernel for c in configs),
        mult_width=mult_width,
        max_pool=max([c.pool_size for c in configs] + [0]) and 4,
        input_depth=max(c.height * c.width * g for c, g in zip(configs, groups, strict=True)),
        weight_depth=max(j * c.kernel ** 2 * g * rows
                         for c, g, j in zip(configs, groups, col_tiles, strict=True)),
        acc_depth=max(c.out_height * c.out_width for c in configs),
        output_depth=max(c.out_height * c.out_width * j
                         for c, j in zip(configs, col_tiles, strict=True)),
    )
    compile_network(network, input_shape, engine, batch=batch)
    return engine
