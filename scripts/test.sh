#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite. Extra arguments go to pytest.
#
# The suite runs on every usable core (pytest-xdist, one worker a core, at most 8: each worker
# holds its own torch and models), the longest tests first (tests/conftest.py), and each
# worker's torch on one thread, so that the workers do not contend for the cores.
# TEST_WORKERS=N sets the number of workers; TEST_WORKERS=0 runs the suite in this process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
cores="$(.venv/bin/python -c 'import os; print(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)')"
workers="${TEST_WORKERS:-$(( cores < 8 ? cores : 8 ))}"
case "$workers" in
  ''|*[!0-9]*) echo "TEST_WORKERS=$workers: expected a whole number (0: no workers)" >&2; exit 2 ;;
esac
parallel=()
if [ "$workers" -gt 1 ]; then
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
  # --maxschedchunk 1: each worker asks for tests one at a time, so that the long ones, which
  # come first, spread over the workers instead of queueing behind each other on one.
  parallel=(-n "$workers" --dist load --maxschedchunk 1)
fi
exec .venv/bin/python -m pytest "${parallel[@]}" "$@"
