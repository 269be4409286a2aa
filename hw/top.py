from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .engine import ConvEngine
from .layer import EngineConfig

__all__ = ["Accelerator"]


class Accelerator(wiring.Component):
    """The accelerator with AXI4-Stream ports: :class:`~sysconv.hw.engine.ConvEngine` under the port
    names vendor IP integrators and cocotbext-axi recognise (``s_axis_*``, ``m_axis_*``).
    Its Verilog module is ``sysconv_accel``; clock ``clk``, synchronous active-high ``rst``.

    Members
    -------
    s_axis_param_tdata/tvalid/tready/tlast : parameter packets (``config.param_width`` bits)
    s_axis_tdata/tvalid/tready/tlast : input tensors, ``rows`` int8 lanes a beat (lane 0 in
        bits 7:0)
    m_axis_tdata/tvalid/tready/tlast : output tensors, ``cols`` int8 lanes a beat
    phase, error, compute_cycles, layer_cycles : status (see :class:`~sysconv.hw.engine.ConvEngine`)

    The programming model is in :mod:`sysconv.hw.layer` and the README.
    """

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        self._config = config
        super().__init__(
            {
                "s_axis_param_tdata": In(config.param_width),
                "s_axis_param_tvalid": In(1),
                "s_axis_param_tready": Out(1),
                "s_axis_param_tlast": In(1),
                "s_axis_tdata": In(8 * config.rows),
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "m_axis_tdata": Out(8 * config.cols),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
                "phase": Out(2),
                "error": Out(1),
                "compute_cycles": Out(32),
                "layer_cycles": Out(32),
            }
        )

    config = property(lambda self: self._config)

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = ConvEngine(self._config)
        m.d.comb += [
            engine.p.payload.data.eq(self.s_axis_param_tdata),
            engine.p.payload.last.eq(self.s_axis_param_tlast),
            engine.p.valid.eq(self.s_axis_param_tvalid),
            self.s_axis_param_tready.eq(engine.p.ready),
            engine.i.payload.data.eq(self.s_axis_tdata),
            engine.i.payload.last.eq(self.s_axis_tlast),
            engine.i.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(engine.i.ready),
            self.m_axis_tdata.eq(engine.o.payload.data),
            self.m_axis_tlast.eq(engine.o.payload.last),
            self.m_axis_tvalid.eq(engine.o.valid),
            engine.o.ready.eq(self.m_axis_tready),
            self.phase.eq(engine.phase),
            self.error.eq(engine.error),
            self.compute_cycles.eq(engine.compute_cycles),
            self.layer_cycles.eq(engine.layer_cycles),
        ]
        return m
