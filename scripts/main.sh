#!/usr/bin/env bash
# The main job, on the shipped defaults: set up, train a formation-energy Crystal-GFN
# (configs/formation_energy.toml: R = exp(-8 E_f), the paper's 22 elements, 230 space
# groups) for a few minutes on the CPU, sample 10,000 crystals, judge a random subsample of
# them with an independent oracle (CHGNet relaxations, energy above CHGNet's own hull) next to
# as many uniform-policy samples and rebuilt validation crystals, and write the report.
#
# JUDGE_N (default 8) sets how many crystals of each of the three sets are judged; each costs
# about 30 s of one core (docs/evaluation.md), and the judging runs on JUDGE_JOBS processes
# (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JUDGE_N="${JUDGE_N:-8}"
JUDGE_JOBS="${JUDGE_JOBS:-2}"
ELEMENTS="H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"  # the config's 22
run="runs/formation_energy-$(date +%Y%m%d-%H%M%S)"
cli=.venv/bin/crystalgfn
echo "==> training configs/formation_energy.toml into $run"
$cli train --config configs/formation_energy.toml --out "$run"
echo "==> sampling 10,000 crystals, and 1,000 from the uniform policy (the baseline)"
$cli sample --run "$run" -n 10000 --out "$run/samples.csv"
$cli sample --policy uniform -n 1000 --out "$run/uniform.csv"
echo "==> judging $JUDGE_N crystals of each set with CHGNet (relax, E above hull, S.U.N.)"
$cli evaluate "$run/samples.csv" --n "$JUDGE_N" --jobs "$JUDGE_JOBS" --out "$run/judge/samples"
$cli evaluate "$run/uniform.csv" --n "$JUDGE_N" --jobs "$JUDGE_JOBS" --out "$run/judge/uniform"
$cli evaluate data/mp_validation.csv --elements "$ELEMENTS" --n "$JUDGE_N" --jobs "$JUDGE_JOBS" \
    --out "$run/judge/validation"
echo "==> writing the report (reference: data/mp_validation.csv, the proxies' validation crystals)"
$cli report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv --out "$run/report" \
    --evaluation "samples=$run/judge/samples" --evaluation "uniform=$run/judge/uniform" \
    --evaluation "validation=$run/judge/validation"
echo
echo "Report: $PWD/$run/report/report.md"
