"""Crystal-GFN oracles: relaxation and energies with a universal interatomic potential.

::

    import crystalgfn_mlip
    oracle = crystalgfn_mlip.ChgnetOracle(fmax=0.1, steps=300)
    relaxation = oracle.relax(structure)        # pymatgen Structure in, Relaxation out
    relaxation.energy_per_atom                  # eV/atom, CHGNet's scale
"""

from crystalgfn.lazy import lazy_exports

# Imported on first use, so that listing plugins does not import CHGNet, torch or pymatgen.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ChgnetOracle": "crystalgfn_mlip.chgnet_oracle",
        "load_model": "crystalgfn_mlip.chgnet_oracle",
        "load_reference": "crystalgfn_mlip.reference",
        "RelaxationError": "crystalgfn_mlip.relax",
        "relax_structure": "crystalgfn_mlip.relax",
    },
)

__all__ = ["ChgnetOracle", "RelaxationError", "load_model", "load_reference", "relax_structure"]
