"""cocotb testbench for the board top (Verilog module ``sysconv_board``): either
:class:`sysconv.hw.boards.board_top.BoardCore`, whose clock and reset it drives (Icarus or
Verilator), or :class:`sysconv.hw.boards.board_top.ClockedBoard`, whose oscillator it drives
(its PLL makes the clock and the reset; Icarus, for the PLL model's delays).

A UART model drives the ``rx`` pin and decodes the ``tx`` pin, bit by bit, at the board's
rate in simulated time; the host driver
:class:`sysconv.hw.boards.host.Board` runs unchanged on top of it, in a cocotb bridge thread,
through :class:`SimTransport`. So the whole board path is exercised: the host protocol and its
framing, the UART, the link, and the engine. Every check writes its outcome to
``result.json``, with the link's rate as the driver measured it while it ran the layers;
outputs are compared with the golden model.
"""

import json
import os
import struct
import traceback
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, FallingEdge, First, Timer
from cocotb.utils import get_sim_time

from sysconv.hw.boards.host import Board, LinkError, ResponseCorrupt, encode_frame
from sysconv.hw.boards.protocol import Command, Status
from sysconv.sim.board.check import self_test
from sysconv.sim.engine.layer import runs_from_dicts, runs_from_json


class UartModel:
    """8N1 at ``bit_ps`` picoseconds a bit on the DUT's ``rx`` (driven) and ``tx`` (decoded)
    pins. ``clock``: the board's clock, when the testbench can see it (the line then changes
    on its falling edges)."""

    def __init__(self, dut, bit_ps, clock=None):
        self.dut, self.bit_ps, self.clock = dut, bit_ps, clock
        self.received = bytearray()
        self.arrived = Event()
        self.flip_rx = None  # (index of a byte still to come, bit mask): corrupt the line
        self.rx_count = 0
        dut.rx.value = 1

    async def send(self, data, *, bad_stop=()):
        """Bytes to the board; the bytes at the indices in ``bad_stop`` get a low stop bit.
        With the clock in view, the line changes on its falling edges, away from the edges the
        board samples on (otherwise where it may: the board's receiver synchronises it)."""
        bit_time = Timer(self.bit_ps, "ps")
        if self.clock is not None:
            await FallingEdge(self.clock)
        for index, byte in enumerate(data):
            bits = [0] + [(byte >> k) & 1 for k in range(8)] + [0 if index in bad_stop else 1]
            for bit in bits:
                self.dut.rx.value = bit
                await bit_time
            self.dut.rx.value = 1
            if index in bad_stop:
                await bit_time  # a bit of idle line, to resynchronise

    async def monitor(self):
        """Decode ``tx``: sample each bit in its middle (the board's bit edges fall on clock
        edges a bit time apart, so a sample never meets an edge)."""
        tx = self.dut.tx
        half_bit = Timer(self.bit_ps // 2, "ps")
        bit_time = Timer(self.bit_ps, "ps")
        while True:
            await FallingEdge(tx)
            await half_bit
            if tx.value != 0:
                continue
            byte = 0
            for k in range(8):
                await bit_time
                byte |= int(tx.value) << k
            await bit_time
            if self.flip_rx is not None:
                index, mask = self.flip_rx
                if index == self.rx_count:
                    byte ^= mask
                    self.flip_rx = None
            self.rx_count += 1
            self.received.append(byte)
            self.arrived.set()

    async def read(self, size, timeout):
        deadline = get_sim_time("ns") + timeout * 1e9
        while len(self.received) < size:
            remaining = round(deadline - get_sim_time("ns"))
            if remaining <= 0:
                break
            self.arrived.clear()
            await First(self.arrived.wait(), Timer(remaining, "ns"))
        data = bytes(self.received[:size])
        del self.received[:size]
        return data


class SimTransport:
    """:mod:`sysconv.hw.boards.host` transport over :class:`UartModel`, for a bridge thread: each
    call blocks the thread while the simulation runs, times in simulated seconds."""

    def __init__(self, uart):
        self.uart = uart
        self.byte_time = 10 * uart.bit_ps * 1e-12
        self._send = cocotb.task.resume(uart.send)
        self._read = cocotb.task.resume(uart.read)

    def now(self):
        return get_sim_time("ns") * 1e-9

    def write(self, data, *, bad_stop=()):
        self._send(bytes(data), bad_stop=bad_stop)

    def read(self, size, timeout):
        return self._read(size, timeout)

    def discard_input(self):
        self.uart.received.clear()


def _first_difference(got, want):
    index = np.argwhere(got != want)[0]
    return (
        f"output[{', '.join(str(int(i)) for i in index)}] (channel, y, x) = "
        f"{int(got[tuple(index)])}, expected {int(want[tuple(index)])}"
    )


class Session:
    """The checks, run by the host driver in a bridge thread. Each records pass or fail with
    what it saw, and the simulated time it took (``sim_ns``); after each, the engine is reset
    so the next starts clean. Every layer runs once in ``check_b``; the protocol checks that
    need a whole layer take the last one (the tests give the smallest last): the link is what
    they are about, and on Icarus a layer's transfer is most of their time."""

    def __init__(self, board, runs, scenario, uart):
        self.board, self.runs, self.scenario, self.uart = board, runs, scenario, uart
        self.results = []
        self.transport = board.transport
        self.link = None

    def raw(self, frame, **kwargs):
        """Send raw bytes, return the response (whatever its status)."""
        self.transport.discard_input()
        self.transport.write(frame, **kwargs)
        return self.board.read_response()

    def expect_status(self, response, status, what):
        assert response.status == status, (
            f"{what}: status 0x{response.status:02x}, expected 0x{status:02x}"
        )
        assert response.payload == b"", f"{what}: error response with a payload"
        phase = self.board.status()["phase"]
        assert phase == "params", f"{what}: engine phase {phase} after the error, not params"

    def run_layer_checked(self, run, what):
        got = self.board.run_layer(run.layer, run.x, run.weights, run.bias)
        want = run.expected()
        assert got.shape == want.shape, f"{what}: shape {got.shape}, expected {want.shape}"
        assert np.array_equal(got, want), f"{what}: {_first_difference(got, want)}"

    def run(self):
        for name in [n for n in dir(self) if n.startswith("check_")]:
            started = get_sim_time("ns")
            try:
                getattr(self, name)()
                self.results.append(
                    {
                        "check": name[6:],
                        "status": "pass",
                        "message": "",
                        "sim_ns": get_sim_time("ns") - started,
                    }
                )
            except Exception as error:  # noqa: BLE001 (every failure is reported)
                detail = "".join(traceback.format_exception_only(error)).strip()
                self.results.append(
                    {
                        "check": name[6:],
                        "status": "fail",
                        "message": detail,
                        "sim_time_ns": get_sim_time("ns"),
                    }
                )
            try:
                self.board.max_frame = self.scenario["board"]["max_frame"]
                self.uart.flip_rx = None
                self.board.reset()
            except LinkError:
                pass
        return self.results

    # ---- the checks, in name order -------------------------------------------------------

    def check_a_info(self):
        config = self.board.info()
        assert config == self.runs[0].engine, f"INFO says {config}, built {self.runs[0].engine}"
        link = self.board.link
        board = self.scenario["board"]
        assert (link["clock_hz"], link["baud"]) == (board["clock_hz"], board["baud"]), link

    def check_b_layers_match_golden(self):
        self.board.reset_link_stats()
        for n, run in enumerate(self.runs):
            self.run_layer_checked(run, f"layer {n}")
        self.link = self.board.link_stats
        status = self.board.status()
        assert status["phase"] == "params" and status["compute_cycles"] > 0, status

    def check_c_small_frames_and_chunked_reads(self):
        # Every frame one word, every READ one word (status MORE until the last).
        self.board.max_frame = 1
        self.run_layer_checked(self.runs[-1], "one word a frame")

    def check_d_corrupt_crc(self):
        frame = bytearray(encode_frame(Command.PARAMS, bytes(4 * self.param_bytes)))
        frame[6] ^= 0x10
        self.expect_status(self.raw(frame), Status.CORRUPT, "payload bit flipped")
        frame = bytearray(encode_frame(Command.STATUS))
        frame[-1] ^= 0x01
        self.expect_status(self.raw(frame), Status.CORRUPT, "CRC bit flipped")

    def check_e_truncated_frame(self):
        frame = encode_frame(Command.PARAMS, bytes(8 * self.param_bytes))
        self.expect_status(self.raw(frame[:9]), Status.TIMEOUT, "frame cut after 9 bytes")
        self.expect_status(self.raw(frame[:2]), Status.TIMEOUT, "frame cut after 2 bytes")

    def check_f_unknown_command(self):
        self.expect_status(self.raw(encode_frame(0x55)), Status.UNKNOWN_COMMAND, "command 0x55")

    def check_g_bad_lengths(self):
        self.expect_status(
            self.raw(encode_frame(Command.PARAMS, bytes(self.param_bytes + 1))),
            Status.BAD_LENGTH,
            "PARAMS with a partial word",
        )
        self.expect_status(
            self.raw(encode_frame(Command.PARAMS)), Status.BAD_LENGTH, "empty PARAMS"
        )
        self.expect_status(
            self.raw(encode_frame(Command.READ, b"\x01")), Status.BAD_LENGTH, "READ with 1 byte"
        )
        self.expect_status(
            self.raw(encode_frame(Command.INFO, b"\x00")), Status.BAD_LENGTH, "INFO with a payload"
        )
        self.expect_status(
            self.raw(encode_frame(Command.READ, b"\x00\x00")), Status.BAD_LENGTH, "READ of 0 words"
        )

    def check_h_wrong_phase(self):
        rows = self.board.config.rows
        self.expect_status(
            self.raw(encode_frame(Command.INPUT_END, bytes(rows))),
            Status.WRONG_PHASE,
            "INPUT while the engine waits for parameters",
        )
        self.expect_status(
            self.raw(encode_frame(Command.READ, struct.pack("<H", 1))),
            Status.WRONG_PHASE,
            "READ with nothing to read",
        )
        run = self.runs[-1]
        packet = run.packet()
        # One word too many: the engine takes the packet, then the frame's last word has
        # nowhere to go.
        data = b"".join(w.to_bytes(self.param_bytes, "little") for w in packet + [0])
        self.expect_status(
            self.raw(encode_frame(Command.PARAMS_END, data)),
            Status.WRONG_PHASE,
            "a word past the packet",
        )

    def check_i_engine_error(self):
        packet = self.runs[0].packet()
        data = b"".join(w.to_bytes(self.param_bytes, "little") for w in packet[:5])
        self.expect_status(
            self.raw(encode_frame(Command.PARAMS_END, data)),
            Status.ENGINE_ERROR,
            "packet ended after 5 words",
        )

    def check_j_uart_framing_error(self):
        frame = encode_frame(Command.STATUS)
        self.expect_status(
            self.raw(frame, bad_stop=(2,)), Status.CORRUPT, "low stop bit in the length byte"
        )

    def check_k_abort_mid_layer_then_recover(self):
        run = self.runs[-1]
        self.board.send_params(run.packet())
        beats = run.input_beats()
        half = b"".join(
            b.to_bytes(self.board.config.rows, "little") for b in beats[: len(beats) // 2]
        )
        self.board.request(Command.INPUT, half)
        frame = bytearray(encode_frame(Command.INPUT, half))
        frame[5] ^= 0x80
        self.expect_status(self.raw(frame), Status.CORRUPT, "corrupt INPUT mid-tensor")
        self.run_layer_checked(run, "the layer after the abort")

    def check_l_output_short(self):
        run = self.runs[-1]
        self.board.send_params(run.packet())
        self.board.send_input(run.input_beats())
        want = run.expected_beats()
        cols = self.board.config.cols
        response = self.raw(encode_frame(Command.READ, struct.pack("<H", len(want) + 2)))
        assert response.status == Status.OUTPUT_SHORT, f"status 0x{response.status:02x}"
        words = [
            int.from_bytes(response.payload[k : k + cols], "little")
            for k in range(0, len(response.payload), cols)
        ]
        assert words == want + [0, 0], "the tensor, then two zero words"

    def check_m_corrupt_response_detected(self):
        self.uart.flip_rx = (self.uart.rx_count + 6, 0x01)  # a payload byte of INFO
        try:
            self.board.info()
        except ResponseCorrupt:
            return
        raise AssertionError("a response with a flipped bit was accepted")

    def check_n_self_test(self):
        passed, message = self_test(self.board, seed=5)
        assert passed, message

    def check_o_network_mode(self):
        # Network mode: the packets and the first input go out, the last output comes back;
        # an engine without an activation buffer refuses it before sending anything.
        items = self.scenario.get("network")
        if items is None:
            assert not self.board.config.network_depth, "an activation buffer and no network"
            try:
                self.board.run_network([(r.layer, r.weights, r.bias) for r in self.runs], None)
            except ValueError as error:
                assert "network_depth > 0" in str(error), str(error)
                return
            raise AssertionError("run_network ran on an engine without an activation buffer")
        network = runs_from_dicts(self.board.config, items)
        got = self.board.run_network(
            [(run.layer, run.weights, run.bias) for run in network], network[0].x
        )
        want = network[-1].expected()
        assert np.array_equal(got, want), f"network: {_first_difference(got, want)}"

    @property
    def param_bytes(self):
        return self.board.config.param_width // 8


@cocotb.test()
async def board_over_uart(dut):
    test_dir = Path(os.environ["SYSCONV_TEST_DIR"])
    runs, scenario = runs_from_json((test_dir / "scenario.json").read_text())
    board_cfg = scenario["board"]
    # The board's bit time, as its UART makes it: a whole number of its clock's cycles.
    clock_ps = 1e12 / board_cfg["clock_hz"]
    bit_ps = round(board_cfg["divisor"] * clock_ps)
    if board_cfg["osc_hz"] is None:
        Clock(dut.clk, 2 * round(clock_ps / 2), unit="ps").start()
        uart = UartModel(dut, bit_ps, dut.clk)
        dut.rst.value = 1
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        await ClockCycles(dut.clk, 2)
    else:
        # An even number of picoseconds (cocotb's clock), within 1 ps of the oscillator's.
        Clock(dut.osc, 2 * round(1e12 / board_cfg["osc_hz"] / 2), unit="ps").start()
        uart = UartModel(dut, bit_ps)
        await Timer(round(board_cfg["startup_s"] * 1e12), "ps")
    cocotb.start_soon(uart.monitor())

    session = None

    def host():
        nonlocal session
        board = Board(
            SimTransport(uart), timeout=board_cfg["timeout_s"], max_frame=board_cfg["max_frame"]
        )
        session = Session(board, runs, scenario, uart)
        return session.run()

    results = await cocotb.task.bridge(host)()
    (test_dir / "result.json").write_text(
        json.dumps(
            {
                "status": "pass" if all(r["status"] == "pass" for r in results) else "fail",
                "message": "; ".join(
                    f"{r['check']}: {r['message']}" for r in results if r["status"] != "pass"
                ),
                "checks": results,
                "cycles": int(get_sim_time("ps") / clock_ps),
                "link": session.link,
            }
        )
    )
    failed = [r for r in results if r["status"] != "pass"]
    assert not failed, failed
