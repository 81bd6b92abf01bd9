#!/usr/bin/env bash
# Set up a virtual environment in .venv with Crystal-GFN and every first-party plugin.
#
# Usage: bash scripts/setup.sh [--test]     (--test also installs what the test suite needs)
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)

# The CPU build of torch first: without it, any package asking for plain "torch" pulls a
# multi-GB CUDA build. Users with a GPU install their CUDA build of torch before this script.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "==> installing torch (CPU build)"
  "${PIP[@]}" torch==2.13.0
fi
"${PIP[@]}" "setuptools>=68" wheel

# Every distribution of the monorepo, editable: the core first, with its "report" extra
# (matplotlib), since the main job draws plots.
packages=(core)
editable=(-e "core[report]")
for dir in plugins/* proxies/*; do
  if [ -f "$dir/pyproject.toml" ]; then
    packages+=("$dir")
    editable+=(-e "$dir")
  fi
done
echo "==> installing ${packages[*]}"
"${PIP[@]}" --no-build-isolation "${editable[@]}"

if [ "${1:-}" = "--test" ]; then
  echo "==> installing test requirements"
  "${PIP[@]}" -r requirements-test.txt
fi
