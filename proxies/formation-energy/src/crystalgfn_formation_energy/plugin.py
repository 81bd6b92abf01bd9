"""Registers the ``formation_energy`` proxy with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_proxies(register):
    # By reference: the model (and torch) is imported only when the proxy is built.
    register("crystalgfn_formation_energy.proxy:FormationEnergy", name="formation_energy")
