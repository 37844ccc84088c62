# Two commands: `make demo` runs Medic on embedded defaults; `make test` runs every check.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck pytest bench clean

$(BIN)/medic: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.dev: pyproject.toml examples/medic-echo/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -e examples/medic-echo  # the example integration, tested installed
	@touch $@

demo: $(BIN)/medic
	$(BIN)/medic serve --config deploy/demo.yaml

test: $(VENV)/.dev
	bash scripts/install-test-deps.sh
	bash scripts/kube-testenv.sh build
	$(BIN)/ruff check bot responders tests bench scripts examples
	$(BIN)/ruff format --check bot responders tests bench scripts examples
	$(BIN)/mypy --strict bot responders examples/medic-echo/medic_echo
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

bench: $(VENV)/.dev
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/cost.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/latency.py --store postgresql
	$(BIN)/python bench/incidents_rss.py
	$(BIN)/python bench/incidents_rss.py --store postgresql
	$(BIN)/python bench/slack_storm.py
	$(BIN)/python bench/replicas.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache medic.db medic.db-*
