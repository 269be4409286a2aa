import itertools
from types import SimpleNamespace

from amaranth.hdl import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ._check import check_int
from .ram import BlockRAM

__all__ = ["MaxPool2d"]

HEIGHT_WIDTH = 16  # bits of the ``height`` input: tensors of up to 65535 rows


class MaxPool2d(wiring.Component):
    """Streaming max pooling (no padding, PyTorch's floor output size) over an HWC raster.

    The input is the stream the convolution engine's requantiser produces: one pixel after the
    other in raster order (row by row, left to right), each pixel as ``groups = ceil(channels /
    lanes)`` beats, beat ``g`` carrying channels ``g * lanes`` to ``g * lanes + lanes - 1``.
    The output is the pooled tensor, ``golden.maxpool2d(x, size, stride)``, in the same order
    and packing: ``Ho = (height - size) // stride + 1`` rows of ``Wo = (width - size) // stride
    + 1`` pixels. Rows and columns that no full window reaches are read and dropped.

    Parameters
    ----------
    lanes : int
        Channels per beat, 1 to 64.
    max_width : int
        Widest input row the line buffers hold, 1 to 4096.
    max_channels : int
        Most channels per pixel the buffers hold, 1 to 4096.
    max_size : int
        Largest pooling window, 2 to 4.
    data_width : int
        Signed width of a channel value, 2 to 32.

    Members
    -------
    i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(data_width), lanes), \
"last": 1})))
        Input beats. ``i.ready`` depends on registers and the configuration only, never on
        ``i.valid``. Lanes beyond ``channels`` in a pixel's last group are ignored (read as
        zero). ``i.payload.last`` is ignored: the unit finds the end of a tensor by counting
        beats against ``height``, ``width`` and ``channels``.
    o : Out(stream.Signature(same layout))
        Output beats. ``o.valid`` and ``o.payload`` come from registers and never depend on
        ``o.ready``; a beat stays valid and unchanged until taken. ``o.payload.last`` is 1 on
        the last beat of a pooled tensor (last group of its last pixel); lanes beyond
        ``channels`` are zero.
    height : In(16)
        Input rows, 1 to 65535.
    width : In(range(max_width + 1))
        Input columns, 1 to ``max_width``.
    channels : In(range(max_channels + 1))
        Channels per pixel, 1 to ``max_channels``.
    size : In(range(max_size + 1))
        Square window side ``K``, 2 to ``max_size``.
    stride : In(range(max_size + 1))
        Window step ``s`` in both directions, 1 to ``size`` (windows overlap when ``s < K``).

    The configuration must hold still from the cycle the first beat of a tensor is accepted to
    the cycle its last beat is accepted; it may change in the next cycle, and the next tensor
    may follow at once: the unit returns to its initial state after the last beat of a tensor
    by itself. Values outside the ranges above are not checked and give unspecified results.
    A tensor smaller than the window (``height < size`` or ``width < size``) is consumed and
    gives no output beat at all.

    Notes
    -----
    Max is separable, so the unit computes it in two passes sharing one pipeline, with no stall
    anywhere: an accepted beat always moves on.

    1. Horizontal: memory ``hline`` (:attr:`hline_depth` ``= max(max_groups, 2)`` words, one
       per channel group, ``max_groups = ceil(max_channels / lanes)``) holds, for each group,
       the last ``max_size - 1`` pixels of the row, newest first. The beat that completes a
       window row (column ``q * s + K - 1``) gives the max of itself and ``K - 1`` of them.
    2. Vertical: memory ``vline`` (:attr:`vline_depth` ``= max((max_width - 1) * max_groups,
       2)`` words, one per horizontal result of a row, a row having at most ``width - 1``
       windows of ``groups`` beats) holds the horizontal results of the last ``max_size - 1``
       rows. A result in a window's last row (``r * s + K - 1``) gives the max of itself and
       ``K - 1`` of them: an output beat.

    A word is ``(max_size - 1) * lanes * data_width`` bits and holds all the taps, so each pass
    is one read and one write per beat (both memories have at least two words, as Verilog has
    no zero-width address). The words
    are reused from row to row and tensor to tensor without clearing: a tap is only ever read
    after it was written in the same row (horizontal) or tensor (vertical). Whether a beat
    completes a window is known from the counters when it is accepted, so backpressure works by
    credits, as in :class:`~hw.systolic_array.SystolicArray`: a ``buffer_depth``-deep output
    FIFO (:class:`~amaranth.lib.fifo.SyncFIFOBuffered`) always has room for every output beat in
    flight, and ``i`` refuses only a beat that would give an output while ``buffer_depth`` are
    in flight or unread. Beats that complete no window are always taken.

    Latency and throughput: the output beat of window ``(r, q)`` and group ``g`` is valid on
    ``o`` :attr:`latency` ``= 8`` cycles after the input beat of pixel ``(r * s + K - 1, q * s +
    K - 1)``, group ``g``, is accepted (``hline`` read 1, its output registered 1, the
    horizontal comparisons registered 1, ``vline`` read 1, its output registered 1, the
    vertical comparisons registered 1, FIFO 2: no logic after a memory's output before a
    register, and a pass's comparisons and its selection in separate cycles), when ``o`` is not
    backpressured; ``golden.pool_timing`` models it. One input beat per cycle is sustained
    indefinitely while ``o.ready``. ``i.ready`` is a flip-flop.

    Datapath registers and memories have no reset; the counters, valids and credits do.
    """

    def __init__(self, *, lanes, max_width, max_channels, max_size=4, data_width=8):
        self.check_parameters(
            lanes=lanes,
            max_width=max_width,
            max_channels=max_channels,
            max_size=max_size,
            data_width=data_width,
        )
        self._lanes, self._max_width, self._max_channels = lanes, max_width, max_channels
        self._max_size, self._data_width = max_size, data_width
        beat = data.StructLayout(
            {
                "data": data.ArrayLayout(signed(data_width), lanes),
                "last": 1,
            }
        )
        super().__init__(
            {
                "i": In(stream.Signature(beat)),
                "o": Out(stream.Signature(beat)),
                "height": In(HEIGHT_WIDTH),
                "width": In(range(max_width + 1)),
                "channels": In(range(max_channels + 1)),
                "size": In(range(max_size + 1)),
                "stride": In(range(max_size + 1)),
            }
        )

    @classmethod
    def check_parameters(cls, *, lanes, max_width, max_channels, max_size=4, data_width=8):
        check_int("lanes", lanes, 1, 64)
        check_int("max_width", max_width, 1, 4096)
        check_int("max_channels", max_channels, 1, 4096)
        check_int("max_size", max_size, 2, 4)
        check_int("data_width", data_width, 2, 32)

    LATENCY = 8

    lanes = property(lambda self: self._lanes)
    max_width = property(lambda self: self._max_width)
    max_channels = property(lambda self: self._max_channels)
    max_size = property(lambda self: self._max_size)
    data_width = property(lambda self: self._data_width)
    max_groups = property(lambda self: -(-self._max_channels // self._lanes))
    latency = property(lambda self: self.LATENCY)
    # The least depth that sustains one output beat per cycle: `latency` beats in flight + 1.
    buffer_depth = property(lambda self: self.LATENCY + 1)
    # At least 2 words: a one-word memory would have a zero-width address, which Verilog lacks.
    hline_depth = property(lambda self: max(self.max_groups, 2))
    vline_depth = property(lambda self: max((self._max_width - 1) * self.max_groups, 2))

    def elaborate(self, platform):
        m = Module()
        lanes, taps = self._lanes, self._max_size - 1
        pixel = data.ArrayLayout(signed(self._data_width), lanes)
        window = data.ArrayLayout(pixel, taps)  # tap 0 is the newest

        # Control: the only registers with a reset. The counters locate the beat to be accepted.
        i_fire = Signal()
        o_fire = Signal()
        group = Signal(range(self.hline_depth))
        base = Signal(range(max(self._max_channels, 2)))  # first channel of `group`
        x = Signal(range(max(self._max_width, 2)))
        y = Signal(HEIGHT_WIDTH)
        # From the beat's column (row) to the last of the window it is in or the next one
        # starts: x_end - x, y_end - y, at most max_size, kept instead of the end itself, so
        # that what is worked out of it is a few bits wide (Fmax: the adders and compares on
        # the full-width end row were the iCE40 board top's critical path). Not looked at at a
        # first column (row), where the window ends at size - 1.
        x_gap = Signal(range(self._max_size + 1))
        y_gap = Signal(range(self._max_size + 1))
        h_addr = Signal(range(self.vline_depth))  # horizontal results so far in the row
        in_flight = Signal(range(self.buffer_depth + 1))  # output beats accepted, not yet taken

        remaining = Signal(range(self._max_channels + 1))
        # Where the beat is, as flags kept in registers, worked out when the previous beat is
        # accepted (Fmax): the first group of a pixel, the first column of a row, the first
        # row of the tensor; and, away from those, the last group, column and row. At a
        # first one the last is taken from the config instead, so that the idle state (every
        # first flag set) does not depend on the config.
        first_group, x_first, y_first = (
            Signal(init=1, name=n) for n in ("first_group", "x_first", "y_first")
        )
        last_group_r, x_last_r, y_last_r = (
            Signal(name=n) for n in ("last_group_r", "x_last_r", "y_last_r")
        )
        last_group = Signal()
        # At the start of a row (tensor) the first window ends at column (row) size - 1; the
        # registers are overwritten there, so the idle state does not depend on the config.
        x_gap_now = Mux(x_first, self.size - 1, x_gap)
        y_gap_now = Mux(y_first, self.size - 1, y_gap)
        # Whether the beat to be accepted ends a window row (column): x == x_end_now and
        # y == y_end_now, kept in registers, worked out when the previous pixel (row) is
        # accepted, so that no compare on the counters is on the way to `i.ready` (Fmax).
        # Both are 0 at the start of a row (tensor), as size >= 2, so the idle state does not
        # depend on the config either.
        h_emit = Signal()
        v_emit = Signal()
        emit = Signal()
        last = Signal()
        # `i.ready` is (in_flight < buffer_depth) | ~emit, kept in a flip-flop worked out a
        # step ahead from the next values of the three: the producer's read enables hang on
        # i.ready, so no logic between it and the registers (Fmax).
        ready = Signal(init=1)
        h_emit_next = Signal()
        v_emit_next = Signal()
        room_next = Signal()
        m.d.comb += [
            remaining.eq(self.channels - base),
            # Constant when a pixel always fits one beat (and the compare would be too).
            last_group.eq(
                1
                if self.max_groups == 1
                else Mux(first_group, self.channels <= lanes, last_group_r)
            ),
            emit.eq(h_emit & v_emit),
            # The window is the last of the tensor when no further one fits either way (only
            # looked at when the beat ends a window, where x, y are its last column and row).
            last.eq(
                last_group & (x + self.stride >= self.width) & (y + self.stride >= self.height)
            ),
            self.i.ready.eq(ready),
            i_fire.eq(self.i.valid & self.i.ready),
            o_fire.eq(self.o.valid & self.o.ready),
        ]
        m.d.sync += in_flight.eq(in_flight + (i_fire & emit) - o_fire)
        # The count moves by at most one: compares on the register alone.
        with m.If(i_fire & emit & ~o_fire):
            m.d.comb += room_next.eq(in_flight < self.buffer_depth - 1)
        with m.Elif(o_fire & ~(i_fire & emit)):
            m.d.comb += room_next.eq(1)
        with m.Else():
            m.d.comb += room_next.eq(in_flight < self.buffer_depth)
        m.d.sync += [
            h_emit.eq(h_emit_next),
            v_emit.eq(v_emit_next),
            ready.eq(room_next | ~(h_emit_next & v_emit_next)),
        ]

        row_end = Signal()
        tensor_end = Signal()
        m.d.comb += [
            row_end.eq(last_group & Mux(x_first, self.width == 1, x_last_r)),
            tensor_end.eq(Mux(y_first, self.height == 1, y_last_r)),
            h_emit_next.eq(h_emit),
            v_emit_next.eq(v_emit),
        ]
        with m.If(i_fire):
            with m.If(~last_group):
                m.d.sync += [
                    group.eq(group + 1),
                    base.eq(base + lanes),
                    first_group.eq(0),
                    last_group_r.eq(remaining <= 2 * lanes),
                ]
            with m.Else():
                m.d.sync += [
                    group.eq(0),
                    base.eq(0),
                    first_group.eq(1),
                    x.eq(Mux(row_end, 0, x + 1)),
                    x_first.eq(row_end),
                    x_last_r.eq(x + 2 == self.width),
                    # After an emitting beat the next window ends stride columns on.
                    x_gap.eq(x_gap_now + Mux(h_emit, self.stride, 0) - 1),
                ]
                # The next pixel ends a window: x + 1 == x_end, x_gap_now == 1, without the
                # add: after an emitting beat when stride == 1.
                m.d.comb += h_emit_next.eq(~row_end & Mux(h_emit, self.stride == 1, x_gap_now == 1))
            with m.If(row_end):
                m.d.sync += [
                    y.eq(Mux(tensor_end, 0, y + 1)),
                    y_first.eq(tensor_end),
                    y_last_r.eq(y + 2 == self.height),
                    y_gap.eq(y_gap_now + Mux(v_emit, self.stride, 0) - 1),
                ]
                m.d.comb += v_emit_next.eq(
                    ~tensor_end & Mux(v_emit, self.stride == 1, y_gap_now == 1)
                )
            with m.If(row_end):
                m.d.sync += h_addr.eq(0)
            with m.Elif(h_emit):
                m.d.sync += h_addr.eq(h_addr + 1)

        # Lanes beyond `channels` are forced to zero, whatever the producer put there.
        beat_in = Signal(pixel)
        for k in range(lanes):
            if k < self._max_channels:
                m.d.comb += beat_in[k].eq(Mux(remaining > k, self.i.payload.data[k], 0))

        # Stage 1: horizontal max. `hline` is read in the accept cycle and written back one
        # cycle later; with one group the next beat reads that same word in that same cycle,
        # hence the transparent read port.
        m.submodules.hline = hline = Memory(shape=window, depth=self.hline_depth, init=[])
        hline_w = hline.write_port()
        hline_r = hline.read_port(transparent_for=(hline_w,))

        s1 = _stage(
            m,
            "1",
            i_fire,
            pixel=beat_in,
            group=group,
            h_addr=h_addr,
            h_emit=h_emit,
            v_emit=v_emit,
            last=last,
            size=self.size,
        )
        m.d.comb += [
            hline_r.addr.eq(group),
            hline_w.addr.eq(s1.group),
            hline_w.en.eq(s1.valid),
            hline_w.data[0].eq(s1.pixel),
        ]
        for t in range(1, taps):
            m.d.comb += hline_w.data[t].eq(hline_r.data[t - 1])

        # The memory's output is registered before the max (a block RAM's output delay leaves
        # no time for logic after it: Fmax).
        sh = _stage(
            m,
            "h",
            s1.valid & s1.h_emit,
            pixel=s1.pixel,
            taps=self._left_out_lowest(m, hline_r.data, s1.size),
            h_addr=s1.h_addr,
            v_emit=s1.v_emit,
            last=s1.last,
            size=s1.size,
        )
        # As in the vertical pass, the comparisons are registered before the selection (`shc`):
        # compare, winner and select in one cycle had been the ECP5 engine's critical path.
        shc = _stage(
            m,
            "hc",
            sh.valid,
            pixel=sh.pixel,
            taps=sh.taps,
            winners=self._winners(m, "h", sh.pixel, sh.taps),
            h_addr=sh.h_addr,
            v_emit=sh.v_emit,
            last=sh.last,
            size=sh.size,
        )
        h_max = self._select(m, "h_max", shc.pixel, shc.taps, shc.winners)

        # Stage 2: vertical max over the horizontal results of the last `size` rows. A word of
        # `vline` is next read a row later, at least two cycles after it is written: no bypass,
        # and no read that meets a write is used (a BlockRAM's contract).
        m.submodules.vline = vline = BlockRAM(shape=window, depth=self.vline_depth, sliced=False)
        vline_w = vline.write_port()
        vline_r = vline.read_port()

        s2 = _stage(
            m,
            "2",
            shc.valid,
            pixel=h_max,
            h_addr=shc.h_addr,
            v_emit=shc.v_emit,
            last=shc.last,
            size=shc.size,
        )
        m.d.comb += [
            vline_r.addr.eq(shc.h_addr),
            vline_w.addr.eq(s2.h_addr),
            vline_w.en.eq(s2.valid),
            vline_w.data[0].eq(s2.pixel),
        ]
        for t in range(1, taps):
            m.d.comb += vline_w.data[t].eq(vline_r.data[t - 1])

        sv = _stage(
            m,
            "v",
            s2.valid & s2.v_emit,
            pixel=s2.pixel,
            taps=self._left_out_lowest(m, vline_r.data, s2.size),
            last=s2.last,
        )
        # The comparisons are registered before the selection (`sc`): the FIFO's storage has a
        # longer setup on its write data than a flip-flop (Fmax).
        sc = _stage(
            m,
            "c",
            sv.valid,
            pixel=sv.pixel,
            taps=sv.taps,
            last=sv.last,
            winners=self._winners(m, "v", sv.pixel, sv.taps),
        )
        v_max = self._select(m, "v_max", sc.pixel, sc.taps, sc.winners)

        # Credits (in_flight) guarantee the buffer has room for every beat in the pipeline.
        out = Signal(self.o.payload.shape())
        m.submodules.buffer = buffer = SyncFIFOBuffered(
            width=len(out.as_value()), depth=self.buffer_depth
        )
        m.d.comb += [
            out.data.eq(v_max),
            out.last.eq(sc.last),
            buffer.w_data.eq(out),
            buffer.w_en.eq(sc.valid),
            self.o.payload.eq(buffer.r_data),
            self.o.valid.eq(buffer.r_rdy),
            buffer.r_en.eq(self.o.ready),
        ]
        return m

    def _left_out_lowest(self, m, taps, size):
        """``taps`` with those a window of ``size`` leaves out (tap t holds the value t + 1
        pixels back; size >= 2 always uses tap 0) at the lowest value, which changes no max.
        Done on the way into the register before the max, so that nothing of the size is
        left between the comparators and the output (Fmax)."""
        lowest = C(-1 << (self._data_width - 1), signed(self._data_width))
        masked = Signal.like(taps)
        for t in range(self._max_size - 1):
            if t == 0:
                m.d.comb += masked[t].eq(taps[t])
                continue
            for k in range(self._lanes):
                m.d.comb += masked[t][k].eq(Mux(size > t + 1, taps[t][k], lowest))
        return masked

    def _winners(self, m, name, newest, older):
        """Per lane, which of ``newest`` and the taps of ``older`` (those the window leaves
        out already at the lowest value) is the max: one bit per value, exactly one set.

        Every pair is compared at once, and a value wins when it wins all its comparisons
        (ties to the newer), not a tree of compare-then-select levels (Fmax); :meth:`_select`
        then takes it with an AND-OR."""
        count = self._max_size
        winners = Signal(data.ArrayLayout(unsigned(count), self._lanes), name=f"{name}_winners")
        for k in range(self._lanes):
            values = self._lane_values(newest, older, k)
            wins = {}
            for i, j in itertools.combinations(range(count), 2):
                wins[i, j] = values[i] >= values[j]  # the newer (lower index) wins a tie
                wins[j, i] = ~wins[i, j]
            for i in range(count):
                m.d.comb += winners[k][i].eq(
                    Cat(*(wins[i, j] for j in range(count) if j != i)).all()
                )
        return winners

    def _lane_values(self, newest, older, k):
        """Lane ``k`` of ``newest`` and of each tap of ``older``, newest first."""
        return [newest[k]] + [older[t][k] for t in range(self._max_size - 1)]

    def _select(self, m, name, newest, older, winners):
        """Lane-wise, the value of ``newest`` and the taps of ``older`` that ``winners``
        marks."""
        result = Signal(data.ArrayLayout(signed(self._data_width), self._lanes), name=name)
        for k in range(self._lanes):
            selected = 0
            for i, value in enumerate(self._lane_values(newest, older, k)):
                selected = selected | Mux(winners[k][i], value, 0)
            m.d.comb += result[k].eq(selected)
        return result


def _stage(m, suffix, valid, **values):
    """A pipeline stage: ``valid`` registered as ``valid_SUFFIX`` (reset), and each of
    ``values`` as ``NAME_SUFFIX`` (datapath: no reset); the registers as attributes."""
    stage = SimpleNamespace(valid=Signal(name=f"valid_{suffix}"))
    m.d.sync += stage.valid.eq(valid)
    for name, value in values.items():
        register = Signal.like(value, name=f"{name}_{suffix}", reset_less=True)
        m.d.sync += register.eq(value)
        setattr(stage, name, register)
    return stage
