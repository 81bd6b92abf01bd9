"""Registers the PyXtal structure builder with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_structure_builders(register):
    # By reference: pymatgen and PyXtal are imported only when structures are built.
    register("crystalgfn_structures.pyxtal_backend:PyxtalBuilder", name="pyxtal")
