"""``sysconv run`` and ``sysconv import``: a user's model, from an ONNX file or our own network
file, on the golden model or the simulated RTL.

:func:`open_model` gives an :class:`sysconv.onnx.Imported` for either kind of file: an ``.onnx``
model goes through :func:`sysconv.onnx.load`; a network file written by ``sysconv import``
carries the ONNX model's input and output quantisation in its metadata; any other network file
(such as the demo's) takes and gives int8 integers. :func:`run_model` runs a batch on the golden
model, or on the engine's RTL with every output compared against the golden model, and
predicts or measures the cycles of every pass (:mod:`sysconv.golden.perf`).
"""

import json
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from sysconv.golden.network import Sequential
from sysconv.golden.perf import predict_batch

from .compiler import compile_network, engine_for
from .onnx import Imported, ModelError, load

__all__ = ["open_model", "run_model", "save_imported", "mapping_text", "SIMULATORS"]

SIMULATORS = ("golden", "verilator", "icarus", "amaranth")
# A network file's metadata key for the ONNX model's quantisation (sysconv import).
_METADATA_KEY = "onnx"
_IMPORTED_FIELDS = [f.name for f in fields(Imported) if f.name != "network"]


def _is_onnx(path):
    with open(path, "rb") as file:
        head = file.read(4)
    # A network file is a zip archive ("PK\x03\x04"); anything else is taken for ONNX.
    return head != b"PK\x03\x04"


def open_model(path, *, mult_width=16):
    """An :class:`Imported` for the ONNX model or network file at ``path``.

    Raises :class:`ModelError` when the file is missing, unreadable or not supported."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if _is_onnx(path):
        return load(path, mult_width=mult_width)
    try:
        network = Sequential.load(path)
    except (ValueError, OSError, KeyError) as error:
        raise ModelError(f"{path} is not a sysconv network file ({error})") from None
    meta = network.metadata.get(_METADATA_KEY)
    if meta is not None:
        meta = dict(
            meta,
            input_shape=tuple(meta["input_shape"]),
            onnx_input_shape=tuple(meta["onnx_input_shape"]),
            output_shape=tuple(meta["output_shape"]),
        )
        return Imported(network=network, **meta)
    return _native(network)


class _Native(Imported):
    """A network file without ONNX quantisation: int8 integers in and out."""

    def quantize_input(self, x):
        x = np.asarray(x)
        if x.dtype.kind not in "iu":
            raise ValueError(
                f"input must be an integer array of int8 values for a network "
                f"file without ONNX quantisation, not {x.dtype}"
            )
        if x.ndim != 4:
            raise ValueError(f"input must be (N, C, H, W), not shape {x.shape}")
        if x.size and (x.min() < -128 or x.max() > 127):
            raise ValueError("input values must fit in int8 (-128..127)")
        return x.astype(np.int64)

    def output_from_int8(self, y):
        return np.asarray(y).astype(np.int8)


def _native(network):
    return _Native(
        network=network,
        input_shape=None,
        input_name="input",
        output_name="output",
        input_scale=1.0,
        input_zero_point=0,
        input_dtype="int8",
        output_scale=1.0,
        output_zero_point=0,
        output_dtype="int8",
        output_float=False,
        onnx_input_shape=None,
        output_shape=None,
        mapping=[],
    )


def save_imported(imported, path):
    """Write ``imported``'s network, with its quantisation in the metadata, to ``path``
    (all or nothing)."""
    network = imported.network
    meta = {name: getattr(imported, name) for name in _IMPORTED_FIELDS}
    network.metadata = dict(network.metadata, **{_METADATA_KEY: json.loads(json.dumps(meta))})
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    network.save(tmp)
    tmp.replace(path)


def _format(values):
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if len(set(values)) == 1:
        return f"{values[0]:.6g}" if isinstance(values[0], float) else str(values[0])
    return "[" + " ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values) + "]"


def mapping_text(imported, passes=None):
    """The node-to-layer (and to-pass) mapping as text lines: scales, zero points (int8),
    multiplier and shift."""
    lines = [
        f"input {imported.input_name}: scale {imported.input_scale:.6g} zero point "
        f"{imported.input_zero_point} ({imported.input_dtype}"
        f"{', -128 to int8' if imported.input_dtype == 'uint8' else ''}), "
        f"sample {tuple(imported.onnx_input_shape)}"
    ]
    pass_of = {}
    for index, step in enumerate(passes or []):
        for layer in step.layers:
            pass_of[layer] = f"pass {index} ({step.stage}: {step.name})"
    for index, row in enumerate(imported.mapping):
        nodes = ", ".join(row["nodes"]) or "(input reshape)"
        where = pass_of.get(index, "host")
        lines.append(f"layer {index} {row['layer']} <- {nodes} -> {where}")
        if "multiplier" in row:
            lines.append(
                f"    x scale {row['input_scale']:.6g} zp {row['input_zero_point']}; "
                f"w scale {_format(row['weight_scale'])}; y scale {row['output_scale']:.6g} "
                f"zp {row['output_zero_point']}"
            )
            lines.append(
                f"    scale {_format(row['scale'])} = multiplier "
                f"{_format(row['multiplier'])} / 2**shift {_format(row['shift'])}"
            )
    lines.append(
        f"output {imported.output_name}: scale {imported.output_scale:.6g} zero point "
        f"{imported.output_zero_point} ({imported.output_dtype}, "
        f"{'float32' if imported.output_float else imported.output_dtype} out), "
        f"sample {tuple(imported.output_shape)}"
    )
    return lines


def _compile(imported, rows, cols, images, packing):
    batch = min(images, 16)
    engine = engine_for(
        imported.network,
        imported.input_shape,
        rows,
        cols,
        batch=batch,
        mult_width=imported.mult_width,
        packing=packing,
    )
    passes = compile_network(
        imported.network, imported.input_shape, engine, batch=batch, packing=packing
    )
    return engine, passes, batch


def _pass_layer(step, samples):
    from sysconv.sim.network.scenario import pass_layer

    return pass_layer(step.stage, step.layer, samples)


def _amaranth_network(engine, passes, images, batch):
    """The network on the engine in Amaranth's simulator: batch by batch, pass by pass (a conv
    pass one packet for the batch's images), each pass's input the golden output of the one
    before (the bench stops at the first output word that differs, so the RTL's output is
    that). Per pass, the cycles of each run (image)."""
    from sysconv.sim.engine.amaranth_sim import run_engine_amaranth
    from sysconv.sim.engine.layer import LayerRun
    from sysconv.sim.network.scenario import host_input

    runs, which = [], []
    for first in range(0, len(images), batch):
        xs = list(images[first : first + batch])
        for index, step in enumerate(passes):
            if step.stage == "conv":
                layer = _pass_layer(step, len(xs))
                xs = [host_input(x, layer, step.pad, step.taps) for x in xs]
                x = xs[0] if len(xs) == 1 else np.stack(xs)
                runs.append(LayerRun(engine, layer, x, step.weights, step.bias))
                which.extend([index] * len(xs))
                xs = [run.expected() for run in runs[-1].image_runs()]
        x = np.stack([x.reshape(-1) for x in xs], axis=1)[:, None, :]
        for index, step in enumerate(passes):
            if step.stage == "dense":
                layer = _pass_layer(step, x.shape[2])
                weights = np.asarray(step.weights)
                runs.append(LayerRun(engine, layer, x, weights, step.bias))
                which.append(index)
                x = runs[-1].expected()
    bench = run_engine_amaranth(runs)
    stats = [{"cycles": [], "compute_cycles": []} for _ in passes]
    for index, timing in zip(which, bench.timing, strict=True):
        stats[index]["cycles"].append(timing.layer_cycles)
        stats[index]["compute_cycles"].append(timing.compute_cycles)
    cycles = bench.cycle
    return stats, cycles


def run_model(imported, x, *, simulator="golden", rows=8, cols=8, packing="auto", workdir=None):
    """Run the float input ``x`` (or int8 for a network file without ONNX quantisation);
    ``packing`` as :func:`sysconv.compiler.compile_network` takes it.

    Returns ``(y, summary)``: ``y`` as onnxruntime returns the graph's output, and the summary
    dict (``status``, ``images``, ``cycles_per_image``, ``rtl_equals_golden``, ``passes``...).
    ``y`` is the RTL's output when a simulator ran and matched, else golden's.
    Raises ValueError for an input the model cannot take (before anything runs).
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    q = imported.quantize_input(x)
    if imported.input_shape is None:  # a network file: the input fixes the shape
        imported.input_shape = tuple(q.shape[1:])
    if len(q) == 0:
        raise ValueError("input must hold at least one sample")
    imported.network.output_shapes(imported.input_shape)
    engine, passes, batch = _compile(imported, rows, cols, len(q), packing)
    golden_y = imported.run_int8(q)
    images = len(q)

    if simulator == "golden":
        stats, cycles, rtl_equal, status, message = None, None, None, "pass", ""
        rtl_y = golden_y
    elif simulator == "amaranth":
        from sysconv.sim.cycle_streams import StreamMismatch

        try:
            stats, cycles = _amaranth_network(engine, passes, q, batch)
            rtl_equal, status, message, rtl_y = True, "pass", "", golden_y
        except (StreamMismatch, AssertionError) as error:
            stats, cycles, rtl_equal, status, message, rtl_y = (
                None,
                None,
                False,
                "fail",
                str(error),
                None,
            )
    else:
        from sysconv.sim.network.run import run_network

        workdir = Path(workdir or f"build/runs/model-{simulator}")
        result = run_network(engine, passes, q, simulator, workdir, batch=batch)
        message = result.message
        if result.status == "pass" and result.details["logits"] is not None:
            rtl_y = result.details["logits"].reshape(golden_y.shape)
            rtl_equal = bool(np.array_equal(rtl_y, golden_y))
        else:
            rtl_y, rtl_equal = None, False
        status = "pass" if rtl_equal else "fail"
        stats, cycles = (
            (result.details["passes"] if result.status == "pass" else None),
            result.cycles,
        )

    rows_out, total = [], 0
    # The last batch may be smaller; its cycles are predicted for its own size.
    sizes = [min(batch, images - first) for first in range(0, images, batch)]
    for index, step in enumerate(passes):
        runs = images if step.stage == "conv" else -(-images // batch)
        layer = _pass_layer(step, min(batch, images))
        # The first run: a conv pass's first image, with the packet.
        predicted = predict_batch(rows, cols, layer)[0]
        row = {
            "pass": step.name,
            "stage": step.stage,
            "packed": step.packed,
            "layers": list(step.layers),
            "runs": runs,
            "predicted_cycles": predicted.layer_cycles,
            "predicted_compute_cycles": predicted.compute_cycles,
        }
        if stats:
            row["cycles"] = stats[index]["cycles"][0]
            row["compute_cycles"] = stats[index]["compute_cycles"][0]
        else:
            row["cycles"], row["compute_cycles"] = predicted.layer_cycles, predicted.compute_cycles
        row["utilization"] = layer.macs / (rows * cols * row["compute_cycles"])
        pass_total = sum(
            perf.layer_cycles
            for size in sizes
            for perf in predict_batch(rows, cols, _pass_layer(step, size))
        )
        # Every run of the pass, per image: the passes' shares add up to the network's.
        row["predicted_cycles_per_image"] = pass_total / images
        row["macs_per_image"] = _pass_layer(step, 1).macs
        total += pass_total
        rows_out.append(row)
    if simulator == "golden" or not stats:
        cycles_per_image = total / images
    else:
        cycles_per_image = sum(sum(stats[i]["cycles"]) for i in range(len(passes))) / images
    summary = {
        "status": status,
        "simulator": simulator,
        "images": images,
        "rows": rows,
        "cols": cols,
        "batch": batch,
        "cycles_per_image": cycles_per_image,
        "predicted_cycles_per_image": total / images,
        "rtl_equals_golden": rtl_equal,
        "simulated_cycles": cycles,
        "passes": rows_out,
        "message": message,
        "engine": asdict(engine),
    }
    y = imported.output_from_int8(rtl_y if rtl_y is not None else golden_y)
    return y, summary
