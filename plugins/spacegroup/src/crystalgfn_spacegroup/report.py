"""What reports know about the ``spacegroup`` part: the columns it is read back from, its
diversity, the space-group column of the top-k table and the plots of space groups and
crystal systems."""

from __future__ import annotations

import numpy as np
import torch
from crystalgfn.parts import CRYSTAL_SYSTEMS
from crystalgfn.report.parts import Column, ReportPart

#: Last space group of each crystal system (1-2 triclinic, ..., 195-230 cubic).
SYSTEM_ENDS = (2, 15, 74, 142, 167, 194, 230)
#: diversity entry -> the text column it counts the distinct values of
DISTINCT_TEXT = {
    "crystal_systems": "crystal_system",
    "lattice_systems": "lattice_system",
    "point_symmetries": "point_symmetry",
}


def _group(text: str) -> int:
    try:
        group = int(float(text))
    except ValueError:
        raise ValueError("not an integer") from None
    if not 1 <= group <= 230 or group != float(text):
        raise ValueError("space groups are integers 1-230")
    return group


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


def space_group_histogram(out_dir, series) -> str:
    """Share of crystals per international space-group number, crystal systems shaded."""
    from crystalgfn.report.plots import new_figure, save

    figure, (ax,) = new_figure(width=11.0, height=4.9, bottom=1.1)
    edges = np.arange(0.5, 231.5)
    _system_bands(ax)
    key = SpaceGroupReport.name
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
    return save(figure, out_dir, "space_group_histogram.png")


def crystal_system_histogram(out_dir, series) -> str:
    """Share of crystals per crystal system."""
    from crystalgfn.report.plots import bars, category_shares, new_figure, save

    column = "crystal_system"
    drawn = [s for s in series if column in s.crystals.columns]
    seen = set().union(*(s.crystals.text(column) for s in drawn))
    categories = [c for c in CRYSTAL_SYSTEMS if c in seen] + sorted(seen - set(CRYSTAL_SYSTEMS))
    figure, (ax,) = new_figure(bottom=1.2)
    shares = [(s, category_shares(s.crystals.text(column), categories)) for s in drawn]
    bars(ax, categories, shares)
    ax.tick_params(axis="x", rotation=30)
    ax.set_xlabel("crystal system")
    ax.set_ylabel("share of crystals")
    ax.set_title("Crystal systems")
    return save(figure, out_dir, "crystal_system_histogram.png")


class SpaceGroupReport(ReportPart):
    name = "spacegroup"
    columns = (
        Column("space_group", "space group"),
        Column("crystal_system", text=True),
        Column("lattice_system", text=True),
        Column("point_symmetry", text=True),
    )
    described = (Column("symbol", text=True),)
    captions = {
        "space_group_histogram.png": "share of crystals per space group; the shaded bands "
        "and names mark the seven crystal systems.",
        "crystal_system_histogram.png": "share of crystals per crystal system.",
    }

    def read(self, cells) -> torch.Tensor:
        return torch.tensor(cells("space_group", _group), dtype=torch.long)

    def diversity(self, crystals):
        out = {"space_groups": len(set(crystals.values[self.name].tolist()))}
        for key, column in DISTINCT_TEXT.items():
            if column in crystals.columns:
                out[key] = len(set(crystals.text(column)))
        return out

    def top_columns(self, crystals):
        if "space_group" not in crystals.columns:
            return []
        groups, symbol = crystals.columns["space_group"], crystals.columns.get("symbol")
        return [("space group",
                 lambda r: f"{symbol[r]} ({groups[r]})" if symbol else groups[r])]

    def plots(self, out_dir, series, space):
        files = [space_group_histogram(out_dir, series)]
        if series[0].crystals.has("crystal_system"):
            files.append(crystal_system_histogram(out_dir, series))
        return files
