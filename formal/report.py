"""How a formal check's result is judged and shown: its verdict, the report of a check that
did not come out as expected (with its counterexample), and the summary table.
"""

from .sby import vcd
from .trace import format_trace, read_vcd

__all__ = ["columns", "explain", "table", "verdict", "started", "finished"]

# Columns of a counterexample table: the ports of the block under proof, and the harness's own
# named signals (counters, models); at most this many.
MAX_COLUMNS = 16


def verdict(check, result):
    """``(as expected, one-line result)``: a property must pass; a mutated design must fail on
    the assertion (or leave unreached the cover) the check names."""
    if check.expect == "pass":
        return result.passed, result.status
    catches = (check.catches,) if isinstance(check.catches, str) else check.catches
    if result.status == "FAIL" and set(catches) & set(result.failed):
        return True, f"caught (step {result.step})"
    if result.status == "FAIL" and set(catches) & set(result.unreached):
        return True, "caught (unreached)"
    return False, f"MISSED ({result.status})"


def columns(names):
    """The signals of a trace worth a column: the ports of the block under proof, then the
    harness's own named signals."""
    # Yosys adds aliases (`name$4`) and bit slices (`name<0>`) of the same signals.
    names = [n for n in names if "$" not in n and "<" not in n]
    ports = sorted(
        n
        for n in names
        if n.startswith("dut.") and n.count(".") == 1 and "__" in n and not n.startswith("dut._")
    )
    own = sorted(
        n
        for n in names
        if "." not in n
        and n not in ("clk", "rst")
        and not n.startswith(("_", "smt_", "past", "history_"))
        and f"dut.{n}" not in ports
    )
    return (ports + own)[:MAX_COLUMNS]


def explain(check, result):
    """What went wrong, for a check that did not come out as expected: the property, what
    SymbiYosys said, the trace (VCD) and the log, and the trace's first steps as a table."""
    lines = [
        f"formal check {check.key}: {check.block} / {check.prop}, {check.mode} depth "
        f"{check.depth}: expected {check.expect.upper()}, got {result.status}",
        f"  property: {check.doc}",
    ]
    if check.expect == "fail":
        lines.append(f"  must be caught by: {check.catches!r}")
    if result.failed:
        lines.append(f"  failed at step {result.step}: {'; '.join(result.failed)}")
    if result.unproven:
        lines.append(f"  induction step (k = {check.depth}) broke: {'; '.join(result.unproven)}")
    if result.unreached:
        lines.append(f"  covers not reached: {'; '.join(result.unreached)}")
    trace = vcd(check, result)
    lines.append(f"  trace (VCD): {trace or 'none written'}")
    lines.append(f"  log: {result.log}")
    if trace:
        steps = read_vcd(trace)
        lines.append(format_trace(steps, columns(steps)))
    return "\n".join(lines)


def _what(check):
    return f"{check.key} ({check.mode}, depth {check.depth})"


def started(check):
    """The progress line of a check that starts (SymbiYosys runs it)."""
    return f"formal: start {_what(check)}"


def finished(check, result, done, total):
    """The progress line of a check that ended, the ``done``-th of ``total``: its result as in
    :func:`table`, wall and CPU seconds (those of the run that a cached result reuses)."""
    ok, text = verdict(check, result)
    times = f"{result.seconds:.1f} s, {result.cpu:.1f} s CPU"
    return (
        f"formal: [{done}/{total}] {_what(check)}: {text}"
        f"{'' if ok else ' <-- NOT AS EXPECTED'}, "
        + (f"cached ({times} when run)" if result.cached else times)
    )


def table(rows):
    """``rows`` of ``(check, result)`` as a text table: block, property, mode, depth, expected
    and actual result, wall and CPU seconds."""
    header = ("block", "property", "mode", "depth", "expect", "result", "wall s", "cpu s")
    body = []
    for check, result in rows:
        ok, text = verdict(check, result)
        expect = "pass" if check.expect == "pass" else f"fail: {check.key.split('-')[-1]}"
        body.append(
            (
                check.block,
                check.prop,
                check.mode,
                str(check.depth),
                expect,
                text if ok else f"{text} <-- NOT AS EXPECTED",
                f"{result.seconds:.1f}",
                f"{result.cpu:.1f}" + (" (cached)" if result.cached else ""),
            )
        )
    widths = [max(len(row[k]) for row in [header] + body) for k in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header] + body
    )
