"""What a board does with a network: peak MAC/s, and the images/s the host driver would get
over the board's UART, with where the time goes.

For each pass of the network (:func:`sysconv.compiler.compile_network`), run by the host
driver as :meth:`sysconv.hw.boards.host.Board.run_layer` runs it:

- **link**: every byte of its frames both ways over the UART, 10 bits a byte (8N1) at the baud
  rate: the parameter packet (``param_words`` words of ``param_width / 8`` bytes) and the
  input tensor (``in_words`` words of ``rows`` bytes; for a tap-packed pass the packed
  tensor, ``ceil(K*K*Cin/rows)`` words an output pixel) in frames of at most ``max_frame``
  payload bytes, 6 bytes of framing each, each answered by a 7-byte response; the output
  (``cols`` bytes a word) in READ requests of 8 bytes, each answered by its words and 7 bytes.
  The engine takes parameters and input as fast as they arrive and sends output as fast as the
  UART takes it, so those phases last as long as their bytes on the line;
- **compute**: the engine's cycles between the last input word and the first output word
  (first weight set's load, compute phase, drain: :mod:`sysconv.golden.perf`) at the board's
  clock, during which the line is idle.

The two add up: the driver waits for each response before the next frame. The host's own
time (USB latency, the driver's Python) is not counted. Convolution passes run once per image
(the host driver sends one packet an image: ``images = 1``), dense passes once per batch. The
engine alone (``compute_bound_images_per_s``) runs as the RTL demo does: a conv pass with one
packet for the batch's images, the next input overlapping the current output.
"""

from dataclasses import replace

from sysconv.golden.perf import predict_batch, predict_layer
from sysconv.hw.boards.protocol import MAX_LENGTH

__all__ = [
    "BITS_PER_BYTE",
    "REQUEST_BYTES",
    "RESPONSE_BYTES",
    "STATUS_EXCHANGE_BYTES",
    "pass_link_bytes",
    "project",
    "project_network",
]

BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit
REQUEST_BYTES = 6  # sync, command, length (2), CRC (2)
RESPONSE_BYTES = 7  # sync, command, length (2), status, CRC (2)
READ_PAYLOAD = 2  # a READ's word count


def _ceil_div(a, b):
    return -(-a // b)


def _words_link_bytes(words, word_bytes, max_frame):
    """Bytes to the board and back for ``words`` words sent as the driver splits them."""
    data = words * word_bytes
    step = max(max_frame // word_bytes, 1) * word_bytes
    frames = _ceil_div(data, step)
    return data + REQUEST_BYTES * frames, RESPONSE_BYTES * frames


def pass_link_bytes(perf, *, param_bytes, max_frame=4096):
    """``(to_board, to_host)``: the bytes one pass (its :class:`~sysconv.golden.perf.LayerPerf`
    ``perf``) puts on the line each way."""
    params_out, params_back = _words_link_bytes(perf.param_words, param_bytes, max_frame)
    input_out, input_back = _words_link_bytes(perf.in_words, perf.rows, max_frame)
    outputs = len(perf.output_beat_cycles)
    per_read = max(min(max_frame, MAX_LENGTH) // perf.cols, 1)
    reads = _ceil_div(outputs, per_read)
    read_out = (REQUEST_BYTES + READ_PAYLOAD) * reads
    read_back = outputs * perf.cols + RESPONSE_BYTES * reads
    return params_out + input_out + read_out, params_back + input_back + read_back


def project(passes, engine, *, clock_hz, baud, batch, max_frame=4096):
    """The network ``passes`` (:class:`sysconv.compiler.Pass`, dense passes compiled for
    ``batch`` samples) on ``engine`` (an :class:`~sysconv.hw.layer.EngineConfig`: its array
    shape and parameter word) at ``clock_hz`` over a UART at ``baud``.

    Returns a dict: ``macs_per_cycle``, ``peak_mac_per_s``, ``per_image`` (seconds, MACs, link
    bytes, engine cycles: the engine alone, a conv pass's batch with one packet),
    ``images_per_s``, ``compute_share`` and ``link_share`` (of the time per image),
    ``compute_bound_images_per_s`` (the engine alone, stall-free, no link), and per pass the
    same figures.
    """
    rows, cols = engine.rows, engine.cols
    param_bytes = engine.param_width // 8
    byte_s = BITS_PER_BYTE / baud
    rows_out, link_s, compute_s, macs, link_bytes, layer_cycles = [], 0.0, 0.0, 0.0, 0.0, 0.0
    for step in passes:
        one = replace(step.layer, images=1) if step.stage == "conv" else step.layer
        perf = predict_layer(rows, cols, one)
        share = 1 if step.stage == "conv" else 1 / batch  # of the pass, per image
        # The engine alone: a conv pass's batch with one packet.
        batched = predict_batch(
            rows, cols, replace(one, images=batch) if step.stage == "conv" else one
        )
        engine_cycles = sum(p.layer_cycles for p in batched) / batch
        to_board, to_host = pass_link_bytes(perf, param_bytes=param_bytes, max_frame=max_frame)
        compute_cycles = perf.weight_load_cycles + perf.compute_cycles + perf.drain_cycles
        pass_link_s = (to_board + to_host) * byte_s
        pass_compute_s = compute_cycles / clock_hz
        rows_out.append(
            {
                "pass": step.name,
                "stage": step.stage,
                "runs_per_image": share,
                "macs": perf.macs,
                "bytes_to_board": to_board,
                "bytes_to_host": to_host,
                "link_s": pass_link_s,
                "compute_cycles": compute_cycles,
                "compute_s": pass_compute_s,
                "layer_cycles": perf.layer_cycles,
                "engine_cycles_per_image": engine_cycles,
            }
        )
        link_s += share * pass_link_s
        compute_s += share * pass_compute_s
        macs += share * perf.macs
        link_bytes += share * (to_board + to_host)
        layer_cycles += engine_cycles
    total_s = link_s + compute_s
    return {
        "macs_per_cycle": rows * cols,
        "peak_mac_per_s": rows * cols * clock_hz,
        "clock_hz": clock_hz,
        "baud": baud,
        "batch": batch,
        "per_image": {
            "seconds": total_s,
            "link_s": link_s,
            "compute_s": compute_s,
            "macs": macs,
            "link_bytes": link_bytes,
            "layer_cycles": layer_cycles,
        },
        "images_per_s": 1 / total_s,
        "link_share": link_s / total_s,
        "compute_share": compute_s / total_s,
        "compute_bound_images_per_s": clock_hz / layer_cycles,
        "passes": rows_out,
    }


STATUS_EXCHANGE_BYTES = REQUEST_BYTES + RESPONSE_BYTES + 6  # STATUS and its 6-byte answer


def project_network(passes, engine, *, clock_hz, baud, max_frame=4096):
    """The network ``passes`` in network mode (:func:`sysconv.compiler.chain`, one image a
    pass) on ``engine`` as :meth:`sysconv.hw.boards.host.Board.run_network` runs them: every
    pass's packet, the first pass's input and the last pass's output over the UART, and
    before each packet after the first, STATUS polls until the engine is back in its params
    phase (as many as the line carries while the pass before runs, and one more).

    Returns a dict: ``per_image`` (``seconds``, ``link_s``, ``compute_s``: the last pass's
    cycles before its first output word, the line idle; ``link_bytes``, ``polls``) and
    ``images_per_s``."""
    rows, cols = engine.rows, engine.cols
    param_bytes = engine.param_width // 8
    byte_s = BITS_PER_BYTE / baud
    poll_s = STATUS_EXCHANGE_BYTES * byte_s
    link_bytes, polls, compute_s = 0, 0, 0.0
    last = len(passes) - 1
    for index, step in enumerate(passes):
        perf = predict_layer(rows, cols, step.layer)
        link_bytes += sum(_words_link_bytes(perf.param_words, param_bytes, max_frame))
        taken = perf.param_words - 1  # the cycle of the packet's last word
        if index == 0:
            link_bytes += sum(_words_link_bytes(perf.in_words, rows, max_frame))
            taken = perf.first_input_cycle + perf.in_words - 1
        if index < last:
            # The driver polls while the engine runs the pass to its end, and once after
            # (the phase taken as the poll's exchange starts).
            busy_s = (perf.end_cycle - taken) / clock_hz
            polls += int(busy_s // poll_s) + 1
        else:
            compute_s = (perf.output_beat_cycles[0] - taken) / clock_hz
            outputs = len(perf.output_beat_cycles)
            per_read = max(min(max_frame, MAX_LENGTH) // cols, 1)
            reads = _ceil_div(outputs, per_read)
            link_bytes += (REQUEST_BYTES + READ_PAYLOAD + RESPONSE_BYTES) * reads + outputs * cols
    link_bytes += polls * STATUS_EXCHANGE_BYTES
    link_s = link_bytes * byte_s
    total_s = link_s + compute_s
    return {
        "per_image": {
            "seconds": total_s,
            "link_s": link_s,
            "compute_s": compute_s,
            "link_bytes": link_bytes,
            "polls": polls,
        },
        "images_per_s": 1 / total_s,
    }
