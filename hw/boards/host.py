"""Host driver for a sysconv board: programs a layer, sends activations and weights, reads
results, over the UART host link (protocol: :mod:`sysconv.hw.boards.protocol`, and the manual).

The driver talks to a *transport*, anything with

- ``write(data: bytes) -> None``: send bytes;
- ``read(size: int, timeout: float) -> bytes``: up to ``size`` bytes, fewer if ``timeout``
  seconds pass first;
- ``discard_input() -> None``: drop bytes received and not yet read;
- ``byte_time: float``: seconds per byte on the line (10 bits at the baud rate);
- optionally ``now() -> float``: the time in seconds (default :func:`time.monotonic`; a
  simulation's transport gives simulated time), by which the driver measures the link's rate
  (:attr:`Board.link_stats`).

:class:`SerialTransport` is one over pyserial (a real board); the cocotb board test supplies
one over a simulated UART on the pins of the simulated board, and runs this same driver.

Example::

    from sysconv.hw.boards.host import Board, SerialTransport
    board = Board(SerialTransport("/dev/ttyUSB1", 115200))
    y = board.run_layer(layer, x, weights, bias)   # hw.layer.LayerConfig, NumPy arrays
    logits = board.run_network(passes, x)   # network mode: [(layer, weights, bias), ...]
"""

import struct
import time
from dataclasses import dataclass

from ..layer import EngineConfig
from .protocol import (
    MAX_LENGTH,
    STATUS_TEXT,
    SYNC_BOARD,
    SYNC_HOST,
    Command,
    Status,
    crc16,
    parse_info,
)

__all__ = [
    "Board",
    "SerialTransport",
    "LinkError",
    "LinkTimeout",
    "ResponseCorrupt",
    "Response",
    "encode_frame",
    "PHASES",
]

PHASES = ("params", "input", "compute", "output")


class LinkError(RuntimeError):
    """The board answered with an error status (the engine has been reset: the layer under way
    is lost), or the answer could not be understood."""

    def __init__(self, message, *, command=None, status=None):
        self.command, self.status = command, status
        super().__init__(message)


class LinkTimeout(LinkError):
    """No complete response in time."""


class ResponseCorrupt(LinkError):
    """A response failed its CRC or its framing."""


@dataclass(frozen=True)
class Response:
    command: int
    payload: bytes
    status: int


def encode_frame(command, payload=b""):
    """A host-to-board frame."""
    if not 0 <= command <= 0xFF:
        raise ValueError(f"command must be a byte, not {command!r}")
    if len(payload) > MAX_LENGTH:
        raise ValueError(f"payload of {len(payload)} bytes; at most {MAX_LENGTH} fit a frame")
    body = bytes([command]) + struct.pack("<H", len(payload)) + bytes(payload)
    return bytes([SYNC_HOST]) + body + struct.pack("<H", crc16(body))


class SerialTransport:
    """A transport over a serial port: a device (``/dev/ttyUSB1``, ``COM3``) or any pyserial
    URL (``socket://host:port``, ``rfc2217://...``, ``loop://``)."""

    def __init__(self, port, baud=115200):
        import serial

        self.serial = serial.serial_for_url(port, baud, timeout=0)
        self.byte_time = 10 / baud

    def write(self, data):
        self.serial.write(data)
        self.serial.flush()

    def read(self, size, timeout):
        self.serial.timeout = timeout
        return self.serial.read(size)

    def discard_input(self):
        self.serial.reset_input_buffer()

    def close(self):
        self.serial.close()


class Board:
    """A sysconv board behind ``transport``.

    Parameters
    ----------
    transport
        See the module's docstring.
    timeout : float
        Seconds allowed for the board to start answering, beyond the time the bytes take on
        the line. It must exceed the board's frame timeout (a truncated frame is answered only
        after it) and the engine's compute time.
    max_frame : int
        Payload bytes per frame (words are split over frames of at most this size).
    """

    def __init__(self, transport, *, timeout=1.0, max_frame=4096):
        self.transport = transport
        self.timeout = timeout
        self.max_frame = max_frame
        self._config = None
        self._link = None
        self._now = getattr(transport, "now", time.monotonic)
        self.reset_link_stats()

    # ---- the link's rate ----------------------------------------------------------------------

    def reset_link_stats(self):
        """Start counting :attr:`link_stats` afresh."""
        self._sent = self._received = 0
        self._seconds = 0.0

    @property
    def link_stats(self):
        """What the requests since :meth:`reset_link_stats` moved, measured here:
        ``bytes_sent``, ``bytes_received`` (frames and responses, framing included),
        ``seconds`` (from each request's first byte written to its response's last byte
        read, added up), ``bytes_per_s`` (both ways, over those seconds), and
        ``line_bytes_per_s`` (what the line carries one way, ``1 / byte_time``: the most a
        request-then-response exchange can reach)."""
        moved = self._sent + self._received
        return {
            "bytes_sent": self._sent,
            "bytes_received": self._received,
            "seconds": self._seconds,
            "bytes_per_s": moved / self._seconds if self._seconds else 0.0,
            "line_bytes_per_s": 1 / self.transport.byte_time,
        }

    # ---- frames ----------------------------------------------------------------------------

    def send_frame(self, command, payload=b""):
        frame = encode_frame(command, payload)
        self.transport.write(frame)
        self._sent += len(frame)

    def read_response(self, *, expect_bytes=0):
        """One response. ``expect_bytes``: its payload's size, if known, for the timeout."""
        t = self.transport
        wait = self.timeout + (expect_bytes + 7) * t.byte_time * 2
        skipped = 0
        while True:
            first = t.read(1, wait)
            if not first:
                raise LinkTimeout(
                    f"no response within {wait:.6f} s"
                    f"{f' ({skipped} stray bytes skipped)' if skipped else ''}"
                )
            if first[0] == SYNC_BOARD:
                break
            skipped += 1
        header = self._read_exact(3, wait)
        command, length = header[0], struct.unpack("<H", header[1:3])[0]
        rest = self._read_exact(length + 3, wait + (length + 3) * t.byte_time * 2)
        payload, status = rest[:length], rest[length]
        self._received += 1 + len(header) + len(rest)
        received = struct.unpack("<H", rest[length + 1 :])[0]
        expected = crc16(header + rest[: length + 1])
        if received != expected:
            raise ResponseCorrupt(
                f"response to command 0x{command:02x}: CRC 0x{received:04x}, "
                f"computed 0x{expected:04x}",
                command=command,
            )
        return Response(command, payload, status)

    def _read_exact(self, size, timeout):
        data = self.transport.read(size, timeout)
        if len(data) != size:
            raise LinkTimeout(
                f"response truncated: {len(data)} of {size} bytes within {timeout:.6f} s"
            )
        return data

    def request(self, command, payload=b"", *, expect_bytes=0, ok=(Status.OK,)):
        """Send a frame and return its response; LinkError on an error status."""
        self.transport.discard_input()
        start = self._now()
        self.send_frame(command, payload)
        response = self.read_response(expect_bytes=expect_bytes)
        self._seconds += self._now() - start
        if response.command != command:
            raise LinkError(
                f"response echoes command 0x{response.command:02x}, sent 0x{command:02x}",
                command=response.command,
                status=response.status,
            )
        if response.status not in ok:
            raise LinkError(
                f"command 0x{command:02x}: status 0x{response.status:02x}: "
                f"{STATUS_TEXT.get(response.status, 'unknown status')}",
                command=command,
                status=response.status,
            )
        return response

    # ---- commands --------------------------------------------------------------------------

    def info(self):
        """The board's engine configuration (an :class:`EngineConfig`); also sets
        :attr:`link` (clock, baud, timeouts)."""
        response = self.request(Command.INFO, expect_bytes=64)
        fields, self._link = parse_info(response.payload)
        self._config = EngineConfig(**fields)
        return self._config

    @property
    def config(self):
        if self._config is None:
            self.info()
        return self._config

    @property
    def link(self):
        if self._link is None:
            self.info()
        return self._link

    def status(self):
        """``{"phase": name, "error": bool, "compute_cycles": int}``."""
        payload = self.request(Command.STATUS, expect_bytes=6).payload
        phase, error, cycles = struct.unpack("<BBI", payload)
        return {"phase": PHASES[phase], "error": bool(error), "compute_cycles": cycles}

    def reset(self):
        """Abandon the layer under way: the engine waits for a parameter packet."""
        self.request(Command.RESET)

    def _send_words(self, command, words, word_bytes):
        data = b"".join(int(word).to_bytes(word_bytes, "little") for word in words)
        step = max(self.max_frame // word_bytes, 1) * word_bytes
        for start in range(0, len(data), step):
            chunk = data[start : start + step]
            last = start + step >= len(data)
            self.request(command | (1 if last else 0), chunk)

    def send_params(self, words):
        """A parameter packet (``LayerConfig.packet``); its last word ends the packet."""
        self._send_words(Command.PARAMS, words, self.config.param_width // 8)

    def send_input(self, beats):
        """An input tensor's beats (``LayerConfig.input_beats``)."""
        self._send_words(Command.INPUT, beats, self.config.rows)

    def read_output(self, count):
        """``count`` output words (ints of ``cols`` int8 lanes); the last must end the
        tensor."""
        cols = self.config.cols
        per_read = max(min(self.max_frame, MAX_LENGTH) // cols, 1)
        words = []
        while len(words) < count:
            n = min(per_read, count - len(words))
            final = len(words) + n == count
            response = self.request(
                Command.READ,
                struct.pack("<H", n),
                expect_bytes=n * cols,
                ok=(Status.OK,) if final else (Status.MORE,),
            )
            data = response.payload
            words += [
                int.from_bytes(data[k : k + cols], "little") for k in range(0, len(data), cols)
            ]
        return words

    def run_layer(self, layer, x, weights, bias):
        """Run one layer (:class:`sysconv.hw.layer.LayerConfig`) on ``x`` (Cin, H, W) and return the
        output tensor (Cout, H', W'). Raises LinkError if the board reports an error.

        One packet an image: the driver does not use the engine's batch mode (``images`` more
        than 1, the next input sent while the output is read), and refuses such a layer."""
        if layer.images != 1:
            raise ValueError(
                f"run_layer runs a layer of one image; images must be 1, not {layer.images!r}"
            )
        config = self.config
        self.send_params(layer.packet(config, weights, bias))
        self.send_input(layer.input_beats(config, x))
        col_tiles = -(-layer.out_channels // config.cols)
        count = layer.pool_out_height * layer.pool_out_width * col_tiles
        return layer.output_tensor(config, self.read_output(count))

    def wait_for_params(self):
        """Poll STATUS until the engine waits for a parameter packet (it has ended the layer
        under way); :class:`LinkTimeout` after :attr:`timeout` seconds of polling."""
        deadline = self._now() + self.timeout
        while True:
            status = self.status()
            if status["phase"] == "params":
                return
            if self._now() > deadline:
                raise LinkTimeout(
                    f"the engine did not come back to its params phase within "
                    f"{self.timeout} s (phase {status['phase']})"
                )

    def run_network(self, passes, x):
        """Run a network in network mode (an engine with an activation buffer): ``passes``
        are ``(layer, weights, bias)``, each layer of one image with ``chain_input`` on every
        pass but the first and ``chain_output`` on every pass but the last (as
        :func:`sysconv.compiler.chain` sets them); ``x`` is the first pass's input (Cin, H,
        W). Only the first input goes to the board and only the last output comes back: the
        driver sends each packet once the engine is back in its params phase (STATUS), then
        reads the last pass's output tensor, which it returns. ValueError before anything is
        sent if the passes are not so, or the board's engine has no activation buffer."""
        config = self.config
        if not config.network_depth:
            raise ValueError(
                "run_network needs a board whose engine has an activation buffer "
                "(network_depth > 0); this one has none: run the passes with run_layer"
            )
        if not passes:
            raise ValueError("run_network needs at least one pass")
        for index, (layer, _, _) in enumerate(passes):
            want = (index > 0, index < len(passes) - 1)
            if (layer.chain_input, layer.chain_output) != want or layer.images != 1:
                raise ValueError(
                    f"pass {index}: chain_input={layer.chain_input}, "
                    f"chain_output={layer.chain_output}, images={layer.images}; "
                    f"run_network needs chain_input={want[0]}, chain_output={want[1]}, "
                    "images=1"
                )
            layer.check(config)
        for index, (layer, weights, bias) in enumerate(passes):
            if index:
                self.wait_for_params()
            self.send_params(layer.packet(config, weights, bias))
            if index == 0:
                self.send_input(layer.input_beats(config, x))
        layer = passes[-1][0]
        col_tiles = -(-layer.out_channels // config.cols)
        count = layer.pool_out_height * layer.pool_out_width * col_tiles
        return layer.output_tensor(config, self.read_output(count))
