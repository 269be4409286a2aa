"""Reading a SymbiYosys trace (VCD) back as a table: one row per step, chosen signals as columns.

The counterexample of a failed check is what a designer needs to see; ``python -m sysconv.formal
--trace KEY`` prints the ports of the block under proof, step by step.
"""

import re

__all__ = ["read_vcd", "format_trace"]


def read_vcd(path):
    """``{"scope.path.name": [value at step 0, value at step 1, ...]}`` (ints, ``None`` where
    the trace has no value), from a Yosys-SMTBMC VCD (one step = one clock period, sampled at
    the period's start)."""
    ids, scopes, changes = {}, [], []
    time = None
    with open(path) as file:
        for line in file:
            words = line.split()
            if not words:
                continue
            if words[0] == "$scope":
                scopes.append(words[2])
            elif words[0] == "$upscope":
                scopes.pop()
            elif words[0] == "$var":
                name = ".".join(scopes[1:] + [words[4]])
                ids.setdefault(words[3], []).append(name)
            elif words[0].startswith("#"):
                time = int(words[0][1:])
            elif time is not None:
                if words[0][0] in "bB" and len(words) == 2:
                    value, code = words[0][1:], words[1]
                elif words[0][0] in "01xXzZ":
                    value, code = words[0][0], words[0][1:]
                else:
                    continue
                number = None if re.search("[xXzZ]", value) else int(value, 2)
                changes.append((time, code, number))
    times = sorted({time for time, _code, _value in changes})
    # SMTBMC writes each step at 10 * step (values) and 10 * step + 5 (the clock edge).
    steps = sorted({time // 10 for time in times})
    table = {name: [None] * len(steps) for names in ids.values() for name in names}
    current = {}
    changes.sort(key=lambda change: change[0])
    index = 0
    for step_index, step in enumerate(steps):
        while index < len(changes) and changes[index][0] <= step * 10:
            _time, code, number = changes[index]
            current[code] = number
            index += 1
        for code, names in ids.items():
            for name in names:
                table[name][step_index] = current.get(code)
    return table


def format_trace(table, signals):
    """The steps of ``table`` (from :func:`read_vcd`) as text: one row per step, a column per
    name in ``signals`` (``-`` where it has no value)."""
    steps = len(next(iter(table.values()), []))
    header = ["step"] + list(signals)
    rows = [
        [str(step)]
        + [
            "-" if table.get(name) is None or table[name][step] is None else str(table[name][step])
            for name in signals
        ]
        for step in range(steps)
    ]
    widths = [max(len(row[k]) for row in [header] + rows) for k in range(len(header))]
    return "\n".join(
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header] + rows
    )
