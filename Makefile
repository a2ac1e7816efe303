# The two set-up commands: `make run` (app with demo data) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := wsgi
# Each flask command below imports the app; with bytecode caching (which some machines
# switch off through PYTHONDONTWRITEBYTECODE) only the first one compiles it (~2 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint lock bench clean

# One lock file with hashes (requirements.lock, made from requirements.txt and
# requirements-dev.txt by `make lock`): run, test and CI install exactly the same files.
# The venv's own pip (whatever the stock python3 brings, 23.2 or newer) only installs the
# installer uv from requirements-uv.lock (hash-checked too); uv then installs the lock,
# about three times faster than pip. INSTALLER=pip installs the lock with pip instead
# (same hashes; the lock keeps its extras so pip 23.2 accepts it).
INSTALLER ?= uv
$(BIN)/.deps: requirements.lock requirements-uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
ifeq ($(INSTALLER),pip)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
else
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements-uv.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r requirements.lock
endif
	touch $@

$(BIN)/.deps-test: $(BIN)/.deps
	touch $@

## lock: re-make requirements.lock after changing a pin in requirements*.txt
lock: $(BIN)/.deps
	grep -hv '^-r' requirements.txt requirements-dev.txt > .lock.in
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --no-strip-extras \
	  --python-version 3.11 --no-header -o .lock.out .lock.in
	{ echo '# Made by `make lock` (uv pip compile --universal --generate-hashes --no-strip-extras) from'; \
	  echo '# requirements.txt and requirements-dev.txt. Extras stay in the pins (fonttools[woff]) so'; \
	  echo "# that pip 23.2 (Python 3.11's venv) installs this file as well as uv does."; \
	  sed 's/-r \.lock\.in/requirements*.txt/' .lock.out; } > requirements.lock
	rm -f .lock.in .lock.out

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
