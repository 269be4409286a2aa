"""``sysconv demo`` / ``make demo``: the founding document's CNN classifying handwritten digits
on the simulated accelerator RTL, bit-exact with the golden int8 model.

The model is ``models/digits_cnn.onnx``: the CNN trained in NumPy by
``scripts/train_digits.py``, exported to ONNX and quantised by onnxruntime's ``quantize_static``
(int8 QDQ, per-channel weights), the path a user's model takes. :func:`sysconv.onnx.load`
imports it; the network is compiled onto an engine generated for it (:mod:`sysconv.compiler`),
and the first ``N`` test images (float ``q / 127``, quantised as the model's first
QuantizeLinear does) run through the generated Verilog, every pass on the engine, pass by pass
over a batch: the conv passes with one parameter packet for the batch's images, the next
image's input overlapping the current output (conv + ReLU + 2x2 max pool fused; the first, with
3 input channels, tap-packed by the host where golden.perf predicts it pays), the two Linear
layers once per batch as 1x1 convolutions. onnxruntime runs the same model on the whole test
set for comparison.
"""

import json
from pathlib import Path

import numpy as np

from sysconv.golden import digits
from sysconv.golden.perf import predict_batch, predict_network
from sysconv.sim.network.run import run_network, run_network_on_chip
from sysconv.sim.network.scenario import pass_layer
from sysconv.sim.runner import build_root

from . import models
from .compiler import CompileError, chain, compile_network, engine_for
from .onnx import load
from .projection import project, project_network
from .tools import source_commit

__all__ = [
    "MODEL",
    "ONNX_MODEL",
    "MAX_BATCH",
    "board_fmax",
    "board_projection",
    "boards_projection",
    "demo_engine",
    "float_inputs",
    "projection_lines",
    "run_demo",
]

MODEL = models.path(models.DIGITS_CNN)
ONNX_MODEL = models.path(models.DIGITS_ONNX)
INPUT_SHAPE = (3, 24, 24)


def float_inputs(images):
    """int8 digit images to the float32 inputs the ONNX model was trained and quantised on."""
    return (np.asarray(images) * np.float32(digits.INPUT_SCALE)).astype(np.float32)


def _onnxruntime(x):
    """The ONNX model on onnxruntime (its own int8 kernels): float32 logits."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(ONNX_MODEL), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _model_metadata():
    import onnx

    model = onnx.load(str(ONNX_MODEL))
    metadata = {}
    for entry in model.metadata_props:  # ours are JSON; the quantiser adds plain strings
        try:
            metadata[entry.key] = json.loads(entry.value)
        except ValueError:
            metadata[entry.key] = entry.value
    return metadata


def board_fmax(root=None):
    """``(board, engine Fmax in MHz)`` from the newest board report under ``root/boards``
    (``sysconv build``'s ``report.json``: the engine-alone build's slowest clock), or ``None``
    when no board was built."""
    root = build_root() if root is None else Path(root)
    reports = sorted((root / "boards").glob("*/report.json"), key=lambda path: path.stat().st_mtime)
    for path in reversed(reports):
        try:
            clocks = json.loads(path.read_text())["engine"]["fmax"]
            return path.parent.name, min(float(clock["achieved_mhz"]) for clock in clocks.values())
        except (ValueError, KeyError, TypeError):
            continue  # a report from an interrupted or older build
    return None


def board_projection(config, *, clock_hz, baud, batch=16):
    """The demo network on a board whose engine is ``config`` at ``clock_hz``, over a UART at
    ``baud`` (:func:`sysconv.projection.project`), with ``network`` (the model's file name),
    ``tap_packed`` (the passes the host packs), ``engine_holds_network`` and, when it does
    not, ``why_not``: the engine's limits or buffers too small for a pass. The cycles and link
    bytes depend only on the array's shape and the parameter word, so the figures are those
    of the board's array with buffers that hold the network.

    The compiler packs a pass's taps where the engine's cycles gain (``packing="auto"``); over
    a UART the packed input (K*K times the channels) can cost the link more than that, so the
    board's host packs only if the whole projected time per image, link included, is shorter
    (on the demo network only conv1 is a candidate)."""
    network = load(ONNX_MODEL).network
    array = (config.rows, config.cols)
    options = []
    for packing in ("auto", "never"):
        try:
            passes = compile_network(network, INPUT_SHAPE, config, batch=batch, packing=packing)
            why_not = None
        except CompileError as error:
            passes = compile_network(
                network, INPUT_SHAPE, batch=batch, array=array, packing=packing
            )
            why_not = str(error)
        result = project(passes, config, clock_hz=clock_hz, baud=baud, batch=batch)
        result["tap_packed"] = [step.name for step in passes if step.packed]
        options.append((result, why_not))
    result, why_not = min(options, key=lambda option: option[0]["per_image"]["seconds"])
    result["network"] = ONNX_MODEL.name
    result["engine_holds_network"] = why_not is None
    if why_not is not None:
        result["why_not"] = why_not
    result["network_mode"] = _network_mode_projection(network, config, clock_hz, baud)
    return result


def _network_mode_projection(network, config, clock_hz, baud):
    """The demo network in network mode on the board's array, as the host driver runs it
    (one image a pass: :func:`sysconv.projection.project_network`), with an engine that holds
    it and has the activation buffer it needs; or ``{"why_not": ...}``."""
    if config.rows % config.cols:
        shape = f"{config.rows}x{config.cols}"
        return {"why_not": f"network mode needs rows a multiple of cols, not {shape}"}
    imported = load(ONNX_MODEL)
    engine = engine_for(
        network,
        INPUT_SHAPE,
        config.rows,
        config.cols,
        mult_width=imported.mult_width,
        network_mode=True,
    )
    passes = chain(compile_network(network, INPUT_SHAPE, engine, network_mode=True), engine)
    return project_network(passes, engine, clock_hz=clock_hz, baud=baud)


def boards_projection(batch=16):
    """:func:`board_projection` for every board of :data:`sysconv.hw.boards.platforms.BOARDS`
    with its default engine, clock and UART rate; by board name."""
    from sysconv.hw.boards.platforms import BOARDS
    from sysconv.hw.layer import EngineConfig

    return {
        name: board_projection(
            EngineConfig(**spec.engine), clock_hz=spec.clock_hz, baud=spec.baud, batch=batch
        )
        for name, spec in BOARDS.items()
    }


def projection_lines(board):
    """:func:`board_projection`'s figures as reports print them, a list of lines."""
    per_image = board["per_image"]
    lines = [
        f"peak: {board['macs_per_cycle']} MACs/cycle x {board['clock_hz'] / 1e6:g} MHz = "
        f"{board['peak_mac_per_s'] / 1e6:g} M MAC/s",
        f"demo network ({board['network']}, batch {board['batch']}) over the UART at "
        f"{board['baud']} baud: {board['images_per_s']:.1f} images/s",
        f"  per image {per_image['seconds'] * 1e3:.2f} ms: link {per_image['link_s'] * 1e3:.2f} "
        f"ms ({board['link_share']:.1%}, {per_image['link_bytes']:.0f} bytes), compute "
        f"{per_image['compute_s'] * 1e3:.2f} ms ({board['compute_share']:.1%}); the engine "
        f"alone, without the link: {board['compute_bound_images_per_s']:.0f} images/s",
    ]
    lines.append(
        "  taps packed: "
        + (", ".join(board["tap_packed"]) or "none (over the link, no packing pays)")
    )
    network = board["network_mode"]
    if "why_not" in network:
        lines.append(f"  network mode: not on this array ({network['why_not']})")
    else:
        lines.append(
            f"  network mode (the layers chained on chip; the host driver runs one image a "
            f"pass): {network['images_per_s']:.1f} images/s, "
            f"{network['per_image']['link_bytes']:.0f} bytes a image over the link"
        )
    if not board["engine_holds_network"]:
        lines.append(
            "  (this engine's limits or buffers do not hold the network: the figures are its "
            "array's, with buffers that do)"
        )
    return lines


def _plot(path, images, labels, predictions, confusion):
    """Up to 16 test images with the RTL's predictions (wrong ones in red) beside the confusion
    matrix. Constrained layout makes room for every title, tick and axis label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = min(16, len(images))
    columns = 8
    figure = plt.figure(figsize=(13, 5), layout="constrained")
    left, right = figure.subfigures(1, 2, width_ratios=[2.2, 1])
    grid = left.subplots(2, columns)
    for k, axis in enumerate(grid.flat):
        axis.axis("off")
        if k >= shown:
            continue
        axis.imshow(images[k][0], cmap="gray_r", vmin=0, vmax=127)
        ok = predictions[k] == labels[k]
        axis.set_title(
            f"RTL: {predictions[k]}\n(label {labels[k]})",
            color="black" if ok else "red",
            fontsize=9,
        )
    left.suptitle(f"the first {shown} test images and the RTL's predictions", fontsize=10)
    axis = right.subplots()
    axis.imshow(confusion, cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            axis.text(j, i, str(count), ha="center", va="center", fontsize=7)
    axis.set_xlabel("predicted (RTL)")
    axis.set_ylabel("label")
    axis.set_xticks(range(10))
    axis.set_yticks(range(10))
    axis.set_title("confusion matrix", fontsize=10)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# Runs of 1 to 16 images use one engine, sized for a batch of 16: one hardware configuration
# (and one simulator model) whatever the run's batch, as a chip would be.
MAX_BATCH = 16


def demo_engine(rows=8, cols=8, *, batch=MAX_BATCH, network_mode=False):
    """The demo's :class:`~sysconv.hw.layer.EngineConfig` on a ``rows`` x ``cols`` array: the
    smallest that runs the seed CNN in batches of ``max(batch, MAX_BATCH)`` (with
    ``network_mode``, in network mode: :func:`sysconv.compiler.chain`)."""
    imported = load(ONNX_MODEL)
    return engine_for(
        imported.network,
        INPUT_SHAPE,
        rows,
        cols,
        batch=max(batch, MAX_BATCH),
        mult_width=imported.mult_width,
        network_mode=network_mode,
    )


def demo_passes(rows=8, cols=8, *, batch=MAX_BATCH, network_mode=False):
    """The demo's engine (:func:`demo_engine`) and the seed CNN's passes compiled for it in
    batches of ``batch`` (with ``network_mode``, chained: :func:`sysconv.compiler.chain`)."""
    engine = demo_engine(rows, cols, batch=batch, network_mode=network_mode)
    imported = load(ONNX_MODEL)
    passes = compile_network(
        imported.network, INPUT_SHAPE, engine, batch=batch, network_mode=network_mode
    )
    return engine, chain(passes, engine) if network_mode else passes


def chained_batch_cycles(engine, passes, size):
    """golden.perf's cycles of one batch of ``size`` images through chained ``passes`` in
    network mode, stall-free: its first packet word to its last logit, both counted."""
    layers = [pass_layer(step.stage, step.layer, size) for step in passes]
    return predict_network(engine.rows, engine.cols, layers)[-1].output_beat_cycles[-1] + 1


def stream_bytes(engine, passes, sizes):
    """Bytes on the engine's three streams per image, ``(host mode, network mode)``, for the
    batches of ``sizes`` images through ``passes``: the host mode moves every pass's packet,
    input and output; the network mode (:func:`sysconv.compiler.chain`) the packets, the
    first pass's input and the last pass's output."""
    host = network = 0
    for size in sizes:
        perfs = [
            predict_batch(engine.rows, engine.cols, pass_layer(step.stage, step.layer, size))
            for step in passes
        ]
        for index, images in enumerate(perfs):
            params = images[0].param_words * engine.param_width // 8
            inputs = sum(p.in_words for p in images) * engine.rows
            outputs = sum(len(p.output_beat_cycles) for p in images) * engine.cols
            host += params + inputs + outputs
            network += params
            network += inputs if index == 0 else 0
            network += outputs if index == len(perfs) - 1 else 0
    return host / sum(sizes), network / sum(sizes)


def run_demo(
    *,
    images=16,
    simulator="verilator",
    rows=8,
    cols=8,
    batch=None,
    network_mode=False,
    out="build/demo",
    echo=print,
):
    """Run the demo; returns the summary dict (also written to ``out/summary.json``). With
    ``network_mode`` the network runs in network mode (only each batch's packets, first
    input and logits cross the engine's streams); the host sees whole batches only, whose
    cycles the summary gives (``batches``) with golden.perf's (``predicted_batches``), and
    no pass by pass figures."""
    from tqdm import tqdm

    imported = load(ONNX_MODEL)
    network = imported.network
    test_images, y_test = digits.load("test")
    if not 1 <= images <= len(test_images):
        raise ValueError(f"images must be from 1 to {len(test_images)}, not {images}")
    batch = min(images, MAX_BATCH) if batch is None else batch
    engine, passes = demo_passes(rows, cols, batch=batch, network_mode=network_mode)
    sizes = [min(batch, images - first) for first in range(0, images, batch)]
    floats = float_inputs(test_images)
    x_test = imported.quantize_input(floats)
    x, y = x_test[:images], y_test[:images]
    golden_logits = network.run(x)
    golden_all_logits = network.run(x_test)
    golden_all = golden_all_logits.argmax(axis=1)
    reference = _onnxruntime(floats)
    steps = np.abs(
        imported.steps(imported.output_from_int8(golden_all_logits)) - imported.steps(reference)
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    echo(
        f"sysconv demo: {ONNX_MODEL.name} (quantised by onnxruntime), {images} test images "
        f"through the {rows}x{cols} engine's RTL on {simulator} ({len(passes)} passes: "
        f"{'; '.join(p.name for p in passes)})"
        + (", in network mode: the layers chained on chip" if network_mode else "")
    )
    # Network mode: the host sees only each batch's logits, so the bar counts the packets the
    # engine takes.
    run, total, unit = (
        (run_network_on_chip, len(sizes) * len(passes), "layer")
        if network_mode
        else (run_network, images, "image")
    )
    with tqdm(total=total, unit=unit, desc="RTL", leave=True) as bar:
        result = run(
            engine,
            passes,
            x,
            simulator,
            out / simulator,
            batch=batch,
            progress=lambda done, total: bar.update(done - bar.n),
        )
        bar.update(total - bar.n if result.status == "pass" else 0)
    if result.status != "pass":
        echo(f"FAIL: {result.message}")
        return {"status": "fail", "message": result.message}

    rtl_predictions = result.details["logits"].argmax(axis=1)
    bit_exact = bool(np.array_equal(result.details["logits"], golden_logits))
    layers = []
    for step, stats in zip(passes, result.details.get("passes", []), strict=not network_mode):
        samples = images if step.stage == "conv" else -(-images // batch)
        layer = pass_layer(step.stage, step.layer, min(batch, images))
        # The first run (a conv pass's first image, with the packet), and every run.
        predicted = predict_batch(rows, cols, layer)[0]
        runs = [
            perf
            for size in sizes
            for perf in predict_batch(rows, cols, pass_layer(step.stage, step.layer, size))
        ]
        compute = stats["compute_cycles"][0]
        layers.append(
            {
                "pass": step.name,
                "runs": samples,
                "layer_cycles": stats["cycles"][0],
                "predicted_layer_cycles": predicted.layer_cycles,
                "compute_cycles": compute,
                "predicted_compute_cycles": predicted.compute_cycles,
                "utilization": layer.macs / (rows * cols * compute),
                "run_cycles": stats["cycles"],
                "predicted_run_cycles": [perf.layer_cycles for perf in runs],
            }
        )
    if network_mode:
        batches = result.details["batches"]
        predicted_batches = [chained_batch_cycles(engine, passes, size) for size in sizes]
        cycles_per_image = sum(batches) / images
    else:
        cycles_per_image = result.cycles / images
    host_bytes, network_bytes = stream_bytes(engine, passes, sizes)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (y, rtl_predictions), 1)
    summary = {
        "status": "pass" if bit_exact else "fail",
        "commit": source_commit(),
        "images": images,
        "simulator": simulator,
        "rows": rows,
        "cols": cols,
        "batch": batch,
        "network_mode": network_mode,
        "layers": layers,
        "stream_bytes_per_image": {"host_mode": host_bytes, "network_mode": network_bytes},
        "predictions": rtl_predictions.tolist(),
        "labels": y.tolist(),
        "rtl_accuracy": float(np.mean(rtl_predictions == y)),
        "golden_int8_accuracy": float(np.mean(golden_logits.argmax(axis=1) == y)),
        "golden_int8_accuracy_test_set": float(np.mean(golden_all == y_test)),
        "float_accuracy_test_set": _model_metadata().get("float_test_accuracy"),
        "onnxruntime_int8_accuracy_test_set": float(np.mean(reference.argmax(axis=1) == y_test)),
        "golden_logits_equal_onnxruntime": float(np.mean(steps == 0)),
        "golden_onnxruntime_max_steps": int(steps.max()),
        "logits_bit_exact": bit_exact,
        "simulated_cycles": result.cycles,
        "cycles_per_image": cycles_per_image,
        "wall_seconds": result.details["seconds"],
        "simulated_cycles_per_second": result.cycles / result.details["seconds"],
    }
    if network_mode:
        summary.update(
            batches=batches,
            predicted_batches=predicted_batches,
            cycles_equal_prediction=batches == predicted_batches,
        )
        if batches != predicted_batches:
            summary["status"] = "fail"
    fmax = board_fmax()
    if fmax:
        summary["projected_images_per_second"] = {
            "board": fmax[0],
            "fmax_mhz": fmax[1],
            "images_per_second": fmax[1] * 1e6 / cycles_per_image,
        }
    summary["boards"] = boards_projection(batch=batch)
    _plot(out / "demo.png", test_images[:images], y, rtl_predictions, confusion)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    if network_mode:
        echo(
            f"\ncycles per batch: {batches}; golden.perf: {predicted_batches} "
            f"({'equal' if batches == predicted_batches else 'DIFFERENT'})"
        )
    else:
        echo(f"\n{'per pass (first run)':<37} cycles  predicted  compute  predicted  PE util")
    for row in layers:
        echo(
            f"  {row['pass']:<34} {row['layer_cycles']:>7} {row['predicted_layer_cycles']:>10} "
            f"{row['compute_cycles']:>8} {row['predicted_compute_cycles']:>10} "
            f"{row['utilization']:>8.1%}"
        )
    echo("\nimage  label  RTL prediction")
    for k in range(images):
        mark = "" if rtl_predictions[k] == y[k] else "   <- wrong"
        echo(f"  {k:>4}  {y[k]:>5}  {rtl_predictions[k]:>14}{mark}")
    echo(f"\nRTL accuracy on these {images} images:   {summary['rtl_accuracy']:.1%}")
    echo(f"golden int8 accuracy, same images:     {summary['golden_int8_accuracy']:.1%}")
    echo(
        f"golden int8 accuracy, whole test set:  {summary['golden_int8_accuracy_test_set']:.1%}"
        f" ({len(y_test)} images)"
    )
    echo(
        f"onnxruntime int8 accuracy, test set:   "
        f"{summary['onnxruntime_int8_accuracy_test_set']:.1%}; golden logits equal to "
        f"onnxruntime's: {summary['golden_logits_equal_onnxruntime']:.1%} (largest difference "
        f"{summary['golden_onnxruntime_max_steps']} step)"
    )
    if summary["float_accuracy_test_set"] is not None:
        echo(f"float accuracy, whole test set:        {summary['float_accuracy_test_set']:.1%}")
    echo(
        f"every RTL logit equals the golden int8 logit: {'yes' if bit_exact else 'NO'} "
        f"({result.details['logits'].size} logits)"
    )
    echo(
        f"simulated {result.cycles} cycles ({cycles_per_image:.0f} per image) in "
        f"{result.details['seconds']:.1f} s: "
        f"{summary['simulated_cycles_per_second']:.0f} cycles/s"
    )
    if fmax:
        echo(
            f"projected: {summary['projected_images_per_second']['images_per_second']:.0f} "
            f"images/s at {fmax[1]:.1f} MHz (Fmax from build/boards/{fmax[0]}/report.json)"
        )
    else:
        echo("projected images/s: no board report yet (make bitstream BOARD=...)")
    for name, board in summary["boards"].items():
        echo(f"on the {name} (default engine, clock and UART):")
        for line in projection_lines(board):
            echo(f"  {line}")
    echo(
        f"bytes on the engine's streams per image: {host_bytes:,.0f} with the host moving "
        f"every pass's tensors, {network_bytes:,.0f} in network mode"
    )
    echo(f"wrote {out / 'demo.png'} and {out / 'summary.json'}")
    return summary
