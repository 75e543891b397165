# Two commands set everything up: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BUILD_STAMP := $(VENV)/.installed-build

.PHONY: run test lint typecheck pytest bench binary binary-dir clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(BUILD_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[build]'
	touch $@

run: $(STAMP)
	$(BIN)/chatmina serve

lint: $(TEST_STAMP)
	$(BIN)/ruff check chatmina tests
	$(BIN)/ruff format --check chatmina tests

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

pytest: $(TEST_STAMP)
	$(BIN)/pytest -n 2 --dist loadgroup

test: lint typecheck pytest

bench: $(TEST_STAMP)
	$(BIN)/python -m tests.perf.kb_quality.corpus
	$(BIN)/python -m tests.perf

# One file to run: dist/chatmina (needs no Python on the target). About a minute.
binary: $(BUILD_STAMP)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --workpath build/onefile chatmina.spec
	@ls -l dist/chatmina

# The same as a directory, dist/chatmina-dir/chatmina: starts faster (nothing to unpack).
binary-dir: $(BUILD_STAMP)
	$(BIN)/pyinstaller --noconfirm --log-level WARN --workpath build/onedir chatmina.spec -- --onedir
	@du -sh dist/chatmina-dir

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
