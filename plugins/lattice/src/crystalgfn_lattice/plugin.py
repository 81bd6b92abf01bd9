"""Hook implementations: registers the ``lattice`` environment with Crystal-GFN."""

from __future__ import annotations

from crystalgfn import hookimpl

from crystalgfn_lattice.env import LatticeEnv


@hookimpl
def register_envs(register):
    register(LatticeEnv)
