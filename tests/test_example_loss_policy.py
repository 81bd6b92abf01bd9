"""The example loss and policy packages in docs/examples are installed with pip and used by
name, as a user's plugins would be: a run trained with them samples ∝ R exactly."""

from __future__ import annotations

import json

import attrs
import crystalgfn
import pytest
import torch
from crystalgfn.evaluation import (
    exact_check,
    exact_distribution,
    target_distribution,
    total_variation,
)
from crystalgfn.plugins import get_plugins
from crystalgfn.testing import check_loss
from crystalgfn.trainer import TrainSettings
from installed_examples import installed_examples

PACKAGES = ("crystalgfn-logcosh-loss", "crystalgfn-linear-policy")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    with installed_examples(tmp_path_factory.mktemp("examples"), *PACKAGES):
        yield


def _space():
    env = crystalgfn.make_env("spacegroup", space_groups="1-20")
    return env, lambda values: 1.5 * torch.sin(values["spacegroup"].double())


def test_examples_are_registered_and_listed(installed, capsys):
    plugins = get_plugins()
    assert plugins.losses.get("logcosh_tb").distribution == "crystalgfn-logcosh-loss"
    assert plugins.policies.get("linear").distribution == "crystalgfn-linear-policy"
    from crystalgfn.cli import main

    assert main(["plugins", "--json"]) == 0
    listed = {p["distribution"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert listed["crystalgfn-logcosh-loss"]["losses"] == ["logcosh_tb"]
    assert listed["crystalgfn-linear-policy"]["policies"] == ["linear"]
    assert listed["crystalgfn"]["policies"] == ["mlp", "uniform"]


@pytest.mark.parametrize("seed", [0, 1])
def test_example_loss_passes_check_loss(installed, seed):
    value = check_loss(crystalgfn.make_loss("logcosh_tb"), seed=seed)
    assert float(value) > 0


def test_trained_with_the_example_loss_and_policy_samples_proportionally_to_reward(installed):
    env, log_reward = _space()
    target, _ = target_distribution(env, log_reward)
    untrained = exact_distribution(env, crystalgfn.make_policy("linear", env))
    assert total_variation(untrained, target) > 0.3  # the check below can fail
    settings = TrainSettings(
        steps=200, batch_size=32, lr=5e-2, lr_log_z=0.3, lr_schedule="cosine", policy="linear",
        seed=0,
    )
    result = exact_check(env, log_reward, "logcosh_tb", settings, n_samples=2000)
    assert result["tv_exact"] <= 0.01, result
    assert abs(result["log_z"] - result["true_log_z"]) <= 0.01, result


def test_the_example_policy_gives_the_flow_head_a_loss_asks_for(installed):
    env, _ = _space()
    settings = TrainSettings(policy="linear", policy_kwargs={"init_scale": 0.1})
    with_flows = crystalgfn.make_policy("linear", env, settings, outputs={"log_flow"})
    assert with_flows.outputs == {"log_flow"} and with_flows.flow is not None
    from crystalgfn.trainer import Trainer

    trainer = Trainer(env, lambda v: (torch.zeros(v["spacegroup"].shape[0]), {}),
                      crystalgfn.make_loss("db"), attrs.evolve(settings, steps=2))
    assert type(trainer.policy).__name__ == "LinearPolicy" and "log_flow" in trainer.policy.outputs
    trainer.train()
    assert trainer.learned_log_z() is not None
    with pytest.raises(crystalgfn.ConfigError, match="does not accept"):
        crystalgfn.make_policy("linear", env, settings, hidden=3)


def test_a_run_names_the_example_policy_and_loss(installed, tmp_path):
    from crystalgfn.cli import main

    config = tmp_path / "run.toml"
    config.write_text(
        'env = "crystal"\nproxy = "density"\nloss = "logcosh_tb"\npolicy = "linear"\n'
        "steps = 3\nbatch_size = 8\ncheckpoint_every = 3\n"
        "[policy_kwargs]\ninit_scale = 0.01\n"
        '[env_kwargs.composition]\nelements = ["Li", "O"]\nmax_atoms_per_element = 4\n'
        '[reward]\nkind = "identity"\n'
    )
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    out = tmp_path / "samples.csv"
    assert main(["sample", "--run", str(tmp_path / "run"), "-n", "20", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 21
    untrained = tmp_path / "untrained.csv"
    args = ["sample", "--policy", "linear", "--env", "spacegroup", "-n", "10", "--out"]
    assert main([*args, str(untrained)]) == 0
    assert len(untrained.read_text().splitlines()) == 11
