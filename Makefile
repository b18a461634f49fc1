# Two entry points for a new user: `make demo` and `make test`. Both set up a local virtual
# environment on first use (torch pinned first via constraints.txt, then this package) and fetch
# the MediaPipe model files; later runs skip straight to the work.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= demo_output
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: demo test test-slow test-all setup models browser app clean-venv

demo: setup
	$(VENV)/bin/interanimate demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest

test-slow: setup browser
	$(PY) -m pytest -m slow || [ $$? -eq 5 ]  # 5 = no slow tests selected

test-all: setup browser
	$(PY) -m pytest -m ""

setup: $(STAMP) models

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24"
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[test,ray,app]"
	touch $(STAMP)

models: $(STAMP)
	$(VENV)/bin/interanimate assets fetch --quiet

# The app's browser test drives the system's Chromium (Debian's package); nothing downloads a browser build.
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium; }

app: setup
	$(VENV)/bin/interanimate app --root .

clean-venv:
	rm -rf $(VENV)
