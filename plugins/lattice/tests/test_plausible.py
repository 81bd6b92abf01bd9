"""The plausibility envelope: fitted data, exact densities, no dead ends, and a sampler ∝ R."""

from __future__ import annotations

import json
import math
from importlib import resources

import crystalgfn
import pytest
import torch
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.evaluation import target_distribution, total_variation
from crystalgfn.testing import check_env, rollout_uniform
from crystalgfn.trainer import Trainer, TrainSettings, sample_policy
from crystalgfn_lattice.envelope import Envelope
from crystalgfn_lattice.plausible import PlausibleLatticeEnv, triclinic_min_volume_factor
from crystalgfn_lattice.systems import LATTICE_SYSTEMS

PAPER = "H Li B C N O F Na Mg Al Si P S Cl K V Mn Fe Co Ni Cu Se".split()
CASE_D = dict(min_length=10.0, max_length=20.0, min_angle=75.0, max_angle=135.0)


def test_shipped_envelope_covers_99_percent_of_training_crystals_of_the_paper_elements():
    data = resources.files("crystalgfn_lattice") / "data" / "mp2018.json"
    coverage = json.loads(data.read_text())["coverage"]
    for space in ("all", "paper_22_elements"):
        assert coverage[space]["train"]["pass"] >= 0.99, coverage[space]
    window = Envelope.load().window(PAPER)
    assert window.coverage >= 0.99 and window.crystals > 1000
    assert 0.5 < window.tau_low < 1 < window.tau_high < 3 and 5 < window.max_length_ratio < 20
    # NaCl (rock salt, a = 5.64 Å, 4 formula units) lies inside; the same cell 3x longer not.
    nacl = {"Na": 4, "Cl": 4}
    envelope = Envelope.load().window(["Na", "Cl"])
    assert envelope.contains(nacl, 5.64**3, 1.0)
    assert not envelope.contains(nacl, 5.64**3 * 3, 3.0)


def test_envelope_inputs_are_validated():
    with pytest.raises(ConfigError, match="unknown envelope 'mp2099'"):
        Envelope.load("mp2099")
    with pytest.raises(ConfigError, match=r"no fitted volume for \['Og'\]"):
        Envelope.load().window(["Fe", "Og"])
    with pytest.raises(ConfigError, match="unknown lattice envelope 'mp'"):
        crystalgfn.make_env("lattice", envelope="mp")


def test_triclinic_minimum_volume_factor_is_the_vertex_minimum():
    lo, hi, margin = 50.0, 150.0, 1.0

    def factor(angles):
        cos = torch.cos(torch.deg2rad(angles.double()))
        return (1 - (cos**2).sum(-1) + 2 * cos.prod(-1)).clamp(min=0).sqrt()

    exact = triclinic_min_volume_factor(lo, hi, margin)
    # Attained at the vertex (150, 150, 59): alpha + beta + gamma = 360 - margin.
    assert exact == pytest.approx(float(factor(torch.tensor([150.0, 150.0, 59.0]))), abs=1e-9)
    # No point of the region lies below it.
    generator = torch.Generator().manual_seed(0)
    angles = lo + (hi - lo) * torch.rand(400_000, 3, generator=generator, dtype=torch.float64)
    a, b, c = angles.unbind(1)
    inside = (a <= b + c - margin) & (b <= a + c - margin) & (c <= a + b - margin)
    inside &= a + b + c <= 360 - margin
    assert float(factor(angles[inside]).min()) >= exact - 1e-12


@pytest.mark.parametrize("ranges", [{}, CASE_D], ids=["default", "case D"])
def test_region_volumes_match_monte_carlo(ranges):
    """E_u[|J(u)|] over the unit cube is the region's volume: the normaliser of the densities
    must agree with it (to 2 % for 200k draws, more at windows far from the box's corners)."""
    env = PlausibleLatticeEnv(**ranges, max_predicted_volume=2000.0)
    generator = torch.Generator().manual_seed(0)
    for system in env.cellmap.feasible:
        w_lo, w_hi = env.log_volume_range(system)
        for w in (w_lo + 0.3, (w_lo + min(w_hi, 9.0)) / 2, -math.inf):
            windows = torch.full((200_000,), w, dtype=torch.float64)
            u = torch.rand(200_000, 6, dtype=torch.float64, generator=generator)
            lattice, log_jac = env._to_lattice(system, u, windows)
            log_z = float(env.region_log_volumes(system, windows[:1])[0])
            ratio = float(torch.exp(log_jac - log_z).mean())
            assert abs(ratio - 1) < 0.02, (LATTICE_SYSTEMS[system], w, ratio)
            volume = PlausibleLatticeEnv._volumes(lattice)
            if math.isfinite(w):
                assert bool((volume >= env.tau_low * math.exp(w) * (1 - 1e-9)).all())
                assert bool((volume <= env.tau_high * math.exp(w) * (1 + 1e-9)).all())
            lengths = lattice[:, :3]
            ratios = lengths.max(dim=1).values / lengths.min(dim=1).values
            assert float(ratios.max()) <= env.max_length_ratio * (1 + 1e-9)


@pytest.mark.parametrize("ranges", [{}, CASE_D], ids=["default", "case D"])
def test_plausible_crystals_pass_every_check_without_dead_ends(ranges):
    env = crystalgfn.make_env("crystal", lattice={"envelope": "mp2018", **ranges})
    check_env(env, batch_size=32)  # round trips, masks, no dead ends on a random rollout
    done = rollout_uniform(env, 500, seed=3)
    checks = env.validity(env.values(done))
    assert {"plausible_volume", "plausible_shape", "volume_within_bounds"} <= set(checks)
    failing = {name: int((~ok).sum()) for name, ok in checks.items() if not bool(ok.all())}
    assert not failing
    if ranges:  # with lengths 10-20 Å, one- and two-atom cells cannot fit
        assert int(env.values(done)["composition"].sum(dim=1).min()) > 8


def test_a_composition_outside_the_lattice_window_is_refused():
    env = PlausibleLatticeEnv(**CASE_D)
    state = env.with_systems(env.source(1), torch.tensor([LATTICE_SYSTEMS.index("cubic")]))
    with pytest.raises(InfeasibleError, match="row 0: a composition of predicted volume 10"):
        env.with_predicted_volumes(state, torch.tensor([10.0]))


def test_restricting_keeps_the_envelope():
    env = crystalgfn.make_env("lattice", envelope="mp2018").restrict(lengths=(10.0, 20.0))
    assert isinstance(env, PlausibleLatticeEnv) and env.lengths == (10.0, 20.0)


@pytest.mark.slow(seconds=95)
def test_sampler_is_proportional_to_the_reward_on_the_plausible_space():
    """composition (Li, O, ≤ 3 atoms each) + cubic lattice 3-8 Å inside the envelope, with a
    reward of the composition only: each composition's lattice region has probability 1
    under the reference measure, so compositions must be sampled ∝ R (TV ≤ 0.03, log Z within
    0.05) and a must be uniform on its window (Kolmogorov–Smirnov at 1 %). Li1 and O1 cannot
    fill a 3 Å cube inside the envelope: they must never be sampled."""
    torch.set_num_threads(1)
    env = crystalgfn.make_env(
        "composition+lattice",
        composition={"elements": ["Li", "O"], "max_atoms_per_element": 3},
        lattice={"envelope": "mp2018", "lattice_system": "cubic", "min_length": 3.0,
                 "max_length": 8.0},
    )

    def log_reward(values):
        counts = values["composition"].double()
        return 0.3 * counts.sum(1) - 0.2 * (counts[:, 8] - 2).abs()

    trainer = Trainer(
        env, lambda v: (log_reward(v), {}), crystalgfn.make_loss("tb"),
        TrainSettings(steps=2500, batch_size=64, lr=1e-2, lr_log_z=0.1, lr_schedule="cosine",
                      hidden=64, layers=2, seed=0),
    )
    trainer.train()
    composition_env, lattice_env = env.parts
    target, true_log_z = target_distribution(composition_env, log_reward)
    done = sample_policy(env, trainer.policy, 20_000, 10_000, torch.Generator().manual_seed(1))
    values = env.values(done)
    keys = [tuple(row) for row in values["composition"].long().tolist()]
    empirical = {key: keys.count(key) / len(keys) for key in set(keys)}
    assert total_variation(empirical, target) <= 0.03
    assert abs(trainer.learned_log_z() - true_log_z) <= 0.05
    assert all(sum(key) > 1 for key in empirical)

    # The most sampled composition: a uniform on [a_lo, a_hi].
    common = max(empirical, key=empirical.get)
    rows = torch.tensor([key == common for key in keys])
    predicted = float(values["composition"][rows][:1].double() @ lattice_volume_table())
    a_lo = max(3.0, (lattice_env.tau_low * predicted) ** (1 / 3))
    a_hi = min(8.0, (lattice_env.tau_high * predicted) ** (1 / 3))
    a = values["lattice"][rows, 0].double().sort().values
    n = a.shape[0]
    cdf = ((a - a_lo) / (a_hi - a_lo)).clamp(0, 1)
    empirical_cdf = torch.arange(1, n + 1, dtype=torch.float64) / n
    statistic = max(
        float((empirical_cdf - cdf).abs().max()), float((cdf - empirical_cdf + 1 / n).abs().max())
    )
    assert statistic < 1.63 / math.sqrt(n), statistic


def lattice_volume_table() -> torch.Tensor:
    """Per-element volumes (Å³) by atomic number, as the constraint uses them."""
    from crystalgfn.elements import atomic_numbers

    window = Envelope.load().window(["Li", "O"])
    table = torch.zeros(119, dtype=torch.float64)
    for symbol, volume in window.element_volumes.items():
        table[atomic_numbers([symbol])[0]] = volume
    return table
