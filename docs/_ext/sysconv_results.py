"""Committed results in the manual, never retyped: which commit a results file comes from, and
the digits demo's ``summary.json`` as tables. And two fix-ups for autodoc: prose after a field
section, and components' signatures.

``:results-commit:`bench/results/summary.md``` (a path from the repository's root) gives the
last commit that changed the file and its date, from ``git log``; outside a git checkout it says
so. ``.. demo-summary:: results/demo/summary.json`` (a path from ``docs/``) renders what
``sysconv demo`` wrote.
"""

import inspect
import json
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from sysconv.tools import git

REPOSITORY = Path(__file__).resolve().parents[2]


def last_commit(path):
    """``(short hash, date)`` of the last commit that changed ``path``, or ``None``."""
    fields = (git("log", "-1", "--format=%h %cs", "--", str(path), cwd=REPOSITORY) or "").split()
    return tuple(fields) if len(fields) == 2 else None


def _git_log_file():
    """HEAD's reflog, which every commit and checkout touches: a page that shows a commit is
    read again when it changes."""
    found = git("rev-parse", "--path-format=absolute", "--git-path", "logs/HEAD", cwd=REPOSITORY)
    path = Path(found) if found else None
    return path if path is not None and path.is_file() else None


def results_commit_role(name, rawtext, text, lineno, inliner, options=None, content=()):
    reflog = _git_log_file()
    if reflog is not None:
        inliner.document.settings.env.note_dependency(str(reflog))
    found = last_commit(text)
    if found is None:
        return [nodes.emphasis(text="an uncommitted copy")], []
    commit, date = found
    return [nodes.literal(text=commit), nodes.Text(f" ({date})")], []


def _total(row, key):
    """The sum of a pass's runs' cycles (a conv pass's images; not in older summaries)."""
    return f"{sum(row[key]):,}" if key in row else "—"


def _percent(value):
    return "n/a" if value is None else f"{100 * value:.1f} %"


class DemoSummary(SphinxDirective):
    """The figures of a ``sysconv demo`` run, read from its ``summary.json``."""

    required_arguments = 1

    def run(self):
        path = (Path(self.env.srcdir) / self.arguments[0]).resolve()
        self.env.note_dependency(str(path))
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise self.error(f"cannot read the demo's results file {path}: {error}") from None
        commit = summary.get("commit") or "an unrecorded commit"
        lines = [
            f"Measured on commit ``{commit}``: {summary['images']} test images on "
            f"{summary['simulator']}, array {summary['rows']}x{summary['cols']}, batch "
            f"{summary['batch']}; status **{summary['status']}**.",
            "",
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - pass",
            "     - runs",
            "     - cycles (first run)",
            "     - predicted",
            "     - cycles (all runs)",
            "     - predicted",
            "     - compute",
            "     - predicted",
            "     - PE utilisation",
        ]
        for row in summary["layers"]:
            lines += [
                f"   * - {row['pass']}",
                f"     - {row['runs']}",
                f"     - {row['layer_cycles']:,}",
                f"     - {row['predicted_layer_cycles']:,}",
                f"     - {_total(row, 'run_cycles')}",
                f"     - {_total(row, 'predicted_run_cycles')}",
                f"     - {row['compute_cycles']:,}",
                f"     - {row['predicted_compute_cycles']:,}",
                f"     - {_percent(row['utilization'])}",
            ]
        exact = "yes" if summary["logits_bit_exact"] else "**no**"
        lines += [
            "",
            ".. list-table::",
            "",
            f"   * - RTL accuracy on these {summary['images']} images",
            f"     - {_percent(summary['rtl_accuracy'])}",
            "   * - golden int8 accuracy, same images",
            f"     - {_percent(summary['golden_int8_accuracy'])}",
            "   * - golden int8 accuracy, whole test set",
            f"     - {_percent(summary['golden_int8_accuracy_test_set'])}",
            "   * - float accuracy, whole test set",
            f"     - {_percent(summary.get('float_accuracy_test_set'))}",
            "   * - every RTL logit equals the golden int8 logit",
            f"     - {exact}",
            "   * - simulated cycles per image",
            f"     - {summary['cycles_per_image']:,.0f}",
            "   * - simulation speed (wall clock, this run's machine and load)",
            f"     - {summary['simulated_cycles_per_second']:,.0f} cycles/s",
        ]
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=str(path)), self.content_offset, container)
        return container.children


FIELD_SECTIONS = {
    "Parameters",
    "Other Parameters",
    "Members",
    "Attributes",
    "Returns",
    "Yields",
    "Raises",
    "Warns",
    "Receives",
}
FIELD = re.compile(r"^\*{0,2}\w[\w.]*(\s*,\s*\*{0,2}\w[\w.]*)*(\s+:(\s.*)?)?$")


def _is_header(lines, k):
    return (
        k + 1 < len(lines)
        and lines[k].strip()
        and not lines[k].startswith(" ")
        and re.fullmatch(r"-{3,}", lines[k + 1].strip() or "x") is not None
    )


def lift_trailing_prose(app, what, name, obj, options, lines):
    """Move prose written after a field section (house style: the contract after
    ``Parameters``/``Members``) before the first section.

    Napoleon reads every unindented line of a field section as one more field, so such a
    paragraph would come out as a garbled parameter. Runs before napoleon does."""
    first = next((k for k in range(len(lines)) if _is_header(lines, k)), None)
    if first is None:
        return
    out, lifted, section, k = lines[:first], [], None, first
    while k < len(lines):
        if _is_header(lines, k):
            section = lines[k].strip()
            out += lines[k : k + 2]
            k += 2
            continue
        line = lines[k]
        orphan = (
            section in FIELD_SECTIONS
            and line.strip()
            and not line.startswith(" ")
            and k > 0
            and not lines[k - 1].strip()
            and not FIELD.match(line)
        )
        if not orphan:
            out.append(line)
            k += 1
            continue
        end = next((j for j in range(k, len(lines)) if _is_header(lines, j)), len(lines))
        block = lines[k:end]
        while block and not block[-1].strip():
            block.pop()
        lifted += block + [""]
        section, k = None, end
    if lifted:
        head = out[:first]
        while head and not head[-1].strip():
            head.pop()
        lines[:] = head + [""] + lifted + out[first:]


def init_signature(app, what, name, obj, options, signature, return_annotation):
    """Amaranth's ``Elaboratable.__new__`` takes ``(*args, src_loc_at=0, **kwargs)``, which
    autodoc would show as every component's signature: show its ``__init__``'s instead."""
    if what != "class" or not signature or "src_loc_at" not in signature:
        return None
    try:
        init = inspect.signature(obj.__init__)
    except (TypeError, ValueError):
        return None
    parameters = list(init.parameters.values())[1:]  # without self
    return str(
        init.replace(parameters=parameters, return_annotation=inspect.Signature.empty)
    ), return_annotation


def setup(app):
    app.connect("autodoc-process-signature", init_signature)
    app.connect("autodoc-process-docstring", lift_trailing_prose, priority=100)
    app.add_role("results-commit", results_commit_role)
    app.add_directive("demo-summary", DemoSummary)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
