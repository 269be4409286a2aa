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
    and sequences the phases; its parts (this package's components) do the rest, each in one
    phase: :class:`.ParamLoader` (``PARAMS``), :class:`.InputWriter` (``INPUT``, and
    ``OUTPUT`` while the packet has images left, until the next tensor is in),
    :class:`.WeightSequencer`, :class:`.WindowGenerator`, :class:`.Accumulator` and
    :class:`.WriteBack` (``COMPUTE``), :class:`.OutputReader` (``OUTPUT``). Each part sees its
    phase as ``active`` and the layer's registers (the loader's ``regs``) as ``regs``.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    p : In(stream.Signature(StructLayout({"data": unsigned(config.param_width), "last": 1})))
        Parameter packets. Taken only in the ``PARAMS`` phase.
    i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), rows), "last": 1})))
        Input tensors, HWC raster order, ``groups`` beats a pixel, ``images`` tensors a packet.
        Lanes past ``in_channels`` are ignored. Taken in the ``INPUT`` phase, and in the
        ``OUTPUT`` phase of a packet's image that is not its last until the next image's
        tensor is in: ``i.ready`` is the input writer's.
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), cols), "last": 1})))
        Output tensors, HWC raster order, ``col_tiles`` beats a pixel, lanes past
        ``out_channels`` zero after pooling and the output zero point without (a channel of
        zero weights, bias and multiplier), ``last`` on the last beat.
    phase : Out(2)
        The current :class:`Phase`. ``OUTPUT`` from an image's compute end to its end, the
        next image's input overlapped or not; ``INPUT`` only while nothing else runs.
    error : Out(1)
        Sticky: a packet or tensor whose ``last`` was not on its last beat. Cleared by reset.
    compute_cycles : Out(32)
        Cycles of the last image's compute phase, from the first vector into the array to the
        last result out of it, both counted.
    layer_cycles : Out(32)
        Cycles of the last finished image, both counted: from the packet's first parameter word
        (the packet's first image) or from the cycle after the previous image's end (the
        others), to the image's end (its last output word, or its last word into the pooling
        unit if later). A packet's images add up to the layer's whole time.
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

        phase = Signal(2)
        m.d.comb += self.phase.eq(phase)
        in_compute = phase == Phase.COMPUTE
        # The packet's images, counted down from the `images` register, restarted in PARAMS
        # (the register is written before the packet's last word).
        images = Count(reg["images"], "images")
        # The next image's input is taken while this image's output drains (the input buffer
        # is free once COMPUTE ends): in OUTPUT while images remain, until it is all in.
        input_taken = Signal()
        overlap = (phase == Phase.OUTPUT) & ~images.last & ~input_taken
        m.d.comb += [
            params.active.eq(phase == Phase.PARAMS),
            input_writer.active.eq((phase == Phase.INPUT) | overlap),
            weights.active.eq(in_compute),
            window.active.eq(in_compute),
            accumulator.active.eq(in_compute),
            write_back.active.eq(in_compute),
            output_reader.active.eq(phase == Phase.OUTPUT),
        ]

        # PARAMS: the packet's registers, biases and weights.
        wiring.connect(m, wiring.flipped(self.p), params.p)
        connect_write(m, bias_buffer.write_port(), params.bias_write)
        connect_write(m, weight_buffer.write_port(), params.weight_write)

        # INPUT: the tensor into the input buffer.
        wiring.connect(m, wiring.flipped(self.i), input_writer.i)
        connect_write(m, input_buffer.write_port(), input_writer.write)

        # COMPUTE: weight sets and their windows' vectors into the array, the results
        # accumulated, requantised and written to the output buffer.
        connect_read(m, weight_buffer.read_port(), weights.read)
        connect_read(m, input_buffer.read_port(), window.read)
        wiring.connect(m, weights.o, array.w)
        wiring.connect(m, window.o, array.i)
        m.d.comb += [
            weights.set_sent.eq(window.set_sent),
            window.set_done.eq(weights.set_done),
        ]
        wiring.connect(m, array.o, accumulator.i)
        connect_write(m, acc_buffer.write_port(), accumulator.acc_write)
        connect_read(m, acc_buffer.read_port(), accumulator.acc_read)
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
        connect_read(m, output_buffer.read_port(), output_reader.read)
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
                pool.o.ready.eq(self.o.ready & pooling),
                out_stream.ready.eq(Mux(pooling, pool.i.ready, self.o.ready)),
                self.o.valid.eq(Mux(pooling, pool.o.valid, out_stream.valid)),
                self.o.payload.eq(
                    Mux(pooling, pool.o.payload.as_value(), out_stream.payload.as_value())
                ),
            ]
        else:
            wiring.connect(m, wiring.flipped(self.o), out_stream)
        # The layer ends when its last output word has left *and* the pooling unit has taken
        # every word of the tensor (trailing rows and columns that fill no window included),
        # so that it starts the next tensor in its initial state.
        output_done = self.o.valid & self.o.ready & self.o.payload.last
        output_sent = Signal()
        read_last = out_stream.valid & out_stream.ready & out_stream.payload.last
        read_taken = Signal()
        read_done = read_taken | read_last
        with m.If(phase != Phase.OUTPUT):
            m.d.sync += [output_sent.eq(0), read_taken.eq(0)]
        with m.Else():
            with m.If(output_done):
                m.d.sync += output_sent.eq(1)
            with m.If(read_last):
                m.d.sync += read_taken.eq(1)

        # Phase sequencing. An image ends in OUTPUT; then the packet's next image computes if
        # its input is in (taken in the overlap), or goes on taking it in INPUT; after the
        # packet's last image the next packet comes.
        enter_compute = Signal()
        image_end = Signal()
        input_in = input_taken | input_writer.done
        compute_done = in_compute & write_back.done
        m.d.comb += [
            image_end.eq((phase == Phase.OUTPUT) & (output_sent | output_done) & read_done),
            enter_compute.eq(
                ((phase == Phase.INPUT) & input_writer.done) | (image_end & ~images.last & input_in)
            ),
        ]
        with m.If(phase == Phase.PARAMS):
            m.d.sync += images.restart()
        with m.Elif(image_end):
            m.d.sync += images.step()
        with m.If(phase != Phase.OUTPUT):
            m.d.sync += input_taken.eq(0)
        with m.Elif(input_writer.done):
            m.d.sync += input_taken.eq(1)
        with m.If((phase == Phase.PARAMS) & params.done):
            m.d.sync += phase.eq(Phase.INPUT)
        with m.If(compute_done):
            m.d.sync += phase.eq(Phase.OUTPUT)
        with m.If(image_end):
            m.d.sync += phase.eq(Mux(images.last, Phase.PARAMS, Phase.INPUT))
        with m.If(enter_compute):
            m.d.sync += phase.eq(Phase.COMPUTE)

        # A packet or tensor whose `last` was not on its last word: sticky.
        error = Signal()
        m.d.comb += self.error.eq(error)
        with m.If(params.error | input_writer.error):
            m.d.sync += error.eq(1)

        # Compute-phase cycle counter: first vector in to last result out, both counted; the
        # count is kept from an image's last result to the next image's (the next image's
        # COMPUTE may follow its OUTPUT at once).
        counting = Signal()
        started = Signal()
        counter = Signal(32)
        compute_count = Signal(32)
        v_fire = array.i.valid & array.i.ready
        m.d.comb += self.compute_cycles.eq(compute_count)
        with m.If(enter_compute):
            m.d.sync += [counter.eq(0), counting.eq(0), started.eq(0)]
        with m.Elif(in_compute):
            with m.If(v_fire & ~started):
                m.d.sync += [counting.eq(1), counter.eq(1), started.eq(1)]
            with m.Elif(counting):
                m.d.sync += counter.eq(counter + 1)
            with m.If(accumulator.last):
                m.d.sync += [counting.eq(0), compute_count.eq(counter + 1)]

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
