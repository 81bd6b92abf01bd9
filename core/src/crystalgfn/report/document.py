"""The report as a document: the sections of ``report.md`` and ``report.html``, built from the
metrics (``metrics.json``) as blocks that :mod:`crystalgfn.report.render` writes in both
formats, so the two always say the same. A section whose data the samples lack is left out
or replaced by a line saying why.
"""

from __future__ import annotations

from crystalgfn.progress import clock
from crystalgfn.report.evaluation import blocks as evaluation_blocks
from crystalgfn.report.plots import captions
from crystalgfn.report.render import fmt

#: comparison sets of ``metrics.json`` in the order the report shows them
SETS = ("baseline", "compare", "reference_in_space", "reference")
VALUES_NOTE = (
    "**What the values are.** Property columns of sampled crystals (the samples, a baseline, "
    "another run) are the **proxies' predictions**, never computed with DFT; those of the "
    "reference are its **DFT** values (Materials Project, when the reference is the shipped "
    "validation set). Densities, volumes and atom counts of every set are computed from its "
    "formulas and cells."
)
def _caption(name: str) -> str:
    known = captions()
    if name in known:
        return known[name]
    column = name.removeprefix("hist_").removesuffix(".png").replace("_", " ")
    return (
        f"distribution of {column}: proxy predictions for sampled crystals, DFT values for "
        "the reference (values computed from the cell are computed alike for every set); "
        "normalised per set."
    )


def _present(metrics: dict) -> list[tuple[str, dict]]:
    return [(key, metrics[key]) for key in SETS if metrics.get(key)]


def _header(metrics: dict) -> list[tuple]:
    samples = metrics["samples"]
    out: list[tuple] = [("h1", f"Crystal-GFN report: {samples['path']}")]
    line = f"{samples['n']} samples, environment `{metrics['env']}`."
    out.append(("p", line))
    out.append(("p", VALUES_NOTE))
    for label, block in (("sample", samples), ("reference", metrics.get("reference") or {})):
        bad = block.get("non_finite") or {}
        if bad.get("n"):
            rows = ", ".join(map(str, bad["rows"][:10])) + (" ..." if bad["n"] > 10 else "")
            what = " or ".join(key for key in bad if key not in ("n", "rows"))
            out.append(("p", f"**{bad['n']} {label} row(s) have a NaN or infinite {what}** "
                        f"(row {rows}): counted, but not measured."))
    return out


#: settings shown in the run's summary table; the others are listed below it
_HEADLINE = ("env", "proxy", "loss", "batch_size", "seed")


def _run(metrics: dict) -> list[tuple]:
    """Settings, reward, restrictions, training time and curves of the run (``--run``)."""
    run = metrics.get("run")
    if not run:
        return []
    settings, training = run["settings"], run["training"]
    seconds = training.get("seconds")
    rows = [[key, settings[key]] for key in _HEADLINE if key in settings]
    reward = run.get("reward") or {}
    if reward:
        rows.append(["reward", ", ".join(f"{key} = {value}" for key, value in reward.items())])
    for key, value in (run.get("restrictions") or {}).items():
        rows.append([f"restriction: {key}", value])
    rows.append(["steps trained", f"{training['steps']} (config: {settings.get('steps', '–')})"])
    rows.append([
        "training time", "–" if seconds is None else f"{clock(seconds)} ({seconds:.1f} s"
        + (", estimated from the trajectory rate)" if training.get("estimated") else ")"),
    ])
    last = training.get("last") or {}
    if last:
        rows.append(["last step", ", ".join(f"{key} {fmt(value)}" for key, value in last.items())])
    others = [f"`{key} = {value}`" for key, value in settings.items()
              if key not in _HEADLINE and key != "steps"]
    out: list[tuple] = [("h2", "Training run"), ("p", f"Run folder `{run['path']}`."),
                        ("table", ["", "value"], rows)]
    if others:
        out.append(("p", "Other settings: " + ", ".join(others) + "."))
    if "training_curves.png" in metrics["plots"]:
        out.append(("img", "training_curves.png", _caption("training_curves.png")))
    return out


def _sets(metrics: dict) -> list[tuple]:
    rows = [["samples", metrics["samples"]["path"], metrics["samples"]["n"],
             "the crystals this report is about", "proxy predictions"]]
    for key, block in _present(metrics):
        values = "DFT" if key.startswith("reference") else "proxy predictions"
        rows.append([block["label"], block["path"], block["n"], block["what"], values])
    out: list[tuple] = [("h2", "Compared sets"), ("table",
                        ["set", "file", "crystals", "what", "property values"], rows)]
    if metrics.get("reference_in_space"):
        out.append(("p", "The **reference in the sampling space** is the fair comparison: the "
                    "reference crystals that no check of the run's environment rejects (its "
                    "elements, counts per element, number of elements, space groups, cell "
                    "ranges and restrictions), i.e. the real crystals this sampler could have "
                    "produced. The whole reference is drawn lighter and dotted."))
    return out


def _columns(metrics: dict, key: str) -> list[tuple[str, dict]]:
    """(header, block) of the samples, the top-k and each comparison set holding ``key``."""
    out = [("samples", metrics)]
    if key in metrics["top_k"]:
        out.append(("top-k", metrics["top_k"]))
    for name, block in _present(metrics):
        if name == "reference_in_space" and key == "validity":
            continue  # all 1 by construction
        header = block["label"]
        if name == "reference" and key == "validity":
            header += " (share inside the sampling space)"
        out.append((header, block))
    return out


def _validity(metrics: dict) -> list[tuple]:
    out: list[tuple] = [("h2", "Validity (measured)")]
    if metrics.get("validity_skipped"):
        return out + [("p", f"Not measured: {metrics['validity_skipped']}.")]
    columns = _columns(metrics, "validity")

    def cell(block: dict, name: str) -> str:
        value, evaluated = block["validity"].get(name), block["validity_evaluated"].get(name, 0)
        n = block["diversity"]["n"]
        return fmt(value) if evaluated == n else f"{fmt(value)} ({evaluated}/{n} evaluated)"

    rows = [[name, *(cell(block, name) for _, block in columns)] for name in metrics["validity"]]
    out.append(("table", ["check", *(header for header, _ in columns)], rows))
    out.append(("p", "Each share is measured by the environment's own checks on the crystals "
                "read back from the file. For sampled sets it is validity; for the **reference "
                "it is not**: real crystals are valid, and a share below 1 only says how many "
                "of them lie outside this environment's sampling space (other elements, more "
                "atoms, another space group, or a rhombohedral cell stored in hexagonal axes)."))
    return out


def _diversity(metrics: dict) -> list[tuple]:
    columns = _columns(metrics, "diversity")
    rows = [[key, *(block["diversity"].get(key) for _, block in columns)]
            for key in metrics["diversity"]]
    return [("h2", "Diversity"), ("table", ["", *(header for header, _ in columns)], rows),
            ("p", "unique: distinct crystals (the same value of every part: space group, "
             "formula, cell to 1e-3); the other rows count distinct values.")]


def _top(metrics: dict) -> list[tuple]:
    top = metrics["top_k"]
    if "skipped" in top:
        return [("h2", "Top-k"), ("p", f"Top-k metrics skipped: {top['skipped']}.")]
    table = top["table"]
    files = ", ".join(f"`{name}`" for name in top["files"].values())
    text = (f"The {len(table['rows'])} samples with the highest reward (all {top['n']} of the "
            f"top-k are in {files}). Property columns are proxy predictions.")
    if table.get("judged"):
        text += f" {table['judged']} of them were judged by the oracle (its columns at right)."
    return [("h2", f"Top {len(table['rows'])} samples by reward"), ("p", text),
            ("table", table["header"], table["rows"])]


def _uncertainty(metrics: dict) -> list[tuple]:
    """Per proxy that reports its uncertainty: the samples (and top-k) flagged uncertain."""
    block = metrics.get("uncertainty") or {}
    out: list[tuple] = [("h2", "Uncertain samples")]
    if not block:
        return out + [("p", "No uncertainty columns in the samples (no proxy reported its "
                       "uncertainty, or the table predates them).")]
    top = metrics["top_k"].get("uncertainty") or {}
    items = []
    for proxy, entry in block.items():
        if "uncertain" not in entry:
            continue
        share = 100.0 * entry["share"] if entry["share"] is not None else None
        line = (f"`{proxy}`: **{entry['uncertain']} of {entry['evaluated']} samples uncertain** "
                f"({fmt(share)} %; ensemble std above the proxy's threshold)")
        if proxy in top and "uncertain" in top[proxy]:
            line += f", {top[proxy]['uncertain']} of {top[proxy]['evaluated']} in the top-k"
        if entry.get("std_median") is not None:
            line += f"; std median {fmt(entry['std_median'])}, p95 {fmt(entry['std_p95'])}"
        items.append(line + ".")
    return out + [("list", items)] if items else out


def _properties(metrics: dict) -> list[tuple]:
    """Each property's median per set and where the samples fall in the reference."""
    sets = [(key, block) for key, block in _present(metrics) if block.get("comparison")
            or key.startswith("reference")]
    by_key = {"reference": metrics.get("comparison") or {},
              "reference_in_space": metrics.get("comparison_in_space") or {}}
    names = [name for name in metrics["properties"]
             if any(name in (by_key.get(k) or b.get("comparison") or {}) for k, b in sets)]
    if not names:
        return []
    primary = "reference_in_space" if metrics.get("reference_in_space") else "reference"
    header = ["property", "samples median (proxy)"]
    header += [f"{block['label']} median" for _, block in sets]
    rows = []
    for name in names:
        row = [name, _first_median(metrics, name)]
        for key, block in sets:
            entry = (by_key.get(key) if key in by_key else block["comparison"]).get(name) or {}
            row.append(entry.get("reference_median"))
        rows.append(row)
    out: list[tuple] = [("h2", "Properties against the reference and the baseline"),
                        ("table", header, rows)]
    comparison = by_key.get(primary) or {}
    if comparison:
        label = metrics[primary]["label"]
        fields = ("reference_p5", "reference_median", "reference_p95",
                  "fraction_below_reference_p5", "fraction_above_reference_p95")
        out.append(("p", f"Where the samples fall in the distribution of the {label} (DFT): for "
                    "a property to minimise, such as a formation energy, a good sampler puts "
                    "many samples below the reference's 5th percentile."))
        rows = [[name, *(entry.get(f) for f in fields)] for name, entry in comparison.items()]
        out.append(("table", ["property", *fields], rows))
    return out


def _first_median(metrics: dict, name: str):
    for key in ("comparison_in_space", "comparison"):
        entry = (metrics.get(key) or {}).get(name)
        if entry:
            return entry["sample_median"]
    for key in ("baseline", "compare"):
        entry = ((metrics.get(key) or {}).get("comparison") or {}).get(name)
        if entry:
            return entry["sample_median"]
    return (metrics["summary"].get(name) or {}).get("median")


def _summaries(metrics: dict) -> list[tuple]:
    stats = ("mean", "median", "p5", "p95")
    out: list[tuple] = []
    for title, block in (("samples", metrics), ("reference", metrics.get("reference"))):
        if block:
            out += [("h2", f"Summary statistics ({title})"),
                    ("table", ["column", *stats],
                     [[n, *(s[k] for k in stats)] for n, s in block["summary"].items()])]
    return out


def _plots(metrics: dict, names) -> list[tuple]:
    return [("img", name, _caption(name)) for name in names]


def document(metrics: dict) -> list[tuple]:
    """Every section of the report, in order."""
    plots = metrics["plots"]
    judge = [name for name in plots if name.startswith("judge_")]
    distributions = [name for name in plots if name not in judge and name != "training_curves.png"]
    out = _header(metrics) + _run(metrics) + _sets(metrics) + _validity(metrics)
    out += _diversity(metrics) + _top(metrics) + _uncertainty(metrics) + _properties(metrics)
    if distributions:
        out += [("h2", "Distributions"), ("p", "Samples filled in blue; each comparison set "
                 "as a line (legend). Every set is normalised on its own; ranges cover the "
                 "0.5th–99.5th percentile, values outside are counted in the edge bins.")]
        out += _plots(metrics, distributions)
    if metrics.get("evaluation"):
        out += evaluation_blocks(metrics["evaluation"], metrics.get("judged") or ())
        out += _plots(metrics, judge)
    return out + _summaries(metrics)
