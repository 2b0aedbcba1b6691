# Two commands do all the set-up: `make up` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: up down test install bench demo screenshots clean-var

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is needed"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(PY) -m services.local up

down:
	@test -x $(PY) && $(PY) -m services.local down || echo "nothing to stop (no .venv)"

test: $(STAMP)
	$(PY) -m mypy services
	$(PY) -m services.local ensure-broker
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run

demo: $(STAMP)
	$(VENV)/bin/coalition demo load

# docs/screenshots/*.png: the main pages on a stack of its own with the demo
# loaded, in Debian's Chromium (apt-get install chromium)
screenshots: $(STAMP)
	$(PY) -m tests.browser.screenshots
