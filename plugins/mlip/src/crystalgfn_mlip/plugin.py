"""Registers the first-party oracle (CHGNet)."""

from crystalgfn.hookspecs import hookimpl

from crystalgfn_mlip.chgnet_oracle import ChgnetOracle


@hookimpl
def register_oracles(register):
    register(ChgnetOracle)
