#!/usr/bin/env bash
# The main job, on the shipped defaults: set up, train a formation-energy Crystal-GFN
# (configs/formation_energy.toml: R = exp(-8 E_f), the paper's 22 elements, 230 space
# groups) for a few minutes on the CPU, sample 10,000 crystals and write the report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

run="runs/formation_energy-$(date +%Y%m%d-%H%M%S)"
echo "==> training configs/formation_energy.toml into $run"
.venv/bin/crystalgfn train --config configs/formation_energy.toml --out "$run"
echo "==> sampling 10,000 crystals"
.venv/bin/crystalgfn sample --run "$run" -n 10000 --out "$run/samples.csv"
echo "==> writing the report (reference: data/mp_validation.csv, the proxies' validation crystals)"
.venv/bin/crystalgfn report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv --out "$run/report"
echo
echo "Report: $PWD/$run/report/report.md"
