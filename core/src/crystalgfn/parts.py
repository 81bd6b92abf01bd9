"""The state parts proxies read, with their tensor layout and units.

A batch handed to a proxy is a mapping from part name to tensor. These are the parts the
first-party environments provide; a third-party environment may provide others.
"""

from __future__ import annotations

#: International space-group numbers, int64 ``(batch,)``, values 1–230.
SPACEGROUP = "spacegroup"
#: Atom counts of the (conventional) unit cell indexed by atomic number Z, ``(batch, 119)``;
#: column 0 is unused. Integer-valued; float32 or int64.
COMPOSITION = "composition"
#: Lattice parameters ``(batch, 6)``: a, b, c in ångström and α, β, γ in degrees.
LATTICE = "lattice"

#: Number of columns of a composition tensor (Z = 0 … 118).
N_COLUMNS_COMPOSITION = 119

#: The 7 crystal systems of the International Tables.
CRYSTAL_SYSTEMS = (
    "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal", "hexagonal", "cubic"
)

#: The 8 crystal-lattice systems of Crystal-GFN (trigonal split into rhombohedral and hexagonal
#: lattices), in the order every plugin uses for their indices.
LATTICE_SYSTEMS = (
    "triclinic",
    "monoclinic",
    "orthorhombic",
    "tetragonal",
    "trigonal-rhombohedral",
    "trigonal-hexagonal",
    "hexagonal",
    "cubic",
)

DESCRIPTIONS = {
    SPACEGROUP: "int64 (batch,): international space-group number 1-230",
    COMPOSITION: "(batch, 119): atom counts of the unit cell indexed by atomic number Z",
    LATTICE: "(batch, 6): a, b, c in angstrom and alpha, beta, gamma in degrees",
}
