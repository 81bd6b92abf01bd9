#!/usr/bin/env bash
# The main job, on the shipped defaults: set up, train a formation-energy Crystal-GFN
# (configs/formation_energy.toml: R = exp(-8 E_f), the paper's 22 elements, 230 space
# groups) for a few minutes on the CPU, sample 10,000 crystals, judge a random subsample of
# them with an independent oracle (CHGNet relaxations, energy above CHGNet's own hull) next to
# as many uniform-policy samples and rebuilt validation crystals, and write the report.
#
# The judging is a quick look sized to keep the whole job within 15 minutes on 2 cores:
# JUDGE_N (default 6) crystals of each of the three sets, relaxations capped at 100 FIRE steps
# and 60 s each (the full protocol, 300 steps, costs about 2 min of one core per sampled
# crystal: docs/evaluation.md). Training uses one core, so the two baselines that do not
# depend on it (the uniform policy's samples and the validation crystals) are judged on the
# other core meanwhile; the trained sampler's crystals are judged on JUDGE_JOBS processes
# (default 2) once it is trained.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JUDGE_N="${JUDGE_N:-6}"
JUDGE_JOBS="${JUDGE_JOBS:-2}"
judge=(--n "$JUDGE_N" --jobs "$JUDGE_JOBS" --steps 100 --max-seconds 60)
ELEMENTS="H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"  # the config's 22
run="runs/formation_energy-$(date +%Y%m%d-%H%M%S)"
cli=.venv/bin/crystalgfn
phase() { echo "==> [$((SECONDS / 60)) min $((SECONDS % 60)) s] $*"; }  # time since the start
mkdir -p "$run"
phase "judging the baselines in the background: $JUDGE_N uniform-policy samples and $JUDGE_N validation crystals (log: $run/baselines.log)"
(
    set -e
    $cli sample --policy uniform --config configs/formation_energy.toml -n 1000 --out "$run/uniform.csv"
    $cli evaluate "$run/uniform.csv" "${judge[@]}" --jobs 1 --out "$run/judge/uniform"
    $cli evaluate data/mp_validation.csv --elements "$ELEMENTS" "${judge[@]}" --jobs 1 \
        --out "$run/judge/validation"
) > "$run/baselines.log" 2>&1 &
baselines=$!
trap 'kill "$baselines" 2>/dev/null || true' EXIT  # a failed step stops the baselines too
phase "training configs/formation_energy.toml into $run"
$cli train --config configs/formation_energy.toml --out "$run"
phase "sampling 10,000 crystals"
$cli sample --run "$run" -n 10000 --out "$run/samples.csv"
phase "judging $JUDGE_N of them with CHGNet (relax, E above hull, S.U.N.)"
$cli evaluate "$run/samples.csv" "${judge[@]}" --out "$run/judge/samples"
phase "waiting for the baselines"
if ! wait "$baselines"; then
    cat "$run/baselines.log" >&2
    echo "error: judging the baselines failed (log above: $run/baselines.log)" >&2
    exit 1
fi
grep -E "^(evaluation written|[0-9]+ inputs|medians)" "$run/baselines.log" || true
phase "writing the report (reference: data/mp_validation.csv, the proxies' validation crystals)"
$cli report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv --out "$run/report" \
    --baseline "$run/uniform.csv" \
    --evaluation "samples=$run/judge/samples" --evaluation "uniform=$run/judge/uniform" \
    --evaluation "validation=$run/judge/validation"
echo
echo "Report: $PWD/$run/report/report.html (one self-contained page; also report.md)"
