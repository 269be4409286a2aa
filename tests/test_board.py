"""The board path without a board: the host driver (sysconv.hw.boards.host) over a UART model on
the pins of the simulated board top (engine + UART + host link): behind the iCEBreaker's PLL
(its model) from the board's 12 MHz oscillator at the board's clock and 3 Mbaud, on Icarus; on a
clock the testbench drives, on Verilator; behind the ULX3S's PLL in `make test-long`. And the
UART, the CRC, the protocol's pieces and the PLL settings on their own."""

import random
import re
from dataclasses import replace

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from sysconv.hw.boards.board_top import BoardCore
from sysconv.hw.boards.host import Board, LinkTimeout, SerialTransport, encode_frame
from sysconv.hw.boards.link import HostLink, _times, crc16_step
from sysconv.hw.boards.platforms import BOARDS
from sysconv.hw.boards.pll import ecp5_pll, ice40_pll
from sysconv.hw.boards.protocol import Command, crc16, info_bytes, parse_info
from sysconv.hw.boards.uart import UARTReceiver, UARTTransmitter, divisor_for
from sysconv.hw.layer import EngineConfig
from sysconv.hw.verilog import to_verilog
from sysconv.sim.board.run import SIM_CLOCK_HZ, run_board
from sysconv.sim.engine.layer import LayerRun, random_layer

# Small enough that a layer's whole exchange is a few ten thousand cycles at 8 cycles a bit.
# With an activation buffer for the network-mode check's first layer's output (72 words).
ENGINE = EngineConfig(
    2,
    2,
    max_height=6,
    max_width=6,
    max_in_channels=3,
    max_out_channels=3,
    max_kernel=3,
    network_depth=72,
)
LAYERS = [
    dict(height=4, width=5, in_channels=2, out_channels=3, kernel=3, padding=1, pool_size=2),
    dict(height=3, width=3, in_channels=3, out_channels=2, kernel=1, relu=False),
]


def network_runs():
    """A 3x3 conv whose output (3 channels of 6x6) stays on chip, then a 1x1 conv on it. The
    first computes for longer than a frame takes to bring the next packet's first word: the
    driver must wait for the engine (a driver that does not gets WRONG_PHASE)."""
    first = random_layer(
        ENGINE, seed=11, height=6, width=6, in_channels=3, out_channels=3, kernel=3, padding=1
    )
    first = replace(first, layer=replace(first.layer, chain_output=True))
    second = random_layer(
        ENGINE, seed=12, height=6, width=6, in_channels=3, out_channels=2, kernel=1, relu=False
    )
    return [
        first,
        LayerRun(
            ENGINE,
            replace(second.layer, chain_input=True),
            first.expected(),
            second.weights,
            second.bias,
        ),
    ]


@pytest.mark.heavy
@pytest.mark.parametrize(
    "simulator, board",
    [
        ("icarus", "icebreaker"),
        ("verilator", None),
        pytest.param("icarus", "ulx3s-85f", marks=pytest.mark.long),
    ],
)
def test_host_driver_runs_layers_over_uart_and_every_bad_frame_gets_an_error(
    simulator, board, test_dir, record_property
):
    runs = [random_layer(ENGINE, seed=1 + n, **layer) for n, layer in enumerate(LAYERS)]
    result = run_board(runs, simulator, test_dir, board=board, network=network_runs())
    where = f"{simulator}, {board or 'BoardCore at 100 MHz'}"
    failed = [
        f"{c['check']}: {c['message']} (at {c.get('sim_time_ns')} ns)"
        for c in result.details["checks"]
        if c["status"] != "pass"
    ]
    assert result.status == "pass" and result.details["checks"], (
        f"{where}: {result.message or failed}; waveform {result.waves}"
    )
    assert len(result.details["checks"]) == 15, [c["check"] for c in result.details["checks"]]
    # The driver's own measure of the link while it ran the layers: what went both ways over
    # the time it took, against what the line carries one way (a byte each 10 bit times).
    # Frames go out and responses come back in turn, the engine computing between them, so
    # the rate stays near the line's: a response starts in the middle of its request's stop
    # bit (where the board's receiver takes the byte), so it may pass it by a hair.
    link = result.details["link"]
    # The UART runs at the clock over the divisor: on a board, within 1% of its nominal baud
    # (87.5 MHz / 29 on the ULX3S: 0.57% fast); the bare BoardCore at run_board's divisor 8.
    if board:
        spec = BOARDS[board]
        line_baud = spec.clock_hz / divisor_for(spec.clock_hz, spec.baud)
    else:
        line_baud = SIM_CLOCK_HZ / 8
    assert link["line_bytes_per_s"] == pytest.approx(line_baud / 10, rel=1e-3), link
    assert 0.8 * line_baud / 10 < link["bytes_per_s"] < 1.01 * line_baud / 10, f"{where}: {link}"
    record_property("link_bytes_per_s", round(link["bytes_per_s"]))
    print(
        f"{where}: {link['bytes_sent'] + link['bytes_received']} bytes in "
        f"{link['seconds'] * 1e3:.3f} ms of simulated time: {link['bytes_per_s']:.0f} bytes/s "
        f"(the line: {link['line_bytes_per_s']:.0f})"
    )


# ---- the PLLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f_in, f_out, divr, divf, divq, filter_range, achieved",
    [
        # icepll's own answers (IceStorm's icepll.cc, run for these frequencies).
        (12e6, 24e6, 0, 63, 5, 1, 24e6),
        (12e6, 96e6, 0, 63, 3, 1, 96e6),
        (48e6, 100e6, 2, 49, 3, 1, 100e6),
        (48e6, 150e6, 1, 24, 2, 2, 150e6),
        (100e6, 16e6, 3, 40, 6, 2, 16.015625e6),
    ],
)
def test_ice40_pll_settings(f_in, f_out, divr, divf, divq, filter_range, achieved):
    pll = ice40_pll(int(f_in), int(f_out))
    assert pll.parameters == dict(DIVR=divr, DIVF=divf, DIVQ=divq, FILTER_RANGE=filter_range)
    assert pll.f_out == achieved
    assert pll.f_out == pll.f_in * (divf + 1) / ((divr + 1) * 2**divq)
    assert 533e6 <= pll.f_vco <= 1066e6


@pytest.mark.parametrize(
    "f_in, f_out, clki, clkfb, clkop, achieved",
    [
        # ecppll's answer (Project Trellis): 12 MHz to 16 MHz, VCO 592 MHz.
        (12e6, 16e6, 3, 4, 37, 16e6),
        (25e6, 75e6, 1, 3, 8, 75e6),
        (25e6, 90e6, 5, 18, 7, 90e6),
        (25e6, 100e6, 1, 4, 6, 100e6),
    ],
)
def test_ecp5_pll_settings(f_in, f_out, clki, clkfb, clkop, achieved):
    pll = ecp5_pll(int(f_in), int(f_out))
    assert pll.parameters == dict(
        CLKI_DIV=clki, CLKFB_DIV=clkfb, CLKOP_DIV=clkop, CLKOP_CPHASE=clkop // 2
    )
    assert pll.f_out == achieved == pll.f_in * clkfb / clki
    assert 400e6 <= pll.f_vco <= 800e6


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_clock_is_made_exactly_and_its_uart_divisor_is_within_1_percent(name):
    # The default clocks (docs/boards.md): a clock the PLL makes exactly, the UART's rate
    # within 1% of the board's baud (30 MHz / 10 exactly; 87.5 MHz / 29, 0.57% fast).
    spec = BOARDS[name]
    make = ice40_pll if spec.family == "ice40" else ecp5_pll
    pll = make(spec.osc_hz, spec.clock_hz)
    assert pll.f_out == spec.clock_hz
    divisor = divisor_for(spec.clock_hz, spec.baud)
    assert divisor == round(spec.clock_hz / spec.baud)
    assert abs(spec.clock_hz / divisor / spec.baud - 1) <= 0.01


def test_wrong_pll_output():
    with pytest.raises(
        ValueError,
        match=r"^clock 300 MHz is outside the SB_PLL40_PAD's output range, 16 to 275 MHz$",
    ):
        ice40_pll(12_000_000, 300_000_000)
    with pytest.raises(
        ValueError, match=r"^clock 5 MHz is outside the EHXPLLL's output range, 10 to 400 MHz$"
    ):
        ecp5_pll(25_000_000, 5_000_000)


# ---- the pieces ------------------------------------------------------------------------------


def test_crc16_check_value():
    assert crc16(b"123456789") == 0x29B1


def test_gateware_crc_matches_the_host_crc():
    crc_in, byte, crc_out = Signal(16), Signal(8), Signal(16)
    m = Module()
    m.d.comb += crc_out.eq(crc16_step(crc_in, byte))
    rng = random.Random(3)
    cases = [(rng.randrange(1 << 16), rng.randrange(256)) for _ in range(200)]

    async def bench(ctx):
        for crc, value in cases:
            ctx.set(crc_in, crc)
            ctx.set(byte, value)
            assert ctx.get(crc_out) == crc16(bytes([value]), crc), f"crc {crc:04x} byte {value}"

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("divisor", [4, 5, 8, 13])
def test_uart_loopback(divisor):
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=divisor)
    m.submodules.rx = rx = UARTReceiver(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = bytes(random.Random(divisor).randrange(256) for _ in range(24))
    received = []

    async def send(ctx):
        for value in data:
            ctx.set(tx.i.payload, value)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
        ctx.set(tx.i.valid, 0)

    async def receive(ctx):
        ctx.set(rx.o.ready, 1)
        for cycle in range(len(data) * 10 * divisor + 100):
            _, _, valid, payload, overrun = await ctx.tick().sample(
                rx.o.valid, rx.o.payload, rx.overrun
            )
            assert not overrun, f"overrun @ cycle {cycle}"
            if valid:
                assert not payload.framing_error, f"framing error @ cycle {cycle}"
                received.append(payload.data)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(send)
    sim.add_testbench(receive)
    sim.run()
    assert bytes(received) == data


def test_back_to_back_bytes_take_ten_bit_times():
    m = Module()
    m.submodules.tx = tx = UARTTransmitter(divisor=4)
    starts = []

    async def bench(ctx):
        ctx.set(tx.i.valid, 1)
        ctx.set(tx.i.payload, 0x55)
        previous = 1
        for cycle in range(200):
            line = ctx.get(tx.tx)
            if previous == 1 and line == 0 and (not starts or cycle - starts[-1] >= 40):
                starts.append(cycle)
            previous = line
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert np.diff(starts).tolist() == [40] * (len(starts) - 1) and len(starts) >= 4, starts


def test_info_round_trip():
    payload = info_bytes(
        ENGINE, clock_hz=12_000_000, baud=115200, frame_timeout=600_000, output_timeout=12345
    )
    fields, link = parse_info(payload)
    assert EngineConfig(**fields) == ENGINE
    wide = replace(ENGINE, network_depth=1 << 20)  # beyond a u16
    assert EngineConfig(**parse_info(info_bytes(wide, **link))[0]) == wide
    assert link == dict(
        clock_hz=12_000_000, baud=115200, frame_timeout=600_000, output_timeout=12345
    )


def test_encode_frame_layout():
    frame = encode_frame(Command.READ, b"\x03\x00")
    assert frame[:6] == bytes([0xA5, 0x30, 0x02, 0x00, 0x03, 0x00])
    assert int.from_bytes(frame[6:], "little") == crc16(frame[1:6])


class _Silent:
    byte_time = 10 / 115200

    def write(self, data):
        pass

    def read(self, size, timeout):
        return b""

    def discard_input(self):
        pass


def test_serial_transport_over_a_pyserial_url():
    transport = SerialTransport("loop://", 115200)
    transport.write(encode_frame(Command.STATUS))
    assert transport.read(7, 0.1) == encode_frame(Command.STATUS)
    assert transport.read(1, 0.01) == b""
    transport.close()


def test_driver_times_out_instead_of_hanging():
    with pytest.raises(LinkTimeout, match=r"^no response within 0\.012257 s$"):
        Board(_Silent(), timeout=0.01).status()


def test_driver_refuses_a_layer_of_several_images():
    # Refused before anything goes on the line (the silent transport would time out).
    layer = random_layer(ENGINE, height=2, width=2, in_channels=1, out_channels=1, kernel=1).layer
    with pytest.raises(
        ValueError, match=r"^run_layer runs a layer of one image; images must be 1, not 2$"
    ):
        Board(_Silent(), timeout=0.01).run_layer(replace(layer, images=2), None, None, None)


@pytest.mark.parametrize(
    "clock_hz, baud, message",
    [
        (
            12_000_000,
            4_000_000,
            r"baud 4000000 at 12 MHz needs a divisor of 3\.00; it must be "
            r"from 4 to 1048576",
        ),
        (
            10_000_000,
            1_800_000,
            r"baud 1800000 at 10 MHz is 7\.4% off with divisor 6; at most 2% "
            r"is allowed",
        ),
        (12_000_000, 0, r"baud must be a positive integer, not 0"),
    ],
)
def test_wrong_baud(clock_hz, baud, message):
    with pytest.raises(ValueError, match=rf"^{message}$"):
        divisor_for(clock_hz, baud)


def test_wrong_link_parameters():
    with pytest.raises(
        ValueError,
        match=r"^frame_timeout must be an integer from 16 to "
        r"1073741824, not 8$",
    ):
        HostLink(ENGINE, info=b"x", frame_timeout=8, output_timeout=100)
    with pytest.raises(
        ValueError,
        match=r"^divisor must be an integer from 4 to 1048576, "
        r"not 2$",
    ):
        UARTReceiver(divisor=2)
    with pytest.raises(TypeError, match=r"^config must be an EngineConfig, not 3$"):
        BoardCore(3, clock_hz=12_000_000, baud=115200)


def test_link_multiplies_only_by_powers_of_two():
    # A READ's length (words x output lanes) as shifts and adds: Yosys maps a `*` onto a DSP
    # block even by a constant, and the ECP5's was across the device from the link. Products
    # by powers of two are wiring.
    config = EngineConfig(2, 3, max_height=6, max_width=6, max_in_channels=3, max_out_channels=3)
    link = HostLink(config, info=b"x", frame_timeout=100, output_timeout=100)
    products = [line for line in to_verilog(link, "link").splitlines() if " * " in line]
    factors = [re.search(r" \* \d+'h([0-9a-f]+);$", line) for line in products]
    assert all(f and int(f[1], 16).bit_count() == 1 for f in factors), products


def test_times_is_the_product():
    value = Signal(16)
    products = {k: Signal(20, name=f"p{k}") for k in range(1, 17)}
    m = Module()
    m.d.comb += [p.eq(_times(value, k)) for k, p in products.items()]
    sim = Simulator(m)

    async def bench(ctx):
        for x in (0, 1, 0x1234, 0xFFFF, *random.Random(1).sample(range(1 << 16), 20)):
            ctx.set(value, x)
            assert [ctx.get(p) for p in products.values()] == [x * k for k in products], x

    sim.add_testbench(bench)
    sim.run()
