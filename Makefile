# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# STORES=N loads a demo of N stores; RESET=1 replaces a demo made with other parameters.
STORES ?=
RESET ?=
# llama-cpp-python is compiled for this CPU (-march=native) but without llama.cpp's AMX kernels:
# they crash in some virtual machines (a segfault in ggml_backend_amx_mul_mat, seen on Sapphire
# Rapids here). pip reuses a cached wheel whatever the flags: `pip cache remove llama_cpp_python`
# before changing them.
LLAMA_CFLAGS ?= $(if $(filter x86_64,$(shell uname -m)),-mno-amx-tile -mno-amx-int8 -mno-amx-bf16)

.PHONY: run test install services browser lint types-baseline clean

$(BIN)/opensales: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CFLAGS="$(LLAMA_CFLAGS)" CXXFLAGS="$(LLAMA_CFLAGS)" CMAKE_ARGS="-DLLAVA_BUILD=OFF" \
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
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy | $(BIN)/mypy-baseline filter
	$(BIN)/python -m pytest

services:
	./scripts/services.sh

# Debian's Chromium for the console's browser test (Playwright never downloads its own).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy | $(BIN)/mypy-baseline filter

# After fixing type errors: drop them from mypy-baseline.txt (it may only shrink).
types-baseline: install
	$(BIN)/mypy | $(BIN)/mypy-baseline sync

clean:
	rm -rf $(VENV) data .pytest_cache
