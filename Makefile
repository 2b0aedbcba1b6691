# Two commands do all the set-up: `make up` and `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# checkov, in a venv of its own (its dependencies conflict with ours), for
# the offline checks of deploy/k8s (tests/unit/test_k8s_manifests.py)
TOOLS := $(VENV)/tools
TOOLS_STAMP := $(TOOLS)/.installed

.PHONY: up down test test-cluster install tools bench demo screenshots clean-var

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (3.11+) is needed"; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

$(TOOLS_STAMP): deploy/k8s/checkov-requirements.txt
	@test -x $(TOOLS)/bin/python || python3 -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet -r deploy/k8s/checkov-requirements.txt
	@touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP)

up: $(STAMP)
	$(PY) -m services.local up

down:
	@test -x $(PY) && $(PY) -m services.local down || echo "nothing to stop (no .venv)"

# everything but the three-node broker cluster (tests/cluster: make test-cluster)
test: $(STAMP) $(TOOLS_STAMP)
	$(PY) -m mypy services
	$(PY) -m services.local ensure-broker
	$(PY) -m pytest --ignore=tests/cluster $(PYTEST_ARGS)

# a RabbitMQ cluster of three nodes of its own, killed and brought back under load
test-cluster: $(STAMP)
	$(PY) -m pytest tests/cluster $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.run

demo: $(STAMP)
	$(VENV)/bin/coalition demo load

# docs/screenshots/*.png: the main pages on a stack of its own with the demo
# loaded, in Debian's Chromium (apt-get install chromium)
screenshots: $(STAMP)
	$(PY) -m tests.browser.screenshots
