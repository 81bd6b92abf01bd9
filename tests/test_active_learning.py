"""Active learning (``crystalgfn active-learn``): config validation, the acquisition rule, the
oracle-fidelity fine-tune, a tiny real campaign and its resumption (budget stop, kill -9)."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import torch
from crystalgfn.active import acquire
from crystalgfn.active.campaign import run_campaign
from crystalgfn.active.config import CampaignConfig, dump_toml
from crystalgfn.active.fidelity import fine_tunable_proxy
from crystalgfn.builders import make_proxy
from crystalgfn.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "data" / "mp_validation.csv"

RUN = """
env = "crystal"
proxy = "formation_energy"
loss = "tb"
steps = 10
batch_size = 16
epsilon = 0.02
replay_capacity = 100
replay_fraction = 0.25
checkpoint_every = 5
seed = 0
[restrictions]
elements = ["Li", "Mn", "O"]
max_atoms_per_element = 2
[reward]
kind = "exponential"
beta = -8.0
uncertainty_penalty = 1.0
[env_kwargs.lattice]
envelope = "mp2018"
"""


def campaign_text(calls: int = 100) -> str:
    return f"""
run = "run.toml"
rounds = 2
seed = 0
validation = "{VALIDATION}"
[train]
steps_per_round = 10
[acquire]
candidates = 32
batch = 2
[oracle]
steps = 3
max_seconds = 600.0
[refit]
steps = 20
[budget]
oracle_calls = {calls}
"""


def write_configs(folder: Path, calls: int = 100) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.toml").write_text(RUN)
    (folder / "al.toml").write_text(campaign_text(calls))
    return folder / "al.toml"


def raw(**changes) -> dict:
    base = {"run": str(ROOT / "configs" / "active_learning_run.toml"), "rounds": 2}
    for key, value in changes.items():
        if "." in key:
            section, name = key.split(".")
            base.setdefault(section, {})[name] = value
        else:
            base[key] = value
    return base


# -- config ------------------------------------------------------------------------------------

def test_the_shipped_campaign_config_is_valid():
    config = CampaignConfig.from_file(ROOT / "configs" / "active_learning.toml")
    assert config.rounds >= 3
    assert config.refit["proxy"] == "formation_energy"
    assert config.acquire["batch"] * config.rounds <= config.budget["oracle_calls"]
    assert config.validation == str(VALIDATION)
    run = config.round_run(2, {"weights_path": "/somewhere"})
    assert run["steps"] == 2 * config.train["steps_per_round"]
    assert run["proxy_kwargs"] == {"weights_path": "/somewhere"}
    assert "proxy_kwargs" not in config.run  # the campaign's own run config is not changed


@pytest.mark.parametrize("changes, message", [
    ({"rounds": 0}, r"rounds must be an integer >= 1, got 0"),
    ({"rounds": "3"}, r"rounds must be an integer >= 1, got '3' \(a string\)"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2147483648\]"),
    ({"acquire.batch": 0}, r"acquire.batch must be an integer >= 1"),
    ({"acquire.batch": 600}, r"acquire.batch \(600\) must be at most acquire.candidates"),
    ({"acquire.kappa": -1.0}, r"acquire.kappa must be a number >= 0"),
    ({"acquire.goal": "lowest"}, r"acquire.goal must be one of \['minimize', 'maximize'\]"),
    ({"acquire.diversity": []}, r"acquire.diversity must be a non-empty list"),
    ({"acquire.diversity": "formula"}, r"acquire.diversity must be a non-empty list"),
    ({"acquire.batchsize": 3}, r"unknown key 'batchsize' in \[acquire\]\. Did you mean 'batch'"),
    ({"oracle.steps": -1}, r"oracle.steps must be an integer >= 0"),
    ({"oracle.fmax": 0}, r"oracle.fmax must be a number > 0"),
    ({"oracle.jobs": 1.5}, r"oracle.jobs must be an integer >= 1"),
    ({"refit.lr": "fast"}, r"refit.lr must be a number >= 0, got 'fast' \(a string\)"),
    ({"refit.proxy": "band_gap"}, r"refit.proxy 'band_gap' is not a proxy of the run config"),
    ({"budget.oracle_calls": 0}, r"budget.oracle_calls must be an integer >= 1"),
    ({"budget.seconds": 0}, r"budget.seconds must be a number > 0"),
    ({"budget": 5}, r"\[budget\] must be a table"),
    ({"validation": "nowhere.csv"}, r"validation file .*nowhere.csv does not exist"),
    ({"run": "missing.toml"}, r"config file .*missing.toml does not exist"),
    ({"round": 3}, r"unknown key 'round' in the campaign config\. Did you mean 'rounds'"),
])
def test_bad_campaign_values_are_refused_with_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        CampaignConfig.from_dict(raw(**changes))


def test_run_and_rounds_are_required():
    with pytest.raises(ConfigError, match="needs run ="):
        CampaignConfig.from_dict({"rounds": 2})
    with pytest.raises(ConfigError, match="needs rounds ="):
        CampaignConfig.from_dict({"run": str(ROOT / "configs" / "active_learning_run.toml")})


def test_the_round_run_config_survives_toml():
    config = CampaignConfig.from_dict(raw())
    run = config.round_run(3, {"weights_path": "C:\\odd \"path\""})
    assert tomllib.loads(dump_toml(run)) == run


# -- acquisition -------------------------------------------------------------------------------

def test_ucb_rewards_low_means_and_high_uncertainty():
    scores = acquire.ucb_scores([-1.0, -2.0, -1.5, math.nan], [0.0, 0.0, 1.0, 0.1], kappa=1.0)
    assert scores[:3] == [1.0, 2.0, 2.5] and scores[3] == -math.inf
    assert acquire.ucb_scores([1.0, 2.0], [0.0, 0.0], 0.0, "maximize") == [1.0, 2.0]
    with pytest.raises(ConfigError, match="goal"):
        acquire.ucb_scores([1.0], [0.0], 1.0, "lowest")


def test_selection_keeps_one_crystal_per_group_then_fills():
    columns = {"formula": ["Li2O2", "LiO", "Mn2O4", "MnO2", "Li4", "Li2"],
               "space_group": [1, 2, 3, 3, 5, 6]}
    scores = [5.0, 6.0, 4.0, 3.0, 2.0, -math.inf]
    keys = acquire.group_keys(columns, ["formula"])
    assert keys[0] == keys[1] == ("LiO",) and keys[2] == keys[3] == ("MnO2",)
    chosen, filled = acquire.select(scores, keys, batch=3)
    assert chosen == [1, 2, 4] and filled == 0  # LiO (best of its group), MnO2, Li
    chosen, filled = acquire.select(scores, keys, batch=5)
    assert chosen == [1, 2, 4, 0, 3] and filled == 2  # only 3 groups: the best others fill
    assert acquire.select(scores, keys, batch=3, per_group=2)[0] == [1, 0, 2]
    by_both = acquire.group_keys(columns, ["formula", "space_group"])
    assert acquire.select(scores, by_both, batch=3)[0] == [1, 0, 2]
    with pytest.raises(ConfigError, match=r"lacks; it has \['formula', 'space_group'\]"):
        acquire.group_keys(columns, ["formulas"])


def test_reduced_formula_and_diversity():
    assert acquire.reduced_formula("Li4Mn4O8") == "LiMnO2"
    assert acquire.reduced_formula("Mn1O2") == "MnO2"
    assert acquire.reduced_formula("not a formula") == "not a formula"
    assert acquire.diversity(["Li2O2", "LiO", "MnO2", "Mn3O6"]) == 0.5
    assert acquire.diversity([]) is None


# -- the oracle-fidelity fine-tune -------------------------------------------------------------

def _validation_batch(n: int = 12):
    from crystalgfn.report.io import read_crystals

    crystals = read_crystals(VALIDATION, "validation")
    index = torch.arange(0, 3000, 3000 // n)[:n]
    truth = torch.tensor(crystals.numeric["formation_energy"], dtype=torch.float32)
    return {k: v[index] for k, v in crystals.values.items()}, truth[index], crystals.values


def test_fine_tune_moves_the_copy_towards_the_labels_and_leaves_the_dft_proxy(tmp_path):
    batch, dft, everything = _validation_batch()
    labels = dft + 0.5  # another fidelity: the same crystals half an eV/atom higher
    base = fine_tunable_proxy("formation_energy")
    shipped_file = resources.files("crystalgfn_formation_energy") / "weights" / "model.pt"
    shipped = shipped_file.read_bytes()
    before = base.predict(everything)
    kwargs = base.fine_tune(batch, labels, tmp_path / "copy", steps=100, lr=1e-3, anchor=1e-2)
    copy = make_proxy("formation_energy", **kwargs)
    error_before = float((base.predict(batch) - labels).abs().mean())
    error_after = float((copy.predict(batch) - labels).abs().mean())
    assert error_before > 0.4 and error_after < 0.2 * error_before
    # the DFT proxy: its object, a freshly built one and its file are unchanged
    assert torch.equal(base.predict(everything), before)
    assert torch.equal(make_proxy("formation_energy").predict(everything), before)
    assert shipped_file.read_bytes() == shipped
    metadata = json.loads((tmp_path / "copy" / "metadata.json").read_text())
    assert metadata["fidelity"] == "oracle" and metadata["fine_tune"]["labels"] == len(labels)
    assert copy.members == base.members and copy.uncertainty is not None
    # seeded: the same call gives the same copy
    again = make_proxy("formation_energy", **base.fine_tune(
        batch, labels, tmp_path / "again", steps=100, lr=1e-3, anchor=1e-2))
    assert torch.equal(again.predict(everything), copy.predict(everything))


def test_a_strong_anchor_keeps_the_copy_near_the_dft_weights(tmp_path):
    batch, dft, everything = _validation_batch()
    base = make_proxy("formation_energy")
    loose = make_proxy("formation_energy", **base.fine_tune(
        batch, dft + 0.5, tmp_path / "loose", steps=60, anchor=0.0))
    tight = make_proxy("formation_energy", **base.fine_tune(
        batch, dft + 0.5, tmp_path / "tight", steps=60, anchor=100.0))
    reference = base.predict(everything)
    assert ((tight.predict(everything) - reference).abs().mean()
            < 0.5 * (loose.predict(everything) - reference).abs().mean())


def test_a_proxy_that_cannot_be_fine_tuned_is_refused():
    with pytest.raises(ConfigError, match="cannot be refitted on oracle labels"):
        fine_tunable_proxy("density")


def test_fine_tune_checks_its_labels(tmp_path):
    batch, dft, _ = _validation_batch(4)
    base = make_proxy("formation_energy")
    with pytest.raises(ConfigError, match="4 crystals but 3 labels"):
        base.fine_tune(batch, dft[:3], tmp_path / "x")
    with pytest.raises(ConfigError, match="finite"):
        base.fine_tune(batch, torch.full((4,), math.nan), tmp_path / "x")


# -- a real campaign, and resuming it ----------------------------------------------------------

def _comparable(out: Path) -> dict:
    """What must not depend on interruptions: every round's record (timings and the
    folder-specific weights path apart), labels.csv, the batches and the refitted weights."""
    campaign = json.loads((out / "campaign.json").read_text())
    rounds = []
    for record in campaign["rounds"]:
        record = json.loads(json.dumps(record))
        for key in ("seconds", "seconds_total", "oracle_seconds"):
            record["cost"].pop(key)
        record["refit"].pop("kwargs")
        rounds.append(record)
    weights = {n: torch.load(out / f"round_{n:02d}" / "proxy" / "model.pt",
                             weights_only=True)["stacked"] for n in (1, 2)}
    return {"rounds": rounds, "stopped": campaign["stopped"],
            "labels": (out / "labels" / "labels.csv").read_text(),
            "batches": [(out / f"round_{n:02d}" / "batch.csv").read_text() for n in (1, 2)],
            "weights": weights}


def _same(a: dict, b: dict) -> None:
    assert a["rounds"] == b["rounds"]
    assert a["labels"] == b["labels"] and a["batches"] == b["batches"]
    for n in a["weights"]:
        assert a["weights"][n].keys() == b["weights"][n].keys()
        for key in a["weights"][n]:
            assert torch.equal(a["weights"][n][key], b["weights"][n][key]), key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign")
    config = CampaignConfig.from_file(write_configs(folder))
    result = run_campaign(config, folder / "out", log=lambda text: None)
    return folder / "out", result


def test_a_tiny_campaign_writes_its_rounds_labels_and_report(uninterrupted):
    out, result = uninterrupted
    assert [r["round"] for r in result["rounds"]] == [1, 2]
    assert result["stopped"] == "all 2 rounds done"
    first, second = result["rounds"]
    assert first["reward_proxy"] == "DFT weights"
    assert second["reward_proxy"] == "oracle-fidelity copy refitted after round 1"
    for record in result["rounds"]:
        assert record["batch"] == 2 and record["cost"]["oracle_calls"] == 2
        assert record["cost"]["seconds_total"] > 0
        assert set(record["cost"]["seconds"]) == {"train", "sample", "oracle", "refit"}
    # round 1's reward is the DFT proxy: its error on the batch is the DFT proxy's
    if first["labelled"]:
        assert first["proxy_mae_before_refit"] == pytest.approx(first["dft_proxy_mae"], abs=1e-5)
    # the GFlowNet of round 2 continued round 1's run
    from crystalgfn.checkpoint import load_checkpoint

    assert load_checkpoint(out / "round_02" / "run" / "checkpoint.pt")["step"] == 20
    run_config = (out / "round_02" / "run" / "config.toml").read_text()
    assert str(out / "round_01" / "proxy") in run_config
    with open(out / "labels" / "labels.csv", newline="") as stream:
        labels = list(csv.DictReader(stream))
    assert len(labels) == 4 and {row["round"] for row in labels} == {"1", "2"}
    for row in labels:
        if row["cif"]:
            assert (out / "labels" / row["cif"]).is_file()
    assert any(row["oracle_formation_energy_per_atom"] for row in labels)
    report = (out / "report" / "report.md").read_text()
    assert "| 2 | 20 |" in report and "Best oracle-verified crystals" in report
    assert (out / "report" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "report" / "rounds.json").read_text()) == result["rounds"]
    assert list((out / "report" / "best").glob("*.cif"))


def test_a_campaign_refuses_other_settings_in_its_folder(uninterrupted, tmp_path):
    out, _ = uninterrupted
    path = write_configs(tmp_path)
    path.write_text(path.read_text().replace("batch = 2", "batch = 3"))
    with pytest.raises(ConfigError, match=r"other settings \(they differ in \['acquire'\]\)"):
        run_campaign(CampaignConfig.from_file(path), out, log=lambda text: None)


def test_stopped_by_the_budget_then_extended_gives_the_same_rounds(uninterrupted, tmp_path):
    out, _ = uninterrupted
    small = CampaignConfig.from_file(write_configs(tmp_path / "a", calls=3))
    result = run_campaign(small, tmp_path / "out", log=lambda text: None)
    assert [r["round"] for r in result["rounds"]] == [1]
    assert result["stopped"].startswith("oracle-call budget: 2 used, a round needs 2")
    assert not (tmp_path / "out" / "round_02").exists()
    larger = CampaignConfig.from_file(write_configs(tmp_path / "b", calls=4))
    run_campaign(larger, tmp_path / "out", log=lambda text: None)
    _same(_comparable(tmp_path / "out"), _comparable(out))


@pytest.mark.slow(seconds=30)
def test_kill_9_mid_round_then_resume_gives_the_same_result(uninterrupted, tmp_path):
    out, _ = uninterrupted
    path = write_configs(tmp_path)
    command = [sys.executable, "-m", "crystalgfn", "active-learn", "--config", str(path),
               "--out", str(tmp_path / "out")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    rows = tmp_path / "out" / "round_02" / "oracle" / "rows.jsonl"
    deadline = time.monotonic() + 240
    try:
        while not (rows.is_file() and rows.read_text().strip()):
            assert process.poll() is None, "the campaign ended before it could be killed"
            assert time.monotonic() < deadline, "round 2's labelling never started"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the campaign and its worker processes
        process.wait()
    assert not (tmp_path / "out" / "round_02" / "metrics.json").exists()  # killed mid-round
    assert (tmp_path / "out" / "round_01" / "metrics.json").is_file()
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _same(_comparable(tmp_path / "out"), _comparable(out))
