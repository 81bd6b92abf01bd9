#!/usr/bin/env bash
# The main job, on the shipped defaults: set up, train a formation-energy Crystal-GFN
# (configs/formation_energy.toml: R = exp(-8 E_f), the paper's 22 elements, 230 space
# groups) for a few minutes on the CPU, sample 10,000 crystals, judge a random subsample of
# them with an independent oracle (CHGNet relaxations, energy above CHGNet's own hull) next to
# as many uniform-policy samples, and write the report.
#
# The judging uses evaluate's full protocol (at most 300 FIRE steps, fmax 0.1 eV/Å) with each
# relaxation capped at 60 s, on JUDGE_N (default 8) crystals of each set and JUDGE_JOBS
# processes (default 2): about 20 s of one core per sampled crystal (docs/evaluation.md,
# "Cost"), about 3 minutes in all. JUDGE_VALIDATION=1 also judges as many validation
# crystals rebuilt the same way (about 2 more minutes). scripts/judge_main_job.sh judges a run
# at scale (300 of each: about an hour on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JUDGE_N="${JUDGE_N:-8}"
JUDGE_VALIDATION="${JUDGE_VALIDATION:-0}"
JUDGE_JOBS="${JUDGE_JOBS:-2}"
judge=(--n "$JUDGE_N" --jobs "$JUDGE_JOBS" --steps 300 --max-seconds 60)
ELEMENTS="H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"  # the config's 22
run="runs/formation_energy-$(date +%Y%m%d-%H%M%S)"
cli=.venv/bin/crystalgfn
phase() { echo "==> [$((SECONDS / 60)) min $((SECONDS % 60)) s] $*"; }  # time since the start
phase "training configs/formation_energy.toml into $run"
$cli train --config configs/formation_energy.toml --out "$run"
phase "sampling 10,000 crystals, and 1,000 from the uniform policy (the baseline)"
$cli sample --run "$run" -n 10000 --out "$run/samples.csv"
$cli sample --policy uniform --config configs/formation_energy.toml -n 1000 --out "$run/uniform.csv"
phase "judging $JUDGE_N crystals of each set with CHGNet (relax, E above hull, S.U.N.)"
$cli evaluate "$run/samples.csv" "${judge[@]}" --out "$run/judge/samples"
$cli evaluate "$run/uniform.csv" "${judge[@]}" --out "$run/judge/uniform"
evaluations=(--evaluation "samples=$run/judge/samples" --evaluation "uniform=$run/judge/uniform")
if [ "$JUDGE_VALIDATION" = 1 ]; then
    $cli evaluate data/mp_validation.csv --elements "$ELEMENTS" "${judge[@]}" --out "$run/judge/validation"
    evaluations+=(--evaluation "validation=$run/judge/validation")
fi
phase "writing the report (reference: data/mp_validation.csv, the proxies' validation crystals)"
$cli report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv --out "$run/report" \
    --baseline "$run/uniform.csv" "${evaluations[@]}"
echo
echo "Report: $PWD/$run/report/report.html (one self-contained page; also report.md)"
