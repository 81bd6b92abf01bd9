"""PNG plots of a report: samples, and the reference overlaid (density-normalised) if given.

Figures are drawn with :class:`matplotlib.figure.Figure` and the Agg canvas directly, so
reports neither need a display nor change pyplot's global backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crystalgfn.elements import symbols
from crystalgfn.errors import ConfigError
from crystalgfn.parts import CRYSTAL_SYSTEMS
from crystalgfn.report.io import Crystals

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
    "n_atoms": "atoms per conventional cell",
}
LABELS = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "formation_energy": "formation energy",
    "band_gap": "band gap",
    "n_atoms": "number of atoms",
}


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


def _bins(sets: Sequence[np.ndarray], n_bins: int = 40, integer: bool = False):
    """Shared bin edges and whether the axis is logarithmic. The range covers the 0.5th to
    99.5th percentile of each set (outliers are clipped into the edge bins)."""
    data = [s for s in sets if s.size]
    low = min(float(np.percentile(s, 0.5)) for s in data)
    high = max(float(np.percentile(s, 99.5)) for s in data)
    if integer:
        low, high = int(np.floor(low)), int(np.ceil(high))
        step = max(1, int(np.ceil((high - low + 1) / 60)))
        return np.arange(low - 0.5, high + step + 0.5, step), False
    if high <= low:
        return np.linspace(low - 0.5, high + 0.5, n_bins + 1), False
    if low > 0 and high / low > 100:
        return np.geomspace(low, high, n_bins + 1), True
    return np.linspace(low, high, n_bins + 1), False


def _histogram(
    ax, name: str, samples: np.ndarray, reference: np.ndarray | None, integer: bool = False
) -> None:
    samples, reference = _finite(samples), _finite(reference)
    if not samples.size and not reference.size:
        ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(axis_label(name))
        return
    edges, log = _bins([samples, reference], integer=integer)
    clip = (edges[0], edges[-1])

    def normalised(values):
        # Linear bins: probability density. Logarithmic bins (equal widths in log x): share
        # of the set per bin, which is what the eye compares on a log axis.
        return (
            {"density": True} if not log else {"weights": np.full(values.size, 1.0 / values.size)}
        )

    if samples.size:
        ax.hist(
            np.clip(samples, *clip),
            bins=edges,
            histtype="stepfilled",
            alpha=0.55,
            color=SAMPLE_COLOR,
            label=f"samples (n={samples.size})",
            **normalised(samples),
        )
    if reference.size:
        ax.hist(
            np.clip(reference, *clip),
            bins=edges,
            histtype="step",
            linewidth=2,
            color=REFERENCE_COLOR,
            label=f"reference (n={reference.size})",
            **normalised(reference),
        )
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(axis_label(name) + (", log scale" if log else ""))
    ax.set_ylabel("share per bin (log-spaced bins)" if log else "probability density")
    ax.legend(fontsize="small")


def _column(crystals: Crystals | None, name: str) -> np.ndarray | None:
    if crystals is None:
        return None
    return crystals.numeric.get(name)


def property_histogram(
    out_dir: Path, name: str, samples: Crystals, reference: Crystals | None
) -> str:
    figure, (ax,) = _new_figure()
    _histogram(ax, name, samples.numeric[name], _column(reference, name))
    ax.set_title(f"Distribution of {LABELS.get(name, name.replace('_', ' '))}")
    return _save(figure, out_dir, f"hist_{name}.png")


def grouped_histograms(
    out_dir: Path,
    file_name: str,
    title: str,
    names: Sequence[str],
    samples: Crystals,
    reference: Crystals | None,
    integer: bool = False,
) -> str:
    figure, axes = _new_figure(width=5.0 * len(names), height=4.4, ncols=len(names), top=0.7)
    for ax, name in zip(axes, names, strict=True):
        _histogram(ax, name, samples.numeric[name], _column(reference, name), integer=integer)
        ax.set_title(LABELS.get(name, name))
    figure.suptitle(title)
    return _save(figure, out_dir, file_name)


def _bars(ax, labels: Sequence[str], sample_shares, reference_shares, width: float = 0.4) -> None:
    x = np.arange(len(labels))
    if reference_shares is None:
        ax.bar(x, sample_shares, width=0.8, color=SAMPLE_COLOR, label="samples")
    else:
        ax.bar(x - width / 2, sample_shares, width=width, color=SAMPLE_COLOR, label="samples")
        ax.bar(
            x + width / 2, reference_shares, width=width, color=REFERENCE_COLOR, label="reference"
        )
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.legend(fontsize="small")


def element_frequency(out_dir: Path, samples: Crystals, reference: Crystals | None) -> str:
    """Share of crystals containing each element, elements sorted by Z."""
    present = (samples.values["composition"] > 0).double().mean(dim=0).numpy()
    ref = (
        None
        if reference is None
        else (reference.values["composition"] > 0).double().mean(dim=0).numpy()
    )
    used = present > 0 if ref is None else (present > 0) | (ref > 0)
    zs = np.flatnonzero(used)
    names = symbols()
    figure, (ax,) = _new_figure(width=max(7.0, 0.22 * len(zs) + 2), height=4.8, bottom=1.0)
    _bars(ax, [names[z] for z in zs], present[zs], None if ref is None else ref[zs])
    ax.tick_params(axis="x", labelsize=8 if len(zs) <= 40 else 7, rotation=90)
    ax.set_xlabel("element (sorted by atomic number Z)")
    ax.set_ylabel("share of crystals containing the element")
    ax.set_title("Element frequencies")
    return _save(figure, out_dir, "element_frequency.png")


def space_group_histogram(out_dir: Path, samples: Crystals, reference: Crystals | None) -> str:
    figure, (ax,) = _new_figure(width=11.0, height=4.5)
    edges = np.arange(0.5, 231.5)
    ax.hist(
        samples.values["spacegroup"].numpy(),
        bins=edges,
        density=True,
        histtype="stepfilled",
        color=SAMPLE_COLOR,
        alpha=0.6,
        label=f"samples (n={samples.n})",
    )
    if reference is not None:
        ax.hist(
            reference.values["spacegroup"].numpy(),
            bins=edges,
            density=True,
            histtype="step",
            linewidth=1.5,
            color=REFERENCE_COLOR,
            label=f"reference (n={reference.n})",
        )
    ax.set_xlim(0.5, 230.5)
    boundaries = (2, 15, 74, 142, 167, 194)
    for boundary in boundaries:
        ax.axvline(boundary + 0.5, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xlabel(
        "space group (international number, 1–230; dotted lines separate crystal systems)"
    )
    ax.set_ylabel("share of crystals")
    ax.set_title("Space groups")
    ax.legend(fontsize="small")
    return _save(figure, out_dir, "space_group_histogram.png")


def _category_shares(values: Sequence[str], categories: Sequence[str]) -> np.ndarray:
    counts = np.array([sum(1 for v in values if v == c) for c in categories], dtype=np.float64)
    return counts / max(len(values), 1)


def crystal_system_histogram(out_dir: Path, samples: Crystals, reference: Crystals | None) -> str:
    seen = set(samples.text("crystal_system")) | (
        set(reference.text("crystal_system")) if reference else set()
    )
    categories = [c for c in CRYSTAL_SYSTEMS if c in seen] + sorted(seen - set(CRYSTAL_SYSTEMS))
    figure, (ax,) = _new_figure(bottom=1.2)
    _bars(
        ax,
        categories,
        _category_shares(samples.text("crystal_system"), categories),
        None
        if reference is None
        else _category_shares(reference.text("crystal_system"), categories),
    )
    ax.tick_params(axis="x", rotation=30)
    ax.set_xlabel("crystal system")
    ax.set_ylabel("share of crystals")
    ax.set_title("Crystal systems")
    return _save(figure, out_dir, "crystal_system_histogram.png")


def draw_all(
    out_dir: Path, samples: Crystals, reference: Crystals | None, properties: Sequence[str]
) -> list[str]:
    """Draw every plot into ``out_dir``; returns the file names."""
    files = [property_histogram(out_dir, name, samples, reference) for name in properties]
    if "reward" in samples.numeric:
        files.append(property_histogram(out_dir, "reward", samples, None))
    files.append(
        grouped_histograms(
            out_dir,
            "lattice_lengths.png",
            "Lattice lengths a, b, c",
            ("a", "b", "c"),
            samples,
            reference,
        )
    )
    files.append(
        grouped_histograms(
            out_dir,
            "lattice_angles.png",
            "Lattice angles α, β, γ",
            ("alpha", "beta", "gamma"),
            samples,
            reference,
        )
    )
    files.append(
        grouped_histograms(
            out_dir,
            "n_atoms.png",
            "Atoms per conventional cell",
            ("n_atoms",),
            samples,
            reference,
            integer=True,
        )
    )
    files.append(element_frequency(out_dir, samples, reference))
    files.append(space_group_histogram(out_dir, samples, reference))
    files.append(crystal_system_histogram(out_dir, samples, reference))
    return files
