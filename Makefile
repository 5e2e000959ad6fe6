# Two entry points for a fresh machine: `make run` (the app) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $(STAMP)

.PHONY: setup run test fuzz lint bench chromium
setup: $(STAMP)

run: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/streamlit run app.py

# Debian's Chromium for the browser tests (never `playwright install`: it downloads).
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium)

test: $(STAMP) chromium
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy vizcore/engine vizcore/measures vizcore/runs
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q

# Fresh random examples for the property-based tests (many more than CI's fixed ones).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q tests/test_properties.py

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m bench
