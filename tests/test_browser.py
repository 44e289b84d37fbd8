"""The lab in a real browser: the student notebooks in JupyterLab, in headless Chromium.

JupyterLab is started from the running Python (the kit's ``.venv``) on a free
loopback port with a random token, on a temporary copy of ``notebooks/`` and
with temporary Jupyter config, settings and workspace directories, so nothing
in the repository or in ``~`` is read or written. Debian's Chromium
(``/usr/bin/chromium``) is driven by Playwright; no browser is downloaded.

Each test opens a student notebook, runs every cell from the top as a student
does (Shift+Enter, one cell after the other: JupyterLab's "Run All" would stop
at the first unfinished exercise), saves it, and checks

- that every cell meant to run in the student version (see
  ``cells_that_need_the_exercises``) ran without an error, read back from
  the saved notebook through the server's contents API, and that every check
  cell fails on the student's ``NotImplementedError``;
- that no widget failed to render ("Error displaying widget", a missing
  widget extension, a model not found, a widget stuck on "Loading widget...");
- that moving a control of the explorer (the patch slider of 02's occlusion
  explorer, the layer chooser of 01's layer explorer) changes the picture.

Screenshots of the explorer before and after go to ``tests/browser_screenshots/``
(and one of the whole page when a test fails). ``make test-browser`` installs
Chromium and Playwright and runs this file; without them it is skipped.
"""
import ast
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

try:
    from playwright import sync_api
except ImportError:          # skipped below: `make test-browser` installs it
    sync_api = None

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(__file__).resolve().parent / "browser_screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]
CELL_TIMEOUT = 120          # seconds, as NBVAL_TIMEOUT in the Makefile
START_TIMEOUT = 120         # JupyterLab up, notebook open, kernel idle
UPDATE_TIMEOUT = 60         # an explorer redraws after a control moved
# what JupyterLab's widget manager shows instead of a widget (jupyterlab_widgets' messages)
WIDGET_ERRORS = ("Error displaying widget", "widget model not found", "Failed to load model class",
                 "Failed to load view class", "not found in module", "Loading widget...")


# --------------------------------------------------------------------------
# which cells must run before the exercises are done
def _names(node, kind) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, kind)}


def _defined(statement) -> set:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {statement.name}
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in statement.names}
    return _names(statement, ast.Store)


def cells_that_need_the_exercises(nb: dict) -> set:
    """Indices of the code cells that fail in the student version until its exercises are done.

    A function whose body raises ``NotImplementedError`` (the released
    exercise stub), or calls such a function, is unfinished. Top-level
    statements run in order: the first one that uses an unfinished function,
    or a name that an earlier failing statement would have set, fails its
    cell, and every name that it and the rest of that cell would set is then
    missing too (a later successful assignment makes a name usable again).
    The check cells fail this way; every other code cell is *meant to run*.
    """
    missing, failing = set(), set()
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        failed = False
        for statement in ast.parse("".join(cell["source"])).body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                stub = any(isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)
                           for n in ast.walk(statement))
                if stub or _names(statement, ast.Load) & missing:
                    missing.add(statement.name)
                else:
                    missing.discard(statement.name)
                continue
            failed = failed or bool((_names(statement, ast.Load) - _names(statement, ast.Store)) & missing)
            missing = missing | _defined(statement) if failed else missing - _defined(statement)
        if failed:
            failing.add(index)
    return failing


def test_cells_that_need_the_exercises_follows_names_through_cells():
    def code(source):
        return {"cell_type": "code", "source": source}
    nb = {"cells": [code("import numpy as np\ndef mine(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"),
                    code("checks.check_mine(mine)"),                       # 1: the check cell
                    code("a = np.ones(3)\nb = mine(a)\nc = 2"),             # 2: a is set, b and c are not
                    code("print(a.sum())"),                                 # 3: runs
                    code("print(c)"),                                       # 4: c was never set
                    code("c = 3\nprint(c)"),                                # 5: c set again: runs
                    code("def twice(x):\n    return 2 * mine(x)"),          # 6: a definition runs ...
                    code("twice(a)"),                                       # 7: ... a call does not
                    {"cell_type": "markdown", "source": "mine(a)"}]}
    assert cells_that_need_the_exercises(nb) == {1, 2, 4, 7}


# --------------------------------------------------------------------------
# JupyterLab and Chromium
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server on 127.0.0.1 serving a temporary copy of notebooks/."""

    def __init__(self, tmp: Path):
        self.root, config = tmp / "notebooks", tmp / "jupyter"
        shutil.copytree(ROOT / "notebooks", self.root)
        settings = config / "lab-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)            # no news or update prompts
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        self.port, self.token = _free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        # conftest's MPLBACKEND=Agg would keep the kernel's figures out of the notebook
        env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "MPLBACKEND"))}
        env.update(TF_CPP_MIN_LOG_LEVEL="2", IPYTHONDIR=str(config / "ipython"),
                   JUPYTER_CONFIG_DIR=str(config / "config"), JUPYTER_DATA_DIR=str(config / "data"),
                   JUPYTER_RUNTIME_DIR=str(config / "runtime"),
                   JUPYTERLAB_SETTINGS_DIR=str(config / "lab-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(config / "workspaces"))
        self.log_path = tmp / "jupyterlab.log"
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
             "--ServerApp.allow_root=True", "--ServerApp.terminals_enabled=False", "--LabApp.news_url=None",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=self.root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def wait_until_up(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                return self.api("status")
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not start; its log:\n{self.log_path.read_text()[-3000:]}")

    def shut_down_kernels(self):
        for kernel in self.api("kernels"):
            self.api(f"kernels/{kernel['id']}", method="DELETE")

    def stop(self):
        try:
            if self.process.poll() is None:
                self.shut_down_kernels()
        except OSError:
            pass
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(10)
            self.log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("lab"))
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    for missing, what in ((not CHROMIUM.exists(), f"no {CHROMIUM}"), (sync_api is None, "no playwright package")):
        if missing:
            pytest.skip(f"browser test skipped: {what} (`make test-browser` installs Chromium and Playwright)")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            tmp_path_factory.mktemp("chromium-profile"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1400, "height": 2000})
        try:
            yield context
        finally:
            context.close()


# --------------------------------------------------------------------------
# driving JupyterLab as a student does
def kernel_status(page, name: str):
    """The status bar's "Python 3 (ipykernel) | Idle" for the notebook ``name``."""
    return page.locator(f".jp-StatusBar-TextItem[title='Change kernel for {name}']")


def open_notebook(page, lab: Lab, name: str):
    """Open ``name`` in a fresh workspace; returns its cells once they are shown and its kernel is idle."""
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    cells = page.locator(".jp-NotebookPanel .jp-Notebook-cell")
    count = len(json.loads((lab.root / name).read_text())["cells"])
    sync_api.expect(cells).to_have_count(count, timeout=START_TIMEOUT * 1000)
    sync_api.expect(kernel_status(page, name)).to_have_text(re.compile(r"\| Idle$"), timeout=START_TIMEOUT * 1000)
    return cells


def run_every_cell(page, cells) -> None:
    """Shift+Enter on every cell from the top, each after the one before has finished."""
    count = cells.count()
    cells.first.locator(".jp-InputPrompt").click()
    for i in range(count):
        cell = cells.nth(i)
        sync_api.expect(cell).to_have_class(re.compile(r"\bjp-mod-active\b"))
        page.keyboard.press("Shift+Enter" if i < count - 1 else "Control+Enter")   # no new cell at the end
        if "jp-CodeCell" in (cell.get_attribute("class") or ""):
            sync_api.expect(cell.locator(".jp-InputPrompt").first).to_have_text(
                re.compile(r"^\[\d+\]:$"), timeout=CELL_TIMEOUT * 1000)


def save_and_read(page, lab: Lab, name: str) -> dict:
    """Save from the browser (Ctrl+S) and read the notebook back through the server."""
    page.keyboard.press("Control+s")
    sync_api.expect(page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")).to_have_count(0)
    return lab.api(f"contents/{name}?content=1&type=notebook")["content"]


def check_cells(name: str, saved: dict) -> None:
    """Cells meant to run ran without an error; check cells say "not attempted"."""
    student = json.loads((ROOT / "notebooks" / name).read_text())
    need_exercises = cells_that_need_the_exercises(student)
    assert len(saved["cells"]) == len(student["cells"]), "running the notebook added or removed cells"
    problems = []
    for i, cell in enumerate(saved["cells"]):
        if cell["cell_type"] != "code":
            continue
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        first_line = "".join(cell["source"]).strip().splitlines()[0][:60]
        if i not in need_exercises and (cell["execution_count"] is None or errors):
            error = f"{errors[0]['ename']}: {errors[0]['evalue'][:200]}" if errors else "did not run"
            problems.append(f"cell {i} ({first_line}) is meant to run but: {error}")
        if cell["metadata"].get("nbgrader", {}).get("grade") and not any(
                e["ename"] == "NotImplementedError" or "not attempted" in e["evalue"] for e in errors):
            problems.append(f"check cell {i} ({first_line}) did not report 'not attempted'")
    assert not problems, f"{name}:\n" + "\n".join(problems)


def check_widgets_render(page) -> None:
    """No widget shows an error or is still loading, and JupyterLab shows no dialog (kernel died, ...)."""
    notebook = page.locator(".jp-Notebook")
    for text in WIDGET_ERRORS:
        sync_api.expect(notebook).not_to_contain_text(text, timeout=UPDATE_TIMEOUT * 1000)
    sync_api.expect(notebook.locator(".jupyter-widgets-error-widget")).to_have_count(0)
    sync_api.expect(page.locator(".jp-Dialog")).to_have_count(0)


def picture_digest(picture) -> str:
    """SHA-256 of the PNG that an <img> shows (after checking that it shows one)."""
    return picture.evaluate("""async img => {
        if (!img.complete || img.naturalWidth === 0) return null;
        const bytes = await (await fetch(img.src)).arrayBuffer();
        const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        return Array.from(hash, b => b.toString(16).padStart(2, "0")).join("");
    }""")


def wait_for_new_picture(page, picture, old_src: str) -> None:
    page.wait_for_function("([img, old]) => img.src !== old && img.complete && img.naturalWidth > 0",
                           arg=[picture.element_handle(), old_src], timeout=UPDATE_TIMEOUT * 1000)


@pytest.fixture
def page(browser, lab, request):
    page = browser.new_page()
    page.set_default_timeout(30_000)
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        if request.session.testsfailed > failed_before:   # the call has been reported by now
            SHOTS.mkdir(exist_ok=True)
            page.screenshot(path=SHOTS / f"{request.node.name}_failure.png")
        page.close()
        lab.shut_down_kernels()


def explore(page, lab, name: str, title: str):
    """Open and run a student notebook, check it, and return its explorer's output and picture."""
    cells = open_notebook(page, lab, name)
    run_every_cell(page, cells)
    sync_api.expect(kernel_status(page, name)).to_have_text(re.compile(r"\| Idle$"))
    check_cells(name, save_and_read(page, lab, name))
    check_widgets_render(page)
    explorer = page.locator(".jp-OutputArea-output", has_text=title)
    sync_api.expect(explorer).to_have_count(1)
    picture = explorer.locator("img")
    sync_api.expect(picture).to_have_count(1)
    return explorer, picture


def check_redraw(page, explorer, picture, shot: str, move) -> None:
    """Screenshot the explorer, ``move()`` one of its controls, and check that its picture changed."""
    SHOTS.mkdir(exist_ok=True)
    explorer.screenshot(path=SHOTS / f"{shot}_before.png")
    before, src = picture_digest(picture), picture.get_attribute("src")
    assert before is not None, f"{shot}: the explorer shows no picture"
    move()
    wait_for_new_picture(page, picture, src)
    explorer.screenshot(path=SHOTS / f"{shot}_after.png")
    assert picture_digest(picture) not in (None, before)
    sync_api.expect(explorer).not_to_contain_text("could not update")    # the explorer's own error line
    check_widgets_render(page)


@pytest.mark.browser
def test_occlusion_explorer_patch_slider_redraws_the_heatmap(page, lab):
    explorer, picture = explore(page, lab, "02_feature_attribution.ipynb", "Occlusion: cover a patch")
    slider = explorer.locator(".widget-slider", has=page.locator("label", has_text=re.compile("^patch$")))

    def one_step_right():
        sync_api.expect(slider.locator(".widget-readout")).to_have_text("12")
        slider.locator(".noUi-handle").focus()
        page.keyboard.press("ArrowRight")
        sync_api.expect(slider.locator(".widget-readout")).to_have_text("13")

    check_redraw(page, explorer, picture, "02_occlusion", one_step_right)


@pytest.mark.browser
def test_layer_explorer_layer_chooser_redraws_the_activations(page, lab):
    explorer, picture = explore(page, lab, "01_feature_visualization.ipynb", "Activations: forward one image")
    select = explorer.locator(".widget-dropdown", has=page.locator("label", has_text=re.compile("^layer$"))).locator(
        "select")

    def conv1_to_conv2():
        layers = select.locator("option").all_inner_texts()
        assert select.input_value() == "conv1" and "conv2" in layers, layers
        select.select_option("conv2")

    check_redraw(page, explorer, picture, "01_layers", conv1_to_conv2)
