"""PNG plots of a report: the samples, with every comparison set (reference, the reference
inside the sampling space, a baseline, another run) overlaid, normalised per set.

Figures are drawn with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so
reports neither need a display nor change pyplot's global backend. A plot whose columns the
samples lack (e.g. a run on a third-party environment) is not drawn. Beside one histogram
per property, the plots are drawn by the report parts of the parts the samples hold
(:mod:`crystalgfn.report.parts`), with the helpers of this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crystalgfn.errors import ConfigError
from crystalgfn.report.io import Crystals
from crystalgfn.report.parts import column_info, report_parts

SAMPLE_COLOR = "#1f77b4"
REFERENCE_COLOR = "#d62728"
#: Labels of the columns a report adds itself; the others are declared by report parts and
#: proxies (:func:`crystalgfn.report.parts.column_info`).
LABELS = {"log_reward": "log reward (log R)"}
#: What the report's own plots show, by file name; report parts and judges caption theirs
#: (``hist_<column>.png`` without a caption gets a generic line).
CAPTIONS = {
    "training_curves.png": "the training loss, the learned log Z and the batch's mean log "
    "reward per step (thin: each step; thick: running mean).",
    "hist_log_reward.png": "log reward under the run's reward: of the samples as sampled; "
    "of the baseline and of the reference crystals inside the sampling space as the run's "
    "reward scores them (from the proxies' predictions, not DFT), when --run is given.",
    "hist_reward.png": "reward of each sampled crystal.",
}


def captions() -> dict[str, str]:
    """Captions of every plot a report may hold: its own, the report parts' and the
    installed judges'."""
    from crystalgfn.plugins import get_plugins

    out = dict(CAPTIONS)
    for part in report_parts():
        out.update(part.captions)
    for entry in get_plugins().judges:
        try:
            out.update(getattr(entry.factory, "captions", {}))
        except Exception:  # a judge that cannot load captions nothing
            continue
    return out


@dataclass(frozen=True)
class Series:
    """One set drawn on the plots: the samples (filled) or a comparison set (a line).

    ``label`` names the set in legends; ``values`` says where its property values come from
    (e.g. ``"proxy prediction"``, ``"DFT"``), appended to the label on property plots."""

    label: str
    crystals: Crystals
    color: str
    linestyle: str = "-"
    filled: bool = False
    values: str = ""

    def legend(self, n: int, prop: bool = False) -> str:
        source = f", {self.values}" if prop and self.values else ""
        return f"{self.label}{source} (n={n})"


def _figure_class():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError(
            "crystalgfn report draws its plots with matplotlib, which is not installed: "
            "pip install 'crystalgfn[report]' (or pip install 'matplotlib>=3.7')"
        ) from None
    return Figure, FigureCanvasAgg


def require_matplotlib() -> None:
    """Raise :class:`ConfigError` with the install command if matplotlib is missing."""
    _figure_class()


def title(name: str) -> str:
    """How column ``name`` is named on plots: as declared, else with spaces."""
    return LABELS.get(name) or column_info(name, report_parts()).title


def axis_label(name: str) -> str:
    unit = column_info(name, report_parts()).unit
    return f"{title(name)} ({unit})" if unit else title(name)


def new_figure(
    width: float = 7.0, height: float = 4.5, ncols: int = 1, bottom: float = 0.8, top: float = 0.45
):
    """A figure with fixed margins in inches (no layout engine: drawing once is enough)."""
    Figure, FigureCanvasAgg = _figure_class()
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    figure.subplots_adjust(
        left=0.85 / width * (1 if ncols == 1 else 1.1),
        right=1 - 0.25 / width,
        bottom=bottom / height,
        top=1 - top / height,
        wspace=0.3,
    )
    axes = figure.subplots(1, ncols, squeeze=False)[0]
    return figure, axes


def save(figure, out_dir: Path, name: str) -> str:
    figure.savefig(out_dir / name, dpi=110)
    return name


def _finite(values: np.ndarray | None) -> np.ndarray:
    if values is None:
        return np.empty(0)
    return values[np.isfinite(values)]


def _integer_bins(low: float, high: float) -> np.ndarray:
    """Edges at half-integers, each bin holding ``step`` whole numbers (1, 2, 5, 10, ...;
    at most about 60 bins), the first starting at a multiple of ``step``."""
    low, high = int(np.floor(low)), int(np.ceil(high))
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if (high - low + 1) / s <= 60)
    start = low - low % step
    return np.arange(start, high + step + 1, step) - 0.5


def _bins(sets: Sequence[np.ndarray], n_bins: int = 40, integer: bool = False):
    """Shared bin edges and whether the axis is logarithmic. The range covers the 0.5th to
    99.5th percentile of each set (outliers are clipped into the edge bins)."""
    data = [s for s in sets if s.size]
    low = min(float(np.percentile(s, 0.5)) for s in data)
    high = max(float(np.percentile(s, 99.5)) for s in data)
    if integer:
        return _integer_bins(low, high), False
    if high <= low:
        return np.linspace(low - 0.5, high + 0.5, n_bins + 1), False
    if low > 0 and high / low > 100:
        return np.geomspace(low, high, n_bins + 1), True
    return np.linspace(low, high, n_bins + 1), False


def per_unit_width(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Weights that make a histogram of ``values`` on ``edges`` a probability density: each
    value counts ``1 / (n × the width of its bin)``."""
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return 1.0 / (values.size * np.diff(edges)[index])


def histogram(
    ax, name: str, series: Sequence[Series], integer: bool = False, prop: bool = False
) -> None:
    """Histograms of column ``name`` of every series that has it, on shared bins."""
    present = [(s, _finite(s.crystals.numeric.get(name))) for s in series]
    present = [(s, values) for s, values in present if values.size]
    ax.set_xlabel(axis_label(name))
    if not present:
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        return
    edges, log = _bins([values for _, values in present], integer=integer)
    for s, values in present:
        # Linear bins: probability density. Logarithmic bins (equal widths in log x): share
        # of the set per bin, which is what the eye compares on a log axis.
        clipped = np.clip(values, edges[0], edges[-1])
        weights = np.full(values.size, 1 / values.size) if log else per_unit_width(clipped, edges)
        style = (
            {"histtype": "stepfilled", "alpha": 0.5}
            if s.filled
            else {"histtype": "step", "linewidth": 1.8, "linestyle": s.linestyle}
        )
        ax.hist(
            clipped, bins=edges, weights=weights, color=s.color,
            label=s.legend(values.size, prop), **style,
        )
    if log:
        ax.set_xscale("log")
        ax.set_xlabel(axis_label(name) + ", log scale")
    if integer:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("share per bin (log-spaced bins)" if log else "share per unit width")
    ax.legend(fontsize="small")


def property_histogram(
    out_dir: Path, name: str, series: Sequence[Series], prop: bool = True
) -> str:
    """``hist_<name>.png``: one column of every set."""
    figure, (ax,) = new_figure()
    histogram(ax, name, series, prop=prop)
    ax.set_title(f"Distribution of {title(name)}")
    return save(figure, out_dir, f"hist_{name}.png")


def count_histogram(out_dir: Path, name: str, heading: str, series: Sequence[Series]) -> str:
    """``<name>.png``: an integer column, one bin per whole number (or per 2, 5, ...)."""
    figure, (ax,) = new_figure()
    histogram(ax, name, series, integer=True)
    ax.set_title(heading)
    return save(figure, out_dir, f"{name}.png")


def grouped_histograms(
    out_dir: Path, file_name: str, heading: str, names: Sequence[str], series: Sequence[Series]
) -> str:
    """Side-by-side histograms of several columns (e.g. the three cell lengths)."""
    figure, axes = new_figure(width=5.0 * len(names), height=4.4, ncols=len(names), top=0.7)
    for ax, name in zip(axes, names, strict=True):
        histogram(ax, name, series)
        ax.set_title(column_info(name, report_parts()).label or name)
    figure.suptitle(heading)
    return save(figure, out_dir, file_name)


def bars(ax, labels: Sequence[str], shares: Sequence[tuple[Series, np.ndarray]]) -> None:
    """Grouped bars: one bar per set at each label."""
    x = np.arange(len(labels))
    width = 0.8 / len(shares)
    for i, (s, values) in enumerate(shares):
        ax.bar(
            x - 0.4 + width * (i + 0.5), values, width=width, color=s.color,
            alpha=0.8 if s.filled else 0.65, label=s.label,
        )
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.legend(fontsize="small")


def category_shares(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    counts = np.array([sum(1 for v in values if v == c) for c in categories], dtype=np.float64)
    return counts / max(len(values), 1)


def draw_all(
    out_dir: Path,
    series: Sequence[Series],
    properties: Sequence[str],
    space: Sequence[Series] = (),
) -> list[str]:
    """Draw every plot the samples (``series[0]``) have columns for into ``out_dir``; returns
    the file names. ``space``: the sets whose elements the element plot shows (default: the
    samples)."""
    samples = series[0].crystals
    files = [property_histogram(out_dir, name, series) for name in properties]
    # One plot of the reward: log R when the table has it (R spans decades), else R.
    reward = next((name for name in ("log_reward", "reward") if name in samples.numeric), None)
    if reward is not None:
        files.append(property_histogram(out_dir, reward, series, prop=False))
    # each part the samples hold draws its own plots (e.g. a cell's lengths and angles)
    for part in report_parts(list(samples.values)):
        files += part.plots(out_dir, series, space or series[:1])
    return files
