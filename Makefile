# Sweetshop: `make run` serves the shop on http://127.0.0.1:5000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app sweetshop
PORT ?= 5000

.PHONY: install run test lint bench clean

$(BIN)/activate: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/activate

install: $(BIN)/activate

run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host 127.0.0.1 --port $(PORT)

test: install
	$(BIN)/flake8 sweetshop tests config.py wsgi.py
	$(BIN)/pytest

lint: install
	$(BIN)/flake8 sweetshop tests config.py wsgi.py

# PostgreSQL required (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432); wrk and pgbench
# on PATH. About 13 minutes; writes docs/BENCHMARKS.md and docs/bench-sweep*.svg. Not part of `make test`.
bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py
	$(BIN)/python bench/catalogue_sort.py    # prints the sorting table (docs/BENCHMARKS.md, by hand)

clean:
	rm -rf $(VENV) instance .pytest_cache *.egg-info
