"""Proxies that report their uncertainty: the pessimistic reward bound, its validation, the
``<proxy>_std`` / ``<proxy>_uncertain`` columns of sample tables and their count in reports."""

import csv
import json
import math

import pytest
import torch
from crystalgfn.config import RunConfig
from crystalgfn.errors import ConfigError, RewardError
from crystalgfn.proxy import Proxy, Uncertainty
from crystalgfn.rewards import Objective, Reward, RewardFunction
from crystalgfn.testing import check_proxy


class Uncertain(Proxy):
    """Returns fixed means and standard deviations (the batch is ignored)."""

    name = "energy"
    requires = ()
    unit = "eV/atom"

    def __init__(self, mean, std, threshold=0.1):
        self.mean = torch.tensor(mean, dtype=torch.float64)
        self.std = torch.tensor(std, dtype=torch.float64)
        self.uncertainty = Uncertainty(kind="ensemble", members=5, threshold=threshold)

    def predict(self, batch):
        return self.mean

    def predict_with_uncertainty(self, batch):
        return self.mean, self.std


class Certain(Uncertain):
    """No uncertainty: like the density proxy."""

    name = "plain"

    def __init__(self, mean):
        super().__init__(mean, [0.0] * len(mean))
        self.uncertainty = None

    def predict_with_uncertainty(self, batch):
        raise AssertionError("a penalty-free reward must not ask for the std")


def log_reward(proxy, **config):
    return Reward([Objective(proxy, RewardFunction.from_config(config))])({})[0]


def test_penalty_lowers_the_reward_of_uncertain_crystals_for_a_minimised_energy():
    # Same mean, growing std: with beta < 0 the bound is mu + kappa sigma.
    proxy = Uncertain([-2.0, -2.0, -2.0], [0.0, 0.1, 0.5])
    plain = log_reward(proxy, kind="exponential", beta=-8.0)
    assert plain.tolist() == [16.0, 16.0, 16.0]  # kappa = 0: the mean
    penalised = log_reward(proxy, kind="exponential", beta=-8.0, uncertainty_penalty=2.0)
    assert penalised.tolist() == pytest.approx([-8 * -2.0, -8 * (-2.0 + 0.2), -8 * (-2.0 + 1.0)])
    assert penalised[0] > penalised[1] > penalised[2]


@pytest.mark.parametrize(("config", "expected"), [
    ({"kind": "exponential", "beta": 3.0}, lambda m, s: 3.0 * (m - s)),  # maximised: mu - k s
    ({"kind": "exponential", "beta": 0.0}, lambda m, s: 0.0 * m),  # no preference
    ({"kind": "identity"}, lambda m, s: math.log(m - s)),
    ({"kind": "power", "exponent": 2.0}, lambda m, s: 2.0 * math.log(m - s)),
    ({"kind": "power", "exponent": -1.0}, lambda m, s: -math.log(m + s)),  # prefers low
    # rbf: the end of [mu - k s, mu + k s] farther from the target.
    ({"kind": "rbf", "target": 1.0, "sigma": 1.0}, lambda m, s: -((abs(m - 1.0) + s) ** 2) / 2),
])
def test_penalty_takes_the_pessimistic_side_of_every_reward_kind(config, expected):
    means, stds, kappa = [0.5, 1.5, 3.0], [0.1, 0.2, 0.3], 1.5
    got = log_reward(Uncertain(means, stds), **config, uncertainty_penalty=kappa)
    want = [expected(m, kappa * s) for m, s in zip(means, stds, strict=True)]
    assert got.tolist() == pytest.approx(want)
    # Never above the reward of the mean.
    assert (got <= log_reward(Uncertain(means, stds), **config) + 1e-12).all()


def test_a_positive_reward_whose_bound_is_not_positive_is_an_error():
    with pytest.raises(RewardError, match=r"pessimistic bound .* must stay positive.*Lower"):
        log_reward(Uncertain([0.5], [0.4]), kind="identity", uncertainty_penalty=2.0)


@pytest.mark.parametrize("value", [-0.5, "high", True, math.inf])
def test_bad_penalties_name_the_key_the_value_and_what_is_accepted(value):
    with pytest.raises(ConfigError) as error:
        RewardFunction.from_config({"kind": "exponential", "beta": -8.0,
                                    "uncertainty_penalty": value})
    message = str(error.value)
    assert "reward.uncertainty_penalty" in message and repr(value) in message
    assert ">= 0" in message


def test_penalty_only_for_proxies_that_report_an_uncertainty():
    reward = RewardFunction.from_config({"kind": "exponential", "beta": -8.0,
                                         "uncertainty_penalty": 0.5})
    with pytest.raises(ConfigError, match=r"uncertainty_penalty = 0\.5 needs a proxy that reports "
                                          r"its uncertainty, but proxy 'plain' does not"):
        Objective(Certain([1.0]), reward)
    # Without a penalty such a proxy is fine and is never asked for a std.
    assert log_reward(Certain([1.0]), kind="exponential", beta=-8.0).tolist() == [-8.0]
    assert Objective(Uncertain([1.0], [0.1]), reward).reward.uncertainty_penalty == 0.5


def test_run_config_with_a_penalty_on_the_density_proxy_is_refused(tmp_path):
    raw = {"env": "crystal", "proxy": "density",
           "env_kwargs": {"composition": {"elements": ["Fe", "O"]}},
           "reward": {"kind": "identity", "uncertainty_penalty": 1.0}}
    config = RunConfig.from_dict(raw)  # the value itself is valid
    with pytest.raises(ConfigError, match="proxy 'density' does not"):
        config.build_reward(config.build_env())
    raw["reward"]["uncertainty_penalty"] = -1
    with pytest.raises(ConfigError, match=r"reward\.uncertainty_penalty .*>= 0.*got -1"):
        RunConfig.from_dict(raw)
    objectives = {"env": "crystal", "objectives": [
        {"proxy": "density", "reward": {"kind": "identity", "uncertainty_penalty": -2.0}}]}
    with pytest.raises(ConfigError, match=r"objectives\[1\]\.reward\.uncertainty_penalty"):
        RunConfig.from_dict(objectives)


def test_table_columns_flag_stds_above_the_threshold():
    reward = Reward([
        Objective(Uncertain([1.0, 2.0, 3.0], [0.05, 0.1, 0.3], threshold=0.1),
                  RewardFunction.from_config({"kind": "exponential", "beta": -1.0})),
        Objective(Certain([4.0, 5.0, 6.0]), RewardFunction.from_config({"kind": "identity"})),
    ])
    log_r, columns = reward.columns({})
    assert set(columns) == {"energy", "energy_std", "energy_uncertain", "plain"}
    assert columns["energy_std"] == pytest.approx([0.05, 0.1, 0.3])
    assert columns["energy_uncertain"] == [0, 0, 1]  # strictly above the threshold
    assert log_r.tolist() == pytest.approx([-1 + math.log(4), -2 + math.log(5), -3 + math.log(6)])
    assert torch.equal(log_r, reward({})[0])


def test_check_proxy_verifies_the_uncertainty_contract():
    class WrongMean(Uncertain):
        def predict_with_uncertainty(self, batch):
            return self.mean + 1, self.std

    class NegativeStd(Uncertain):
        def predict_with_uncertainty(self, batch):
            return self.mean, -self.std

    check_proxy(Uncertain([1.0, 2.0], [0.1, 0.2]), {})
    with pytest.raises(AssertionError, match="differs from predict"):
        check_proxy(WrongMean([1.0, 2.0], [0.1, 0.2]), {})
    with pytest.raises(AssertionError, match="finite and >= 0"):
        check_proxy(NegativeStd([1.0, 2.0], [0.1, 0.2]), {})


# -- a tiny trained run: sample table columns and the report ---------------------------------------
RUN = """
env = "crystal"
proxy = "formation_energy"
steps = 3
batch_size = 16
hidden = 32
layers = 2
seed = 3
[env_kwargs.composition]
elements = ["Li", "Fe", "O", "S"]
max_atoms_per_element = 8
[reward]
kind = "exponential"
beta = -8.0
uncertainty_penalty = 1.0
"""


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    pytest.importorskip("crystalgfn_formation_energy")
    from crystalgfn.cli import main

    folder = tmp_path_factory.mktemp("uncertain_run")
    (folder / "run.toml").write_text(RUN)
    assert main(["train", "--config", str(folder / "run.toml"), "--out", str(folder / "run")]) == 0
    out = folder / "samples.csv"
    assert main(["sample", "--run", str(folder / "run"), "-n", "60", "--out", str(out)]) == 0
    return out


def test_samples_table_has_std_and_flag_columns(sampled):
    from crystalgfn import make_proxy

    rows = list(csv.DictReader(sampled.open()))
    names = {"formation_energy", "formation_energy_std", "formation_energy_uncertain"}
    assert names <= set(rows[0])
    threshold = make_proxy("formation_energy").uncertainty.threshold
    stds = [float(r["formation_energy_std"]) for r in rows]
    assert all(s >= 0 for s in stds) and max(stds) > 0
    flags = [int(r["formation_energy_uncertain"]) for r in rows]
    assert flags == [int(s > threshold) for s in stds]
    # The reward is that of the pessimistic bound mu + 1 * sigma (beta = -8 < 0).
    for r in rows[:10]:
        bound = float(r["formation_energy"]) + float(r["formation_energy_std"])
        assert float(r["log_reward"]) == pytest.approx(-8.0 * bound, abs=1e-3)


def test_report_counts_uncertain_samples_and_reads_old_tables(sampled, tmp_path):
    from crystalgfn.report import build_report

    metrics = build_report(sampled, tmp_path / "report", plot=False)
    rows = list(csv.DictReader(sampled.open()))
    flagged = sum(int(r["formation_energy_uncertain"]) for r in rows)
    entry = metrics["uncertainty"]["formation_energy"]
    assert entry["uncertain"] == flagged and entry["evaluated"] == len(rows)
    assert "formation_energy_std" not in metrics["properties"]
    assert "formation_energy" in metrics["properties"]
    on_disk = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert on_disk["uncertainty"]["formation_energy"]["uncertain"] == flagged
    text = (tmp_path / "report" / "report.md").read_text()
    assert f"`formation_energy`: **{flagged} of {len(rows)} samples uncertain**" in text
    # A table written before the columns existed still reports, with no uncertainty block.
    old = tmp_path / "old.csv"
    names = [n for n in rows[0] if not n.startswith("formation_energy_")]
    with old.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=names, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    old_metrics = build_report(old, tmp_path / "old_report", plot=False)
    assert old_metrics["uncertainty"] == {}
    assert "No uncertainty columns" in (tmp_path / "old_report" / "report.md").read_text()
