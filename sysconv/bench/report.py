"""The benchmark's Markdown summary, its plots, and why a layer is above SCALE-Sim."""

from pathlib import Path

from sysconv import tools
from sysconv.golden.perf import predict_layer

__all__ = ["why", "markdown", "plots"]


def _ceil_div(a, b):
    return -(-a // b)


def why(layer, rows, cols, ours, theirs, *, packed=False):
    """One sentence on why the engine's compute cycles for ``layer`` (as stated; run
    tap-packed when ``packed``) are below or above SCALE-Sim's (``theirs``) on a ``rows x
    cols`` array."""
    run = layer.tap_packed() if packed else layer
    model = predict_layer(rows, cols, run)
    k, cin, cout = layer.kernel, layer.in_channels, layer.out_channels
    groups, col_tiles = _ceil_div(cin, rows), _ceil_div(cout, cols)
    taps = k * k * cin
    folds = _ceil_div(taps, rows) * col_tiles
    our_fill = run.in_channels / (_ceil_div(run.in_channels, rows) * rows)
    their_fill = taps / (_ceil_div(taps, rows) * rows)
    pixels = model.pixels
    if ours is None:
        return "no measurement"
    if ours < theirs:
        extra = (theirs - folds * pixels) / folds
        how = (
            f" (taps packed: a pass carries K*K*Cin = {taps} weights of a filter, "
            f"{our_fill:.0%} of the rows busy)"
            if packed
            else ""
        )
        return (
            f"below: the engine's {model.sets} passes of {pixels} vectors{how} follow each "
            f"other with {model.set_gap_cycles} idle cycles in all, each pass's weights "
            f"loading while the previous pass computes; SCALE-Sim's {folds} folds of "
            f"{pixels} vectors cost {extra:.0f} cycles each on top (array fill and drain, "
            f"weights loaded between folds)"
        )
    if our_fill < their_fill:
        return (
            f"above: row occupancy. A pass of the engine carries one kernel tap's input "
            f"channels, {cin} on {groups * rows} rows ({our_fill:.0%} of the rows busy), "
            f"so the layer takes {model.sets} passes of {pixels} vectors; SCALE-Sim's "
            f"im2col mapping folds a filter's K*K*Cin = {taps} weights over the rows "
            f"({their_fill:.0%} busy) into {folds} folds. Overlapped weight loads cannot "
            f"make up for {model.sets / folds:.1f}x the passes"
        )
    if model.set_gap_cycles > model.sets - 1:
        return (
            f"above: passes of {pixels} vectors are shorter than loading the next weight "
            f"set and draining the bank it overwrites, so the array waits for weights "
            f"({model.set_gap_cycles} idle cycles between {model.sets} passes)"
        )
    return "above: no single cause found; see the tile cycles in part 1"


def _layer(row):
    """A table's layer cell: the layer's name, and how the engine ran it."""
    return f"{row['layer']} (taps packed)" if row.get("packed") else row["layer"]


def _fmt(value, digits=0):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_line(results):
    m = results["machine"]
    packages = ", ".join(f"{name} {v}" for name, v in m["packages"].items() if v)
    sims = ", ".join(f"{name} {v}" for name, v in m["simulators"].items())
    load = m.get("load_average", {})
    return (
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['os']}; "
        f"Python {m['python']}; {sims}; {packages}. Load average (1 min) "
        f"{load.get('start')} at the start, {load.get('end')} at the end: wall-clock "
        "figures depend on what else the machine runs"
    )


def _network_section(results):
    """Part 3's lines: the seed CNN, cycles per image against the array's limit."""
    section = results["network"]
    out = [
        f"`{section['model']}` (the demo's network, quantised by onnxruntime), "
        f"{section['images']} test images in batches of {section['batch']}, as `sysconv demo` "
        "runs them: conv passes once per image, dense passes once per batch. Cycles per "
        "image are golden.perf's, stall-free, every pass and every run counted, parameters "
        "included; the limit is the network's MACs per image over the array's PEs (every PE "
        "busy every cycle). In network mode (`sysconv demo --network-mode`) the batch's "
        "packets go back to back, the layers chained on chip, each chained layer computing "
        "while its weights come in.",
        "",
    ]
    out.append(
        _table(
            [
                "array",
                "MACs per image",
                "limit (cycles)",
                "cycles per image",
                "ratio to the limit",
                "utilisation",
                "network mode: cycles per image",
                "ratio",
                "utilisation",
            ],
            [
                [
                    a["array"],
                    _fmt(a["macs_per_image"]),
                    _fmt(a["limit"], 0),
                    _fmt(a["predicted_cycles_per_image"], 0),
                    f"{a['ratio']:.3f}",
                    f"{1 / a['ratio']:.1%}",
                    *(
                        [
                            _fmt(a["network_mode_cycles_per_image"], 0),
                            f"{a['network_mode_ratio']:.3f}",
                            f"{1 / a['network_mode_ratio']:.1%}",
                        ]
                        # results from before network mode have none
                        if "network_mode_ratio" in a
                        else ["", "", ""]
                    ),
                ]
                for a in section["arrays"]
            ],
        )
    )
    out += ["", "Pass by pass (cycles per image; a dense pass's share of its batch):", ""]
    out.append(
        _table(
            ["array", "pass", "runs", "cycles per image", "limit", "first run's compute"],
            [
                [
                    a["array"],
                    p["pass"],
                    p["runs"],
                    _fmt(p["cycles_per_image"], 0),
                    _fmt(p["limit"], 0),
                    _fmt(p["compute_cycles"]),
                ]
                for a in section["arrays"]
                for p in a["passes"]
            ],
        )
    )
    rtl = section["rtl"]
    out.append("")
    if rtl.get("skipped"):
        out.append(f"RTL: not run ({rtl['skipped']}).")
    elif "cycles_per_image" not in rtl:
        out.append(f"RTL on {rtl['array']}: **the simulation failed**: {rtl['message']}")
    else:
        out.append(
            f"RTL on {rtl['array']} (`sysconv demo` on Verilator, {section['images']} images): "
            f"{_fmt(rtl['cycles_per_image'], 0)} cycles per image; every run of every pass "
            f"{'equals' if rtl['runs_equal_prediction'] else '**differs from**'} golden.perf's "
            f"prediction; the logits {'are' if rtl['logits_bit_exact'] else '**are not**'} "
            f"bit-exact with the golden model; exact: {'yes' if rtl['exact'] else '**no**'} "
            f"({rtl['wall_seconds']:.0f} s of simulation)."
        )
    network = section.get("rtl_network_mode")  # results from before network mode have none
    if network and "cycles_per_image" in network:
        moved = network["stream_bytes_per_image"]
        out += [
            "",
            f"RTL in network mode on {network['array']} (`sysconv demo --network-mode`, "
            "the layers chained on chip): "
            f"{_fmt(network['cycles_per_image'], 0)} cycles per image; each batch's cycles "
            f"{'equal' if network['batches_equal_prediction'] else '**differ from**'} "
            "golden.perf's; the logits "
            f"{'are' if network['logits_bit_exact'] else '**are not**'} bit-exact; "
            f"{_fmt(moved['network_mode'], 0)} bytes per image on the engine's streams "
            f"against {_fmt(moved['host_mode'], 0)} with the host moving every pass's tensors "
            f"({network['wall_seconds']:.0f} s of simulation).",
        ]
    elif network:
        out += ["", f"RTL in network mode: **the simulation failed**: {network['message']}"]
    goal = section["goal"]
    if goal["applies"]:
        out += [
            "",
            f"Goal: the seed CNN on 8x8 at most {goal['goal']} x the limit (>= 90 % "
            f"utilisation): {'met' if goal['met'] else 'not met'} ({goal['value']:.3f}).",
        ]
    if "network" in results.get("plots", {}):
        out += ["", f"![seed CNN: cycles per image, pass by pass]({results['plots']['network']})"]
    return out


def _speed_section(results):
    """Part 4's lines: the simulators' speed."""
    speed = results["speed"]
    out = [
        f"One run of the {speed['array']} engine through {', '.join(speed['layers'])}, "
        "with the lean speed testbench on each simulator (cocotb on Verilator and Icarus, "
        "Amaranth's simulator driven the same way), every output word compared with the "
        "golden model. Cycles/s: simulated cycles over the wall-clock time inside the "
        "testbench (from the end of reset to the last output word); a Verilator run takes "
        "about a second, so the fastest of three is shown (all are in results.json). "
        "Process: the whole "
        "simulator run (start-up, Python imports) as the flow sees it; build: compiling "
        "the simulation (about 0 when the build was cached).",
        "",
    ]
    out.append(
        _table(
            [
                "simulator",
                "build",
                "cycles",
                "wall (s)",
                "cycles/s",
                "runs",
                "process (s)",
                "build (s)",
                "words checked",
                "exact",
            ],
            [
                [
                    r["simulator"],
                    r["build"],
                    _fmt(r["cycles"]),
                    _fmt(r["wall_seconds"], 2),
                    _fmt(r["cycles_per_second"]),
                    r["runs"] if r["runs"] == 1 else f"best of {r['runs']}",
                    _fmt(r.get("process_seconds"), 1),
                    _fmt(r.get("build_seconds"), 1),
                    _fmt(r["words_checked"]),
                    "yes" if r["exact"] else "**no**",
                ]
                for r in speed["rows"]
            ],
        )
    )
    ratio_names = {
        "verilator_over_icarus": "Verilator / Icarus",
        "verilator_over_amaranth": "Verilator / Amaranth",
        "icarus_over_amaranth": "Icarus / Amaranth",
        "speed_build_over_default_build": "Verilator speed build / the test build",
    }
    out += [
        "",
        "Ratios: "
        + "; ".join(f"{ratio_names[k]} {v:,.1f}x" for k, v in speed["ratios"].items())
        + ".",
        "",
    ]
    goals = speed["goals"]
    cps = goals["verilator_cycles_per_second"]
    if cps["applies"]:
        out.append(
            f"- Goal Verilator >= {cps['goal']:,} simulated cycles/s on the 8x8 engine: "
            f"{'met' if cps['met'] else 'missed'} ({_fmt(cps['value'])})."
        )
    else:
        out.append(
            f"- Goal Verilator >= {cps['goal']:,} simulated cycles/s applies to the 8x8 "
            f"engine of the full benchmark (here {speed['array']}: "
            f"{_fmt(cps['value'])})."
        )
    ratio = goals["verilator_over_icarus"]
    out.append(
        f"- Goal Verilator >= {ratio['goal']}x Icarus: "
        f"{'met' if ratio['met'] else 'missed'} "
        f"({_fmt(ratio['value'], 1) if ratio['value'] else 'n/a'}x)."
    )
    out += [
        "",
        "The testbench touches few signal handles: packed tdata written whole, a clock "
        "edge awaited only while a beat is pending, the compute phase slept through on "
        "m_axis_tvalid's rising edge, outputs read only when valid. On Verilator the speed "
        "build compiles its C++ with -O3; the regression's test build at -O0. Both leave "
        "cocotb's `--public-flat-rw` off (only the top module's ports public) and neither "
        "traces.",
    ]
    if "speed" in results["plots"]:
        out += ["", f"![simulated cycles per second]({results['plots']['speed']})"]
    return out


def markdown(results):
    out = [f"# sysconv benchmark ({results['mode']})", ""]
    command = (
        "sysconv bench --quick" if results["mode"] == "quick" else "make bench (sysconv bench)"
    )
    out += [f"Machine: {_machine_line(results)}.", ""]
    if "tools" in results:  # results from before tools were recorded have none
        out += [f"Tools: {tools.describe(results['tools'])}.", ""]
    # The commit measured (results from before it was recorded have none).
    when = results["date"] + (f", commit {results['commit']}" if results.get("commit") else "")
    out += [f"{when}; `{command}`; {results['seconds']:.0f} s.", ""]
    if results["status"] == "pass":
        out += [
            "**Status: PASS.** Every simulation matched the golden model, word for word, "
            "and golden.perf's cycle prediction, cycle for cycle.",
            "",
        ]
    else:
        out += ["**Status: FAIL.**", ""] + [f"- {failure}" for failure in results["failures"]]
        out += [""]

    layers = results["workload"]["layers"]
    out += [
        "## 1. Cycles and PE utilisation",
        "",
        "Layers, back to back on one engine per array size, seeded random int8 data, "
        "simulated on Verilator with the lean speed testbench (every output word compared "
        "with the golden model): "
        + "; ".join(
            f"{layer['name']} ({layer['kernel']}x{layer['kernel']}, padding "
            f"{layer['padding']}, ReLU, {layer['pool_size']}x{layer['pool_size']} max pool)"
            for layer in layers
        )
        + ". Each runs as the compiler runs it on that array: *taps packed* where golden.perf "
        "predicts fewer cycles that way (im2col on the host: a 1x1 convolution over the "
        "output pixels, whose K*K*Cin channels are each pixel's patch; the same MACs in "
        "fewer weight sets, for a bigger input).",
        "",
        "Cycles: first input word to last output word (the parameter packet before them "
        "is not counted). Compute: first vector into the array to last result out. Ideal: "
        "MACs / (rows x cols). PE utilisation: MACs / (rows x cols x compute cycles), and "
        "over the whole layer's cycles. *Exact*: the measured total, compute, first input "
        "and every output word's cycle equal golden.perf's prediction.",
        "",
    ]
    out.append(
        _table(
            [
                "array",
                "layer",
                "cycles",
                "predicted",
                "compute",
                "predicted",
                "ideal",
                "PE util. (compute)",
                "PE util. (layer)",
                "exact",
            ],
            [
                [
                    r["array"],
                    _layer(r),
                    _fmt(r["measured_total"]),
                    _fmt(r["predicted_total"]),
                    _fmt(r["measured_compute"]),
                    _fmt(r["predicted_compute"]),
                    _fmt(r["ideal"]),
                    f"{r['utilization']:.1%}" if r["utilization"] else "n/a",
                    f"{r['utilization_total']:.1%}" if r["utilization_total"] else "n/a",
                    "yes" if r["exact"] else "**no**",
                ]
                for r in results["cycles"]
            ],
        )
    )
    out += [
        "",
        "Phase breakdown from golden.perf (cycles; input + weight load + compute + drain "
        "+ output = the total above). The compute phase is one tile per weight set: the "
        "first, a steady one and the last tile (which includes the array's latency), and "
        "the cycles in which no vector entered the array between tiles.",
        "",
    ]
    out.append(
        _table(
            [
                "array",
                "layer",
                "params",
                "input",
                "weight load",
                "compute",
                "drain",
                "output",
                "tiles",
                "tile cycles (first/steady/last)",
                "idle between tiles",
            ],
            [
                [
                    r["array"],
                    _layer(r),
                    _fmt(r["phases"]["params"]),
                    _fmt(r["phases"]["input"]),
                    _fmt(r["phases"]["weight_load"]),
                    _fmt(r["phases"]["compute"]),
                    _fmt(r["phases"]["drain"]),
                    _fmt(r["phases"]["output"]),
                    _fmt(r["tiles"]["count"]),
                    f"{r['tiles']['first']}/{r['tiles']['steady']}/{r['tiles']['last']}",
                    _fmt(r["tiles"]["gap_cycles"]),
                ]
                for r in results["cycles"]
            ],
        )
    )
    if "utilisation" in results["plots"]:
        out += ["", f"![PE utilisation against array size]({results['plots']['utilisation']})"]

    section = results["scalesim"]
    out += ["", "## 2. SCALE-Sim", ""]
    if section.get("skipped"):
        out += [f"Not run: {section['skipped']}."]
    else:
        s = section["settings"]
        out += [
            f"SCALE-Sim {section['version']} (PyPI `scalesim`), weight-stationary "
            f"(`Dataflow : {s['Dataflow']}`), ArrayHeight x ArrayWidth = the engine's rows "
            f"x cols, the memory of its example `configs/scale.cfg`: SRAMs "
            f"{s['IfmapSramSzkB']}/{s['FilterSramSzkB']}/{s['OfmapSramSzkB']} kB "
            f"(ifmap/filter/ofmap), `InterfaceBandwidth: {s['InterfaceBandwidth']}` "
            f"(bandwidth estimated), request buffers {s['ReadRequestBuffer']}, no custom "
            "layouts, no sparsity. Its topology has no padding, so each ifmap is given "
            "padded (H+2, W+2); it models the convolution only (no ReLU, no pooling), and "
            "always the layer as stated (never taps packed: its im2col mapping folds K*K*Cin "
            "over the rows itself). "
            "SCALE-Sim's compute cycles assume the operands on chip, so they stand beside "
            "our compute cycles; our total (with loading the input and streaming the "
            "output) and SCALE-Sim's count with the first SRAM fill are shown too.",
            "",
        ]
        out.append(
            _table(
                [
                    "array",
                    "layer",
                    "SCALE-Sim compute",
                    "ours: compute",
                    "ours / SCALE-Sim",
                    "SCALE-Sim incl. prefetch",
                    "ours: total",
                    "ours below?",
                ],
                [
                    [
                        r["array"],
                        _layer(r),
                        _fmt(r["scalesim_compute"]),
                        _fmt(r["our_compute"]),
                        f"{r['ratio']:.2f}" if r["ratio"] else "n/a",
                        _fmt(r["scalesim_with_prefetch"]),
                        _fmt(r["our_total"]),
                        "yes" if r["below"] else "**no**",
                    ]
                    for r in section["rows"]
                ],
            )
        )
        below = sum(r["below"] for r in section["rows"])
        out += [
            "",
            f"Goal: our compute cycles below SCALE-Sim's on every layer: "
            f"{'met' if below == len(section['rows']) else 'missed'} ({below} of "
            f"{len(section['rows'])}). Why, layer by layer:",
            "",
        ]
        out += [f"- {r['array']} {r['layer']}: {r['why']}." for r in section["rows"]]
        if "cycles" in results["plots"]:
            out += ["", f"![compute cycles: ours and SCALE-Sim]({results['plots']['cycles']})"]

    out += ["", "## 3. The seed CNN, whole network", ""]
    if "network" in results:  # results from before part 3 existed have none
        out += _network_section(results)
    else:
        out.append("Not run: these results predate this part.")
    speed = results["speed"]
    out += ["", "## 4. Simulation speed", ""]
    if speed.get("skipped"):
        out.append(f"Not run: {speed['skipped']}.")
    else:
        out += _speed_section(results)
    regression = results["regression"]
    out += ["", "## 5. Regression wall time", ""]
    if regression.get("skipped"):
        out.append(f"Not run: {regression['skipped']}.")
    else:
        out.append(
            _table(
                ["build folder", "wall (s)", "outcome", "simulator models in the cache", "command"],
                [
                    [
                        r["cache"],
                        _fmt(r["seconds"], 0),
                        r["outcome"],
                        r["builds"],
                        f"`{r['command']}`",
                    ]
                    for r in regression["rows"]
                ],
            )
        )
        clean, warm = regression["rows"]
        out += [
            "",
            f"The same command twice: first with an empty build folder (no simulator "
            f"models, no formal results: a clean clone, set-up aside), then with what it "
            f"built, {clean['builds']} models among it (the next run on the same "
            f"checkout), which took {regression['warm_over_clean']:.2f}x the wall time of "
            "the first.",
        ]
    return "\n".join(out) + "\n"


def plots(results, out):
    """Write the PNG plots into ``out``; returns ``{name: file name}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written = {}
    rows = [r for r in results["cycles"] if r["utilization"] is not None]
    if rows:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name in dict.fromkeys(r["layer"] for r in rows):
            mine = [r for r in rows if r["layer"] == name]
            sizes = [r["rows"] for r in mine]
            (line,) = ax.plot(
                sizes, [r["utilization"] for r in mine], "o-", label=f"{name}: compute phase"
            )
            ax.plot(
                sizes,
                [r["utilization_total"] for r in mine],
                "s--",
                color=line.get_color(),
                label=f"{name}: whole layer",
            )
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["rows"] for r in rows}))
        ax.set_xticklabels([f"{n}x{n}" for n in sorted({r["rows"] for r in rows})])
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("array size")
        ax.set_ylabel("PE utilisation (useful MACs / PE cycles)")
        ax.set_title("PE utilisation against array size (measured, RTL)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "utilisation.png", dpi=110)
        plt.close(fig)
        written["utilisation"] = "utilisation.png"

    network = results.get("network")
    if network:
        arrays = network["arrays"]
        fig, ax = plt.subplots(figsize=(6, 4))
        names = list(dict.fromkeys(p["pass"] for a in arrays for p in a["passes"]))
        xs = range(len(arrays))
        bottom = [0.0] * len(arrays)
        for name in names:
            shares = [
                sum(p["cycles_per_image"] for p in a["passes"] if p["pass"] == name) / a["limit"]
                for a in arrays
            ]
            ax.bar(list(xs), shares, 0.6, bottom=bottom, label=name)
            bottom = [b + share for b, share in zip(bottom, shares, strict=True)]
        ax.axhline(1.0, color="black", linewidth=1, label="the limit (MACs / PEs)")
        ax.set_xticks(list(xs))
        ax.set_xticklabels([a["array"] for a in arrays])
        ax.set_xlabel("array size")
        ax.set_ylabel("cycles per image / the array's limit")
        ax.set_title(f"{network['model']}: cycles per image, pass by pass (golden.perf)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "network.png", dpi=110)
        plt.close(fig)
        written["network"] = "network.png"

    section = results["scalesim"]
    if section.get("rows"):
        entries = section["rows"]
        fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(entries)), 4))
        xs = range(len(entries))
        width = 0.27
        ax.bar(
            [x - width for x in xs],
            [r["our_compute"] or 0 for r in entries],
            width,
            label="ours: compute",
        )
        ax.bar(
            list(xs),
            [r["scalesim_compute"] for r in entries],
            width,
            label="SCALE-Sim: compute (ws)",
        )
        ax.bar(
            [x + width for x in xs],
            [r["our_total"] or 0 for r in entries],
            width,
            label="ours: total",
        )
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{r['array']}\n{r['layer'].split()[0]}" for r in entries], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylabel("cycles")
        ax.set_title("Compute cycles: the engine (RTL) and SCALE-Sim")
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "cycles.png", dpi=110)
        plt.close(fig)
        written["cycles"] = "cycles.png"

    entries = [r for r in results["speed"].get("rows", []) if r["cycles_per_second"]]
    if entries:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(entries) + 1.5))
        labels = [f"{r['simulator']}\n{r['build']}" for r in entries]
        ax.barh(labels, [r["cycles_per_second"] for r in entries], color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlim(left=100)
        goal = results["speed"]["goals"]["verilator_cycles_per_second"]["goal"]
        ax.axvline(goal, color="tab:red", linestyle="--", label=f"goal {goal:,} cycles/s")
        ax.set_xlabel("simulated cycles per second")
        ax.set_title(f"Simulation speed, {results['speed']['array']} engine")
        ax.tick_params(axis="y", labelsize=8)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "speed.png", dpi=110)
        plt.close(fig)
        written["speed"] = "speed.png"
    return written
