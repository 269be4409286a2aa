"""The convolution engine, :class:`ConvEngine`, and its parts, one component a module:

- :class:`~.params.ParamLoader`: the parameter packet into the registers and the bias and
  weight buffers (``PARAMS`` phase);
- :class:`~.input_writer.InputWriter`: the input tensor into the input buffer (``INPUT``);
- :class:`~.weight_sequencer.WeightSequencer` and :class:`~.window.WindowGenerator`: weight
  sets and their windows' vectors into the systolic array (``COMPUTE``);
- :class:`~.accumulator.Accumulator`: the array's results summed over a column tile's passes;
- :class:`~.write_back.WriteBack`: the requantised results into the output buffer;
- :class:`~.output_reader.OutputReader`: the output buffer out as a stream (``OUTPUT``);
- :class:`~.chain.Chain`: network mode, a layer's tensors kept on chip for the next layer in
  the activation buffer (engines with ``network_depth``).

:class:`ConvEngine` holds the buffers, the array, the requantiser and the pooling unit, wires
the parts to them, and sequences the phases.
"""

from .accumulator import Accumulator
from .chain import Chain
from .conv_engine import ConvEngine, Phase
from .input_writer import InputWriter
from .output_reader import OutputReader
from .params import ParamLoader
from .weight_sequencer import WeightSequencer
from .window import WindowGenerator
from .write_back import WriteBack

__all__ = [
    "Accumulator",
    "Chain",
    "ConvEngine",
    "InputWriter",
    "OutputReader",
    "ParamLoader",
    "Phase",
    "WeightSequencer",
    "WindowGenerator",
    "WriteBack",
]
