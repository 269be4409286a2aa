"""Map a quantised :class:`sysconv.golden.network.Sequential` onto the convolution engine.

The compiler turns the network into *passes*, each one engine layer (one parameter packet,
then its input tensors in and output tensors out):

- ``Conv2d``, run with one packet for a batch's ``N`` samples (``LayerConfig.images = N``: the
  engine takes the next sample's input while the current output drains; with ``N > 1``
  double-buffered, ``LayerConfig.double_buffer``, when the engine's input and output buffers
  hold two samples' words, so that input and output also overlap the compute), with a following
  ``ReLU`` and then ``MaxPool2d`` fused into the same pass (and a ``ReLU`` after the
  ``MaxPool2d``: max pooling and ReLU commute); the engine pads every side alike, by up to
  ``kernel - 1``: the rest of an asymmetric or wider padding (``Pass.pad``) is added by the
  host, with the input zero point, before the pass;
- ``Linear``, as a 1x1 convolution whose pixels are the batch: the ``N`` samples' feature
  vectors are the ``N`` pixels of a ``1 x N`` image with ``in_features`` channels, so one weight
  load serves the whole batch; a following ``ReLU`` is fused;
- ``Flatten`` is host work between passes: a ``(C, H, W)`` feature map becomes the
  ``C*H*W``-channel pixel of its sample, in PyTorch's ``C, H, W`` order.

A ``Conv2d`` pass may run *tap-packed* (``Pass.taps``): im2col on the host. A pass carries one
kernel tap's channel groups per weight set, ``ceil(Cin / rows)`` of them, so a layer with few
input channels leaves rows idle (Cin = 3 fills 3 of 8); packed, the host lays each output
pixel's ``K*K*Cin`` patch out as the channels of one pixel (:func:`sysconv.hw.layer.pack_taps`,
padding with the input zero point and the stride applied on the host) and the engine runs a
1x1 convolution, stride 1, no padding, over the output pixels
(:meth:`sysconv.hw.layer.LayerConfig.tap_packed`), with the same requantisation, ReLU and
pooling: ``ceil(K*K*Cin / rows)`` weight sets a column tile instead of ``K*K*ceil(Cin /
rows)``. The price is the input: ``out_h * out_w * ceil(K*K*Cin / rows)`` words instead of
``H * W * ceil(Cin / rows)``. ``packing="auto"`` packs a pass when golden.perf predicts fewer
layer cycles for it packed than plain (:func:`packing_pays`), on the array of the engine (or
``array``), or when only the packed pass fits (a kernel beyond the engine's), and never when
only the plain one fits.

Every pass is checked against the engine's generated limits (``LayerConfig.check``); the
engine the demo generates is sized by :func:`engine_for`, with two banks of input and output
buffer for the double-buffered passes. The host only moves tensors.

*Network mode* (:func:`chain`): on an engine with an activation buffer
(``EngineConfig.network_depth``) the passes after the first take their input from it and all
but the last leave their output in it, so only the first pass's input and the last pass's
output cross the streams. ``Flatten`` is then the engine's HWC order: the first ``Linear``'s
weights are laid out for the maps flattened in HWC order, channels padded to whole input words.
"""

from dataclasses import dataclass, replace

import numpy as np

from sysconv.golden.network import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from sysconv.golden.perf import predict_batch
from sysconv.hw.layer import EngineConfig, LayerConfig, hwc_features, pack_tap_weights

__all__ = [
    "Pass",
    "PACKING",
    "chain",
    "compile_network",
    "engine_for",
    "packing_pays",
    "CompileError",
]

# compile_network's choices for tap packing: by golden.perf's prediction, never, always.
PACKING = ("auto", "never", "always")


class CompileError(ValueError):
    """The network cannot run on the engine; the message names the layer and the rule.

    ``layers`` holds the indices of the network layers concerned (empty when none is)."""

    def __init__(self, message, layers=()):
        super().__init__(message)
        self.layers = tuple(layers)


@dataclass
class Pass:
    """One engine layer. ``stage`` is ``"conv"`` (run once per batch, the ``N`` samples'
    ``(C, H, W)`` maps the ``layer.images`` images of one packet) or ``"dense"`` (run once per
    batch on a ``(C, 1, N)`` map); ``layers`` are the indices of the network layers it covers,
    ``name`` says which. ``layer`` is for a whole batch (``images`` or ``width`` is the batch):
    a smaller last batch runs it with its own size.

    The host pads the pass's input by ``pad`` with the input zero point; then, when ``taps``
    is ``(kernel, stride)`` (a tap-packed pass), packs it with
    :func:`sysconv.hw.layer.pack_taps`; ``weights`` are then already packed, ``(Cout,
    K*K*Cin, 1, 1)``."""

    stage: str
    layer: LayerConfig
    weights: object  # (Cout, Cin, K, K) int array
    bias: object  # (Cout,) int array
    layers: tuple
    name: str
    pad: tuple = (0, 0, 0, 0)  # (top, left, bottom, right) the host adds before the pass
    taps: tuple | None = None  # (kernel, stride) of the conv whose taps the host packs

    @property
    def packed(self):
        return self.taps is not None


def _describe(index, layer):
    return f"layer {index} ({layer!r})"


def _layer_config(index, layer, *args, **kwargs):
    """``LayerConfig(*args, **kwargs)`` for the pass of network layer ``index``; a pass no
    engine can run is a :class:`CompileError` naming the layer."""
    try:
        return LayerConfig(*args, **kwargs)
    except ValueError as error:
        raise CompileError(f"{_describe(index, layer)}: {error}", (index,)) from None


def _is_relu(layers, k, zero_point):
    """Whether layer ``k`` is a ReLU the engine can fuse after a layer with output zero point
    ``zero_point`` (it clamps at that zero point)."""
    if k >= len(layers) or not isinstance(layers[k], ReLU):
        return False
    if layers[k].zero_point != zero_point:
        raise CompileError(
            f"{_describe(k, layers[k])}: the engine's ReLU clamps at the output "
            f"zero point of the layer before it, {zero_point}, not "
            f"{layers[k].zero_point}",
            (k,),
        )
    return True


def _with_relu(layers, k):
    """The layers a pass starting at ``k`` covers so far, and whether a ReLU follows."""
    relu = _is_relu(layers, k + 1, layers[k].output_zero_point)
    return ([k, k + 1] if relu else [k]), relu


def _requant(layer):
    """The LayerConfig arguments of a Conv2d's or Linear's requantisation."""
    multiplier, shift = layer.multiplier, layer.shift
    return dict(
        multiplier=tuple(multiplier.tolist()) if hasattr(multiplier, "tolist") else multiplier,
        shift=tuple(shift.tolist()) if hasattr(shift, "tolist") else shift,
        input_zero_point=layer.input_zero_point,
        output_zero_point=layer.output_zero_point,
    )


def packing_pays(layer, rows, cols):
    """Whether golden.perf predicts fewer layer cycles (parameters, input, compute, output,
    over the layer's ``images``) for ``layer`` (a :class:`~sysconv.hw.layer.LayerConfig`)
    tap-packed than plain on a ``rows x cols`` array: fewer weight sets against a bigger
    input."""

    def cycles(config):
        return sum(perf.layer_cycles for perf in predict_batch(rows, cols, config))

    return cycles(layer.tap_packed()) < cycles(layer)


def _engine_holding(config, rows, cols, mult_width=16):
    """The :class:`EngineConfig` of limits just large enough for ``config`` (ValueError when
    none is: a layer beyond the largest limits)."""
    return EngineConfig(
        rows,
        cols,
        max_height=max(config.height, config.out_height),
        max_width=max(config.width, config.out_width),
        max_in_channels=config.in_channels,
        max_out_channels=config.out_channels,
        max_kernel=config.kernel,
        mult_width=mult_width,
        max_pool=config.pool_size and 4,
    )


def _fits(config, array, engine):
    """Whether ``engine``, or without one some engine on ``array``, holds ``config`` (in one
    bank: whether it fits double-buffered is decided after)."""
    config = replace(config, double_buffer=False)
    try:
        if engine is None:
            _engine_holding(config, *array)
        else:
            config.check(engine)
    except ValueError:
        return False
    return True


def _packs(config, packing, array, engine):
    """Whether the conv pass ``config`` runs tap-packed."""
    if packing != "auto":
        return packing == "always"
    if array is None or not _fits(config.tap_packed(), array, engine):
        return False
    return packing_pays(config, *array) or not _fits(config, array, engine)


def _single_buffered_unless_held(config, engine):
    """``config`` (double-buffered when it serves several images) as ``engine`` runs it:
    single-buffered if its buffers do not hold two banks of the pass's words."""
    if not config.double_buffer or engine is None:
        return config
    try:
        config.check(engine)
    except ValueError:
        return replace(config, double_buffer=False)
    return config


def compile_network(
    network, input_shape, engine=None, *, batch=1, packing="auto", array=None, network_mode=False
):
    """Passes for ``network`` on samples of ``input_shape`` ``(C, H, W)``, ``batch`` samples a
    pass (a conv pass's images, a dense pass's pixels). With ``engine``, every pass is checked
    against it (:class:`CompileError` otherwise).

    ``packing`` says which conv passes run tap-packed (see the module's documentation):
    ``"auto"`` those that the engine (without one, some engine) holds packed and for which
    :func:`packing_pays` on the array of ``engine``, or of ``array`` ``(rows, cols)`` without
    one, or that it holds packed only (a kernel beyond ``max_kernel``); with neither engine
    nor array, none; ``"never"`` none; ``"always"`` every one (a packed pass the engine
    cannot hold is a :class:`CompileError`). Beyond that fit, the choice depends on the
    array's shape only, never on the engine's buffer sizes, so :func:`engine_for` sizes an
    engine for the passes it then gets.

    With ``network_mode`` (the passes then go to :func:`chain`) only the first pass may be
    packed: the later ones take their input on chip, which the host cannot pack.

    A conv pass of several images (``batch > 1``) is double-buffered
    (``LayerConfig.double_buffer``) when ``engine`` holds two banks of its input and output
    words, and without an engine; packing is decided for the pass double-buffered."""
    layers = list(network)
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise CompileError(f"input_shape must be (C, H, W), not {input_shape!r}")
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise CompileError(f"batch must be an integer >= 1, not {batch!r}")
    if packing not in PACKING:
        raise CompileError(
            f"packing must be one of {', '.join(map(repr, PACKING))}, not {packing!r}"
        )
    if engine is not None:
        if array is not None and tuple(array) != (engine.rows, engine.cols):
            raise CompileError(
                f"array {tuple(array)!r} differs from the engine's {(engine.rows, engine.cols)!r}"
            )
        array = (engine.rows, engine.cols)
    passes, stage, k = [], "conv", 0
    while k < len(layers):
        layer = layers[k]
        if isinstance(layer, Flatten):
            if stage != "conv":
                raise CompileError(
                    f"{_describe(k, layer)}: only one Flatten, before the Linear "
                    "layers, is supported",
                    (k,),
                )
            stage = "dense"
            shape = (shape[0] * shape[1] * shape[2],)
            k += 1
            continue
        if isinstance(layer, Conv2d):
            if stage != "conv":
                raise CompileError(f"{_describe(k, layer)}: Conv2d after Flatten", (k,))
            covered, relu = _with_relu(layers, k)
            pool = layers[covered[-1] + 1] if covered[-1] + 1 < len(layers) else None
            if not isinstance(pool, MaxPool2d):
                pool = None
            else:
                covered.append(covered[-1] + 1)
                if _is_relu(layers, covered[-1] + 1, layer.output_zero_point):
                    covered.append(covered[-1] + 1)
                    relu = True
            pads = layer.pads
            padding = min(*pads, layer.kernel_size - 1)
            pad = tuple(p - padding for p in pads)
            config = _layer_config(
                k,
                layer,
                shape[1] + pad[0] + pad[2],
                shape[2] + pad[1] + pad[3],
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=padding,
                relu=relu,
                pool_size=pool.kernel_size if pool else 0,
                pool_stride=pool.stride if pool else None,
                images=batch,
                double_buffer=batch > 1,
                **_requant(layer),
            )
            weights, bias, taps = layer.weight, layer.bias, None
            shape = (layer.out_channels, config.pool_out_height, config.pool_out_width)
            if not (network_mode and passes) and _packs(config, packing, array, engine):
                # The host pads all of it, then packs the taps.
                config, pad, taps = config.tap_packed(), pads, (layer.kernel_size, layer.stride)
                weights = None if weights is None else pack_tap_weights(weights)
            config = _single_buffered_unless_held(config, engine)
        elif isinstance(layer, Linear):
            if stage != "dense":
                raise CompileError(f"{_describe(k, layer)}: Linear needs a Flatten before it", (k,))
            covered, relu = _with_relu(layers, k)
            config = _layer_config(
                k,
                layer,
                1,
                batch,
                layer.in_features,
                layer.out_features,
                1,
                relu=relu,
                **_requant(layer),
            )
            weights = layer.weight.reshape(layer.out_features, layer.in_features, 1, 1)
            bias, pad, taps = layer.bias, (0, 0, 0, 0), None
            shape = (layer.out_features,)
        else:
            raise CompileError(
                f"{_describe(k, layer)}: the engine runs ReLU and MaxPool2d only "
                "fused after a Conv2d (ReLU also after a Linear)",
                (k,),
            )
        name = " + ".join(type(layers[i]).__name__ for i in covered)
        if taps is not None:
            name += " (taps packed)"
        passes.append(Pass(stage, config, weights, bias, tuple(covered), name, pad, taps))
        k = covered[-1] + 1
    if engine is not None:
        for step in passes:
            try:
                step.layer.check(engine)
            except ValueError as error:
                raise CompileError(
                    f"pass {passes.index(step)} ({step.name}, network layers "
                    f"{', '.join(map(str, step.layers))}): {error}",
                    step.layers,
                ) from None
    return passes


def chain(passes, engine):
    """``passes`` (from :func:`compile_network` for ``engine``) in network mode: every pass
    but the first with ``chain_input``, every pass but the last with ``chain_output``, and the
    first dense pass after the conv passes reading the last map as the engine keeps it (its
    weights moved to :func:`~sysconv.hw.layer.hwc_features`' positions, zero on the padding
    lanes, and its ``in_channels`` the padded map's size). :class:`CompileError` if the
    engine has no activation buffer or it is too small for a pass's tensors, or if a pass
    after the first needs the host to pad or pack its input."""
    if not engine.network_depth:
        raise CompileError(
            "network mode needs an engine with an activation buffer (network_depth > 0)"
        )
    chained = _chained(passes, engine.rows)
    for index, step in enumerate(chained):
        try:
            step.layer.check(engine)
        except ValueError as error:
            raise CompileError(f"{_describe_pass(index, step)}: {error}", step.layers) from None
    return chained


def _describe_pass(index, step):
    return f"pass {index} ({step.name}, network layers {', '.join(map(str, step.layers))})"


def _chained(passes, lanes):
    """:func:`chain`'s passes, for an array of ``lanes`` rows (the activation buffer's words),
    unchecked."""
    chained = []
    for index, step in enumerate(passes):
        layer, weights = step.layer, step.weights
        if index and (step.taps is not None or any(step.pad)):
            raise CompileError(
                f"{_describe_pass(index, step)}: its input is padded or tap-packed by the "
                "host, which network mode leaves on chip; compile with packing='never' or "
                "pad within kernel - 1",
                step.layers,
            )
        if index and step.stage == "dense" and passes[index - 1].stage == "conv":
            before = passes[index - 1].layer
            shape = (before.out_channels, before.pool_out_height, before.pool_out_width)
            features = shape[1] * shape[2] * -(-shape[0] // lanes) * lanes
            if weights is not None:
                moved = np.zeros((layer.out_channels, features), np.int64)
                moved[:, hwc_features(*shape, lanes)] = np.asarray(weights).reshape(
                    layer.out_channels, -1
                )
                weights = moved.reshape(layer.out_channels, features, 1, 1)
            layer = replace(layer, in_channels=features)
        layer = replace(layer, chain_input=index > 0, chain_output=index < len(passes) - 1)
        chained.append(replace(step, layer=layer, weights=weights))
    return chained


def engine_for(
    network, input_shape, rows, cols, *, batch=1, mult_width=16, packing="auto", network_mode=False
):
    """The smallest :class:`EngineConfig` (limits and buffer sizes) that runs every pass, as
    :func:`compile_network` compiles them for a ``rows x cols`` array with ``packing``; with
    ``network_mode``, as :func:`chain` then runs them, with the activation buffer they need
    (``rows`` must equal ``cols``).

    A network no engine can hold (a layer beyond :class:`EngineConfig`'s largest limits) is a
    :class:`CompileError` naming the pass and its layers."""
    passes = compile_network(
        network,
        input_shape,
        batch=batch,
        packing=packing,
        array=(rows, cols),
        network_mode=network_mode,
    )
    if network_mode:
        passes = _chained(passes, rows)
    for index, step in enumerate(passes):
        try:
            _engine_holding(step.layer, rows, cols, mult_width)
        except ValueError as error:
            raise CompileError(
                f"pass {index} ({step.name}, network layers "
                f"{', '.join(map(str, step.layers))}): no engine holds it: "
                f"{error}",
                step.layers,
            ) from None
    configs = [step.layer for step in passes]
    groups = [-(-c.in_channels // rows) for c in configs]
    col_tiles = [-(-c.out_channels // cols) for c in configs]
    engine = EngineConfig(
        rows,
        cols,
        max_height=max(max(c.height, c.out_height) for c in configs),
        max_width=max(max(c.width, c.out_width) for c in configs),
        max_in_channels=max(c.in_channels for c in configs),
        max_out_channels=max(c.out_channels for c in configs),
        max_kernel=max(c.kernel for c in configs),
        mult_width=mult_width,
        max_pool=max([c.pool_size for c in configs] + [0]) and 4,
        # Two banks for a double-buffered pass.
        input_depth=max(
            c.banks * c.height * c.width * g for c, g in zip(configs, groups, strict=True)
        ),
        weight_depth=max(
            j * c.kernel**2 * g * rows for c, g, j in zip(configs, groups, col_tiles, strict=True)
        ),
        acc_depth=max(c.out_height * c.out_width for c in configs),
        output_depth=max(
            c.banks * c.out_height * c.out_width * j
            for c, j in zip(configs, col_tiles, strict=True)
        ),
        # A bank for the largest tensors a chained pass reads or writes.
        network_depth=max(
            [
                c.images * c.height * c.width * g
                for c, g in zip(configs, groups, strict=True)
                if c.chain_input
            ]
            + [
                c.images * c.pool_out_height * c.pool_out_width * -(-c.out_channels // rows)
                for c in configs
                if c.chain_output
            ]
            + [0]
        ),
    )
    passes = compile_network(
        network, input_shape, engine, batch=batch, packing=packing, network_mode=network_mode
    )
    if network_mode:
        chain(passes, engine)
    return engine
