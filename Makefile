# The two set-up commands: `make run` (app with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi

.PHONY: run test lint bench clean

$(BIN)/.deps: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.deps-test: $(BIN)/.deps requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## run: install, migrate, load demo data once, serve on http://127.0.0.1:$(PORT)
run: $(BIN)/.deps
	$(BIN)/flask db upgrade
	$(BIN)/flask seed-demo
	@echo "Stappenplan draait op http://127.0.0.1:$(PORT)  (stoppen: Ctrl+C)"
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## test: install test dependencies and run the whole suite (TEST_DATABASE_URL for PostgreSQL)
test: $(BIN)/.deps-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: load test with gunicorn + PostgreSQL, 1,000 partnerships, 20 users (BENCH_ARGS="--reuse --profile")
bench: $(BIN)/.deps
	bench/run.sh $(BENCH_ARGS)

lint: $(BIN)/.deps-test
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache
