"""``crystalgfn report`` end to end: uniform samples against a Materials Project reference."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from crystalgfn.cli import main
from crystalgfn.report import reference_from_table
from crystalgfn.table import write_csv

pytest.importorskip("matplotlib")

MP_SLICE = Path(__file__).resolve().parent / "data" / "mp_slice.csv"
CHECKS = {
    "charge_neutral",
    "within_space",
    "positive_volume",
    "within_ranges",
    "allowed_space_group",
    "wyckoff_compatible",
    "lattice_system_consistent",
}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    samples = root / "samples.csv"
    assert main(["sample", "-n", "300", "--out", str(samples), "--seed", "1"]) == 0
    reference = write_csv(root / "reference.csv", reference_from_table(MP_SLICE))
    out = root / "report"
    assert main(["report", str(samples), "--reference", str(reference), "--out", str(out)]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_metrics_json(report):
    out, metrics = report
    assert {
        "samples",
        "env",
        "validity",
        "validity_evaluated",
        "diversity",
        "summary",
        "top_k",
        "reference",
        "comparison",
        "plots",
        "files",
    } <= set(metrics)
    assert metrics["samples"]["n"] == 300
    assert metrics["env"] == "crystal"
    # Uniform samples of the crystal stack satisfy every constraint by construction, and
    # validity is measured on every row.
    assert set(metrics["validity"]) == CHECKS | {"all"}
    assert all(metrics["validity"][name] == 1.0 for name in metrics["validity"])
    assert all(count == 300 for count in metrics["validity_evaluated"].values())
    diversity = metrics["diversity"]
    assert diversity["unique_share"] == 1.0
    assert 100 < diversity["space_groups"] <= 230
    assert diversity["elements"] <= 22
    assert diversity["crystal_systems"] == 7
    for name in ("a", "b", "c", "alpha", "beta", "gamma", "n_atoms", "n_elements", "density"):
        assert set(metrics["summary"][name]) >= {"mean", "median", "p5", "p95"}
    assert "skipped" in metrics["top_k"]  # uniform samples carry no reward


def test_reference_is_measured_and_compared(report):
    _, metrics = report
    reference = metrics["reference"]
    assert reference["n"] == 200
    assert reference["diversity"]["elements"] > 22
    # Most MP crystals lie outside the default 22-element space: measured, not assumed.
    assert reference["validity"]["within_space"] < 0.5
    assert 0.8 < reference["validity"]["charge_neutral"] < 1.0
    assert reference["validity_evaluated"]["charge_neutral"] == 200
    assert {"formation_energy", "band_gap", "density"} <= set(reference["summary"])
    density = metrics["comparison"]["density"]
    assert density["reference_p5"] < density["reference_median"] < density["reference_p95"]
    # Uniform lattices (lengths up to 100 Å) give far lighter cells than real crystals.
    assert density["fraction_below_reference_p5"] > 0.5


def test_plots_exist_and_are_not_trivial(report):
    out, metrics = report
    expected = {
        "hist_density.png",
        "lattice_lengths.png",
        "lattice_angles.png",
        "n_atoms.png",
        "element_frequency.png",
        "space_group_histogram.png",
        "crystal_system_histogram.png",
    }
    assert set(metrics["plots"]) == expected
    for name in expected:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000, name
    assert (out / "report.md").exists()


def test_trained_samples_get_top_k(report, tmp_path):
    out, _ = report
    samples = out.parent / "samples.csv"
    with open(samples, newline="") as stream:
        rows = list(csv.reader(stream))
    rows[0] += ["reward", "formation_energy"]
    for index, row in enumerate(rows[1:]):
        row += [str(index % 37), str(-0.01 * index)]
    scored = tmp_path / "scored.csv"
    with open(scored, "w", newline="") as stream:
        csv.writer(stream).writerows(rows)
    assert (
        main(
            [
                "report",
                str(scored),
                "--reference",
                str(MP_SLICE),
                "--out",
                str(tmp_path / "r"),
                "--top",
                "20",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["top_k"]["files"] == {"top10": "top10.csv", "top20": "top20.csv"}
    assert metrics["top_k"]["summary"]["reward"]["min"] == 34  # 8 rows of 36, 8 of 35, 4 of 34
    assert (
        "formation_energy" in metrics["comparison"]
        and "formation_energy" in metrics["top_k"]["comparison"]
    )
    assert metrics["reference"]["converted_to"].endswith("reference.csv")
    assert (tmp_path / "r" / "hist_formation_energy.png").exists()
    assert (tmp_path / "r" / "hist_reward.png").exists()
    assert len((tmp_path / "r" / "top20.csv").read_text().splitlines()) == 21


def test_cli_prints_the_report_path(tmp_path, capsys):
    samples = tmp_path / "s.csv"
    samples.write_text(
        "space_group,symbol,crystal_system,lattice_system,point_symmetry,formula,n_atoms,n_elements,"
        "a,b,c,alpha,beta,gamma\n225,Fm-3m,cubic,cubic,centrosymmetric,Na4Cl4,8,2,5.64,5.64,5.64,90,90,90\n"
    )
    assert main(["report", str(samples), "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert f"{tmp_path / 'r'}/report.md" in printed


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        ("space_group,formula\n1,Na1Cl1\n", "lacks the required column(s)"),
        (
            "space_group,symbol,crystal_system,lattice_system,point_symmetry,formula,a,b,c,alpha,beta,gamma\n"
            "225,Fm-3m,cubic,cubic,centrosymmetric,Na4Qq4,5,5,5,90,90,90\n",
            "row 1: formula 'Na4Qq4'",
        ),
    ],
)
def test_cli_input_errors_exit_2(tmp_path, capsys, content, message):
    samples = tmp_path / "s.csv"
    if content is not None:
        samples.write_text(content)
    assert main(["report", str(samples), "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("crystalgfn: error:") and message in error


def test_report_checks_a_restricted_run(tmp_path):
    """The report of a restricted sampler checks the restriction on every sample."""
    samples = tmp_path / "samples.csv"
    flags = ["--elements", "Fe,O", "--crystal-systems", "cubic", "--lengths", "10:20"]
    assert main(["sample", "-n", "50", "--out", str(samples), *flags]) == 0
    assert main(["report", str(samples), "--out", str(tmp_path / "ok"), *flags]) == 0
    validity = json.loads((tmp_path / "ok" / "metrics.json").read_text())["validity"]
    assert (
        validity["within_space"]
        == validity["allowed_space_group"]
        == validity["within_ranges"]
        == 1.0
    )
    bad_flags = ["--elements", "Li,O", "--lengths", "12:20"]
    assert main(["report", str(samples), "--out", str(tmp_path / "bad"), *bad_flags]) == 0
    validity = json.loads((tmp_path / "bad" / "metrics.json").read_text())["validity"]
    assert validity["within_space"] < 1.0 and validity["within_ranges"] < 1.0


def test_cli_binary_input_and_nan_rows(tmp_path, capsys):
    binary = tmp_path / "samples.parquet"
    binary.write_bytes(b"PAR1\x15\x04\x15\xb0\x01\xff\x00")
    assert main(["report", str(binary), "--out", str(tmp_path / "r")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("crystalgfn: error: samples file") and "is not a text CSV" in error
    assert "Traceback" not in error and "UnicodeDecodeError" not in error
    samples = tmp_path / "s.csv"
    samples.write_text(
        "space_group,symbol,crystal_system,lattice_system,point_symmetry,formula,a,b,c,alpha,beta,"
        "gamma\n225,Fm-3m,cubic,cubic,centrosymmetric,Na4Cl4,5.64,5.64,5.64,90,90,90\n"
        "225,Fm-3m,cubic,cubic,centrosymmetric,Na4Cl4,nan,5.64,5.64,90,90,90\n"
    )
    out = str(tmp_path / "r")
    assert main(["report", str(samples), "--reference", str(binary), "--out", out]) == 2
    assert "reference file" in capsys.readouterr().err
    assert main(["report", str(samples), "--out", out]) == 0
    warning = capsys.readouterr().err
    assert warning.startswith("crystalgfn: warning: samples file")
    assert "not measured: row(s) 2\n" in warning
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["samples"]["non_finite"]["n"] == 1


CONFIG = Path(__file__).resolve().parents[1] / "configs" / "formation_energy.toml"


def test_a_run_report_shows_settings_curves_baseline_and_the_restricted_run(tmp_path):
    """--run adds the run's settings, time and curves; --baseline and --compare are measured
    and drawn next to the samples; the run's reward scores a baseline written without it."""
    run = tmp_path / "run"
    assert main(["train", "--config", str(CONFIG), "--out", str(run), "--steps", "3"]) == 0
    restricted, free, uniform = (tmp_path / f"{n}.csv" for n in ("fe_o", "free", "uniform"))
    assert main(["sample", "--run", str(run), "-n", "40", "--out", str(restricted),
                 "--elements", "Fe,O"]) == 0
    assert main(["sample", "--run", str(run), "-n", "40", "--out", str(free)]) == 0
    assert main(["sample", "--policy", "uniform", "-n", "40", "--out", str(uniform)]) == 0
    out = tmp_path / "report"
    assert main(["report", str(restricted), "--run", str(run), "--elements", "Fe,O",
                 "--reference", str(MP_SLICE), "--baseline", str(uniform),
                 "--compare", f"unrestricted={free}", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["run"]["settings"]["batch_size"] == 128
    reward = metrics["run"]["reward"]  # the config's [reward] table, in full
    assert reward["kind"] == "exponential" and reward["beta"] == -8.0
    training = metrics["run"]["training"]
    assert training["steps"] == 3 and training["seconds"] > 0 and not training["estimated"]
    assert "training_curves.png" in metrics["plots"]
    assert metrics["baseline"]["label"] == "uniform baseline"
    # uniform samples carry no reward: the run's reward scores them for the comparison
    assert "reward" not in (uniform.read_text().splitlines()[0].split(","))
    assert metrics["baseline"]["summary"]["log_reward"]["count"] == 40
    assert metrics["compare"]["label"] == "unrestricted"
    assert metrics["compare"]["diversity"]["elements"] > 2  # not only Fe and O
    # the restriction is measured on the compared run: it leaves Fe,O
    assert metrics["compare"]["validity"]["within_space"] < 1.0
    assert metrics["diversity"]["elements"] <= 2
    assert {"density", "formation_energy"} <= set(metrics["compare"]["comparison"])
    assert metrics["baseline"]["summary"]["formation_energy"]["count"] == 40  # scored too
    text = (out / "report.md").read_text()
    for section in ("## Training run", "## Top 10 samples by reward", "## Compared sets",
                    "unrestricted", "share inside the sampling space", "proxy predictions"):
        assert section in text, section
    assert "| reward | kind = exponential, beta = -8.0" in text
    assert "| steps trained | 3 (config: 3000) |" in text
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<img src=\"data:image/png;base64,") == len(metrics["plots"])


def test_the_element_plot_shows_the_samples_elements_only(tmp_path):
    from crystalgfn.report import plots, read_crystals
    from crystalgfn_composition.report import shown_elements

    samples = tmp_path / "s.csv"
    assert main(["sample", "-n", "30", "--out", str(samples), "--elements", "Fe,O"]) == 0
    reference = read_crystals(write_csv(tmp_path / "r.csv", reference_from_table(MP_SLICE)))
    series = [plots.Series("samples", read_crystals(samples), plots.SAMPLE_COLOR, filled=True),
              plots.Series("reference", reference, plots.REFERENCE_COLOR)]
    assert shown_elements(series[:1]) == [8, 26]  # O, Fe; not the reference's 75
    assert len(shown_elements(series)) > 22
