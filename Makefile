# Sweetshop: `make run` serves the shop on http://127.0.0.1:5000 (development settings),
# `make serve` runs it as production does, `make test` runs every test, `make test-fast` the quick ones.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app sweetshop
# Every install is held to the versions the tests last ran with (docs/operating.md, "Pinned versions").
PIP_INSTALL := $(BIN)/pip install --quiet --constraint constraints.txt
RUN_PORT ?= 5000
# pytest-xdist processes for `make test` and `make test-fast` (docs/testing.md: measured on 2 cores).
TEST_WORKERS ?= 4
# Whole test modules go to one process, so a module's live server is started once and shared.
PYTEST_PARALLEL := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

.PHONY: install install-test run serve test test-fast lint bench screenshots clean

# What serving needs, and nothing else (the stamp files say what is installed). The checkout is
# what is deployed: the .pth file puts it on the environment's path, so the top-level `config`
# (settings) and `migrations/` are found from any working directory, as the package is.
$(VENV)/.serving: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e .
	echo "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/sweetshop-checkout.pth"
	touch $@

# The test tools on top.
$(VENV)/.test-tools: $(VENV)/.serving
	$(PIP_INSTALL) -e '.[test]'
	touch $@

install: $(VENV)/.serving

install-test: $(VENV)/.test-tools

# Development settings (a fixed, public SECRET_KEY): production is the app's default.
run: export SWEETSHOP_CONFIG = development
run: install
	$(FLASK) db upgrade
	$(FLASK) seed-demo
	$(FLASK) run --host 127.0.0.1 --port $(RUN_PORT)

# Production, as docs/operating.md deploys it: SECRET_KEY, DATABASE_URL (default SQLite in instance/) and
# PORT (default 8000), HOST (default 0.0.0.0), WEB_CONCURRENCY (default 4) from the environment.
# Needs Debian's nginx (apt-get install nginx-light): it runs in front of granian (docs/serving-front.md).
serve: install
	$(FLASK) db upgrade
	exec $(BIN)/python -m sweetshop.serve

# Everything: flake8, then every test but the wall-clock ones in parallel, then those alone, off
# the contended machine (docs/testing.md).
test: install-test
	$(BIN)/flake8 sweetshop tests bench wsgi.py config.py
	$(PYTEST_PARALLEL) -m "not timing"
	$(BIN)/pytest -m timing

# Under a minute: unit and in-process tests, on SQLite only; no real servers, no browser.
test-fast: install-test
	$(PYTEST_PARALLEL) --sqlite-only -m "not slow and not timing"

lint: install-test
	$(BIN)/flake8 sweetshop tests bench wsgi.py config.py

# Rewrites the pictures in docs/screenshots (Chromium needed); `make test` leaves them alone.
screenshots: install-test
	SWEETSHOP_SCREENSHOTS=1 SWEETSHOP_REQUIRE_BROWSER=1 $(BIN)/pytest -q tests/browser/test_screenshots.py

# PostgreSQL required (BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432); wrk and pgbench
# on PATH (valgrind for the instructions table, skipped without). About 15 minutes; writes
# docs/BENCHMARKS.md (`python -m bench --help` for subsets and A/B runs). Not part of `make test`.
# BENCH_QUICK=1 make bench: a smoke run of a few minutes, written to bench/results/ (git-ignored).
bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance .pytest_cache *.egg-info
