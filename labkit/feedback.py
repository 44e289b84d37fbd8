"""What a student gets back: feedback in the kit's own words, as markdown and as HTML.

Everything a kernel reports (an exception's name and message) passed through
student code, so it can carry anything the student's code read or made up.
:func:`kit_words` keeps of such a text only what the kit itself wrote: the
phrases of the kit's source (every string in ``labkit/`` but docstrings and
bare names), the solution's own check messages, grade_ids and function names,
Python's exception names and up to 16 numbers (shapes and values);
everything else becomes ``…``. (Numbers remain a narrow channel: a student's
function that learns a hidden input while it runs can still report it as a
number, as it can by passing or failing.) The HTML feedback is rendered (nbconvert)
from the notebook the student handed in, with the outputs *they* saved, never
outputs of the grading run, the check cells as the student version shows
them (no hidden tests), and the grader's verdict after each graded cell;
outputs that could run in a browser (HTML, JavaScript, SVG, widgets) are left
out and the student's own markdown is escaped.
"""
from __future__ import annotations

import ast
import builtins
import copy
import functools
import html
import json
import re
from pathlib import Path

import nbformat

from .gradebook import SubmissionResult, number
from .release import nbgrader
from .submission import restore_locked_cells

__all__ = ["kit_words", "solution_phrases", "feedback_markdown", "feedback_html", "REDACTED"]

REDACTED = "…"
_MAX_MESSAGE = 1200       # characters of a message kept in feedback
_MAX_OUTPUT = 1 << 20     # bytes of one output shown in the HTML feedback
_MAX_NUMBERS = 16         # numbers kept in one message (shapes, values, case numbers)
PACKAGE = Path(__file__).resolve().parent
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf|True|False|None)\b")
_GLUE = set(" \t\n.,:;()[]{}<>=+-*/%|'\"`!?#~^&@$\\")
_SYSTEM = ("CellTimeout", "DeadKernelError", "CheckFailed", "ClaimFailed", "NotImplementedError")


# --------------------------------------------------------------------------
# the kit's own words
def _strings(tree) -> list[str]:
    """The string constants of a parsed source, docstrings left out (they quote code, not messages)."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def _fragments(texts) -> set[str]:
    """Phrases worth matching: each string and each of its lines, with a letter, not a bare name.

    A bare name (``"saliency"``, ``"logits"``) is a word anyone can spell
    with; a phrase (``" but the expected shape is "``, ``"case "``) is the
    kit talking.
    """
    found = set()
    for text in texts:
        for piece in {text, *text.split("\n")}:
            core = piece.strip()
            if len(core) >= (3 if core == piece else 2) and re.search(r"[A-Za-z]", core) \
                    and not re.fullmatch(r"[\w.]+", piece):
                found.add(piece)
    return found


@functools.lru_cache(maxsize=1)
def _kit_phrases() -> frozenset:
    texts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        try:
            texts += _strings(ast.parse(path.read_text(encoding="utf-8")))
        except (SyntaxError, OSError):
            continue
    names = [n for n in dir(builtins) if n.endswith(("Error", "Exception", "Warning", "Interrupt", "Exit"))]
    return frozenset(_fragments(texts) | set(names) | set(_SYSTEM))


def solution_phrases(solution) -> frozenset:
    """The solution's own words that feedback may quote: its graded cells' strings, grade_ids, function names."""
    texts = []
    for cell in solution.cells:
        meta = nbgrader(cell)
        if meta.get("grade_id"):
            texts.append(meta["grade_id"])
        if cell.cell_type == "code" and (meta.get("grade") or meta.get("solution")):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            texts += _strings(tree) if meta.get("grade") else []
            texts += [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    return frozenset(_fragments(texts) | {t for t in texts if re.fullmatch(r"[\w-]+", t)})


@functools.lru_cache(maxsize=16)
def _index(extra: frozenset) -> dict:
    index: dict[str, list[str]] = {}
    for phrase in _kit_phrases() | extra:
        index.setdefault(phrase[:3], []).append(phrase)
    for phrases in index.values():
        phrases.sort(key=len, reverse=True)
    return index


def kit_words(text: str, extra: frozenset = frozenset()) -> str:
    """``text`` with everything but the kit's phrases (and ``extra``), numbers and punctuation as ``…``."""
    if not text:
        return ""
    text = text[:4 * _MAX_MESSAGE]
    index = _index(extra)
    out, i, hidden, numbers = [], 0, False, 0
    while i < len(text):
        match = next((p for p in index.get(text[i:i + 3], ()) if text.startswith(p, i)), None)
        if match is None:
            number_match = _NUMBER.match(text, i)
            if number_match and number_match.end() > i and (i == 0 or not text[i - 1].isalnum()) \
                    and numbers < _MAX_NUMBERS and len(number_match.group(0)) <= 12:
                match = number_match.group(0)
                numbers += 1
            elif text[i] in _GLUE:
                match = text[i]
        if match is not None:
            out.append(match)
            i += len(match)
            hidden = False
            continue
        if not hidden:
            out.append(REDACTED)
            hidden = True
        i += 1
    result = "".join(out)
    result = re.sub(f"{REDACTED}(?:[ \t]*{REDACTED})+", REDACTED, result)
    return result if len(result) <= _MAX_MESSAGE else result[:_MAX_MESSAGE] + " ..."


# --------------------------------------------------------------------------
# markdown
def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0]


def feedback_markdown(result: SubmissionResult) -> str:
    """The student's feedback: score, a table of exercises, what went wrong (item messages already sanitized)."""
    name = result.notebook or Path(result.submission).stem
    auto = [e for e in result.items if not e.manual]
    manual = [e for e in result.items if e.manual]
    lines = [f"# Feedback on {name}", "", f"Submission: `{Path(result.submission).name}`"
             + (f" (student `{result.student}`)" if result.student else ""), "",
             f"**Score: {number(result.total)} / {number(result.max_total)}** automatically graded points"
             + (" (written answers are graded by your tutor)" if manual else ""), ""]
    if auto:
        lines += ["| exercise | points | result |", "|---|---|---|"]
        lines += [f"| {e.grade_id} | {number(e.points)} / {number(e.max_points)} | {e.status} |" for e in auto]
        lines.append("")
    failed = [e for e in auto if e.status != "passed"]
    if failed:
        lines += ["## What to fix", ""]
        for e in failed:
            lines += [f"### {e.grade_id} ({e.status})", ""]
            if e.status == "not attempted":
                lines += ["You have not written this exercise yet: replace `raise NotImplementedError()` "
                          "with your code, then run the check cell below it.", ""]
            lines += ["```", e.message or "(no message)", "```", ""]
        lines += ["(Messages show the checks' own words; anything else is shown as `…`. Run the check "
                  "cell in your notebook to see the whole message.)", ""]
    if result.cell_errors:
        lines += ["## Other cells that raised an error", ""]
        for run in result.cell_errors:
            lines.append(f"- cell {run.index}: `` {_first_line(run.error)[:200]} ``")
        lines.append("")
    if manual:
        lines += ["## Written answers", "", "Graded by your tutor: "
                  + ", ".join(f"{e.grade_id} ({number(e.max_points)} points)" for e in manual), ""]
    if result.notes or not result.gradable:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes]
        lines += [f"- {e}" for e in result.errors if not result.gradable]
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# HTML, from the student's own notebook
_SAFE_MIME = ("text/plain", "image/png", "image/jpeg")


def _safe_outputs(nb, released) -> None:
    """Keep what cannot run in a browser: text and bitmaps; nothing over 1 MB; student markdown escaped.

    HTML, JavaScript, SVG and widget outputs are dropped (their text/plain
    stays), so the page needs no HTML sanitizer; markdown cells the student
    wrote (not the released notebook's own) have their HTML escaped.
    """
    own = {c.get("id"): c.source for c in released.cells if c.cell_type == "markdown"}
    for cell in nb.cells:
        if cell.cell_type == "raw":
            cell.metadata.pop("raw_mimetype", None)           # shown as nothing, never as HTML
            cell.metadata.pop("format", None)
        if cell.cell_type == "markdown" and own.get(cell.get("id")) != cell.source:
            cell.source = cell.source.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if "data" in output:
                output["data"] = {k: v for k, v in output["data"].items() if k in _SAFE_MIME}
                if not output["data"]:
                    continue
            size = len(json.dumps(output))
            if size > _MAX_OUTPUT:
                kept.append(nbformat.v4.new_output("stream", name="stdout",
                                                   text=f"[an output of {size // 1024} kB is not shown here]\n"))
            else:
                kept.append(output)
        cell.outputs = kept


def _as_is(html_text):
    return html_text


@functools.lru_cache(maxsize=1)
def _exporter():
    """nbconvert's lab template without its HTML sanitizer (which takes seconds a notebook, mostly on
    pygments' already escaped code): :func:`_safe_outputs` leaves nothing that needs it."""
    from nbconvert import HTMLExporter
    return HTMLExporter(template_name="lab", sanitize_html=False, filters={"clean_html": _as_is})


def _verdict_cell(item) -> nbformat.NotebookNode:
    mark = {"passed": "✓", "manual": "✎"}.get(item.status, "✗")
    text = (f"**{mark} {html.escape(item.grade_id)}: {item.status}**"
            + (f" ({number(item.points)} / {number(item.max_points)} points)" if not item.manual else
               f" ({number(item.max_points)} points, graded by your tutor)"))
    if item.status not in ("passed", "manual") and item.message:
        text += "\n\n```\n" + item.message.replace("```", "'''") + "\n```"
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["labkit"] = {"verdict": item.grade_id}
    return cell


def feedback_html(submission, student_version, result: SubmissionResult) -> str:
    """HTML of the student's notebook with their saved outputs, the kit's verdict after each graded cell.

    ``submission``: the notebook as handed in; ``student_version``: the
    released notebook (check cells without hidden tests), whose locked cells
    replace the submission's.
    """
    nb, _ = restore_locked_cells(submission, student_version)
    nb = copy.deepcopy(nb)
    _safe_outputs(nb, student_version)
    items = {e.grade_id: e for e in result.items}
    cells = [nbformat.v4.new_markdown_cell(feedback_markdown(result))]
    for cell in nb.cells:
        cells.append(cell)
        grade_id = nbgrader(cell).get("grade_id")
        if grade_id in items and nbgrader(cell).get("grade"):
            cells.append(_verdict_cell(items[grade_id]))
    nb.cells = cells
    body, _ = _exporter().from_notebook_node(nb, resources={"metadata": {"name": f"Feedback on {result.notebook}"}})
    return body
