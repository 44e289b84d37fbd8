"""The architecture holds: every labkit module sits on one floor and imports only from floors below.

``FLOORS`` is the one declared map (CONTRIBUTING.md explains it). Imports
are read from the source (module level and inside functions alike), so a
local import cannot hide an upward arrow or a circle. A new module must be
given a floor here before its tests pass.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"

# Bottom first. The library a student reads, then the course machinery a tutor runs.
FLOORS: list[tuple[str, ...]] = [
    # --- the library -------------------------------------------------------------
    ("labkit", "validate", "device"),            # package docstring; input validation; where work runs
    ("forward",),                                # the compile cache, batched prediction
    ("layers",),                                 # finding layers, every Keras graph detail, feature models
    ("targets", "objectives"),                   # which class is explained; which unit is maximised
    ("toyworld",),                               # the procedural toy world
    ("datasets",),                               # digits, photos, the loan table (+ the toy world's names)
    ("zoo",),                                    # trained models
    ("occlusion", "gradients", "cam", "lime_shap",   # the methods: they do not import each other
     "ascent", "units", "tcav", "distill"),
    ("fairness",),                               # fairness tests on top of distill's predictions
    ("metrics",),                                # scoring explanations
    ("plot._base",),
    ("plot.images", "plot.attribution", "plot.featureviz", "plot.concepts", "plot.distill"),
    ("plot.figures",),
    ("plot",),
    ("plot.__main__",),                          # python -m labkit.plot: make figures
    ("widgets",),
    # --- the course machinery ----------------------------------------------------
    ("checks.engine", "checks.claims"),
    CHECK_MODULES := ("checks.nb00_start_here", "checks.nb01_feature_visualization",
                      "checks.nb02_feature_attribution", "checks.nb03_concepts",
                      "checks.nb04_distillation_and_fairness", "checks.nb05_debug_the_tank_detector"),
    ("checks",),
    ("cells",),                                  # which names a cell sets and reads (skipping cells)
    ("release",),
    GRADING := ("sandbox", "guard", "gradebook", "submission", "scan"),   # the grader's parts
    ("feedback", "runner"),
    ("grade",),
]
COURSE = {"checks.engine", "checks.claims", *CHECK_MODULES, "checks", "cells", "release", *GRADING,
          "feedback", "runner", "grade"}
FLOOR = {name: i for i, names in enumerate(FLOORS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts) or "labkit"


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _known(dotted: str) -> str | None:
    """The declared module an import of ``labkit.<dotted>`` refers to (longest match)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in FLOOR:
            return ".".join(parts[:end])
    return None


def _imports(name: str, path: Path) -> set[str]:
    """The labkit modules ``name`` imports, anywhere in its source.

    ``from labkit.pkg import sub`` counts as an import of ``pkg.sub`` alone when
    ``sub`` is a module (Python runs the package's ``__init__`` first, but that
    is how every package works); ``from labkit.pkg import thing`` counts as ``pkg``.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                base = package.split(".") if package else []
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(["labkit", *base, *([module] if module else [])])
            targets = []
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                inner = sub.removeprefix("labkit.")
                targets.append(sub if sub.startswith("labkit.") and inner in FLOOR else module)
        else:
            continue
        for target in targets:
            if target == "labkit" or target.startswith("labkit."):
                inner = target.removeprefix("labkit").lstrip(".")
                module = _known(inner) if inner else "labkit"
                if module is not None and module != name:
                    found.add(module)
    return found


def test_every_module_has_a_floor():
    missing = sorted(set(MODULES) - set(FLOOR))
    assert not missing, f"give these modules a floor in tests/test_layering.py FLOORS: {missing}"
    stale = sorted(set(FLOOR) - set(MODULES))
    assert not stale, f"FLOORS names modules that do not exist: {stale}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_only_go_down(name):
    if name not in FLOOR:
        pytest.skip("no floor (reported by test_every_module_has_a_floor)")
    upward = sorted(m for m in _imports(name, MODULES[name]) if FLOOR[m] >= FLOOR[name])
    assert not upward, (f"labkit.{name} (floor {FLOOR[name]}) imports {upward} "
                        f"(floors {[FLOOR[m] for m in upward]}): imports must go down, see CONTRIBUTING.md")


def test_the_library_never_imports_the_course_machinery():
    for name in MODULES:
        if name in FLOOR and name not in COURSE:
            assert not _imports(name, MODULES[name]) & COURSE, name


def test_the_import_reader_sees_local_and_relative_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from . import plot\nfrom .layers import feature_model\n"
                      "def f():\n    from labkit.checks import engine\n    import labkit.zoo\n")
    assert _imports("metrics", source) == {"plot", "layers", "checks.engine", "zoo"}
