"""Registers the CHGNet oracle with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_oracles(register):
    # By reference: CHGNet and torch are imported only when the oracle is built.
    register("crystalgfn_mlip.chgnet_oracle:ChgnetOracle", name="chgnet")
