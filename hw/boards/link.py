"""The host link: frames from a UART in, the engine's streams out, one response per frame.

The protocol (frames, commands, status codes, CRC) is in :mod:`sysconv.hw.boards.protocol`.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .._check import check_int
from ..layer import EngineConfig
from .protocol import MAX_LENGTH, SYNC_BOARD, SYNC_HOST, Command, Status
from .uart import RX_BYTE

__all__ = ["HostLink", "crc16_step"]

# ConvEngine phases (sysconv.hw.engine.Phase), repeated to keep this module free of the engine.
_PARAMS, _INPUT, _COMPUTE, _OUTPUT = range(4)


def crc16_step(crc, byte):
    """CRC-16/CCITT-FALSE of ``crc`` extended by ``byte``: an Amaranth expression, each bit
    one XOR of the input bits it depends on (the eight shift steps worked out here, in
    Python, so the expression stays flat)."""
    # Each bit as the set of input bits whose XOR it is: ("c", i) of crc, ("b", i) of byte.
    bits = [frozenset({("c", i)}) for i in range(16)]
    for bit in reversed(range(8)):
        feedback = bits[15] ^ {("b", bit)}
        bits = [
            feedback,
            *bits[0:4],
            bits[4] ^ feedback,
            *bits[5:11],
            bits[11] ^ feedback,
            *bits[12:15],
        ]
    sources = {"c": crc, "b": byte}
    return Cat(*(Cat(*(sources[kind][i] for kind, i in sorted(terms))).xor() for terms in bits))


class _State(enum.Enum, shape=range(19)):
    """The link's states: a frame in, then its response."""

    IDLE = 0
    CMD = 1
    LEN0 = 2
    LEN1 = 3
    PAYLOAD = 4
    CRC0 = 5
    CRC1 = 6
    DRAIN = 7
    CHECK = 8
    SYNC = 9
    ECHO = 10
    RLEN0 = 11
    RLEN1 = 12
    REPLY = 13
    OUTPUT = 14
    READ_STATUS = 15
    STATUS = 16
    CRC_LOW = 17
    CRC_HIGH = 18


def _times(value, constant):
    """``value * constant`` as the sum of ``value`` shifted by ``constant``'s set bits. Yosys
    maps a ``*`` onto a DSP block even when one operand is a constant (`synth_ecp5` put the
    READ length's in a ``MULT18X18D`` across the device from the link: 15.7 ns with 10
    output lanes); shifts and adds stay in the fabric, and a power of two is wiring."""
    terms = [value.shift_left(k) for k in range(constant.bit_length()) if constant >> k & 1]
    return sum(terms[1:], terms[0])


def _beat(shape):
    return stream.Signature(data.StructLayout({"data": shape, "last": 1}))


class HostLink(wiring.Component):
    """Bridge between UART bytes and the convolution engine (:class:`sysconv.hw.ConvEngine`).

    A frame's words go to the engine as they arrive (the CRC is checked at the end of the
    frame; a bad one resets the engine, so a corrupt frame costs the layer, never a wrong
    answer). Output words are read from the engine as the response to a READ goes out.

    Parameters
    ----------
    config : EngineConfig
        The engine behind the link: sets the word sizes.
    info : bytes
        The INFO response's payload (:func:`sysconv.hw.boards.protocol.info_bytes`).
    frame_timeout : int
        Clock cycles without a byte, inside a frame, after which the frame is given up
        (TIMEOUT): a truncated frame gets an answer, never a hang.
    output_timeout : int
        Clock cycles a READ waits for each output word before it gives up (OUTPUT_TIMEOUT).

    Members
    -------
    rx : In(stream.Signature(RX_BYTE))
        Bytes from the UART receiver; always taken, except while a word waits for the engine
        and in the two cycles after one is taken (the UART has one every 10 bit times).
    rx_overrun : In(1)
        The receiver lost a byte: the frame under way is corrupt.
    tx : Out(stream.Signature(8))
        Response bytes for the UART transmitter. None is offered in the two cycles after
        one is taken (the UART takes one every 10 bit times).
    p, i : Out(stream) ; o : In(stream)
        To and from the engine's ports of the same names, same payloads.
    phase, engine_error, compute_cycles : In
        The engine's status outputs.
    engine_reset : Out(1)
        One-cycle pulse: reset the engine (RESET command, or an error response).
    error : Out(1)
        The last response was an error (for a status LED).
    busy : Out(1)
        A frame is being received or answered.
    """

    def __init__(self, config, *, info, frame_timeout, output_timeout):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        if not isinstance(info, bytes) or not 1 <= len(info) <= 255:
            raise ValueError(f"info must be 1 to 255 bytes, not {info!r}")
        check_int("frame_timeout", frame_timeout, 16, 1 << 30)
        check_int("output_timeout", output_timeout, 16, 1 << 30)
        self._config = config
        self._info = info
        self._frame_timeout = frame_timeout
        self._output_timeout = output_timeout
        super().__init__(
            {
                "rx": In(stream.Signature(RX_BYTE)),
                "rx_overrun": In(1),
                "tx": Out(stream.Signature(8)),
                "p": Out(_beat(unsigned(config.param_width))),
                "i": Out(_beat(data.ArrayLayout(data.signed(8), config.rows))),
                "o": In(_beat(data.ArrayLayout(data.signed(8), config.cols))),
                "phase": In(2),
                "engine_error": In(1),
                "compute_cycles": In(32),
                "engine_reset": Out(1),
                "error": Out(1),
                "busy": Out(1),
            }
        )

    config = property(lambda self: self._config)
    param_bytes = property(lambda self: self._config.param_width // 8)
    in_bytes = property(lambda self: self._config.rows)
    out_bytes = property(lambda self: self._config.cols)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        param_bytes, in_bytes, out_bytes = self.param_bytes, self.in_bytes, self.out_bytes
        word_bytes = max(param_bytes, in_bytes)
        max_read = MAX_LENGTH // out_bytes

        # A byte taken (`rx_fire`) is acted on in the next cycle (`rx_done`), from registers
        # (`byte`, `framing_error`), and the next is taken from the cycle after that
        # (`rx_settled`; the UART receiver has one every 10 bit times), so that what the byte
        # changed has settled, the word's flags below too. The byte handshake into the
        # enables of the state's and the word's registers was the iCEBreaker board top's
        # critical path.
        rx_fire = Signal()
        rx_done = Signal()
        rx_settled = Signal()
        byte = Signal(8)
        framing_error = Signal()
        m.d.comb += rx_fire.eq(self.rx.valid & self.rx.ready)
        m.d.sync += [
            rx_done.eq(rx_fire),
            rx_settled.eq(~rx_fire & ~rx_done),
            byte.eq(self.rx.payload.data),
            framing_error.eq(self.rx.payload.framing_error),
        ]

        crc = Signal(16, init=0xFFFF)
        cmd = Signal(8)
        length = Signal(16)
        remaining = Signal(16)
        remaining_one = Signal()  # remaining == 1
        length_low_zero = Signal()  # the length's first byte was 0
        crc_low = Signal(8)
        crc_high = Signal(8)
        count = Signal(16)  # READ: words asked for
        # The count's check, a cycle after the count (it is complete several cycles before
        # CHECK uses it): the compare into the response's status was the iCEBreaker board
        # top's critical path.
        read_count_ok = Signal()
        m.d.sync += read_count_ok.eq(
            (count != 0) & ((count <= max_read) if max_read < MAX_LENGTH else 1)
        )

        # Errors found while a frame comes in; the response's status is decided at its end.
        corrupt = Signal()
        timed_out = Signal()
        unknown = Signal()
        bad_length = Signal()
        wrong_phase = Signal()

        # Frame timeout: cycles since the last byte of a frame under way. The counts' "at the
        # end" flags below are flip-flops, set a step ahead, so that no wide compare sits in
        # front of the state register.
        idle = Signal(range(self._frame_timeout + 1))
        idle_at_limit = Signal()  # idle == frame_timeout - 1
        in_frame = Signal()
        timeout = Signal()
        m.d.comb += timeout.eq(in_frame & ~rx_done & idle_at_limit)

        # Words for the engine: assembled byte by byte, then offered on p or i.
        is_params = (cmd == Command.PARAMS) | (cmd == Command.PARAMS_END)
        is_input = (cmd == Command.INPUT) | (cmd == Command.INPUT_END)
        bytes_per_word = Mux(is_params, param_bytes, in_bytes)
        word = Signal(8 * word_bytes, reset_less=True)
        word_byte = Signal(range(word_bytes))
        fwd_valid = Signal()
        fwd_params = Signal()
        fwd_last = Signal()
        fwd_data = Signal(8 * word_bytes, reset_less=True)
        next_word = Signal.like(word)  # the word with this byte in its place
        m.d.comb += next_word.eq(
            Cat(*(Mux(word_byte == k, byte, word[8 * k : 8 * k + 8]) for k in range(word_bytes)))
        )
        into_words = Signal()  # PAYLOAD's bytes go into words for the engine
        word_full = Signal()  # word_byte == bytes_per_word - 1
        m.d.sync += [
            into_words.eq((is_params | is_input) & ~bad_length & ~unknown),
            word_full.eq(word_byte == bytes_per_word - 1),
        ]
        # The engine's phase a cycle late, for the words offered: its COMPUTE starts on the
        # input handshake, and the phase, through the words' valid and the handshake, back into
        # the engine's sequencing was the iCEBreaker board top's critical path. (A word whose
        # valid rises as the phase moves on meets the same race either way.)
        phase = Signal.like(self.phase)
        m.d.sync += phase.eq(self.phase)
        m.d.comb += [
            self.p.payload.data.eq(fwd_data[: cfg.param_width]),
            self.p.payload.last.eq(fwd_last),
            self.i.payload.data.eq(fwd_data[: 8 * cfg.rows]),
            self.i.payload.last.eq(fwd_last),
            self.p.valid.eq(fwd_valid & fwd_params & (phase == _PARAMS)),
            self.i.valid.eq(fwd_valid & ~fwd_params & (phase == _INPUT)),
        ]
        with m.If(fwd_valid):
            with m.If((self.p.valid & self.p.ready) | (self.i.valid & self.i.ready)):
                m.d.sync += fwd_valid.eq(0)
            with m.Elif(phase != Mux(fwd_params, _PARAMS, _INPUT)):
                # The engine is not taking this kind of word: drop it, never wait for ever.
                m.d.sync += [fwd_valid.eq(0), wrong_phase.eq(1)]

        # The response.
        status = Signal(8)
        resp_length = Signal(16)
        index = Signal(16)  # payload byte being sent
        resp_last = Signal(16)  # resp_length - 1
        index_last = Signal()  # index == resp_last, a cycle late (no byte goes then)
        resp_empty = Signal()  # resp_length == 0
        snapshot = Signal(48)  # STATUS: phase, error, compute_cycles
        out_word = Signal(8 * out_bytes, reset_less=True)
        out_byte = Signal(range(out_bytes))
        have_word = Signal()
        words_left = Signal(16)
        words_one = Signal()  # words_left == 1
        ended = Signal()  # READ: the tensor's last word has been taken
        short = Signal()
        out_timeout = Signal()
        wait = Signal(range(self._output_timeout + 1))
        state = Signal(_State)

        # The response's bytes. A byte taken (`tx_fire`) is acted on in the next cycle
        # (`tx_done`: the state moves on, the CRC takes it from a register, `tx_sent`), and the
        # next is offered from the cycle after that (`tx_settled`; the UART takes one every 10
        # bit times), so that its sources (the REPLY byte, a register too) have caught up.
        # The byte handshake into the state register's enable, and the state's byte
        # multiplexer into the CRC's XORs, were the iCEBreaker board top's critical paths.
        tx_byte = Signal(8)
        tx_offer = Signal()  # the state has a byte to send
        tx_settled = Signal()
        tx_fire = Signal()
        tx_done = Signal()
        tx_sent = Signal(8)
        m.d.comb += [
            self.tx.payload.eq(tx_byte),
            self.tx.valid.eq(tx_offer & tx_settled),
            tx_fire.eq(self.tx.valid & self.tx.ready),
        ]
        m.d.sync += [
            tx_done.eq(tx_fire),
            tx_settled.eq(~tx_fire & ~tx_done),
            tx_sent.eq(tx_byte),
        ]
        # Before the states' own writes, which win (IDLE's restart of the CRC).
        with m.If(tx_done & (state != _State.SYNC)):  # the sync byte is outside the CRC
            m.d.sync += crc.eq(crc16_step(crc, tx_sent))

        info = self._info
        # An asynchronous-read ROM: a continuous assignment in Verilog, and LUTs on an FPGA.
        m.submodules.info = info_rom = Memory(shape=8, depth=len(info), init=info)
        info_read = info_rom.read_port(domain="comb")
        m.d.comb += info_read.addr.eq(index)
        reply_byte = Signal(8)  # the byte at `index`, the second cycle after it moves
        m.d.sync += [
            reply_byte.eq(
                Mux(cmd == Command.INFO, info_read.data, snapshot.word_select(index[:3], 8))
            ),
            index_last.eq(index == resp_last),
        ]

        error = Signal()
        m.d.comb += self.error.eq(error)
        reset_command = Signal()

        # ---- a frame in ---------------------------------------------------------------
        with m.Switch(state):
            with m.Case(_State.IDLE):
                m.d.sync += [
                    crc.eq(0xFFFF),
                    corrupt.eq(0),
                    timed_out.eq(0),
                    unknown.eq(0),
                    bad_length.eq(0),
                    wrong_phase.eq(0),
                    cmd.eq(0),
                    count.eq(0),
                    word_byte.eq(0),
                ]
                with m.If(rx_done & (byte == SYNC_HOST) & ~framing_error):
                    m.d.sync += state.eq(_State.CMD)
            with m.Case(_State.CMD):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    m.d.sync += [cmd.eq(byte), crc.eq(crc16_step(crc, byte))]
                    m.d.sync += state.eq(_State.LEN0)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.LEN0):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    m.d.sync += [length[:8].eq(byte), crc.eq(crc16_step(crc, byte))]
                    m.d.sync += length_low_zero.eq(byte == 0)
                    m.d.sync += state.eq(_State.LEN1)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.LEN1):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    full = Cat(length[:8], byte)
                    m.d.sync += [
                        length[8:].eq(byte),
                        remaining.eq(full),
                        crc.eq(crc16_step(crc, byte)),
                    ]
                    m.d.sync += remaining_one.eq(full == 1)
                    known = Const(0, 1)
                    for code in Command.ALL:
                        known = known | (cmd == code)
                    m.d.sync += unknown.eq(~known)
                    # Payload lengths: whole words for PARAMS and INPUT (a partial last word is
                    # caught at the end), 2 for READ, none otherwise.
                    m.d.sync += bad_length.eq(
                        Mux(
                            is_params | is_input,
                            full == 0,
                            Mux(cmd == Command.READ, full != 2, full != 0),
                        )
                    )
                    with m.If(length_low_zero & (byte == 0)):
                        m.d.sync += state.eq(_State.CRC0)
                    with m.Else():
                        m.d.sync += state.eq(_State.PAYLOAD)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.PAYLOAD):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    m.d.sync += [crc.eq(crc16_step(crc, byte)), remaining.eq(remaining - 1)]
                    m.d.sync += remaining_one.eq(remaining == 2)
                    with m.If(cmd == Command.READ):
                        with m.If(remaining == 2):
                            m.d.sync += count[:8].eq(byte)
                        with m.Else():
                            m.d.sync += count[8:].eq(byte)
                    with m.Elif(into_words):
                        m.d.sync += word.eq(next_word)
                        with m.If(word_full):
                            m.d.sync += [
                                word_byte.eq(0),
                                fwd_valid.eq(1),
                                fwd_params.eq(is_params),
                                fwd_data.eq(next_word),
                                fwd_last.eq(remaining_one & cmd[0]),
                            ]
                        with m.Else():
                            m.d.sync += word_byte.eq(word_byte + 1)
                    with m.If(remaining_one):
                        with m.If((is_params | is_input) & ~word_full):
                            m.d.sync += bad_length.eq(1)
                        m.d.sync += state.eq(_State.CRC0)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.CRC0):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    m.d.sync += crc_low.eq(byte)
                    m.d.sync += state.eq(_State.CRC1)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.CRC1):
                m.d.comb += in_frame.eq(1)
                with m.If(rx_done):
                    with m.If(Cat(crc_low, byte) != crc):
                        m.d.sync += corrupt.eq(1)
                    m.d.sync += state.eq(_State.DRAIN)
                with m.If(timeout):
                    m.d.sync += state.eq(_State.DRAIN)
            with m.Case(_State.DRAIN):
                # The last word reaches the engine (or is dropped), then the engine's error
                # flag has a cycle to rise.
                with m.If(~fwd_valid):
                    m.d.sync += state.eq(_State.CHECK)
            with m.Case(_State.CHECK):
                m.d.sync += [
                    index.eq(0),
                    out_byte.eq(0),
                    have_word.eq(0),
                    ended.eq(0),
                    short.eq(0),
                    out_timeout.eq(0),
                    wait.eq(0),
                    words_left.eq(count),
                    words_one.eq(count == 1),
                    snapshot.eq(
                        Cat(
                            self.phase,
                            Const(0, 6),
                            self.engine_error,
                            Const(0, 7),
                            self.compute_cycles,
                        )
                    ),
                ]
                can_read = (self.phase == _COMPUTE) | (self.phase == _OUTPUT)
                with m.If(timed_out):
                    m.d.sync += status.eq(Status.TIMEOUT)
                with m.Elif(corrupt):
                    m.d.sync += status.eq(Status.CORRUPT)
                with m.Elif(unknown):
                    m.d.sync += status.eq(Status.UNKNOWN_COMMAND)
                with m.Elif(bad_length | ((cmd == Command.READ) & ~read_count_ok)):
                    m.d.sync += status.eq(Status.BAD_LENGTH)
                with m.Elif(wrong_phase | ((cmd == Command.READ) & ~can_read)):
                    m.d.sync += status.eq(Status.WRONG_PHASE)
                with m.Elif(self.engine_error):
                    m.d.sync += status.eq(Status.ENGINE_ERROR)
                with m.Else():
                    m.d.sync += status.eq(Status.OK)
                ok = (
                    ~timed_out
                    & ~corrupt
                    & ~unknown
                    & ~bad_length
                    & ~wrong_phase
                    & ~self.engine_error
                )
                m.d.sync += resp_length.eq(
                    Mux(
                        ~ok,
                        0,
                        Mux(
                            cmd == Command.INFO,
                            len(info),
                            Mux(
                                cmd == Command.STATUS,
                                6,
                                Mux(
                                    (cmd == Command.READ) & can_read & read_count_ok,
                                    _times(count, out_bytes),
                                    0,
                                ),
                            ),
                        ),
                    )
                )
                m.d.comb += reset_command.eq(ok & (cmd == Command.RESET))
                m.d.sync += crc.eq(0xFFFF)
                m.d.sync += state.eq(_State.SYNC)

            # ---- its response (bytes that come in meanwhile are dropped) ----------------
            with m.Case(_State.SYNC):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(SYNC_BOARD)]
                # resp_length is set (in CHECK): the flags for RLEN1 and REPLY.
                m.d.sync += [resp_empty.eq(resp_length == 0), resp_last.eq(resp_length - 1)]
                with m.If(tx_done):  # the CRC, restarted in CHECK, leaves this byte out
                    m.d.sync += state.eq(_State.ECHO)
            with m.Case(_State.ECHO):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(cmd)]
                with m.If(tx_done):
                    m.d.sync += state.eq(_State.RLEN0)
            with m.Case(_State.RLEN0):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(resp_length[:8])]
                with m.If(tx_done):
                    m.d.sync += state.eq(_State.RLEN1)
            with m.Case(_State.RLEN1):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(resp_length[8:])]
                with m.If(tx_done):
                    with m.If(resp_empty):
                        m.d.sync += state.eq(_State.STATUS)
                    with m.Elif(cmd == Command.READ):
                        m.d.sync += state.eq(_State.OUTPUT)
                    with m.Else():
                        m.d.sync += state.eq(_State.REPLY)
            with m.Case(_State.REPLY):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(reply_byte)]
                with m.If(tx_done):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index_last):
                        m.d.sync += state.eq(_State.STATUS)
            with m.Case(_State.OUTPUT):
                with m.If(~have_word):
                    with m.If(ended | out_timeout):
                        m.d.sync += [out_word.eq(0), have_word.eq(1), short.eq(short | ended)]
                    with m.Elif(self.o.valid):
                        m.d.comb += self.o.ready.eq(1)
                        m.d.sync += [
                            out_word.eq(self.o.payload.data),
                            have_word.eq(1),
                            ended.eq(self.o.payload.last),
                            wait.eq(0),
                        ]
                    with m.Elif(wait == self._output_timeout - 1):
                        m.d.sync += out_timeout.eq(1)
                    with m.Else():
                        m.d.sync += wait.eq(wait + 1)
                with m.Else():
                    m.d.comb += [tx_offer.eq(1), tx_byte.eq(out_word[:8])]
                    with m.If(tx_done):
                        m.d.sync += out_word.eq(out_word >> 8)
                        with m.If(out_byte == out_bytes - 1):
                            m.d.sync += [
                                out_byte.eq(0),
                                have_word.eq(0),
                                words_left.eq(words_left - 1),
                                words_one.eq(words_left == 2),
                            ]
                            with m.If(words_one):
                                m.d.sync += state.eq(_State.READ_STATUS)
                        with m.Else():
                            m.d.sync += out_byte.eq(out_byte + 1)
            with m.Case(_State.READ_STATUS):
                with m.If(out_timeout):
                    m.d.sync += status.eq(Status.OUTPUT_TIMEOUT)
                with m.Elif(short):
                    m.d.sync += status.eq(Status.OUTPUT_SHORT)
                with m.Elif(~ended):
                    m.d.sync += status.eq(Status.MORE)
                m.d.sync += state.eq(_State.STATUS)
            with m.Case(_State.STATUS):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(status)]
                with m.If(tx_done):
                    m.d.sync += error.eq(status[7])
                    m.d.sync += state.eq(_State.CRC_LOW)
            with m.Case(_State.CRC_LOW):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(crc[:8])]
                with m.If(tx_done):
                    m.d.sync += crc_high.eq(crc[8:])  # the CRC before this byte updates it
                    m.d.sync += state.eq(_State.CRC_HIGH)
            with m.Case(_State.CRC_HIGH):
                m.d.comb += [tx_offer.eq(1), tx_byte.eq(crc_high)]
                with m.If(tx_done):
                    m.d.sync += state.eq(_State.IDLE)
            with m.Default():
                m.d.sync += state.eq(_State.IDLE)  # no other encoding is ever entered

        # Frame timeout, and bytes that arrive broken.
        with m.If(in_frame):
            with m.If(rx_done):
                m.d.sync += [idle.eq(0), idle_at_limit.eq(0)]
                with m.If(framing_error):
                    m.d.sync += corrupt.eq(1)
            with m.Elif(timeout):
                m.d.sync += [idle.eq(0), idle_at_limit.eq(0), timed_out.eq(1)]
            with m.Elif(~fwd_valid):
                m.d.sync += [
                    idle.eq(idle + 1),
                    idle_at_limit.eq(idle == self._frame_timeout - 2),
                ]
            with m.If(self.rx_overrun):
                m.d.sync += corrupt.eq(1)
        with m.Else():
            m.d.sync += [idle.eq(0), idle_at_limit.eq(0)]
        m.d.comb += self.busy.eq(~(state == _State.IDLE))
        # Outside the FSM's case statement, so that the Verilog is a continuous assignment
        # (Icarus does not run an `always @*` block at time 0: the link would start deaf, and
        # the engine's reset undefined).
        m.d.comb += [
            self.rx.ready.eq(
                rx_settled
                & Mux(
                    (state == _State.PAYLOAD),
                    ~fwd_valid,
                    ~(state == _State.DRAIN) & ~(state == _State.CHECK),
                )
            ),
            self.engine_reset.eq(reset_command | ((state == _State.STATUS) & tx_done & status[7])),
        ]
        return m
