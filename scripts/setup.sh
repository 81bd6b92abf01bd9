#!/usr/bin/env bash
# Set up a virtual environment in .venv with Crystal-GFN and every first-party plugin.
#
# Usage: bash scripts/setup.sh [--test]     (--test also installs what the test suite needs)
# Idempotent: re-running it only installs what is missing, and returns at once when nothing it
# reads (constraints.txt, requirements-test.txt, the pyproject.toml files, the packages under
# src/, this script, the Python of .venv) changed since its last successful run.
#
# Every pip install here is constrained by constraints.txt, which pins every third-party
# package at the version tested, so that installs are reproducible. After changing a
# dependency, regenerate it with `bash scripts/update_constraints.sh` (see that script).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=base
if [ "${1:-}" = "--test" ]; then mode=test; fi

PYTHON="${PYTHON:-python3}"
started=$SECONDS
# Each step says what it installs, and how long it took: pip runs --quiet, and a first
# install (torch, the plugins' dependencies) takes minutes that would otherwise be silent.
step_start=$SECONDS
step_done() { echo "    done in $((SECONDS - step_start)) s"; step_start=$SECONDS; }
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

# Every distribution of the monorepo: the core first, with its "report" extra (matplotlib),
# since the main job draws plots.
packages=(core)
editable=(-e "core[report]")
for dir in plugins/* proxies/*; do
  if [ -f "$dir/pyproject.toml" ]; then
    packages+=("$dir")
    editable+=(-e "$dir")
  fi
done
names=()
for dir in "${packages[@]}"; do
  names+=("$(sed -n 's/^name = "\(.*\)"$/\1/p' "$dir/pyproject.toml" | head -n 1)")
done

# What the installs depend on; a run in "test" mode also covers "base".
stamp=.venv/.crystalgfn-setup
key="$({ cat constraints.txt requirements-test.txt scripts/setup.sh; \
         for dir in "${packages[@]}"; do cat "$dir/pyproject.toml"; ls -d "$dir"/src/*/ | grep -v egg-info; done; \
         .venv/bin/python -VV; } | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && { grep -qx "$key test" "$stamp" || grep -qx "$key $mode" "$stamp"; } \
   && .venv/bin/python -c 'import sys, importlib.metadata as m; [m.distribution(n) for n in sys.argv[1:]]' \
      "${names[@]}" 2>/dev/null; then
  echo "==> setup: .venv is up to date (${names[*]}); nothing to install"
  exit 0   # all installed, nothing changed
fi
rm -f "$stamp"

PIP=(.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt)

# The CPU build of torch first: without it, any package asking for plain "torch" pulls a
# multi-GB CUDA build. Users with a GPU install their CUDA build of torch before this script,
# of the version pinned in constraints.txt (torch==2.13.0, e.g. from download.pytorch.org),
# or pip replaces it.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "==> installing torch 2.13.0 (CPU build, about 200 MB; the longest step)"
  step_start=$SECONDS
  "${PIP[@]}" torch==2.13.0
  step_done
fi
echo "==> installing the build tools: setuptools>=77, wheel"
step_start=$SECONDS
"${PIP[@]}" "setuptools>=77" wheel   # 77: the SPDX license expressions of the pyproject.toml files
step_done

echo "==> installing, editable, ${names[*]} (from ${packages[*]}) and their dependencies"
step_start=$SECONDS
"${PIP[@]}" --no-build-isolation "${editable[@]}"
step_done

if [ "$mode" = test ]; then
  echo "==> installing the test requirements: $(sed 's/#.*//' requirements-test.txt | xargs)"
  step_start=$SECONDS
  "${PIP[@]}" -r requirements-test.txt
  step_done
fi
echo "$key $mode" > "$stamp"
echo "==> setup done in $((SECONDS - started)) s"
