#!/usr/bin/env bash
# Judge a main-job run at scale: N main-job samples, N_UNIFORM uniform-policy samples of the
# same space and N_VALIDATION validation crystals (inside the config's 22 elements, rebuilt from
# their parameters), each with `crystalgfn evaluate`'s full protocol (CHGNet 0.3.0, FIRE on
# positions and cell, fmax 0.1 eV/Å, at most 300 steps and 600 s, one placement, seed 0);
# then the run's report with the three evaluations side by side.
#
# Usage: bash scripts/judge_main_job.sh RUN   (RUN holds samples.csv and uniform.csv, as
#        scripts/main.sh writes them)     overrides: N (300), N_UNIFORM (N), N_VALIDATION (N),
#        JOBS (2)
#
# Every evaluation is resumable: run the same command again after an interruption and it
# continues where it stopped. Cost on 2 cores: docs/evaluation.md, "Cost".
set -euo pipefail
cd "$(dirname "$0")/.."
run="${1:?usage: bash scripts/judge_main_job.sh RUN}"
N="${N:-300}"
N_UNIFORM="${N_UNIFORM:-$N}"
N_VALIDATION="${N_VALIDATION:-$N}"
JOBS="${JOBS:-2}"
for name in N N_UNIFORM N_VALIDATION JOBS; do
    value="${!name}"
    if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
        echo "judge_main_job.sh: $name must be a positive integer, got '$value'" >&2
        exit 2
    fi
done
for file in samples.csv uniform.csv; do
    if [ ! -f "$run/$file" ]; then
        echo "judge_main_job.sh: $run/$file is missing (scripts/main.sh writes it)" >&2
        exit 2
    fi
done
ELEMENTS="H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"  # the config's 22
cli=.venv/bin/crystalgfn
common=(--jobs "$JOBS" --seed 0)
phase() { echo "==> [$(date +%H:%M:%S)] $*"; }
phase "judging $N main-job samples"
$cli evaluate "$run/samples.csv" --n "$N" "${common[@]}" --out "$run/judge/samples"
phase "judging $N_UNIFORM uniform-policy samples"
$cli evaluate "$run/uniform.csv" --n "$N_UNIFORM" "${common[@]}" --out "$run/judge/uniform"
phase "judging $N_VALIDATION validation crystals, rebuilt"
$cli evaluate data/mp_validation.csv --elements "$ELEMENTS" --n "$N_VALIDATION" "${common[@]}" \
    --out "$run/judge/validation"
phase "writing the report"
$cli report "$run/samples.csv" --run "$run" --reference data/mp_validation.csv \
    --out "$run/report" --baseline "$run/uniform.csv" \
    --evaluation "samples=$run/judge/samples" --evaluation "uniform=$run/judge/uniform" \
    --evaluation "validation=$run/judge/validation"
phase "done: $run/report/report.md"
