"""The oracle interface: an independent judge of atomic structures.

An *oracle* relaxes a structure (atoms and cell) and gives its energy on one energy scale —
its own. It also supplies the competing phases of that scale (:class:`OracleReference`), so
that formation energies and energies above the convex hull are computed from energies of one
model only: mixing DFT and potential energies in one hull would measure the difference of the
two models, not the stability of a crystal.

Oracles are plugins (hook ``register_oracles``); ``crystalgfn evaluate --oracle NAME`` picks
one. Structures are pymatgen ``Structure`` objects; pymatgen is imported by the oracles and by
the judge a plugin registers (``register_judges``), never by the core's import.
"""

from __future__ import annotations

import abc
import math
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from crystalgfn.errors import ConfigError


@attrs.frozen
class Relaxation:
    """The outcome of relaxing one structure.

    ``structure``: the relaxed pymatgen ``Structure``. Energies are per atom (eV/atom) on the
    oracle's scale; ``max_force`` is the largest residual force (eV/Å) at the end;
    ``converged`` says whether every force (and the stress, when the cell is relaxed) fell
    below the oracle's ``fmax`` within its step limit; ``steps`` is the optimiser steps taken.
    """

    structure: Any
    energy_per_atom: float
    initial_energy_per_atom: float
    converged: bool
    steps: int
    max_force: float


_SYMBOL = re.compile(r"[A-Z][a-z]?")


def elements_of(formula: str) -> frozenset[str]:
    """Element symbols of a formula such as ``"Na4 Cl4"``."""
    return frozenset(_SYMBOL.findall(formula))


def elements_with_reference(entries) -> frozenset[str]:
    """Elements that have an elemental entry among ``entries`` (:class:`ReferenceEntry`)."""
    return frozenset(
        next(iter(elements_of(e.formula))) for e in entries if len(elements_of(e.formula)) == 1
    )


@attrs.frozen
class ReferenceEntry:
    """One competing phase: a known crystal's energy on the oracle's scale.

    ``formula``: the composition of the computed cell (e.g. ``"Na4 Cl4"``);
    ``energy_per_atom`` in eV/atom.
    """

    material_id: str
    formula: str
    energy_per_atom: float


@attrs.frozen
class OracleReference:
    """The phases that hulls are built from, all computed by one oracle.

    ``entries``: competing phases (elements included: the lowest elemental entry of each
    element is its reference for formation energies). ``structures``: a callable taking a
    reduced formula (``"NaCl"``) and giving the known crystals of that formula as pymatgen
    ``Structure`` objects, for novelty. ``provenance``: where the entries came from and how
    they were computed.
    """

    entries: tuple[ReferenceEntry, ...]
    structures: Any
    provenance: dict

    @property
    def elements(self) -> frozenset[str]:
        """Elements that have an elemental entry (formation energies need one each)."""
        return elements_with_reference(self.entries)


class Oracle(abc.ABC):
    """Base class of oracles (register subclasses with the ``register_oracles`` hook).

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        fmax: force threshold of convergence, eV/Å (default 0.1).
        steps: most optimiser steps per relaxation (default 300).
        max_seconds: most seconds per relaxation (default 600); a relaxation that runs out
            of steps or of time stops where it is and is not converged.
    """

    #: the name users choose it by (``--oracle NAME``)
    name: ClassVar[str] = ""
    #: one line naming the energy scale (model, training data, corrections)
    energy_scale: ClassVar[str] = ""

    def __init__(self, *, device: str = "cpu", fmax: float = 0.1, steps: int = 300,
                 max_seconds: float = 600.0):
        if not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
            raise ConfigError(f"max_seconds must be a positive number, got {max_seconds!r}")
        if device not in ("cpu", "cuda"):
            raise ConfigError(f"oracle device must be 'cpu' or 'cuda', got {device!r}")
        if not (isinstance(fmax, (int, float)) and math.isfinite(fmax) and fmax > 0):
            raise ConfigError(f"fmax must be a positive number of eV/Å, got {fmax!r}")
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
            raise ConfigError(f"steps must be an integer >= 0 (0: single point), got {steps!r}")
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(
                    "device 'cuda' was asked for but torch sees no CUDA device "
                    f"(torch {torch.__version__}); use device 'cpu'"
                )
        self.device = device
        self.fmax = float(fmax)
        self.steps = steps
        self.max_seconds = float(max_seconds)

    @abc.abstractmethod
    def relax(self, structure) -> Relaxation:
        """Relax ``structure`` (positions and cell) and return its :class:`Relaxation`.

        Raise :class:`crystalgfn.errors.ConfigError` for a structure the oracle cannot
        treat (an element it does not know); other failures may raise anything.
        """

    @abc.abstractmethod
    def supported_elements(self) -> frozenset[str]:
        """Element symbols the oracle can treat."""

    @abc.abstractmethod
    def reference(self) -> OracleReference:
        """Competing phases on this oracle's energy scale."""

    def versions(self) -> dict[str, str]:
        """Versions of the model and libraries (recorded in every output)."""
        return {}

    def settings(self) -> dict:
        return {"oracle": self.name, "device": self.device, "fmax": self.fmax,
                "steps": self.steps, "max_seconds": self.max_seconds,
                "energy_scale": self.energy_scale}

    def check_elements(self, elements: Sequence[str]) -> None:
        """Raise :class:`ConfigError` naming the elements this oracle does not know."""
        unknown = sorted(set(elements) - self.supported_elements())
        if unknown:
            raise ConfigError(
                f"oracle {self.name!r} does not know the element(s) {unknown}; it treats "
                f"{len(self.supported_elements())} elements"
            )


__all__ = ["Oracle", "OracleReference", "ReferenceEntry", "Relaxation"]
