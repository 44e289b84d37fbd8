"""Read a submission's code for the tutor: what tries to switch checks off, and whose answer it is.

:func:`scan` parses the student's code cells (the cells the grader does not
restore from the solution) and returns :class:`Flag` s, one per finding,
with the cell and line. The grader puts their kinds in the ``flags`` column
of the CSV and the details in the tutor's report, never in the student's
feedback. A flag is a reason to look, not a verdict: the grade is unchanged.

Kinds:

``rebinds-kit``
    binds a name the solution gives to a kit module (``checks = ...``,
    ``def checks``, ``import numpy as checks``, ``del gradients``);
``assigns-into-labkit``
    assigns or deletes an attribute or item of a kit module or of anything
    inside one (``checks.check_saliency = ...``, ``labkit.gradients.saliency.__code__ = ...``,
    ``setattr(checks, ...)``, ``mock.patch("labkit...")``);
``patches-module``
    assigns into another module the notebook imported (``np.allclose = ...``);
``touches-sys-modules``, ``touches-builtins``, ``touches-history``
    uses ``sys.modules``; ``builtins``/``__builtins__``; IPython's ``In``,
    ``Out``, ``_ih``, ``_i3``..., ``%history``, ``history_manager``,
    ``linecache``, the kernel's ``get_parent``;
``calls-kit-implementation``
    answers an exercise with the kit's own implementation of it: inside
    ``def saliency`` a reference to ``gradients.saliency`` (a kit function of
    the same name, or the reference the exercise's check compares with), or
    ``saliency = gradients.saliency`` / ``from labkit.gradients import saliency``;
``fakes-results``
    a class with ``__eq__`` or ``__array__`` (an object that equals anything passes an ``==`` test);
``dynamic-code``
    code the scan cannot read: ``exec``/``eval``/``compile``, ``__import__``,
    ``importlib``, ``getattr``/``setattr`` with a computed name on a module,
    ``globals()``/``vars()``, ``gc``, ``ctypes``, ``inspect``/``sys._getframe``, frame
    attributes (``f_globals``, ``f_back``, ``tb_frame``).
"""
from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

from .release import nbgrader

__all__ = ["Flag", "scan", "kit_bindings", "exercise_functions", "KINDS"]

KINDS = ("rebinds-kit", "assigns-into-labkit", "patches-module", "touches-sys-modules", "touches-builtins",
         "touches-history", "calls-kit-implementation", "fakes-results", "dynamic-code")
_FAKE_METHODS = {"__eq__", "__ne__", "__array__", "__array_ufunc__", "__array_function__"}
PACKAGE = Path(__file__).resolve().parent
_HISTORY_NAMES = re.compile(r"^(In|Out|_ih|_oh|_dh|_i|_ii|_iii|_i\d+|_\d+|__|___)$")
_HISTORY_MAGIC = re.compile(r"^\s*%{1,2}(history|hist|recall|rerun|save|macro|store)\b", re.M)
_DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "globals", "vars", "locals"}
_DYNAMIC_MODULES = {"gc", "ctypes", "inspect", "importlib", "linecache", "dis", "marshal", "types"}
_FRAME_ATTRS = {"f_globals", "f_locals", "f_back", "tb_frame", "gi_frame", "cr_frame", "f_builtins", "__globals__",
                "__closure__", "__code__", "co_consts"}

# Mappings a notebook is meant to write into: an environment variable, a matplotlib or pandas
# setting (``os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"``, ``plt.rcParams["figure.dpi"] = 100``) is not a patch.
SETTINGS = ("os.environ", "matplotlib.rcParams", "matplotlib.pyplot.rcParams")
SETTING_PREFIXES = ("pandas.options.",)


def _is_setting(target, where: str) -> bool:
    """Is ``target = ...`` a setting (an item of a settings mapping, or a pandas option)?"""
    return (isinstance(target, ast.Subscript) and where in SETTINGS) or where.startswith(SETTING_PREFIXES)


# exercises whose kit implementation has another name (same-name ones and the checks' references are found)
EQUIVALENTS = {
    "cam_from_weights": ("labkit.cam.cam",),
    "concept_activation_vector": ("labkit.tcav.fit_cav",),
    "normalize_filters": ("labkit.units.filters",),
    "top_k_images": ("labkit.units.top_examples",),
    "approval_rate_by_group": ("labkit.fairness.group_rates",),
    "flip_rate": ("labkit.fairness.flip_test",),
    "energy_in_region": ("labkit.metrics.mask_energy",),
}


@dataclass(frozen=True)
class Flag:
    """One finding: its kind, the notebook cell (index) and line, and what was seen (for the tutor)."""

    kind: str
    cell: int
    line: int
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: cell {self.cell} line {self.line}: {self.detail}"


# --------------------------------------------------------------------------
# what the solution and the kit tell the scan
def _python(source: str) -> str:
    """A cell's source as plain Python (IPython magics and shell escapes turned into calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or a transformer failing: read what Python can
        return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _parse(source: str):
    try:
        return ast.parse(_python(source))
    except SyntaxError:
        return None


def kit_bindings(solution) -> dict[str, str]:
    """{name: dotted module} for every module the solution binds by an import (``np`` -> ``numpy``)."""
    names = {}
    for cell in solution.cells:
        meta = nbgrader(cell)
        if cell.cell_type != "code" or meta.get("solution") or meta.get("grade"):
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Import):
                for a in node.names:
                    names[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for a in node.names:
                    if node.module == "labkit" or node.module.startswith("labkit."):
                        dotted = f"{node.module}.{a.name}"
                        if _is_kit_module(dotted):
                            names[a.asname or a.name] = dotted
    return names


def exercise_functions(solution) -> dict[str, set[str]]:
    """{function an exercise asks for: dotted names of the kit's implementations of it}.

    The functions are those the solution cells define at top level; their
    implementations are the kit functions of the same name and the references
    the exercise's check compares with (``checks.check_saliency(saliency)`` ->
    ``labkit.gradients.saliency``).
    """
    defined = set()
    for cell in solution.cells:
        if cell.cell_type == "code" and nbgrader(cell).get("solution"):
            tree = _parse(cell.source)
            defined |= {n.name for n in (tree.body if tree else ()) if isinstance(n, ast.FunctionDef)}
    references = _check_references()
    found = {name: {f"{module}.{name}" for module in _kit_functions().get(name, ())} | set(EQUIVALENTS.get(name, ()))
             for name in defined}
    for cell in solution.cells:
        if cell.cell_type != "code" or not nbgrader(cell).get("grade"):
            continue
        tree = _parse(cell.source)
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args \
                    and isinstance(node.args[0], ast.Name) and node.args[0].id in found:
                found[node.args[0].id] |= references.get(node.func.attr, set())
    return found


def _is_kit_module(dotted: str) -> bool:
    parts = dotted.split(".")[1:]
    base = PACKAGE.joinpath(*parts) if parts else PACKAGE
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


@functools.lru_cache(maxsize=1)
def _kit_functions() -> dict[str, tuple[str, ...]]:
    """{function name: the library modules that define it at top level} (the course modules left out)."""
    index: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[0] in ("checks", "release", "grade", "sandbox", "guard", "scan", "feedback", "gradebook"):
            continue
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(["labkit", *parts])
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                index.setdefault(node.name, []).append(module)
    return {k: tuple(v) for k, v in index.items()}


@functools.lru_cache(maxsize=1)
def _check_references() -> dict[str, set[str]]:
    """{check function: kit functions its reference calls} (``check_saliency`` -> ``labkit.gradients.saliency``)."""
    found: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / "checks").glob("nb*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("check_"):
                found[node.name] = _references_in(node, helpers)
    return found


def _kit_aliases(tree) -> dict[str, str]:
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "labkit":
            aliases.update({a.asname or a.name: f"labkit.{a.name}" for a in node.names})
    return aliases


def _references_in(check: ast.FunctionDef, helpers: dict) -> set[str]:
    """Kit functions called by the reference (2nd argument of check_function) of one check."""
    aliases = _kit_aliases(check)
    helpers = {**helpers, **{n.name: n for n in ast.walk(check) if isinstance(n, ast.FunctionDef) and n is not check}}
    refs = set()
    for call in ast.walk(check):
        if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "check_function"
                and len(call.args) > 1):
            continue
        ref = call.args[1]
        bodies = [ref]
        if isinstance(ref, ast.Name) and ref.id in helpers:
            helper = helpers[ref.id]
            aliases = {**aliases, **_kit_aliases(helper)}
            bodies = [r.value for r in ast.walk(helper) if isinstance(r, ast.Return) and r.value is not None]
        for body in bodies:
            for node in ast.walk(body):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and isinstance(node.func.value, ast.Name) and node.func.value.id in aliases:
                    refs.add(f"{aliases[node.func.value.id]}.{node.func.attr}")
    return refs


# --------------------------------------------------------------------------
# the scan
class _Scanner(ast.NodeVisitor):
    def __init__(self, cell: int, kit: dict[str, str], modules: dict[str, str], exercises: dict[str, set[str]]):
        self.cell, self.kit, self.modules, self.exercises = cell, kit, modules, exercises
        self.flags: list[Flag] = []
        self.function: list[str] = []
        self.classes: list[str] = []

    def flag(self, kind: str, node, detail: str) -> None:
        self.flags.append(Flag(kind, self.cell, getattr(node, "lineno", 0), detail))

    def dotted(self, node) -> str | None:
        """The dotted name an expression stands for, through the import aliases (``g.saliency`` -> ...)."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Subscript):
            return self.dotted(node.value)
        if not isinstance(node, ast.Name):
            return None
        base = self.kit.get(node.id) or self.modules.get(node.id)
        if base is None:
            return None
        return ".".join([base, *reversed(parts)])

    # bindings ---------------------------------------------------------------
    def _bind(self, name: str, node, value=None, dotted: str | None = None) -> None:
        """``name`` is bound to ``value`` (an expression) or to the module/object ``dotted``."""
        target = dotted if dotted is not None else (self.dotted(value) if value is not None else None)
        if self.function:
            return                                         # a local name, not the notebook's
        if name in self.kit and target != self.kit[name]:
            self.flag("rebinds-kit", node, f"binds `{name}`, the kit's `{self.kit[name]}`")
        if name in self.exercises and target and target.startswith("labkit.") \
                and (target in self.exercises[name] or target.rsplit(".", 1)[-1] == name):
            self.flag("calls-kit-implementation", node, f"`{name}` is `{target}`")

    def _target(self, target, node, value=None) -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, node, value, None if value is not None else "")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._target(t, node)
        elif isinstance(target, ast.Starred):
            self._target(target.value, node)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            where = self.dotted(target)
            if where and where.startswith("labkit"):
                self.flag("assigns-into-labkit", node, f"changes `{where}`")
            elif where and not _is_setting(target, where):
                self.flag("patches-module", node, f"changes `{where}`")
            base = target
            while isinstance(base, (ast.Attribute, ast.Subscript)):
                base = base.value
            if isinstance(base, ast.Name) and base.id == "__builtins__":
                self.flag("touches-builtins", node, "changes `__builtins__`")

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, node, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._target(node.target, node, node.value)
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._target(node.target, node, node.value)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_For(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node):
        for item in node.items:
            if item.optional_vars is not None:
                self._target(item.optional_vars, node)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node):
        if node.name:
            self._bind(node.name, node, dotted="")
        self.generic_visit(node)

    def visit_Import(self, node):
        for a in node.names:
            name = a.asname or a.name.split(".")[0]
            self._bind(name, node, dotted=a.name if a.asname else name)
            self._module_use(a.name, node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        for a in node.names:
            self._bind(a.asname or a.name, node, dotted=f"{module}.{a.name}")
            if module == "sys" and a.name == "modules":
                self.flag("touches-sys-modules", node, "imports `sys.modules`")
        self._module_use(module, node)

    def _module_use(self, module: str, node) -> None:
        top = module.split(".")[0]
        if top in ("builtins", "__builtin__"):
            self.flag("touches-builtins", node, f"imports `{module}`")
        elif top in _DYNAMIC_MODULES:
            kind = "touches-history" if top == "linecache" else "dynamic-code"
            self.flag(kind, node, f"imports `{module}`")

    def visit_FunctionDef(self, node):
        if self.classes and node.name in _FAKE_METHODS:
            self.flag("fakes-results", node, f"class `{self.classes[-1]}` defines `{node.name}`")
        self._bind(node.name, node, dotted="")
        self.function.append(node.name)
        for child in node.decorator_list + node.body:
            self.visit(child)
        for child in ast.walk(node.args):
            if isinstance(child, ast.expr):
                self.visit(child)
        self.function.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._bind(node.name, node, dotted="")
        self.classes.append(node.name)
        self.generic_visit(node)
        self.classes.pop()

    # uses -------------------------------------------------------------------
    def visit_Name(self, node):
        if node.id == "__builtins__":
            self.flag("touches-builtins", node, "uses `__builtins__`")
        elif _HISTORY_NAMES.match(node.id) and node.id not in ("__", "___") or node.id in ("In", "Out"):
            self.flag("touches-history", node, f"uses `{node.id}`")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        where = self.dotted(node)
        if where in ("sys.modules",) or (where or "").startswith("sys.modules."):
            self.flag("touches-sys-modules", node, "uses `sys.modules`")
        elif where and where.startswith("sys._getframe"):
            self.flag("dynamic-code", node, "uses `sys._getframe`")
        if node.attr in ("history_manager", "get_parent", "user_ns", "user_global_ns", "_ih", "_oh"):
            self.flag("touches-history", node, f"uses `.{node.attr}`")
        elif node.attr in _FRAME_ATTRS:
            self.flag("dynamic-code", node, f"uses `.{node.attr}`")
        if self.function and where and self.function[0] in self.exercises:
            name = self.function[0]
            if where in self.exercises[name] or (where.startswith("labkit.") and where.rsplit(".", 1)[-1] == name):
                self.flag("calls-kit-implementation", node, f"`{where}` inside `def {name}`")
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else None
        if name in _DYNAMIC_CALLS:
            self.flag("dynamic-code", node, f"calls `{name}()`")
        if name in ("setattr", "delattr") and node.args:
            where = self.dotted(node.args[0])
            if where and where.startswith("labkit"):
                self.flag("assigns-into-labkit", node, f"{name}(`{where}`, ...)")
            elif where:
                self.flag("patches-module", node, f"{name}(`{where}`, ...)")
            elif len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                self.flag("dynamic-code", node, f"{name}() with a computed name")
        if name == "getattr" and len(node.args) > 1 and self.dotted(node.args[0]) \
                and not isinstance(node.args[1], ast.Constant):
            self.flag("dynamic-code", node, "getattr() on a module with a computed name")
        if name == "get_ipython" or (isinstance(func, ast.Attribute) and func.attr in ("run_line_magic",
                                                                                       "run_cell_magic")):
            if any(isinstance(a, ast.Constant) and str(a.value).startswith(("history", "hist", "recall", "rerun"))
                   for a in node.args):
                self.flag("touches-history", node, "runs the %history magic")
        for arg in node.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.startswith("labkit.") \
                    and isinstance(func, ast.Attribute) and func.attr in ("patch", "setattr", "object"):
                self.flag("assigns-into-labkit", node, f"patches `{arg.value}`")
        self.generic_visit(node)


def scan(submission, solution, *, student_cells=None) -> list[Flag]:
    """The flags of a submission's code.

    ``student_cells``: indices of the cells to read (default: every code cell
    without nbgrader metadata or with ``solution: true``: the cells the student wrote).
    """
    kit = {"labkit": "labkit", **{k: v for k, v in kit_bindings(solution).items() if v.startswith("labkit")}}
    modules = {k: v for k, v in kit_bindings(solution).items() if not v.startswith("labkit")}
    exercises = exercise_functions(solution)
    flags: list[Flag] = []
    cells = submission.cells
    indices = student_cells if student_cells is not None else [
        i for i, c in enumerate(cells) if c.cell_type == "code"
        and (not nbgrader(c) or nbgrader(c).get("solution"))]
    for index in indices:
        source = cells[index].source
        if _HISTORY_MAGIC.search(source):
            flags.append(Flag("touches-history", index, 0, "uses the %history magic"))
        tree = _parse(source)
        if tree is None:
            continue
        own = dict(modules)
        for node in ast.walk(tree):                       # the cell's own imports count too
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.asname:
                        (kit if a.name.startswith("labkit") else own)[a.asname] = a.name
                    else:
                        (kit if a.name.startswith("labkit") else own)[a.name.split(".")[0]] = a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("labkit"):
                for a in node.names:
                    kit.setdefault(a.asname or a.name, f"{node.module}.{a.name}")
        scanner = _Scanner(index, kit, own, exercises)
        scanner.visit(tree)
        flags += scanner.flags
    return list(dict.fromkeys(flags))
