"""What every formal harness is made of: free inputs, past values, the stream rules, and a way
to reach a design's named submodules and control registers.

A harness is an :class:`~amaranth.hdl.Elaboratable` with no ports of its own. It instantiates the
block under test, drives every input of it from the solver (``AnySeq``: any value in every
cycle; ``AnyConst``: any value, the same in every cycle), restricts those values only with
``Assume`` where the block's contract says the environment must (on the inputs of the cycle or
on constants, so that every state meets it for some inputs: a bmc check groups steps,
:func:`sysconv.formal.sby._engine`), and states the property with
``Assert`` (must hold in every reachable cycle) or ``Cover`` (must be reachable).

Time. Cycle 0 is the state after reset: every register holds its ``init`` value (the solver
starts there, as a reset would leave it), and reset is never asserted afterwards. The harness's
own registers start at their ``init`` values too; :class:`History` gives the value a signal had
one or more cycles earlier, and whether there was such a cycle. (The induction step of a
``prove`` starts from any state in which the assertions held for ``k`` cycles; invariants over
the design's registers, :func:`internal`, narrow those states down to reachable ones.)
"""

# amaranth: UnusedElaboratable=no
# (A design handed to `open_design` is elaborated by hand so that the harness can reach its
# named submodules; the component object itself is then never passed to Fragment.get.)

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Elaboratable, Module, ResetSignal, Signal, Value
from amaranth.hdl import Shape as _Shape

__all__ = [
    "Harness",
    "History",
    "any_seq",
    "assert_source_rules",
    "bits_for",
    "count",
    "handshake",
    "internal",
    "new_module",
    "open_design",
    "open_submodule",
    "raw",
]


def raw(value):
    """The plain :class:`~amaranth.hdl.Value` behind a signal or a ``data`` view."""
    return value.as_value() if hasattr(value, "as_value") else Value.cast(value)


def any_seq(m, target):
    """Drive ``target`` with a value the solver picks anew in every cycle."""
    target = raw(target)
    m.d.comb += target.eq(AnySeq(target.shape()))


def new_module():
    """A harness module in which reset is never asserted after cycle 0."""
    m = Module()
    m.d.comb += Assume(~ResetSignal())
    return m


def open_design(m, design, platform, name="dut"):
    """Add ``design`` to ``m`` and return its elaborated :class:`~amaranth.hdl.Module`, whose
    named submodules (``module.submodules.buffer``) the harness may then observe."""
    module = design.elaborate(platform)
    m.submodules[name] = module
    return module


def open_submodule(module, name, platform):
    """Elaborate ``module``'s submodule ``name`` (a part that a design elaborated by
    :func:`open_design` adds) in its place and return its :class:`~amaranth.hdl.Module`, so that
    :func:`internal` can reach the part's own registers."""
    part, src_loc = module._named_submodules[name]
    elaborated = part.elaborate(platform)
    part._MustUse__used = True  # its module stands for it: no UnusedElaboratable warning
    module._named_submodules[name] = (elaborated, src_loc)
    return elaborated


def internal(module, name):
    """The signal called ``name`` that ``module`` (a design elaborated by :func:`open_design`)
    assigns, for an invariant that ties the harness's model to the design's own state: what
    k-induction needs where the ports alone do not pin that state down. Amaranth has no public
    way to reach a design's local signals, so this reads the module's statements; a missing
    name is an error, so that a renamed signal cannot quietly drop an invariant."""
    module._flush()  # a trailing `with m.If(...)` chain is in the statements once closed
    found = []
    for statements in module._statements.values():
        for statement in statements:
            for target in statement._lhs_signals():
                if target.name == name and not any(target is other for other in found):
                    found.append(target)
    if len(found) != 1:
        raise ValueError(f"the design assigns {len(found)} signals named {name!r}, not one")
    return found[0]


class Harness(Elaboratable):
    """One property (a key of the subclass's ``PROPERTIES``, which describes each) of the design
    ``design()`` builds: the real block, or a mutated one that the property must catch.
    ``depth`` is the bound the check runs at, for harness counters that must not wrap.

    Properties that drive the design the same way (the subclass's ``SHARED``) may be checked
    in one run, ``prop`` naming them joined by ``+``: one solver run asks about all their
    assertions, rather than one run each unrolling the same design and environment."""

    PROPERTIES = {}
    SHARED = frozenset()

    def __init__(self, prop, design, depth):
        props = prop.split("+")
        for name in props:
            if name not in self.PROPERTIES:
                raise ValueError(f"prop must be one of {', '.join(self.PROPERTIES)}, not {name!r}")
        if len(props) > 1 and not set(props) <= self.SHARED:
            raise ValueError(
                f"only {' and '.join(sorted(self.SHARED)) or 'single properties'} can be "
                f"checked in one run, not {prop!r}"
            )
        self._prop, self._props = prop, frozenset(props)
        self._design, self._depth = design, depth

    def _open(self, platform):
        """A new harness module, the design, and the module the design elaborated into."""
        m = new_module()
        dut = self._design()
        return m, dut, open_design(m, dut, platform)


class History:
    """Past values, as a harness sees them: ``past(value, n)`` is ``value`` ``n`` cycles ago
    (its ``init`` before cycle ``n``), and ``had(n)`` is 1 from cycle ``n`` on."""

    def __init__(self, m, horizon=1):
        # Registers of their own module: a past value is sampled in every cycle, whatever
        # `with m.If(...)` the harness happens to ask for it in.
        self._m = Module()
        m.submodules.history = self._m
        self._age = Signal(range(horizon + 1), name="history_age")
        self._horizon = horizon
        with self._m.If(self._age != horizon):
            self._m.d.sync += self._age.eq(self._age + 1)

    def had(self, cycles=1):
        if not 1 <= cycles <= self._horizon:
            raise ValueError(
                f"cycles must be from 1 to the horizon {self._horizon}, not {cycles!r}"
            )
        return self._age >= cycles

    def past(self, value, cycles=1):
        value = raw(value)
        for _ in range(cycles):
            delayed = Signal(value.shape(), name="past")
            self._m.d.sync += delayed.eq(value)
            value = delayed
        return value


def handshake(m, stream, name):
    """A signal high in the cycles a beat of ``stream`` is transferred (``valid & ready``)."""
    fire = Signal(name=name)
    m.d.comb += fire.eq(stream.valid & stream.ready)
    return fire


def count(m, event, width, name):
    """A counter of the cycles in which ``event`` is high (wraps at ``2**width``; the harnesses
    use widths no trace of their depth can overflow)."""
    counter = Signal(width, name=name)
    with m.If(event):
        m.d.sync += counter.eq(counter + 1)
    return counter


def _stalled(history, stream):
    """The beat offered in the last cycle was not taken."""
    return history.had() & history.past(stream.valid) & ~history.past(stream.ready)


def assert_source_rules(m, history, stream, name):
    """The design, as the source of ``stream``, keeps the stream rules: ``valid`` is never
    withdrawn before ``ready``, and ``payload`` does not change while ``valid & ~ready``."""
    with m.If(_stalled(history, stream)):
        m.d.comb += [
            Assert(stream.valid, f"{name}.valid withdrawn before {name}.ready"),
            Assert(
                raw(stream.payload) == history.past(stream.payload),
                f"{name}.payload changed while {name}.valid & ~{name}.ready",
            ),
        ]


def bits_for(limit):
    """Width of an unsigned counter that holds ``limit``."""
    return _Shape.cast(range(limit + 1)).width
