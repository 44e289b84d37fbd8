"""The grader's agent inside a submission's kernel: checks the notebook cannot switch off.

:mod:`labkit.grade` never imports this module in the kernel (a student's
cell could then change it): it sends this file's source, which the kernel
executes once, before the first cell of the notebook, into a namespace of its
own. :func:`install` then

1. imports the kit (``labkit.checks`` and the modules the solution imports),
   so the kernel starts with the kit loaded;
2. loads a **private copy** of the ``labkit.checks`` package from its files
   (its own module objects, in no ``sys.modules`` entry, reachable from no
   name of the notebook): the check cells call it, never the notebook's
   ``checks``;
3. takes a **snapshot** of every ``labkit`` module, of numpy and of the
   builtins: each function, class and constant, each function's code and
   defaults, each ``sys.modules`` entry;
4. puts the runner (a :class:`Runner`) into the notebook's namespace under a
   random name, which the grader uses to run each graded check cell.

:meth:`Runner.run` executes one check cell (its visible checks and its
hidden tests) after putting back everything the notebook replaced since the
snapshot (and recording what it was), in a namespace where ``checks`` is the
private copy and the solution's module names (``np``, ``gradients``, ...)
are the real modules. The cell's source goes through no history: the grader
sends it with ``store_history=False``, the runner drops it from ``linecache``
and clears ``sys.last_traceback``, so a later cell finds neither ``In``/``Out``
entries nor frames of the hidden tests. A failure is re-raised as a fresh
exception without the hidden code in its traceback.

What this cannot do: Python gives code in a process power over everything in
it, so a student's function that is *running inside* a check can inspect the
check's frames, and code that reaches the private copy through ``gc`` or
``ctypes`` can change it. :mod:`labkit.scan` flags such code for the tutor.
"""
from __future__ import annotations

__all__ = ["install", "Runner", "PROTECTED_MODULES"]

PROTECTED_MODULES = ("builtins", "numpy", "numpy.testing", "numpy.linalg", "numpy.random", "math", "operator",
                     "functools")
_PLAIN = (bool, int, float, complex, str, bytes, tuple, frozenset, type(None))


def _snapshot_module(module) -> dict:
    """{name: value} of what a module offers: its functions, classes, submodules and public constants.

    Left out: private plain values (``_SUMMARY``: a module may update its own
    state) and, in the builtins, the names IPython manages (``_``, ``exit``, ...).
    """
    import types
    builtins = module.__name__ == "builtins"
    kept = {}
    for name, value in list(vars(module).items()):
        if builtins and (name.startswith("_") and name not in ("__import__", "__build_class__")
                         or not isinstance(value, (types.BuiltinFunctionType, type))):
            continue
        if isinstance(value, _PLAIN) and (name.startswith("_") or builtins):
            continue
        if isinstance(value, (types.FunctionType, types.BuiltinFunctionType, type, types.ModuleType, _PLAIN)) \
                or callable(value):
            kept[name] = value
    return kept


def _function_state(function) -> tuple:
    return function.__code__, function.__defaults__, function.__kwdefaults__


class Runner:
    """Runs graded check cells against the private checks, after restoring what the notebook changed."""

    def __init__(self, shell, private_checks, modules: dict, imports: dict):
        import sys
        import types
        self._shell = shell
        self._private = private_checks
        self._imports = imports                      # {name in the notebook: module object}
        self._modules = {name: (module, _snapshot_module(module)) for name, module in modules.items()}
        self._entries = {name: module for name, module in modules.items()}
        self._functions = {}
        self._classes = {}
        for name, (module, items) in self._modules.items():
            if not name.startswith("labkit"):
                continue
            for attr, value in items.items():
                if isinstance(value, types.FunctionType) and value.__module__ == name:
                    self._functions[f"{name}.{attr}"] = (value, _function_state(value))
                elif isinstance(value, type) and value.__module__ == name:
                    self._classes[f"{name}.{attr}"] = (value, dict(vars(value)))
                    for key, member in vars(value).items():
                        if isinstance(member, types.FunctionType):
                            self._functions[f"{name}.{attr}.{key}"] = (member, _function_state(member))
        self._sys = sys
        self._restored: list[str] = []
        self._kit_root = None
        if "labkit" in modules and getattr(modules["labkit"], "__file__", None):
            import os
            self._kit_root = os.path.dirname(os.path.abspath(modules["labkit"].__file__))

    # ----------------------------------------------------------------------
    def restore(self) -> list[str]:
        """Put back every module entry, attribute, function body and class member changed since install."""
        sys = self._sys
        restored = []
        for name, module in self._entries.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                restored.append(f"sys.modules[{name!r}]")
        for name in [n for n in list(sys.modules) if n == "labkit" or n.startswith("labkit.")]:
            if name not in self._entries and not self._genuine(sys.modules[name]):
                del sys.modules[name]
                restored.append(f"sys.modules[{name!r}]")
        for name, (module, items) in self._modules.items():
            current = vars(module)
            for attr, value in items.items():
                if current.get(attr, _MISSING) is not value:
                    setattr(module, attr, value)
                    restored.append(f"{name}.{attr}")
        for name, (cls, members) in self._classes.items():
            for key in [k for k in list(vars(cls)) if k not in members]:
                try:
                    delattr(cls, key)
                    restored.append(f"{name}.{key}")
                except (AttributeError, TypeError):
                    pass
            for key, member in members.items():
                if vars(cls).get(key, _MISSING) is not member:
                    try:
                        setattr(cls, key, member)
                        restored.append(f"{name}.{key}")
                    except (AttributeError, TypeError):
                        pass
        for name, (function, state) in self._functions.items():
            if _function_state(function) != state:
                function.__code__, function.__defaults__, function.__kwdefaults__ = state
                restored.append(f"{name} (its code)")
        self._restored += [r for r in restored if r not in self._restored]
        return restored

    def _genuine(self, module) -> bool:
        """A labkit module imported from the kit's own files (not one the notebook made up)."""
        import os
        origin = getattr(getattr(module, "__spec__", None), "origin", None) or ""
        path = getattr(module, "__file__", None) or ""
        return bool(self._kit_root and origin and os.path.abspath(path) == os.path.abspath(origin)
                    and os.path.abspath(origin).startswith(self._kit_root + os.sep))

    def _forget_this_cell(self) -> None:
        """Drop the running cell's source (it holds the hidden tests) from linecache and IPython's records."""
        import linecache
        marker = getattr(self, "_name", "\0")
        for key, entry in list(linecache.cache.items()):
            lines = entry[2] if isinstance(entry, tuple) and len(entry) > 2 else None
            if lines and any(marker in line for line in lines[:3]):
                linecache.cache.pop(key, None)
        result = getattr(self._shell.displayhook, "exec_result", None)
        info = getattr(result, "info", None)
        if info is not None:
            info.raw_cell = info.transformed_cell = ""

    def report(self) -> list[str]:
        """What :meth:`restore` found changed, over the whole notebook (for the tutor's flags column)."""
        return list(self._restored)

    # ----------------------------------------------------------------------
    def run(self, source: str, grade_id: str) -> None:
        """Run one check cell; raise a clean exception (name and message only) if it fails."""
        sys = self._sys
        self._forget_this_cell()
        self.restore()
        user_ns = self._shell.user_ns
        namespace = dict(user_ns)
        namespace.update(self._imports)
        namespace["checks"] = self._private
        namespace["__builtins__"] = self._modules["builtins"][0]
        protected = {*self._imports, "checks", "__builtins__"}
        failure = None
        try:
            code = compile(source, f"<check {grade_id}>", "exec")
            del source
            exec(code, namespace)
        except BaseException as err:  # noqa: B902 - a check may raise anything, even SystemExit
            failure = (_name_of(err), _text_of(err))
            del err
        finally:
            code = None
            sys.last_type = sys.last_value = sys.last_traceback = None
            for key, value in namespace.items():
                if key not in protected and (key not in user_ns or user_ns[key] is not value):
                    user_ns[key] = value
            namespace.clear()
        if failure is not None:
            raise _clean_exception(*failure) from None


_MISSING = object()


def _name_of(err: BaseException) -> str:
    name = type(err).__name__
    return name if isinstance(name, str) and name.isidentifier() else "Error"


def _text_of(err: BaseException) -> str:
    try:
        text = str(err)
    except Exception:  # a student's exception whose __str__ fails
        text = ""
    return text if isinstance(text, str) else ""


_CLASSES: dict = {}


def _clean_exception(name: str, text: str) -> BaseException:
    cls = _CLASSES.setdefault(name, type(name, (Exception,), {"__module__": "labkit.grade"}))
    return cls(text[:4000])


def _private_copy(package: str = "labkit.checks"):
    """A fresh copy of ``package`` and its submodules, loaded from their files, in no ``sys.modules`` entry."""
    import ast
    import importlib.abc
    import importlib.util
    import os
    import secrets
    import sys

    folder = importlib.util.find_spec(package).submodule_search_locations[0]
    alias = f"_labkit_private_{secrets.token_hex(8)}"

    class Rewrite(ast.NodeTransformer):
        def _swap(self, name):
            if name == package or (name or "").startswith(package + "."):
                return alias + name[len(package):]
            return name

        def visit_ImportFrom(self, node):
            node.module = self._swap(node.module)
            return node

        def visit_Import(self, node):
            for item in node.names:
                if item.name == package or item.name.startswith(package + "."):
                    raise ImportError(f"use 'from {package} import ...' in {package}")
            return node

    class Loader(importlib.abc.Loader):
        def __init__(self, path):
            self.path = path

        def create_module(self, spec):
            return None

        def exec_module(self, module):
            with open(self.path, encoding="utf-8") as f:
                tree = ast.fix_missing_locations(Rewrite().visit(ast.parse(f.read(), self.path)))
            exec(compile(tree, self.path, "exec"), vars(module))

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname != alias and not fullname.startswith(alias + "."):
                return None
            rest = fullname[len(alias):].lstrip(".")
            if not rest:
                return importlib.util.spec_from_loader(
                    fullname, Loader(os.path.join(folder, "__init__.py")), is_package=True)
            return importlib.util.spec_from_loader(fullname, Loader(os.path.join(folder, *rest.split(".")) + ".py"))

    finder = Finder()
    sys.meta_path.insert(0, finder)
    try:
        copy = importlib.import_module(alias)
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == alias or n.startswith(alias + ".")]:
            del sys.modules[name]
    return copy


def install(config: dict) -> None:
    """Prepare the kernel for grading (see the module docstring). Runs before any cell of the notebook.

    ``config``: ``name`` (the runner's name in the notebook's namespace),
    ``imports`` ({name: module} the solution binds with import statements),
    ``preload`` (more modules to import now).
    """
    import importlib
    import sys

    from IPython import get_ipython

    shell = get_ipython()
    imports = {}
    for module_name in config.get("preload", ()):
        try:
            importlib.import_module(module_name)
        except Exception:  # the notebook's own import will report it
            pass
    for name, module_name in config.get("imports", {}).items():
        try:
            imports[name] = importlib.import_module(module_name)
        except Exception:
            pass
    import labkit.checks  # noqa: F401  (the public package: what the notebook's own cells use)
    private = _private_copy("labkit.checks")
    modules = {n: m for n, m in list(sys.modules.items())
               if m is not None and (n == "labkit" or n.startswith("labkit.") or n in PROTECTED_MODULES)}
    runner = Runner(shell, private, modules, imports)
    runner._name = config["name"]
    shell.user_ns[config["name"]] = runner
    shell.user_ns_hidden[config["name"]] = runner      # %who and friends do not list it
