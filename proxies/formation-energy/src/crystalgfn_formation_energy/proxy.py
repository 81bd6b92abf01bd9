"""Formation energy per atom (eV/atom) predicted from (space group, composition, lattice).

An MLP (see :mod:`crystalgfn_mlp`) trained on Materials Project PBE/PBE+U formation energies
(MT-CGCNN's 34,909-crystal set); training metadata, split and MAEs are in
``weights/metadata.json``. No atomic positions are used.
"""

from __future__ import annotations

from crystalgfn_mlp import MLPProxy


class FormationEnergy(MLPProxy):
    """Formation energy per atom, eV/atom (lower is more stable)."""

    name = "formation_energy"
    unit = "eV/atom"
    requires = ("spacegroup", "composition", "lattice")
    weights_package = "crystalgfn_formation_energy"
    weights_dir = "weights"
