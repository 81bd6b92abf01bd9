"""A conditional environment: one state space per restriction, one policy for all of them.

:class:`ConditionalEnv` wraps an environment (or stack) and a :class:`RestrictionFamily`.
Each state carries the index of its restriction (state key ``"restriction"``); every method
groups the batch's rows by restriction and hands each group to that restriction's own
environment (``base.restrict(**restriction)``, built once and cached), so masks, steps and
densities are exactly those of the restricted space. The policy sees the restricted
environment's encoding followed by the restriction's features, and a conditional loss learns
log Z(restriction) as the flow of the source state. Trained over draws from the family, the
model samples ∝ R on restrictions it never saw, as far as it generalises — which
:mod:`crystalgfn.conditioning.quality` measures per restriction.

Restricted environments must keep the base's layout (same actions, state keys and encoding
width), as :meth:`Environment.restrict` promises.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence

import torch

from crystalgfn.conditioning.family import Restriction, RestrictionFamily
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, IncompatibleEnvironmentError, InfeasibleError
from crystalgfn.states import State, select

#: The state key holding each row's restriction index.
KEY = "restriction"
#: The key of an ``include`` entry that weights its trajectories (not a restriction).
WEIGHT = "weight"


class ConditionalEnv(Environment):
    """``base`` conditioned on the restrictions of ``family``.

    Args:
        base: the unrestricted environment.
        family: the restrictions to condition on.
        pool: how many distinct restrictions to draw for training (the unrestricted space is
            always one of them); training batches draw from this pool.
        per_batch: how many restrictions of the pool one training batch mixes.
        seed: seeds the draw of the pool.
        include: restrictions (``restrict`` keyword arguments) that are always in the pool,
            ahead of the drawn ones: the ones a user knows they will sample. They count
            towards ``pool``. An entry may carry a ``weight`` (a positive number, 1 when
            absent): a batch that mixes it gives its trajectories ``weight`` times the chance
            of every other restriction's, for a case the model learns more slowly than the
            rest.
        hide_settled: zero a restriction's features at the states where the base declares it
            settled (:meth:`Environment.settled_restrictions`), so that the policy learns
            those states once for every restriction. A run's checkpoint records it: runs
            trained before it existed were trained without it, and load without it.

    The view returned by :meth:`restrict` is the same model's environment pinned to one
    restriction: its :meth:`source` states carry that restriction.
    """

    name = "conditional"
    is_conditional = True

    def __init__(
        self,
        base: Environment,
        family: RestrictionFamily,
        pool: int = 64,
        per_batch: int = 8,
        seed: int = 0,
        hide_settled: bool = True,
        include: Sequence[Mapping[str, object]] = (),
    ):
        if getattr(base, "is_conditional", False):
            raise ConfigError("the environment is already conditional")
        for label, value, low in (("pool", pool, 1), ("per_batch", per_batch, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(
                    f"[conditioning] {label} must be an integer >= {low}, got {value!r}"
                )
        self.base, self.family = base, family
        self.provides = base.provides
        self.restrictions = tuple(family.names)
        self.n_actions = base.n_actions
        self.encoding_dim = base.encoding_dim + family.width
        self.max_steps = base.max_steps
        self.n_params = base.n_params
        self.n_param_outputs = base.n_param_outputs
        self.per_batch = per_batch
        self.hide_settled = bool(hide_settled)
        self._spans = self._feature_spans(family)
        self.pinned = 0
        # Shared by every pinned view (copy.copy keeps these objects).
        self._envs: list[Environment] = []
        self._canonical: list[Restriction] = []
        self._index: dict[tuple, int] = {}
        self._feature_rows: list[list[float]] = []
        self._features: dict[str, torch.Tensor] = {}
        self.index_of({})  # 0: the unrestricted space
        #: ``(canonical restriction, row weight)`` of each ``include`` entry.
        self._included = self._check_included(include, pool)
        #: Row weight of each pool index that is not 1 (``include`` entries' ``weight``).
        self._weights: dict[int, float] = {}
        # Built and drawn on first use: building a restricted stack costs seconds, and
        # sampling a run needs only the restriction asked for.
        self._pool_size, self._pool_seed, self._pool = pool, seed, []
        #: ``(restriction, reason)`` of every drawn restriction the base could not build.
        self.refused: list[tuple[str, str]] = []

    # -- the restrictions -----------------------------------------------------------------
    def index_of(self, restriction: Mapping[str, object]) -> int:
        """The index of ``restriction`` (adding it, and building its environment, if new)."""
        canonical = self.family.canonical(restriction)
        key = self.family.key(canonical)
        if key in self._index:
            return self._index[key]
        arguments = self.family.arguments(canonical)
        env = self.base.restrict(**arguments) if arguments else self.base
        for attribute in ("n_actions", "encoding_dim", "n_params", "n_param_outputs"):
            if getattr(env, attribute) != getattr(self.base, attribute):
                raise IncompatibleEnvironmentError(
                    f"restricting {getattr(self.base, 'spec', self.base.name)!r} to "
                    f"{self.family.describe(canonical)} changes its {attribute} "
                    f"({getattr(self.base, attribute)} -> {getattr(env, attribute)}); a "
                    "conditional model needs restrictions that keep the layout"
                )
        self._envs.append(env)
        self._canonical.append(canonical)
        self._feature_rows.append(self.family.features(canonical))
        self._features.clear()
        self._index[key] = len(self._envs) - 1
        return self._index[key]

    def restriction(self, index: int) -> Restriction:
        """The canonical restriction of ``index``."""
        return dict(self._canonical[index])

    def trained_on(self, restriction: Mapping[str, object]) -> bool:
        """Whether ``restriction`` is in the training pool."""
        key = self.family.key(self.family.canonical(restriction))
        return self._index.get(key, -1) in self.pool

    @property
    def pool(self) -> list[int]:
        """Indices of the training restrictions (the first is the unrestricted space)."""
        if not self._pool:
            self._pool.extend(self._draw_pool(self._pool_size, self._pool_seed))
        return self._pool

    def _check_included(
        self, include: Sequence[Mapping[str, object]], pool: int
    ) -> list[tuple[Restriction, float]]:
        """The canonical form and row weight of each ``include`` entry (names and values
        checked; whether the environment can build them is checked with the pool), each
        named by its position when it fails."""
        if isinstance(include, Mapping) or not isinstance(include, Sequence):
            raise ConfigError(
                "[conditioning] include must be a list of restriction tables, e.g. "
                f"[{{elements = [\"Fe\", \"O\"]}}], got {include!r}"
            )
        if include and WEIGHT in self.family.names:
            raise ConfigError(
                f"[conditioning] include: the restriction named {WEIGHT!r} clashes with the "
                "weight of an include entry; leave it out of [conditioning] restrictions to "
                "use include"
            )
        included, keys = [], {self.family.key(self.family.full())}
        for position, entry in enumerate(include):
            restriction = entry
            if isinstance(entry, Mapping):
                restriction = {name: value for name, value in entry.items() if name != WEIGHT}
            if not isinstance(entry, Mapping) or not restriction:
                raise ConfigError(
                    f"[conditioning] include[{position}] must be a non-empty table of "
                    f"restrictions, got {entry!r}"
                )
            weight = entry.get(WEIGHT, 1.0)
            if (
                isinstance(weight, bool) or not isinstance(weight, (int, float))
                or not math.isfinite(weight) or weight <= 0
            ):
                raise ConfigError(
                    f"[conditioning] include[{position}] weight must be a positive number, "
                    f"got {weight!r}"
                )
            try:
                canonical = self.family.canonical(restriction)
            except ConfigError as error:
                raise ConfigError(
                    f"[conditioning] include[{position}] = {dict(restriction)!r}: {error}"
                ) from None
            if self.family.key(canonical) in keys:
                raise ConfigError(
                    f"[conditioning] include[{position}] = {dict(restriction)!r} repeats an "
                    "earlier entry (or the unrestricted space, always in the pool); give it "
                    "once, with a weight for more of its trajectories"
                )
            keys.add(self.family.key(canonical))
            included.append((canonical, float(weight)))
        if 1 + len(included) > pool:
            raise ConfigError(
                f"[conditioning] pool = {pool} cannot hold the unrestricted space and the "
                f"{len(included)} included restrictions; set pool >= {1 + len(included)}"
            )
        return included

    def _include(self) -> list[int]:
        """Indices of the included restrictions, building their environments."""
        indices = []
        for canonical, weight in self._included:
            try:
                indices.append(self.index_of(canonical))
                if weight != 1.0:
                    self._weights[indices[-1]] = weight
            except InfeasibleError as error:
                raise ConfigError(
                    f"[conditioning] include: {self.family.describe(canonical)} cannot be "
                    f"built: {error}"
                ) from None
        return indices

    def _draw_pool(self, size: int, seed: int) -> list[int]:
        generator = torch.Generator().manual_seed(seed)
        pool = [0, *self._include()]
        for _ in range(50 * size):
            if len(pool) >= size:
                break
            drawn = self.family.draw(generator)
            try:
                index = self.index_of(drawn)
            except IncompatibleEnvironmentError:
                raise  # the plugin's restrict breaks the layout: no pool can help
            except (InfeasibleError, ConfigError) as error:
                # e.g. groups that fit no composition of the drawn elements, or a length range
                # whose volume window the environment cannot mask exactly: not in the pool.
                self.refused.append((self.family.describe(drawn), str(error)))
                continue
            if index not in pool:
                pool.append(index)
        return pool

    def restrict(self, **restriction) -> ConditionalEnv:
        """This model's environment pinned to ``restriction`` (exact masks of the restricted
        space; the policy is told the restriction)."""
        view = copy.copy(self)
        view.pinned = self.index_of(restriction)
        return view

    def restricted_env(self) -> Environment:
        """The plain environment of the pinned restriction (what the model is asked to match)."""
        return self._envs[self.pinned]

    # -- grouping rows by restriction -------------------------------------------------------
    def _groups(self, state: State):
        """``(rows, index, inner)`` per restriction present: ``rows`` selects the group's rows
        (``None``: all of them; a ``slice`` when the batch is sorted by restriction, as
        :meth:`training_source` makes it; else int64 indices), ``inner`` the rows' states
        without the restriction key (views for a slice: environments never modify the
        states they are given)."""
        tags = state[KEY]
        inner = {key: value for key, value in state.items() if key != KEY}
        if tags.numel() == 0:
            return [(None, self.pinned, inner)]
        low, high = int(tags.min()), int(tags.max())
        if low == high:
            return [(None, low, inner)]
        return [(rows, index, select(inner, rows)) for rows, index in self._row_groups(tags)]

    @staticmethod
    def _row_groups(tags: torch.Tensor) -> list[tuple[slice | torch.Tensor, int]]:
        """``(rows, index)`` per restriction in ``tags``. A batch sorted by restriction is
        cut into slices: every method of a step regroups its rows, and gathering them
        (a copy of every tensor of the state) costs several times what slicing does."""
        if bool((tags[1:] >= tags[:-1]).all()):
            indices, counts = torch.unique_consecutive(tags, return_counts=True)
            groups, start = [], 0
            for index, count in zip(indices.tolist(), counts.tolist(), strict=True):
                groups.append((slice(start, start + count), index))
                start += count
            return groups
        return [
            ((tags == index).nonzero().squeeze(1), index) for index in torch.unique(tags).tolist()
        ]

    @staticmethod
    def _join(parts: list[tuple[torch.Tensor | None, torch.Tensor]], batch: int) -> torch.Tensor:
        if len(parts) == 1 and parts[0][0] is None:
            return parts[0][1]
        first = parts[0][1]
        out = first.new_empty((batch, *first.shape[1:]))
        for rows, value in parts:
            out[rows] = value
        return out

    def _join_states(self, parts: list[tuple[torch.Tensor | None, State]], tags, batch) -> State:
        keys = parts[0][1].keys()
        out = {key: self._join([(rows, s[key]) for rows, s in parts], batch) for key in keys}
        out[KEY] = tags
        return out

    def _per_group(self, method: str, state: State, *row_args):
        """``env_k.method(inner_rows, *row_args[rows])`` of each group, joined (tensors)."""
        batch = state[KEY].shape[0]
        parts = []
        for rows, index, inner in self._groups(state):
            args = [a if a is None or rows is None else a[rows] for a in row_args]
            parts.append((rows, getattr(self._envs[index], method)(inner, *args)))
        return self._join(parts, batch)

    def _sources(self, tags: torch.Tensor, device) -> State:
        batch = tags.shape[0]
        parts = []
        if batch == 0 or int(tags.min()) == int(tags.max()):
            index = int(tags[0]) if batch else self.pinned
            parts.append((None, self._envs[index].source(batch, device)))
        else:
            for rows, index in self._row_groups(tags):
                count = tags[rows].shape[0]
                parts.append((rows, self._envs[index].source(count, device)))
        return self._join_states(parts, tags, batch)

    # -- states ---------------------------------------------------------------------------
    def source(self, batch_size: int, device="cpu") -> State:
        tags = torch.full((batch_size,), self.pinned, dtype=torch.long, device=device)
        return self._sources(tags, device)

    def training_source(self, batch_size: int, device="cpu", generator=None) -> State:
        """Sources of a training batch: ``per_batch`` restrictions of the pool, one drawn
        for each row, uniformly unless an ``include`` entry has a weight."""
        draw_device = generator.device if generator is not None else torch.device("cpu")
        pool = torch.tensor(self.pool, device=draw_device)
        chosen = pool[torch.randperm(len(self.pool), generator=generator, device=draw_device)]
        chosen = chosen[: self.per_batch]
        weights = [self._weights.get(index, 1.0) for index in chosen.tolist()]
        if all(weight == 1.0 for weight in weights):
            pick = torch.randint(
                chosen.shape[0], (batch_size,), generator=generator, device=draw_device
            )
        else:
            pick = torch.multinomial(
                torch.tensor(weights, device=draw_device), batch_size, replacement=True,
                generator=generator,
            )
        # Sorted, so that each restriction's rows are one slice of the batch (_row_groups).
        tags = torch.sort(chosen[pick]).values
        return self._sources(tags.to(device), device)

    def is_done(self, state: State) -> torch.Tensor:
        return self._per_group("is_done", state)

    def is_source(self, state: State) -> torch.Tensor:
        return self._per_group("is_source", state)

    # -- masks and transitions ------------------------------------------------------------
    def forward_mask(self, state: State) -> torch.Tensor:
        return self._per_group("forward_mask", state)

    def backward_mask(self, state: State) -> torch.Tensor:
        return self._per_group("backward_mask", state)

    def mask_blocks(self, state: State, forward: bool = True):
        blocks = []
        for rows, index, inner in self._groups(state):
            if isinstance(rows, slice):  # blocks name their rows by int64 indices
                rows = torch.arange(rows.start, rows.stop, device=state[KEY].device)
            for block_rows, columns, mask in self._envs[index].mask_blocks(inner, forward):
                if rows is not None:
                    block_rows = rows if block_rows is None else rows[block_rows]
                blocks.append((block_rows, columns, mask))
        return blocks

    def step(self, state: State, actions: torch.Tensor, params=None) -> State:
        batch = actions.shape[0]
        parts = []
        for rows, index, inner in self._groups(state):
            a = actions if rows is None else actions[rows]
            p = params if params is None or rows is None else params[rows]
            parts.append((rows, self._envs[index].step(inner, a, p)))
        return self._join_states(parts, state[KEY], batch)

    def step_back(self, state: State, actions: torch.Tensor):
        batch = actions.shape[0]
        parents, params = [], []
        for rows, index, inner in self._groups(state):
            a = actions if rows is None else actions[rows]
            parent, param = self._envs[index].step_back(inner, a)
            parents.append((rows, parent))
            params.append((rows, param))
        joined_params = None if params[0][1] is None else self._join(params, batch)
        return self._join_states(parents, state[KEY], batch), joined_params

    # -- what the policy and the proxies see -------------------------------------------------
    def _feature_table(self, device) -> torch.Tensor:
        key = str(device)
        table = self._features.get(key)
        if table is None or table.shape[0] != len(self._feature_rows):
            table = torch.tensor(self._feature_rows, dtype=torch.get_default_dtype())
            table = table.reshape(len(self._feature_rows), self.family.width).to(device)
            self._features[key] = table
        return table

    @staticmethod
    def _feature_spans(family: RestrictionFamily) -> dict[str, tuple[int, int]]:
        """The columns ``[start, stop)`` of each name's features in :meth:`encode`."""
        spans, start = {}, 0
        for name, domain in family.domains.items():
            spans[name] = (start, start + domain.width)
            start += domain.width
        return spans

    def encode(self, state: State) -> torch.Tensor:
        """The restricted environment's encoding followed by the restriction's features,
        ``(batch, base.encoding_dim + family.width)``; with :attr:`hide_settled`, the
        features of a restriction are zero at the states where it is settled."""
        encoding = self._per_group("encode", state)
        features = self._feature_table(encoding.device)[state[KEY]].to(encoding.dtype)
        if self.hide_settled:
            inner = {key: value for key, value in state.items() if key != KEY}
            for name, settled in self.base.settled_restrictions(inner).items():
                if name in self._spans:
                    start, stop = self._spans[name]
                    features[:, start:stop] *= ~settled[:, None]
        return torch.cat([encoding, features], dim=1)

    def values(self, state: State) -> dict[str, torch.Tensor]:
        batch = state[KEY].shape[0]
        parts = [(rows, self._envs[i].values(inner)) for rows, i, inner in self._groups(state)]
        return {key: self._join([(r, v[key]) for r, v in parts], batch) for key in parts[0][1]}

    def from_values(self, values: dict[str, torch.Tensor]) -> State:
        state = self._envs[self.pinned].from_values(values)
        batch = next(iter(state.values())).shape[0]
        device = next(iter(state.values())).device
        return {**state, KEY: torch.full((batch,), self.pinned, dtype=torch.long, device=device)}

    def log_label_count(self, state: State) -> torch.Tensor:
        return self._per_group("log_label_count", state)

    def validity(self, values):
        # The pinned restriction's checks: its samples must lie inside the restricted space.
        return self._envs[self.pinned].validity(values)

    def describe(self, values):
        return self._envs[self.pinned].describe(values)

    # -- continuous head ------------------------------------------------------------------
    def param_log_prob(self, state, actions, params, raw) -> torch.Tensor:
        return self._per_group("param_log_prob", state, actions, params, raw)

    def sample_params(self, state, actions, raw, generator=None) -> torch.Tensor:
        if self.base.restriction_free_params:
            # One draw for the whole batch: per restriction, a sampler's fixed cost (a
            # rejection loop for Beta draws) is paid once per group, 16 times a step when a
            # batch mixes 16 restrictions.
            inner = {key: value for key, value in state.items() if key != KEY}
            return self.base.sample_params(inner, actions, raw, generator)
        batch = actions.shape[0]
        parts = []
        for rows, index, inner in self._groups(state):
            a = actions if rows is None else actions[rows]
            r = raw if rows is None else raw[rows]
            parts.append((rows, self._envs[index].sample_params(inner, a, r, generator)))
        return self._join(parts, batch)

    def __getattr__(self, name: str):
        # Attributes beyond the Environment interface (a stack's ``spec``, ``parts``, ...)
        # are the unrestricted base's.
        if name.startswith("_") or name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __repr__(self) -> str:
        return (
            f"<ConditionalEnv {getattr(self.base, 'spec', self.base.name)!r} on "
            f"{list(self.family.names)}: {self.family.describe(self._canonical[self.pinned])}>"
        )
