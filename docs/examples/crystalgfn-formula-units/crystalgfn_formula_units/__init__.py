"""Example Crystal-GFN environment plugin: the number of formula units per cell, Z.

The environment class is in :mod:`crystalgfn_formula_units.env`; the hook, which imports
neither it nor torch, is in :mod:`crystalgfn_formula_units.plugin`.
"""
