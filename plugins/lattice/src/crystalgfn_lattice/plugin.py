"""Registers the lattice environment, its constraint and its report part with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.restrictions import Restriction

#: What ``LatticeEnv.restrict`` accepts, declared here so that the command line can offer it
#: without importing the environment (and torch).
RESTRICTIONS = (
    Restriction("lengths", kind="range", help="lattice lengths a, b, c in angstrom, e.g. 10:20"),
    Restriction("angles", kind="range", help="lattice angles in degrees, e.g. 75:135"),
)


@hookimpl
def register_envs(register):
    # By reference: the module (and torch) is imported only when the environment is built.
    register("crystalgfn_lattice.factory:lattice_env", name="lattice", restrictions=RESTRICTIONS)


@hookimpl
def register_constraints(register):
    # The plausibility envelope's volume window; a no-op for the paper's lattice.
    register("composition", "lattice", "crystalgfn_lattice.constraints:CompositionToLattice")


@hookimpl
def register_report_parts(register):
    # How reports read the cell back from a table and plot it.
    register("crystalgfn_lattice.report:LatticeReport", name="lattice")
