"""What reports know about the ``composition`` part: the formula column it is read back
from, atom and element counts, its diversity, and the plots of atom counts and element
frequencies."""

from __future__ import annotations

import numpy as np
import torch
from crystalgfn.elements import atom_counts, symbols
from crystalgfn.errors import UnknownNameError
from crystalgfn.report.io import parse_formula
from crystalgfn.report.parts import Column, ReportPart


def _formula(text: str) -> dict[str, int]:
    try:
        return parse_formula(text)
    except (ValueError, UnknownNameError) as error:
        message = error.args[0] if isinstance(error, UnknownNameError) else str(error)
        raise ValueError(f"cannot parse the formula ({message})") from None


def _counts(value: torch.Tensor) -> list[tuple]:
    """Per row, the (Z, count) pairs of the elements present: equal for equal formulas."""
    counts = value.round().long()
    out = []
    for row in range(counts.shape[0]):
        present = counts[row].nonzero().squeeze(1)
        out.append(tuple(zip(present.tolist(), counts[row, present].tolist(), strict=True)))
    return out


def shown_elements(space) -> list[int]:
    """Atomic numbers Z, ascending, of the elements present in any of the ``space`` sets
    (the samples and the sets drawn from the same environment): the element plot shows
    these, since a reference spanning many more would bury the run's few in empty columns."""
    used = np.zeros(119, dtype=bool)
    for s in space:
        if CompositionReport.name in s.crystals.values:
            used |= (s.crystals.values[CompositionReport.name] > 0).any(dim=0).numpy()
    return np.flatnonzero(used).tolist()


def element_frequency(out_dir, series, space) -> str:
    """Share of crystals containing each of the :func:`shown_elements`, sorted by Z."""
    from crystalgfn.report.plots import bars, new_figure, save

    zs = shown_elements(space)
    names = symbols()
    key = CompositionReport.name
    shares = [
        (s, (s.crystals.values[key][:, zs] > 0).double().mean(dim=0).numpy())
        for s in series
        if key in s.crystals.values
    ]
    figure, (ax,) = new_figure(width=min(12.0, max(7.0, 0.38 * len(zs) + 1.5)), height=4.6)
    bars(ax, [names[z] for z in zs], shares)
    ax.tick_params(axis="x", labelsize=10)
    ax.set_xlabel("element (those of the samples, sorted by atomic number Z)")
    ax.set_ylabel("share of crystals containing it")
    ax.set_title("Element frequencies")
    return save(figure, out_dir, "element_frequency.png")


class CompositionReport(ReportPart):
    name = "composition"
    columns = (Column("formula", text=True),)
    described = (Column("n_atoms", "atoms per conventional cell"), Column("n_elements"))
    captions = {
        "n_atoms.png": "atoms per conventional cell, one bin per whole number (or per 2, 5, "
        "...).",
        "element_frequency.png": "share of crystals containing each element, for the "
        "elements of the samples (and of the sets sampled in the same environment).",
    }

    def read(self, cells) -> torch.Tensor:
        return atom_counts(cells("formula", _formula))

    def derived(self, value):
        return {"n_atoms": value.sum(dim=1).double(), "n_elements": (value > 0).sum(dim=1).double()}

    def keys(self, value, decimals):
        return _counts(value)  # counts, whatever the decimals of the other parts

    def diversity(self, crystals):
        value = crystals.values[self.name]
        return {"compositions": len(set(_counts(value))),
                "elements": int((value > 0).any(dim=0).sum())}

    def top_columns(self, crystals):
        if "formula" not in crystals.columns:
            return []
        return [("formula", lambda r: crystals.columns["formula"][r])]

    def plots(self, out_dir, series, space):
        from crystalgfn.report.plots import count_histogram

        files = []
        if "n_atoms" in series[0].crystals.numeric:
            files.append(count_histogram(out_dir, "n_atoms", "Atoms per conventional cell",
                                         series))
        files.append(element_frequency(out_dir, series, space))
        return files
