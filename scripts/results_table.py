"""Print the results tables of docs/results.md from the reports of scripts/run_experiments.sh."""

from __future__ import annotations

import json
from pathlib import Path

RUNS = Path(__file__).resolve().parents[1] / "runs" / "experiments"
PROPERTY = {"formation_energy": "formation_energy", "band_gap": "band_gap", "density": "density"}


def _mean_length(summary: dict) -> float:
    """Mean of the lattice lengths a, b and c (Å)."""
    return sum(summary[x]["mean"] for x in "abc") / 3


def row(name: str) -> str | None:
    report = RUNS / name / "report" / "metrics.json"
    if not report.exists():
        return None
    m = json.loads(report.read_text())
    seconds = (RUNS / name / "train_seconds").read_text().strip()
    d = m["diversity"]
    top = m.get("top_k", {}).get("diversity", {})
    prop = next((p for p in PROPERTY.values() if p in m.get("comparison", {})), None)
    comparison = m["comparison"].get(prop, {}) if prop else {}
    summary = m["summary"]
    return (
        f"| {name} | {seconds} s | {m['validity']['all']:.3f} | {d['unique_share']:.3f} | "
        f"{d['space_groups']} | {d['elements']} | {top.get('space_groups', '-')} | "
        f"{top.get('elements', '-')} | "
        f"{comparison.get('sample_median', float('nan')):.3f} | "
        f"{comparison.get('reference_median', float('nan')):.3f} | "
        f"{comparison.get('reference_p5', float('nan')):.3f} | "
        f"{_mean_length(summary):.2f} | {summary['n_atoms']['mean']:.1f} |"
    )


def main() -> None:
    print(
        "| experiment | training | valid | unique | space groups | elements | top-100 groups | "
        "top-100 elements | median property | reference median | reference p5 | mean a (Å) | "
        "mean atoms |"
    )
    print("|" + "---|" * 13)
    for path in sorted(RUNS.glob("*/report/metrics.json")):
        line = row(path.parts[-3])
        if line:
            print(line)


if __name__ == "__main__":
    main()
