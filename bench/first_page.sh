#!/usr/bin/env bash
# Time to first page: `git clone` of this repository into an empty folder, then `make run`
# with empty download caches, until the login page answers 200. Prints each phase.
#   bench/first_page.sh [REPO]   (default: this checkout's committed HEAD)
set -euo pipefail
repo=${1:-$(cd "$(dirname "$0")/.." && pwd)}
work=$(mktemp -d)
port=${PORT:-5077}
export PIP_CACHE_DIR="$work/pip-cache" UV_CACHE_DIR="$work/uv-cache"
cleanup() { [ -n "${pid:-}" ] && kill -- -"$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
t0=$(date +%s.%N)
git clone --quiet "$repo" "$work/app"
cd "$work/app"
set -m
PORT=$port make run > "$work/run.log" 2>&1 &
pid=$!
set +m
until curl -fso /dev/null "http://127.0.0.1:$port/inloggen"; do
  kill -0 "$pid" 2>/dev/null || { cat "$work/run.log"; echo "make run stopped"; exit 1; }
  sleep 0.2
done
t1=$(date +%s.%N)
grep -q 'demo-stappenplan' "$work/run.log" || { cat "$work/run.log"; echo "no demo logins printed"; exit 1; }
echo "python: $(python3 --version 2>&1), $(python3 -m pip --version | cut -d' ' -f1-2)"
printf 'git clone → first 200 of /inloggen: %.1f s\n' "$(echo "$t1 - $t0" | bc)"
