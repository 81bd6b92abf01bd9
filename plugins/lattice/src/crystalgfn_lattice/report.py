"""What reports know about the ``lattice`` part: the cell's six columns, its volume, the
cell column of the top-k table and the plots of cell lengths and angles."""

from __future__ import annotations

import torch
from crystalgfn.geometry import cell_volume
from crystalgfn.report.parts import Column, ReportPart

LENGTHS = ("a", "b", "c")
ANGLES = ("alpha", "beta", "gamma")
CELL = (*LENGTHS, *ANGLES)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


class LatticeReport(ReportPart):
    name = "lattice"
    columns = (
        *(Column(name, unit="Å") for name in LENGTHS),
        *(Column(name, label, "°") for name, label in zip(ANGLES, "αβγ", strict=True)),
    )
    described = (Column("volume", unit="Å³"),)
    # a NaN cell (e.g. an impossible angle triple) is flagged rather than measured
    finite = True
    captions = {
        "lattice_lengths.png": "conventional cell lengths (Å).",
        "lattice_angles.png": "conventional cell angles (°).",
    }

    def read(self, cells) -> torch.Tensor:
        by_column = [cells(name, _number) for name in CELL]
        return torch.tensor(list(zip(*by_column, strict=True)), dtype=torch.float64)

    def derived(self, value):
        return {"volume": cell_volume(value, strict=False)}

    def top_columns(self, crystals):
        if not crystals.has(*CELL):
            return []

        def cell(row: int) -> str:
            values = [float(crystals.numeric[name][row]) for name in CELL]
            lengths = " ".join(f"{v:.3g}" for v in values[:3])
            return lengths + "; " + " ".join(f"{v:.4g}" for v in values[3:])

        return [("a, b, c (Å); α, β, γ (°)", cell)]

    def plots(self, out_dir, series, space):
        from crystalgfn.report.plots import grouped_histograms

        if not series[0].crystals.has(*CELL):
            return []
        return [
            grouped_histograms(out_dir, "lattice_lengths.png", "Cell lengths a, b, c",
                               LENGTHS, series),
            grouped_histograms(out_dir, "lattice_angles.png", "Cell angles α, β, γ",
                               ANGLES, series),
        ]
