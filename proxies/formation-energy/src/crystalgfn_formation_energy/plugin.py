"""Crystal-GFN plugin: registers the ``formation_energy`` proxy."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_formation_energy.proxy import FormationEnergy


@hookimpl
def register_proxies(register):
    register(FormationEnergy)
