"""Crystal-GFN oracles: relaxation and energies with a universal interatomic potential.

::

    import crystalgfn_mlip
    oracle = crystalgfn_mlip.ChgnetOracle(fmax=0.1, steps=300)
    relaxation = oracle.relax(structure)        # pymatgen Structure in, Relaxation out
    relaxation.energy_per_atom                  # eV/atom, CHGNet's scale
"""

from crystalgfn_mlip.chgnet_oracle import ChgnetOracle, load_model
from crystalgfn_mlip.reference import load_reference
from crystalgfn_mlip.relax import RelaxationError, relax_structure

__all__ = ["ChgnetOracle", "RelaxationError", "load_model", "load_reference", "relax_structure"]
