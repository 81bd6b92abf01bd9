"""The shipped BandGap ensemble: K = 5 members, its uncertainty and the recorded metrics,
recomputed from the validation crystals and the test slice that ship in the repository."""

from pathlib import Path

import pytest
from crystalgfn_band_gap import BandGap
from crystalgfn_mlp.testing import check_shipped_ensemble

ROOT = Path(__file__).resolve().parents[3]


def test_shipped_ensemble_and_its_uncertainty():
    pytest.importorskip("pandas")
    check_shipped_ensemble(
        BandGap, "band_gap", ROOT / "data" / "mp_validation.csv",
        ROOT / "tests" / "data" / "mp_slice.csv",
    )
