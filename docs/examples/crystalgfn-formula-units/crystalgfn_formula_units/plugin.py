"""Registers the ``formula_units`` environment by reference: this module imports no torch."""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.restrictions import Restriction

RESTRICTIONS = (
    Restriction("max_units", kind="int", help="at most N formula units per cell"),
    Restriction("units", kind="list", metavar="Z,Z", help="allowed numbers of formula units"),
)


@hookimpl
def register_envs(register):
    register("crystalgfn_formula_units.env:FormulaUnitsEnv", name="formula_units",
             restrictions=RESTRICTIONS)
