"""Run a compiled network on the accelerator RTL: every pass on the engine, the host only
moving tensors between passes. What ``sysconv demo`` and the network tests call.

The passes come from :func:`sysconv.compiler.compile_network` (any objects with ``stage``,
``layer``, ``weights``, ``bias`` and ``name``, and optionally ``pad`` and ``taps``). The
passes run pass-major over a batch, one parameter packet a pass (:func:`pass_layer`): a conv
pass takes the batch's ``N`` samples as ``N`` images of the packet, each its ``(C, H, W)``
map, which the host pads and, for a tap-packed pass, packs first (:func:`host_input`), the
next sample's input sent while the current one's output comes back; the host flattens each
sample's last map to a ``C*H*W``-channel pixel; dense passes run once per batch, the batch
being the pixels of a ``1 x N`` image.
"""

import json
import threading
import time
from dataclasses import asdict, replace

import numpy as np

from sysconv.hw.layer import EngineConfig, LayerConfig, pack_taps
from sysconv.sim import HDL_SIMULATORS, Result, runner
from sysconv.sim.engine.run import TOPLEVEL, accelerator_verilog

__all__ = ["run_network", "network_scenario", "load_scenario", "host_input", "pass_layer"]


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


def run_network(
    engine, passes, images, simulator, test_dir, *, batch=1, waves=False, progress=None
):
    """Run ``images`` (N, C, H, W) through ``passes``; never raises on a mismatch. The
    :class:`~sysconv.sim.Result`'s ``details`` hold ``logits`` ((N, classes) int8 from the RTL,
    or None), ``passes`` (per pass: name, invocations' cycles and compute cycles) and
    ``seconds`` (wall clock).

    ``progress(done, total)`` is called (from this thread) as samples finish."""
    test_dir = runner.prepare(simulator, test_dir, HDL_SIMULATORS)
    built = runner.build(accelerator_verilog(engine), TOPLEVEL, simulator)
    progress_file = test_dir / "progress.json"
    progress_file.unlink(missing_ok=True)
    outcome = {}

    def simulate():
        outcome["result"], outcome["waves"] = runner.run_scenario(
            built,
            "sysconv.sim.network.tb",
            test_dir,
            network_scenario(engine, passes, images, batch=batch),
            waves=waves,
        )

    start = time.perf_counter()
    worker = threading.Thread(target=simulate)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        if progress is not None and progress_file.exists():
            try:
                done = json.loads(progress_file.read_text())["done"]
            except (ValueError, KeyError):
                continue  # being written
            progress(done, len(images))
    seconds = time.perf_counter() - start
    result = outcome["result"]
    logits = np.array(result["logits"], np.int64) if result.get("logits") else None
    return Result(
        result["status"],
        simulator,
        result["message"],
        result.get("cycles", 0),
        outcome["waves"],
        {"logits": logits, "passes": result.get("passes", []), "seconds": seconds},
    )
