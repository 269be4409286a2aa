"""A convolution layer to run on the engine: its tensors, what the golden model says the
output is, and the stream beats that carry them.

Shared by the Amaranth-simulator and cocotb testbenches, the command line and the network
runner. Expected values come from the golden model only:
``maxpool2d(relu(requantize(conv2d(x, w, b))))``.
"""

import json
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from sysconv import golden
from sysconv.hw.layer import EngineConfig, LayerConfig, pack_tap_weights, pack_taps

__all__ = [
    "DATA_KINDS",
    "LayerRun",
    "random_layer",
    "runs_as_json",
    "runs_from_dicts",
    "runs_from_json",
    "scenario_json",
]

DATA_KINDS = ("random", "extremes", "negative")


@dataclass
class LayerRun:
    """One layer with its tensors: ``x`` (Cin, H, W), or (images, Cin, H, W) for a layer of
    several images (``layer.images > 1``), ``weights`` (Cout, Cin, K, K) int8, ``bias`` (Cout,)
    int32.

    The stream words (:meth:`input_beats`, :meth:`expected_beats`) and :meth:`expected` are
    the images' one after the other; :meth:`image_runs` gives each image as a run of its own
    (whose :meth:`packet` the packet's images share)."""

    engine: EngineConfig
    layer: LayerConfig
    x: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        self.layer.check(self.engine)
        images = self.layer.images
        shape = np.shape(self.x)
        if (images > 1) != (len(shape) == 4) or (images > 1 and shape[0] != images):
            raise ValueError(
                f"x must be one (Cin, H, W) tensor for a layer of one image, or (images, Cin, "
                f"H, W) for several, not of shape {shape} for images={images}"
            )

    def image_runs(self):
        """Each image as a run of one image (the layer with ``images=1``), in order."""
        if self.layer.images == 1:
            return [self]
        layer = replace(self.layer, images=1)
        return [
            LayerRun(self.engine, layer, x, self.weights, self.bias, self.extra) for x in self.x
        ]

    def _padded_input(self):
        """``x`` padded as the engine pads it, with the input zero point."""
        p, zx = self.layer.padding, self.layer.input_zero_point
        return np.pad(np.asarray(self.x, np.int64), ((0, 0), (p, p), (p, p)), constant_values=zx)

    def tap_packed(self):
        """This layer run tap-packed (:meth:`~sysconv.hw.layer.LayerConfig.tap_packed`), as
        the compiler runs it: the input padded and packed by the host, the weights packed; the
        same output."""
        layer = self.layer
        packed = [
            pack_taps(run._padded_input(), layer.kernel, layer.stride) for run in self.image_runs()
        ]
        return LayerRun(
            self.engine,
            layer.tap_packed(),
            packed[0] if layer.images == 1 else np.stack(packed),
            pack_tap_weights(self.weights),
            self.bias,
            dict(self.extra, tap_packed_from=layer),
        )

    def expected(self):
        """Golden output tensor (Cout, H', W'), or (images, Cout, H', W')."""
        if self.layer.images > 1:
            return np.stack([run.expected() for run in self.image_runs()])
        layer = self.layer
        acc = golden.conv2d(
            self._padded_input(),
            self.weights,
            self.bias,
            stride=layer.stride,
            act_bits=8,
            weight_bits=8,
        )
        multiplier = np.array(layer.channel_multipliers(), np.int64)[:, None, None]
        shift = np.array(layer.channel_shifts(), np.int64)[:, None, None]
        y = golden.requantize(acc, multiplier, shift, bits=8, zero_point=layer.output_zero_point)
        if layer.relu:
            y = golden.relu(y, layer.output_zero_point)
        if layer.pool_size:
            y = golden.maxpool2d(y, layer.pool_size, layer.pool_stride)
        return y

    def packet(self):
        return self.layer.packet(self.engine, self.weights, self.bias)

    def input_beats(self):
        """The input tensors as data-stream words, in order; none for a layer whose input is
        replayed from the activation buffer (``layer.chain_input``)."""
        if self.layer.chain_input:
            return []
        return [
            word for run in self.image_runs() for word in run.layer.input_beats(run.engine, run.x)
        ]

    def expected_beats(self):
        """The golden output as output-stream words, in order; none for a layer whose output
        goes into the activation buffer (``layer.chain_output``)."""
        if self.layer.chain_output:
            return []
        if self.layer.images > 1:
            return [word for run in self.image_runs() for word in run.expected_beats()]
        layer, engine = self.layer, self.engine
        y = self.expected()
        col_tiles = -(-layer.out_channels // engine.cols)
        # Lanes past out_channels: the pooling unit zeroes them; without pooling they are what
        # a channel of zero weights, bias and multiplier gives, the output zero point.
        hwc = np.full(
            (y.shape[1], y.shape[2], col_tiles * engine.cols),
            0 if layer.pool_size else layer.output_zero_point,
            np.int64,
        )
        hwc[:, :, : layer.out_channels] = y.transpose(1, 2, 0)
        from sysconv.hw.lanes import pack

        return [pack(lanes, 8) for lanes in hwc.reshape(-1, engine.cols)]


def _scale_for(layer):
    """A requantisation that keeps typical outputs inside int8 without saturating them all."""
    reduction = layer.kernel**2 * layer.in_channels
    # Random int8 products have a standard deviation near 128*128/3; scale the sum's spread
    # (sqrt(reduction) of them) to about 64.
    spread = 5500 * max(1.0, reduction**0.5)
    shift = 16
    multiplier = max(1, min((1 << 16) - 1, round(64 / spread * (1 << shift))))
    return multiplier, shift


def random_layer(
    engine,
    *,
    height,
    width,
    in_channels,
    out_channels,
    kernel,
    stride=1,
    padding=0,
    relu=True,
    pool_size=0,
    pool_stride=None,
    data="random",
    seed=0,
    multiplier=None,
    shift=None,
    per_channel=False,
    input_zero_point=0,
    output_zero_point=0,
    images=1,
    double_buffer=False,
):
    """A seeded random layer of ``images`` input tensors (double-buffered with
    ``double_buffer``). ``data="extremes"`` sets every input
    and weight to -128 and every bias to the int32 extreme of alternating sign (the widest
    sums); ``"negative"`` makes every output -128 before pooling (inputs -128, weights 127,
    biases the int32 minimum). ``per_channel`` spreads the multiplier and shift over the
    output channels (each channel's scale within a factor of 4 of the layer's)."""
    if data not in DATA_KINDS:
        raise ValueError(f"data must be one of {', '.join(DATA_KINDS)}, not {data!r}")
    rng = np.random.default_rng(seed)
    layer = LayerConfig(
        height,
        width,
        in_channels,
        out_channels,
        kernel,
        stride=stride,
        padding=padding,
        relu=relu,
        pool_size=pool_size,
        pool_stride=pool_stride,
        multiplier=1,
        shift=0,
    )
    auto_multiplier, auto_shift = _scale_for(layer)
    layer = replace(
        layer,
        multiplier=auto_multiplier if multiplier is None else multiplier,
        shift=auto_shift if shift is None else shift,
        input_zero_point=input_zero_point,
        output_zero_point=output_zero_point,
        images=images,
        double_buffer=double_buffer,
    )
    if per_channel:
        offsets = rng.integers(-1, 2, out_channels)
        layer = replace(
            layer,
            multiplier=tuple(int(m) for m in rng.integers(1 << 14, 1 << 16, out_channels)),
            shift=tuple(int(layer.shift + 2 + o) for o in offsets),
        )
    x_shape = (in_channels, height, width) if images == 1 else (images, in_channels, height, width)
    if data == "random":
        x = rng.integers(-128, 127, x_shape, endpoint=True)
        w = rng.integers(-128, 127, (out_channels, in_channels, kernel, kernel), endpoint=True)
        b = rng.integers(-(1 << 15), 1 << 15, out_channels)
    elif data == "extremes":
        x = np.full(x_shape, -128)
        w = np.full((out_channels, in_channels, kernel, kernel), -128)
        b = np.where(np.arange(out_channels) % 2 == 0, (1 << 31) - 1, -(1 << 31))
    else:
        x = np.full(x_shape, -128)
        w = np.full((out_channels, in_channels, kernel, kernel), 127)
        b = np.full(out_channels, -(1 << 31))
    return LayerRun(engine, layer, x.astype(np.int64), w.astype(np.int64), b.astype(np.int64))


# ---- the JSON form of runs: what a cocotb testbench reads from its test folder ----


def runs_as_json(runs):
    """``runs`` as JSON-ready dicts (:func:`runs_from_dicts` reads them back)."""
    return [
        {
            "layer": asdict(run.layer),
            "x": run.x.tolist(),
            "weights": run.weights.tolist(),
            "bias": run.bias.tolist(),
        }
        for run in runs
    ]


def runs_from_dicts(engine, items):
    return [
        LayerRun(
            engine,
            LayerConfig(**item["layer"]),
            np.array(item["x"], np.int64),
            np.array(item["weights"], np.int64),
            np.array(item["bias"], np.int64),
        )
        for item in items
    ]


def scenario_json(runs, *, idle=0.0, backpressure=0.0, seed=0):
    return json.dumps(
        {
            "engine": asdict(runs[0].engine),
            "layers": runs_as_json(runs),
            "idle": idle,
            "backpressure": backpressure,
            "seed": seed,
        }
    )


def runs_from_json(text):
    scenario = json.loads(text)
    engine = EngineConfig(**scenario["engine"])
    return runs_from_dicts(engine, scenario["layers"]), scenario
