from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ..family import is_ecp5
from ._common import Count, EnginePart, after_skid, at_least, read_port, register_layout

__all__ = ["WindowGenerator"]


class WindowGenerator(EnginePart):
    """Streams each weight set's input vectors from the input buffer into the array: im2col
    without the copy.

    For each set (column tile j, kernel row kh, kernel column kw, channel group g), every
    output pixel (oy, ox) in raster order reads input word (iy, ix, g), iy = oy*stride + kh -
    padding, ix = ox*stride + kw - padding; outside the image the vector is the input zero
    point in every lane. A set's vectors go into the array only once its weights are in
    (``set_done``). The tensor's first word is at ``base`` (its bank of the input buffer).

    Parameters
    ----------
    config : EngineConfig

    Members
    -------
    active : In(1)
        The engine is in its ``COMPUTE`` phase. While low, everything holds its start value
        for the next layer.
    base : In(range(input_depth))
        The address of the tensor's first word; steady from the cycle before ``active``
        rises to the cycle it falls.
    regs : In(register_layout(config))
        The layer's registers (the map, kernel, stride, padding, their address steps, the
        input zero point, ``sets``).
    read : In(ReadPort.Signature(...)) of the input buffer
        A registered port (:meth:`~sysconv.hw.ram.BlockRAM.read_port` with ``registered``):
        its output register is the generator's second stage. Read from the first cycle of
        ``active``; the read address is a register.
    o : Out(stream.Signature(ArrayLayout(signed(8), rows)))
        Vectors, for the array's ``i``: ``sets x pixels`` of them. A vector is offered three
        cycles after its read at the earliest (the block RAM, its output registered as it is,
        then the padding: :data:`WindowGenerator.latency`); throughput one a cycle while
        ``o.ready`` and its set's weights are in. Valid held and payload steady until taken.
    set_done : In(1)
        The weight sequencer's last beat of a set was taken in this cycle.
    set_sent : Out(1)
        A set's last vector is taken in this cycle.

    Elaborated for an ECP5 (``platform.family == "ecp5"``), a fourth register (a skid buffer)
    sits before the last stage: the stages before it advance whenever it is empty, and it takes
    the word the last stage cannot take while its vector waits. The same stream, cycle for
    cycle, with no path from ``o.ready`` to the counters and the input buffer's read.
    """

    latency = 3  # a vector's read to its offer, at the earliest (golden.perf.WINDOW_LATENCY)

    def __init__(self, config):
        self.check_parameters(config)
        super().__init__(
            config,
            {
                "active": In(1),
                "base": In(range(config.input_depth)),
                "regs": In(register_layout(config)),
                "read": read_port(config.input_depth, data.ArrayLayout(signed(8), config.rows)),
                "o": Out(stream.Signature(data.ArrayLayout(signed(8), config.rows))),
                "set_done": In(1),
                "set_sent": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        rows = cfg.rows
        limits = cfg.register_limits()
        max_sets = limits["sets"]

        # Every loop counter keeps its "at the last value" as a flip-flop worked out a step
        # ahead (`Count`), and the condition on which the stream waits is kept the same way
        # (`vec_go`): no compare between a register and the enables it drives (Fmax).
        w_sets_done = Signal(range(max_sets + 1))  # weight sets completed in the array

        # Addresses are stepped, never multiplied, and the read address is a register (no
        # adder before the block RAM: Fmax): `addr` is the word read, `line` the word at
        # ox = 0 of the output row, `origin` the word at ox = oy = 0 of the set's tap,
        # `kernel_row` that of the tap kw = 0, g = 0 of the kernel row. Within a kernel row
        # the taps' words follow each other (g, then kw), so the next set's origin is the next
        # word.
        coord = signed(max(cfg.max_height, cfg.max_width, cfg.max_kernel).bit_length() + 2)
        addr_shape = signed(
            (cfg.input_depth + limits["pad_row_offset"] + limits["stride_row_step"]).bit_length()
            + 2
        )
        ox = Count(reg["out_width"], "ox", lookahead=True)
        oy = Count(reg["out_height"], "oy", lookahead=True)
        g = Count(reg["groups"], "g", lookahead=True)
        kw = Count(reg["kernel"], "kw", lookahead=True)
        kh = Count(reg["kernel"], "kh")
        ix, iy, ix0, iy0 = (Signal(coord, name=n) for n in ("ix", "iy", "ix0", "iy0"))
        # ix0 + 1 and iy0 + 1, kept as registers: no adder between the counters' ends and
        # ix, iy (Fmax: g.last through iy0's increment and iy's own adder, which Yosys shares,
        # was the ECP5 engine alone's critical path on a seed).
        ix0_inc, iy0_inc = (Signal(coord, name=n) for n in ("ix0_inc", "iy0_inc"))
        addr, line, origin, kernel_row = (
            Signal(addr_shape, name=n) for n in ("addr", "line", "origin", "kernel_row")
        )
        start = Signal(addr_shape)  # the first tap's origin: padding rows and columns back
        m.d.comb += start.eq(self.base - (reg["pad_row_offset"] + reg["pad_col_offset"]))
        v_set = Count(reg["sets"], "v_set", range(max_sets + 1))
        v_more = Signal()  # v_set < sets
        # The counters' nested "at the last step"s, flip-flops worked out a step ahead too, so
        # that a set's, a kernel column's and a kernel row's end each enable their registers
        # through one gate after the stream's handshake (Fmax: the handshake through the
        # nested conditions into kernel_row's enable was the ULX3S board top's critical path).
        set_end = Signal()  # ox.last & oy.last: the set's last pixel
        tap_end = Signal()  # set_end & g.last: the kernel tap's last set
        row_end = Signal()  # tap_end & kw.last: the kernel row's last set
        # g.last & kw.last: the set is its kernel row's last (Fmax: the AND, placed across
        # the device from the counters, was on the ECP5 engine alone's critical path).
        row_last = Signal()
        step = Signal()  # the counters step: a vector read
        # Three stages from the generator to the array, advancing together: `rd_*` while the
        # input buffer reads, `got_*` its output registered as it is (the read port's own
        # register: on the ECP5 the DP16KDs', Fmax), `vec_*` the padded word. The generator
        # runs ahead, so while vectors wait for their weights all
        # stages are full, and the array sees a vector a cycle as soon as it may take one,
        # as with a single stage.
        rd_valid = Signal()
        rd_pad = Signal(reset_less=True)
        # `*_need`: the weight sets the vector needs in the array, its set's index + 1 (worked
        # out as it is read, so that no adder precedes `vec_go`'s compares: Fmax).
        rd_need = Signal(range(max_sets + 1), reset_less=True)
        rd_set_end = Signal(reset_less=True)
        got_valid = Signal()
        got_data = self.read.data
        got_pad = Signal(reset_less=True)
        got_need = Signal(range(max_sets + 1), reset_less=True)
        got_set_end = Signal(reset_less=True)
        vec_valid = Signal()
        vec_data = Signal(data.ArrayLayout(signed(8), rows), reset_less=True)
        vec_need = Signal(range(max_sets + 1), reset_less=True)
        vec_set_end = Signal(reset_less=True)
        # On the ECP5, a fourth register, `held`, between `got` and `vec` (a skid buffer):
        # the stages before it advance whenever it is empty, and a padded word that `vec`
        # cannot take (its vector offered and not taken) goes into it, so that the array's
        # ready reaches `vec` and `held`'s flag, not the counters, the addresses and the read
        # (Fmax: through them, the array's ready into the column count was the ECP5 engine
        # alone's critical path on a seed, and into the read address the ULX3S board top's).
        # (Not on the iCE40: 166 more logic cells, which the iCEBreaker board top lacks.)
        # `vec` stays the register the array reads. The array sees each vector in the same
        # cycle as without it: the stages run ahead, and `vec` takes from `held` first.
        skid_buffer = is_ecp5(platform)
        held_valid = Signal()  # (without the skid buffer, always 0)
        held_data = Signal(data.ArrayLayout(signed(8), rows), reset_less=True)
        held_need = Signal(range(max_sets + 1), reset_less=True)
        held_set_end = Signal(reset_less=True)
        padded = Signal(data.ArrayLayout(signed(8), rows))  # `got`'s word, padding applied
        vec_go = Signal()  # w_sets_done >= vec_need: the vector's weights are in
        v_fire = Signal()
        v_take = Signal()  # `vec` takes the next word
        v_advance = Signal()  # the stages before `vec` (and `held`) advance
        outside = Signal()
        m.d.comb += [
            v_fire.eq(self.o.valid & self.o.ready),
            v_take.eq(~vec_valid | v_fire),
            v_advance.eq(~held_valid if skid_buffer else v_take),
            step.eq(self.active & v_advance & v_more),
            self.read.addr.eq(addr),
            self.read.en.eq(v_advance),
            outside.eq((iy < 0) | (iy >= reg["height"]) | (ix < 0) | (ix >= reg["width"])),
            self.o.valid.eq(vec_valid & vec_go),
            self.o.payload.eq(vec_data),
            self.set_sent.eq(v_fire & vec_set_end),
        ]
        for lane in range(rows):
            m.d.comb += padded[lane].eq(Mux(got_pad, reg["input_zero_point"], got_data[lane]))

        # The stream condition, a cycle ahead, from the count as it will be: the compare is
        # made on registers for every case, and this cycle's handshakes only pick one (a
        # count goes up by at most 1, and the set compared is kept or replaced).
        set_done = self.set_done
        vec_go_next = Mux(
            v_take,
            at_least(w_sets_done, set_done, Mux(held_valid, held_need, got_need)),
            at_least(w_sets_done, set_done, vec_need),
        )

        # The next set's tap origin.
        next_ix0 = Mux(g.last, Mux(kw.last, -reg["padding"], ix0_inc), ix0)
        next_iy0 = Mux(row_last, Mux(kh.last, -reg["padding"], iy0_inc), iy0)
        next_ix0_inc = Mux(g.last, Mux(kw.last, 1 - reg["padding"], ix0_inc + 1), ix0_inc)
        next_iy0_inc = Mux(row_last, Mux(kh.last, 1 - reg["padding"], iy0_inc + 1), iy0_inc)
        next_kernel_row = Mux(kh.last, start, kernel_row + reg["row_step"])
        next_origin = Mux(row_last, next_kernel_row, origin + 1)

        # The nested "last"s after this step, from the counters' registers alone.
        oy_last = Mux(ox.last, oy.last_after_step(), oy.last)
        g_last = Mux(set_end, g.last_after_step(), g.last)
        kw_last = Mux(tap_end, kw.last_after_step(), kw.last)
        next_set_end = ox.last_after_step() & oy_last
        next_tap_end = next_set_end & g_last

        if skid_buffer:
            with m.If(~self.active):
                m.d.sync += held_valid.eq(0)
        with m.If(~self.active):
            first_set_end = (reg["out_width"] == 1) & (reg["out_height"] == 1)
            first_tap_end = first_set_end & (reg["groups"] == 1)
            m.d.sync += [
                set_end.eq(first_set_end),
                tap_end.eq(first_tap_end),
                row_end.eq(first_tap_end & (reg["kernel"] == 1)),
                row_last.eq((reg["groups"] == 1) & (reg["kernel"] == 1)),
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
                ix0_inc.eq(1 - reg["padding"]),
                iy0_inc.eq(1 - reg["padding"]),
                addr.eq(start),
                line.eq(start),
                origin.eq(start),
                kernel_row.eq(start),
                rd_valid.eq(0),
                got_valid.eq(0),
                vec_valid.eq(0),
                vec_go.eq(0),
                w_sets_done.eq(0),
            ]
        with m.Else():
            m.d.sync += [
                w_sets_done.eq(w_sets_done + set_done),
                vec_go.eq(vec_go_next),
            ]
            with m.If(v_advance):
                m.d.sync += [
                    rd_valid.eq(v_more),
                    rd_pad.eq(outside),
                    rd_need.eq(v_set.value + 1),
                    rd_set_end.eq(set_end),
                    got_valid.eq(rd_valid),
                    got_pad.eq(rd_pad),
                    got_need.eq(rd_need),
                    got_set_end.eq(rd_set_end),
                ]
            after_skid(
                m,
                held_valid,
                v_take,
                got_valid,
                vec_valid,
                [
                    (vec_data, held_data, padded),
                    (vec_need, held_need, got_need),
                    (vec_set_end, held_set_end, got_set_end),
                ],
                skid_buffer=skid_buffer,
            )
            # The counters and addresses: a column step, overridden at a row's end, a set's
            # end, a tap's and a kernel row's.
            with m.If(step):
                m.d.sync += [
                    *ox.step(),
                    set_end.eq(next_set_end),
                    tap_end.eq(next_tap_end),
                    row_end.eq(next_tap_end & kw_last),
                    row_last.eq(g_last & kw_last),
                    ix.eq(ix + reg["stride"]),
                    addr.eq(addr + reg["stride_col_step"]),
                ]
            with m.If(step & ox.last):
                next_line = line + reg["stride_row_step"]
                m.d.sync += [
                    *oy.step(),
                    ix.eq(ix0),
                    iy.eq(iy + reg["stride"]),
                    line.eq(next_line),
                    addr.eq(next_line),
                ]
                # (A set's end is a row's end: nested, so that the coordinates' and the
                # addresses' enables are the row's end alone.)
                with m.If(set_end):
                    m.d.sync += [
                        *v_set.step(),
                        v_more.eq(~v_set.last),
                        ix0.eq(next_ix0),
                        ix0_inc.eq(next_ix0_inc),
                        ix.eq(next_ix0),
                        iy0.eq(next_iy0),
                        iy0_inc.eq(next_iy0_inc),
                        iy.eq(next_iy0),
                        origin.eq(next_origin),
                        line.eq(next_origin),
                        addr.eq(next_origin),
                        *g.step(),
                    ]
            with m.If(step & tap_end):
                m.d.sync += kw.step()
            with m.If(step & row_end):
                m.d.sync += [*kh.step(), kernel_row.eq(next_kernel_row)]
        return m
