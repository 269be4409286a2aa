"""Simulator-independent stream driver for the convolution engine, one call per clock cycle.

:class:`EngineBench` sends each layer's parameter packet and input tensor, takes the output,
and checks every output word against the golden model as it arrives (nothing lost,
duplicated or reordered: the words must come in order and exactly as many as expected). It
records the cycle of every handshake, which the timing checks compare with
:mod:`sysconv.golden.engine_timing`.
"""

from dataclasses import dataclass, field

import numpy as np

from sysconv.golden.perf import predict_network
from sysconv.hw.lanes import unpack
from sysconv.sim.cycle_streams import CycleSink, CycleSource, StreamMismatch

__all__ = ["EngineBench", "LayerTiming", "deadlock_budget"]


def deadlock_budget(runs, idle=0.0, backpressure=0.0):
    """Cycles by which ``runs`` must have finished: four times their stall-free time (scaled
    up for stalls), plus a margin. Past it, the design has deadlocked."""
    slowdown = 1 + 10 * max(idle, backpressure)
    perf = predict_network(runs[0].engine.rows, runs[0].engine.cols, [r.layer for r in runs])
    return int(4 * slowdown * (perf[-1].end_cycle + 1)) + 2000


@dataclass
class LayerTiming:
    """Cycles (from the bench's cycle 0) of one image's handshakes: one layer's, or one of a
    layer's images (only the packet's first has ``param_cycles``)."""

    param_cycles: list = field(default_factory=list)
    input_cycles: list = field(default_factory=list)
    output_cycles: list = field(default_factory=list)
    compute_cycles: int = 0  # the engine's own counters, read after the layer
    layer_cycles: int = 0
    start: int = 0  # the run's first parameter word (of its first layer)

    @property
    def total(self):
        """First input beat accepted to last output beat sent, both counted (None for an
        image whose input was replayed on chip)."""
        if not self.input_cycles:
            return None
        return self.output_cycles[-1] - self.input_cycles[0] + 1

    def as_dict(self):
        return {
            "params": len(self.param_cycles),
            "first_param": self.param_cycles[0] if self.param_cycles else None,
            "first_input": self.input_cycles[0] if self.input_cycles else None,
            "last_input": self.input_cycles[-1] if self.input_cycles else None,
            "first_output": self.output_cycles[0],
            "last_output": self.output_cycles[-1],
            "output_cycles": self.output_cycles,
            "compute_cycles": self.compute_cycles,
            "layer_cycles": self.layer_cycles,
            "total_cycles": self.total,
            "start": self.start,
        }


class EngineBench:
    """Drives ``runs`` (a list of :class:`~sysconv.sim.engine.layer.LayerRun`) through one engine.

    Each cycle: call :meth:`tick` with the engine's ``p.ready``, ``i.ready``, ``o.valid``, the
    ``o`` payload word and ``o.last`` as sampled in the cycle; drive the returned inputs until
    the next clock edge. When :meth:`layer_complete` (an image's output is in) and the engine
    has left its ``OUTPUT`` phase, call :meth:`layer_done` with the engine's ``compute_cycles``
    and ``layer_cycles``. Stop when :attr:`done`; :attr:`timing` has every handshake's cycle,
    image by image (a layer of several images has one entry per image).
    """

    def __init__(self, runs, *, idle=0.0, backpressure=0.0, seed=0):
        self.runs = runs
        rng = np.random.default_rng([seed, 2])
        packets = [run.packet() for run in runs]
        # One entry per image: (layer index, image index, the image's run).
        images = [
            (n, k, one) for n, run in enumerate(runs) for k, one in enumerate(run.image_runs())
        ]
        tensors = [one.input_beats() for (_, _, one) in images]
        # The images whose output comes back (network mode keeps the others' on chip).
        self._host = [
            index for index, (n, _, _) in enumerate(images) if not runs[n].layer.chain_output
        ]
        self._param_lasts = set(np.cumsum([len(p) for p in packets]) - 1)
        self._input_lasts = set(np.cumsum([len(t) for t in tensors]) - 1)
        self.params = CycleSource(
            [w for p in packets for w in p], rng, idle=idle, lasts=self._param_lasts.__contains__
        )
        self.inputs = CycleSource(
            [w for t in tensors for w in t], rng, idle=idle, lasts=self._input_lasts.__contains__
        )
        self.sinks = [
            CycleSink(
                one.expected_beats(),
                rng,
                backpressure=backpressure,
                where=self._where(
                    f"layer {n}" if runs[n].layer.images == 1 else f"layer {n} image {k}", one
                ),
                show=lambda word, lanes=one.engine.cols: unpack(word, 8, lanes),
            )
            for (n, k, one) in (images[index] for index in self._host)
        ]
        self._packet_sizes = [len(packets[n]) if k == 0 else 0 for (n, k, _) in images]
        self._tensor_sizes = [len(t) for t in tensors]
        self._compute = []
        self.layer = 0  # the image whose output is being received (an index into `sinks`)
        self.cycle = 0
        # A layer that takes several times its stall-free time has deadlocked.
        self.limit = deadlock_budget(runs, idle, backpressure)

    @staticmethod
    def _where(name, run):
        lanes = run.engine.cols
        col_tiles = -(-run.layer.out_channels // lanes)
        width = run.layer.pool_out_width

        def where(k):
            pixel, tile = divmod(k, col_tiles)
            return (
                f"{name}: output word {k} (pixel y={pixel // width} x={pixel % width}, "
                f"channels {tile * lanes}..{tile * lanes + lanes - 1})"
            )

        return where

    @property
    def done(self):
        return self.layer == len(self.sinks)

    def tick(self, *, p_ready, i_ready, o_valid, o_data, o_last):
        if self.cycle >= self.limit:
            raise StreamMismatch(
                self.cycle,
                f"layer {self.layer}: no progress after "
                f"{len(self.sinks[self.layer].received)} output "
                "words (deadlock?)",
            )
        sink = self.sinks[self.layer]
        o_ready = sink.drive()
        p_valid, p_word, p_last = self.params.drive()
        i_valid, i_word, i_last = self.inputs.drive()
        self.params.handshake(p_ready, self.cycle)
        self.inputs.handshake(i_ready, self.cycle)
        sink.handshake(o_valid, int(o_data), o_last, self.cycle)
        self.cycle += 1
        return {
            "p_valid": p_valid,
            "p_data": p_word,
            "p_last": p_last,
            "i_valid": i_valid,
            "i_data": i_word,
            "i_last": i_last,
            "o_ready": o_ready,
        }

    def layer_complete(self):
        """Whether the current image's last output word has been received."""
        return not self.done and self.sinks[self.layer].done

    def layer_done(self, compute_cycles, layer_cycles):
        self._compute.append((int(compute_cycles), int(layer_cycles)))
        self.layer += 1

    @property
    def timing(self):
        """A :class:`LayerTiming` per finished image whose output came back (network mode:
        its inputs are the host's, none for an image replayed from the activation buffer)."""
        params = np.split(np.array(self.params.cycles), np.cumsum(self._packet_sizes)[:-1])
        inputs = np.split(np.array(self.inputs.cycles), np.cumsum(self._tensor_sizes)[:-1])
        return [
            LayerTiming(
                param_cycles=params[self._host[n]].tolist(),
                input_cycles=inputs[self._host[n]].tolist(),
                output_cycles=self.sinks[n].cycles,
                compute_cycles=compute,
                layer_cycles=layer,
                start=self.params.cycles[0],
            )
            for n, (compute, layer) in enumerate(self._compute)
        ]
