from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .layer import REGISTERS, SHIFT_BITS, SIGNED_REGISTERS, EngineConfig
from .maxpool import MaxPool2d
from .ram import BlockRAM
from .requant import Requantizer
from .systolic_array import SystolicArray

__all__ = ["ConvEngine", "Phase"]

# The parameter packet's sections are counted from its last two register words.
assert REGISTERS[-2:] == ("bias_words", "weight_words"), REGISTERS


class Phase:
    """Values of :attr:`ConvEngine.phase`."""

    PARAMS = 0  # taking a parameter packet
    INPUT = 1  # taking the input tensor
    COMPUTE = 2  # running the layer on the array
    OUTPUT = 3  # sending the output tensor


def _beat(lanes_shape):
    return data.StructLayout({"data": lanes_shape, "last": 1})


class ConvEngine(wiring.Component):
    """Convolution layer engine: one generated design runs every conv layer within its limits.

    For each layer the engine takes a parameter packet on ``p`` (registers, biases, weights:
    see :mod:`sysconv.hw.layer`), then the input tensor on ``i``, computes, and sends the output
    tensor on ``o``; then it takes the next packet. Convolution, bias, requantisation, ReLU and max
    pooling run in one pass; nothing goes back to the host in between.

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
        ``out_channels`` zero after pooling and the output zero point without (a channel of
        zero weights, bias and multiplier), ``last`` on the last beat.
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
        super().__init__(
            {
                "p": In(stream.Signature(_beat(unsigned(config.param_width)))),
                "i": In(stream.Signature(_beat(data.ArrayLayout(signed(8), config.rows)))),
                "o": Out(stream.Signature(_beat(data.ArrayLayout(signed(8), config.cols)))),
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

        # Registers of the layer, loaded from the parameter packet (before anything reads them:
        # no reset).
        limits = cfg.register_limits()
        reg = {
            name: Signal(
                signed(8) if name in SIGNED_REGISTERS else range(limits[name] + 1),
                name=f"reg_{name}",
                reset_less=True,
            )
            for name in REGISTERS
        }

        # Buffers. A BlockRAM's read that meets a write to its address has undefined data, and
        # none is used here (the Amaranth simulator poisons them, hw.ram): the input and weight
        # buffers are written before the compute phase and read in it; the output buffer is
        # written in the compute phase and read in the output phase (on the ECP5 its first
        # word in the compute phase's last cycle, which writes nothing); a read of the
        # accumulator that meets the write of the sum before it is replaced by that sum
        # (`s1_meet`).
        m.submodules.input_buffer = input_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(8), rows), depth=cfg.input_depth, sliced=True
        )
        m.submodules.weight_buffer = weight_buffer = BlockRAM(
            shape=data.ArrayLayout(signed(8), cols), depth=cfg.weight_depth, sliced=True
        )
        # A column tile's biases and requantisation constants, one word.
        constants = data.StructLayout(
            {
                "bias": data.ArrayLayout(signed(32), cols),
                "multiplier": data.ArrayLayout(unsigned(cfg.mult_width), cols),
                "shift": data.ArrayLayout(unsigned(SHIFT_BITS), cols),
            }
        )
        m.submodules.bias_buffer = bias_buffer = Memory(
            shape=constants, depth=cfg.max_col_tiles, init=[]
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
        m.d.comb += [
            requant.zero_point.eq(reg["output_zero_point"]),
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
        # Which part of the packet the next word is, in flip-flops: `in_registers`, then
        # `in_biases`, then the weights; their counts start when the last register word comes
        # (bias_words is in by then, weight_words is that word).
        p_word = Signal(range(len(REGISTERS) + 1))
        in_registers = Signal(init=1)
        in_biases = Signal()
        biases = _Count(reg["bias_words"], "biases")
        weights = _Count(reg["weight_words"], "weights")
        # A column tile's words: `cols` biases, then `cols` requantisation words.
        bias_lane = Signal(range(2 * cols))
        bias_second = Signal()  # bias_lane >= cols
        bias_addr = Signal(range(max(cfg.max_col_tiles, 2)))
        bias_shift = Signal(data.ArrayLayout(signed(32), cols), reset_less=True)
        mult_shift = Signal(data.ArrayLayout(unsigned(cfg.mult_width), cols), reset_less=True)
        shift_shift = Signal(data.ArrayLayout(unsigned(SHIFT_BITS), cols), reset_less=True)
        weight_count = Signal(range(cfg.weight_depth + 1))
        bias_write = bias_buffer.write_port()
        weight_write = weight_buffer.write_port()
        param = self.p.payload.data
        param_multiplier = param[: cfg.mult_width]
        param_shift = param[cfg.mult_width : cfg.mult_width + SHIFT_BITS]
        in_weights = ~in_registers & ~in_biases
        params_last = Signal()
        m.d.comb += [
            params_last.eq(in_weights & weights.last),
            bias_write.addr.eq(bias_addr),
            bias_write.data.bias.eq(bias_shift),
            bias_write.data.multiplier.eq(_shift_in(mult_shift, param_multiplier)),
            bias_write.data.shift.eq(_shift_in(shift_shift, param_shift)),
            bias_write.en.eq(p_fire & in_biases & (bias_lane == 2 * cols - 1)),
            weight_write.addr.eq(weight_count),
            weight_write.data.eq(param[: 8 * cols]),
            weight_write.en.eq(p_fire & in_weights),
        ]
        # The counters are cleared in every other phase (not on the cycle the phase is entered:
        # that would hang them on the handshake that ends the previous phase, a long path).
        with m.If(phase != Phase.PARAMS):
            m.d.sync += [
                p_word.eq(0),
                in_registers.eq(1),
                in_biases.eq(0),
                bias_lane.eq(0),
                bias_second.eq(0),
                bias_addr.eq(0),
                weight_count.eq(0),
            ]
        with m.Elif(p_fire):
            with m.If(in_registers):
                for index, name in enumerate(REGISTERS):
                    with m.If(p_word == index):
                        m.d.sync += reg[name].eq(param)
                m.d.sync += p_word.eq(p_word + 1)
                with m.If(p_word == len(REGISTERS) - 1):
                    weight_words = param[: len(reg["weight_words"])]
                    m.d.sync += [
                        in_registers.eq(0),
                        in_biases.eq(reg["bias_words"] != 0),
                        *biases.restart(),
                        *weights.restart(weight_words),
                    ]
            with m.Elif(in_biases):
                m.d.sync += [*biases.step(), in_biases.eq(~biases.last)]
                with m.If(bias_second):
                    m.d.sync += [
                        mult_shift.eq(_shift_in(mult_shift, param_multiplier)),
                        shift_shift.eq(_shift_in(shift_shift, param_shift)),
                    ]
                with m.Else():
                    m.d.sync += bias_shift.eq(_shift_in(bias_shift, param[:32]))
                with m.If(bias_lane == 2 * cols - 1):
                    m.d.sync += [bias_lane.eq(0), bias_second.eq(0), bias_addr.eq(bias_addr + 1)]
                with m.Else():
                    m.d.sync += [
                        bias_lane.eq(bias_lane + 1),
                        bias_second.eq((bias_lane == cols - 1) | bias_second),
                    ]
            with m.Else():
                m.d.sync += [weight_count.eq(weight_count + 1), *weights.step()]
            with m.If(self.p.payload.last != params_last):
                m.d.sync += error.eq(1)

        # ---- INPUT: the tensor into the input buffer, lanes past in_channels zeroed --------
        i_fire = Signal()
        m.d.comb += [
            self.i.ready.eq(phase == Phase.INPUT),
            i_fire.eq(self.i.valid & self.i.ready),
        ]
        in_count = _Count(reg["in_words"], "in_count", range(cfg.input_depth + 1))
        in_group = _Count(reg["groups"], "in_group")
        in_channel_base = Signal(range(cfg.max_groups * rows + 1))
        input_write = input_buffer.write_port()
        input_last = in_count.last
        m.d.comb += [
            input_write.addr.eq(in_count.value),
            input_write.en.eq(i_fire),
        ]
        for lane in range(rows):
            m.d.comb += input_write.data[lane].eq(
                Mux(in_channel_base + lane < reg["in_channels"], self.i.payload.data[lane], 0)
            )
        with m.If(phase != Phase.INPUT):
            m.d.sync += [*in_count.restart(), *in_group.restart(), in_channel_base.eq(0)]
        with m.Elif(i_fire):
            m.d.sync += [*in_count.step(), *in_group.step()]
            with m.If(in_group.last):
                m.d.sync += in_channel_base.eq(0)
            with m.Else():
                m.d.sync += in_channel_base.eq(in_channel_base + rows)
            with m.If(self.i.payload.last != input_last):
                m.d.sync += error.eq(1)

        # ---- COMPUTE -----------------------------------------------------------------------
        # Every loop counter keeps its "at the last value" as a flip-flop worked out a step
        # ahead (`_Count`), and the conditions on which the array's streams wait are kept the
        # same way (`w_go`, `vec_go`): no compare between a register and the enables it
        # drives (Fmax). Outside the compute phase everything holds its start value for the
        # next layer.
        max_sets = limits["sets"]
        in_compute = phase == Phase.COMPUTE
        w_sets_done = Signal(range(max_sets + 1))  # weight sets completed in the array
        vec_sets_sent = Signal(range(max_sets + 1))  # sets whose vectors are all in the array

        # Weight sequencer: weight words in buffer order, `rows` beats a set.
        w_addr = Signal(range(cfg.weight_depth + 1))
        w_beat = Signal(range(max(rows, 2)))
        w_set = _Count(reg["sets"], "w_set", range(max_sets + 1))
        w_more = Signal()  # w_set < sets
        w_valid = Signal()
        w_final = Signal()
        w_valid_set = Signal(range(max_sets + 1))
        # The set of the beat offered is 0, or its previous set's vectors are all in:
        # (w_valid_set == 0) | (vec_sets_sent >= w_valid_set).
        w_go = Signal(init=1)
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
            array.w.valid.eq(w_valid & (~w_final | w_go)),
        ]

        # Window address generator: for each set (column tile j, kernel row kh, kernel column
        # kw, channel group g), every output pixel (oy, ox) in raster order reads input word
        # (iy, ix, g), iy = oy*stride + kh - padding, ix = ox*stride + kw - padding; zero
        # outside the image. Addresses are stepped, never multiplied, and the read address is
        # a register (no adder before the block RAM: Fmax): `addr` is the word read, `line`
        # the word at ox = 0 of the output row, `origin` the word at ox = oy = 0 of the set's
        # tap, `kernel_row` that of the tap kw = 0, g = 0 of the kernel row. Within a kernel
        # row the taps' words follow each other (g, then kw), so the next set's origin is the
        # next word.
        coord = signed(max(cfg.max_height, cfg.max_width, cfg.max_kernel).bit_length() + 2)
        addr_shape = signed(
            (cfg.input_depth + limits["pad_row_offset"] + limits["stride_row_step"]).bit_length()
            + 2
        )
        ox = _Count(reg["out_width"], "ox")
        oy = _Count(reg["out_height"], "oy")
        g = _Count(reg["groups"], "g")
        kw = _Count(reg["kernel"], "kw")
        kh = _Count(reg["kernel"], "kh")
        ix, iy, ix0, iy0 = (Signal(coord, name=n) for n in ("ix", "iy", "ix0", "iy0"))
        addr, line, origin, kernel_row = (
            Signal(addr_shape, name=n) for n in ("addr", "line", "origin", "kernel_row")
        )
        start = Signal(addr_shape)  # the first tap's origin: padding rows and columns back
        m.d.comb += start.eq(-(reg["pad_row_offset"] + reg["pad_col_offset"]))
        v_set = _Count(reg["sets"], "v_set", range(max_sets + 1))
        v_more = Signal()  # v_set < sets
        # Two stages from the generator to the array, advancing together: `rd_*` while the
        # input buffer reads, `vec_*` the word registered (a block RAM's output goes through a
        # flip-flop before any logic: Fmax). The generator runs ahead, so while vectors wait
        # for their weights both stages are full, and the array sees a vector a cycle as soon
        # as it may take one, as with a single stage.
        rd_valid = Signal()
        rd_pad = Signal(reset_less=True)
        rd_set = Signal(range(max_sets + 1), reset_less=True)
        rd_set_end = Signal(reset_less=True)
        vec_valid = Signal()
        vec_data = Signal(data.ArrayLayout(signed(8), rows), reset_less=True)
        vec_set = Signal(range(max_sets + 1), reset_less=True)
        vec_set_end = Signal(reset_less=True)
        vec_go = Signal()  # w_sets_done > vec_set: the vector's weights are in
        input_read = input_buffer.read_port()
        v_fire = Signal()
        v_advance = Signal()
        outside = Signal()
        m.d.comb += [
            v_fire.eq(array.i.valid & array.i.ready),
            v_advance.eq(~vec_valid | v_fire),
            input_read.addr.eq(addr),
            input_read.en.eq(v_advance),
            outside.eq((iy < 0) | (iy >= reg["height"]) | (ix < 0) | (ix >= reg["width"])),
            array.i.valid.eq(vec_valid & vec_go),
            array.i.payload.eq(vec_data),
        ]

        # The stream conditions, a cycle ahead, from the counts as they will be: each
        # compare is made on registers for every case, and this cycle's handshakes only pick
        # one (a count goes up by at most 1, and the set compared is kept or replaced).
        set_sent = v_fire & vec_set_end
        set_done = w_fire & w_final

        def at_least(count, step, bound):  # count + step >= bound
            return Mux(step, count + 1 >= bound, count >= bound)

        w_go_next = Mux(
            w_advance,
            (w_set.value == 0) | at_least(vec_sets_sent, set_sent, w_set.value),
            (w_valid_set == 0) | at_least(vec_sets_sent, set_sent, w_valid_set),
        )
        vec_go_next = Mux(
            v_advance,
            at_least(w_sets_done, set_done, rd_set + 1),
            at_least(w_sets_done, set_done, vec_set + 1),
        )

        # The next set's tap origin.
        next_ix0 = Mux(g.last, Mux(kw.last, -reg["padding"], ix0 + 1), ix0)
        next_iy0 = Mux(g.last & kw.last, Mux(kh.last, -reg["padding"], iy0 + 1), iy0)
        next_kernel_row = Mux(kh.last, start, kernel_row + reg["row_step"])
        next_origin = Mux(g.last & kw.last, next_kernel_row, origin + 1)

        with m.If(~in_compute):
            m.d.sync += [
                *ox.restart(),
                *oy.restart(),
                *g.restart(),
                *kw.restart(),
                *kh.restart(),
                *v_set.restart(),
                v_more.eq(reg["sets"] != 0),
                ix.eq(-reg["padding"]),
                iy.eq(-reg["padding"]),
                ix0.eq(-reg["padding"]),
                iy0.eq(-reg["padding"]),
                addr.eq(start),
                line.eq(start),
                origin.eq(start),
                kernel_row.eq(start),
                rd_valid.eq(0),
                vec_valid.eq(0),
                vec_go.eq(0),
                w_valid.eq(0),
                w_addr.eq(0),
                w_beat.eq(0),
                *w_set.restart(),
                w_more.eq(reg["sets"] != 0),
                w_valid_set.eq(0),
                w_go.eq(1),
                w_sets_done.eq(0),
                vec_sets_sent.eq(0),
            ]
        with m.Else():
            m.d.sync += [
                w_sets_done.eq(w_sets_done + set_done),
                vec_sets_sent.eq(vec_sets_sent + set_sent),
                w_go.eq(w_go_next),
                vec_go.eq(vec_go_next),
            ]
            with m.If(w_advance):
                m.d.sync += [
                    w_valid.eq(w_more),
                    w_final.eq(w_beat == rows - 1),
                    w_valid_set.eq(w_set.value),
                ]
                with m.If(w_more):
                    m.d.sync += w_addr.eq(w_addr + 1)
                    with m.If(w_beat == rows - 1):
                        m.d.sync += [w_beat.eq(0), *w_set.step(), w_more.eq(~w_set.last)]
                    with m.Else():
                        m.d.sync += w_beat.eq(w_beat + 1)

            with m.If(v_advance):
                m.d.sync += [
                    rd_valid.eq(v_more),
                    rd_pad.eq(outside),
                    rd_set.eq(v_set.value),
                    rd_set_end.eq(ox.last & oy.last),
                    vec_valid.eq(rd_valid),
                    vec_set.eq(rd_set),
                    vec_set_end.eq(rd_set_end),
                ]
                for lane in range(rows):
                    m.d.sync += vec_data[lane].eq(
                        Mux(rd_pad, reg["input_zero_point"], input_read.data[lane])
                    )
                with m.If(v_more):
                    m.d.sync += ox.step()
                    with m.If(ox.last):
                        m.d.sync += oy.step()
                        with m.If(oy.last):
                            m.d.sync += [
                                *v_set.step(),
                                v_more.eq(~v_set.last),
                                ix0.eq(next_ix0),
                                ix.eq(next_ix0),
                                iy0.eq(next_iy0),
                                iy.eq(next_iy0),
                                origin.eq(next_origin),
                                line.eq(next_origin),
                                addr.eq(next_origin),
                                *g.step(),
                            ]
                            with m.If(g.last):
                                m.d.sync += kw.step()
                                with m.If(kw.last):
                                    m.d.sync += [*kh.step(), kernel_row.eq(next_kernel_row)]
                        with m.Else():
                            next_line = line + reg["stride_row_step"]
                            m.d.sync += [
                                ix.eq(ix0),
                                iy.eq(iy + reg["stride"]),
                                line.eq(next_line),
                                addr.eq(next_line),
                            ]
                    with m.Else():
                        m.d.sync += [
                            ix.eq(ix + reg["stride"]),
                            addr.eq(addr + reg["stride_col_step"]),
                        ]

        # Results: accumulate over a column tile's passes; the last pass goes to requantise.
        # Three stages: a result leaves the array (its accumulator and bias are read), `s1`
        # (the block RAMs' outputs, registered as they are, Fmax), `s2` (the sum, written back
        # and offered to the requantiser). A pixel's sum is read again `pixels` results later,
        # before the write of the sum before it when that is 1 or 2 results later: then the
        # sum is taken from `s2`, chosen a cycle ahead (`s2_bypass`, `s2_use`), so that the
        # accumulator's read goes into `s2_acc` with no logic after the block RAMs (Fmax).
        r_pix = _Count(reg["pixels"], "r_pix", range(cfg.acc_depth))
        r_tile = _Count(reg["row_tiles"], "r_tile")
        r_col_tile = _Count(reg["col_tiles"], "r_col_tile", range(max(cfg.max_col_tiles, 2)))
        r_first = Signal()  # r_tile == 0
        acc_write = acc_buffer.write_port()
        acc_read = acc_buffer.read_port()
        bias_read = bias_buffer.read_port()
        s1_valid = Signal()
        s1_first = Signal(reset_less=True)
        s1_last = Signal(reset_less=True)
        s1_pix = Signal.like(r_pix.value, reset_less=True)
        s1_result = Signal.like(array.o.payload, reset_less=True)
        s2_valid = Signal()
        s2_first = Signal(reset_less=True)
        s2_last = Signal(reset_less=True)
        s2_pix = Signal.like(r_pix.value, reset_less=True)
        s2_result = Signal.like(array.o.payload, reset_less=True)
        s2_acc = Signal.like(acc_read.data, reset_less=True)
        s1_meet = Signal(reset_less=True)  # the read met the write of the sum before it
        s2_use = Signal(reset_less=True)  # the sum is s2_bypass, not s2_acc
        s2_bypass = Signal.like(acc_read.data, reset_less=True)
        sums = Signal.like(acc_read.data)  # the sum `s2` makes
        sums_r = Signal.like(acc_read.data, reset_less=True)  # the sum `s2` made last cycle
        s2_bias = Signal(constants, reset_less=True)
        o_fire = Signal()
        m.d.comb += [
            array.o.ready.eq(1),
            o_fire.eq(array.o.valid),
            acc_read.addr.eq(r_pix.value),
            bias_read.addr.eq(r_col_tile.value),
        ]
        m.d.sync += [
            s1_valid.eq(o_fire),
            s1_first.eq(r_first),
            s1_last.eq(r_tile.last),
            s1_pix.eq(r_pix.value),
            s1_result.eq(array.o.payload),
            s2_valid.eq(s1_valid),
            s2_first.eq(s1_first),
            s2_last.eq(s1_last),
            s2_pix.eq(s1_pix),
            s2_result.eq(s1_result),
            s2_bias.eq(bias_read.data),
        ]
        with m.If(~in_compute):
            m.d.sync += [*r_pix.restart(), *r_tile.restart(), *r_col_tile.restart(), r_first.eq(1)]
        with m.Elif(o_fire):
            m.d.sync += r_pix.step()
            with m.If(r_pix.last):
                m.d.sync += [*r_tile.step(), r_first.eq(r_tile.last)]
                with m.If(r_tile.last):
                    m.d.sync += r_col_tile.step()
        forward = s2_valid & (s2_pix == s1_pix)
        m.d.sync += [
            s1_meet.eq(s2_valid & (s2_pix == r_pix.value)),
            s2_use.eq(forward | s1_meet),
            s2_bypass.eq(Mux(forward, sums, sums_r)),
            s2_acc.eq(acc_read.data),
            sums_r.eq(sums),
        ]
        for lane in range(cols):
            total = Signal(signed(cfg.acc_width), name=f"sum_{lane}")
            m.d.comb += [
                total.eq(
                    Mux(s2_first, 0, Mux(s2_use, s2_bypass[lane], s2_acc[lane])) + s2_result[lane]
                ),
                sums[lane].eq(total),
            ]
        m.d.comb += [
            acc_write.data.eq(sums),
            requant.i.payload.acc.eq(sums),
        ]
        m.d.comb += [
            acc_write.addr.eq(s2_pix),
            acc_write.en.eq(s2_valid),
            requant.i.valid.eq(s2_valid & s2_last),
        ]

        # Lane by lane: the requantiser's shift lanes may be wider than the buffer's.
        for lane in range(cols):
            m.d.comb += [
                requant.i.payload.bias[lane].eq(s2_bias.bias[lane]),
                requant.i.payload.multiplier[lane].eq(s2_bias.multiplier[lane]),
                requant.i.payload.shift[lane].eq(s2_bias.shift[lane]),
            ]

        # Requantised results into the output buffer at (pixel, column tile).
        q_pix = _Count(reg["pixels"], "q_pix")
        q_col_tile = Signal(range(cfg.max_col_tiles + 1))
        q_addr = Signal(range(cfg.output_depth + cfg.max_col_tiles + 1))
        q_count = _Count(reg["out_words"], "q_count")
        q_done = Signal()  # every word written
        output_write = output_buffer.write_port()
        m.d.comb += [
            output_write.addr.eq(q_addr),
            output_write.data.eq(requant.o.payload),
            output_write.en.eq(requant.o.valid),
        ]
        with m.If(~in_compute):
            m.d.sync += [
                *q_pix.restart(),
                q_col_tile.eq(0),
                q_addr.eq(0),
                *q_count.restart(),
                q_done.eq(0),
            ]
        with m.Elif(requant.o.valid):
            m.d.sync += [*q_count.step(), q_done.eq(q_count.last), *q_pix.step()]
            with m.If(q_pix.last):
                m.d.sync += [q_col_tile.eq(q_col_tile + 1), q_addr.eq(q_col_tile + 1)]
            with m.Else():
                m.d.sync += q_addr.eq(q_addr + reg["col_tiles"])
        compute_done = in_compute & q_done

        # Compute-phase cycle counter: first vector in to last result out, both counted.
        counting = Signal()
        started = Signal()
        counter = Signal(32)
        last_result = o_fire & r_pix.last & r_tile.last & r_col_tile.last
        m.d.comb += self.compute_cycles.eq(counter)
        with m.If(enter_compute):
            m.d.sync += [counter.eq(0), counting.eq(0), started.eq(0)]
        with m.Elif(in_compute):
            with m.If(v_fire & ~started):
                m.d.sync += [counting.eq(1), counter.eq(1), started.eq(1)]
            with m.Elif(counting):
                m.d.sync += counter.eq(counter + 1)
            with m.If(last_result):
                m.d.sync += counting.eq(0)

        # ---- OUTPUT: output buffer -> max pool (or past it) -> o ---------------------------
        output_read = output_buffer.read_port()
        out_addr = _Count(reg["out_words"], "out_addr", range(cfg.output_depth + 1))
        out_valid = Signal()
        out_last = Signal()
        out_more = Signal()  # out_addr < out_words
        out_stream = stream.Signature(_beat(data.ArrayLayout(signed(8), cols))).create()
        out_advance = Signal()
        m.d.comb += [
            out_advance.eq(~out_valid | (out_stream.valid & out_stream.ready)),
            out_stream.valid.eq(out_valid),
            out_stream.payload.last.eq(out_last),
        ]
        if getattr(platform, "family", None) == "ecp5":
            # A DP16KD's output is valid 5.8 ns after the clock, too late to cross the device
            # into the pooling unit's logic at 100 MHz. So the block RAMs are read a word
            # ahead, at `out_succ` (out_addr + 1, unused past the last word; 0 before the
            # output phase, so that its first cycle finds word 0 read), and `out_data` takes
            # their output when the word would have been read: the same stream, cycle for
            # cycle, with the block RAMs' outputs going into flip-flops that may sit beside
            # them (Fmax). Both hold while the stream waits (the read enable and the
            # flip-flops' enable are `out_advance`, one gate from registers: the address
            # comes from registers only). The buffer is not written in the output phase, nor
            # in the compute phase's last cycle. (On the iCE40 the extra enable on the way
            # from the pooling unit's i.ready costs more than it saves.)
            out_succ = Signal.like(out_addr.value)
            out_data = Signal(data.ArrayLayout(signed(8), cols), reset_less=True)
            m.d.comb += [
                output_read.addr.eq(Mux(phase != Phase.OUTPUT, 0, out_succ)),
                output_read.en.eq(out_advance),
                out_stream.payload.data.eq(out_data),
            ]
            with m.If(out_advance):
                m.d.sync += out_data.eq(output_read.data)
            with m.If(phase != Phase.OUTPUT):
                m.d.sync += out_succ.eq(1)
            with m.Elif(out_advance & out_more):
                m.d.sync += out_succ.eq(out_succ + 1)
        else:
            m.d.comb += [
                output_read.addr.eq(out_addr.value),
                output_read.en.eq(out_advance),
                out_stream.payload.data.eq(output_read.data),
            ]
        with m.If(phase != Phase.OUTPUT):
            m.d.sync += [*out_addr.restart(), out_valid.eq(0), out_more.eq(reg["out_words"] != 0)]
        with m.Elif(out_advance):
            m.d.sync += [out_valid.eq(out_more), out_last.eq(out_addr.last)]
            with m.If(out_more):
                m.d.sync += [*out_addr.step(), out_more.eq(~out_addr.last)]

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
            m.d.sync += phase.eq(Phase.PARAMS)
        return m


def _shift_in(lanes, value):
    """``lanes`` (an ArrayLayout view) moved down by one lane, ``value`` entering the top."""
    layout = lanes.shape()
    return data.View(layout, Cat(*(lanes[k] for k in range(1, layout.length)), value))


class _Count:
    """A loop counter of the layer, ``length`` steps and round again (``length`` a layer
    register, at least 1, steady while the counter runs). It counts down what is left, and
    keeps ``last`` (at the last step) in a flip-flop worked out a step ahead, ``left == 1``:
    nothing adds to or compares with the layer's registers on the way to what ``last``
    drives (Fmax). ``value`` (0 to ``length - 1``, up) only if ``shape`` is given."""

    def __init__(self, length, name, shape=None):
        self._length = length
        self.left = Signal(len(length), name=f"{name}_left")
        self.last = Signal(name=f"{name}_last")
        self.value = None if shape is None else Signal(shape, name=name)

    def restart(self, length=None):
        """Back to the first step; ``length`` (default the register) if the register is only
        being written now."""
        length = self._length if length is None else length
        statements = [self.left.eq(length - 1), self.last.eq(length == 1)]
        if self.value is not None:
            statements.append(self.value.eq(0))
        return statements

    def step(self):
        statements = [
            self.left.eq(Mux(self.last, self._length - 1, self.left - 1)),
            self.last.eq(Mux(self.last, self._length == 1, self.left == 1)),
        ]
        if self.value is not None:
            statements.append(self.value.eq(Mux(self.last, 0, self.value + 1)))
        return statements
