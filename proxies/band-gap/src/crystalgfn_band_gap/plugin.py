"""Registers the ``band_gap`` proxy with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_proxies(register):
    # By reference: the model (and torch) is imported only when the proxy is built.
    register("crystalgfn_band_gap.proxy:BandGap", name="band_gap")
