"""Build a report directory: metrics.json, top-k CSV files, PNG plots, report.md and the
self-contained report.html."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from crystalgfn.errors import ConfigError
from crystalgfn.report import metrics as m
from crystalgfn.report import plots, tables
from crystalgfn.report.document import document
from crystalgfn.report.evaluation import draw as draw_evaluation
from crystalgfn.report.evaluation import (
    evaluation_metrics,
    judged_table,
    load_evaluation,
    top_columns,
)
from crystalgfn.report.io import Crystals, non_finite_rows, read_crystals
from crystalgfn.report.parts import report_parts
from crystalgfn.report.reference import is_table_format, reference_from_table
from crystalgfn.report.render import to_html, to_markdown
from crystalgfn.report.run_info import read_run, training_curves
from crystalgfn.report.scoring import add_scores, run_reward

#: rows of the top-k table shown in report.md / report.html (all k are in top{k}.csv)
TOP_SHOWN = 10
BASELINE_COLOR = "#7f7f7f"
COMPARE_COLOR = "#2ca02c"
#: the whole reference, drawn lighter when the reference inside the space is drawn too
REFERENCE_ALL_COLOR = "#f4a3a3"


def load_reference(
    path: str | os.PathLike, out_dir: Path, parts: tuple[str, ...] | None = None
) -> Crystals:
    """Read a reference in the sample format, or convert a table in a registered reference
    format (e.g. a Materials Project table, detected by its header) into
    ``out_dir/reference.csv`` first."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"reference file {str(path)!r} does not exist")
    if is_table_format(path):
        from crystalgfn.table import write_csv

        path = write_csv(out_dir / "reference.csv", reference_from_table(path))
    return read_crystals(path, "reference", parts)


_ENVIRONMENTS: dict[str, tuple[object, object]] = {}


def environment(spec: str):
    """The environment whose validity checks a report runs, built once per spec and set of
    loaded plugins (building the crystal stack takes seconds)."""
    from crystalgfn.compose import make_env
    from crystalgfn.plugins import get_plugins

    plugins = get_plugins()
    cached = _ENVIRONMENTS.get(spec)
    if cached is None or cached[0] is not plugins:
        cached = _ENVIRONMENTS[spec] = (plugins, make_env(spec))
    return cached[1]


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value


def _non_finite(crystals: Crystals, what: str) -> dict:
    """``{"n": rows, "rows": [...], <part or column>: [...], ...}`` (1-based row numbers) of
    the rows with a NaN or infinite value where none may be (:func:`non_finite_rows`, e.g. a
    cell or a density), warned about by number: they are counted in ``n`` of every metric,
    but no check or summary can measure them."""
    by_column = non_finite_rows(crystals, report_parts(list(crystals.values)))
    if not by_column:
        return {"n": 0, "rows": []}
    rows = sorted({row for column in by_column.values() for row in column})
    if rows:
        shown = ", ".join(map(str, rows[:10]))
        if len(rows) > 10:
            shown += f" and {len(rows) - 10} more"
        detail = "; ".join(f"{name}: {len(column)}" for name, column in by_column.items() if column)
        warnings.warn(
            f"{what} file {str(crystals.path)!r}: {len(rows)} of {crystals.n} row(s) have a NaN or "
            f"infinite {' or '.join(by_column)} ({detail}), so they count as samples but are "
            f"not measured: row(s) {shown}",
            stacklevel=3,
        )
    return {"n": len(rows), "rows": rows, **by_column}


def _set_metrics(crystals: Crystals, checks) -> dict:
    """Validity shares, diversity and column summaries of one set."""
    validity = m.validity_metrics(checks)
    return {
        "validity": validity["shares"],
        "validity_evaluated": validity["evaluated"],
        "diversity": m.diversity(crystals),
        "summary": m.summaries(crystals),
    }


def _checks(env, crystals: Crystals) -> tuple[dict, str | None]:
    """The per-row checks of ``env`` on a set, or none and why: a part the environment
    provides that a table cannot hold (a third-party environment's) leaves validity
    unmeasured rather than failing the report."""
    unreadable = [part for part in env.provides if part not in crystals.values]
    if unreadable:
        return {}, (
            f"the environment's part(s) {unreadable} cannot be read back from a table, so its "
            "validity checks were not run"
        )
    return m.row_validity(env, crystals.values), None


def _measured(crystals: Crystals, checks: dict, label: str, path, what: str) -> dict:
    """One comparison set's entry of ``metrics.json``."""
    return {
        "label": label, "path": str(path), "what": what, "n": crystals.n,
        "columns": crystals.names, "non_finite": _non_finite(crystals, label),
        **_set_metrics(crystals, checks),
    }


def _environment(env) -> tuple[object, str]:
    if env is None or isinstance(env, str):
        spec = env or "crystal"
        return environment(spec), spec
    return env, getattr(env, "spec", env.name)


def build_report(
    samples_csv: str | os.PathLike,
    out_dir: str | os.PathLike,
    reference_csv: str | os.PathLike | None = None,
    env=None,
    top: int = 100,
    plot: bool = True,
    evaluations=(),
    baseline: tuple[str, str | os.PathLike] | None = None,
    compare: tuple[str, str | os.PathLike] | None = None,
    run_dir: str | os.PathLike | None = None,
) -> dict:
    """Write the report of ``samples_csv`` into ``out_dir``; returns the metrics (as written
    to ``out_dir/metrics.json``). See ``docs/report.md`` for every metric and section.

    ``env`` is the environment whose validity checks run: a spec (default ``"crystal"``) or an
    environment object, e.g. a run's restricted environment, so that a restriction is checked
    on every sample rather than assumed; the table columns read are those of its parts.
    ``evaluations``: ``(label, folder)`` pairs written by ``crystalgfn evaluate``, shown side
    by side in the judge's section. ``baseline``: ``(label, samples CSV)`` of a baseline
    policy (e.g. the uniform one) in the same environment. ``compare``: ``(label, samples
    CSV)`` of another run shown next to these samples (e.g. the unrestricted run of a
    restricted one).
    ``run_dir``: the training run, whose settings, time and curves are shown."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top must be a positive integer, got {top!r}")
    if plot:
        plots.require_matplotlib()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report directory {str(out)!r} exists and is not a directory")
    run = read_run(run_dir) if run_dir is not None else None
    curves = run.pop("curves") if run else None
    env_, spec = _environment(env)
    parts = tuple(env_.provides)
    samples = read_crystals(samples_csv, "samples", parts)
    base = read_crystals(baseline[1], "baseline", parts) if baseline else None
    other = read_crystals(compare[1], "compared samples", parts) if compare else None
    judged = [load_evaluation(label, Path(path)) for label, path in evaluations]
    out.mkdir(parents=True, exist_ok=True)
    reference = load_reference(reference_csv, out, parts) if reference_csv is not None else None

    # The run's reward scores the sets written without it (a uniform baseline has no proxy
    # columns): without it a baseline could not be compared on the properties at all.
    reward = run_reward(run_dir, env_) if run_dir is not None else None
    for crystals in (base, other):
        if crystals is not None and reward is not None:
            add_scores(crystals, reward, env_)
    checks, skipped = _checks(env_, samples)
    valid = m.all_valid(checks, samples.n)
    result: dict = {
        "samples": {
            "path": str(samples_csv), "n": samples.n, "columns": samples.names,
            "non_finite": _non_finite(samples, "samples"),
        },
        "env": spec,
        "validity_skipped": skipped,
        "run": run,
        **_set_metrics(samples, checks),
    }
    # a column named after one of the environment's parts describes the crystal, however
    # numeric: it is not a (predicted) property
    properties = [name for name in samples.properties() if name not in parts]
    result["properties"] = properties
    result["uncertainty"] = m.uncertainty(samples)
    top_set = _top_k(result, samples, checks, valid, top, out, properties, judged)
    series = [plots.Series("samples", samples, plots.SAMPLE_COLOR, filled=True,
                           values="proxy prediction")]
    for key, crystals, given, what, color, style in (
        ("baseline", base, baseline, "samples of the baseline policy", BASELINE_COLOR, "--"),
        ("compare", other, compare, "samples of the other run", COMPARE_COLOR, "-."),
    ):
        result[key] = None
        if crystals is not None:
            result[key] = _measured(crystals, _checks(env_, crystals)[0], given[0], given[1], what)
            result[key]["comparison"] = m.comparisons(samples, crystals, properties)
            series.append(plots.Series(given[0], crystals, color, style, values="proxy prediction"))
    space = list(series)  # the sets sampled in the environment, before any reference
    result["reference"] = result["reference_in_space"] = None
    result["comparison"] = result["comparison_in_space"] = None
    if reference is not None:
        series += _reference_sets(result, reference, reference_csv, env_, reward, samples,
                                  top_set, properties)
    result["plots"] = []
    if plot:
        if curves and curves["step"]:
            result["plots"].append(training_curves(out, curves))
        result["plots"] += plots.draw_all(out, series, properties, space)
    if judged:
        result["evaluation"] = evaluation_metrics(judged)
        if plot:
            result["plots"] += draw_evaluation(out, judged)
    result["judged"] = [judged_table(e) for e in judged if e["rows"]]
    result["files"] = {
        "metrics": "metrics.json",
        "report": "report.md",
        "html": "report.html",
        **result["top_k"].get("files", {}),
        "plots": result["plots"],
    }
    result = _jsonable(result)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    blocks = document(result)
    (out / "report.md").write_text(to_markdown(blocks))
    (out / "report.html").write_text(
        to_html(blocks, out, f"Crystal-GFN report: {Path(samples_csv).name}"), encoding="utf-8"
    )
    return result


def _reference_sets(
    result: dict, reference: Crystals, path, env, reward, samples: Crystals,
    top_set: Crystals | None, properties: list[str],
) -> list[plots.Series]:
    """Measure the reference, and the part of it inside the sampling space (the crystals no
    check of ``env`` rejects), into ``result``; returns their plot series (the part inside
    first: it is the fair comparison)."""
    checks, _ = _checks(env, reference)
    result["reference"] = _measured(reference, checks, "reference", path, "all reference crystals")
    result["reference"]["converted_to"] = (
        str(reference.path) if Path(reference.path) != Path(path) else None
    )
    result["comparison"] = m.comparisons(samples, reference, properties)
    if top_set is not None:
        result["top_k"]["comparison"] = m.comparisons(top_set, reference, properties)
    inside = m.inside_space(checks, reference.n)
    if inside is None or not 0 < len(inside) < reference.n:
        return [plots.Series("reference", reference, plots.REFERENCE_COLOR, values="DFT")]
    restricted = reference.select(inside)
    if reward is not None:  # log R only: its property columns stay the DFT values
        add_scores(restricted, reward, env, proxies=False)
    result["reference_in_space"] = _measured(
        restricted, {name: column[inside] for name, column in checks.items()},
        "reference in the sampling space", path,
        "the reference crystals no check of the environment rejects",
    )
    result["comparison_in_space"] = m.comparisons(samples, restricted, properties)
    return [
        plots.Series("reference in space", restricted, plots.REFERENCE_COLOR, values="DFT"),
        plots.Series("reference, all", reference, REFERENCE_ALL_COLOR, ":", values="DFT"),
    ]


def _top_k(result, samples, checks, valid, top, out, properties, judged) -> Crystals | None:
    """Write the top-k files and fill ``result["top_k"]``; returns the top-k set (None
    without a ``reward`` column)."""
    if "reward" not in samples.numeric:
        result["top_k"] = {
            "k": top,
            "skipped": "the samples have no 'reward' column, so there is no top-k by reward "
            "(samples from a trained policy have one)",
        }
        return None
    best = m.top_rows(samples, top)
    top_set = samples.select(best)
    top_checks = {name: column[best] for name, column in checks.items()}
    judge_columns, judge_keys = top_columns() if judged else ({}, ())
    files = {}
    for k in sorted({min(10, top), top}):
        name = f"top{k}.csv"
        tables.write_top(out / name, samples, best[:k], valid)
        files[f"top{k}"] = name
    result["top_k"] = {
        "k": top,
        "n": len(best),
        "by": "reward",
        **_set_metrics(top_set, top_checks),
        "uncertainty": m.uncertainty(top_set),
        "files": files,
        "table": tables.top_table(
            samples, best[:TOP_SHOWN], valid, properties, judged, judge_columns, judge_keys
        ),
    }
    return top_set
