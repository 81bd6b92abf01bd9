"""Registers the composition environment and its report part with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.restrictions import Restriction

#: What ``CompositionEnv.restrict`` accepts, declared here so that the command line can offer
#: it without importing the environment (and torch).
RESTRICTIONS = (
    Restriction("elements", kind="list", help="only these elements, e.g. Fe,O"),
    Restriction("max_atoms_per_element", kind="int", help="at most N atoms of each element"),
    Restriction("required_elements", kind="list", help="every sample contains these, e.g. O"),
)


@hookimpl
def register_envs(register):
    # By reference: the module (and torch) is imported only when the environment is built.
    register(
        "crystalgfn_composition.env:CompositionEnv", name="composition", restrictions=RESTRICTIONS
    )


@hookimpl
def register_report_parts(register):
    # How reports read compositions back from a table (the formula), count and plot them.
    register("crystalgfn_composition.report:CompositionReport", name="composition")
