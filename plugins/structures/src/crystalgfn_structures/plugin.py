"""Registers the first-party structure builder (pyxtal)."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_structures.pyxtal_backend import PyxtalBuilder


@hookimpl
def register_structure_builders(register):
    register(PyxtalBuilder)
