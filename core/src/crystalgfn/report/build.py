"""Build a report directory: metrics.json, top-k CSV files, PNG plots and report.md."""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path

from crystalgfn.errors import ConfigError
from crystalgfn.report import metrics as m
from crystalgfn.report import plots, tables
from crystalgfn.report.evaluation import draw as draw_evaluation
from crystalgfn.report.evaluation import evaluation_metrics, load_evaluation
from crystalgfn.report.io import (
    Crystals,
    is_table_format,
    non_finite_rows,
    read_crystals,
    reference_from_table,
)


def load_reference(path: str | os.PathLike, out_dir: Path) -> Crystals:
    """Read a reference in the sample format, or convert a Materials Project table (detected
    by its ``conv_composition`` / ``spacegroup_number`` columns) into ``out_dir/reference.csv``
    first."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"reference file {str(path)!r} does not exist")
    if is_table_format(path):
        from crystalgfn.table import write_csv

        path = write_csv(out_dir / "reference.csv", reference_from_table(path))
    return read_crystals(path, "reference")


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
    """``{"n": rows, "rows": [...], "lattice": [...], "density": [...]}`` (1-based row numbers)
    of the rows with a NaN or infinite lattice or density, warned about by number: they are
    counted in ``n`` of every metric, but no check or summary can measure them."""
    by_column = non_finite_rows(crystals)
    rows = sorted({row for column in by_column.values() for row in column})
    if rows:
        shown = ", ".join(map(str, rows[:10]))
        if len(rows) > 10:
            shown += f" and {len(rows) - 10} more"
        detail = "; ".join(f"{name}: {len(column)}" for name, column in by_column.items() if column)
        warnings.warn(
            f"{what} file {str(crystals.path)!r}: {len(rows)} of {crystals.n} row(s) have a NaN or "
            f"infinite lattice or density ({detail}), so they count as samples but are not "
            f"measured: row(s) {shown}",
            stacklevel=3,
        )
    return {"n": len(rows), "rows": rows, **by_column}


def _set_metrics(crystals: Crystals, checks) -> dict:
    validity = m.validity_metrics(checks)
    return {
        "validity": validity["shares"],
        "validity_evaluated": validity["evaluated"],
        "diversity": m.diversity(crystals),
        "summary": m.summaries(crystals),
    }


def build_report(
    samples_csv: str | os.PathLike,
    out_dir: str | os.PathLike,
    reference_csv: str | os.PathLike | None = None,
    env=None,
    top: int = 100,
    plot: bool = True,
    evaluations=(),
) -> dict:
    """Write the report of ``samples_csv`` into ``out_dir``; returns the metrics (as written
    to ``out_dir/metrics.json``). See ``docs/report.md`` for every metric.

    ``env`` is the environment whose validity checks run: a spec (default ``"crystal"``) or an
    environment object, e.g. a run's restricted environment, so that a restriction is checked
    on every sample rather than assumed. ``evaluations``: ``(label, folder)`` pairs written by
    ``crystalgfn evaluate``, shown side by side in the judge's section."""
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top must be a positive integer, got {top!r}")
    if plot:
        plots.require_matplotlib()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report directory {str(out)!r} exists and is not a directory")
    samples = read_crystals(samples_csv, "samples")
    judged = [load_evaluation(label, Path(path)) for label, path in evaluations]
    out.mkdir(parents=True, exist_ok=True)
    reference = load_reference(reference_csv, out) if reference_csv is not None else None
    if env is None or isinstance(env, str):
        spec = env or "crystal"
        env_ = environment(spec)
    else:
        env_, spec = env, getattr(env, "spec", env.name)

    checks = m.row_validity(env_, samples.values)
    valid = m.all_valid(checks, samples.n)
    result: dict = {
        "samples": {
            "path": str(samples_csv), "n": samples.n, "columns": samples.names,
            "non_finite": _non_finite(samples, "samples"),
        },
        "env": spec,
        **_set_metrics(samples, checks),
    }
    properties = samples.properties()
    result["properties"] = properties
    result["uncertainty"] = m.uncertainty(samples)
    ks = sorted({min(10, top), top})
    if "reward" in samples.numeric:
        best = m.top_rows(samples, top)
        top_set = samples.select(best)
        top_checks = {name: column[best] for name, column in checks.items()}
        files = {}
        for k in ks:
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
        }
    else:
        top_set = None
        result["top_k"] = {
            "k": top,
            "skipped": "the samples have no 'reward' column, so there is no top-k by reward "
            "(samples from a trained policy have one)",
        }
    if reference is not None:
        reference_checks = m.row_validity(env_, reference.values)
        result["reference"] = {
            "path": str(reference_csv),
            "converted_to": str(reference.path)
            if Path(reference.path) != Path(reference_csv)
            else None,
            "n": reference.n,
            "columns": reference.names,
            "non_finite": _non_finite(reference, "reference"),
            **_set_metrics(reference, reference_checks),
        }
        result["comparison"] = m.comparisons(samples, reference, properties)
        if top_set is not None:
            result["top_k"]["comparison"] = m.comparisons(top_set, reference, properties)
    else:
        result["reference"] = None
        result["comparison"] = None
    result["plots"] = plots.draw_all(out, samples, reference, properties) if plot else []
    if judged:
        result["evaluation"] = evaluation_metrics(judged)
        if plot:
            result["plots"] += draw_evaluation(out, judged)
    result["files"] = {
        "metrics": "metrics.json",
        "report": "report.md",
        **result["top_k"].get("files", {}),
        "plots": result["plots"],
    }
    result = _jsonable(result)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(tables.markdown_report(result))
    return result
