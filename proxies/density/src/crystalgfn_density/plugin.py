"""Crystal-GFN plugin: registers the ``density`` proxy."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_density.proxy import Density


@hookimpl
def register_proxies(register):
    register(Density)
