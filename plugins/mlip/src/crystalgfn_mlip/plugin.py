"""Registers the CHGNet oracle and the S.U.N. judge of crystals with Crystal-GFN."""

from crystalgfn.hookspecs import hookimpl


@hookimpl
def register_oracles(register):
    # By reference: CHGNet and torch are imported only when the oracle is built.
    register("crystalgfn_mlip.chgnet_oracle:ChgnetOracle", name="chgnet")


@hookimpl
def register_judges(register):
    # The S.U.N. judge of crystals that `crystalgfn evaluate` runs; pymatgen is imported only
    # when it judges.
    register("crystalgfn_mlip.judge.item:SunJudge", name="sun")
