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

# Two lock files with hashes, made by `make lock` from the pins in requirements*.txt:
# requirements.lock (what the app needs: `make run`, production) and requirements-dev.lock
# (the same pins plus the test tools: `make test`, CI). The venv is made without a pip of
# its own (making one costs ~6 s); the stock interpreter's pip (23.2 or newer, or ensurepip's
# when it has none) installs into it only the installer uv from requirements-uv.lock,
# hash-checked too, and uv installs a lock about three times faster than pip would.
# INSTALLER=pip installs the locks with that pip instead: same hashes, and the locks keep
# their extras (fonttools[woff]) so that pip 23.2 accepts them. Use `.venv/bin/uv pip ...`
# to add something by hand.
INSTALLER ?= uv
pip = if $(PYTHON) -m pip --version >/dev/null 2>&1; \
	then $(PYTHON) -m pip --python $(BIN)/python $(1); \
	else $(BIN)/python -m ensurepip --default-pip >/dev/null && $(BIN)/python -m pip $(1); fi
PIP_ARGS = install --quiet --disable-pip-version-check --require-hashes
ifeq ($(INSTALLER),pip)
install = $(call pip,$(PIP_ARGS) -r $(1))
else
install = $(BIN)/uv pip install --quiet --python $(BIN)/python --require-hashes -r $(1)
endif

$(BIN)/.installer: requirements-uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
ifneq ($(INSTALLER),pip)
	$(call pip,$(PIP_ARGS) --no-deps -r requirements-uv.lock)
endif
	touch $@

$(BIN)/.deps: requirements.lock $(BIN)/.installer
	$(call install,requirements.lock)
	touch $@

$(BIN)/.deps-test: requirements-dev.lock $(BIN)/.deps
	$(call install,requirements-dev.lock)
	touch $@

## lock: re-make both lock files after changing a pin in requirements*.txt
LOCK_HEADER = '\# Made by `make lock` (uv pip compile --universal --generate-hashes --no-strip-extras)\n\# from $(1). Do not edit; change the pins there. Extras stay in the pins so that\n\# pip 23.2 (the pip of Python 3.11'"'"'s venv) installs this file as well as uv does.'
lock: $(BIN)/.installer
	grep -hv '^-r' requirements.txt > .lock.in
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --no-strip-extras \
	  --python-version 3.11 --no-header -o .lock.out .lock.in
	{ printf $(call LOCK_HEADER,requirements.txt)'\n'; sed 's/-r \.lock\.in/requirements.txt/' .lock.out; } > requirements.lock
	grep -hv '^-r' requirements.txt requirements-dev.txt > .lock.in
	$(BIN)/uv pip compile --quiet --universal --generate-hashes --no-strip-extras \
	  --python-version 3.11 --no-header -o .lock.out .lock.in
	{ printf $(call LOCK_HEADER,requirements.txt and requirements-dev.txt)'\n'; sed 's/-r \.lock\.in/requirements*.txt/' .lock.out; } > requirements-dev.lock
	rm -f .lock.in .lock.out

## run: install, migrate, load demo data once, serve on http://127.0.0.1:$(PORT)
# Links in the demo's e-mails point at this server (unless BASE_URL is set already).
run: export BASE_URL ?= http://127.0.0.1:$(PORT)
# The live stream service (stappenplan/live) runs next to it on LIVE_PORT, a second
# process that stops with the first; the pages reach it across origins (allowed by CORS
# and the CSP). LIVE=off: no stream service, the pages poll as before.
LIVE_PORT ?= $(shell expr $(PORT) + 1)
run: export LIVE_URL ?= http://127.0.0.1:$(LIVE_PORT)/live
run: export LIVE_APP_URL ?= http://127.0.0.1:$(PORT)
run: export LIVE_ALLOW_ORIGIN ?= http://127.0.0.1:$(PORT)
# The demo logins come last, right before the server starts.
run: $(BIN)/.deps
	@$(BIN)/flask db upgrade
	@$(BIN)/flask seed-demo
	@echo "Stappenplan draait op http://127.0.0.1:$(PORT)  (stoppen: Ctrl+C)"
	@echo ""
	@if [ "$${LIVE:-on}" = off ]; then exec $(BIN)/flask run --host 127.0.0.1 --port $(PORT); fi; \
	$(BIN)/python -m stappenplan.live --host 127.0.0.1 --port $(LIVE_PORT) & live=$$!; \
	trap 'kill $$live 2>/dev/null; wait $$live 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

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
