"""``crystalgfn evaluate``: samples and CIFs judged by an oracle, resumably; its report."""

import csv
import json
import re

import pytest

pytest.importorskip("chgnet")
pytest.importorskip("pyxtal")

from crystalgfn.cli import main  # noqa: E402
from crystalgfn.errors import ConfigError, UnknownNameError  # noqa: E402
from crystalgfn.judge.evaluate import evaluate  # noqa: E402
from crystalgfn_mlip.judge.summary import spearman  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

# the columns 'crystalgfn sample' writes (all four groups below are cubic, centrosymmetric)
CUBIC = dict(alpha=90, beta=90, gamma=90, crystal_system="cubic", lattice_system="cubic",
             point_symmetry="centrosymmetric")
SAMPLES = [
    dict(space_group=225, formula="Na4Cl4", a=5.64, b=5.64, c=5.64, **CUBIC,
         formation_energy=-2.0),
    dict(space_group=221, formula="K1Mg1F3", a=4.0, b=4.0, c=4.0, **CUBIC,
         formation_energy=-3.0),
    dict(space_group=225, formula="Li8O4", a=4.62, b=4.62, c=4.62, **CUBIC,
         formation_energy=-2.1),
    dict(space_group=225, formula="Na4Cl4", a=2.0, b=2.0, c=2.0, **CUBIC,
         formation_energy=-5.0),  # too small a cell: atoms cannot be placed
]
FAST = dict(steps=5)


def write_samples(path, rows=SAMPLES):
    with open(path, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_rows(path, drop=("seconds",)):
    with open(path, newline="") as stream:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(stream)]


@pytest.fixture(scope="module")
def cif_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifs")
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"],
                              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(folder / "a_NaCl.cif"))
    Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.0), ["K", "Mg", "F"],
                              [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0]]).to(
        filename=str(folder / "b_KMgF3.cif"))
    Structure(Lattice.cubic(4.0), ["Na", "Na"], [[0, 0, 0], [0.05, 0, 0]]).to(
        filename=str(folder / "c_overlap.cif"))
    Structure(Lattice.cubic(4.0), ["Og"], [[0, 0, 0]]).to(filename=str(folder / "d_Og.cif"))
    (folder / "e_broken.cif").write_text("data_broken\n_cell_length_a 4.0\nnonsense\n")
    return folder


@pytest.fixture(scope="module")
def cif_evaluation(cif_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    summary = evaluate(cif_folder, out, **FAST)
    return out, summary


def test_a_cif_folder_is_judged_row_by_row_with_reasons(cif_evaluation):
    out, summary = cif_evaluation
    rows = {row["input"]: row for row in read_rows(out / "evaluation.csv")}
    assert list(rows) == ["a_NaCl.cif", "b_KMgF3.cif", "c_overlap.cif", "d_Og.cif",
                          "e_broken.cif"]
    nacl = rows["a_NaCl.cif"]
    assert nacl["relaxed"] == "1" and nacl["stable"] == "1" and nacl["space_group"] == "225"
    assert float(nacl["formation_energy_per_atom"]) == pytest.approx(-2.1, abs=0.15)
    assert nacl["symmetry_kept"] == "1" and nacl["unique"] == "1"
    assert float(nacl["volume_ratio"]) == pytest.approx(1.0, abs=0.05)
    assert rows["b_KMgF3.cif"]["relaxed"] == "1"
    assert rows["c_overlap.cif"]["reason"].startswith("overlapping_atoms: two atoms are 0.200 Å")
    assert rows["d_Og.cif"]["reason"].startswith("unsupported_element")
    assert rows["e_broken.cif"]["reason"].startswith("unreadable_cif")
    assert summary["n"] == 5 and summary["n_relaxed"] == 2
    assert summary["reasons"] == {"overlapping_atoms": 1, "unreadable_cif": 1,
                                  "unsupported_element": 1}
    assert summary["oracle"] == "chgnet" and summary["versions"]["chgnet"] == "0.4.2"
    assert (out / "relaxed" / "1.cif").is_file()


def test_a_single_bad_cif_is_an_error_not_a_row(cif_folder, tmp_path):
    with pytest.raises(ConfigError, match="e_broken.cif"):
        evaluate(cif_folder / "e_broken.cif", tmp_path / "out", **FAST)
    with pytest.raises(ConfigError, match="two atoms are 0.200 Å apart"):
        evaluate(cif_folder / "c_overlap.cif", tmp_path / "out2", **FAST)


def test_unknown_oracle_gets_a_did_you_mean(cif_folder, tmp_path, capsys):
    with pytest.raises(UnknownNameError, match="Did you mean 'chgnet'"):
        evaluate(cif_folder, tmp_path / "out", oracle="chgnett", **FAST)
    assert main(["evaluate", str(cif_folder), "--out", str(tmp_path / "o"),
                 "--oracle", "chgnett"]) == 2
    assert "Did you mean 'chgnet'" in capsys.readouterr().err


def test_bad_arguments_are_named(cif_folder, tmp_path):
    for kwargs, message in (
        (dict(jobs=0), "--jobs must be an integer >= 1"),
        (dict(n=0), "--n must be an integer >= 1"),
        (dict(placements=0), "--placements must be an integer >= 1"),
    ):
        with pytest.raises(ConfigError, match=message):
            evaluate(cif_folder, tmp_path / "x", **kwargs)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not a text CSV"):
        evaluate(binary, tmp_path / "y")
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate(tmp_path / "missing.csv", tmp_path / "z")


class _Interrupt:
    """A progress reporter that interrupts the evaluation after ``after`` rows."""

    def __init__(self, after):
        self.after, self.seen = after, 0

    def advance(self, row):
        self.seen += 1
        if self.seen >= self.after:
            raise KeyboardInterrupt

    def finish(self):
        pass


def test_an_interrupted_evaluation_resumes_to_the_same_table(tmp_path):
    samples = write_samples(tmp_path / "samples.csv")
    whole = tmp_path / "whole"
    evaluate(samples, whole, **FAST)
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        evaluate(samples, cut, progress=_Interrupt(after=2), **FAST)
    assert len((cut / "rows.jsonl").read_text().splitlines()) == 2
    assert not (cut / "evaluation.csv").exists()
    summary = evaluate(samples, cut, **FAST)
    assert read_rows(cut / "evaluation.csv") == read_rows(whole / "evaluation.csv")
    rows = read_rows(whole / "evaluation.csv")
    assert [r["built"] for r in rows] == ["1", "1", "1", "0"]
    assert rows[3]["reason"].startswith("build_failed: placement_failed")
    assert summary["proxy_vs_oracle"]["n"] == 3
    # the same folder with other settings is refused rather than mixed
    with pytest.raises(ConfigError, match=r"other settings .*'seed'"):
        evaluate(samples, cut, seed=1, **FAST)


def test_placements_relax_several_structures_and_keep_the_lowest(tmp_path):
    samples = write_samples(tmp_path / "samples.csv", SAMPLES[2:3])
    one = evaluate(samples, tmp_path / "k1", **FAST)
    three = evaluate(samples, tmp_path / "k3", placements=3, **FAST)
    (row1,), (row3,) = read_rows(tmp_path / "k1" / "evaluation.csv"), read_rows(
        tmp_path / "k3" / "evaluation.csv")
    assert row3["placements_built"] == "3"
    # placement 0 of K=3 is the single placement of K=1, so the lowest of three is no higher
    assert float(row3["energy_per_atom"]) <= float(row1["energy_per_atom"]) + 1e-6
    assert one["settings"]["placements"] == 1 and three["settings"]["placements"] == 3


def test_the_command_line_and_the_report_show_the_evaluation(tmp_path, capsys):
    samples = write_samples(tmp_path / "samples.csv")
    assert main(["evaluate", str(samples), "--out", str(tmp_path / "ev"), "--steps", "5",
                 "--n", "3", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "3 inputs: built" in printed and "S.U.N." in printed
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert summary["settings"]["builder"] == "pyxtal"  # the only builder installed
    # the medians line names every median the summary has a value for
    [medians] = [line for line in printed.splitlines() if line.startswith("medians (")]
    assert all((f"{name} " in medians) == (value is not None)
               for name, value in summary["medians"].items())
    if summary["medians"]["formation_energy_per_atom"] is not None:  # with its unit
        assert re.search(r"formation_energy_per_atom -?[\d.e+-]+ eV/atom", medians), medians
    assert summary["n"] == 3
    assert main(["report", str(samples), "--out", str(tmp_path / "report"),
                 "--evaluation", f"samples={tmp_path / 'ev'}"]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Judged by an independent oracle" in report
    assert "judge_e_above_hull.png" in report
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["evaluation"]["samples"]["n"] == 3
    assert main(["report", str(samples), "--out", str(tmp_path / "r2"),
                 "--evaluation", str(tmp_path / "nothing")]) == 2


def test_spearman_matches_a_hand_computed_case():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    assert spearman([1, 2], [1, 2]) is None
