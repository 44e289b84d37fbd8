# labkit: `make lab` to work, `make test` to check everything.
# The first use creates .venv and installs the package with its pinned
# dependencies; later uses reuse it (re-installed when pyproject.toml changes).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
# JupyterLab refuses to start as root (Docker images, cloud VMs, CI) unless told.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
LAB_ARGS ?=
# The solution notebooks run through nbval: each code cell a test, one kernel
# per notebook, NBVAL_TIMEOUT seconds at most per cell.
NBVAL_TIMEOUT := 120
NBVAL := --nbval-lax --nbval-current-env --nbval-cell-timeout=$(NBVAL_TIMEOUT) --nbval-kernel-startup-timeout=120
PYTEST := $(BIN)/python -m pytest

.PHONY: lab test test-fast test-browser browser-deps sandbox-deps train bench figures release clean help

help:
	@echo "make lab      set up .venv and open JupyterLab on notebooks/"
	@echo "make test     set up .venv and run the whole test suite (unit tests, notebooks, grading, browser)"
	@echo "make test-fast  the unit tests alone (a few minutes): no notebooks, grading runs or browser"
	@echo "make test-browser  install Chromium + Playwright, run the notebooks in JupyterLab in headless Chromium"
	@echo "make sandbox-deps  install bubblewrap, the grader's sandbox (apt-get)"
	@echo "make train    retrain every zoo model (data/models, ~10 min on 2 CPU cores)"
	@echo "make bench    speed of each method against its floor and peer libraries"
	@echo "make figures  pictures of the toy world in figures/"
	@echo "make release  write notebooks/ from solutions/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(LAB_ARGS)

test: $(STAMP)
	@test -x $(CHROMIUM) && $(BIN)/python -c "import playwright" 2>/dev/null || echo "make test: \
	tests/test_browser.py will be SKIPPED (no $(CHROMIUM) or no playwright); make browser-deps installs them"
	@$(BIN)/python -c "from labkit.sandbox import unavailable as u; r = u(); r and print( \
	f'make test: tests/test_sandbox.py will be SKIPPED (no grading sandbox: {r}); make sandbox-deps installs bubblewrap')"
	$(PYTEST) -q tests solutions $(NBVAL)

# Unit tests only: everything but executing notebooks, grading whole submissions,
# starting JupyterLab and driving the browser.
SLOW_TESTS := tests/test_grade.py tests/test_grade_cheating.py tests/test_grade_skip.py tests/test_sandbox.py \
	tests/test_browser.py tests/test_lab.py
test-fast: $(STAMP)
	$(PYTEST) -q tests $(addprefix --ignore=,$(SLOW_TESTS))

# The browser test drives JupyterLab in Debian's Chromium (never a browser that
# a test tool downloads); apt-get needs root or sudo.
CHROMIUM := /usr/bin/chromium
SUDO     := $(if $(filter 0,$(shell id -u)),,sudo)

browser-deps: $(STAMP)
	@test -x $(CHROMIUM) -a -x /usr/bin/chromedriver || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver; }
	$(BIN)/python -m pip install --quiet -e '.[dev,browser]'

# The grader runs each submission in a bubblewrap sandbox (labkit/sandbox.py); without
# bwrap it grades unsandboxed, with a loud warning, and tests/test_sandbox.py is skipped.
sandbox-deps:
	@command -v bwrap >/dev/null || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq bubblewrap; }

test-browser: browser-deps
	$(PYTEST) -q tests/test_browser.py

train: $(STAMP)
	$(BIN)/python -m labkit.zoo train

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

figures: $(STAMP)
	$(BIN)/python -m labkit.plot figures/

release: $(STAMP)
	$(BIN)/python -m labkit.release

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
