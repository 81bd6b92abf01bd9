"""Band gap (eV) predicted from (space group, composition, lattice).

An MLP (see :mod:`crystalgfn_mlp`) trained on Materials Project PBE/PBE+U band gaps
(MT-CGCNN's 34,909-crystal set, about 42 % metals with gap 0) with an absolute-error loss;
predictions are clipped at 0. Training metadata, split and MAEs are in
``weights/metadata.json``. No atomic positions are used.
"""

from __future__ import annotations

from crystalgfn_mlp import MLPProxy


class BandGap(MLPProxy):
    """Band gap, eV (PBE/PBE+U level: systematically underestimated vs experiment)."""

    name = "band_gap"
    unit = "eV"
    requires = ("spacegroup", "composition", "lattice")
    weights_package = "crystalgfn_band_gap"
    weights_dir = "weights"
