"""The example environment package in docs/examples is installed with pip and used by name, as
a user's plugin would be: it composes with the first-party environments, its restrictions
become command-line flags, and a sampler trained on a stack including it samples ∝ R exactly."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

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
from crystalgfn.testing import check_env, rollout_uniform
from crystalgfn.trainer import TrainSettings
from installed_examples import installed_examples, subprocess_env

PACKAGE = "crystalgfn-formula-units"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The directory the example is installed in (for a subprocess's PYTHONPATH)."""
    with installed_examples(tmp_path_factory.mktemp("example"), PACKAGE) as target:
        yield target


def test_the_example_registers_by_reference_with_its_restrictions(installed, capsys):
    entry = get_plugins().envs.get("formula_units")
    assert entry.distribution == PACKAGE
    assert [r.name for r in entry.details["restrictions"]] == ["max_units", "units"]
    # the hook module imports no torch: registering by "module:Attr" keeps the CLI fast
    code = (
        "import sys; import crystalgfn_formula_units.plugin; "
        "assert 'torch' not in sys.modules, 'the plugin module imported torch'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=subprocess_env(installed))
    from crystalgfn.cli import main

    assert main(["plugins", "--json"]) == 0
    listed = {p["distribution"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert "formula_units" in listed[PACKAGE]["envs"]


def test_built_by_name_it_keeps_the_environment_contract(installed):
    env = crystalgfn.make_env("formula_units", max_z=6)
    assert type(env).__module__ == "crystalgfn_formula_units.env"
    check_env(env)
    narrower = env.restrict(max_units=4, units="1,2,3,6")
    assert narrower.units == (1, 2, 3) and narrower.n_actions == env.n_actions
    check_env(narrower)
    with pytest.raises(crystalgfn.InfeasibleError):
        env.restrict(units=[5, 6], max_units=4)
    with pytest.raises(crystalgfn.ConfigError, match="max_z"):
        crystalgfn.make_env("formula_units", max_z=0)
    with pytest.raises(ValueError, match="one of"):
        narrower.from_values({"formula_units": torch.tensor([6])})


def test_it_composes_with_the_first_party_stack_and_samples_valid_crystals(installed):
    env = crystalgfn.make_env(
        "crystal+formula_units", composition={"elements": ["Li", "O"]},
        formula_units={"max_z": 4},
    )
    assert env.spec == "spacegroup+composition+lattice+formula_units"
    check_env(env, batch_size=32)
    done = rollout_uniform(env.restrict(max_units=2, space_groups="195-230"), 64, seed=3)
    values = env.values(done)
    assert set(values) >= {"spacegroup", "composition", "lattice", "formula_units"}
    z = values["formula_units"]
    assert bool(((z >= 1) & (z <= 2)).all()) and set(z.tolist()) == {1, 2}
    assert bool((values["spacegroup"] >= 195).all())
    checks = env.validity(values)
    assert checks["allowed_formula_units"].all()
    assert all(bool(ok.all()) for ok in checks.values()), {k: v.float().mean() for k, v in
                                                             checks.items()}
    # the check can fail: Z outside 1..max_z is reported invalid
    bad = env.validity({**values, "formula_units": torch.full_like(z, 5)})
    assert not bool(bad["allowed_formula_units"].any())


def test_the_cli_offers_its_restrictions_and_samples_the_stack(installed, tmp_path):
    from crystalgfn.cli import main

    out = tmp_path / "samples.csv"
    spec = "spacegroup+composition+lattice+formula_units"
    args = ["sample", "--policy", "uniform", "--env", spec,
            "--max-units", "3", "--space-groups", "1-10", "-n", "40", "--out", str(out)]
    assert main(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 40
    units = {int(row["Z"]) for row in rows}  # the column the environment's describe() names
    assert units and units <= {1, 2, 3}, units
    assert all(1 <= int(float(row["space_group"])) <= 10 for row in rows)


def _space():
    env = crystalgfn.make_env(
        "spacegroup+formula_units", spacegroup={"space_groups": "1-4,225"},
        formula_units={"max_z": 6},
    )

    def log_reward(values):
        z = values["formula_units"].double()
        group = values["spacegroup"].double()
        return 1.5 * torch.cos(1.3 * z) + torch.sin(group) * (z <= 3)

    return env, log_reward


@pytest.fixture
def one_thread():
    # A tiny network: one thread avoids thread start-up and contention overheads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_trained_on_a_stack_with_it_samples_proportionally_to_reward(installed, one_thread):
    env, log_reward = _space()
    target, _ = target_distribution(env, log_reward)
    assert len(target) == 5 * 6
    settings = TrainSettings(
        steps=200, batch_size=64, lr=1e-2, lr_log_z=0.1, lr_schedule="cosine", hidden=32,
        layers=2, seed=0,
    )
    for untrained in (crystalgfn.make_policy("uniform", env),
                      crystalgfn.make_policy("mlp", env, settings)):
        # the check below can fail: before training, the sampler is far from R/Z
        assert total_variation(exact_distribution(env, untrained), target) > 0.3
    result = exact_check(env, log_reward, "tb", settings, n_samples=2000)
    assert result["tv_exact"] <= 0.03, result
    assert result["tv_empirical"] <= 0.08, result  # 2000 samples of 30 objects
    assert abs(result["log_z"] - result["true_log_z"]) <= 0.05, result
