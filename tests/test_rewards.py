"""Reward functions: stable log-rewards, floors, several objectives, bad predictions."""

import math

import crystalgfn
import pytest
import torch
from crystalgfn.errors import ConfigError
from crystalgfn.rewards import Objective, Reward, RewardFunction


class Constant(crystalgfn.Proxy):
    name = "constant_values"
    requires = ()

    def __init__(self, values):
        self.values = torch.tensor(values, dtype=torch.float64)

    def predict(self, batch):
        return self.values


def reward(values, **config):
    return Reward([Objective(Constant(values), RewardFunction.from_config(config))])


def test_exponential_is_exact_where_exp_underflows():
    log_r, _ = reward([200.0, -1.0], kind="exponential", beta=-8.0)({})
    assert log_r.tolist() == [-1600.0, 8.0]  # exp(-1600) is 0 in float64; its log is not


def test_rbf_identity_power_and_floor():
    rbf = reward([1.34, 2.34], kind="rbf", target=1.34, sigma=0.5)({})[0]
    assert rbf.tolist() == pytest.approx([0.0, -2.0])
    assert reward([2.0], kind="identity")({})[0].tolist() == pytest.approx([math.log(2.0)])
    power = reward([2.0], kind="power", exponent=3.0)({})[0]
    assert power.tolist() == pytest.approx([3 * math.log(2.0)])
    floored = reward([50.0, 0.0], kind="exponential", beta=-8.0, min_reward=1e-10)({})[0]
    assert floored.tolist() == pytest.approx([math.log(1e-10), 0.0])


def test_objectives_combine_as_a_weighted_sum_of_log_rewards():
    combined = Reward(
        [
            Objective(
                Constant([1.0]),
                RewardFunction.from_config({"kind": "exponential", "beta": -2.0}),
                0.5,
            ),
            Objective(Constant([3.0]), RewardFunction.from_config({"kind": "identity"}), 2.0),
        ]
    )
    log_r, predictions = combined({})
    assert log_r.item() == pytest.approx(0.5 * -2.0 + 2.0 * math.log(3.0))
    assert set(predictions) == {"constant_values"}


def test_nan_prediction_names_the_crystal_or_is_floored():
    describe = lambda values, rows: [f"crystal #{r}" for r in rows]  # noqa: E731
    bad = Reward([Objective(Constant([1.0, math.nan]), RewardFunction())], describe=describe)
    with pytest.raises(ValueError, match=r"non-finite reward for 1 crystal\(s\), e.g. crystal #1"):
        bad({})
    floored = Reward(
        [Objective(Constant([1.0, math.nan]), RewardFunction(min_reward=1e-6))], on_nan="floor"
    )
    with pytest.warns(UserWarning, match="floored to the minimum reward"):
        log_r, _ = floored({})
    assert log_r[1].item() == pytest.approx(math.log(1e-6))


def test_bad_reward_settings_are_named():
    with pytest.raises(ConfigError, match=r"reward kind 'rbf' does not accept \['beta'\]"):
        RewardFunction.from_config({"kind": "rbf", "beta": 1.0})
    with pytest.raises(ConfigError, match="min_reward must be > 0"):
        RewardFunction.from_config({"kind": "identity", "min_reward": 0})
    with pytest.raises(ValueError, match="identity reward needs positive property values"):
        reward([-1.0], kind="identity")({})
