# pump-service: `make run` and `make test` are the only commands a newcomer needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test soak bench lint venv clean check-python

check-python:
	@$(PYTHON) -c 'import sys; raise SystemExit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1 || { \
	  echo "error: '$(PYTHON)' does not run or is older than Python 3.11;" \
	       "pass a working interpreter, e.g. make test PYTHON=/usr/bin/python3.12" >&2; exit 1; }

$(STAMP): pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP)

# The demo's programmable pump SM20-0003 answers on the embedded simulated programmer.
DEMO_DEVICE ?= sim://programmable-20?serial=SM20-0003&volume=10

run: $(STAMP)
	PUMP_DEVICE_URL='$(DEMO_DEVICE)' $(BIN)/pump-service serve --host $(HOST) --port $(PORT) --demo

# The browser tests need Debian's Chromium: installed here if it can be (as root, apt-get); if not,
# `make test` goes on and those tests skip with the reason the script gave.
test: $(STAMP)
	-@./scripts/ensure-chromium
	$(BIN)/python -m pytest

# Long drills (@pytest.mark.soak), excluded from `make test`.
soak: $(STAMP)
	$(BIN)/python -m pytest -m soak

bench: $(STAMP)
	$(BIN)/python -m bench --output bench/results.json --markdown bench/results.md

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/results.json bench/results.md
