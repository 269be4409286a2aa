"""A sweep's results as a table (JSON, CSV, Markdown) and Pareto plots.

- ``pareto_fpga.png``: images per second at the achieved Fmax against LUTs, one series per
  board (the engine alone, as ``sysconv sweep`` builds it);
- ``pareto_asic.png``: images per million cycles (no clock: the gate-level flow has no
  timing) against ASIC size: transistors of the logic plus six per SRAM bit, or the cell area
  with a Liberty file.

In each, the points that no other point beats on both axes (more throughput for no more
cost) are joined: the Pareto front.
"""

import csv
import json

from sysconv import tools

__all__ = ["COLUMNS", "write_results", "pareto_front", "markdown_table"]

# The table's columns, in order (a result lacks those its target does not give).
COLUMNS = (
    "target",
    "board",
    "workload",
    "rows",
    "cols",
    "mult_width",
    "acc_width_built",
    "status",
    "cycles_per_image",
    "pe_utilization",
    "images_per_mcycle",
    "fmax_mhz",
    "images_per_s",
    "luts",
    "ffs",
    "dsp",
    "bram",
    "gates",
    "flip_flops",
    "transistors",
    "sram_bits",
    "transistors_with_sram",
    "cells",
    "cell_area",
    "seconds",
    "cached",
    "reason",
    "key",
)
# The Markdown table's columns and titles.
SHOWN = (
    ("target", "target"),
    ("board", "board"),
    ("rows", "R"),
    ("cols", "C"),
    ("mult_width", "mult"),
    ("status", "status"),
    ("cycles_per_image", "cycles/image"),
    ("pe_utilization", "PE util."),
    ("fmax_mhz", "Fmax MHz"),
    ("images_per_s", "images/s"),
    ("luts", "LUTs"),
    ("ffs", "FFs"),
    ("dsp", "DSP"),
    ("bram", "BRAM"),
    ("gates", "gates"),
    ("flip_flops", "DFFs"),
    ("transistors", "transistors"),
    ("sram_bits", "SRAM bits"),
    ("cell_area", "cell area"),
    ("seconds", "s"),
    ("cached", "cached"),
)


def pareto_front(points, cost, gain):
    """The points (dicts) that no other point dominates: none has ``cost`` <= and ``gain`` >=
    with one of them strictly; sorted by cost."""
    front = [
        p
        for p in points
        if not any(
            q[cost] <= p[cost] and q[gain] >= p[gain] and (q[cost] < p[cost] or q[gain] > p[gain])
            for q in points
        )
    ]
    return sorted(front, key=lambda p: p[cost])


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def markdown_table(rows):
    """The results as a Markdown table (without the reasons, listed after it)."""
    lines = ["| " + " | ".join(title for _, title in SHOWN) + " |", "|" + "---|" * len(SHOWN)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(name)) for name, _ in SHOWN) + " |")
    reasons = [
        f"- {row['target']} {row.get('board') or ''} {row['rows']}x{row['cols']}: "
        f"{row['status']}: {row['reason'].splitlines()[0] if row['reason'] else ''}"
        for row in rows
        if row["status"] != "ok"
    ]
    return "\n".join(lines + ([""] + reasons if reasons else [])) + "\n"


def _plot(path, series, cost, gain, xlabel, ylabel, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for name, points in series.items():
        xs = [p[cost] for p in points]
        ys = [p[gain] for p in points]
        axis.scatter(xs, ys, label=name, zorder=3)
        for p in points:
            axis.annotate(
                f"{p['rows']}x{p['cols']} m{p['mult_width']}",
                (p[cost], p[gain]),
                textcoords="offset points",
                xytext=(4, 4),
                fontsize=7,
            )
        front = pareto_front(points, cost, gain)
        axis.step(
            [p[cost] for p in front],
            [p[gain] for p in front],
            where="post",
            linestyle="--",
            linewidth=1,
            zorder=2,
        )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", linewidth=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_results(rows, out, *, meta):
    """Write ``results.json`` (``meta`` and the rows), ``results.csv``, ``results.md`` and
    the Pareto plots that have points to show to ``out``; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "results.csv", out / "results.md"]
    written[0].write_text(json.dumps({**meta, "points": rows}, indent=1) + "\n")
    with open(written[1], "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tools_line = f"\nTools: {tools.describe(meta['tools'])}.\n" if "tools" in meta else ""
    written[2].write_text(markdown_table(rows) + tools_line)
    ok = [row for row in rows if row["status"] == "ok"]
    for stale in ("pareto_fpga.png", "pareto_asic.png", "pareto_asic_area.png"):
        (out / stale).unlink(missing_ok=True)
    fpga = {}
    for row in ok:
        if row.get("images_per_s") and row.get("luts"):
            fpga.setdefault(row["board"], []).append(row)
    if fpga:
        written.append(out / "pareto_fpga.png")
        _plot(
            written[-1],
            fpga,
            "luts",
            "images_per_s",
            "LUTs (engine alone)",
            "images / s at the achieved Fmax",
            "FPGA: throughput against LUTs",
        )
    asic = {}
    for row in ok:
        if row["target"] == "asic":
            flow = "cell_area" if row.get("cell_area") is not None else "transistors_with_sram"
            asic.setdefault(flow, []).append(row)
    for flow, points in asic.items():
        name = "pareto_asic.png" if flow == "transistors_with_sram" else "pareto_asic_area.png"
        written.append(out / name)
        _plot(
            written[-1],
            {"asic": points},
            flow,
            "images_per_mcycle",
            "transistors: logic (stat -tech cmos) + 6 per SRAM bit"
            if flow == "transistors_with_sram"
            else "cell area (Liberty units, no SRAM)",
            "images per 10^6 cycles",
            "ASIC: throughput per clock against size",
        )
    return written
