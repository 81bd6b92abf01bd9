"""Stacks: environments composed by name, filled one part after the other.

``make_env("spacegroup+composition+lattice", composition={"elements": ["Fe", "O"]})`` looks
each name up in the registry, builds each part with its own keyword arguments, and returns a
:class:`Stack`. Cross-environment constraints are registered data (the
``register_constraints`` hook): a constraint ``source -> target`` applies when ``source``
precedes ``target`` in the name.

Layout of a stack's batched state: every key ``k`` of part ``p`` is stored as ``"p.k"``, plus
``"stage"`` (int64 ``(batch,)``): the index of the part being filled, ``len(parts)`` when the
whole object is done. Actions of part ``i`` occupy the block
``[action_offsets[i], action_offsets[i] + parts[i].n_actions)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from crystalgfn.env import Constraint, Environment
from crystalgfn.errors import ConfigError, UnknownNameError
from crystalgfn.factory import call_with_kwargs
from crystalgfn.interfaces import check_constraint_parts
from crystalgfn.states import State, assign, select


class Stack(Environment):
    """Several environments filled in sequence, coupled by cross-environment constraints."""

    name = "stack"

    def __init__(
        self, parts: Sequence[Environment], constraints: Sequence[tuple[int, int, Constraint]] = ()
    ):
        names = [part.name for part in parts]
        if len(set(names)) != len(names):
            raise ConfigError(f"a stack cannot hold the same environment twice: {names}")
        parts = list(parts)
        constraints = list(constraints)
        for source, target, constraint in constraints:
            label = f"{parts[source].name}->{parts[target].name}"
            check_constraint_parts(constraint, label, parts[source], parts[target])
        # Later targets first, so that what a later part rules out propagates back to the
        # parts before it (e.g. lattice ranges prune space groups, which prune compositions).
        def later_first(k: int) -> tuple[int, int]:
            return -constraints[k][1], -constraints[k][0]

        for k in sorted(range(len(constraints)), key=later_first):
            source, target, constraint = constraints[k]
            prepared = constraint.prepare(parts[source], parts[target])
            parts[source], parts[target] = prepared[0], prepared[1]
            if len(prepared) == 3:  # a prepared constraint holding what it derived
                constraints[k] = (source, target, prepared[2])
        self.parts: tuple[Environment, ...] = tuple(parts)
        self.constraints = tuple(constraints)
        self.provides = tuple(p for part in self.parts for p in part.provides)
        sizes = [part.n_actions for part in self.parts]
        self.action_offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.n_actions = sum(sizes)
        param_sizes = [part.n_param_outputs for part in self.parts]
        self.param_output_offsets = [sum(param_sizes[:i]) for i in range(len(param_sizes))]
        self.n_param_outputs = sum(param_sizes)
        self.n_params = max(part.n_params for part in self.parts)
        self.encoding_dim = sum(part.encoding_dim for part in self.parts) + len(self.parts) + 1
        self.max_steps = sum(part.max_steps for part in self.parts)

    @property
    def spec(self) -> str:
        return "+".join(part.name for part in self.parts)

    def __repr__(self) -> str:
        return f"<Stack {self.spec!r}: {self.n_actions} actions>"

    # -- layout helpers ------------------------------------------------------------------------
    def part_state(self, state: State, index: int) -> State:
        prefix = self.parts[index].name + "."
        return {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}

    def _with_part(self, state: State, index: int, part_state: State) -> State:
        prefix = self.parts[index].name + "."
        out = dict(state)
        out.update({prefix + key: value for key, value in part_state.items()})
        return out

    def _part_rows(self, state: State, index: int, rows: torch.Tensor) -> State:
        return select(self.part_state(state, index), rows)

    def _assign_part_rows(
        self, state: State, index: int, rows: torch.Tensor, part_rows: State
    ) -> State:
        return self._with_part(state, index, assign(self.part_state(state, index), rows, part_rows))

    # -- states -------------------------------------------------------------------------------
    def source(self, batch_size: int, device="cpu") -> State:
        state: State = {"stage": torch.zeros(batch_size, dtype=torch.long, device=device)}
        for index, part in enumerate(self.parts):
            state = self._with_part(state, index, part.source(batch_size, device))
        return state

    def is_done(self, state: State) -> torch.Tensor:
        return state["stage"] == len(self.parts)

    def is_source(self, state: State) -> torch.Tensor:
        return (state["stage"] == 0) & self.parts[0].is_source(self.part_state(state, 0))

    def _back_stage(self, state: State) -> torch.Tensor:
        """Index of the part whose last forward step produced each state (-1 at the source)."""
        stage = state["stage"]
        back = stage.clone()
        for index, part in enumerate(self.parts):
            rows = stage == index
            if rows.any():
                at_source = part.is_source(self._part_rows(state, index, rows))
                back[rows] = torch.where(at_source, stage[rows] - 1, stage[rows])
        return torch.where(stage == len(self.parts), stage - 1, back)

    # -- masks --------------------------------------------------------------------------------
    def _stage_rows(self, stage: torch.Tensor) -> list[tuple[int, torch.Tensor]]:
        """``(part index, int64 row indices)`` of every part with rows at that stage."""
        if stage.numel() == 0:
            return []
        low, high = int(stage.min()), int(stage.max())
        if low == high:
            if 0 <= low < len(self.parts):
                return [(low, torch.arange(stage.shape[0], device=stage.device))]
            return []
        out = []
        for index in range(max(low, 0), min(high, len(self.parts) - 1) + 1):
            rows = (stage == index).nonzero().squeeze(1)
            if rows.numel():
                out.append((index, rows))
        return out

    def mask_blocks(
        self, state: State, forward: bool = True
    ) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """The non-zero blocks of :meth:`forward_mask` (or :meth:`backward_mask`), one per part
        with rows at that stage: ``(rows, columns, block)`` with int64 ``rows``, int64
        ascending ``columns`` (stack action indices) and ``block`` bool
        ``(len(rows), len(columns))`` holding ``mask[rows][:, columns]``; every other entry of
        the mask is False. Columns no row of a part allows are left out (see
        :meth:`Environment.mask_columns`)."""
        stage = state["stage"] if forward else self._back_stage(state)
        blocks = []
        for index, rows in self._stage_rows(stage):
            sub = self._part_rows(state, index, rows)
            columns, block = self.parts[index].mask_columns(sub, forward)
            blocks.append((rows, columns + self.action_offsets[index], block))
        return blocks

    def _block_mask(self, state: State, stage: torch.Tensor, forward: bool) -> torch.Tensor:
        mask = torch.zeros(stage.shape[0], self.n_actions, dtype=torch.bool, device=stage.device)
        for index, rows in self._stage_rows(stage):
            part = self.parts[index]
            sub = self._part_rows(state, index, rows)
            block = part.forward_mask(sub) if forward else part.backward_mask(sub)
            start = self.action_offsets[index]
            mask[rows, start : start + part.n_actions] = block
        return mask

    def forward_mask(self, state: State) -> torch.Tensor:
        return self._block_mask(state, state["stage"], forward=True)

    def backward_mask(self, state: State) -> torch.Tensor:
        return self._block_mask(state, self._back_stage(state), forward=False)

    def part_of_action(self, actions: torch.Tensor) -> torch.Tensor:
        """Index of the part each action belongs to, int64 ``(batch,)``."""
        offsets = torch.tensor(self.action_offsets[1:], device=actions.device)
        return torch.bucketize(actions, offsets, right=True)

    # -- transitions --------------------------------------------------------------------------
    def step(
        self, state: State, actions: torch.Tensor, params: torch.Tensor | None = None
    ) -> State:
        stage = state["stage"]
        new_stage = stage.clone()
        for index, part in enumerate(self.parts):
            rows = stage == index
            if not rows.any():
                continue
            local = actions[rows] - self.action_offsets[index]
            local_params = None
            if part.n_params:
                local_params = params[rows, : part.n_params]
            sub = part.step(self._part_rows(state, index, rows), local, local_params)
            state = self._assign_part_rows(state, index, rows, sub)
            finished = part.is_done(sub)
            if finished.any():
                row_ids = rows.nonzero().squeeze(1)[finished]
                state = self._condition_later_parts(state, index, row_ids)
                new_stage[row_ids] = index + 1
        state = dict(state)
        state["stage"] = new_stage
        return state

    def _condition_later_parts(self, state: State, index: int, rows: torch.Tensor) -> State:
        """Apply every constraint whose source is part ``index`` to the given rows."""
        values = None
        for source, target, constraint in self.constraints:
            if source != index:
                continue
            if values is None:
                values = self.parts[index].values(self._part_rows(state, index, rows))
            target_rows = constraint.apply(
                values, self.parts[target], self._part_rows(state, target, rows)
            )
            state = self._assign_part_rows(state, target, rows, target_rows)
        return state

    def step_back(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor | None]:
        back_stage = self._back_stage(state)
        params = None
        if self.n_params:
            params = torch.zeros(actions.shape[0], self.n_params, device=actions.device)
        new_state = dict(state)
        for index, part in enumerate(self.parts):
            rows = back_stage == index
            if not rows.any():
                continue
            local = actions[rows] - self.action_offsets[index]
            parent, local_params = part.step_back(self._part_rows(new_state, index, rows), local)
            new_state = self._assign_part_rows(new_state, index, rows, parent)
            if local_params is not None:
                params[rows, : part.n_params] = local_params
            if index + 1 < len(self.parts):
                new_state = self._recondition_after(new_state, index, rows)
        new_state["stage"] = torch.where(back_stage >= 0, back_stage, state["stage"])
        return new_state, params

    def _recondition_after(self, state: State, index: int, rows: torch.Tensor) -> State:
        """Reset the parts after ``index`` to bare sources for ``rows`` and re-apply the
        constraints from the parts before ``index`` (still finished) to them."""
        count = int(rows.sum()) if rows.dtype == torch.bool else rows.numel()
        device = state["stage"].device
        for later in range(index + 1, len(self.parts)):
            state = self._assign_part_rows(
                state, later, rows, self.parts[later].source(count, device)
            )
        row_ids = rows.nonzero().squeeze(1) if rows.dtype == torch.bool else rows
        for source, target, constraint in self.constraints:
            if source < index < target:
                values = self.parts[source].values(self._part_rows(state, source, row_ids))
                conditioned = constraint.apply(
                    values, self.parts[target], self._part_rows(state, target, row_ids)
                )
                state = self._assign_part_rows(state, target, row_ids, conditioned)
        return state

    # -- policy and proxy views ---------------------------------------------------------------
    def encode(self, state: State) -> torch.Tensor:
        pieces = [part.encode(self.part_state(state, i)) for i, part in enumerate(self.parts)]
        stage = torch.nn.functional.one_hot(state["stage"], len(self.parts) + 1)
        return torch.cat(pieces + [stage.to(pieces[0].dtype)], dim=1)

    def values(self, state: State) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for index, part in enumerate(self.parts):
            out.update(part.values(self.part_state(state, index)))
        return out

    def validity(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        checks: dict[str, torch.Tensor] = {}
        for part in self.parts:
            checks.update(part.validity({p: values[p] for p in part.provides}))
        for source, target, constraint in self.constraints:
            source_part, target_part = self.parts[source], self.parts[target]
            checks.update(
                constraint.validity(
                    {p: values[p] for p in source_part.provides},
                    target_part,
                    {p: values[p] for p in target_part.provides},
                )
            )
        return checks

    def describe(self, values: dict[str, torch.Tensor]) -> dict[str, list]:
        columns: dict[str, list] = {}
        for part in self.parts:
            columns.update(part.describe({p: values[p] for p in part.provides}))
        return columns

    def log_label_count(self, state: State) -> torch.Tensor:
        total = torch.zeros(
            state["stage"].shape[0], dtype=torch.float64, device=state["stage"].device
        )
        for index, part in enumerate(self.parts):
            total = total + part.log_label_count(self.part_state(state, index)).to(total.device)
        return total

    def from_values(self, values: Mapping[str, torch.Tensor]) -> State:
        size = next(iter(values.values())).shape[0]
        device = next(iter(values.values())).device
        state: State = {
            "stage": torch.full((size,), len(self.parts), dtype=torch.long, device=device)
        }
        for index, part in enumerate(self.parts):
            part_values = {p: values[p] for p in part.provides}
            state = self._with_part(state, index, part.from_values(part_values))
        everything = torch.arange(size, device=device)
        for source, target, constraint in self.constraints:
            conditioned = constraint.apply(
                self.parts[source].values(self.part_state(state, source)),
                self.parts[target],
                self.part_state(state, target),
            )
            state = self._assign_part_rows(state, target, everything, conditioned)
        return state

    # -- continuous head ------------------------------------------------------------------------
    def _param_rows(self, actions: torch.Tensor):
        owner = self.part_of_action(actions)
        for index, part in enumerate(self.parts):
            if part.n_params:
                rows = owner == index
                if rows.any():
                    start = self.param_output_offsets[index]
                    yield index, part, rows, slice(start, start + part.n_param_outputs)

    @property
    def restriction_free_params(self) -> bool:
        """Every part with continuous actions draws them the same in every restricted copy:
        a restricted stack keeps the parts' layout and restricts each part."""
        return all(part.restriction_free_params for part in self.parts if part.n_params)

    def sample_params(
        self, state: State, actions: torch.Tensor, raw: torch.Tensor, generator=None
    ) -> torch.Tensor:
        params = torch.zeros(actions.shape[0], self.n_params, device=actions.device)
        for index, part, rows, columns in self._param_rows(actions):
            local = actions[rows] - self.action_offsets[index]
            params[rows, : part.n_params] = part.sample_params(
                self._part_rows(state, index, rows), local, raw[rows][:, columns], generator
            )
        return params

    def param_log_prob(
        self, state: State, actions: torch.Tensor, params: torch.Tensor, raw: torch.Tensor
    ) -> torch.Tensor:
        log_prob = torch.zeros(actions.shape[0], dtype=raw.dtype, device=actions.device)
        for index, part, rows, columns in self._param_rows(actions):
            local = actions[rows] - self.action_offsets[index]
            log_prob[rows] = part.param_log_prob(
                self._part_rows(state, index, rows),
                local,
                params[rows, : part.n_params],
                raw[rows][:, columns],
            )
        return log_prob

    # -- restrictions ---------------------------------------------------------------------------
    @property
    def restrictions(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(name for part in self.parts for name in part.restrictions)

    def restriction_domains(self) -> dict:
        """Every part's restriction domains (each restriction belongs to one part)."""
        domains: dict = {}
        for part in self.parts:
            domains.update(part.restriction_domains())
        return domains

    def settled_restrictions(self, state: State) -> dict[str, torch.Tensor]:
        """A part's restrictions, once the part is done, when every constraint into a later
        part forgets its source's restriction (:attr:`Constraint.forgets_source_restriction`):
        then the later parts depend on the finished parts through their values only. (Any
        other constraint into a later part may carry a restriction forward, e.g. a lattice
        region sized for the allowed elements, so the part's restrictions stay visible.)"""
        stage = state["stage"]
        settled: dict[str, torch.Tensor] = {}
        for index, part in enumerate(self.parts):
            later = [c for _, target, c in self.constraints if target > index]
            if all(c.forgets_source_restriction for c in later):
                done = stage > index
                settled.update({name: done for name in part.restrictions})
        return settled

    def restrict(self, **restriction) -> Stack:
        """Pass each restriction to the part that accepts it and rebuild the constraints."""
        unknown = sorted(set(restriction) - set(self.restrictions))
        if unknown:
            raise ConfigError(
                f"unknown restriction {unknown} for {self.spec!r}; "
                f"accepted: {sorted(self.restrictions)}"
            )
        parts = []
        for part in self.parts:
            mine = {key: value for key, value in restriction.items() if key in part.restrictions}
            parts.append(part.restrict(**mine) if mine else part)
        return Stack(parts, self.constraints)


def parse_spec(name_or_spec: str) -> list[str]:
    """Part names of a spec such as ``"spacegroup+composition+lattice"``; a part that names a
    registered preset (the ``register_presets`` hook, e.g. ``"crystal"``) and no environment
    stands for the parts of the preset's spec."""
    if not isinstance(name_or_spec, str) or not name_or_spec.strip():
        raise ConfigError(f"an environment spec must be a non-empty string, got {name_or_spec!r}")
    from crystalgfn.plugins import get_plugins

    plugins = get_plugins()
    names = []
    for name in (name.strip() for name in name_or_spec.split("+")):
        if name and name not in plugins.envs and name in plugins.presets:
            preset = plugins.presets.get(name).factory()
            names += [part.strip() for part in preset.split("+")]
        elif name and name not in plugins.envs and name not in plugins.envs.conflicts:
            # Presets are names users write too: suggest them beside the environments.
            raise UnknownNameError(
                "environment", name, plugins.envs.names() + plugins.presets.names(),
                failed_plugins=plugins.failures,
            )
        else:
            names.append(name)
    if any(not name for name in names):
        raise ConfigError(f"empty part name in environment spec {name_or_spec!r}")
    return names


def make_env(name_or_spec: str, **per_part_kwargs) -> Environment:
    """Build an environment, or a :class:`Stack` of several, by registered name.

    ``make_env("composition", elements=["Fe", "O"])`` builds one environment with its keyword
    arguments; ``make_env("spacegroup+composition", composition={"elements": ["Fe", "O"]})``
    gives each part of a stack its own dictionary. Unknown names raise
    :class:`crystalgfn.errors.UnknownNameError` (with a did-you-mean); unknown keyword
    arguments raise :class:`crystalgfn.errors.ConfigError` listing those accepted.
    """
    from crystalgfn.plugins import get_plugins

    plugins = get_plugins()
    names = parse_spec(name_or_spec)
    entries = [plugins.envs.get(name) for name in names]
    if len(names) == 1 and names[0] not in per_part_kwargs:
        return call_with_kwargs("environment", names[0], entries[0].factory, per_part_kwargs)
    unknown = sorted(set(per_part_kwargs) - set(names))
    if unknown:
        raise ConfigError(
            f"keyword arguments {unknown} name no part of {'+'.join(names)!r}; pass one "
            f"dictionary per part: {', '.join(f'{n}={{...}}' for n in names)}"
        )
    parts = []
    for name, entry in zip(names, entries, strict=True):
        kwargs = per_part_kwargs.get(name, {})
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"options of part {name!r} must be a dictionary, got {kwargs!r}")
        parts.append(call_with_kwargs("environment", name, entry.factory, kwargs))
    if len(parts) == 1:
        return parts[0]
    constraints = []
    for i, source in enumerate(names):
        for j in range(i + 1, len(names)):
            found = plugins.constraint(source, names[j])
            if found is not None:
                constraints.append((i, j, found.factory()))
    return Stack(parts, constraints)
