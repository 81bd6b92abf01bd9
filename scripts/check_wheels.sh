#!/usr/bin/env bash
# Build the wheel of every distribution of the monorepo, install them (not editable) into a
# fresh virtual environment, and check that they work there, away from the source tree:
#
# * `crystalgfn plugins --check` lists every first-party plugin distribution, and all they
#   register imports (chgnet, the mlip plugin's potential, is imported but not run);
# * `crystalgfn sample --policy uniform` writes samples (space-group, composition and
#   lattice tables from the wheels), `crystalgfn report` draws its plots (the report extra),
#   `crystalgfn structures` places atoms (pyxtal, the shipped reference structures);
# * the formation-energy, band-gap and density proxies evaluate a batch (shipped weights);
# * every file under each distribution's src/ (modules, json tables, weights, .csv.gz) is
#   installed, each distribution ships LICENSE and has its README as its description.
#
# Usage: bash scripts/check_wheels.sh        (CI runs it after scripts/test.sh)
# Environment: PYTHON (the interpreter of the fresh venv, default python3), KEEP=1 to keep
# the temporary directory (printed) for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
start=$SECONDS
step() { echo "==> [$((SECONDS - start)) s] $*"; }

bash scripts/setup.sh   # the build tools (setuptools, wheel) in .venv; at once when set up
PYTHON="${PYTHON:-python3}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/crystalgfn-wheels.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  echo "(keeping $tmp)"
else
  # Removed in the background: deleting the fresh venv (1.6 GB in 45,000 files) takes from
  # 20 s to 2 min on a busy disk.
  trap 'nohup rm -rf "$tmp" >/dev/null 2>&1 &' EXIT
fi

dists=(core)
for dir in plugins/* proxies/*; do
  if [ -f "$dir/pyproject.toml" ]; then dists+=("$dir"); fi
done

# Build from clean copies: an in-tree build would leave build/ and *.egg-info behind, and a
# stale build/ can put deleted modules into a wheel.
step "building ${#dists[@]} wheels"
mkdir -p "$tmp/src" "$tmp/wheels"
for dir in "${dists[@]}"; do
  mkdir -p "$tmp/src/$dir"
  tar -C "$dir" --exclude=build --exclude=dist --exclude='*.egg-info' --exclude=__pycache__ \
      --exclude='*.pyc' -cf - . | tar -C "$tmp/src/$dir" -xf -
done
(cd "$tmp/src" && "$root/.venv/bin/python" -m pip wheel --quiet --disable-pip-version-check \
    --no-deps --no-build-isolation -w "$tmp/wheels" "${dists[@]/#/./}")
ls "$tmp/wheels"
n_wheels=$(ls "$tmp/wheels"/*.whl | wc -l)
if [ "$n_wheels" -ne "${#dists[@]}" ]; then
  echo "expected ${#dists[@]} wheels, got $n_wheels" >&2
  exit 1
fi

step "fresh venv with $($PYTHON --version); torch (CPU build) first"
"$PYTHON" -m venv "$tmp/venv"
PIP=("$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -c "$root/constraints.txt")
"${PIP[@]}" torch==2.13.0

step "installing the wheels (core with its report extra) within constraints.txt"
wheels=()
for wheel in "$tmp/wheels"/*.whl; do
  case "$(basename "$wheel")" in
    crystalgfn-[0-9]*) wheels+=("$wheel[report]") ;;   # the core (others: crystalgfn_<name>-...)
    *) wheels+=("$wheel") ;;
  esac
done
"${PIP[@]}" "${wheels[@]}"
"$tmp/venv/bin/python" -m pip check

step "checks, from $tmp/run (outside the repository)"
mkdir -p "$tmp/run"
cd "$tmp/run"
# A cold table cache of its own, so that the tables come from the installed wheels.
export CRYSTALGFN_CACHE_DIR="$tmp/cache" MPLCONFIGDIR="$tmp/mpl"
bin="$tmp/venv/bin"

# 1. What the wheels installed: every source file, LICENSE, README, imported from site-packages.
"$bin/python" - "$tmp/src" "${dists[@]}" <<'PY'
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:
    import tomli as tomllib

root, dists = Path(sys.argv[1]), sys.argv[2:]   # root: the copies the wheels were built from
site = Path(sysconfig.get_paths()["purelib"])
problems = []

import crystalgfn

if not Path(crystalgfn.__file__).resolve().is_relative_to(site.resolve()):
    problems.append(f"crystalgfn imported from {crystalgfn.__file__}, not from {site}")
for d in dists:
    project = tomllib.loads((root / d / "pyproject.toml").read_text())["project"]
    name = project["name"]
    dist = metadata.distribution(name)
    # every file of the source package is installed, byte for byte
    src = root / d / "src"
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if (path.is_dir() or "__pycache__" in rel.parts or path.suffix == ".pyc"
                or rel.parts[0].endswith(".egg-info")):
            continue
        installed = site / rel
        if not installed.is_file():
            problems.append(f"{name}: {rel} is not in the wheel")
        elif installed.read_bytes() != path.read_bytes():
            problems.append(f"{name}: installed {rel} differs from the source")
    # license and description
    if not any(str(f).endswith("licenses/LICENSE") for f in dist.files or []):
        problems.append(f"{name}: no LICENSE in the wheel's dist-info")
    meta = dist.metadata
    if meta.get("License-Expression") != "MIT":
        problems.append(f"{name}: License-Expression is {meta.get('License-Expression')!r}")
    readme = (root / d / project["readme"]).read_text()
    if (meta.get_payload() or "").strip() != readme.strip():
        problems.append(f"{name}: the wheel's description is not {d}/{project['readme']}")
if problems:
    print("\n".join(["FAILED:"] + problems), file=sys.stderr)
    sys.exit(1)
print(f"all files of the {len(dists)} distributions installed, with LICENSE and README")
PY

# 2. The command line, on the installed packages and their data.
"$bin/crystalgfn" --version
"$bin/crystalgfn" plugins --check | tee plugins.txt   # --check: imports what each registered
if grep -q FAILED plugins.txt; then
  echo "a plugin failed to load" >&2
  exit 1
fi
"$bin/crystalgfn" plugins --json > plugins.json
"$bin/crystalgfn" sample --policy uniform -n 20 --seed 0 --out samples.csv
"$bin/crystalgfn" report samples.csv --out report
"$bin/crystalgfn" sample --policy uniform -n 5 --seed 0 --elements Fe,O --max-atoms-per-element 4 \
    --lengths 3:8 --out small.csv
"$bin/crystalgfn" structures small.csv --out structures

# 3. What the commands wrote, every plugin listed, and the proxies with their shipped weights.
"$bin/python" - "$tmp/src" "${dists[@]}" <<'PY'
import csv
import json
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:
    import tomli as tomllib

import chgnet.model  # noqa: F401  (crystalgfn-mlip's potential: installed and importable)
import crystalgfn
import torch
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout

root, dists = Path(sys.argv[1]), sys.argv[2:]
problems = []
listed = {p["distribution"]: p for p in json.loads(Path("plugins.json").read_text())["plugins"]}
for d in dists:
    project = tomllib.loads((root / d / "pyproject.toml").read_text())["project"]
    name = project["name"]
    # a plugin (an entry point in the crystalgfn group) is listed, loaded, and contributes
    if "crystalgfn" in project.get("entry-points", {}) or name == "crystalgfn":
        entry = listed.get(name)
        if entry is None:
            problems.append(f"{name}: not listed by 'crystalgfn plugins'")
        elif entry.get("error"):
            problems.append(f"{name}: failed to load: {entry['error']}")
        elif not any(isinstance(v, list) and v for k, v in entry.items() if k != "conflicts"):
            problems.append(f"{name}: listed but contributes nothing")

with open("samples.csv", newline="") as handle:
    rows = list(csv.DictReader(handle))
if len(rows) != 20:
    problems.append(f"crystalgfn sample wrote {len(rows)} rows, not 20")
if not Path("report/report.md").is_file() or not list(Path("report").glob("*.png")):
    problems.append("crystalgfn report wrote no report.md or plots")
with open("structures/index.csv", newline="") as handle:
    index = list(csv.DictReader(handle))
if len(index) != 5 or not any(r["success"] == "1" for r in index):
    problems.append(f"crystalgfn structures: {sum(r['success'] == '1' for r in index)}/5 built")

env = crystalgfn.make_env("crystal", composition={"elements": ["Li", "Fe", "O"]})
done = rollout(env, UniformPolicy(env), 16, generator=torch.Generator().manual_seed(0), record=False)
values = env.values(done)
for proxy_name in ("formation_energy", "band_gap", "density"):
    proxy = crystalgfn.make_proxy(proxy_name)
    crystalgfn.check_compatible(env, proxy)
    out = proxy(values)
    if out.shape != (16,) or not bool(torch.isfinite(out).all()):
        problems.append(f"proxy {proxy_name}: {out}")
    else:
        print(f"proxy {proxy_name}: {out.min().item():.3g} .. {out.max().item():.3g}")

if problems:
    print("\n".join(["FAILED:"] + problems), file=sys.stderr)
    sys.exit(1)
print(f"all {len(dists)} wheels installed and checked")
PY
step "done"
