"""A line on stderr that counts the seconds of a step the user would otherwise wait on in
silence: a simulator compiling its model, a Yosys or nextpnr run."""

import contextlib
import sys
import threading
import time

__all__ = ["ticking"]


@contextlib.contextmanager
def ticking(description, *, disable=False):
    """``description: <elapsed>`` on stderr, counted each second while the block runs; the
    block gets a function ``end(text)`` that sets the line it leaves (``text`` may use
    ``{seconds}``, the block's time), else the line is left as it was. ``disable=None``: only
    when stderr is a terminal (tqdm's rule)."""
    from tqdm import tqdm

    ending = []
    done = threading.Event()
    with tqdm(
        desc=description,
        total=None,
        unit="s",
        file=sys.stderr,
        leave=True,
        bar_format="{desc}: {elapsed}",
        disable=disable,
    ) as bar:
        if bar.disable:  # nothing shown (off a terminal, with disable=None): no ticker either
            yield lambda text: None
            return

        def tick():
            while not done.wait(1):
                bar.update(1)

        ticker = threading.Thread(target=tick, daemon=True)
        start = time.monotonic()
        ticker.start()
        try:
            yield ending.append
        finally:
            done.set()
            ticker.join()
            if ending:
                bar.bar_format = "{desc}"
                bar.set_description_str(
                    ending[-1].format(seconds=time.monotonic() - start), refresh=True
                )
