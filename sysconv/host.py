"""``python -m sysconv.host PORT``: print a board's engine and run its self-test.

The driver itself is :mod:`sysconv.hw.boards.host`, beside the protocol it speaks.
"""

from sysconv.hw.boards.host import Board, LinkError, SerialTransport
from sysconv.sim.board.check import self_test

__all__ = ["main"]


def main(argv=None):
    """``python -m sysconv.host PORT [--baud N] [--seed N]``: print the board's engine and run
    :func:`self_test` on it."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sysconv.host", description="Talk to a sysconv board over its UART."
    )
    parser.add_argument("port", help="serial device or pyserial URL")
    parser.add_argument("--baud", type=int, default=3_000_000, help="default 3000000 (the boards')")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    board = Board(SerialTransport(args.port, args.baud))
    try:
        print(f"engine: {board.info()}")
        print(f"link: {board.link}")
        passed, message = self_test(board, seed=args.seed)
    except LinkError as error:
        print(f"FAIL: {error}")
        return 1
    print(("PASS: " if passed else "FAIL: ") + message)
    stats = board.link_stats
    print(
        f"link: {stats['bytes_sent'] + stats['bytes_received']} bytes in "
        f"{stats['seconds']:.3f} s: {stats['bytes_per_s']:.0f} bytes/s (the line carries "
        f"{stats['line_bytes_per_s']:.0f})"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
