"""Crystal-GFN plugin: registers the ``band_gap`` proxy."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_band_gap.proxy import BandGap


@hookimpl
def register_proxies(register):
    register(BandGap)
