#!/usr/bin/env bash
# Set up (if needed) and run the main job on the shipped defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> installed plugins"
.venv/bin/crystalgfn plugins
