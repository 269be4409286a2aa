"""The host link's protocol over a UART: frames, commands, status codes, the CRC, and the
engine description a board sends back. Plain Python (no Amaranth): the gateware
(:mod:`sysconv.hw.boards.link`) and the host driver (:mod:`sysconv.hw.boards.host`) both take their
constants from here.

Frames
------
Host to board::

    0xA5 | command | length (u16 LE) | payload (length bytes) | CRC (u16 LE)

Board to host, exactly one response per frame::

    0x5A | command (echoed) | length (u16 LE) | payload (length bytes) | status | CRC (u16 LE)

The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no
final XOR) over everything between the sync byte and the CRC. Bytes outside a frame that are
not the sync byte are ignored, and so are bytes that arrive while the board is responding:
send a frame, then wait for its response.

A status of 0x80 or more is an error. Every error response also resets the engine: the layer
under way is abandoned, and the engine waits for a parameter packet.
"""

import struct

__all__ = [
    "SYNC_HOST",
    "SYNC_BOARD",
    "Command",
    "Status",
    "STATUS_TEXT",
    "crc16",
    "INFO_MAGIC",
    "INFO_FIELDS",
    "info_bytes",
    "parse_info",
    "MAX_LENGTH",
]

SYNC_HOST = 0xA5
SYNC_BOARD = 0x5A
MAX_LENGTH = 0xFFFF


class Command:
    INFO = 0x01  # -> the engine description (see info_bytes)
    STATUS = 0x02  # -> phase u8, error u8, compute_cycles u32 LE
    RESET = 0x03  # reset the engine; nothing back
    PARAMS = 0x10  # words of the parameter packet, param_width/8 bytes each (LE)
    PARAMS_END = 0x11  # the same; the frame's last word is the packet's last
    INPUT = 0x20  # words of the input tensor, rows bytes each (lane 0 first)
    INPUT_END = 0x21  # the same; the frame's last word is the tensor's last
    READ = 0x30  # payload u16 LE n: -> n output words, cols bytes each

    ALL = (INFO, STATUS, RESET, PARAMS, PARAMS_END, INPUT, INPUT_END, READ)


class Status:
    OK = 0x00
    MORE = 0x01  # READ: the words are good; the tensor goes on
    CORRUPT = 0x80  # CRC mismatch, UART framing error or overrun in the frame
    TIMEOUT = 0x81  # frame incomplete: no byte for the board's frame timeout
    UNKNOWN_COMMAND = 0x82
    BAD_LENGTH = 0x83  # payload not whole words, empty, or READ not 2 bytes / n too big
    WRONG_PHASE = 0x84  # the engine does not take what the frame carries (or nothing to read)
    ENGINE_ERROR = 0x85  # the engine's framing error: last word of a packet or tensor
    OUTPUT_SHORT = 0x86  # READ: the tensor ended before n words; the rest are zero
    OUTPUT_TIMEOUT = 0x87  # READ: no output word within the board's output timeout


STATUS_TEXT = {
    Status.OK: "ok",
    Status.MORE: "ok, more output follows",
    Status.CORRUPT: "corrupt frame (CRC mismatch, UART framing error or overrun)",
    Status.TIMEOUT: "truncated frame (no byte within the frame timeout)",
    Status.UNKNOWN_COMMAND: "unknown command",
    Status.BAD_LENGTH: "bad payload length",
    Status.WRONG_PHASE: "the engine is not in the phase this command needs",
    Status.ENGINE_ERROR: "the engine flagged a framing error (last word misplaced)",
    Status.OUTPUT_SHORT: "the output tensor ended before the words asked for",
    Status.OUTPUT_TIMEOUT: "no output word within the output timeout",
}


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (``crc16(b"123456789") == 0x29B1``)."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


INFO_MAGIC = b"SYSC"
# Version 2: the parameter packet has the `chain` register, INFO the network_depth field.
INFO_VERSION = 2
#: The EngineConfig fields of an INFO payload, u16 LE each, after the magic and version.
INFO_FIELDS = (
    "rows",
    "cols",
    "max_height",
    "max_width",
    "max_in_channels",
    "max_out_channels",
    "max_kernel",
    "acc_width",
    "mult_width",
    "max_pool",
    "input_depth",
    "weight_depth",
    "acc_depth",
    "output_depth",
)
#: The EngineConfig fields of an INFO payload, u32 LE each, after the u16 fields.
INFO_WIDE_FIELDS = ("network_depth",)


def info_bytes(config, *, clock_hz, baud, frame_timeout, output_timeout):
    """The INFO payload: magic, version, the engine's configuration (so a host builds
    parameter packets for it: :data:`INFO_FIELDS` u16 LE, then :data:`INFO_WIDE_FIELDS` u32
    LE), then the clock, the baud rate, and the link's two timeouts in clock cycles (u32 LE
    each)."""
    fields = [getattr(config, name) for name in INFO_FIELDS]
    wide = [getattr(config, name) for name in INFO_WIDE_FIELDS]
    return (
        INFO_MAGIC
        + bytes([INFO_VERSION])
        + struct.pack(f"<{len(fields)}H", *fields)
        + struct.pack(f"<{len(wide)}I", *wide)
        + struct.pack("<4I", int(clock_hz), int(baud), frame_timeout, output_timeout)
    )


def parse_info(payload):
    """Inverse of :func:`info_bytes`: ``(config fields dict, link dict)``; ValueError if the
    payload is not an INFO payload of this version."""
    wide_at = 5 + 2 * len(INFO_FIELDS)
    size = wide_at + 4 * len(INFO_WIDE_FIELDS) + 16
    if len(payload) != size or payload[:4] != INFO_MAGIC:
        raise ValueError(
            f"not a sysconv INFO payload ({len(payload)} bytes, expected {size} "
            f"starting with {INFO_MAGIC!r})"
        )
    if payload[4] != INFO_VERSION:
        raise ValueError(f"INFO version {payload[4]}, this host speaks {INFO_VERSION}")
    values = struct.unpack_from(f"<{len(INFO_FIELDS)}H", payload, 5)
    wide = struct.unpack_from(f"<{len(INFO_WIDE_FIELDS)}I", payload, wide_at)
    clock_hz, baud, frame_timeout, output_timeout = struct.unpack_from(
        "<4I", payload, wide_at + 4 * len(INFO_WIDE_FIELDS)
    )
    fields = dict(zip(INFO_FIELDS, values, strict=True))
    fields.update(zip(INFO_WIDE_FIELDS, wide, strict=True))
    return fields, dict(
        clock_hz=clock_hz, baud=baud, frame_timeout=frame_timeout, output_timeout=output_timeout
    )
