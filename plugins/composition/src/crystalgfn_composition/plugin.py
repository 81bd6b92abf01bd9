"""Registers the composition environment with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_composition.env import CompositionEnv


@hookimpl
def register_envs(register):
    register(CompositionEnv)
