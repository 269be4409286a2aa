"""A network's passes as the host prepares them and as a testbench reads them: each pass's
layer for a batch (:func:`pass_layer`), its input as the host sends it (:func:`host_input`), and
the scenario's JSON form (:func:`network_scenario`, :func:`load_scenario`). Plain NumPy, so that
the testbench in the simulator process loads without Amaranth."""

import json
from dataclasses import asdict, replace

import numpy as np

from sysconv.hw.layer import EngineConfig, LayerConfig, pack_taps

__all__ = ["host_input", "load_scenario", "network_scenario", "pass_layer"]


def network_scenario(engine, passes, images, *, batch):
    return json.dumps(
        {
            "engine": asdict(engine),
            "batch": batch,
            "passes": [
                {
                    "stage": p.stage,
                    "name": p.name,
                    "layer": asdict(p.layer),
                    "pad": list(getattr(p, "pad", (0, 0, 0, 0))),
                    "taps": getattr(p, "taps", None),
                    "weights": np.asarray(p.weights).tolist(),
                    "bias": np.asarray(p.bias).tolist(),
                }
                for p in passes
            ],
            "images": np.asarray(images).tolist(),
        }
    )


def load_scenario(text):
    scenario = json.loads(text)
    engine = EngineConfig(**scenario["engine"])
    passes = [
        dict(
            item,
            layer=LayerConfig(**item["layer"]),
            weights=np.array(item["weights"], np.int64),
            bias=np.array(item["bias"], np.int64),
        )
        for item in scenario["passes"]
    ]
    return engine, passes, np.array(scenario["images"], np.int64), scenario["batch"]


def host_input(x, layer, pad=(0, 0, 0, 0), taps=None):
    """What the host sends a pass whose input is ``x`` (C, H, W): ``x`` padded by ``pad``
    ``(top, left, bottom, right)`` with ``layer``'s input zero point, then, when ``taps`` is
    ``(kernel, stride)`` (a tap-packed pass), its taps packed
    (:func:`sysconv.hw.layer.pack_taps`)."""
    (top, left, bottom, right) = pad
    if top or left or bottom or right:
        x = np.pad(
            x, ((0, 0), (top, bottom), (left, right)), constant_values=layer.input_zero_point
        )
    if taps is not None:
        x = pack_taps(x, *taps)
    return x


def pass_layer(stage, layer, samples):
    """A pass's layer (``stage`` ``"conv"`` or ``"dense"``) for a batch of ``samples``: a conv
    pass serves them as ``samples`` images of one packet, a dense pass as the ``samples``
    pixels of a ``1 x samples`` image."""
    if stage == "conv":
        return replace(layer, images=samples)
    return replace(layer, width=samples)
