"""Registers the composition environment with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_envs(register):
    # By reference: the module (and torch) is imported only when the environment is built.
    register("crystalgfn_composition.env:CompositionEnv", name="composition")
