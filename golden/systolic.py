"""Cycle-level model of the weight-stationary systolic array, register by register.

The model is the reference the RTL is compared against on every clock cycle. It knows the
array's documented contract (ports, latency, buffering, weight-bank switching), not its code:

- ``i`` carries one activation vector (``rows`` lanes) per handshake, ``w`` one row of weights
  (``cols`` lanes) per handshake, last row first, ``rows`` beats a set; ``o`` one result vector.
- Each PE holds two weight banks. Activations are tagged with the bank of the most recently
  completed set when they are accepted; the set being loaded goes to the other bank.
- ``w`` (which loads the bank not in use) is not ready until ``rows + cols - 1`` cycles after
  the last vector tagged with that bank was accepted (it drains from the array).
- ``i`` is ready once a set has been loaded and while fewer than ``buffer_depth`` vectors are
  in flight or unread; ``o`` is a buffered FIFO (two cycles from write to read).

``outputs()`` gives what the array shows during the current cycle (its ready/valid outputs
depend on registers only); ``step(...)`` applies the inputs held during the cycle and advances
to the next one, as the rising clock edge does.
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

from ._check import check_int, check_int_array

__all__ = ["ArrayOutputs", "SystolicArrayModel", "latency", "default_buffer_depth"]

# The largest array side modelled (as many as the hardware generates); the model's state grows
# with rows squared.
MAX_SIDE = 256


def latency(rows, cols):
    """Cycles from a vector's handshake on ``i`` to its result's ``o.valid``, without stalls."""
    return rows + cols + 2


def default_buffer_depth(rows, cols):
    """The least output buffer depth that sustains one vector per cycle."""
    return latency(rows, cols) + 1


def _wrap(values, width):
    """Two's complement truncation to ``width`` bits, as a register of that width does."""
    if width >= 64:
        return values
    # Bounds as Python ints: `half << 1` in int64 overflows at width 63.
    half, mask = np.int64(1 << (width - 1)), np.int64((1 << width) - 1)
    return ((values + half) & mask) - half


@dataclass(frozen=True)
class ArrayOutputs:
    i_ready: bool
    w_ready: bool
    o_valid: bool
    o_payload: tuple | None  # the result lanes when o_valid, else None


class SystolicArrayModel:
    """Register-level model of :class:`sysconv.hw.SystolicArray` with the same parameters.

    ``rows`` and ``cols`` 1 to 256; ``act_width`` and ``weight_width`` 1 to 32, ``acc_width``
    1 to 64 (products and sums stay exact in int64); ``buffer_depth`` at least 2, or None for
    :func:`default_buffer_depth`. Anything else raises :class:`ValueError` naming it.
    """

    def __init__(self, rows, cols, *, act_width=8, weight_width=8, acc_width=32, buffer_depth=None):
        self.rows, self.cols = (
            check_int("rows", rows, 1, MAX_SIDE),
            check_int("cols", cols, 1, MAX_SIDE),
        )
        self.act_width = check_int("act_width", act_width, 1, 32)
        self.weight_width = check_int("weight_width", weight_width, 1, 32)
        self.acc_width = check_int("acc_width", acc_width, 1, 64)
        self.buffer_depth = (
            default_buffer_depth(rows, cols)
            if buffer_depth is None
            else check_int("buffer_depth", buffer_depth, 2)
        )
        self.reset()

    @property
    def latency(self):
        return latency(self.rows, self.cols)

    def reset(self):
        rows, cols = self.rows, self.cols
        # Control registers (reset).
        self.in_flight = 0
        self.loaded = False
        self.active = 0
        self.beat = 0
        self.busy = [0, 0]  # per bank: cycles until its last vector has passed every PE
        self.valid_pipe = deque([False] * (rows + cols), maxlen=rows + cols)
        # Datapath registers (no reset in hardware: their value before the first write does not
        # matter, because nothing valid depends on it).
        self.skew = [deque([(0, 0)] * r, maxlen=r) for r in range(rows)]
        self.pe_a = np.zeros((rows, cols), np.int64)
        self.pe_bank = np.zeros((rows, cols), np.int64)
        self.pe_product = np.zeros((rows, cols), np.int64)
        self.pe_psum = np.zeros((rows, cols), np.int64)
        self.weights = np.zeros((2, rows, cols), np.int64)
        self.deskew = [deque([0] * (cols - 1 - c), maxlen=cols - 1 - c) for c in range(cols)]
        # Output buffer: SyncFIFOBuffered, a memory of depth - 1 plus an output register.
        self.fifo = deque()
        self.fifo_out_valid = False
        self.fifo_out = None
        self.cycle = 0

    def outputs(self):
        return ArrayOutputs(
            i_ready=self.loaded and self.in_flight < self.buffer_depth,
            w_ready=self.busy[1 - self.active] == 0,
            o_valid=self.fifo_out_valid,
            o_payload=self.fifo_out if self.fifo_out_valid else None,
        )

    def step(self, *, i_valid=False, i_payload=None, w_valid=False, w_payload=None, o_ready=True):
        """Advance one clock cycle with these inputs held during it."""
        rows, cols = self.rows, self.cols
        now = self.outputs()
        i_fire = bool(i_valid) and now.i_ready
        w_fire = bool(w_valid) and now.w_ready
        o_fire = now.o_valid and bool(o_ready)
        i_data = (
            np.zeros(rows, np.int64)
            if i_payload is None
            else check_int_array("i_payload", i_payload, bits=self.act_width, ndim=1)
        )
        w_data = (
            np.zeros(cols, np.int64)
            if w_payload is None
            else check_int_array("w_payload", w_payload, bits=self.weight_width, ndim=1)
        )

        # What enters each PE this cycle: column 0 from the skew registers, then from the left.
        row_in = [(int(i_data[0]), self.active)] + [self.skew[r][-1] for r in range(1, rows)]
        a_in = np.empty((rows, cols), np.int64)
        bank_in = np.empty((rows, cols), np.int64)
        a_in[:, 0] = [a for a, _ in row_in]
        bank_in[:, 0] = [b for _, b in row_in]
        a_in[:, 1:] = self.pe_a[:, :-1]
        bank_in[:, 1:] = self.pe_bank[:, :-1]
        psum_in = np.zeros((rows, cols), np.int64)
        psum_in[1:, :] = self.pe_psum[:-1, :]
        selected = np.where(bank_in == 1, self.weights[1], self.weights[0])

        # The buffer's write port sees the de-skewed bottom row and the valid pipeline's end.
        bottom = self.pe_psum[rows - 1]
        results = tuple(
            int(self.deskew[c][-1]) if cols - 1 - c else int(bottom[c]) for c in range(cols)
        )
        fifo_write = self.valid_pipe[-1]

        # Clock edge: every register takes its next value.
        new_product = _wrap(a_in * selected, self.act_width + self.weight_width)
        new_psum = _wrap(psum_in + self.pe_product, self.acc_width)
        self.pe_a, self.pe_bank = a_in, bank_in
        self.pe_product, self.pe_psum = new_product, new_psum
        if w_fire:
            load = 1 - self.active
            self.weights[load, 1:, :] = self.weights[load, :-1, :].copy()
            self.weights[load, 0, :] = w_data
        for r in range(1, rows):
            self.skew[r].appendleft((int(i_data[r]), self.active))
        for c in range(cols - 1):
            self.deskew[c].appendleft(int(bottom[c]))
        self.valid_pipe.appendleft(i_fire)

        if fifo_write and len(self.fifo) == self.buffer_depth - 1:
            # The hardware would drop the result; the credits on ``i`` exist to prevent this.
            raise AssertionError(f"cycle {self.cycle}: output buffer overflow")
        inner_read = bool(self.fifo) and (not self.fifo_out_valid or bool(o_ready))
        if inner_read:
            self.fifo_out = self.fifo.popleft()
            self.fifo_out_valid = True
        elif o_ready:
            self.fifo_out_valid = False
        if fifo_write:
            self.fifo.append(results)

        self.in_flight += int(i_fire) - int(o_fire)
        for bank in range(2):
            if i_fire and self.active == bank:
                self.busy[bank] = rows + cols - 2
            elif self.busy[bank]:
                self.busy[bank] -= 1
        if w_fire:
            if self.beat == rows - 1:
                self.beat = 0
                self.active = 1 - self.active
                self.loaded = True
            else:
                self.beat += 1
        self.cycle += 1
        return now
