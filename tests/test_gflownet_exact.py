"""A GFlowNet must sample ∝ R: exact checks on spaces small enough to enumerate.

The trained sampler's distribution over finished objects is computed exactly by enumerating
every trajectory (no sampling noise) and compared with R(x)/Z; 50,000 samples are compared
too, as the issue requires, and the learned log Z with the true one.
"""

import math

import crystalgfn
import pytest
import torch
from crystalgfn.errors import ConfigError
from crystalgfn.evaluation import exact_check
from crystalgfn.trainer import Trainer, TrainSettings, sample_policy
from exact_checks import cases, settings

CASES = {name: (env, log_reward, steps, lr) for name, env, log_reward, steps, lr in cases()}


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny networks: one thread avoids thread start-up and contention overheads.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.slow(seconds=60)
@pytest.mark.parametrize("loss", ["tb", "db", "subtb"])
@pytest.mark.parametrize("case", list(CASES))
def test_sampler_matches_reward(case, loss):
    env, log_reward, steps, lr = CASES[case]
    result = exact_check(env, log_reward, loss, settings(steps, lr))
    assert result["tv_exact"] <= 0.03, result
    assert result["tv_empirical"] <= 0.03, result
    assert abs(result["log_z"] - result["true_log_z"]) <= 0.05, result


@pytest.mark.parametrize("loss", ["fm", "vargrad"])
def test_other_losses_on_space_groups(loss):
    env, log_reward, steps, lr = CASES["spacegroup, 40 groups"]
    result = exact_check(env, log_reward, loss, settings(steps, lr))
    assert (
        result["tv_exact"] <= 0.03 and abs(result["log_z"] - result["true_log_z"]) <= 0.05
    ), result


@pytest.mark.slow(seconds=130)
def test_restricted_sampling_masking_is_biased_and_training_with_the_restriction_is_not():
    """Masking a policy trained on Li-Fe-O to Li-Fe at sampling time does not sample ∝ R on
    Li-Fe (measured: TV ≈ 0.5); training with the restriction does."""
    env, log_reward, steps, lr = CASES["composition Li-Fe-O, <= 4 atoms"]
    restricted = env.restrict(elements=["Li", "Fe"])
    masked = exact_check(
        env, log_reward, "tb", settings(steps, lr), sample_env=restricted, n_samples=1000
    )
    retrained = exact_check(restricted, log_reward, "tb", settings(steps, lr), n_samples=1000)
    assert masked["tv_exact"] > 0.2
    assert retrained["tv_exact"] <= 0.03


def test_flow_matching_refuses_continuous_environments():
    env = crystalgfn.make_env("lattice", lattice_system="cubic")
    with pytest.raises(ConfigError, match="loss 'fm' needs a discrete environment"):
        Trainer(env, lambda v: (torch.zeros(v["lattice"].shape[0]), {}), crystalgfn.make_loss("fm"))


@pytest.mark.slow
def test_continuous_lattice_target_is_matched():
    """A 1-parameter target (cubic a ~ normal(4, 0.8) truncated to [2, 8] Å): the sampled a
    must pass a Kolmogorov–Smirnov test at the 1% level, and log Z must be right."""
    low, high, mu, sigma = 2.0, 8.0, 4.0, 0.8
    env = crystalgfn.make_env("lattice", lattice_system="cubic", min_length=low, max_length=high)

    def reward(values):
        a = values["lattice"][:, 0].double()
        return -((a - mu) ** 2) / (2 * sigma**2), {}

    trainer = Trainer(
        env, reward, crystalgfn.make_loss("tb"),
        TrainSettings(steps=1000, batch_size=128, lr=3e-3, lr_log_z=0.05, hidden=64, layers=2),
    )
    trainer.train()

    def cdf(x):
        scale = sigma * math.sqrt(2)
        return (torch.erf((x - mu) / scale) - math.erf((low - mu) / scale)) / (
            math.erf((high - mu) / scale) - math.erf((low - mu) / scale)
        )

    done = sample_policy(env, trainer.policy, 20_000, 5_000, torch.Generator().manual_seed(1))
    a = env.values(done)["lattice"][:, 0].double().sort().values
    n = a.shape[0]
    empirical = torch.arange(1, n + 1, dtype=torch.float64) / n
    statistic = max(
        float((empirical - cdf(a)).abs().max()), float((cdf(a) - empirical + 1 / n).abs().max())
    )
    assert statistic < 1.63 / math.sqrt(n), statistic  # KS critical value at 1%
    # Densities are against the uniform probability measure on [low, high]:
    # Z = ∫ R da / (high - low).
    true_log_z = math.log(
        sigma * math.sqrt(math.pi / 2)
        * (
            math.erf((high - mu) / (sigma * math.sqrt(2)))
            - math.erf((low - mu) / (sigma * math.sqrt(2)))
        )
        / (high - low)
    )
    assert abs(trainer.learned_log_z() - true_log_z) <= 0.05


@pytest.mark.slow(seconds=190)
def test_one_conditional_model_follows_every_restriction_it_was_trained_on():
    """One conditional model on a stack of two environments (space-group subsets x atom bound
    on the 12-group Li-O stack), trained once over 12 restrictions, matches R/Z restricted
    exactly on them. Measured with these settings (scripts/conditional_exact_checks.py
    --pool 13 --per-batch 4 --steps 2000 --batch-size 64 --hidden 64 --lr 1e-2): trained
    median TV 0.021, max 0.067 (docs/training.md). Restrictions it never saw are the next
    test's bar, on the crystal systems; on this stack they need a far larger pool (pool 2048:
    24 of 24 unseen within TV 0.03)."""
    from conditional_exact_checks import log_reward, stack
    from crystalgfn.config import conditional_env
    from crystalgfn.evaluation import conditional_exact_check

    env = conditional_env(
        stack(),
        {"restrictions": ["space_groups", "max_atoms_per_element"], "pool": 13, "per_batch": 4},
    )
    trained = [env.family.arguments(env.restriction(i)) for i in env.pool[1:]]
    results = conditional_exact_check(env, log_reward, "tb", settings(2000, 1e-2), trained)
    tv = sorted(r["tv_exact"] for r in results)
    assert len(tv) == 12 and all(r["trained_on"] for r in results)
    assert tv[len(tv) // 2] <= 0.03 and tv[-1] <= 0.15, tv


@pytest.mark.slow(seconds=95)
def test_one_conditional_model_samples_exactly_on_20_crystal_system_subsets_it_never_saw():
    """The issue's bar, on restrictions never drawn in training: one conditional model over
    the crystal systems (26 groups spanning all 7; any of the 127 subsets), trained once on a
    pool of 64, gives TV <= 0.03 to the restricted R/Z and |log Z(r) - true| <= 0.05 on each of
    20 unseen subsets. Measured with these settings (scripts/conditional_exact_checks.py
    --case systems): TV max 0.018, log Z max 0.031 (docs/training.md)."""
    from conditional_exact_checks import CASES, case_settings, conditional_case, unseen_restrictions
    from crystalgfn.evaluation import conditional_exact_check

    defaults = CASES["systems"][3]
    env, log_reward = conditional_case("systems", defaults["pool"], defaults["per_batch"])
    unseen = unseen_restrictions(env, 20, seed=12345)
    assert not any(env.trained_on(r) for r in unseen)
    settings = case_settings(
        defaults["steps"], defaults["batch_size"], defaults["lr"], defaults["hidden"]
    )
    results = conditional_exact_check(env, log_reward, "tb", settings, unseen)
    for r in results:
        assert r["tv_exact"] <= 0.03, r
        assert abs(r["log_z"] - r["true_log_z"]) <= 0.05, r


@pytest.mark.slow(seconds=420)
def test_one_conditional_lattice_model_passes_ks_on_unseen_length_ranges():
    """One conditional cubic lattice (a ~ normal(4, 0.8) truncated to [2, 8] Å, conditioned on
    the length range), trained once over 512 ranges: on length ranges it never saw, the
    sampled a passes the Kolmogorov–Smirnov test at 1 % against the target truncated to the
    range, and log Z(range) is within 0.05. With these settings
    (scripts/conditional_lattice_check.py) 20 of 20 unseen ranges pass (docs/training.md)."""
    from conditional_lattice_check import check

    results = check(steps=7000, pool=512, per_batch=16, hidden=128, ranges=6)
    for r in results:
        assert r["ks"] < r["critical"], r
        assert abs(r["log_z_error"]) <= 0.05, r
