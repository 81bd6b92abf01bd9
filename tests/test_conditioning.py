"""The conditional environment is, row by row, the restricted environment of each row."""

import math

import crystalgfn
import pytest
import torch
from crystalgfn.conditioning import ConditionalEnv, Count, Interval, RestrictionFamily, Subset
from crystalgfn.config import conditional_env
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout
from crystalgfn.states import select


@pytest.fixture(scope="module")
def stack():
    base = crystalgfn.make_env(
        "spacegroup+composition",
        spacegroup={"space_groups": "1-12"},
        composition={"elements": ["Li", "O"], "max_atoms_per_element": 3},
    )
    return conditional_env(
        base, {"restrictions": ["space_groups", "max_atoms_per_element"], "pool": 12}
    )


def test_a_mixed_batch_follows_each_rows_own_restricted_space(stack):
    generator = torch.Generator().manual_seed(0)
    source = stack.training_source(64, generator=generator)
    assert len(set(source["restriction"].tolist())) > 1
    transitions = rollout(stack, UniformPolicy(stack), 64, generator, source=source)
    parents = transitions.parents
    tags = parents["restriction"]
    full = stack.forward_mask(parents)
    for index in set(tags.tolist()):
        rows = (tags == index).nonzero().squeeze(1)
        inner = {k: v for k, v in select(parents, rows).items() if k != "restriction"}
        restricted = stack._envs[index]
        assert torch.equal(full[rows], restricted.forward_mask(inner))
    done = transitions.done
    for index in set(done["restriction"].tolist()):
        rows = (done["restriction"] == index).nonzero().squeeze(1)
        groups = stack.values(select(done, rows))["spacegroup"].tolist()
        allowed = stack.restriction(index)["space_groups"]
        assert set(groups) <= set(allowed)
        counts = stack.values(select(done, rows))["composition"]
        assert int(counts.max()) <= stack.restriction(index)["max_atoms_per_element"]


def test_a_sorted_batch_is_cut_into_slices_with_the_same_results_as_gathered_rows(stack):
    generator = torch.Generator().manual_seed(1)
    source = stack.training_source(64, generator=generator)
    assert torch.equal(source["restriction"], source["restriction"].sort().values)
    states = rollout(stack, UniformPolicy(stack), 64, generator, source=source).parents
    order = torch.argsort(states["restriction"], stable=True)
    in_order = select(states, order)  # sorted: grouped by slices
    perm = torch.randperm(order.shape[0], generator=generator)
    shuffled = select(in_order, perm)  # unsorted: grouped by gathered rows
    sliced = [rows for rows, _ in stack._row_groups(in_order["restriction"])]
    assert len(sliced) > 1 and all(isinstance(rows, slice) for rows in sliced)
    for method in ("forward_mask", "backward_mask", "encode", "is_done", "log_label_count"):
        a, b = getattr(stack, method)(in_order), getattr(stack, method)(shuffled)
        assert torch.equal(a[perm], b), method
    actions = torch.multinomial(stack.forward_mask(in_order).float(), 1, generator=generator)
    stepped = stack.step(in_order, actions.squeeze(1))
    stepped_shuffled = stack.step(shuffled, actions.squeeze(1)[perm])
    for key, value in stepped.items():
        assert torch.equal(value[perm], stepped_shuffled[key]), key
    blocks = stack.mask_blocks(in_order)
    mask = torch.zeros(order.shape[0], stack.n_actions, dtype=torch.bool)
    for rows, columns, block in blocks:
        mask[rows[:, None], columns[None]] = block
    assert torch.equal(mask, stack.forward_mask(in_order))


def test_the_encoding_ends_with_the_restrictions_features(stack):
    pinned = stack.restrict(space_groups=[1, 2], max_atoms_per_element=2)
    encoding = pinned.encode(pinned.source(3))
    assert encoding.shape == (3, stack.encoding_dim)
    groups = stack.family.domains["space_groups"].choices  # 1-12 but 9, which fits no Li-O
    assert groups == (1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12)
    features = torch.tensor([1.0, 1.0] + [0.0] * 9 + [0.5])
    assert torch.equal(encoding[:, -12:], features.expand(3, -1))


def test_pinned_views_share_one_cache_of_restricted_environments(stack):
    a = stack.restrict(space_groups="3-5")
    b = stack.restrict(space_groups=[3, 4, 5])
    assert a.pinned == b.pinned and a._envs is stack._envs
    assert stack.restrict().pinned == 0


def test_restrictions_outside_the_family_or_its_domain_are_refused_by_name(stack):
    with pytest.raises(ConfigError, match=r"trained conditioned on .*not on \['elements'\]"):
        stack.restrict(elements=["Li"])
    with pytest.raises(ConfigError, match=r"\[13\] not in the space .* accepted: \[1, 2"):
        stack.restrict(space_groups=[12, 13])
    with pytest.raises(ConfigError, match="max_atoms_per_element.* = 4 .*accepted: 1..3"):
        stack.restrict(max_atoms_per_element=4)


@pytest.mark.parametrize(
    "table, message",
    [
        ({"restrictions": "elements"}, "must be a list of restriction names"),
        ({"restrictions": ["lengths"]}, r"\['lengths'\] cannot be conditioned on"),
        ({"restrictions": ["elements"], "pool": 0}, "pool must be an integer >= 1, got 0"),
        ({"restrictions": ["elements"], "share": "half"}, "share must be a number"),
        ({"restrictions": ["elements"], "pools": 3}, "pools"),
        ({"restrictions": ["elements"], "hide_settled": "yes"},
         "hide_settled must be true or false, got 'yes'"),
        ({"restrictions": ["elements"], "include": {"elements": ["Li"]}},
         "include must be a list of restriction tables"),
        ({"restrictions": ["elements"], "include": [{}]},
         r"include\[0\] must be a non-empty table"),
        ({"restrictions": ["elements"], "include": [{"elements": ["Li"]}, {"elements": ["Na"]}]},
         r"include\[1\] = .*\['Na'\] not in the space"),
        ({"restrictions": ["elements"], "include": [{"max_atoms_per_element": 1}]},
         r"include\[0\] = .*not on \['max_atoms_per_element'\]"),
        ({"restrictions": ["elements"], "include": [{"elements": ["Li"]}], "pool": 1},
         "pool = 1 cannot hold the unrestricted space and the 1 included"),
        ({"restrictions": ["elements"], "include": [{"elements": ["Li"], "weight": 0}]},
         r"include\[0\] weight must be a positive number, got 0"),
        ({"restrictions": ["elements"], "include": [{"elements": ["Li"], "weight": "2"}]},
         r"include\[0\] weight must be a positive number, got '2'"),
        ({"restrictions": ["elements"], "include": [{"weight": 2.0}]},
         r"include\[0\] must be a non-empty table of restrictions"),
        ({"restrictions": ["elements"], "include": [{"elements": "Li"}, {"elements": ["Li"]}]},
         r"include\[1\] = .* repeats an earlier entry"),
    ],
)
def test_bad_conditioning_tables_are_named(table, message):
    base = crystalgfn.make_env("composition", elements=["Li", "Fe", "O"], max_atoms_per_element=2)
    with pytest.raises(ConfigError, match=message):
        conditional_env(base, table)


def test_domains_draw_inside_themselves_and_encode_to_unit_ranges():
    generator = torch.Generator().manual_seed(1)
    lengths = Interval(0.9, 100.0, min_width=0.15, log=True)
    for _ in range(50):
        low, high = lengths.draw(generator)
        assert 0.9 <= low < high <= 100.0
        assert all(0.0 <= f <= 1.0 for f in lengths.features((low, high)))
    assert lengths.features(lengths.full()) == [0.0, 1.0]
    subset = Subset(("Li", "Fe", "O"))
    assert subset.canonical("elements", "O,Li") == ("Li", "O")
    assert Count(1, 4).features(4) == [1.0]


def test_the_pool_holds_the_unrestricted_space_and_distinct_members():
    base = crystalgfn.make_env("composition", elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    family = RestrictionFamily(base.restriction_domains(), ["elements", "max_atoms_per_element"])
    env = ConditionalEnv(base, family, pool=10, seed=3)
    assert env.pool[0] == 0 and len(set(env.pool)) == len(env.pool) == 10
    assert env.trained_on({}) and env.restriction(0) == family.full()


def test_included_restrictions_lead_the_pool_and_the_rest_is_drawn():
    base = crystalgfn.make_env("composition", elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    table = {"restrictions": ["elements", "max_atoms_per_element"], "pool": 6, "seed": 3}
    include = [{"elements": "Fe,O", "max_atoms_per_element": 2}, {"elements": ["O", "Li"]}]
    env = conditional_env(base, {**table, "include": include})
    assert len(set(env.pool)) == len(env.pool) == 6
    assert [env.family.arguments(env.restriction(i)) for i in env.pool[:3]] == [
        {}, {"elements": ["Fe", "O"], "max_atoms_per_element": 2}, {"elements": ["Li", "O"]},
    ]
    assert env.trained_on({"max_atoms_per_element": 2, "elements": ["O", "Fe"]})
    # The rest is drawn in the order the same seed draws without them, skipping the included.
    drawn = conditional_env(base, {**table, "pool": 12})
    included = {env.family.key(env.restriction(i)) for i in env.pool[:3]}
    drawn_keys = [drawn.family.key(drawn.restriction(i)) for i in drawn.pool]
    assert [env.family.key(env.restriction(i)) for i in env.pool[3:]] == [
        key for key in drawn_keys if key not in included
    ][:3]


def test_an_included_weight_multiplies_its_share_of_a_batch():
    base = crystalgfn.make_env("composition", elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    table = {"restrictions": ["elements"], "pool": 3, "per_batch": 3}
    include = [{"elements": "Fe,O", "weight": 3}, {"elements": "Li,O"}]
    env = conditional_env(base, {**table, "include": include})
    tags = env.training_source(40_000, generator=torch.Generator().manual_seed(0))["restriction"]
    counts = torch.bincount(tags, minlength=3).double() / tags.numel()
    # The unrestricted space and Li-O at 1/5 each, Fe-O at 3/5 (±0.01: 4 standard errors).
    assert torch.allclose(counts[env.pool], torch.tensor([0.2, 0.6, 0.2], dtype=torch.float64),
                          atol=0.01)
    assert bool((tags[1:] >= tags[:-1]).all())  # sorted: one slice per restriction
    # Without weights every restriction of the batch gets a third.
    unweighted = [{"elements": "Fe,O"}, {"elements": "Li,O"}]
    plain = conditional_env(base, {**table, "include": unweighted})
    uniform = plain.training_source(40_000, generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(uniform["restriction"], minlength=3).double() / 40_000
    assert torch.allclose(counts, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.01)


def test_an_included_restriction_that_cannot_be_built_is_named_with_the_pool():
    """Building restricted environments costs seconds, so a run builds its included
    restrictions with its pool (sampling a run never builds it)."""
    stack = crystalgfn.make_env(
        "spacegroup+composition",
        spacegroup={"space_groups": "1-12"},
        composition={"elements": ["Li", "O"], "max_atoms_per_element": 3},
    )
    infeasible = {"space_groups": [12], "max_atoms_per_element": 1}  # no composition fits
    env = conditional_env(
        stack,
        {"restrictions": ["space_groups", "max_atoms_per_element"], "include": [infeasible]},
    )
    with pytest.raises(ConfigError, match=r"include: space_groups=12 max_atoms_per_element=1 "
                       "cannot be built: no composition"):
        env.training_source(4)


def test_importance_weights_estimate_log_z_and_an_exact_sampler_has_full_ess():
    from crystalgfn.conditioning.quality import importance_summary, importance_weights
    from crystalgfn.evaluation import target_distribution

    env = crystalgfn.make_env("spacegroup", space_groups="1-40")

    def log_reward(values):
        return 1.5 * torch.sin(values["spacegroup"].double()), {}

    _, true_log_z = target_distribution(env, lambda v: log_reward(v)[0])
    generator = torch.Generator().manual_seed(0)
    log_w = importance_weights(env, UniformPolicy(env), log_reward, 20_000, generator)
    summary = importance_summary(log_w)
    # The uniform policy is far from R/Z (ESS well below 1), but E[w] = Z all the same.
    assert abs(summary["log_z"] - true_log_z) < 0.03
    assert 0.2 < summary["ess_fraction"] < 0.9
    equal = importance_summary(torch.full((50,), 1.7, dtype=torch.float64))
    assert equal["ess_fraction"] == pytest.approx(1.0) and equal["log_z"] == pytest.approx(1.7)


def test_the_mean_log_weight_is_log_z_minus_the_exact_trajectory_kl():
    # E[log w] = log Z − KL(P_F ‖ P_B R/Z): the sampled ELBO matches the one computed exactly
    # over every trajectory, and log mean w − mean log w estimates that KL, which bounds the
    # KL between the finished objects' distributions from above.
    from crystalgfn.conditioning.quality import importance_summary, importance_weights
    from crystalgfn.evaluation import exact_distribution, exact_elbo, target_distribution

    env = crystalgfn.make_env("spacegroup", space_groups="1-40")

    def log_reward(values):
        return 1.5 * torch.sin(values["spacegroup"].double())

    target, true_log_z = target_distribution(env, log_reward)
    policy = UniformPolicy(env)
    trajectory_kl = true_log_z - exact_elbo(env, policy, log_reward)
    sampled = exact_distribution(env, policy)
    object_kl = sum(p * math.log(p / target[key]) for key, p in sampled.items() if p > 0)
    assert trajectory_kl > object_kl + 0.01  # several orders reach one group
    log_w = importance_weights(
        env, policy, lambda values: (log_reward(values), {}), 20_000,
        torch.Generator().manual_seed(0),
    )
    summary = importance_summary(log_w)
    assert abs(summary["elbo"] - (true_log_z - trajectory_kl)) < 4 * summary["elbo_stderr"]
    assert abs(summary["kl"] - trajectory_kl) < 0.02
    exact = importance_summary(torch.full((50,), 1.7, dtype=torch.float64))
    assert exact["kl"] == 0.0 and exact["elbo"] == pytest.approx(1.7)
    # Weighed with a uniform P_B, a learned backward policy's ELBO would be wrong: refused.
    from crystalgfn.policy import MLPPolicy

    with pytest.raises(ValueError, match="uniform backward policy"):
        exact_elbo(env, MLPPolicy(env, hidden=8, layers=1, learn_backward=True), log_reward)


def test_log_uniform_subset_sizes_follow_their_stated_law():
    # P(k) ∝ log((k + 1) / k) over 1..22: small chemical systems drawn as often as users ask.
    subset = Subset(tuple(range(22)), sizes="log-uniform")
    generator = torch.Generator().manual_seed(0)
    sizes = torch.tensor([len(subset.draw(generator)) for _ in range(20_000)])
    assert int(sizes.min()) >= 1 and int(sizes.max()) <= 22
    k = torch.arange(1, 23, dtype=torch.float64)
    expected = torch.log((k + 1) / k) / torch.log(torch.tensor(23.0, dtype=torch.float64))
    observed = torch.bincount(sizes - 1, minlength=22).double() / sizes.numel()
    assert torch.allclose(observed, expected, atol=0.01)


def test_drawn_restrictions_the_environment_cannot_build_are_recorded_not_pooled(monkeypatch):
    base = crystalgfn.make_env("composition", elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    restrict = base.restrict

    def restrict_without_iron(**arguments):  # stands for "no valid object" of a real plugin
        if "Fe" in arguments.get("elements", ()):
            raise InfeasibleError("no iron here")
        return restrict(**arguments)

    monkeypatch.setattr(base, "restrict", restrict_without_iron)
    family = RestrictionFamily(base.restriction_domains(), ["elements"], share=1.0)
    env = ConditionalEnv(base, family, pool=3, seed=0)
    pooled = [env.restriction(i)["elements"] for i in env.pool[1:]]
    assert len(pooled) == 2 and all("Fe" not in elements for elements in pooled)
    assert env.refused
    assert all("Fe" in text and reason == "no iron here" for text, reason in env.refused)


def test_a_conditional_run_trains_and_samples_any_restriction_from_the_command_line(
    tmp_path, capsys
):
    from crystalgfn.cli import main

    config = tmp_path / "conditional.toml"
    config.write_text(
        'env = "crystal"\nproxy = "density"\nloss = "tb"\nsteps = 3\n'
        "batch_size = 16\nhidden = 32\nlayers = 2\n"
        '[env_kwargs.spacegroup]\nspace_groups = "1-12"\n'
        '[env_kwargs.composition]\nelements = ["Li", "O"]\nmax_atoms_per_element = 3\n'
        '[conditioning]\nrestrictions = ["space_groups"]\npool = 4\nper_batch = 2\n'
        '[reward]\nkind = "identity"\n'
    )
    run = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(run)]) == 0
    assert "conditioning: 4 training restrictions" in capsys.readouterr().err
    out = tmp_path / "samples.csv"
    assert main(["sample", "--run", str(run), "-n", "40", "--space-groups", "3-5",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "effective sample size" in printed.out + printed.err
    assert "warning" not in printed.out + printed.err  # exact masks, no masking warning
    import csv

    groups = {int(row["space_group"]) for row in csv.DictReader(out.open())}
    assert groups and groups <= {3, 4, 5}


def test_space_groups_settle_once_chosen_where_nothing_later_depends_on_the_others(stack):
    """On space group + composition the composition depends on the chosen group only, so the
    space-group restriction is hidden from the policy from the composition stage on; the
    atom bound (the composition's) stays visible."""
    pinned = stack.restrict(space_groups=[3, 5, 10], max_atoms_per_element=2)
    generator = torch.Generator().manual_seed(0)
    parents = rollout(pinned, UniformPolicy(pinned), 32, generator).parents
    stage = parents["stage"]
    assert set(stage.tolist()) == {0, 1}
    settled = stack.base.settled_restrictions(parents)
    assert torch.equal(settled["space_groups"], stage > 0)
    assert torch.equal(settled["max_atoms_per_element"], stage > 1)
    features = pinned.encode(parents)[:, -12:]  # 11 groups, then the bound
    assert torch.equal(features[stage == 0, :11], torch.tensor(
        [0.0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 0]).expand(int((stage == 0).sum()), -1))
    assert not features[stage == 1, :11].any()
    assert torch.all(features[:, 11] == 0.5)
    pinned.hide_settled = False
    assert pinned.encode(parents)[stage == 1, -12:-1].sum(dim=1).eq(3).all()


def test_a_restriction_carried_into_a_later_part_never_settles():
    """The composition sizes the plausible lattice's region by its allowed elements, so on
    the crystal stack neither the elements nor (through the composition) the space groups
    settle; the lattice ranges only once the crystal is done."""
    crystal = crystalgfn.make_env(
        "crystal",
        spacegroup={"space_groups": "1-12"},
        composition={"elements": ["Li", "O"], "max_atoms_per_element": 3},
        lattice={"envelope": "mp2018"},
    )
    stage = torch.tensor([0, 1, 2, 3])
    settled = crystal.settled_restrictions({"stage": stage})
    assert set(settled) == {"lengths", "angles"}  # the last part's, once the crystal is done
    assert torch.equal(settled["lengths"], stage > 2)


def test_a_checkpoint_records_whether_settled_restrictions_were_hidden(stack):
    from crystalgfn.trainer import conditioning_record, restore_conditioning

    assert conditioning_record(stack) == {"conditioning": {"hide_settled": True}}
    view = stack.restrict(space_groups=[3])
    restore_conditioning(view, {"policy": {}})  # written before hide_settled existed
    assert view.hide_settled is False
    restore_conditioning(view, conditioning_record(stack))
    assert view.hide_settled is True
    assert conditioning_record(crystalgfn.make_env("composition")) == {}


def test_the_replay_buffer_keeps_the_best_states_of_each_restriction(stack):
    """A restriction whose crystals are all worth less than another's still keeps its own
    best states, its equal share of the capacity (one shared ranking would hold only the
    other's)."""
    from crystalgfn.trainer import ReplayBuffer

    generator = torch.Generator().manual_seed(2)
    source = stack.training_source(256, generator=generator)
    done = rollout(stack, UniformPolicy(stack), 256, generator, source=source).done
    tags = done["restriction"]
    assert len(set(tags.tolist())) > 2
    # A reward per distinct (restriction, crystal) that ranks the restrictions apart: every
    # crystal of a higher index is worth more than any of a lower one.
    values = stack.values(done)
    keys = torch.cat([v.reshape(256, -1).double() for v in values.values()], dim=1)
    keys = torch.cat([keys, tags[:, None].double()], dim=1)
    _, crystal = torch.unique(keys, dim=0, return_inverse=True)
    worth = torch.rand(int(crystal.max()) + 1, generator=generator, dtype=torch.float64)
    log_rewards = 100.0 * tags.double() + worth[crystal]
    share = 3
    buffer = ReplayBuffer(capacity=share * len(set(tags.tolist())) + 1)  # + 1: rounded down
    for half in (slice(0, 128), slice(128, 256)):  # the best survive a second addition
        buffer.add(stack, select(done, half), log_rewards[half])
    kept = buffer.states["restriction"]
    for index in set(tags.tolist()):
        distinct = torch.unique(log_rewards[tags == index])
        expected = sorted(distinct.tolist(), reverse=True)[:share]
        got = sorted(buffer.log_rewards[kept == index].tolist(), reverse=True)
        assert got == pytest.approx(expected)
    # A batch replays only the restrictions it samples.
    some = torch.tensor(sorted(set(tags.tolist()))[:2])
    replayed = buffer.sample(200, torch.Generator().manual_seed(0), some)
    assert set(replayed["restriction"].tolist()) == set(some.tolist())
    assert buffer.sample(5, torch.Generator().manual_seed(0), torch.tensor([10_000])) is None


@pytest.mark.parametrize("restriction", [{"lengths": (3.0, 6.0)}, {"angles": (80.0, 120.0)}])
def test_a_restriction_free_sampler_draws_the_same_parameters_restricted_or_not(restriction):
    """``restriction_free_params`` lets a conditional space draw every restriction's rows in
    one call; it is only true if each restricted copy draws what the base draws."""
    base = crystalgfn.make_env("lattice")
    restricted = base.restrict(**restriction)
    assert base.restriction_free_params and restricted.restriction_free_params
    state = base.source(256)
    state["system"] = torch.arange(256) % 7  # every system but the unset one
    actions = torch.zeros(256, dtype=torch.long)
    raw = torch.randn(256, base.n_param_outputs, generator=torch.Generator().manual_seed(2))
    drawn = [
        env.sample_params(state, actions, raw, torch.Generator().manual_seed(5))
        for env in (base, restricted)
    ]
    assert torch.equal(*drawn)


def test_a_stack_draws_restriction_free_only_if_every_continuous_part_does(monkeypatch):
    from crystalgfn_lattice.env import LatticeEnv

    crystal = crystalgfn.make_env("crystal")
    assert crystal.restriction_free_params
    monkeypatch.setattr(LatticeEnv, "restriction_free_params", False)
    assert not crystal.restriction_free_params
    # A conditional space then draws per restriction (the exact default).
    env = conditional_env(crystal, {"restrictions": ["lengths"]})
    assert not env.base.restriction_free_params


def test_a_restriction_named_weight_is_refused_only_with_include_entries():
    base = crystalgfn.make_env("composition", elements=["Li", "O"], max_atoms_per_element=3)
    family = RestrictionFamily({"weight": Count(1, 4)}, ["weight"])
    assert ConditionalEnv(base, family, pool=2).family.names == ("weight",)
    with pytest.raises(ConfigError, match="restriction named 'weight' clashes with the weight"):
        ConditionalEnv(base, family, pool=2, include=[{"weight": 2}])
