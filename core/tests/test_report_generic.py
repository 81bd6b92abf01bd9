"""Reports built from what the environment declares: a table of a third-party environment,
or of the space-group part alone, is reported with the sections its columns allow, and the
others skipped with a note, not a missing-column error."""

from __future__ import annotations

import json

import pytest
import torch
from crystalgfn.errors import ConfigError
from crystalgfn.report import Column, ReportPart, build_report

SPACEGROUP_ONLY = (
    "space_group,symbol,crystal_system,lattice_system,point_symmetry,reward,score\n"
    "225,Fm-3m,cubic,cubic,centrosymmetric,1.5,0.2\n"
    "1,P1,triclinic,triclinic,enantiomorphic-polar,0.5,0.1\n"
    "225,Fm-3m,cubic,cubic,centrosymmetric,0.7,0.2\n"
)


class UnitsEnv:
    """Stands in for a third-party environment: one part, ``units``, that no table column
    of the report's known parts holds."""

    name = "units"
    provides = ("units",)


def test_a_third_party_environment_is_reported_without_validity(tmp_path):
    samples = tmp_path / "samples.csv"
    samples.write_text("units,reward,score\n1,1.5,0.2\n2,0.5,0.1\n2,0.7,0.1\n")
    metrics = build_report(samples, tmp_path / "r", env=UnitsEnv(), plot=False)
    assert "['units'] cannot be read back" in metrics["validity_skipped"]
    assert metrics["validity"] == {}
    # no known part: the crystal is its row of cells; rows 2 and 3 differ in reward
    assert metrics["diversity"] == {"n": 3, "unique": 3, "unique_share": 1.0}
    assert {"units", "score", "reward"} <= set(metrics["summary"])
    table = metrics["top_k"]["table"]
    # the part's own column describes the crystal: not shown as a predicted property
    assert metrics["properties"] == ["score"]
    assert table["header"] == ["rank", "score (proxy)", "reward", "valid"]
    assert [row[0] for row in table["rows"]] == [1, 2, 3]
    assert table["rows"][0][2] == 1.5 and table["rows"][0][-1] == "–"
    text = (tmp_path / "r" / "report.md").read_text()
    assert "Not measured: the environment's part(s) ['units']" in text
    assert "formula" not in metrics["top_k"]["table"]["header"]
    assert (tmp_path / "r" / "report.html").read_text().startswith("<!DOCTYPE html>")


def test_the_space_group_part_alone_is_measured(tmp_path):
    samples = tmp_path / "samples.csv"
    samples.write_text(SPACEGROUP_ONLY)
    metrics = build_report(samples, tmp_path / "r", env="spacegroup", plot=False)
    assert metrics["validity_skipped"] is None
    assert metrics["validity"]["all"] == 1.0
    assert metrics["diversity"]["space_groups"] == 2
    assert metrics["diversity"]["unique"] == 2  # rows 1 and 3: the same group
    assert "compositions" not in metrics["diversity"]
    assert metrics["top_k"]["table"]["header"][:2] == ["rank", "space group"]
    assert metrics["top_k"]["table"]["rows"][0][1] == "Fm-3m (225)"
    assert metrics["samples"]["non_finite"] == {"n": 0, "rows": []}
    written = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert written["env"] == "spacegroup"


def test_a_part_the_environment_provides_still_needs_its_columns(tmp_path):
    samples = tmp_path / "samples.csv"
    samples.write_text("units,reward\n1,1.0\n")
    with pytest.raises(ConfigError, match=r"lacks the required column\(s\) \['space_group'"):
        build_report(samples, tmp_path / "r", env="spacegroup", plot=False)


class UnitsReport(ReportPart):
    """A third-party report part for ``units``, declared the way the first-party parts
    declare theirs."""

    name = "units"
    columns = (Column("units", "formula units", unit="f.u."),)

    def read(self, cells):
        return torch.tensor(cells("units", int), dtype=torch.long)

    def diversity(self, crystals):
        return {"unit_counts": len(set(crystals.values["units"].tolist()))}

    def top_columns(self, crystals):
        return [("Z", lambda row: crystals.columns["units"][row])]


class CheckedUnitsEnv(UnitsEnv):
    def validity(self, values):
        return {"few_units": values["units"] <= 1}


@pytest.fixture
def units_report():
    from crystalgfn.plugins import get_plugins

    registry = get_plugins().report_parts
    registry.add(UnitsReport, "units", distribution="(session)")
    yield
    registry.remove("units")


def test_a_registered_report_part_reads_counts_and_shows_its_part(tmp_path, units_report):
    from crystalgfn.report.plots import axis_label

    samples = tmp_path / "samples.csv"
    samples.write_text("units,reward,score\n1,1.5,0.2\n2,0.5,0.1\n2,0.7,0.1\n")
    metrics = build_report(samples, tmp_path / "r", env=CheckedUnitsEnv(), plot=False)
    # read back by the report part: validity is measured, the part keys uniqueness
    assert metrics["validity_skipped"] is None
    assert metrics["validity"]["few_units"] == pytest.approx(1 / 3)
    assert metrics["diversity"] == {"n": 3, "unique": 2, "unique_share": 2 / 3, "unit_counts": 2}
    assert metrics["properties"] == ["score"]  # a declared column is not a property
    table = metrics["top_k"]["table"]
    assert table["header"] == ["rank", "Z", "score (proxy)", "reward", "valid"]
    assert [row[1] for row in table["rows"]] == ["1", "2", "2"]
    assert axis_label("units") == "formula units (f.u.)"
    with pytest.raises(ConfigError, match=r"row 2: units 'two'"):
        samples.write_text("units,reward\n1,1.0\ntwo,0.5\n")
        build_report(samples, tmp_path / "r2", env=CheckedUnitsEnv(), plot=False)
