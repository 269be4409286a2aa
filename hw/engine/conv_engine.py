from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..maxpool import MaxPool2d
from ..ram import BlockRAM
from ..requant import Requantizer
from ..systolic_array import SystolicArray
from ._common import Count, beat, check_config, connect_read, connect_write, constants_layout
from .accumulator import Accumulator
from .chain import Chain
from .input_writer import InputWriter
from .output_reader import OutputReader
from .params import ParamLoader
from .weight_sequencer import WeightSequencer
from .window import WindowGenerator
from .write_back import WriteBack

__all__ = ["ConvEngine", "Phase"]


class Phase:
    """Values of :attr:`ConvEngine.phase`."""

    PARAMS = 0  # taking a parameter packet
    INPUT = 1  # taking an input tensor
    COMPUTE = 2  # running the layer on the array
    OUTPUT = 3  # sending an output tensor


class ConvEngine(wiring.Component):
    """Convolution layer engine: one generated design runs every conv layer within its limits.

    For each layer the engine takes a parameter packet on ``p`` (registers, biases, weights:
    see :mod:`sysconv.hw.layer`), then, for each of the packet's ``images`` input tensors, the
    tensor on ``i``, computes, and sends the output tensor on ``o``; then it takes the next
    packet. Convolution, bias, requantisation, ReLU and max pooling run in one pass; nothing goes
    back to the host in between. An *image* is one input tensor's turn: ``INPUT``, ``COMPUTE``,
    ``OUTPUT``, with ``PARAMS`` before the packet's first. The images of a packet overlap: the
    input buffer is free once ``COMPUTE`` ends, so the next image's tensor is taken while the
    current one's output drains (still ``OUTPUT``), and the next ``COMPUTE`` starts the cycle
    after both are done (through ``INPUT`` if the output drained first).

    Double buffering (the ``double_buffer`` register, :attr:`LayerConfig.double_buffer`).
    The packet's images ping-pong between two banks of the input and output buffers: image
    ``k`` goes into input bank ``k % 2`` (from word 0, or ``input_depth // 2``), computes into
    output bank ``k % 2`` (word 0, or ``output_depth // 2``) and drains from there. Image
    ``k + 1``'s tensor is taken while image ``k`` computes (as soon as image ``k - 1`` has
    computed, freeing its bank); image ``k + 1``'s ``COMPUTE`` starts the cycle after its
    tensor is in, image ``k - 1`` has ended (its output bank drained) and image ``k``'s
    last result has left the array (a cycle between the two: the weight sequencer and the
    window generator restart; image ``k``'s results still drain through the accumulator,
    the requantiser and the write-back while image ``k + 1``'s first weights go in, unless
    the array is so small, ``2 * rows + cols < 8``, that its first result would come before
    they are back, when it waits for the drain); image ``k``'s output drains while image
    ``k + 1`` computes, starting once image ``k``'s results are all written and no earlier
    than the second cycle after image ``k - 1``'s end. An image then takes about the longest
    of its input, compute and output, plus a few cycles. The accumulator buffer serves
    ``COMPUTE`` only and is not doubled. Without double buffering the schedule is the one
    above; :mod:`sysconv.golden.perf` models both to the cycle.

    Dataflow. The input tensor is kept whole in the input buffer, in words of ``rows`` channels
    (a channel group of one pixel). The layer is computed as ``sets = col_tiles * row_tiles``
    passes over the weight-stationary :class:`~sysconv.hw.systolic_array.SystolicArray`: a pass
    loads one weight set (``cols`` output channels x ``rows`` input channels of one kernel tap) and
    streams every output pixel's window word for that tap through the array, one per cycle;
    the window address generator makes those words on the fly from the input buffer (im2col
    without the copy), with stride, and padding outside the image with the input zero point.
    Partial sums of the ``row_tiles`` passes of a column tile accumulate in the accumulator
    buffer; the last pass adds the bias, requantises with each output channel's multiplier and
    shift, adds the output zero point and applies ReLU (clamping at that zero point)
    (:class:`~sysconv.hw.requant.Requantizer`) and writes int8 results to the output buffer.
    The next pass's weights shift into the array's second bank while the current pass
    computes, so a pass follows the previous one with a one-cycle gap when
    ``pixels >= 2 * rows + cols``. The output buffer is read out in HWC order through
    the max-pooling unit (:class:`~sysconv.hw.maxpool.MaxPool2d`), or past it when pooling is off.

    Structure. The engine holds the buffers, the array, the requantiser and the pooling unit,
    and sequences the parts (this package's components), which do the rest:
    :class:`.ParamLoader` (``PARAMS``), :class:`.InputWriter` (while a tensor is to be taken
    and its bank is free), :class:`.WeightSequencer` and :class:`.WindowGenerator` (from the
    start of ``COMPUTE`` to the last result out of the array), :class:`.Accumulator` and
    :class:`.WriteBack` (from the start of ``COMPUTE`` to the last result written),
    :class:`.OutputReader` (while an output tensor drains), and in network mode
    (``network_depth``) :class:`.Chain` with the activation buffer, between ``i`` and ``o``
    and the parts (a packet's ``chain`` register keeps its input or output on chip; ``i``
    is then not taken, ``o`` sends nothing; the images of a chained-input packet start as
    soon as its registers and biases are in, its input replayed and its compute run while its
    weights still come in, the weight sequencer reading no weight word before it is written,
    so that a dense layer's weight sets go into the array as they arrive). Each part sees
    when it runs as ``active``, the layer's registers (the loader's ``regs``) as ``regs``,
    and the buffer bank of its image as ``base``.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    p : In(stream.Signature(StructLayout({"data": unsigned(config.param_width), "last": 1})))
        Parameter packets. Taken exactly in the ``PARAMS`` phase (in network mode a
        chained-input packet's first image replays its input and computes in it too, while
        the packet's weight words come in).
    i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), rows), "last": 1})))
        Input tensors, HWC raster order, ``groups`` beats a pixel, ``images`` tensors a packet.
        Lanes past ``in_channels`` are ignored. Taken in the ``INPUT`` phase, and while the
        packet has tensors to take and a free input bank: in the ``OUTPUT`` phase of an image
        that is not the packet's last until the next image's tensor is in, and with double
        buffering also in ``COMPUTE`` (and back to back, two tensors ahead of the compute).
        ``i.ready`` is the input writer's.
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), cols), "last": 1})))
        Output tensors, HWC raster order, ``col_tiles`` beats a pixel, lanes past
        ``out_channels`` zero after pooling and the output zero point without (a channel of
        zero weights, bias and multiplier), ``last`` on the last beat.
    phase : Out(2)
        The current :class:`Phase`. ``OUTPUT`` while an output tensor drains: from an image's
        compute end (or, double-buffered, from the second cycle after the previous image's
        end if later) to its end, the next image's input, and with double buffering the next
        image's compute, overlapped or not; else ``PARAMS`` while a packet is taken (``p``
        ready; in network mode a chained-input packet's first image may replay its input and
        compute meanwhile); else ``COMPUTE`` while an image computes (from its first cycle to
        its last result written, two images' overlapping); else ``INPUT`` (waiting for an
        input tensor). So the phase leaves ``OUTPUT`` for at least a cycle after each image's
        end.
    error : Out(1)
        Sticky: a packet or tensor whose ``last`` was not on its last beat, or (network mode) a
        chained input that is not the words the activation buffer holds. Cleared by reset.
    compute_cycles : Out(32)
        Cycles of the last computed image's compute phase, from the first vector into the
        array to the last result out of it, both counted (the same for every image of a
        packet).
    layer_cycles : Out(32)
        Cycles of the last finished image, both counted: from the packet's first parameter word
        (the packet's first image) or from the cycle after the previous image's end (the
        others), to the image's end (the cycle after its last output word, or after its last
        word into the pooling unit if later). A packet's images add up to the layer's whole
        time; with double buffering an image's count is the time between two image ends,
        however much of its input and compute ran in the previous image's.
    """

    def __init__(self, config):
        check_config(config)
        self._config = config
        super().__init__(
            {
                "p": In(stream.Signature(beat(unsigned(config.param_width)))),
                "i": In(stream.Signature(beat(data.ArrayLayout(signed(8), config.rows)))),
                "o": Out(stream.Signature(beat(data.ArrayLayout(signed(8), config.cols)))),
                "phase": Out(2),
                "error": Out(1),
                "compute_cycles": Out(32),
                "layer_cycles": Out(32),
            }
        )

    config = property(lambda self: self._config)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols

        # Buffers. A BlockRAM's read that meets a write to its address has undefined data, and
        # none is used here (the Amaranth simulator poisons them, hw.ram): the input and weight
        # buffers are written before the compute phase and read in it; the output buffer is
        # written in the compute phase and read in the output phase (on the ECP5 its first
        # word in the compute phase's last cycle, which writes nothing); a read of the
        # accumulator that meets the write of the sum before it is replaced by that sum
        # (Accumulator).
        m.submodules.input_buffer = input_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(8), rows), depth=cfg.input_depth, sliced=True
        )
        m.submodules.weight_buffer = weight_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(8), cols), depth=cfg.weight_depth, sliced=True
        )
        # A column tile's biases and requantisation constants, one word.
        m.submodules.bias_buffer = bias_buffer = Memory(
            shape=constants_layout(cfg), depth=cfg.max_col_tiles, init=[]
        )
        m.submodules.acc_buffer = acc_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(cfg.acc_width), cols), depth=cfg.acc_depth, sliced=False
        )
        m.submodules.output_buffer = output_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(8), cols), depth=cfg.output_depth, sliced=True
        )

        m.submodules.array = array = SystolicArray(rows, cols, acc_width=cfg.acc_width)
        m.submodules.requant = requant = Requantizer(
            lanes=cols, acc_width=cfg.acc_width, mult_width=cfg.mult_width
        )

        m.submodules.params = params = ParamLoader(cfg)
        m.submodules.input_writer = input_writer = InputWriter(cfg)
        m.submodules.weight_sequencer = weights = WeightSequencer(cfg)
        m.submodules.window = window = WindowGenerator(cfg)
        m.submodules.accumulator = accumulator = Accumulator(cfg)
        m.submodules.write_back = write_back = WriteBack(cfg)
        m.submodules.output_reader = output_reader = OutputReader(cfg)
        reg = params.regs
        for part in (input_writer, weights, window, accumulator, write_back, output_reader):
            m.d.comb += part.regs.eq(reg)

        # What runs: the parameter loader, the input writer, the compute parts and the output
        # reader each have a flag; with double buffering the last three run at once, on
        # different images. `phase` is worked out from the flags.
        loading = Signal(init=1)  # PARAMS
        # The packet's images wait for its registers and biases (`setup`): in network mode a
        # chained-input packet's images start then, its weights streaming in alongside (the
        # weight sequencer reads none before it is written); any other packet's, once it is
        # all in.
        if cfg.network_depth:
            setup = Signal(init=1)
            opening = Mux(reg["chain"][0], params.setup_done, params.done)
        else:
            setup, opening = loading, params.done
        taking = Signal()  # the input writer runs
        # COMPUTE is two flags: the weight sequencer and the window generator feed the array
        # until the image's last result is out of it; the accumulator and the write-back
        # collect until its last result is written. The next image's feed may start while
        # the drain goes on.
        feeding = Signal()
        collecting = Signal()
        in_compute = Signal()
        m.d.comb += in_compute.eq(feeding | collecting)
        sending = Signal()  # the output reader runs
        phase = Signal(2)
        m.d.comb += [
            phase.eq(
                Mux(
                    sending,
                    Phase.OUTPUT,
                    Mux(loading, Phase.PARAMS, Mux(in_compute, Phase.COMPUTE, Phase.INPUT)),
                )
            ),
            self.phase.eq(phase),
        ]
        # The packet's images, counted down from the `images` register as they end, and as
        # their inputs come in, restarted in PARAMS (the register is written before the
        # packet's last word).
        images = Count(reg["images"], "images")
        inputs = Count(reg["images"], "inputs")
        m.d.comb += [
            params.active.eq(loading),
            input_writer.active.eq(taking),
            weights.active.eq(feeding),
            window.active.eq(feeding),
            accumulator.active.eq(collecting),
            write_back.active.eq(collecting),
            output_reader.active.eq(sending),
        ]

        # PARAMS: the packet's registers, biases and weights.
        wiring.connect(m, wiring.flipped(self.p), params.p)
        connect_write(m, bias_buffer.write_port(), params.bias_write)
        connect_write(m, weight_buffer.write_port(), params.weight_write)

        # INPUT: the tensor into the input buffer, from the host or (network mode) replayed from
        # the activation buffer.
        if cfg.network_depth:
            m.submodules.activation_buffer = activation_buffer = BlockRAM(
                shape=data.ArrayLayout(signed(8), rows), depth=2 * cfg.network_depth, sliced=True
            )
            m.submodules.chain = chain = Chain(cfg)
            m.d.comb += [chain.regs.eq(reg), chain.registers_done.eq(params.registers_done)]
            connect_read(m, activation_buffer.read_port(), chain.read)
            connect_write(m, activation_buffer.write_port(), chain.write)
            wiring.connect(m, wiring.flipped(self.i), chain.host_i)
            wiring.connect(m, chain.i, input_writer.i)
            wiring.connect(m, wiring.flipped(self.o), chain.host_o)
            engine_o = chain.o
        else:
            wiring.connect(m, wiring.flipped(self.i), input_writer.i)
            engine_o = wiring.flipped(self.o)
        connect_write(m, input_buffer.write_port(), input_writer.write)

        # COMPUTE: weight sets and their windows' vectors into the array, the results
        # accumulated, requantised and written to the output buffer.
        connect_read(m, weight_buffer.read_port(registered=True), weights.read)
        m.d.comb += [
            weights.written.eq(params.weights_written),
            weights.writing.eq(loading if cfg.network_depth else 0),
        ]
        connect_read(m, input_buffer.read_port(registered=True), window.read)
        wiring.connect(m, weights.o, array.w)
        wiring.connect(m, window.o, array.i)
        m.d.comb += [
            weights.set_sent.eq(window.set_sent),
            window.set_done.eq(weights.set_done),
        ]
        wiring.connect(m, array.o, accumulator.i)
        connect_write(m, acc_buffer.write_port(), accumulator.acc_write)
        connect_read(
            m,
            acc_buffer.read_port(registered=Accumulator.registered_read(platform)),
            accumulator.acc_read,
        )
        connect_read(m, bias_buffer.read_port(), accumulator.bias_read)
        # Lane by lane: the requantiser's shift lanes may be wider than the buffer's.
        m.d.comb += [
            requant.zero_point.eq(reg["output_zero_point"]),
            requant.relu.eq(reg["relu"]),
            requant.i.valid.eq(accumulator.o.valid),
            requant.i.payload.acc.eq(accumulator.o.payload.acc),
        ]
        for lane in range(cols):
            m.d.comb += [
                requant.i.payload.bias[lane].eq(accumulator.o.payload.bias[lane]),
                requant.i.payload.multiplier[lane].eq(accumulator.o.payload.multiplier[lane]),
                requant.i.payload.shift[lane].eq(accumulator.o.payload.shift[lane]),
            ]
        wiring.connect(m, requant.o, write_back.i)
        connect_write(m, output_buffer.write_port(), write_back.write)

        # OUTPUT: output buffer -> max pool (or past it) -> o.
        connect_read(
            m,
            output_buffer.read_port(registered=OutputReader.registered_read(platform)),
            output_reader.read,
        )
        out_stream = output_reader.o
        pooling = Signal()  # a register: the registers only change in PARAMS
        m.d.sync += pooling.eq(reg["pool_size"] != 0)
        if cfg.max_pool:
            m.submodules.pool = pool = MaxPool2d(
                lanes=cols,
                max_width=cfg.max_width,
                max_channels=cfg.max_out_channels,
                max_size=cfg.max_pool,
            )
            m.d.sync += [
                pool.size.eq(Mux(reg["pool_size"] != 0, reg["pool_size"], 2)),
                pool.stride.eq(Mux(reg["pool_size"] != 0, reg["pool_stride"], 1)),
            ]
            m.d.comb += [
                pool.height.eq(reg["out_height"]),
                pool.width.eq(reg["out_width"]),
                pool.channels.eq(reg["out_channels"]),
                pool.i.payload.eq(out_stream.payload),
                pool.i.valid.eq(out_stream.valid & pooling),
                pool.o.ready.eq(engine_o.ready & pooling),
                out_stream.ready.eq(Mux(pooling, pool.i.ready, engine_o.ready)),
                engine_o.valid.eq(Mux(pooling, pool.o.valid, out_stream.valid)),
                engine_o.payload.eq(
                    Mux(pooling, pool.o.payload.as_value(), out_stream.payload.as_value())
                ),
            ]
        else:
            wiring.connect(m, engine_o, out_stream)
        # The layer ends when its last output word has left *and* the pooling unit has taken
        # every word of the tensor (trailing rows and columns that fill no window included),
        # so that it starts the next tensor in its initial state: the cycle after the later of
        # the two handshakes, seen in flip-flops (`output_sent`, `read_taken`), so that the
        # output handshakes do not reach the sequencing's enables (Fmax: through the pooling
        # multiplexer, the iCE40 engine alone's critical path on most seeds).
        output_done = engine_o.valid & engine_o.ready & engine_o.payload.last
        output_sent = Signal()
        read_last = out_stream.valid & out_stream.ready & out_stream.payload.last
        read_taken = Signal()
        with m.If(~sending):
            m.d.sync += [output_sent.eq(0), read_taken.eq(0)]
        with m.Else():
            with m.If(output_done):
                m.d.sync += output_sent.eq(1)
            with m.If(read_last):
                m.d.sync += read_taken.eq(1)

        # Sequencing. Image k's input goes into input bank k % `banks` (1, or 2 with
        # double buffering), which is free once image k - banks has computed; its COMPUTE
        # starts the cycle after its input is in and the previous image's COMPUTE has left
        # (a cycle without COMPUTE between images resets the compute parts), and the second
        # cycle after image k - banks has ended (its output bank is free; seen in
        # `held_out`, so that the output handshake does not reach COMPUTE's start: Fmax,
        # the iCE40 engine's critical path); its OUTPUT starts once its COMPUTE is done and
        # the previous image has ended, a cycle after (the output reader resets).
        # Without double buffering: the next input overlaps the current output, and COMPUTE
        # follows the end of the previous image.
        double = reg["double_buffer"]
        held_in = Signal(2)  # inputs in whose image has not finished COMPUTE
        unfed = Signal(2)  # inputs in whose image has not started COMPUTE
        held_out = Signal(2)  # images that have started COMPUTE and not ended
        ready_out = Signal(2)  # images that have finished COMPUTE and not ended
        pending = Signal(2)  # images that have started COMPUTE and not finished it
        more_inputs = Signal()  # the packet has inputs to take
        in_bank, feed_bank, write_bank, out_bank = (
            Signal(name=f"{part}_bank") for part in ("in", "feed", "write", "out")
        )
        m.d.comb += [
            input_writer.base.eq(Mux(in_bank, cfg.input_depth // 2, 0)),
            input_writer.next_base.eq(Mux(in_bank ^ double, cfg.input_depth // 2, 0)),
            window.base.eq(Mux(feed_bank, cfg.input_depth // 2, 0)),
            write_back.base.eq(Mux(write_bank, cfg.output_depth // 2, 0)),
            output_reader.base.eq(Mux(out_bank, cfg.output_depth // 2, 0)),
        ]
        enter_compute = Signal()
        image_end = Signal()
        input_done = taking & input_writer.done
        feed_done = collecting & accumulator.last
        compute_done = collecting & write_back.done
        # The next feed may start the second cycle after the last result is out (the array
        # is empty) if its first result comes after the collecting parts' reset cycle that
        # follows the drain: first result 2*rows + cols + 3 cycles after the feed starts at
        # the earliest (one more with one row: the window generator's latency), the drain
        # Accumulator.latency + Requantizer.latency + 1 cycles after the last result. On
        # smaller arrays it waits for the drain.
        drain = accumulator.latency + requant.latency
        feed_may_start = ~feeding
        if 2 * rows + cols + 2 < drain:
            feed_may_start &= ~collecting
        held_in_next = Signal(2)
        held_out_next = Signal(2)
        ready_out_next = Signal(2)
        pending_next = Signal(2)
        more_inputs_next = Signal()
        m.d.comb += [
            image_end.eq(sending & output_sent & read_taken),
            held_in_next.eq(held_in + input_done - compute_done),
            held_out_next.eq(held_out + enter_compute - image_end),
            ready_out_next.eq(ready_out + compute_done - image_end),
            pending_next.eq(pending + enter_compute - compute_done),
            more_inputs_next.eq(more_inputs & ~(input_done & inputs.last)),
            enter_compute.eq(
                ~setup
                & feed_may_start
                & ((unfed != 0) | input_done)
                & ((held_out == 0) | (double & (held_out == 1)))
            ),
        ]
        with m.If(setup):
            m.d.sync += [
                *images.restart(),
                *inputs.restart(),
                more_inputs.eq(1),
                held_in.eq(0),
                unfed.eq(0),
                held_out.eq(0),
                ready_out.eq(0),
                pending.eq(0),
                in_bank.eq(0),
                feed_bank.eq(0),
                write_bank.eq(0),
                out_bank.eq(0),
                taking.eq(opening),
            ]
        with m.Else():
            m.d.sync += [
                held_in.eq(held_in_next),
                unfed.eq(unfed + input_done - enter_compute),
                held_out.eq(held_out_next),
                ready_out.eq(ready_out_next),
                pending.eq(pending_next),
                # pending_next != 0, without the adder (Fmax).
                collecting.eq(~compute_done & ((pending != 0) | enter_compute)),
                more_inputs.eq(more_inputs_next),
                taking.eq(
                    more_inputs_next & ((held_in_next == 0) | (double & (held_in_next == 1)))
                ),
                sending.eq(~image_end & (ready_out_next != 0)),
            ]
            with m.If(input_done):
                m.d.sync += [*inputs.step(), in_bank.eq(in_bank ^ double)]
            with m.If(feed_done):
                m.d.sync += feed_bank.eq(feed_bank ^ double)
            with m.If(compute_done):
                m.d.sync += write_bank.eq(write_bank ^ double)
            with m.If(image_end):
                m.d.sync += [*images.step(), out_bank.eq(out_bank ^ double)]
        with m.If(params.done):
            m.d.sync += loading.eq(0)
        with m.If(image_end & images.last):
            m.d.sync += loading.eq(1)
        if cfg.network_depth:
            with m.If(opening):
                m.d.sync += setup.eq(0)
            with m.If(image_end & images.last):
                m.d.sync += setup.eq(1)
        # An image's feed ends before its drain does, so `feeding` already implies a pending
        # image; clearing it with the last one too makes that plain to an induction proof
        # (formal.engine, "phases") without the parts' inner counters. (pending_next == 0
        # when no COMPUTE starts, which sets `feeding` anyway: enter_compute, through the
        # adder, into the flip-flop's enable was the iCE40 board top's critical path.)
        with m.If(feed_done | (pending == compute_done)):
            m.d.sync += feeding.eq(0)
        with m.If(enter_compute):
            m.d.sync += feeding.eq(1)

        # A packet or tensor whose `last` was not on its last word: sticky.
        error = Signal()
        m.d.comb += self.error.eq(error)
        errors = params.error | input_writer.error
        if cfg.network_depth:
            errors |= chain.error
        with m.If(errors):
            m.d.sync += error.eq(1)

        # Compute-phase cycle counter: first vector in to last result out, both counted; the
        # count is kept from an image's last result to the next image's (the next image's
        # COMPUTE may follow its OUTPUT at once). `counter` is only read while `counting`,
        # and set to 1 when that starts, so the start of COMPUTE does not clear it (Fmax: on
        # the ECP5 engine alone, the input handshake through the sequencing into its 32
        # flip-flops' reset was the critical path on a seed). `started` is cleared by the
        # image's last result, after its last vector and before the next image's first,
        # not by the start of COMPUTE (Fmax: on the iCE40 engine alone, the output handshake
        # through the sequencing into these flip-flops' enable was the critical path).
        counting = Signal()
        started = Signal()
        counter = Signal(32)
        compute_count = Signal(32)
        v_fire = array.i.valid & array.i.ready
        m.d.comb += self.compute_cycles.eq(compute_count)
        with m.If(in_compute):
            with m.If(v_fire & ~started):
                m.d.sync += [counting.eq(1), counter.eq(1), started.eq(1)]
            with m.Elif(counting):
                m.d.sync += counter.eq(counter + 1)
            with m.If(accumulator.last):
                m.d.sync += [
                    counting.eq(0),
                    started.eq(0),
                    compute_count.eq(counter + 1),
                ]

        # Image cycle counter: first parameter word (or the cycle after the previous image's
        # end) to the image's end, both counted; the count is kept from an image's end to the
        # next image's end.
        layer_counter = Signal(32)
        layer_count = Signal(32)
        m.d.comb += self.layer_cycles.eq(layer_count)
        with m.If(params.first):
            m.d.sync += layer_counter.eq(1)
        with m.Elif(image_end):
            m.d.sync += layer_counter.eq(0)
        with m.Else():
            m.d.sync += layer_counter.eq(layer_counter + 1)
        with m.If(image_end):
            m.d.sync += layer_count.eq(layer_counter + 1)
        return m
