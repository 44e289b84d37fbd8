"""The notebooks as files: solutions saved clean, notebooks/ exactly what release writes.

Executing the solution notebooks end to end is nbval's job: ``make test``
runs ``pytest --nbval-lax solutions/`` (every code cell a test item, one
kernel per notebook, a per-cell timeout; the slowest cells are reported by
the repository's ``conftest.py``). To look at an executed notebook's
figures: ``jupyter nbconvert --to notebook --execute solutions/NN_x.ipynb
--output-dir /tmp/executed``.
"""

import os
import subprocess
import sys

from labkit import release
from labkit.release import read_notebook

NOTEBOOKS = sorted(release.SOLUTIONS.glob("*.ipynb"))


def test_solutions_have_no_saved_outputs():
    unclean = [p.name for p in NOTEBOOKS if not release._is_clean(read_notebook(p))]
    assert not unclean, f"{unclean} saved with outputs: run `python -m labkit.release --clean-solutions`"


def test_release_check_passes():
    done = subprocess.run([sys.executable, "-m", "labkit.release", "--check"], capture_output=True, text=True,
                          cwd=release.ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert done.returncode == 0, f"notebooks/ is out of date; run `make release`\n{done.stdout}{done.stderr}"
