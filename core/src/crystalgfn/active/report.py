"""What a campaign leaves to read and reuse: the labelled crystals, the per-round curves and
the best oracle-verified crystals.

* ``labels/labels.csv`` — one row per crystal the oracle judged: its round, the sampled
  parameters (the batch's samples-CSV columns), and the oracle's columns prefixed
  ``oracle_`` (energy, formation energy, E above hull, stability, relaxation steps, reason),
  with ``cif`` naming its relaxed structure under ``labels/cif/``;
* ``report/rounds.json`` — the round records (``campaign.json``'s);
* ``report/curves.png`` — per round: the proxy's error on the sampled batch before the
  refit (and the DFT proxy's), the oracle's median formation energy, the stable share and
  the diversity of the batch;
* ``report/report.md`` — the table of rounds, the curves and the best crystals (lowest E above
  hull, then formation energy, as the oracle judged them), their CIFs in ``report/best/``.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

from crystalgfn.atomic import atomic_path, write_text
from crystalgfn.judge import label_column


def oracle_columns() -> tuple[str, ...]:
    """The oracle's columns kept in ``labels.csv`` (not its timings: the file of a resumed
    campaign equals that of an uninterrupted one); the label is the one the judge declares."""
    return ("formula", "space_group_after", "energy_per_atom", label_column(),
            "e_above_hull", "stable", "stable_strict", "novel", "converged", "steps",
            "volume_ratio", "reason")

BEST = 10


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def labelled_rows(out: Path, rounds: list[int]) -> list[dict]:
    """Every judged crystal of ``rounds``: batch columns, ``oracle_*`` columns, ``round``,
    ``row`` and the source CIF (``relaxed``, empty when it was not relaxed)."""
    rows, kept = [], oracle_columns()
    for number in rounds:
        folder = out / f"round_{number:02d}"
        batch = _read_csv(folder / "batch.csv")
        judged = _read_csv(folder / "oracle" / "evaluation.csv")
        for sample, row in zip(batch, judged, strict=True):
            cif = folder / "oracle" / "relaxed" / f"{row['row']}.cif"
            rows.append({"round": number, "row": int(row["row"]), **sample,
                         **{f"oracle_{k}": row.get(k, "") for k in kept},
                         "relaxed": str(cif) if row.get("relaxed") == "1" and cif.is_file()
                         else ""})
    return rows


def write_labels(out: Path, rounds: list[int], proxy: str) -> Path:
    """``labels/labels.csv`` and ``labels/cif/`` of the finished ``rounds``."""
    rows = labelled_rows(out, rounds)
    folder = out / "labels"
    (folder / "cif").mkdir(parents=True, exist_ok=True)
    names = []
    for row in rows:
        if row["relaxed"]:
            name = f"round{row['round']:02d}_{row['row']:03d}.cif"
            with atomic_path(folder / "cif" / name) as temporary:
                shutil.copyfile(row["relaxed"], temporary)
            row["cif"] = f"cif/{name}"
        else:
            row["cif"] = ""
        for key in row:
            if key not in names and key != "relaxed":
                names.append(key)
    with atomic_path(folder / "labels.csv") as temporary, temporary.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return folder / "labels.csv"


def best_crystals(rows: list[dict], k: int = BEST) -> list[dict]:
    """The ``k`` judged crystals lowest above the hull (then lowest in formation energy)."""
    def number(text):
        try:
            value = float(text)
        except (TypeError, ValueError):
            return math.inf
        return value if math.isfinite(value) else math.inf

    scored = [r for r in rows if number(r["oracle_e_above_hull"]) < math.inf]
    label = f"oracle_{label_column()}"
    return sorted(scored, key=lambda r: (number(r["oracle_e_above_hull"]),
                                         number(r[label]),
                                         r["round"], r["row"]))[:k]


def write_report(out: Path, campaign: dict, config) -> Path:
    """``report/`` of a campaign (rewritten after every round)."""
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    records = campaign["rounds"]
    write_text(folder / "rounds.json", json.dumps(records, indent=1) + "\n")
    plotted = plot_curves(records, folder / "curves.png") if records else False
    rows = labelled_rows(out, [r["round"] for r in records])
    best = best_crystals(rows)
    shutil.rmtree(folder / "best", ignore_errors=True)  # the best of earlier rounds may drop
    (folder / "best").mkdir()
    for rank, row in enumerate(best, start=1):
        name = f"{rank:02d}_{row['oracle_formula'] or row.get('formula', '')}.cif"
        row["best_cif"] = f"best/{name}"
        with atomic_path(folder / "best" / name) as temporary:
            shutil.copyfile(row["relaxed"], temporary)
    write_text(folder / "report.md", _markdown(campaign, records, best, plotted, config))
    return folder / "report.md"


def plot_curves(records: list[dict], path: Path) -> bool:
    """The per-round curves as a PNG; ``False`` when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rounds = [r["round"] for r in records]

    def series(key):
        return [math.nan if r.get(key) is None else r[key] for r in records]

    figure, axes = plt.subplots(2, 2, figsize=(9, 6.5))
    panels = [
        (axes[0, 0], [("proxy_mae_before_refit", "reward's proxy"), ("dft_proxy_mae", "DFT proxy")],
         "proxy MAE on the batch\n(before refit), eV/atom"),
        (axes[0, 1], [("oracle_median", "oracle median")],
         "oracle's median formation energy\nof the batch, eV/atom (lower: better)"),
        (axes[1, 0], [("stable_share", "stable share")], "stable share of the batch\n"
                                                         "(E above hull <= 0.1 eV/atom)"),
        (axes[1, 1], [("diversity", "distinct reduced formulas"),
                      ("group_share", "distinct groups")], "diversity of the batch"),
    ]
    for axis, lines, title in panels:
        for key, label in lines:
            axis.plot(rounds, series(key), marker="o", label=label)
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("round")
        axis.set_xticks(rounds)
        axis.grid(alpha=0.3)
        if len(lines) > 1:
            axis.legend(fontsize=8)
    for axis in (axes[1, 0], axes[1, 1]):  # shares
        axis.set_ylim(-0.03, 1.03)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=90, format="png")
    plt.close(figure)
    return True


def _fmt(value, digits=3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(campaign, records, best, plotted, config) -> str:
    lines = ["# Active-learning campaign", "",
             f"Stopped: {campaign['stopped'] or 'running'}. Reward: {campaign['reward_proxy']}.",
             f"Oracle: {config.oracle['name']} ({config.oracle['steps']} relaxation steps, fmax "
             f"{config.oracle['fmax']}); batch {config.acquire['batch']} of "
             f"{config.acquire['candidates']} candidates per round (UCB, kappa "
             f"{config.acquire['kappa']}, at most {config.acquire['per_group']} per "
             f"{'+'.join(config.acquire['diversity'])} group).", "",
             "| round | GFlowNet steps | proxy MAE before refit | DFT proxy MAE | proxy bias | "
             "oracle median E_f | oracle best E_f | median E_hull | stable | diversity | labels "
             "(total) | validation MAE of the copy | oracle calls | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        refit = r.get("refit", {})
        lines.append(
            f"| {r['round']} | {r['gflownet_steps']} | {_fmt(r['proxy_mae_before_refit'])} | "
            f"{_fmt(r['dft_proxy_mae'])} | {_fmt(r['proxy_bias_before_refit'])} | "
            f"{_fmt(r['oracle_median'])} | {_fmt(r['oracle_best'])} | "
            f"{_fmt(r['e_above_hull_median'])} | {r['stable']}/{r['batch']} | "
            f"{_fmt(r['diversity'], 2)} | {refit.get('labels', 0)} | "
            f"{_fmt(refit.get('validation_mae_refitted_copy'))} | {r['cost']['oracle_calls']} | "
            f"{r['cost']['seconds_total']:.0f} |")
    lines += ["", "Errors in eV/atom; the proxy MAE is the reward proxy's on the batch it "
              "sampled, measured before that batch's labels were learned.", ""]
    if plotted:
        lines += ["![per-round curves](curves.png)", ""]
    lines += ["## Best oracle-verified crystals", "",
              "| rank | round | sampled | relaxed | E above hull | E_f (oracle) | proxy E_f "
              "| CIF |",
              "|---|---|---|---|---|---|---|---|"]
    name = config.refit["proxy"]
    label = f"oracle_{label_column()}"
    for rank, row in enumerate(best, start=1):
        lines.append(
            f"| {rank} | {row['round']} | {row.get('formula', '')} "
            f"(SG {row.get('space_group', '')}) | {row['oracle_formula']} "
            f"(SG {row['oracle_space_group_after']}) | "
            f"{row['oracle_e_above_hull']} | {row[label]} | "
            f"{row.get(name, '')} | [{row['best_cif']}]({row['best_cif']}) |")
    if not best:
        lines.append("| – | no crystal was scored yet | | | | | | |")
    return "\n".join(lines) + "\n"
