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
#
# The job keeps to JOB_MINUTES (default 15) on a slower machine: training gets what is left
# after setup less AFTER_TRAINING_MINUTES (default 4.5: sampling, judging and the report took
# 3.3 minutes on the reference machine) and stops there with a checkpoint if its 3,000 steps
# are not done (`crystalgfn train --out RUN --resume` finishes them); a run cut short that way
# judges 2 crystals of each set unless JUDGE_N is given. On the reference machine the steps
# finish well inside the limit and nothing changes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

JOB_MINUTES="${JOB_MINUTES:-15}"
AFTER_TRAINING_MINUTES="${AFTER_TRAINING_MINUTES:-4.5}"
JUDGE_N_GIVEN="${JUDGE_N:-}"
JUDGE_N="${JUDGE_N:-8}"
JUDGE_VALIDATION="${JUDGE_VALIDATION:-0}"
JUDGE_JOBS="${JUDGE_JOBS:-2}"
ELEMENTS="H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"  # the config's 22
run="runs/formation_energy-$(date +%Y%m%d-%H%M%S)"
cli=.venv/bin/crystalgfn
phase() { echo "==> [$((SECONDS / 60)) min $((SECONDS % 60)) s] $*"; }  # time since the start
# Minutes left for training (at least 2) after the time setup took.
train_minutes=$(.venv/bin/python - "$JOB_MINUTES" "$AFTER_TRAINING_MINUTES" "$SECONDS" <<'EOF'
import sys
try:
    job, after = (float(x) for x in sys.argv[1:3])
except ValueError:
    sys.exit(f"JOB_MINUTES and AFTER_TRAINING_MINUTES must be numbers of minutes, got {sys.argv[1:3]}")
print(f"{max(2.0, job - int(sys.argv[3]) / 60 - after):.2f}")
EOF
)
phase "training configs/formation_energy.toml into $run (at most $train_minutes min)"
$cli train --config configs/formation_energy.toml --out "$run" --max-minutes "$train_minutes"
cut_short=$(.venv/bin/python - "$run" <<'EOF'
import json, sys
from pathlib import Path
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
run = Path(sys.argv[1])
steps = tomllib.loads((run / "config.toml").read_text())["steps"]
print(int(json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] < steps))
EOF
)
if [ "$cut_short" = 1 ] && [ -z "$JUDGE_N_GIVEN" ]; then
    JUDGE_N=2
    echo "    training was cut short by the time limit (a slower machine): judging $JUDGE_N of each set"
fi
judge=(--n "$JUDGE_N" --jobs "$JUDGE_JOBS" --steps 300 --max-seconds 60)
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
