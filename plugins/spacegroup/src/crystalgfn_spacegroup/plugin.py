"""Registers the space-group environment and its cross-environment constraints."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_spacegroup.constraints import (
    CompositionToSpaceGroup,
    SpaceGroupToComposition,
    SpaceGroupToLattice,
)
from crystalgfn_spacegroup.env import SpaceGroupEnv


@hookimpl
def register_envs(register):
    register(SpaceGroupEnv)


@hookimpl
def register_constraints(register):
    register("spacegroup", "lattice", SpaceGroupToLattice)
    register("spacegroup", "composition", SpaceGroupToComposition)
    register("composition", "spacegroup", CompositionToSpaceGroup)
