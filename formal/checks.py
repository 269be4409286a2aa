# amaranth: UnusedElaboratable=no
"""The formal checks: every property of every stream block, with its mode and depth, and every
mutated design with the property that must catch it.

:data:`CHECKS` is what ``make formal`` and ``make test`` run (depths chosen so that the whole
set takes about seven minutes of CPU here); :data:`LONG` repeats the bounded ones deeper
and holds the mutants whose fault another check of the regression already catches (``make
formal LONG=1``, ``pytest -m long``). A depth is in clock cycles from reset: for
``prove`` the induction length ``k`` (a pass holds at any depth), for ``bmc`` the length of
the traces checked, for ``cover`` the longest trace searched.
"""

from sysconv.hw import ConvEngine, MaxPool2d, SystolicArray
from sysconv.hw import maxpool as hw_maxpool
from sysconv.hw import systolic_array as hw_systolic_array
from sysconv.hw.engine import Chain
from sysconv.hw.engine import chain as hw_chain
from sysconv.hw.engine import conv_engine as hw_engine

from .array import ARRAY, ArrayHarness, array
from .chain import CHAIN, ChainHarness
from .engine import ENGINE, EngineHarness, engine
from .engine_parts import PARTS, PartsHarness, output_reader
from .maxpool import POOL, SEQUENCES, PoolHarness, pool
from .mutants import (
    FAULTS,
    EarlyCount,
    ShortWindow,
    StreamFault,
    WrittenAhead,
    patched,
    short_fifo,
)
from .sby import Check

__all__ = ["CHECKS", "LONG", "MUTANTS", "find"]

HARNESSES = {
    "array": ArrayHarness,
    "pool": PoolHarness,
    "engine": EngineHarness,
    "parts": PartsHarness,
    "chain": ChainHarness,
}


def _property(block, prop, mode, depth, **options):
    harness = HARNESSES[block]
    suffix = f"-{options['sequence']}" if "sequence" in options else ""
    return Check(
        key=f"{block}-{prop}{suffix}-{mode}{depth}",
        block=block,
        prop=prop + suffix,
        mode=mode,
        depth=depth,
        harness=lambda: harness(prop, depth=depth, **options),
        doc="; ".join(harness.PROPERTIES[name] for name in prop.split("+")),
    )


def _mutant(block, prop, mode, depth, name, design, doc, catches, **options):
    harness = HARNESSES[block]
    return Check(
        key=f"{block}-{prop}-mutant-{name}",
        block=block,
        prop=prop,
        mode=mode,
        depth=depth,
        harness=lambda: harness(prop, design=design, depth=depth, **options),
        doc=doc,
        expect="fail",
        catches=catches,
    )


def _fault(make, fault):
    return lambda: StreamFault(make(), fault)


def _engine_array_fault(fault):
    def design():
        return patched(
            ConvEngine,
            hw_engine,
            "SystolicArray",
            lambda *args, **kwargs: StreamFault(SystolicArray(*args, **kwargs), fault),
            config=ENGINE,
        )

    return design


# Bounds. Each block's cover check runs at the depth of its bounded checks and must reach a
# full output buffer (and, for the engine, the end of a pooled layer): proof that the bound is
# deep enough for what the properties are about. The fixed pooling tensors are followed to
# their last output at full rate, whatever the unit's latency.
ARRAY_DEPTH = 20
POOL_DEPTH = 27
ENGINE_DEPTH = 85
PARTS_DEPTH = 16
CHAIN_DEPTH = 14


def _sequence_depth(sequence):
    return sum(tensor.beats for tensor in SEQUENCES[sequence]) + MaxPool2d.LATENCY + 1


OVERLAP, STRIDE = "overlap+partial", "stride+drop"
OVERLAP_DEPTH, STRIDE_DEPTH = _sequence_depth(OVERLAP), _sequence_depth(STRIDE)

CHECKS = [
    # The systolic array: 2x2, 2-bit operands, latency 6, output buffer 7.
    _property("array", "o_rules", "prove", 4),
    _property("array", "results", "bmc", 14),
    _property("array", "credits", "prove", 4),
    _property("array", "latency", "prove", 8),
    _property("array", "i_ready", "prove", 4),
    _property("array", "w_ready", "prove", 4),
    _property("array", "cover", "cover", ARRAY_DEPTH),
    # The pooling unit: 2 lanes, rows of up to 3 pixels of up to 3 channels, windows up to 3x3.
    _property("pool", "o_rules", "prove", 4),
    _property("pool", "credits", "bmc", POOL_DEPTH),
    _property("pool", "i_ready", "bmc", POOL_DEPTH),
    _property("pool", "results", "bmc", OVERLAP_DEPTH, sequence=OVERLAP),
    _property("pool", "results", "bmc", STRIDE_DEPTH, sequence=STRIDE),
    # values and timing in one run: the same environment (PoolHarness.SHARED).
    _property("pool", "values+timing", "bmc", OVERLAP_DEPTH, sequence=OVERLAP),
    _property("pool", "values+timing", "bmc", STRIDE_DEPTH, sequence=STRIDE),
    _property("pool", "cover", "cover", POOL_DEPTH),
    # The engine: 1x1 array, maps up to 2x2, 1x1 kernels, pooling 2x2.
    _property("engine", "phases", "prove", 4),
    # layer and feed in one run: the same environment (EngineHarness.SHARED).
    _property("engine", "layer+feed", "bmc", ENGINE_DEPTH),
    _property("engine", "progress", "bmc", ENGINE_DEPTH),
    _property("engine", "cover", "cover", ENGINE_DEPTH),
    # The engine's stream parts on their own: 2x1 array, 2x2 maps, two column tiles.
    _property("parts", "reader", "bmc", PARTS_DEPTH),
    _property("parts", "weights", "bmc", PARTS_DEPTH),
    _property("parts", "reader", "cover", PARTS_DEPTH),
    _property("parts", "weights", "cover", PARTS_DEPTH),
    # Network mode's part on its own: a packet's output into the buffer, the next's replay.
    _property("chain", "replay", "bmc", CHAIN_DEPTH),
    _property("chain", "replay", "cover", CHAIN_DEPTH),
]

# The faults of an output stream with credits, and the assertion that catches each: the same for
# the array and the pooling unit.
RULE_FAULTS = {
    "withdraw": "o.valid withdrawn before o.ready",
    "unstable": "o.payload changed while o.valid & ~o.ready",
}


def _output_mutants(block, make, design_class, module, parameters, depth, rules_depth):
    return [
        *(
            _mutant(
                block,
                "o_rules",
                "bmc",
                rules_depth,
                fault,
                _fault(make, fault),
                FAULTS[fault],
                message,
            )
            for fault, message in RULE_FAULTS.items()
        ),
        _mutant(
            block,
            "credits",
            "bmc",
            depth,
            "short_fifo",
            lambda: patched(design_class, module, "SyncFIFOBuffered", short_fifo, **parameters),
            "the output FIFO is built one word shorter than the credits handed out",
            "output FIFO written while full",
        ),
        _mutant(
            block,
            "i_ready",
            "bmc",
            depth,
            "stall",
            _fault(make, "stall"),
            FAULTS["stall"],
            "i refused in the cycle after o.ready was high",
        ),
    ]


MUTANTS = [
    *_output_mutants("array", array, SystolicArray, hw_systolic_array, ARRAY, ARRAY_DEPTH, 12),
    _mutant(
        "array",
        "results",
        "bmc",
        14,
        "duplicate",
        _fault(array, "duplicate"),
        FAULTS["duplicate"],
        # With one vector the second copy is one result too many; with more, the copy is
        # compared with the next vector's result first, whichever trace the solver finds.
        ("more results than vectors", "a result is not i @ W of its vector"),
    ),
    _mutant(
        "array",
        "results",
        "bmc",
        14,
        "drop",
        _fault(array, "drop"),
        FAULTS["drop"],
        "a result is not i @ W of its vector",
    ),
    _mutant(
        "array",
        "latency",
        "bmc",
        ARRAY_DEPTH,
        "delay",
        _fault(array, "delay"),
        FAULTS["delay"],
        "o.valid is not i's handshake `latency` cycles earlier",
    ),
    _mutant(
        "array",
        "i_ready",
        "bmc",
        ARRAY_DEPTH,
        "i_early",
        _fault(array, "i_early"),
        FAULTS["i_early"],
        "i ready before a weight set is loaded",
    ),
    _mutant(
        "array",
        "w_ready",
        "bmc",
        ARRAY_DEPTH,
        "w_early",
        _fault(array, "w_early"),
        FAULTS["w_early"],
        "w.ready is not exactly: no vector of the bank the next set "
        "overwrites accepted in the last rows + cols - 2 cycles",
    ),
    _mutant(
        "array",
        "cover",
        "cover",
        ARRAY_DEPTH,
        "stall",
        _fault(array, "stall"),
        FAULTS["stall"],
        "the 4th result leaves",
    ),
    *_output_mutants("pool", pool, MaxPool2d, hw_maxpool, POOL, POOL_DEPTH, 14),
    _mutant(
        "pool",
        "results",
        "bmc",
        OVERLAP_DEPTH,
        "drop",
        _fault(pool, "drop"),
        FAULTS["drop"],
        "an output beat differs from golden.maxpool2d",
        sequence=OVERLAP,
    ),
    _mutant(
        "pool",
        "results",
        "bmc",
        OVERLAP_DEPTH,
        "duplicate",
        _fault(pool, "duplicate"),
        FAULTS["duplicate"],
        "an output beat differs from golden.maxpool2d",
        sequence=OVERLAP,
    ),
    _mutant(
        "pool",
        "values",
        "bmc",
        OVERLAP_DEPTH,
        "short_window",
        lambda: ShortWindow(**POOL),
        "the window max leaves out the oldest tap, so a 3x3 window pools only 2x2 "
        "(mutants.ShortWindow)",
        "an output value is not the max of its window",
        sequence=OVERLAP,
    ),
    _mutant(
        "pool",
        "timing",
        "bmc",
        OVERLAP_DEPTH,
        "delay",
        _fault(pool, "delay"),
        FAULTS["delay"],
        "o.valid differs from golden.pool_timing's cycles",
        sequence=OVERLAP,
    ),
    _mutant(
        "pool",
        "cover",
        "cover",
        POOL_DEPTH,
        "stall",
        _fault(pool, "stall"),
        FAULTS["stall"],
        "the next tensor's last beat leaves",
    ),
    _mutant(
        "engine",
        "phases",
        "bmc",
        ENGINE_DEPTH,
        "i_early",
        _fault(engine, "i_early"),
        FAULTS["i_early"],
        "i.ready outside INPUT and OUTPUT",
    ),
    _mutant(
        "engine",
        "layer",
        "bmc",
        ENGINE_DEPTH,
        "duplicate",
        _fault(engine, "duplicate"),
        FAULTS["duplicate"],
        "more output beats than the layer's output size",
    ),
    _mutant(
        "engine",
        "feed",
        "bmc",
        ENGINE_DEPTH,
        "array_duplicate",
        _engine_array_fault("duplicate"),
        "the array inside the engine behind a fault: " + FAULTS["duplicate"],
        "more results out of the array than vectors in",
    ),
    _mutant(
        "engine",
        "progress",
        "bmc",
        ENGINE_DEPTH,
        "stall",
        _fault(engine, "stall"),
        FAULTS["stall"],
        "no image ended within the bound with o.ready high",
    ),
    _mutant(
        "parts",
        "reader",
        "bmc",
        PARTS_DEPTH,
        "withdraw",
        _fault(output_reader, "withdraw"),
        FAULTS["withdraw"],
        "o.valid withdrawn before o.ready",
    ),
]

MUTANTS.append(
    _mutant(
        "parts",
        "weights",
        "bmc",
        PARTS_DEPTH,
        "written_ahead",
        lambda: WrittenAhead(PARTS),
        "the weight sequencer reads the word the loader is writing (mutants.WrittenAhead)",
        "a weight word sent before it was written",
    )
)
MUTANTS.append(
    _mutant(
        "chain",
        "replay",
        "bmc",
        CHAIN_DEPTH,
        "early_last",
        lambda: patched(Chain, hw_chain, "Count", EarlyCount, config=CHAIN),
        "the chain's loop counters end a step early on loops of two or more (mutants.EarlyCount)",
        "last not on each tensor's last word only",
    )
)

LONG = [
    _property("array", "results", "bmc", 20),
    _property("pool", "credits", "bmc", 32),
    _property("pool", "i_ready", "bmc", 32),
    _property("pool", "results", "bmc", OVERLAP_DEPTH + 8, sequence=OVERLAP),
    # Two whole layers (the slowest ends 64 cycles after the previous one).
    _property("engine", "layer+feed", "bmc", 136),
    # Both packets at their longest (8 output beats, then the replay): three minutes.
    _property("chain", "replay", "bmc", 20),
    # The stalled engine's cover left unreached: 35 s for a fault the regression's
    # engine-progress-mutant-stall catches in half that, and a cover mutant the array's and
    # the pooling unit's already run.
    _mutant(
        "engine",
        "cover",
        "cover",
        ENGINE_DEPTH,
        "stall",
        _fault(engine, "stall"),
        FAULTS["stall"],
        "a layer of 4 output beats completes",
    ),
]


def find(key):
    """The check named ``key`` (in :data:`CHECKS`, :data:`MUTANTS` or :data:`LONG`)."""
    for check in CHECKS + MUTANTS + LONG:
        if check.key == key:
            return check
    raise ValueError(
        f"no formal check is named {key!r}; `python -m sysconv.formal --list` lists them"
    )
