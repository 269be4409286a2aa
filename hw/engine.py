from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layer import REGISTERS, EngineConfig
from .maxpool import MaxPool2d
from .requant import Requantizer
from .systolic_array import SystolicArray

__all__ = ["ConvEngine", "Phase"]


class Phase:
    """Values of :attr:`ConvEngine.phase`."""
    PARAMS = 0   # taking a parameter packet
    INPUT = 1    # taking the input tensor
    COMPUTE = 2  # running the layer on the array
    OUTPUT = 3   # sending the output tensor


def _beat(lanes_shape):
    return data.StructLayout({"data": lanes_shape, "last": 1})


class ConvEngine(wiring.Component):
    """Convolution layer engine: one generated design runs every conv layer within its limits.

    For each layer the engine takes a parameter packet on ``p`` (registers, biases, weights:
    see :mod:`hw.layer`), then the input tensor on ``i``, computes, and sends the output tensor
    on ``o``; then it takes the next packet. Convolution, bias, requantisation, ReLU and max
    pooling run in one pass; nothing goes back to the host in between.

    Dataflow. The input tensor is kept whole in the input buffer, in words of ``rows`` channels
    (a channel group of one pixel). The layer is computed as ``sets = col_tiles * row_tiles``
    passes over the weight-stationary :class:`~hw.systolic_array.SystolicArray`: a pass loads
    one weight set (``cols`` output channels x ``rows`` input channels of one kernel tap) and
    streams every output pixel's window word for that tap through the array, one per cycle;
    the window address generator makes those words on the fly from the input buffer (im2col
    without the copy), with stride, and zero padding outside the image. Partial sums of the
    ``row_tiles`` passes of a column tile accumulate in the accumulator buffer; the last pass
    adds the bias, requantises and applies ReLU (:class:`~hw.requant.Requantizer`) and writes
    int8 results to the output buffer. The next pass's weights shift into the array's second
    bank while the current pass computes, so a pass follows the previous one with a one-cycle
    gap when ``pixels >= 2 * rows + cols``. The output buffer is read out in HWC order through
    the max-pooling unit (:class:`~hw.maxpool.MaxPool2d`), or past it when pooling is off.

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    p : In(stream.Signature(StructLayout({"data": unsigned(config.param_width), "last": 1})))
        Parameter packets. Taken only in the ``PARAMS`` phase.
    i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), rows), "last": 1})))
        Input tensors, HWC raster order, ``groups`` beats a pixel. Lanes past ``in_channels``
        are ignored. Taken only in the ``INPUT`` phase.
    o : Out(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), cols), "last": 1})))
        Output tensors, HWC raster order, ``col_tiles`` beats a pixel, lanes past
        ``out_channels`` zero, ``last`` on the last beat.
    phase : Out(2)
        The current :class:`Phase`.
    error : Out(1)
        Sticky: a packet or tensor whose ``last`` was not on its last beat. Cleared by reset.
    compute_cycles : Out(32)
        Cycles of the last layer's compute phase, from the first vector into the array to the
        last result out of it, both counted.
    layer_cycles : Out(32)
        Cycles of the last finished layer, from its first parameter word to its end (its last
        output word, or its last word into the pooling unit if later), both counted.
    """

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        self._config = config
        super().__init__({
            "p": In(stream.Signature(_beat(unsigned(config.param_width)))),
            "i": In(stream.Signature(_beat(data.ArrayLayout(signed(8), config.rows)))),
            "o": Out(stream.Signature(_beat(data.ArrayLayout(signed(8), config.cols)))),
            "phase": Out(2),
            "error": Out(1),
            "compute_cycles": Out(32),
            "layer_cycles": Out(32),
        })

    config = property(lambda self: self._config)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        rows, cols = cfg.rows, cfg.cols

        # Registers of the layer, loaded from the parameter packet.
        limits = cfg.register_limits()
        reg = {name: Signal(range(limits[name] + 1), name=f"reg_{name}") for name in REGISTERS}

        # Buffers.
        m.submodules.input_buffer = input_buffer = Memory(
            shape=data.ArrayLayout(signed(8), rows), depth=cfg.input_depth, init=[])
        m.submodules.weight_buffer = weight_buffer = Memory(
            shape=data.ArrayLayout(signed(8), cols), depth=cfg.weight_depth, init=[])
        m.submodules.bias_buffer = bias_buffer = Memory(
            shape=data.ArrayLayout(signed(32), cols), depth=cfg.max_col_tiles, init=[])
        m.submodules.acc_buffer = acc_buffer = Memory(
            shape=data.ArrayLayout(signed(cfg.acc_width), cols), depth=cfg.acc_depth, init=[])
        m.submodules.output_buffer = output_buffer = Memory(
            shape=data.ArrayLayout(signed(8), cols), depth=cfg.output_depth, init=[])

        m.submodules.array = array = SystolicArray(rows, cols, acc_width=cfg.acc_width)
        m.submodules.requant = requant = Requantizer(lanes=cols, acc_width=cfg.acc_width,
                                                     mult_width=cfg.mult_width)
        m.d.comb += [
            requant.multiplier.eq(reg["multiplier"]),
            requant.shift.eq(reg["shift"]),
            requant.relu.eq(reg["relu"]),
        ]

        phase = Signal(2)
        m.d.comb += self.phase.eq(phase)
        error = Signal()
        m.d.comb += self.error.eq(error)
        enter_compute = Signal()
        enter_params = Signal()

        # ---- PARAMS: registers, then biases, then weights ----------------------------------
        p_fire = Signal()
        m.d.comb += [
            self.p.ready.eq(phase == Phase.PARAMS),
            p_fire.eq(self.p.valid & self.p.ready),
        ]
        p_word = Signal(range(len(REGISTERS) + 1))
        bias_lane = Signal(range(max(cols, 2)))
        bias_count = Signal(range(limits["bias_words"] + 1))
        bias_addr = Signal(range(max(cfg.max_col_tiles, 2)))
        bias_shift = Signal(data.ArrayLayout(signed(32), cols))
        weight_count = Signal(range(cfg.weight_depth + 1))
        bias_write = bias_buffer.write_port()
        weight_write = weight_buffer.write_port()
        param = self.p.payload.data
        in_registers = p_word < len(REGISTERS)
        in_biases = ~in_registers & (bias_count < reg["bias_words"])
        params_last = Signal()
        m.d.comb += [
            params_last.eq(~in_registers & ~in_biases &
                           (weight_count == reg["weight_words"] - 1)),
            bias_write.addr.eq(bias_addr),
            bias_write.data.eq(_shift_in(bias_shift, param[:32])),
            bias_write.en.eq(p_fire & in_biases & (bias_lane == cols - 1)),
            weight_write.addr.eq(weight_count),
            weight_write.data.eq(param[:8 * cols]),
            weight_write.en.eq(p_fire & ~in_registers & ~in_biases),
        ]
        with m.If(p_fire):
            with m.If(in_registers):
                for index, name in enumerate(REGISTERS):
                    with m.If(p_word == index):
                        m.d.sync += reg[name].eq(param)
                m.d.sync += p_word.eq(p_word + 1)
            with m.Elif(in_biases):
                m.d.sync += [
                    bias_shift.eq(_shift_in(bias_shift, param[:32])),
                    bias_count.eq(bias_count + 1),
                ]
                with m.If(bias_lane == cols - 1):
                    m.d.sync += [bias_lane.eq(0), bias_addr.eq(bias_addr + 1)]
                with m.Else():
                    m.d.sync += bias_lane.eq(bias_lane + 1)
            with m.Else():
                m.d.sync += weight_count.eq(weight_count + 1)
            with m.If(self.p.payload.last != params_last):
                m.d.sync += error.eq(1)

        # ---- INPUT: the tensor into the input buffer, lanes past in_channels zeroed --------
        i_fire = Signal()
        m.d.comb += [
            self.i.ready.eq(phase == Phase.INPUT),
            i_fire.eq(self.i.valid & self.i.ready),
        ]
        in_count = Signal(range(cfg.input_depth + 1))
        in_group = Signal(range(max(cfg.max_groups, 2)))
        in_channel_base = Signal(range(cfg.max_groups * rows + 1))
        input_write = input_buffer.write_port()
        input_last = Signal()
        m.d.comb += [
            input_last.eq(in_count == reg["in_words"] - 1),
            input_write.addr.eq(in_count),
            input_write.en.eq(i_fire),
        ]
        for lane in range(rows):
            m.d.comb += input_write.data[lane].eq(
                Mux(in_channel_base + lane < reg["in_channels"], self.i.payload.data[lane], 0))
        with m.If(i_fire):
            m.d.sync += in_count.eq(in_count + 1)
            with m.If(in_group == reg["groups"] - 1):
                m.d.sync += [in_group.eq(0), in_channel_base.eq(0)]
            with m.Else():
                m.d.sync += [in_group.eq(in_group + 1), in_channel_base.eq(in_channel_base + rows)]
            with m.If(self.i.payload.last != input_last):
                m.d.sync += error.eq(1)

        # ---- COMPUTE -----------------------------------------------------------------------
        max_sets = limits["sets"]
        w_sets_done = Signal(range(max_sets + 1))     # weight sets completed in the array
        vec_sets_sent = Signal(range(max_sets + 1))   # sets whose vectors are all in the array

        # Weight sequencer: weight words in buffer order, `rows` beats a set.
        w_addr = Signal(range(cfg.weight_depth + 1))
        w_beat = Signal(range(max(rows, 2)))
        w_set = Signal(range(max_sets + 1))
        w_valid = Signal()
        w_final = Signal()
        w_valid_set = Signal(range(max_sets + 1))
        weight_read = weight_buffer.read_port()
        w_fire = Signal()
        w_advance = Signal()
        m.d.comb += [
            w_fire.eq(array.w.valid & array.w.ready),
            w_advance.eq(~w_valid | w_fire),
            weight_read.addr.eq(w_addr),
            weight_read.en.eq(w_advance),
            array.w.payload.eq(weight_read.data),
            # A set's last beat switches the array's bank: only once the previous set's
            # vectors are all in.
            array.w.valid.eq(w_valid & (~w_final | (w_valid_set == 0) |
                                        (vec_sets_sent >= w_valid_set))),
        ]
        with m.If(phase == Phase.COMPUTE):
            with m.If(w_advance):
                m.d.sync += [
                    w_valid.eq(w_set < reg["sets"]),
                    w_final.eq(w_beat == rows - 1),
                    w_valid_set.eq(w_set),
                ]
                with m.If(w_set < reg["sets"]):
                    m.d.sync += w_addr.eq(w_addr + 1)
                    with m.If(w_beat == rows - 1):
                        m.d.sync += [w_beat.eq(0), w_set.eq(w_set + 1)]
                    with m.Else():
                        m.d.sync += w_beat.eq(w_beat + 1)
            with m.If(w_fire & w_final):
                m.d.sync += w_sets_done.eq(w_sets_done + 1)

        # Window address generator: for each set (column tile j, kernel row kh, kernel column
        # kw, channel group g), every output pixel (oy, ox) in raster order reads input word
        # (iy, ix, g), iy = oy*stride + kh - padding, ix = ox*stride + kw - padding; zero
        # outside the image. Addresses are stepped, never multiplied.
        coord = signed(max(cfg.max_height, cfg.max_width, cfg.max_kernel).bit_length() + 2)
        addr_shape = signed((cfg.input_depth + limits["pad_row_offset"]
                             + limits["stride_row_step"]).bit_length() + 2)
        ox = Signal(range(cfg.max_width))
        oy = Signal(range(cfg.max_height))
        g = Signal(range(max(cfg.max_groups, 2)))
        kw = Signal(range(max(cfg.max_kernel, 2)))
        kh = Signal(range(max(cfg.max_kernel, 2)))
        ix, iy, ix0, iy0 = (Signal(coord, name=n) for n in ("ix", "iy", "ix0", "iy0"))
        col, row, col0, row0 = (Signal(addr_shape, name=n) for n in ("col", "row", "col0", "row0"))
        v_set = Signal(range(max_sets + 1))
        vec_valid = Signal()
        vec_pad = Signal()
        vec_set = Signal(range(max_sets + 1))
        vec_set_end = Signal()
        input_read = input_buffer.read_port()
        v_fire = Signal()
        v_advance = Signal()
        outside = Signal()
        set_end = Signal()
        m.d.comb += [
            v_fire.eq(array.i.valid & array.i.ready),
            v_advance.eq(~vec_valid | v_fire),
            input_read.addr.eq(row + col + g),
            input_read.en.eq(v_advance),
            outside.eq((iy < 0) | (iy >= reg["height"]) | (ix < 0) | (ix >= reg["width"])),
            set_end.eq((ox == reg["out_width"] - 1) & (oy == reg["out_height"] - 1)),
            array.i.valid.eq(vec_valid & (w_sets_done > vec_set)),
        ]
        for lane in range(rows):
            m.d.comb += array.i.payload[lane].eq(Mux(vec_pad, 0, input_read.data[lane]))

        # The next set's tap origin.
        last_g = g == reg["groups"] - 1
        last_kw = kw == reg["kernel"] - 1
        next_ix0 = Mux(last_g, Mux(last_kw, -reg["padding"], ix0 + 1), ix0)
        next_col0 = Mux(last_g, Mux(last_kw, -reg["pad_col_offset"], col0 + reg["groups"]), col0)
        next_iy0 = Mux(last_g & last_kw, Mux(kh == reg["kernel"] - 1, -reg["padding"], iy0 + 1),
                       iy0)
        next_row0 = Mux(last_g & last_kw,
                        Mux(kh == reg["kernel"] - 1, -reg["pad_row_offset"],
                            row0 + reg["row_step"]), row0)

        with m.If(enter_compute):
            m.d.sync += [
                ox.eq(0), oy.eq(0), g.eq(0), kw.eq(0), kh.eq(0), v_set.eq(0),
                ix.eq(-reg["padding"]), iy.eq(-reg["padding"]),
                ix0.eq(-reg["padding"]), iy0.eq(-reg["padding"]),
                col.eq(-reg["pad_col_offset"]), col0.eq(-reg["pad_col_offset"]),
                row.eq(-reg["pad_row_offset"]), row0.eq(-reg["pad_row_offset"]),
                vec_valid.eq(0), w_valid.eq(0), w_addr.eq(0), w_beat.eq(0), w_set.eq(0),
                w_sets_done.eq(0), vec_sets_sent.eq(0),
            ]
        with m.Elif(phase == Phase.COMPUTE):
            with m.If(v_advance):
                m.d.sync += [
                    vec_valid.eq(v_set < reg["sets"]),
                    vec_pad.eq(outside),
                    vec_set.eq(v_set),
                    vec_set_end.eq(set_end),
                ]
                with m.If(v_set < reg["sets"]):
                    with m.If(ox == reg["out_width"] - 1):
                        m.d.sync += ox.eq(0)
                        with m.If(oy == reg["out_height"] - 1):
                            m.d.sync += [
                                oy.eq(0), v_set.eq(v_set + 1),
                                ix0.eq(next_ix0), ix.eq(next_ix0),
                                col0.eq(next_col0), col.eq(next_col0),
                                iy0.eq(next_iy0), iy.eq(next_iy0),
                                row0.eq(next_row0), row.eq(next_row0),
                                g.eq(Mux(last_g, 0, g + 1)),
                            ]
                            with m.If(last_g):
                                m.d.sync += kw.eq(Mux(last_kw, 0, kw + 1))
                                with m.If(last_kw):
                                    m.d.sync += kh.eq(Mux(kh == reg["kernel"] - 1, 0, kh + 1))
                        with m.Else():
                            m.d.sync += [
                                oy.eq(oy + 1), ix.eq(ix0), col.eq(col0),
                                iy.eq(iy + reg["stride"]), row.eq(row + reg["stride_row_step"]),
                            ]
                    with m.Else():
                        m.d.sync += [
                            ox.eq(ox + 1), ix.eq(ix + reg["stride"]),
                            col.eq(col + reg["stride_col_step"]),
                        ]
            with m.If(v_fire & vec_set_end):
                m.d.sync += vec_sets_sent.eq(vec_sets_sent + 1)

        # Results: accumulate over a column tile's passes; the last pass goes to requantise.
        r_pix = Signal(range(cfg.acc_depth))
        r_tile = Signal(range(max(cfg.max_row_tiles, 2)))
        r_col_tile = Signal(range(max(cfg.max_col_tiles, 2)))
        acc_write = acc_buffer.write_port()
        acc_read = acc_buffer.read_port(transparent_for=(acc_write,))
        bias_read = bias_buffer.read_port()
        s1_valid = Signal()
        s1_first = Signal(reset_less=True)
        s1_last = Signal(reset_less=True)
        s1_pix = Signal.like(r_pix, reset_less=True)
        s1_result = Signal.like(array.o.payload, reset_less=True)
        o_fire = Signal()
        m.d.comb += [
            array.o.ready.eq(1),
            o_fire.eq(array.o.valid),
            acc_read.addr.eq(r_pix),
            bias_read.addr.eq(r_col_tile),
        ]
        m.d.sync += [
            s1_valid.eq(o_fire),
            s1_first.eq(r_tile == 0),
            s1_last.eq(r_tile == reg["row_tiles"] - 1),
            s1_pix.eq(r_pix),
            s1_result.eq(array.o.payload),
        ]
        with m.If(enter_compute):
            m.d.sync += [r_pix.eq(0), r_tile.eq(0), r_col_tile.eq(0)]
        with m.Elif(o_fire):
            with m.If(r_pix == reg["pixels"] - 1):
                m.d.sync += r_pix.eq(0)
                with m.If(r_tile == reg["row_tiles"] - 1):
                    m.d.sync += [r_tile.eq(0), r_col_tile.eq(r_col_tile + 1)]
                with m.Else():
                    m.d.sync += r_tile.eq(r_tile + 1)
            with m.Else():
                m.d.sync += r_pix.eq(r_pix + 1)
        sums = []
        for lane in range(cols):
            total = Signal(signed(cfg.acc_width), name=f"sum_{lane}")
            m.d.comb += total.eq(Mux(s1_first, 0, acc_read.data[lane]) + s1_result[lane])
            sums.append(total)
        m.d.comb += [
            acc_write.addr.eq(s1_pix),
            acc_write.en.eq(s1_valid),
            requant.i.valid.eq(s1_valid & s1_last),
            requant.i.payload.bias.eq(bias_read.data),
        ]
        for lane, total in enumerate(sums):
            m.d.comb += [
                acc_write.data[lane].eq(total),
                requant.i.payload.acc[lane].eq(total),
            ]

        # Requantised results into the output buffer at (pixel, column tile).
        q_pix = Signal(range(cfg.acc_depth))
        q_col_tile = Signal(range(cfg.max_col_tiles + 1))
        q_addr = Signal(range(cfg.output_depth + cfg.max_col_tiles + 1))
        q_count = Signal(range(cfg.output_depth + 1))
        output_write = output_buffer.write_port()
        m.d.comb += [
            output_write.addr.eq(q_addr),
            output_write.data.eq(requant.o.payload),
            output_write.en.eq(requant.o.valid),
        ]
        with m.If(enter_compute):
            m.d.sync += [q_pix.eq(0), q_col_tile.eq(0), q_addr.eq(0), q_count.eq(0)]
        with m.Elif(requant.o.valid):
            m.d.sync += q_count.eq(q_count + 1)
            with m.If(q_pix == reg["pixels"] - 1):
                m.d.sync += [q_pix.eq(0), q_col_tile.eq(q_col_tile + 1),
                             q_addr.eq(q_col_tile + 1)]
            with m.Else():
                m.d.sync += [q_pix.eq(q_pix + 1), q_addr.eq(q_addr + reg["col_tiles"])]
        compute_done = (phase == Phase.COMPUTE) & (q_count == reg["out_words"])

        # Compute-phase cycle counter: first vector in to last result out, both counted.
        counting = Signal()
        counter = Signal(32)
        last_result = o_fire & (r_pix == reg["pixels"] - 1) & \
            (r_tile == reg["row_tiles"] - 1) & (r_col_tile == reg["col_tiles"] - 1)
        m.d.comb += self.compute_cycles.eq(counter)
        with m.If(enter_compute):
            m.d.sync += [counter.eq(0), counting.eq(0)]
        with m.Elif(phase == Phase.COMPUTE):
            with m.If(v_fire & (counter == 0)):
                m.d.sync += [counting.eq(1), counter.eq(1)]
            with m.Elif(counting):
                m.d.sync += counter.eq(counter + 1)
            with m.If(last_result):
                m.d.sync += counting.eq(0)

        # ---- OUTPUT: output buffer -> max pool (or past it) -> o ---------------------------
        output_read = output_buffer.read_port()
        out_addr = Signal(range(cfg.output_depth + 1))
        out_valid = Signal()
        out_last = Signal()
        out_stream = stream.Signature(_beat(data.ArrayLayout(signed(8), cols))).create()
        out_advance = Signal()
        m.d.comb += [
            out_advance.eq(~out_valid | (out_stream.valid & out_stream.ready)),
            output_read.addr.eq(out_addr),
            output_read.en.eq(out_advance),
            out_stream.valid.eq(out_valid),
            out_stream.payload.data.eq(output_read.data),
            out_stream.payload.last.eq(out_last),
        ]
        with m.If(phase != Phase.OUTPUT):
            m.d.sync += [out_addr.eq(0), out_valid.eq(0)]
        with m.Elif(out_advance):
            m.d.sync += [
                out_valid.eq(out_addr < reg["out_words"]),
                out_last.eq(out_addr == reg["out_words"] - 1),
            ]
            with m.If(out_addr < reg["out_words"]):
                m.d.sync += out_addr.eq(out_addr + 1)

        pooling = reg["pool_size"] != 0
        if cfg.max_pool:
            m.submodules.pool = pool = MaxPool2d(lanes=cols, max_width=cfg.max_width,
                                                 max_channels=cfg.max_out_channels,
                                                 max_size=cfg.max_pool)
            m.d.comb += [
                pool.height.eq(reg["out_height"]),
                pool.width.eq(reg["out_width"]),
                pool.channels.eq(reg["out_channels"]),
                pool.size.eq(Mux(pooling, reg["pool_size"], 2)),
                pool.stride.eq(Mux(pooling, reg["pool_stride"], 1)),
                pool.i.payload.eq(out_stream.payload),
                pool.i.valid.eq(out_stream.valid & pooling),
                pool.o.ready.eq(self.o.ready & pooling),
                out_stream.ready.eq(Mux(pooling, pool.i.ready, self.o.ready)),
                self.o.valid.eq(Mux(pooling, pool.o.valid, out_stream.valid)),
                self.o.payload.eq(Mux(pooling, pool.o.payload.as_value(),
                                      out_stream.payload.as_value())),
            ]
        else:
            wiring.connect(m, wiring.flipped(self.o), out_stream)
        # The layer ends when its last output word has left *and* the pooling unit has taken
        # every word of the tensor (trailing rows and columns that fill no window included),
        # so that it starts the next tensor in its initial state.
        output_done = self.o.valid & self.o.ready & self.o.payload.last
        output_sent = Signal()
        read_done = ((out_addr == reg["out_words"]) & ~out_valid) | \
            (out_stream.valid & out_stream.ready & out_stream.payload.last)
        with m.If(phase != Phase.OUTPUT):
            m.d.sync += output_sent.eq(0)
        with m.Elif(output_done):
            m.d.sync += output_sent.eq(1)

        # Layer cycle counter: first parameter word to the layer's end, both counted; the
        # count is kept from a layer's end to the next layer's end.
        layer_counter = Signal(32)
        layer_count = Signal(32)
        m.d.comb += self.layer_cycles.eq(layer_count)
        with m.If(p_fire & (p_word == 0)):
            m.d.sync += layer_counter.eq(1)
        with m.Else():
            m.d.sync += layer_counter.eq(layer_counter + 1)
        with m.If(enter_params):
            m.d.sync += layer_count.eq(layer_counter + 1)

        # ---- Phase sequencing ----------------------------------------------------------------
        m.d.comb += [
            enter_compute.eq((phase == Phase.INPUT) & i_fire & input_last),
            enter_params.eq((phase == Phase.OUTPUT) & (output_sent | output_done) & read_done),
        ]
        with m.If((phase == Phase.PARAMS) & p_fire & params_last):
            m.d.sync += phase.eq(Phase.INPUT)
        with m.If(enter_compute):
            m.d.sync += phase.eq(Phase.COMPUTE)
        with m.If(compute_done):
            m.d.sync += phase.eq(Phase.OUTPUT)
        with m.If(enter_params):
            m.d.sync += [phase.eq(Phase.PARAMS), p_word.eq(0), bias_lane.eq(0),
                         bias_count.eq(0), bias_addr.eq(0), weight_count.eq(0),
                         in_count.eq(0), in_group.eq(0), in_channel_base.eq(0)]
        return m


def _shift_in(lanes, value):
    """``lanes`` (an ArrayLayout view) moved down by one lane, ``value`` entering the top."""
    layout = lanes.shape()
    return data.View(layout, Cat(*(lanes[k] for k in range(1, layout.length)),
                                 value))
