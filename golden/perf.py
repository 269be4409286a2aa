"""Performance model of the convolution engine: cycles per phase, PE utilisation, buffer traffic.

The model follows the engine's documented schedule, not its code, and predicts the cycle of
every stream handshake when nothing stalls (every stream valid and ready whenever the engine
allows). The tests hold it to zero cycles of difference from the RTL simulations.

Schedule (cycles are clock cycles; the layer's first parameter word is accepted in cycle 0).
A packet serves ``images`` input tensors (``layer.images``, 1 when absent); each is an *image*:
INPUT, COMPUTE, OUTPUT, with PARAMS before the first.

- PARAMS: the packet's ``param_words`` words, one a cycle: ``REGISTER_WORDS`` registers,
  ``bias_words = 2 * col_tiles * cols`` biases and requantisation words, then the weights.
- INPUT: the input tensor's ``in_words`` words, one a cycle, from the next cycle; for a
  chained-input packet (``layer.chain_input``, network mode) from the cycle after its last
  bias word instead, its weights still coming in (see the weight beats below). Image
  ``k``'s input goes into input bank ``k % banks`` (``banks`` 2 with ``layer.double_buffer``,
  else 1): its words go in one a cycle from the cycle after both image ``k - 1``'s last input
  word and image ``k - banks``'s last COMPUTE cycle. (One bank: the next image's input
  overlaps the previous image's OUTPUT, from that phase's first cycle; two: it follows the
  previous input back to back, or the end of the COMPUTE before the previous one.)
- COMPUTE, from cycle ``X``: the cycle after its last input word, for a later image ``k``
  no earlier than the second cycle after image ``k - 1``'s last result out of the array (the
  array is empty; its results still drain, see below) and the second cycle after image
  ``k - banks``'s end (one bank: after the previous image's end; two: its output bank
  drained). On an array with ``2 * rows + cols < 8`` the image's first result would come
  before the accumulator and write-back are back from the previous drain, and ``X`` is no
  earlier than the second cycle after image ``k - 1``'s last COMPUTE cycle instead.
  ``sets`` passes, each a weight set of
  ``rows`` beats and ``pixels`` vectors. Set 0's beats go in at ``X+3 .. X+rows+2``. With
  ``F_n`` the cycle of set ``n``'s last weight beat and ``A_n .. E_n`` its vectors:
  ``A_n = max(E_{n-1}, F_n) + 1``, ``E_n = A_n + pixels - 1``, with ``E_{-1} = X +
  WINDOW_LATENCY - 1`` (the first vector's read in cycle ``X``); for ``n >= 1`` set ``n``'s
  first beat goes in at ``B_n = max(F_{n-1} + 1, E_{n-2} + rows + cols - 1)`` (it overwrites
  the bank of set ``n - 2``, whose last vector must have passed every PE; no wait for
  ``n = 1``), and ``F_n = max(B_n + rows - 1, E_{n-1} + 1)`` (a set's last beat waits for the
  previous set's last vector). A chained-input packet's weights come in while its first
  image computes (word ``j`` taken in cycle ``W + j``, ``W`` its first weight word's), and the
  engine offers no weight word before ``W + j + 4``; that never holds a beat back here:
  its input, at least one word, comes from ``W`` on, so ``B_0 = X + 3 >= W + 4``, and a set's
  beats take at least ``rows`` cycles, ``B_n >= W + n * rows + 4``. (With gaps on the packet,
  it does; the simulations with stalls check the data then.) Results leave the array
  ``rows + cols + 2`` cycles after their vector.
- Drain: the last result is accumulated (``ACC_LATENCY``: the accumulator read, its output
  registered twice, the sum registered), requantised (``REQUANT_LATENCY``) and written; the
  image's COMPUTE's last cycle is ``ACC_LATENCY + REQUANT_LATENCY + 1`` cycles after the last
  result, and the OUTPUT phase starts the cycle after, or (two banks) the second cycle after
  the previous image's end if that is later.
- OUTPUT: the output buffer is read from the next cycle, one word a cycle, into the pooling
  unit (see :mod:`sysconv.golden.pool_timing`) or straight out.
- The image ends the cycle after its last output word, or after the last output-buffer word
  into the pooling unit if that is later; the next image's share of the layer's time
  (:attr:`LayerPerf.layer_cycles`) starts the cycle after, its input (and with two banks
  its compute) already overlapped. After the packet's last image the next layer's first
  parameter word is accepted the cycle after.
"""

from dataclasses import asdict, dataclass, field

__all__ = [
    "REGISTER_WORDS",
    "ACC_LATENCY",
    "REQUANT_LATENCY",
    "WINDOW_LATENCY",
    "LayerPerf",
    "predict_batch",
    "predict_layer",
    "predict_network",
]

REGISTER_WORDS = 33  # register words at the start of a parameter packet (hw.layer.REGISTERS)
ACC_LATENCY = 4  # the accumulator read, registered twice, the sum registered (hw.engine)
REQUANT_LATENCY = 6  # the requantiser's pipeline (hw.requant.Requantizer.latency)
WINDOW_LATENCY = 3  # a vector's read to its offer (hw.engine.WindowGenerator.latency)


def _ceil_div(a, b):
    return -(-a // b)


@dataclass
class LayerPerf:
    """Predicted cycles of one image of a layer on a ``rows x cols`` engine: image ``image`` of
    its packet (0, the image that comes with the packet and its ``param_words``, or a later one,
    whose ``param_words`` are 0).

    Cycle numbers (``*_cycle`` and ``output_beat_cycles``) count from the first parameter
    word of the first layer predicted (:func:`predict_network`) or from ``start``; durations
    are in cycles.
    """

    rows: int
    cols: int
    macs: int  # useful multiply-accumulates of the layer
    param_words: int  # parameter packet length (registers, biases, weights); 0 past image 0
    in_words: int
    out_words: int  # words out of the convolution (before pooling)
    sets: int  # passes over the array
    pixels: int
    start_cycle: int  # the packet's first parameter word, or the previous image's end + 1
    first_input_cycle: int
    compute_start_cycle: int  # first vector into the array
    compute_end_cycle: int  # last result out of the array
    compute_done_cycle: int  # the COMPUTE phase's last cycle (its last result written)
    last_read_cycle: int  # last output buffer word into the pooling unit (or out)
    output_beat_cycles: list = field(repr=False)
    set_start_cycles: list = field(default_factory=list, repr=False)  # each set's first vector
    image: int = 0  # which of the packet's images

    @property
    def output_phase_cycle(self):
        """The first cycle of the OUTPUT phase (the output buffer is read from the next)."""
        return self.last_read_cycle - self.out_words

    @property
    def param_cycles(self):
        return self.param_words

    @property
    def input_cycles(self):
        return self.in_words

    @property
    def compute_cycles(self):
        """First vector into the array to last result out, both counted."""
        return self.compute_end_cycle - self.compute_start_cycle + 1

    @property
    def array_latency(self):
        """Cycles from a vector into the array to its result out."""
        return self.rows + self.cols + 2

    @property
    def tile_cycles(self):
        """The compute phase tile by tile (a tile is one set: a weight set and its pass of
        ``pixels`` vectors): from each set's first vector to the next set's, the last set's
        to the last result out. They add up to :attr:`compute_cycles`."""
        ends = self.set_start_cycles[1:] + [self.compute_end_cycle + 1]
        return [end - begin for begin, end in zip(self.set_start_cycles, ends, strict=True)]

    @property
    def set_gap_cycles(self):
        """Compute-phase cycles in which no vector enters the array because the next set's
        weights are not in yet; ``compute_cycles = sets * pixels + set_gap_cycles +
        array_latency``."""
        return sum(
            after - (before + self.pixels)
            for before, after in zip(self.set_start_cycles, self.set_start_cycles[1:], strict=False)
        )

    @property
    def total_cycles(self):
        """First input word accepted to last output word sent, both counted."""
        return self.output_beat_cycles[-1] - self.first_input_cycle + 1

    @property
    def end_cycle(self):
        """The layer's last cycle: the cycle after its last output word, or after its last
        output-buffer word into the pooling unit when rows or columns fill no pooling window."""
        return max(self.output_beat_cycles[-1], self.last_read_cycle) + 1

    @property
    def layer_cycles(self):
        """:attr:`start_cycle` to the image's end, both counted: the image's share of the
        layer's time (the engine's ``layer_cycles`` counter); a packet's images add up to the
        layer's whole time."""
        return self.end_cycle - self.start_cycle + 1

    @property
    def weight_load_cycles(self):
        """Cycles from the last input word to the first vector, exclusive: the first weight
        set loading, and for a packet's later image any wait for the previous image's compute
        or for its output bank."""
        return self.compute_start_cycle - (self.first_input_cycle + self.in_words)

    @property
    def drain_cycles(self):
        """Last result out of the array to the first output word, exclusive (with two banks,
        any wait for the previous image's output included)."""
        return self.output_beat_cycles[0] - self.compute_end_cycle - 1

    @property
    def output_cycles(self):
        return self.output_beat_cycles[-1] - self.output_beat_cycles[0] + 1

    @property
    def ideal_cycles(self):
        """MACs / (rows x cols): the array fully busy on useful work."""
        return self.macs / (self.rows * self.cols)

    @property
    def utilization(self):
        """Useful MACs / (rows x cols x compute cycles)."""
        return self.macs / (self.rows * self.cols * self.compute_cycles)

    @property
    def traffic(self):
        """Words moved through each on-chip buffer (reads + writes)."""
        return {
            "input_buffer": {"writes": self.in_words, "reads": self.sets * self.pixels},
            "weight_buffer": {"writes": self.sets * self.rows, "reads": self.sets * self.rows},
            "accumulator": {"writes": self.sets * self.pixels, "reads": self.sets * self.pixels},
            "output_buffer": {"writes": self.out_words, "reads": self.out_words},
        }

    def summary(self):
        result = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("output_beat_cycles", "set_start_cycles")
        }
        for name in (
            "param_cycles",
            "input_cycles",
            "weight_load_cycles",
            "compute_cycles",
            "drain_cycles",
            "output_cycles",
            "total_cycles",
            "layer_cycles",
            "ideal_cycles",
            "utilization",
            "traffic",
            "array_latency",
            "set_gap_cycles",
        ):
            result[name] = getattr(self, name)
        return result


def predict_layer(rows, cols, layer, *, start=0):
    """Predict one layer of one image (any object with the attributes of
    :class:`sysconv.hw.layer.LayerConfig`: ``height, width, in_channels, out_channels, kernel,
    stride, padding, pool_size, pool_stride``, and ``images`` 1 or absent) on a ``rows x cols``
    engine, stall-free, first parameter word at ``start``. A layer of several images:
    :func:`predict_batch`.
    """
    images = getattr(layer, "images", 1)
    if images != 1:
        raise ValueError(
            f"predict_layer predicts a layer of one image, not {images!r}; see predict_batch"
        )
    return predict_batch(rows, cols, layer, start=start)[0]


def predict_batch(rows, cols, layer, *, start=0):
    """Predict one layer's packet and its ``layer.images`` images (1 when absent), stall-free,
    first parameter word at ``start``: a :class:`LayerPerf` per image, in order. With
    ``layer.double_buffer`` (False when absent) the images use two banks of the input and
    output buffers (see the schedule above)."""
    images = getattr(layer, "images", 1)
    banks = 2 if getattr(layer, "double_buffer", False) else 1
    results = []
    for image in range(images):
        if image == 0:
            results.append(_predict_image(rows, cols, layer, start=start, image=0))
            continue
        before = results[-1]
        # Image k's input bank is free once image k - banks has computed; its output bank
        # once image k - banks has ended.
        freed = results[image - banks] if image >= banks else None
        first_input = before.first_input_cycle + before.in_words
        if freed is not None:
            first_input = max(first_input, freed.compute_done_cycle + 1)
        # The next image's feed starts after the previous one's last result, when its own first
        # result comes after the collecting parts' reset cycle; else after the drain.
        if 2 * rows + cols + 2 >= ACC_LATENCY + REQUANT_LATENCY:
            after_compute = before.compute_end_cycle + 1
        else:
            after_compute = before.compute_done_cycle + 1
        results.append(
            _predict_image(
                rows,
                cols,
                layer,
                start=before.end_cycle + 1,
                image=image,
                first_input=first_input,
                after_compute=after_compute,
                output_free=freed.end_cycle if freed is not None else None,
                after_output=before.end_cycle + 1,
            )
        )
    return results


def _predict_image(
    rows,
    cols,
    layer,
    *,
    start,
    image,
    first_input=None,
    after_compute=None,
    output_free=None,
    after_output=None,
):
    """Image ``image`` of ``layer``'s packet: it starts at ``start`` (the first parameter word,
    or the cycle after the previous image's end), its input at ``first_input`` (by default
    after the packet). Its COMPUTE starts the cycle after its last input word, after cycle
    ``after_compute`` (the previous image's feed of the array left) and the second cycle
    after ``output_free`` (the image whose output bank it writes ended); its OUTPUT starts
    once its COMPUTE is done, and no earlier than the cycle after ``after_output`` (the
    previous image's end; the output reader is idle a cycle between images)."""
    groups = _ceil_div(layer.in_channels, rows)
    col_tiles = _ceil_div(layer.out_channels, cols)
    out_h = (layer.height + 2 * layer.padding - layer.kernel) // layer.stride + 1
    out_w = (layer.width + 2 * layer.padding - layer.kernel) // layer.stride + 1
    pixels = out_h * out_w
    sets = col_tiles * layer.kernel**2 * groups
    # Registers, each column tile's biases and requantisation words, the weights; the
    # packet's later images take none.
    setup_words = REGISTER_WORDS + 2 * col_tiles * cols
    param_words = setup_words + sets * rows if image == 0 else 0
    in_words = layer.height * layer.width * groups
    out_words = pixels * col_tiles
    latency = rows + cols + 2
    # A chained-input packet's first image does not wait for its weights (they come in while
    # it computes, never holding a beat back: see the schedule).
    if first_input is None:
        streamed = image == 0 and getattr(layer, "chain_input", False)
        first_input = start + (setup_words if streamed else param_words)
    # The first COMPUTE cycle: the cycle after the one in which the last of its conditions
    # holds.
    x = first_input + in_words
    if after_compute is not None:
        x = max(x, after_compute + 1)
    if output_free is not None:
        x = max(x, output_free + 2)
    final = x + rows + 2  # F_0
    first_vector = last_vector = None
    set_starts, set_ends = [], []  # A_n, E_n
    for n in range(sets):
        if n:
            first_beat = final + 1 if n == 1 else max(final + 1, set_ends[n - 2] + rows + cols - 1)
            final = max(first_beat + rows - 1, last_vector + 1)
        begin = max(last_vector if n else x + WINDOW_LATENCY - 1, final) + 1
        if n == 0:
            first_vector = begin
        set_starts.append(begin)
        last_vector = begin + pixels - 1
        set_ends.append(last_vector)
    last_result = last_vector + latency
    compute_done = last_result + ACC_LATENCY + REQUANT_LATENCY + 1  # COMPUTE's last cycle
    output_start = compute_done + 1  # first OUTPUT cycle
    if after_output is not None:
        output_start = max(output_start, after_output + 1)
    reads = [output_start + 1 + k for k in range(out_words)]
    if layer.pool_size:
        from .pool_timing import output_cycles as pool_output_cycles

        offsets = pool_output_cycles(
            out_h, out_w, layer.out_channels, cols, layer.pool_size, layer.pool_stride
        )
        beats = [reads[0] + int(offset) for offset in offsets]
    else:
        beats = reads
    macs = pixels * layer.kernel**2 * layer.in_channels * layer.out_channels
    return LayerPerf(
        rows=rows,
        cols=cols,
        macs=macs,
        param_words=param_words,
        in_words=in_words,
        out_words=out_words,
        sets=sets,
        pixels=pixels,
        start_cycle=start,
        first_input_cycle=first_input,
        compute_start_cycle=first_vector,
        compute_end_cycle=last_result,
        compute_done_cycle=compute_done,
        last_read_cycle=reads[-1],
        output_beat_cycles=beats,
        set_start_cycles=set_starts,
        image=image,
    )


def predict_network(rows, cols, layers):
    """Predict layers run back to back on one engine; each starts the cycle after the previous
    one's end. A :class:`LayerPerf` per image: one per layer of one image, ``images`` for a
    layer of several (:func:`predict_batch`)."""
    results, start = [], 0
    for layer in layers:
        perfs = predict_batch(rows, cols, layer, start=start)
        results.extend(perfs)
        start = perfs[-1].end_cycle + 1
    return results
