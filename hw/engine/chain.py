from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from ._common import Count, EnginePart, beat, read_port, register_layout, write_port

__all__ = ["Chain"]


class Chain(EnginePart):
    """Network mode: keeps a network's tensors on chip between its layers, in the two banks of
    the activation buffer (``network_depth`` words each, ``rows`` lanes a word).

    A packet's ``chain`` register (:attr:`~sysconv.hw.layer.LayerConfig.chain_input`, bit 0;
    :attr:`~sysconv.hw.layer.LayerConfig.chain_output`, bit 1) sets the chain's two switches
    from the cycle after the packet's last register word until the next packet's:

    - *output into the buffer*: every output word of the packet goes to the buffer's write
      bank, from word 0, as it comes (``o.ready`` high: the engine sees a host that never
      stalls), and nothing goes to ``host_o``. A buffer word is the next layer's input word:
      ``rows // cols`` output beats of a pixel side by side, a pixel's last word written as its
      last beat comes, with its lanes past the pixel's beats zero (``ceil(out_channels /
      rows)`` words a pixel). After the packet's last image's last word the
      banks swap: the bank just written is the one read next, holding ``held`` words.
    - *input from the buffer*: ``host_i`` is not taken (its ``ready`` low); the read bank is
      replayed on ``i``, from word 0, ``images`` tensors of ``in_words`` beats, ``last`` on
      each tensor's last. The first word is read the cycle after the registers are in and
      offered from the next, so the engine's first input cycle after the packet's last word
      finds it (the host's stall-free timing); then one word a cycle while ``i.ready``.
      ``error`` pulses with the last word's read if the words replayed are not the ``held``
      words of the bank.

    Both switches off (reset, and a packet without ``chain``): ``host_i`` to ``i`` and ``o`` to
    ``host_o``, wires only.

    Parameters
    ----------
    config : EngineConfig
        ``network_depth`` at least 1 (and so ``rows`` a multiple of ``cols``).

    Members
    -------
    host_i : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), rows), ...})))
        The engine's input stream from the host.
    i : Out(stream.Signature(...))
        To the input writer.
    o : In(stream.Signature(StructLayout({"data": ArrayLayout(signed(8), cols), ...})))
        The engine's output tensors (after the pooling unit).
    host_o : Out(stream.Signature(...))
        The engine's output stream to the host.
    regs : In(register_layout(config))
        The layer's registers (``chain``, ``images``, ``in_words``, ``col_tiles``).
    registers_done : In(1)
        The packet's last register word is taken (:attr:`.ParamLoader.registers_done`).
    read, write : the activation buffer's ports (``2 * network_depth`` words; bank 1 from
        word ``network_depth``). A read never meets a write to its word: the two use
        different banks.
    error : Out(1)
        The replay's last word is read and the words replayed are not the words held.
    """

    @classmethod
    def check_parameters(cls, config):
        super().check_parameters(config)
        if not config.network_depth:
            raise ValueError("Chain needs an engine with network_depth > 0")
        # EngineConfig holds rows to a multiple of cols when it has an activation buffer.

    def __init__(self, config):
        self.check_parameters(config)
        lanes = data.ArrayLayout(signed(8), config.rows)
        out_lanes = data.ArrayLayout(signed(8), config.cols)
        depth = 2 * config.network_depth
        super().__init__(
            config,
            {
                "host_i": In(stream.Signature(beat(lanes))),
                "i": Out(stream.Signature(beat(lanes))),
                "o": In(stream.Signature(beat(out_lanes))),
                "host_o": Out(stream.Signature(beat(out_lanes))),
                "regs": In(register_layout(config)),
                "registers_done": In(1),
                "read": read_port(depth, lanes),
                "write": write_port(depth, lanes),
                "error": Out(1),
            },
        )

    def elaborate(self, platform):
        m = Module()
        cfg, reg = self._config, self.regs
        depth = cfg.network_depth

        from_buffer = Signal()
        to_buffer = Signal()
        with m.If(self.registers_done):
            m.d.sync += [from_buffer.eq(reg["chain"][0]), to_buffer.eq(reg["chain"][1])]

        # Capture: the packet's output words into the write bank, `rows // cols` output beats
        # of a pixel to a buffer word (the next layer's input word), a pixel's last word
        # written as it ends, its lanes past the pixel's beats zero.
        per_word = cfg.rows // cfg.cols
        write_bank = Signal()
        written = Signal(range(depth + 1))
        held = Signal(range(depth + 1))
        images_out = Count(reg["images"], "images_out")
        tiles = Count(reg["col_tiles"], "capture_tiles")  # the beat's place in its pixel
        slot = Signal(range(per_word))  # the beat's place in its buffer word
        earlier = Signal(data.ArrayLayout(signed(8), cfg.rows))  # the word's earlier beats
        o_fire = Signal()
        capture = Signal()
        word_done = Signal()
        m.d.comb += [
            o_fire.eq(self.o.valid & self.o.ready),
            capture.eq(o_fire & to_buffer),
            word_done.eq((slot == per_word - 1) | tiles.last),
            self.o.ready.eq(Mux(to_buffer, 1, self.host_o.ready)),
            self.host_o.valid.eq(self.o.valid & ~to_buffer),
            self.host_o.payload.eq(self.o.payload),
            self.write.addr.eq(Mux(write_bank, depth, 0) + written),
            self.write.en.eq(capture & word_done),
        ]
        for lane in range(cfg.rows):
            place, lane_of_beat = divmod(lane, cfg.cols)
            # Lanes of a later place are zero; a beat's lanes in the last place never earlier.
            before = Mux(slot > place, earlier[lane], 0) if place < per_word - 1 else 0
            m.d.comb += self.write.data[lane].eq(
                Mux(slot == place, self.o.payload.data[lane_of_beat], before)
            )
        with m.If(self.registers_done):
            m.d.sync += [written.eq(0), slot.eq(0), *images_out.restart(), *tiles.restart()]
        with m.Elif(capture):
            m.d.sync += [*tiles.step(), earlier.eq(self.write.data)]
            with m.If(word_done):
                m.d.sync += [written.eq(written + 1), slot.eq(0)]
            with m.Else():
                m.d.sync += slot.eq(slot + 1)
            with m.If(self.o.payload.last):
                m.d.sync += images_out.step()
                with m.If(images_out.last):
                    m.d.sync += [write_bank.eq(~write_bank), held.eq(written + 1)]

        # Replay: the read bank (the other one) on `i`, a word read ahead into the read port's
        # output, which holds it until taken.
        fetching = Signal()  # words are left to read
        valid = Signal()  # the read port's output holds a word not yet taken
        last = Signal()  # ... the last of its tensor
        fetched = Signal(range(depth + 1))
        beats = Count(reg["in_words"], "replay_beats")
        tensors = Count(reg["images"], "replay_tensors")
        fetch = Signal()
        m.d.comb += [
            fetch.eq(fetching & (~valid | self.i.ready)),
            self.read.addr.eq(Mux(write_bank, 0, depth) + fetched),
            self.read.en.eq(fetch),
        ]
        with m.If(self.registers_done):
            m.d.sync += [
                fetching.eq(reg["chain"][0]),
                valid.eq(0),
                fetched.eq(0),
                *beats.restart(),
                *tensors.restart(),
            ]
        with m.Else():
            with m.If(fetch):
                m.d.sync += [
                    valid.eq(1),
                    last.eq(beats.last),
                    fetched.eq(fetched + 1),
                    *beats.step(),
                ]
                with m.If(beats.last):
                    m.d.sync += tensors.step()
                    with m.If(tensors.last):
                        m.d.sync += fetching.eq(0)
            with m.Elif(self.i.ready):
                m.d.sync += valid.eq(0)
        m.d.comb += self.error.eq(fetch & beats.last & tensors.last & (fetched + 1 != held))

        # Multiplexers, not an If: Icarus evaluates a process at time 0 only on an event.
        m.d.comb += [
            self.i.valid.eq(Mux(from_buffer, valid, self.host_i.valid)),
            self.i.payload.data.eq(
                Mux(from_buffer, self.read.data.as_value(), self.host_i.payload.data.as_value())
            ),
            self.i.payload.last.eq(Mux(from_buffer, last, self.host_i.payload.last)),
            self.host_i.ready.eq(self.i.ready & ~from_buffer),
        ]
        return m
