"""Reports: formula parsing, measured validity, diversity, top-k, input errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from crystalgfn.errors import ConfigError, UnknownNameError
from crystalgfn.report import build_report, parse_formula, read_crystals, reference_from_table
from crystalgfn.report.metrics import compare, top_rows

MP_SLICE = Path(__file__).resolve().parents[2] / "tests" / "data" / "mp_slice.csv"

HEADER = (
    "space_group,symbol,crystal_system,lattice_system,point_symmetry,formula,n_atoms,n_elements,"
    "a,b,c,alpha,beta,gamma,volume,density"
)
NACL = "225,Fm-3m,cubic,cubic,centrosymmetric,Na4Cl4,8,2,5.64,5.64,5.64,90,90,90,179.406,2.16"
#: Row 1 valid; row 2 its duplicate; row 3 Na1Cl2 is not charge neutral; row 4 a cubic group
#: with a != b breaks its lattice system. Rewards rank rows 3, 4, 1, 2.
TINY = "\n".join(
    [
        HEADER + ",reward",
        NACL + ",1.0",
        NACL + ",1.0",
        "1,P1,triclinic,triclinic,enantiomorphic-polar,Na1Cl2,3,2,4,5,6,80,85,95,117.6,1.9,3.0",
        "225,Fm-3m,cubic,cubic,centrosymmetric,Na4Cl4,8,2,5.64,6.0,5.64,90,90,90,190.8,2.0,2.0",
    ]
)


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.csv"
    path.write_text(TINY + "\n")
    return path


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Fe4O6", {"Fe": 4, "O": 6}),
        ("Li10Co8", {"Li": 10, "Co": 8}),
        ("NaCl", {"Na": 1, "Cl": 1}),
        ("B9S15Cl9O9F6", {"B": 9, "S": 15, "Cl": 9, "O": 9, "F": 6}),
        ("Fe2Fe1", {"Fe": 3}),
        (" Si8 ", {"Si": 8}),
    ],
)
def test_parse_formula(text, expected):
    assert parse_formula(text) == expected


@pytest.mark.parametrize("text", ["", "fe4", "Fe4x", "Fe0", "Fe1.5O2", "4Fe", "Fe-1"])
def test_parse_formula_rejects_malformed(text):
    with pytest.raises(ValueError):
        parse_formula(text)


def test_parse_formula_unknown_element_suggests():
    with pytest.raises(UnknownNameError, match="Xx"):
        parse_formula("Xx2O")


def test_read_crystals_parses_values(tiny):
    crystals = read_crystals(tiny)
    assert crystals.n == 4
    assert crystals.values["spacegroup"].tolist() == [225, 225, 1, 225]
    assert crystals.values["composition"][0, 11].item() == 4  # Na
    assert crystals.values["composition"][2, 17].item() == 2  # Cl
    assert crystals.values["lattice"][3].tolist() == [5.64, 6.0, 5.64, 90, 90, 90]
    assert crystals.properties() == ["density"]


def test_metrics_of_a_hand_made_table(tiny, tmp_path):
    metrics = build_report(tiny, tmp_path / "out", top=2, plot=False)
    # Validity is measured, not assumed: one row is not charge neutral, one has a != b in
    # a cubic group; every check that is not broken passes.
    validity = metrics["validity"]
    assert validity["charge_neutral"] == 0.75
    assert validity["lattice_system_consistent"] == 0.75
    assert validity["wyckoff_compatible"] == 1.0
    assert validity["positive_volume"] == 1.0
    assert validity["within_space"] == 1.0
    assert validity["all"] == 0.5
    assert metrics["validity_evaluated"]["all"] == 4
    diversity = metrics["diversity"]
    assert diversity["n"] == 4
    assert diversity["unique"] == 3 and diversity["unique_share"] == 0.75
    assert diversity["compositions"] == 2
    assert diversity["space_groups"] == 2
    assert diversity["elements"] == 2
    assert diversity["crystal_systems"] == 2
    assert diversity["lattice_systems"] == 2
    assert diversity["point_symmetries"] == 2
    assert metrics["summary"]["n_atoms"]["median"] == 8
    assert metrics["summary"]["reward"]["max"] == 3.0
    # top-2 by reward: the two invalid rows.
    top = metrics["top_k"]
    assert top["k"] == 2 and top["n"] == 2 and top["by"] == "reward"
    assert top["validity"]["charge_neutral"] == 0.5
    assert top["validity"]["all"] == 0.0
    assert top["diversity"]["unique_share"] == 1.0
    assert top["files"] == {"top2": "top2.csv"}
    with open(tmp_path / "out" / "top2.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["formula"] for row in rows] == ["Na1Cl2", "Na4Cl4"]
    assert [row["rank"] for row in rows] == ["1", "2"]
    assert [row["valid"] for row in rows] == ["0", "0"]
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["validity"] == validity
    assert (tmp_path / "out" / "report.md").read_text().startswith("# Crystal-GFN report")


def test_default_top_writes_top10_and_top100(tiny, tmp_path):
    metrics = build_report(tiny, tmp_path / "out", plot=False)
    assert metrics["top_k"]["files"] == {"top10": "top10.csv", "top100": "top100.csv"}
    for name in ("top10.csv", "top100.csv"):
        lines = (tmp_path / "out" / name).read_text().splitlines()
        assert len(lines) == 5  # header + all 4 rows


def test_without_reward_top_k_is_skipped(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_text("\n".join([HEADER, NACL, NACL]) + "\n")
    metrics = build_report(path, tmp_path / "out", plot=False)
    assert "reward" in metrics["top_k"]["skipped"]
    assert metrics["diversity"]["unique"] == 1
    assert not list((tmp_path / "out").glob("top*.csv"))


def test_top_rows_orders_by_reward_with_nan_last(tiny):
    crystals = read_crystals(tiny)
    crystals.numeric["reward"][0] = np.nan
    assert top_rows(crystals, 10) == [2, 3, 1, 0]
    assert top_rows(crystals, 1) == [2]


def test_compare_against_reference_percentiles():
    reference = np.arange(1.0, 101.0)  # p5 = 5.95, p95 = 95.05
    result = compare(np.array([0.0, 1.0, 50.0, 99.0, np.nan]), reference)
    assert result["fraction_below_reference_p5"] == 0.5
    assert result["fraction_above_reference_p95"] == 0.25
    assert result["fraction_within_reference_p5_p95"] == 0.25
    assert result["sample_median"] == 25.5
    assert result["sample_median_reference_percentile"] == 25.0
    assert compare(np.array([np.nan]), reference) is None


def test_reference_from_table_converts_mp_rows():
    columns = reference_from_table(MP_SLICE)
    assert len(columns["formula"]) == 200
    row = columns["formula"].index("Na4Cl4")
    assert columns["space_group"][row] == 225
    assert columns["crystal_system"][row] == "cubic"
    assert columns["symbol"][row] == "Fm-3m"
    assert columns["n_atoms"][row] == 8
    assert columns["density"][row] == pytest.approx(2.10, abs=0.1)  # rock salt, PBE cell
    assert columns["formation_energy"][row] == pytest.approx(-2.105087)
    assert columns["band_gap"][row] == pytest.approx(5.0033)
    for name in ("a", "b", "c", "alpha", "beta", "gamma", "volume"):
        assert len(columns[name]) == 200


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_crystals(tmp_path / "nope.csv")


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "space_group,crystal_system,lattice_system,point_symmetry,b,c,alpha,beta,gamma\n1,a,b,c,1,1,90,90,90\n"
    )
    with pytest.raises(ConfigError) as error:
        read_crystals(path)
    message = str(error.value)
    assert "['formula', 'a']" in message
    assert "required columns" in message and "'gamma'" in message


def test_unparseable_formula_names_row_and_value(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, NACL, NACL.replace("Na4Cl4", "Na4Cl4?")]) + "\n")
    with pytest.raises(ConfigError, match=r"row 2: formula 'Na4Cl4\?'"):
        read_crystals(path)


def test_bad_space_group_and_lattice_name_the_row(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([HEADER, NACL.replace("225,", "231,", 1)]) + "\n")
    with pytest.raises(ConfigError, match="row 1: space_group '231'"):
        read_crystals(path)
    path.write_text("\n".join([HEADER, NACL, NACL.replace("5.64,5.64,5.64", "5.64,x,5.64")]) + "\n")
    with pytest.raises(ConfigError, match="row 2: b 'x': not a number"):
        read_crystals(path)


def test_empty_table(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text(HEADER + "\n")
    with pytest.raises(ConfigError, match="no rows"):
        read_crystals(path)


def test_a_binary_file_is_named_not_a_text_csv(tmp_path):
    path = tmp_path / "samples.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    with pytest.raises(ConfigError, match=r"is not a text CSV: byte 0x89 at offset 0 is not UTF-8"):
        read_crystals(path)
    path.write_bytes(HEADER.encode() + b"\n" + NACL.encode().replace(b"Fm-3m", b"Fm\x003m"))
    with pytest.raises(ConfigError, match=r"is not a text CSV: it holds NUL bytes"):
        read_crystals(path)


def test_rows_with_a_nan_lattice_or_density_are_named(tmp_path):
    path = tmp_path / "samples.csv"
    rows = [
        HEADER,
        NACL,
        NACL.replace("5.64,5.64,5.64", "nan,5.64,5.64"),  # row 2: no lattice
        NACL.replace(",179.406,2.16", ",179.406,nan"),  # row 3: no density
        NACL,
    ]
    path.write_text("\n".join(rows) + "\n")
    named = r"2 of 4 row\(s\) have a NaN or infinite lattice or density \(lattice: 1; density: 1\)"
    with pytest.warns(UserWarning, match=named + r".*not measured: row\(s\) 2, 3$"):
        metrics = build_report(path, tmp_path / "out", plot=False)
    assert metrics["samples"]["n"] == 4
    expected = {"n": 2, "rows": [2, 3], "lattice": [2], "density": [3]}
    assert metrics["samples"]["non_finite"] == expected
    written = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert written["samples"]["non_finite"]["n"] == 2
    assert "**2 sample row(s) have a NaN" in (tmp_path / "out" / "report.md").read_text()


def test_the_top_k_table_shows_the_judge_values_of_judged_rows(tiny, tmp_path):
    """Evaluation rows join the top-k table by row number only where formula and group
    match the samples there (an evaluation of another file joins nothing)."""
    judge = tmp_path / "judge"
    judge.mkdir()
    (judge / "summary.json").write_text(
        json.dumps({"n": 2, "rates": {}, "medians": {}, "proxy_vs_oracle": {}})
    )
    (judge / "evaluation.csv").write_text(
        "row,formula,space_group,formation_energy_per_atom,e_above_hull,stable\n"
        "3,Na1Cl2,1,-0.5,0.25,0\n"
        "4,Fe2O3,225,-1.0,0.0,1\n"  # row 4 holds Na4Cl4: not this file's crystal
    )
    metrics = build_report(tiny, tmp_path / "out", plot=False, evaluations=[("samples", judge)])
    table = metrics["top_k"]["table"]
    assert table["header"][-3:] == [
        "E_f oracle (eV/atom)", "E_hull oracle (eV/atom)", "stable (oracle)"
    ]
    formula = table["header"].index("formula")
    ranked = {row[formula]: row for row in table["rows"]}
    assert ranked["Na1Cl2"][-3:] == [-0.5, 0.25, 0.0]
    assert table["rows"][1][-3:] == [None, None, None]  # rank 2 is row 4: not joined
    assert table["judged"] == 1
    text = (tmp_path / "out" / "report.md").read_text()
    assert "### Crystals judged in 'samples'" in text
