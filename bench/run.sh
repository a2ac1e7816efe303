#!/usr/bin/env bash
# Load test: fresh PostgreSQL database with the demo + 1,000 partnerships, gunicorn with
# gunicorn.conf.py, 20 concurrent users from a separate process (see bench/load.py).
#   bench/run.sh                      # everything, default database stappenplan_load (re-created!)
#   bench/run.sh --reuse --profile    # keep the data of the last run, add pyinstrument profiles
# BENCH_DATABASE_URL=postgresql://user@host:5432/db bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory .venv/bin/.deps
.venv/bin/uv pip install --quiet --python .venv/bin/python -r requirements-bench.txt
exec .venv/bin/python bench/load.py "$@"
