#!/usr/bin/env bash
# The paper's restricted cases A-D from ONE conditional model (configs/conditional.toml),
# against a per-restriction model of each case (configs/restricted_*.toml) and a replicate of
# it trained with another seed (the noise the comparison is measured against). Writes the
# runs under runs/conditional_cases/ and the comparison to
# docs/results/conditional_cases.json (scripts/conditional_cases.py).
#
# Usage: [N=2000] bash scripts/run_conditional_cases.sh     (about 40 min on one core)
#        STEPS=6000 POOL=128 PER_BATCH=8 bash scripts/run_conditional_cases.sh
#   (the longer run of docs/training.md: the conditional config's steps, pool and per_batch
#   overridden; its runs and JSON are named after them: conditional-6000x128x8, and
#   docs/results/conditional_cases-6000x128x8.json)
#        HIDDEN=512 CONFIG=configs/conditional_cases.toml bash scripts/run_conditional_cases.sh
#   (the conditional model's hidden layers HIDDEN wide instead of the default 256; its run and
#   JSON names gain -h512)
#        OWN_STEPS=2000 STEPS=2000 CONFIG=configs/conditional_cases.toml bash scripts/run_conditional_cases.sh
#   (the per-restriction models and their replicates trained 2,000 steps too, runs A-2000,
#   A-2000-seed1, ...; the JSON's name ends in -own2000)
#        REPLICATE=1 CONFIG=configs/conditional_cases_weighted.toml bash scripts/run_conditional_cases.sh
#   (the conditional config trained a second time with seed 1, run <name>-seed1: the JSON
#   gains its distances, the one model's own seed-to-seed noise)
#        CONFIG=configs/conditional_cases.toml bash scripts/run_conditional_cases.sh
#   (another conditional config, e.g. the one trained on A-D by name; its run and JSON are
#   named after it: conditional_cases, docs/results/conditional_cases-conditional_cases.json)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
n="${N:-2000}"  # samples per case and model
out=runs/conditional_cases
cli=.venv/bin/crystalgfn
mkdir -p "$out"
declare -A cases=([A]=restricted_fe_o [B]=restricted_li_mn_o [C]=restricted_cubic [D]=restricted_lattice)

seed1_copy() {  # seed1_copy CONFIG COPY: CONFIG with seed 1 instead of 0, written to COPY
  sed 's/^seed = 0$/seed = 1/' "$1" > "$2"
  grep -q '^seed = 1$' "$2" || { echo "no 'seed = 0' line in $1" >&2; exit 1; }
}

train() {  # train CONFIG RUN: trains unless RUN already holds a finished run
  if [ ! -f "$2/train_seconds" ]; then
    rm -rf "$2"
    start=$(date +%s)
    $cli train --config "$1" --out "$2"
    echo "$(( $(date +%s) - start ))" > "$2/train_seconds"
  fi
}

conditional=conditional
config="${CONFIG:-configs/conditional.toml}"
result=docs/results/conditional_cases.json
if [ "$config" != configs/conditional.toml ]; then
  [ -f "$config" ] || { echo "CONFIG=$config: no such file" >&2; exit 2; }
  conditional="$(basename "$config" .toml)"
  result="docs/results/conditional_cases-$conditional.json"
fi
if [ -n "${STEPS:-}${POOL:-}${PER_BATCH:-}" ]; then
  given="$config"
  # The shipped config's values, read from it, stand for the overrides left unset.
  shipped() { sed -n "s/^$1 = \([0-9]*\)$/\1/p" "$config"; }
  steps="${STEPS:-$(shipped steps)}" pool="${POOL:-$(shipped pool)}"
  per_batch="${PER_BATCH:-$(shipped per_batch)}"
  for pair in "STEPS=$steps" "POOL=$pool" "PER_BATCH=$per_batch"; do
    case "${pair#*=}" in
      ''|0|*[!0-9]*) echo "$pair: expected a positive integer" >&2; exit 2 ;;
    esac
  done
  tag="${steps}x${pool}x${per_batch}"
  conditional="$conditional-$tag"
  result="${result%.json}-$tag.json"
  sed -e "s/^steps = [0-9]*$/steps = $steps/" -e "s/^pool = [0-9]*$/pool = $pool/" \
      -e "s/^per_batch = [0-9]*$/per_batch = $per_batch/" "$config" > "$out/$conditional.toml"
  config="$out/$conditional.toml"
  for line in "steps = $steps" "pool = $pool" "per_batch = $per_batch"; do
    grep -qx "$line" "$config" || { echo "could not set '$line' in $given" >&2; exit 1; }
  done
fi
hidden="${HIDDEN:-}"
case "$hidden" in
  '') ;;
  0|*[!0-9]*) echo "HIDDEN=$hidden: expected a positive integer" >&2; exit 2 ;;
  *)
    grep -q '^hidden = ' "$config" && { echo "$config sets hidden already" >&2; exit 2; }
    # A top-level key, so it goes before the first table.
    awk -v line="hidden = $hidden" '!done && /^\[/ { print line; print ""; done = 1 } { print }' \
      "$config" > "$out/$conditional-h$hidden.toml"
    conditional="$conditional-h$hidden"
    config="$out/$conditional.toml"
    result="${result%.json}-h$hidden.json"
    ;;
esac
train "$config" "$out/$conditional"
conditional_flags=()
case "${REPLICATE:-0}" in
  0) ;;
  1)
    seed1_copy "$config" "$out/$conditional-seed1.toml"
    train "$out/$conditional-seed1.toml" "$out/$conditional-seed1"
    conditional_flags=(--conditional-replicate "$out/$conditional-seed1")
    ;;
  *) echo "REPLICATE=$REPLICATE: expected 0 or 1" >&2; exit 2 ;;
esac
own_steps="${OWN_STEPS:-}"
case "$own_steps" in
  '') ;;
  0|*[!0-9]*) echo "OWN_STEPS=$own_steps: expected a positive integer" >&2; exit 2 ;;
  *) result="${result%.json}-own$own_steps.json" ;;
esac
flags=()
for name in A B C D; do
  config="configs/${cases[$name]}.toml"
  own="$name"
  if [ -n "$own_steps" ]; then
    # The per-restriction models trained OWN_STEPS steps instead of their config's.
    own="$name-$own_steps"
    sed "s/^steps = [0-9]*$/steps = $own_steps/" "$config" > "$out/$own.toml"
    grep -qx "steps = $own_steps" "$out/$own.toml" || { echo "no 'steps =' line in $config" >&2; exit 1; }
    config="$out/$own.toml"
  fi
  train "$config" "$out/$own"
  # The replicate: the same config with seed 1 instead of 0.
  seed1_copy "$config" "$out/$own-seed1.toml"
  train "$out/$own-seed1.toml" "$out/$own-seed1"
  flags+=(--case "$name=$out/$own" --replicate "$name=$out/$own-seed1")
done
.venv/bin/python scripts/conditional_cases.py --conditional "$out/$conditional" \
  "${conditional_flags[@]}" "${flags[@]}" \
  -n "$n" --out "$result"
