"""Which names a notebook cell sets and reads, and which later cells need a cell that is skipped.

The grader skips cells a solution tags ``skip-grading`` and the cells after
the last graded one; :func:`skip_dependents` says which skipped cells a later
cell that does run still needs (it reads a name the skipped cell sets before
setting it itself), so that :mod:`labkit.release` can refuse such a tag and
:mod:`labkit.submission` can run such a cell after all. The reading is
static (Python's ``ast``): a name set, read or changed (``data.x[0] = ...``)
at a cell's top level, reads inside functions included (they read globals
when called), their parameters, locals and comprehension variables left out.
"""
from __future__ import annotations

import ast

from nbformat import NotebookNode

__all__ = ["skip_dependents", "without_claims", "BEGIN_CLAIMS", "END_CLAIMS"]

BEGIN_CLAIMS, END_CLAIMS = "### BEGIN CLAIMS", "### END CLAIMS"


def without_claims(source: str) -> str:
    """A cell's source without its ``### BEGIN/END CLAIMS`` regions (tutor-only: the grader never runs them)."""
    kept, inside = [], False
    for line in source.split("\n"):
        if line.strip() == BEGIN_CLAIMS:
            inside = True
        elif line.strip() == END_CLAIMS:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def _locals(function) -> set[str]:
    """Names local to a function or lambda: its parameters and what its body binds (globals left out)."""
    args = function.args
    names = {a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg) if a}
    declared = set()
    for node in ast.walk(function) if not isinstance(function, ast.Lambda) else ():
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            declared.update(node.names)
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names - declared


def _names(source: str) -> tuple[dict, dict] | None:
    """({name: first line bound}, {name: first line read}) of a cell's globals (None: not Python).

    Bound: at the cell's top level; read: anywhere a global is read, function
    bodies included (they read globals when called), not their parameters,
    locals or comprehension variables. ``data.images[0] = ...`` binds ``data``
    (it changes it).
    """
    text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    bound, read = {}, {}
    comprehensions = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)

    def visit(node, top: bool, local: frozenset) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            if top and not isinstance(node, ast.Lambda):
                bound.setdefault(node.name, node.lineno)
            outside = [*getattr(node, "decorator_list", []), *node.args.defaults,
                       *(d for d in node.args.kw_defaults if d is not None)]
            for child in outside:
                visit(child, top, local)
            inner = local | _locals(node)
            for child in (node.body if isinstance(node.body, list) else [node.body]):
                visit(child, False, inner)
            return
        if isinstance(node, comprehensions):
            targets = {n.id for g in node.generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}
            for child in ast.iter_child_nodes(node):
                visit(child, False, local | targets)
            return
        if isinstance(node, ast.ClassDef) and top:
            bound.setdefault(node.name, node.lineno)
            top = False
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and node.target.id not in local:
            read.setdefault(node.target.id, node.lineno)              # x += 1 reads x first
        if isinstance(node, ast.Name) and node.id not in local:
            if isinstance(node.ctx, ast.Load):
                read.setdefault(node.id, node.lineno)
            elif top:
                bound.setdefault(node.id, node.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and top:
            for alias in node.names:
                bound.setdefault((alias.asname or alias.name).split(".")[0], node.lineno)
        elif isinstance(node, (ast.Attribute, ast.Subscript)) and not isinstance(node.ctx, ast.Load):
            base = node.value
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name) and base.id not in local:   # data.images[0] = ... changes `data`
                read.setdefault(base.id, node.lineno)
                if top:
                    bound.setdefault(base.id, node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, top, local)

    visit(tree, True, frozenset())
    return bound, read


def skip_dependents(nb: NotebookNode, skipped) -> dict[int, list[tuple[int, str]]]:
    """{skipped cell: [(later cell that is not skipped, name it reads that the skipped cell sets)]}.

    A name counts as read when a cell uses it before binding it again (at any
    depth, function bodies included: they read globals when called).
    """
    skipped, found, pending = set(skipped), {}, {}   # pending: {name: skipped cell that last bound it}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        names = _names(without_claims(cell.get("source", "")))   # claims never run at grading
        if names is None:
            continue
        bound, read = names
        if index in skipped:
            pending.update(dict.fromkeys(bound, index))
            continue
        for var, line in read.items():
            if var in pending and line <= bound.get(var, line):
                found.setdefault(pending[var], []).append((index, var))
        for var in bound:
            pending.pop(var, None)
    return found
