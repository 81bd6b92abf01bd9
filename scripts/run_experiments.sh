#!/usr/bin/env bash
# Reproduce the paper's experiments: train each committed config, sample 10,000 crystals and
# write its report under runs/experiments/<config>/; then print the results tables
# (scripts/results_table.py). Usage: bash scripts/run_experiments.sh [config names...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  names=(formation_energy formation_energy_sharp band_gap density restricted_fe_o restricted_li_mn_o restricted_cubic restricted_lattice)
fi
for name in "${names[@]}"; do
  run="runs/experiments/$name"
  rm -rf "$run"
  echo "==> $name"
  start=$(date +%s)
  .venv/bin/crystalgfn train --config "configs/$name.toml" --out "$run"
  echo "$(( $(date +%s) - start ))" > "$run/train_seconds"
  .venv/bin/crystalgfn sample --run "$run" -n 10000 --out "$run/samples.csv"
  .venv/bin/crystalgfn report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv --out "$run/report"
done
.venv/bin/python scripts/results_table.py
