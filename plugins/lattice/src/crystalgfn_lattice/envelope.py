"""The envelope of real crystals: where a cell's volume and shape may lie for its composition.

A composition's cell volume is predicted as ``V̂ = Σ_e n_e v_e`` (``n_e`` atoms of element
``e``, ``v_e`` a per-element volume in Å³ fitted on Materials Project training crystals by
``plugins/lattice/scripts/fit_envelope.py``). A cell is *plausible* when

* its volume lies in ``[tau_low · V̂, tau_high · V̂]``, and
* ``max(a, b, c) / min(a, b, c) ≤ max_length_ratio``.

The three numbers depend on the element set: crystals of light elements scatter more about
additive volumes than intermetallics do. :meth:`Envelope.window` chooses them for a given
element set from the training crystals made only of those elements, as the widest-tail
quantiles for which at least ``coverage`` (default 99 %) of those crystals pass both checks.
The shipped data (``data/envelope.json``, ``data/envelope_crystals.npz``) record the fit, its
provenance and the coverage measured on the training, validation and test crystals.

numpy only (no torch), so that a command that only describes a space stays cheap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources

import attrs
import numpy as np
from crystalgfn.errors import ConfigError

#: Envelopes shipped with the package (file stems under ``data/``).
ENVELOPES = ("mp2018",)
#: Below this many training crystals inside an element set, its own quantiles are noise: the
#: window of all training crystals is used instead (recorded in :attr:`Window.crystals`).
MIN_CRYSTALS = 50


@attrs.frozen
class Window:
    """The envelope for one element set.

    Attributes:
        element_volumes: Å³ per atom of each element of the set.
        tau_low, tau_high: factors of the volume window ``[tau_low · V̂, tau_high · V̂]``.
        max_length_ratio: largest ``max(a, b, c) / min(a, b, c)``.
        crystals: training crystals the factors were chosen on.
        coverage: share of those crystals inside the window and ratio.
    """

    element_volumes: Mapping[str, float]
    tau_low: float
    tau_high: float
    max_length_ratio: float
    crystals: int
    coverage: float

    def predicted_volume(self, composition: Mapping[str, float]) -> float:
        """``V̂`` (Å³) of a composition ``{symbol: atoms in the cell}``."""
        return sum(n * self.element_volumes[e] for e, n in composition.items())

    def contains(self, composition: Mapping[str, float], volume: float, ratio: float) -> bool:
        """Whether a cell of ``volume`` Å³ and length ratio ``ratio`` is inside the envelope."""
        predicted = self.predicted_volume(composition)
        return (
            self.tau_low * predicted <= volume <= self.tau_high * predicted
            and ratio <= self.max_length_ratio
        )


class Envelope:
    """Per-element volumes and the training crystals' residuals about them.

    Args:
        element_volumes: Å³ per atom, by element symbol.
        crystals: ``elements`` (str ``(E,)``), ``members`` (uint8 ``(N, ⌈E/8⌉)``, bit-packed
            rows: which elements each crystal contains), ``log_residual`` (float ``(N,)``:
            ``log(V / V̂)``) and ``length_ratio`` (float ``(N,)``).
    """

    def __init__(self, element_volumes: Mapping[str, float], crystals: Mapping[str, np.ndarray]):
        self.element_volumes = dict(element_volumes)
        self.elements = [str(e) for e in crystals["elements"]]
        members = np.unpackbits(crystals["members"], axis=1)[:, : len(self.elements)]
        self._members = members.astype(bool)
        self._residual = np.asarray(crystals["log_residual"], dtype=np.float64)
        self._ratio = np.asarray(crystals["length_ratio"], dtype=np.float64)

    @classmethod
    def load(cls, name: str = "mp2018") -> Envelope:
        """A shipped envelope (see :data:`ENVELOPES`)."""
        if name not in ENVELOPES:
            raise ConfigError(f"unknown envelope {name!r}; accepted: {list(ENVELOPES)}")
        return _load(name)

    def window(self, elements: Sequence[str], coverage: float = 0.99) -> Window:
        """The envelope of the element set ``elements`` (symbols): every element needs a
        fitted volume (else :class:`ConfigError` naming the missing ones)."""
        missing = [e for e in elements if e not in self.element_volumes]
        if missing:
            raise ConfigError(
                f"the plausibility envelope has no fitted volume for {missing} (fewer than 20 "
                f"training crystals contain them); use elements among {sorted(self.elements)} "
                "or switch the envelope off (envelope = \"none\")"
            )
        allowed = np.isin(self.elements, list(elements))
        inside = ~(self._members & ~allowed[None, :]).any(axis=1)
        if inside.sum() < MIN_CRYSTALS:
            inside = np.ones_like(inside)
        residual, ratio = self._residual[inside], self._ratio[inside]
        tau_low, tau_high, max_ratio, share = _widest_tails(residual, ratio, coverage)
        return Window(
            element_volumes={e: self.element_volumes[e] for e in elements},
            tau_low=tau_low,
            tau_high=tau_high,
            max_length_ratio=max_ratio,
            crystals=int(inside.sum()),
            coverage=share,
        )


def _widest_tails(residual: np.ndarray, ratio: np.ndarray, coverage: float):
    """Cut the same tail share off the residual's two sides and the ratio's upper side, as
    large as keeps the joint pass rate ≥ ``coverage`` (bisection; the pass rate falls as the
    tails grow). Returns ``(tau_low, tau_high, max_ratio, pass rate)``."""

    def cut(tail: float):
        # Widened by one part in 10⁶ so that a crystal on a quantile stays inside after the
        # round trip log(V / V̂) -> exp that Window.contains does not make.
        lo, hi = np.quantile(residual, [tail, 1 - tail]) + np.array([-1e-6, 1e-6])
        top = np.quantile(ratio, 1 - tail) * (1 + 1e-6)
        share = float(np.mean((residual >= lo) & (residual <= hi) & (ratio <= top)))
        return math.exp(lo), math.exp(hi), float(top), share

    low, high = 0.0, (1 - coverage) / 2
    for _ in range(40):
        middle = (low + high) / 2
        if cut(middle)[3] >= coverage:
            low = middle
        else:
            high = middle
    return cut(low)


@cache
def _load(name: str) -> Envelope:
    data = resources.files("crystalgfn_lattice") / "data"
    meta = json.loads((data / f"{name}.json").read_text())
    with (data / f"{name}_crystals.npz").open("rb") as handle:
        with np.load(handle, allow_pickle=False) as arrays:
            crystals = {key: arrays[key] for key in arrays.files}
    return Envelope(meta["element_volumes"], crystals)


__all__ = ["ENVELOPES", "Envelope", "Window"]
