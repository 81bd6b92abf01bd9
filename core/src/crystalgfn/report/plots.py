"""PNG plots of a report: the samples, with every comparison set (reference, the reference
inside the sampling space, a baseline, another run) overlaid, density-normalised.

Figures are drawn with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so
reports neither need a display nor change pyplot's global backend. A plot whose columns the
samples lack (e.g. a run on a third-party environment) is not drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crystalgfn.elements import symbols
from crystalgfn.errors import ConfigError
from crystalgfn.parts import CRYSTAL_SYSTEMS
from crystalgfn.report.io import LATTICE_COLUMNS, Crystals

SAMPLE_COLOR = "#1f77b4"
REFERENCE_COLOR = "#d62728"
#: Units of known columns, for axis labels.
UNITS = {
    "a": "Å",
    "b": "Å",
    "c": "Å",
    "alpha": "°",
    "beta": "°",
    "gamma": "°",
    "volume": "Å³",
    "density": "g/cm³",
    "formation_energy": "eV/atom",
    "band_gap": "eV",
}
LABELS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "formation_energy": "formation energy",
    "band_gap": "band gap",
    "n_atoms": "atoms per conventional cell",
    "log_reward": "log reward (log R)",
}
#: What each plot shows, by file name, for the report's captions (``hist_<column>.png``
#: without an entry gets a generic line).
CAPTIONS = {
    "training_curves.png": "the training loss, the learned log Z and the batch's mean log "
    "reward per step (thin: each step; thick: running mean).",
    "hist_log_reward.png": "log reward under the run's reward: of the samples as sampled; "
    "of the baseline and of the reference crystals inside the sampling space as the run's "
    "reward scores them (from the proxies' predictions, not DFT), when --run is given.",
    "hist_reward.png": "reward of each sampled crystal.",
    "lattice_lengths.png": "conventional cell lengths (Å).",
    "lattice_angles.png": "conventional cell angles (°).",
    "n_atoms.png": "atoms per conventional cell, one bin per whole number (or per 2, 5, ...).",
    "element_frequency.png": "share of crystals containing each element, for the elements "
    "of the samples (and of the sets sampled in the same environment).",
    "space_group_histogram.png": "share of crystals per space group; the shaded bands and "
    "names mark the seven crystal systems.",
    "crystal_system_histogram.png": "share of crystals per crystal system.",
    "judge_e_above_hull.png": "energy above the oracle's own hull after relaxation.",
    "judge_proxy_vs_oracle.png": "formation energy in the input (proxy prediction for sampled "
    "crystals, DFT for reference crystals) against the oracle's after relaxation.",
}


#: Last space group of each crystal system (1-2 triclinic, ..., 195-230 cubic).
SYSTEM_ENDS = (2, 15, 74, 142, 167, 194, 230)


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


def axis_label(name: str) -> str:
    label = LABELS.get(name, name.replace("_", " "))
    unit = UNITS.get(name)
    return f"{label} ({unit})" if unit else label


def _new_figure(
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


def _save(figure, out_dir: Path, name: str) -> str:
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


def _histogram(
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
        share = {"weights": np.full(values.size, 1 / values.size)}
        weights = share if log else {"density": True}
        style = (
            {"histtype": "stepfilled", "alpha": 0.5}
            if s.filled
            else {"histtype": "step", "linewidth": 1.8, "linestyle": s.linestyle}
        )
        ax.hist(
            np.clip(values, edges[0], edges[-1]), bins=edges, color=s.color,
            label=s.legend(values.size, prop), **style, **weights,
        )
    if log:
        ax.set_xscale("log")
        ax.set_xlabel(axis_label(name) + ", log scale")
    if integer:
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("share per bin (log-spaced bins)" if log else "probability density")
    ax.legend(fontsize="small")


def property_histogram(
    out_dir: Path, name: str, series: Sequence[Series], prop: bool = True
) -> str:
    """``hist_<name>.png``: one column of every set."""
    figure, (ax,) = _new_figure()
    _histogram(ax, name, series, prop=prop)
    ax.set_title(f"Distribution of {LABELS.get(name, name.replace('_', ' '))}")
    return _save(figure, out_dir, f"hist_{name}.png")


def count_histogram(out_dir: Path, name: str, title: str, series: Sequence[Series]) -> str:
    """``<name>.png``: an integer column, one bin per whole number (or per 2, 5, ...)."""
    figure, (ax,) = _new_figure()
    _histogram(ax, name, series, integer=True)
    ax.set_title(title)
    return _save(figure, out_dir, f"{name}.png")


def grouped_histograms(
    out_dir: Path, file_name: str, title: str, names: Sequence[str], series: Sequence[Series]
) -> str:
    """Side-by-side histograms of several columns (e.g. the three cell lengths)."""
    figure, axes = _new_figure(width=5.0 * len(names), height=4.4, ncols=len(names), top=0.7)
    for ax, name in zip(axes, names, strict=True):
        _histogram(ax, name, series)
        ax.set_title(LABELS.get(name, name))
    figure.suptitle(title)
    return _save(figure, out_dir, file_name)


def _bars(ax, labels: Sequence[str], shares: Sequence[tuple[Series, np.ndarray]]) -> None:
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


def shown_elements(space: Sequence[Series]) -> list[int]:
    """Atomic numbers Z, ascending, of the elements present in any of the ``space`` sets
    (the samples and the sets drawn from the same environment): the element plot shows
    these, since a reference spanning many more would bury the run's few in empty columns."""
    used = np.zeros(119, dtype=bool)
    for s in space:
        if "composition" in s.crystals.values:
            used |= (s.crystals.values["composition"] > 0).any(dim=0).numpy()
    return np.flatnonzero(used).tolist()


def element_frequency(out_dir: Path, series: Sequence[Series], space: Sequence[Series]) -> str:
    """Share of crystals containing each of the :func:`shown_elements`, sorted by Z."""
    zs = shown_elements(space)
    names = symbols()
    shares = [
        (s, (s.crystals.values["composition"][:, zs] > 0).double().mean(dim=0).numpy())
        for s in series
        if "composition" in s.crystals.values
    ]
    figure, (ax,) = _new_figure(width=min(12.0, max(7.0, 0.38 * len(zs) + 1.5)), height=4.6)
    _bars(ax, [names[z] for z in zs], shares)
    ax.tick_params(axis="x", labelsize=10)
    ax.set_xlabel("element (those of the samples, sorted by atomic number Z)")
    ax.set_ylabel("share of crystals containing it")
    ax.set_title("Element frequencies")
    return _save(figure, out_dir, "element_frequency.png")


def _system_bands(ax) -> None:
    """Shade every other crystal system's range of space groups and name each at the top."""
    start = 0.5
    for i, (system, end) in enumerate(zip(CRYSTAL_SYSTEMS, SYSTEM_ENDS, strict=True)):
        if i % 2 == 0:
            ax.axvspan(start, end + 0.5, color="0.92", zorder=0)
        ax.text(
            (start + end + 0.5) / 2, 0.98, system, transform=ax.get_xaxis_transform(),
            ha="center", va="top", fontsize=8, rotation=90 if end - start < 12 else 0,
        )
        start = end + 0.5


def space_group_histogram(out_dir: Path, series: Sequence[Series]) -> str:
    """Share of crystals per international space-group number, crystal systems shaded."""
    figure, (ax,) = _new_figure(width=11.0, height=4.9, bottom=1.1)
    edges = np.arange(0.5, 231.5)
    _system_bands(ax)
    key = "spacegroup"
    for s in series:
        if key not in s.crystals.values:
            continue
        style = (
            {"histtype": "stepfilled", "alpha": 0.6}
            if s.filled
            else {"histtype": "step", "linewidth": 1.3, "linestyle": s.linestyle}
        )
        ax.hist(
            s.crystals.values[key].numpy(), bins=edges, density=True, color=s.color,
            label=s.legend(s.crystals.n), **style,
        )
    ax.set_xlim(0.5, 230.5)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # room for the system names
    ax.set_xlabel("space group (international number, 1–230; crystal systems shaded and named)")
    ax.set_ylabel("share of crystals")
    ax.set_title("Space groups")
    # below the axes: inside, any corner would hide a crystal system's bars
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.13),
              ncol=len(series), frameon=False)
    return _save(figure, out_dir, "space_group_histogram.png")


def _category_shares(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    counts = np.array([sum(1 for v in values if v == c) for c in categories], dtype=np.float64)
    return counts / max(len(values), 1)


def crystal_system_histogram(out_dir: Path, series: Sequence[Series]) -> str:
    """Share of crystals per crystal system."""
    column = "crystal_system"
    drawn = [s for s in series if column in s.crystals.columns]
    seen = set().union(*(s.crystals.text(column) for s in drawn))
    categories = [c for c in CRYSTAL_SYSTEMS if c in seen] + sorted(seen - set(CRYSTAL_SYSTEMS))
    figure, (ax,) = _new_figure(bottom=1.2)
    shares = [(s, _category_shares(s.crystals.text(column), categories)) for s in drawn]
    _bars(ax, categories, shares)
    ax.tick_params(axis="x", rotation=30)
    ax.set_xlabel("crystal system")
    ax.set_ylabel("share of crystals")
    ax.set_title("Crystal systems")
    return _save(figure, out_dir, "crystal_system_histogram.png")


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
    if samples.has(*LATTICE_COLUMNS):
        files.append(grouped_histograms(
            out_dir, "lattice_lengths.png", "Cell lengths a, b, c", LATTICE_COLUMNS[:3], series
        ))
        files.append(grouped_histograms(
            out_dir, "lattice_angles.png", "Cell angles α, β, γ", LATTICE_COLUMNS[3:], series
        ))
    if "n_atoms" in samples.numeric:
        files.append(count_histogram(out_dir, "n_atoms", "Atoms per conventional cell", series))
    if samples.has("composition"):
        files.append(element_frequency(out_dir, series, space or series[:1]))
    if samples.has("spacegroup"):
        files.append(space_group_histogram(out_dir, series))
    if samples.has("crystal_system"):
        files.append(crystal_system_histogram(out_dir, series))
    return files
