# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# STORES=N loads a demo of N stores; RESET=1 replaces a demo made with other parameters.
STORES ?=
RESET ?=

.PHONY: run test install services browser lint clean

$(BIN)/opensales: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/opensales

## Serve the demo company on http://127.0.0.1:8000 (embedded SQLite unless OPENSALES_* says otherwise)
run: install
	$(BIN)/opensales migrate
	$(BIN)/opensales demo $(if $(STORES),--stores $(STORES)) $(if $(RESET),--reset)
	$(BIN)/opensales serve

## The whole suite against real PostgreSQL and Redis (started here if they are down)
test: install services browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

services:
	./scripts/services.sh

# Debian's Chromium for the console's browser test (Playwright never downloads its own).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache
