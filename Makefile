# Sweetshop: `make run` serves the shop on http://127.0.0.1:5000, `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app sweetshop
PORT ?= 5000

.PHONY: install run test lint bench screenshots clean

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
	$(BIN)/flake8 sweetshop tests bench config.py wsgi.py
	$(BIN)/pytest

lint: install
	$(BIN)/flake8 sweetshop tests bench config.py wsgi.py

# Rewrites the README's pictures in docs/screenshots (Chromium needed); `make test` leaves them alone.
screenshots: install
	SWEETSHOP_SCREENSHOTS=1 SWEETSHOP_REQUIRE_BROWSER=1 $(BIN)/pytest -q tests/browser/test_screenshots.py

# PostgreSQL required (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432); wrk and pgbench
# on PATH. About 17 minutes; writes docs/BENCHMARKS.md and docs/bench-sweep*.svg. Not part of `make test`.
# BENCH_QUICK=1 make bench: a smoke run of a few minutes, written to bench/results/ (git-ignored).
bench: install
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) instance .pytest_cache *.egg-info
