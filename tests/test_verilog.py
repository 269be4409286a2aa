"""Verilog and RTLIL generation (hw/verilog.py): the same design as Amaranth's own back ends
write, with all-zero memories cleared by a loop."""

import re
import subprocess

import pytest
from amaranth.back import rtlil, verilog
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from sysconv import tools
from sysconv.hw import SystolicArray
from sysconv.hw.layer import EngineConfig
from sysconv.hw.requant import Requantizer
from sysconv.hw.top import Accelerator
from sysconv.hw.verilog import (
    AFTER_READ,
    KEEP_LOCAL,
    LOCAL_FLIP_FLOPS,
    _ports,
    to_rtlil,
    to_verilog,
)
from sysconv.sim import runner
from sysconv.sim.engine.run import accelerator_verilog
from sysconv.sim.toolchain import icarus

TABLE = [3 * n + 1 for n in range(16)]


class Memories(wiring.Component):
    """Three memories read combinationally at ``addr``: one all zero with an escaped name,
    one with contents, one a bit wide."""

    addr: In(4)
    zero: Out(8)
    values: Out(6)
    flag: Out(1)

    def elaborate(self, platform):
        m = Module()
        m.submodules["zero.mem"] = zero = memory.Memory(shape=8, depth=16, init=[])
        m.submodules.table = table = memory.Memory(shape=6, depth=16, init=TABLE)
        m.submodules.bits = bits = memory.Memory(shape=1, depth=5, init=[])
        for mem, out in ((zero, self.zero), (table, self.values), (bits, self.flag)):
            read, write = mem.read_port(domain="comb"), mem.write_port()
            m.d.comb += [read.addr.eq(self.addr), out.eq(read.data)]
            m.d.comb += [write.addr.eq(self.addr), write.data.eq(~out), write.en.eq(0)]
        return m


def test_rtlil_is_amaranths():
    design = Memories()
    ours = to_rtlil(design, "top")
    theirs = rtlil.convert(design, name="top", emit_src=False, ports=_ports(design))
    assert ours == theirs
    assert "$meminit_v2" in ours


class Unchecked(wiring.Component):
    """A synchronous read port and a write port on a memory with ``no_rw_check``, and the same
    on one without."""

    addr: In(4)
    data: In(8)
    unchecked: Out(8)
    checked: Out(8)

    def elaborate(self, platform):
        m = Module()
        m.submodules.unchecked = unchecked = memory.Memory(
            shape=8, depth=16, init=[], attrs={"no_rw_check": 1}
        )
        m.submodules.checked = checked = memory.Memory(shape=8, depth=16, init=[])
        for mem, out in ((unchecked, self.unchecked), (checked, self.checked)):
            read, write = mem.read_port(), mem.write_port()
            m.d.comb += [read.addr.eq(self.addr), out.eq(read.data)]
            m.d.comb += [write.addr.eq(self.addr), write.data.eq(self.data), write.en.eq(1)]
        return m


def test_rtlil_read_ports_of_a_no_rw_check_memory_have_collisions_undefined():
    design = Unchecked()
    ours = to_rtlil(design, "top")
    theirs = rtlil.convert(design, name="top", emit_src=False, ports=_ports(design))
    # One read port each, the unchecked memory's first.
    assert re.findall(r"COLLISION_X_MASK (\S+)", ours) == ["1'1", "1'0"]
    # Nothing else differs from Amaranth's own RTLIL.
    assert ours.replace("COLLISION_X_MASK 1'1", "COLLISION_X_MASK 1'0") == theirs


_WORD = re.compile(r"    (\S+) ?\[(\d+)\] = (\d+)'h0+;")
_LOOP = re.compile(r"    for \(i = 0; i < (\d+); i = i \+ 1\) (\S+) ?\[i\] = \{(\d+)\{1'b0\}\};")


def _zero_memories(lines, pattern, fields):
    found = {}
    for line in lines:
        match = pattern.fullmatch(line)
        if match:
            words, name, width = (match[n] for n in fields)
            found.setdefault(name, []).append((int(words), int(width)))
    return found


def test_verilog_is_amaranths_with_a_loop_for_each_zero_memory():
    design = Memories()
    ours = to_verilog(design, "top").split("\n")
    theirs = verilog.convert(design, name="top", emit_src=False, ports=_ports(design))
    theirs = theirs.split("\n")
    # Amaranth's Verilog sets each word of a zero memory on a line of its own.
    words = _zero_memories(theirs, _WORD, (2, 1, 3))
    assert {name: (len(w), w[0][1]) for name, w in words.items()} == {
        "\\zero.mem": (16, 8),
        "bits": (5, 1),
    }
    assert _zero_memories(ours, _LOOP, (1, 2, 3)) == {"\\zero.mem": [(16, 8)], "bits": [(5, 1)]}
    # Apart from those words and the loops, the same lines (Yosys may order them differently).
    loop_lines = {"    integer i;", "  end"}
    kept = sorted(
        line
        for line in ours
        if not _LOOP.fullmatch(line)
        and line not in loop_lines
        and not line.startswith("  initial begin")
    )
    removed = sorted(
        line
        for line in theirs
        if not _WORD.fullmatch(line) and line not in loop_lines and line != "  initial begin"
    )
    assert kept == removed
    # The memory with contents keeps them, word by word.
    assert [line for line in ours if line.startswith("    \\table [")] == [
        f"    \\table [{n}] = 6'h{value:02x};" for n, value in enumerate(TABLE)
    ]


def test_memories_start_as_declared_on_icarus(tmp_path):
    (tmp_path / "top.v").write_text(to_verilog(Memories(), "top"))
    (tmp_path / "tb.v").write_text(
        """
module tb;
  reg [3:0] addr;
  wire [7:0] zero;
  wire [5:0] values;
  wire flag;
  top dut(.addr(addr), .zero(zero), .values(values), .flag(flag));
  integer n;
  initial begin
    for (n = 0; n < 16; n = n + 1) begin
      addr = n;
      #1 $display("%0d %0d %0d %0d", n, zero, values, n < 5 ? flag : 1'b0);
    end
  end
endmodule
"""
    )
    icarus()  # says how to install it if it is missing
    subprocess.run(
        ["iverilog", "-o", tmp_path / "sim", tmp_path / "tb.v", tmp_path / "top.v"], check=True
    )
    out = subprocess.run(
        ["vvp", "-n", tmp_path / "sim"], capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[:16] == [f"{n} 0 {TABLE[n]} 0" for n in range(16)]


def test_the_emitter_is_amaranths_again_after_a_failure():
    emit = rtlil.ModuleEmitter.emit_memory

    class Broken(Memories):
        def elaborate(self, platform):
            raise RuntimeError("elaboration fails")

    with pytest.raises(RuntimeError, match="elaboration fails"):
        to_verilog(Broken(), "top")
    assert rtlil.ModuleEmitter.emit_memory is emit


def test_cached_verilog_is_generated_once_per_design_and_hardware_source(tmp_path, monkeypatch):
    monkeypatch.setenv("SYSCONV_MODEL_CACHE", str(tmp_path))
    engine = EngineConfig(1, 2, max_height=2, max_width=2, max_in_channels=1, max_out_channels=2)
    made = []

    def make():
        made.append(engine)
        return to_verilog(Accelerator(engine), "sysconv_accel")

    first = runner.cached_verilog(f"sysconv_accel {engine!r}", make)
    assert first == to_verilog(Accelerator(engine), "sysconv_accel")
    assert accelerator_verilog(engine) == first and len(made) == 1  # the same key: cached
    assert runner.cached_verilog("another design", make) == first and len(made) == 2
    # An edit to sysconv.hw (or another Amaranth) is another key.
    monkeypatch.setattr(runner, "_hardware_version", lambda: {"sources": "edited"})
    runner.cached_verilog(f"sysconv_accel {engine!r}", make)
    assert len(made) == 3
    assert len(list((tmp_path / "verilog").glob("*.v"))) == 3


def yosys_counts(folder, component, commands):
    """The object counts of the ``select -count`` lines among ``commands``, run by Yosys after
    reading ``component``'s RTLIL, in order."""
    (folder / "top.il").write_text(to_rtlil(component, "top"))
    (folder / "count.ys").write_text("\n".join(["read_rtlil top.il", *commands]) + "\n")
    subprocess.run(
        [tools.find("yosys"), "-q", "-l", "count.log", "count.ys"],
        cwd=folder,
        check=True,
        capture_output=True,
    )
    log = (folder / "count.log").read_text()
    return [int(n) for n in re.findall(r"^(\d+) objects\.$", log, re.MULTILINE)]


@pytest.mark.parametrize("keep, registers", [(True, 5), (False, 3)])
def test_local_registers_stay_apart_through_synthesis(keep, registers, tmp_path):
    # A 2x2 array's five bank tags (4 PEs, 1 skew stage; hw.verilog.LOCAL) after flattening
    # and Yosys's opt: with KEEP_LOCAL (as the board and engine builds run it) five flip-flops;
    # without, opt_merge keeps one per delay (the skew stage with PE (0, 0)'s, PE (0, 1)'s with
    # PE (1, 0)'s), which is the fan-out across the array that KEEP_LOCAL prevents.
    commands = [
        *([KEEP_LOCAL] if keep else []),
        "flatten",
        "opt",
        f"select -count {LOCAL_FLIP_FLOPS}",
    ]
    assert yosys_counts(tmp_path, SystolicArray(2, 2), commands) == [registers]


def test_element_names_are_hidden_before_synthesis(tmp_path):
    # The requantiser's array members, named beside their whole (i__payload.acc[0] beside
    # i__payload): after AFTER_READ, as the board and engine builds run it, no wire name ends in
    # "]" (HIDE_ELEMENT_NAMES: ABC9 would give bit 3 of a wire `x` and bit 0 of `x[3]` one
    # name), and the ports keep theirs.
    count = ["select -count w:*]", "select -count x:*"]
    counts = yosys_counts(
        tmp_path, Requantizer(lanes=4, acc_width=32), [*count, AFTER_READ, *count]
    )
    elements, ports, elements_after, ports_after = counts
    assert elements == 20 and elements_after == 0
    assert ports_after == ports > 0
