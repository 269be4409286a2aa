"""Simulator-independent stream driver for the convolution engine, one call per clock cycle.

:class:`EngineBench` sends each layer's parameter packet and input tensor, takes the output,
and checks every output word against the golden model as it arrives (nothing lost,
duplicated or reordered: the words must come in order and exactly as many as expected). It
records the cycle of every handshake, which the timing checks compare with
:mod:`golden.engine_timing`.
"""

from dataclasses import dataclass, field

import numpy as np

from golden.perf import predict_network
from hw.lanes import unpack

__all__ = ["EngineBench", "EngineMismatch", "LayerTiming", "deadlock_budget"]


def deadlock_budget(runs, idle=0.0, backpressure=0.0):
    """Cycles by which ``runs`` must have finished: four times their stall-free time (scaled
    up for stalls), plus a margin. Past it, the design has deadlocked."""
    slowdown = 1 + 10 * max(idle, backpressure)
    perf = predict_network(runs[0].engine.rows, runs[0].engine.cols, [r.layer for r in runs])
    return int(4 * slowdown * perf[-1].layer_cycles) + 2000


class EngineMismatch(AssertionError):
    def __init__(self, cycle, message):
        self.cycle = cycle
        super().__init__(f"cycle {cycle}: {message}")


@dataclass
class LayerTiming:
    """Cycles (from the bench's cycle 0) of one layer's handshakes."""

    param_cycles: list = field(default_factory=list)
    input_cycles: list = field(default_factory=list)
    output_cycles: list = field(default_factory=list)
    compute_cycles: int = 0  # the engine's own counter, read after the layer

    @property
    def total(self):
        """First input beat accepted to last output beat sent, both counted."""
        return self.output_cycles[-1] - self.input_cycles[0] + 1

    def as_dict(self):
        return {"params": len(self.param_cycles), "first_param": self.param_cycles[0],
                "first_input": self.input_cycles[0], "last_input": self.input_cycles[-1],
                "first_output": self.output_cycles[0], "last_output": self.output_cycles[-1],
                "output_cycles": self.output_cycles, "compute_cycles": self.compute_cycles,
                "total_cycles": self.total}


class EngineBench:
    """Drives ``runs`` (a list of :class:`~sim.engine_layer.LayerRun`) through one engine.

    Each cycle: call :meth:`tick` with the engine's ``p.ready``, ``i.ready``, ``o.valid``, the
    ``o`` payload word and ``o.last`` as sampled in the cycle; drive the returned inputs until
    the next clock edge. When a layer's last output word arrives, call :meth:`layer_done` with
    the engine's ``compute_cycles``. Stop when :attr:`done`.
    """

    def __init__(self, runs, *, idle=0.0, backpressure=0.0, seed=0):
        self.runs = runs
        self.engine = runs[0].engine
        self.idle, self.backpressure = idle, backpressure
        self._rng = np.random.default_rng([seed, 2])
        self._params, self._inputs = [], []
        for n, run in enumerate(runs):
            for queue, words in ((self._params, run.packet()), (self._inputs, run.input_beats())):
                queue += [(word, k == len(words) - 1, n) for k, word in enumerate(words)]
        self._expected = [run.expected_beats() for run in runs]
        self._p_next = self._i_next = 0
        self._p_offered = self._i_offered = False
        self.layer = 0          # the layer whose output is being received
        self.received = [[] for _ in runs]
        self.timing = [LayerTiming() for _ in runs]
        self.cycle = 0
        # A layer that takes several times its stall-free time has deadlocked.
        self.limit = deadlock_budget(runs, idle, backpressure)

    @property
    def done(self):
        return self.layer == len(self.runs)

    def tick(self, *, p_ready, i_ready, o_valid, o_data, o_last):
        if self.cycle >= self.limit:
            raise EngineMismatch(self.cycle, f"layer {self.layer}: no progress after "
                                             f"{len(self.received[self.layer])} output words "
                                             "(deadlock?)")
        o_ready = bool(self._rng.random() >= self.backpressure)
        go_p = bool(self._rng.random() >= self.idle)
        go_i = bool(self._rng.random() >= self.idle)
        if not self._p_offered and go_p and self._p_next < len(self._params):
            self._p_offered = True
        if not self._i_offered and go_i and self._i_next < len(self._inputs):
            self._i_offered = True
        p_word, p_last, p_layer = self._params[min(self._p_next, len(self._params) - 1)]
        i_word, i_last, i_layer = self._inputs[min(self._i_next, len(self._inputs) - 1)]
        inputs = {
            "p_valid": self._p_offered, "p_data": p_word, "p_last": p_last,
            "i_valid": self._i_offered, "i_data": i_word, "i_last": i_last,
            "o_ready": o_ready,
        }
        if self._p_offered and p_ready:
            self.timing[p_layer].param_cycles.append(self.cycle)
            self._p_next += 1
            self._p_offered = False
        if self._i_offered and i_ready:
            self.timing[i_layer].input_cycles.append(self.cycle)
            self._i_next += 1
            self._i_offered = False
        if o_valid and o_ready:
            self._receive(int(o_data), bool(o_last))
        self.cycle += 1
        return inputs

    def _receive(self, word, last):
        n = self.layer
        expected = self._expected[n]
        k = len(self.received[n])
        if k >= len(expected):
            raise EngineMismatch(self.cycle, f"layer {n}: output word {k} beyond the "
                                             f"{len(expected)} expected")
        if word != expected[k]:
            run = self.runs[n]
            lanes = run.engine.cols
            col_tiles = -(-run.layer.out_channels // lanes)
            pixel, tile = divmod(k, col_tiles)
            width = run.layer.pool_out_width
            raise EngineMismatch(
                self.cycle,
                f"layer {n}: output word {k} (pixel y={pixel // width} x={pixel % width}, "
                f"channels {tile * lanes}..{tile * lanes + lanes - 1}) = "
                f"{unpack(word, 8, lanes)}, expected {unpack(expected[k], 8, lanes)}")
        if last != (k == len(expected) - 1):
            raise EngineMismatch(self.cycle, f"layer {n}: output word {k} has last={int(last)}")
        self.received[n].append(word)
        self.timing[n].output_cycles.append(self.cycle)

    def layer_complete(self):
        """Whether the current layer's last output word has just been received."""
        return not self.done and \
            len(self.received[self.layer]) == len(self._expected[self.layer])

    def layer_done(self, compute_cycles):
        self.timing[self.layer].compute_cycles = int(compute_cycles)
        self.layer += 1
