"""Registers the ``density`` proxy with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_proxies(register):
    # By reference: the module (and torch) is imported only when the proxy is built.
    register("crystalgfn_density.proxy:Density", name="density")
