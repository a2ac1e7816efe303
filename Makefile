# The two set-up commands: `make run` (app with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi

.PHONY: run test lint lock bench clean

# One lock file with hashes (requirements.lock, made from requirements.txt and
# requirements-dev.txt by `make lock`): run, test and CI install exactly the same files.
$(BIN)/.deps: requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	touch $@

$(BIN)/.deps-test: $(BIN)/.deps
	touch $@

## lock: re-make requirements.lock after changing a pin in requirements*.txt (needs pip-tools)
lock:
	grep -hv '^-r' requirements.txt requirements-dev.txt > .lock.in
	pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras -o requirements.lock .lock.in
	sed -i '/^--extra-index-url/d; /^--index-url/d; /^--find-links/d' requirements.lock
	rm -f .lock.in

## run: install, migrate, load demo data once, serve on http://127.0.0.1:$(PORT)
# Links in the demo's e-mails point at this server (unless BASE_URL is set already).
run: export BASE_URL ?= http://127.0.0.1:$(PORT)
# The demo logins come last, right before the server starts.
run: $(BIN)/.deps
	@$(BIN)/flask db upgrade
	@$(BIN)/flask seed-demo
	@echo "Stappenplan draait op http://127.0.0.1:$(PORT)  (stoppen: Ctrl+C)"
	@echo ""
	@$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## test: install test dependencies and run the whole suite (TEST_DATABASE_URL for PostgreSQL)
test: $(BIN)/.deps-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## bench: load test with gunicorn + PostgreSQL, 1,000 partnerships, 20 users (BENCH_ARGS="--reuse --profile")
bench: $(BIN)/.deps
	bench/run.sh $(BENCH_ARGS)

lint: $(BIN)/.deps-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) instance .pytest_cache
