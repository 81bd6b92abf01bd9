"""Registers the space-group environment and its cross-environment constraints."""

from crystalgfn.hookspecs import hookimpl

# By reference: the modules (and torch) are imported only when a stack is built.
CONSTRAINTS = "crystalgfn_spacegroup.constraints"


@hookimpl
def register_envs(register):
    register("crystalgfn_spacegroup.env:SpaceGroupEnv", name="spacegroup")


@hookimpl
def register_constraints(register):
    register("spacegroup", "lattice", f"{CONSTRAINTS}:SpaceGroupToLattice")
    register("spacegroup", "composition", f"{CONSTRAINTS}:SpaceGroupToComposition")
    register("composition", "spacegroup", f"{CONSTRAINTS}:CompositionToSpaceGroup")
