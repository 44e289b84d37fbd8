"""The README's first command works: ``make lab`` starts JupyterLab on notebooks/, also as root.

The test runs ``make lab`` itself (with ``LAB_ARGS`` adding a loopback port,
a random token and ``--no-browser``), waits for the server and asks its REST
API for the notebook list; then it stops the server and everything it started.
"""
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _contents(port: int, token: str) -> list[str] | None:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/contents/",
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return sorted(item["name"] for item in json.load(answer)["content"])
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_the_student_notebooks(tmp_path):
    port, token = _free_port(), secrets.token_hex(16)
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={token}"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}
    log = open(tmp_path / "lab.log", "w+")
    server = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, names = time.monotonic() + STARTUP_SECONDS, None
        while names is None and time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            names = _contents(port, token)
        log.seek(0)
        assert names is not None, f"`make lab` did not serve within {STARTUP_SECONDS} s:\n{log.read()[-3000:]}"
        expected = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
        assert expected and [n for n in names if n.endswith(".ipynb")] == expected
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
