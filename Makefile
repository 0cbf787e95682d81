# One-command entry points. Every target sets up the virtual environment first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/fednode demo $(DEMO_ARGS)

# scripts/test-setup.sh installs what pytest must not (Chromium and a CJK font, as root);
# scripts/install-nginx.sh nginx for the TLS end-to-end test (when root and missing).
test: $(STAMP)
	scripts/test-setup.sh
	sh scripts/install-nginx.sh
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# ruff, mypy, and the import contract in pyproject.toml: a layer imports only those below it.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
