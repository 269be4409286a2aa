"""Run a compiled network on the accelerator RTL: every pass on the engine, the host only
moving tensors between passes. What ``sysconv demo`` and the network tests call.

The passes come from :func:`sysconv.compiler.compile_network` (any objects with ``stage``,
``layer``, ``weights``, ``bias`` and ``name``, and optionally ``pad`` and ``taps``). The
passes run pass-major over a batch, one parameter packet a pass
(:func:`~sysconv.sim.network.scenario.pass_layer`): a conv pass takes the batch's ``N``
samples as ``N`` images of the packet, each its ``(C, H, W)`` map, which the host pads and,
for a tap-packed pass, packs first (:func:`~sysconv.sim.network.scenario.host_input`), the
next sample's input sent while the current one's output comes back; the host flattens each
sample's last map to a ``C*H*W``-channel pixel; dense passes run once per batch, the batch
being the pixels of a ``1 x N`` image.
"""

import json
import threading
import time
from dataclasses import replace

import numpy as np

from sysconv.hw.layer import hwc_features
from sysconv.sim import HDL_SIMULATORS, SIMULATORS, Result, runner
from sysconv.sim.engine.layer import LayerRun
from sysconv.sim.engine.run import TOPLEVEL, accelerator_verilog, run_layers
from sysconv.sim.network.scenario import host_input, network_scenario, pass_layer

__all__ = [
    "chained_runs",
    "run_network",
    "run_network_on_chip",
]


def _with_progress(simulate, progress_file, key, total, progress):
    """Run ``simulate()`` in a thread; meanwhile call ``progress(done, total)`` (from this
    thread) with ``done`` the ``key`` of ``progress_file`` (JSON) as the testbench rewrites
    it."""
    progress_file.unlink(missing_ok=True)
    worker = threading.Thread(target=simulate)
    worker.start()
    while worker.is_alive():
        worker.join(0.5)
        if progress is not None and progress_file.exists():
            try:
                done = json.loads(progress_file.read_text())[key]
            except (ValueError, KeyError):
                continue  # being written
            progress(done, total)


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
    _with_progress(simulate, progress_file, "done", len(images), progress)
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


def chained_runs(engine, passes, images, *, batch):
    """The layer runs of ``images`` (N, C, H, W) through ``passes`` in network mode
    (:func:`sysconv.compiler.chain`), batch after batch: the first pass's input as the host
    sends it, every later pass's input the golden output of the pass before, as the
    activation buffer holds it (a dense pass after the conv passes: the maps flattened in HWC
    order, channels padded to whole input words). The last run's :meth:`~LayerRun.expected` is the
    batch's logits, ``(classes, 1, N)``."""
    runs = []
    for first in range(0, len(images), batch):
        samples = np.asarray(images[first : first + batch], np.int64)
        count = len(samples)
        x = None
        for index, step in enumerate(passes):
            layer = pass_layer(step.stage, step.layer, count)
            if index == 0 and step.stage == "conv":
                x = np.stack([host_input(s, layer, step.pad, step.taps) for s in samples])
            elif index == 0:
                x = samples.reshape(count, -1).T[:, None, :]
            elif step.stage == "dense" and passes[index - 1].stage == "conv":
                maps = x.reshape(count, *x.shape[-3:])
                (channels, height, width) = maps.shape[1:]
                features = np.zeros((count, layer.in_channels), np.int64)
                features[:, hwc_features(channels, height, width, engine.rows)] = maps.reshape(
                    count, -1
                )
                x = features.T[:, None, :]
            if step.stage == "conv" and count == 1:
                x = x.reshape(x.shape[-3:])
            run = LayerRun(engine, layer, x, step.weights, step.bias)
            runs.append(run)
            x = run.expected()
    return runs


def run_network_on_chip(
    engine, passes, images, simulator, test_dir, *, batch=1, progress=None, **stalls
):
    """Run ``images`` (N, C, H, W) through ``passes`` (:func:`sysconv.compiler.chain`) in
    network mode, every batch's packets and first input sent back to back, only its logits
    coming back; never raises on a mismatch (every output word is checked against
    :func:`chained_runs`' golden values). ``stalls``: ``idle``, ``backpressure``, ``seed``
    of :func:`~sysconv.sim.engine.run.run_layers`. The :class:`~sysconv.sim.Result`'s
    ``details`` add ``logits`` ((N, classes) int8: the RTL's, which matched the golden values
    word for word; None on a failure), ``seconds`` (wall clock, the build included) and
    ``batches``
    (per batch: its cycles, first parameter word to last logit)."""
    runs = chained_runs(engine, passes, images, batch=batch)
    outcome = {}

    def simulate():
        outcome["result"] = run_layers(runs, simulator, test_dir, **stalls)

    start = time.perf_counter()
    progress_file = runner.prepare(simulator, test_dir, SIMULATORS) / "progress.json"
    _with_progress(simulate, progress_file, "packets", len(runs), progress)
    result = outcome["result"]
    details = dict(result.details, logits=None, batches=[], seconds=time.perf_counter() - start)
    if result.status == "pass":
        lasts = [run for run in runs if not run.layer.chain_output]
        details["logits"] = np.concatenate([run.expected()[:, 0, :].T for run in lasts])
        ends = [layer["last_output"] for layer in result.details["layers"]]
        # A batch runs from the cycle after the previous batch's end, the cycle after its
        # last logit (its first packet is sent back to back).
        begins = [result.details["layers"][0]["start"], *[end + 2 for end in ends[:-1]]]
        details["batches"] = [end - begin + 1 for begin, end in zip(begins, ends, strict=True)]
    return replace(result, details=details)
