"""Registers the space-group environment, its cross-environment constraints, the
``crystal`` preset, its report part and the Materials Project reference format.

The preset is registered here because this plugin owns what makes the three parts one
crystal: the constraints that couple space group, composition and lattice. Without the
composition or lattice plugin, ``make_env("crystal")`` names the missing part.
"""

from crystalgfn.hookspecs import hookimpl
from crystalgfn.restrictions import Restriction

# By reference: the modules (and torch) are imported only when a stack is built.
CONSTRAINTS = "crystalgfn_spacegroup.constraints"

#: What ``SpaceGroupEnv.restrict`` accepts, declared here so that the command line can offer
#: it without importing the environment (and torch).
RESTRICTIONS = (
    Restriction("space_groups", metavar="SPEC",
                help="space-group numbers and ranges, e.g. 195-230"),
    Restriction("crystal_systems", metavar="NAMES", help="e.g. cubic,hexagonal"),
    Restriction("lattice_systems", metavar="NAMES",
                help="crystal-lattice systems, e.g. cubic,trigonal-rhombohedral"),
)


@hookimpl
def register_envs(register):
    register("crystalgfn_spacegroup.env:SpaceGroupEnv", name="spacegroup",
             restrictions=RESTRICTIONS)


@hookimpl
def register_constraints(register):
    register("spacegroup", "lattice", f"{CONSTRAINTS}:SpaceGroupToLattice")
    register("spacegroup", "composition", f"{CONSTRAINTS}:SpaceGroupToComposition")
    register("composition", "spacegroup", f"{CONSTRAINTS}:CompositionToSpaceGroup")


@hookimpl
def register_presets(register):
    register("crystal", "spacegroup+composition+lattice")


@hookimpl
def register_report_parts(register):
    # How reports read space groups back from a table, count and plot them.
    register("crystalgfn_spacegroup.report:SpaceGroupReport", name="spacegroup")


@hookimpl
def register_reference_formats(register):
    # A Materials Project table of the crystal stack's three parts, as a report reference.
    register("crystalgfn_spacegroup.reference:MaterialsProjectTable", name="materials_project")
