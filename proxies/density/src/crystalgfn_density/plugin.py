"""Registers the ``density`` proxy with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_proxies(register):
    # By reference: the module (and torch) is imported only when the proxy is built.
    # describes=True: an exact property of a crystal, so sample tables get a density column.
    register("crystalgfn_density.proxy:Density", name="density", describes=True)
