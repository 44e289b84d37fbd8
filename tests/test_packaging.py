"""Set-up a newcomer can trust: pins in sync, the two commands present, CI calls make test."""
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_pins(extras=("dev", "browser")):
    """The core pins and those of ``extras`` (the extras that environment.yml mirrors; not gpu)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = project["dependencies"] + [p for extra in extras for p in project["optional-dependencies"][extra]]
    return {re.split(r"[=<>\[]", p, maxsplit=1)[0].lower(): p for p in pins}


def _environment_pins():
    pins = {}
    for line in (ROOT / "environment.yml").read_text().splitlines():
        match = re.match(r"\s+- ([A-Za-z0-9_.\-]+==\S+)\s*$", line)
        if match:
            pins[match.group(1).split("==")[0].lower()] = match.group(1)
    return pins


def test_every_dependency_is_pinned_exactly():
    for name, pin in _pyproject_pins().items():
        assert "==" in pin, f"{pin} in pyproject.toml is not pinned with =="


def test_environment_yml_has_the_same_pins_as_pyproject():
    assert _environment_pins() == _pyproject_pins()


def test_tensorflow_only_never_tensorflow_cpu():
    text = (ROOT / "pyproject.toml").read_text() + (ROOT / "environment.yml").read_text()
    assert "tensorflow-cpu" not in text


def test_readme_opens_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert "make lab" in first_block and "make test" in first_block
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "-m venv" in makefile and "pip install" in makefile


def test_ci_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
    assert "make browser-deps" in ci.split("make test")[0], "CI installs the browser test's needs first"


def test_installed_versions_match_the_pins():
    from importlib.metadata import PackageNotFoundError, version
    optional = _pyproject_pins(extras=("browser",)).keys() - _pyproject_pins(extras=()).keys()
    for name, pin in _pyproject_pins().items():
        try:
            installed = version(name)
        except PackageNotFoundError:
            if name in optional:        # only `make browser-deps` installs the browser extra
                continue
            raise
        assert installed == pin.split("==")[1], name
