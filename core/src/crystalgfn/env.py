"""The environment interface: a batched, finite-horizon GFlowNet state space.

An environment builds one part of an object step by step. A *batch* of states is a
``dict[str, Tensor]`` (see :mod:`crystalgfn.states`); every method works on the whole batch
at once, without Python loops over samples.

Actions are integers in ``[0, n_actions)``. A continuous environment attaches ``n_params``
real parameters to its actions; the policy's continuous head produces ``n_param_outputs``
raw numbers per state, which :meth:`Environment.param_distribution` turns into a density.

The backward direction uses the same action indices: a backward action ``a`` at state ``s``
means "``s`` was reached by forward action ``a``", and :meth:`step_back` returns the unique
parent. ``backward_mask(s)`` marks the actions that could have produced ``s``.

Masks are hard constraints: any state reachable under the forward masks can still be
completed to a valid object (no dead ends), and ``is_done`` states are valid objects.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from crystalgfn.states import State


class Environment(ABC):
    """Abstract base of every environment plugin.

    Subclasses set the class attribute ``name`` and ``provides`` and, on instances,
    ``n_actions``, ``encoding_dim`` and ``max_steps``. Keyword arguments of ``__init__`` are
    the user's options (validated with clear errors); :meth:`restrict` returns a copy with a
    narrower space for sampling-time restrictions.
    """

    #: Registry name, e.g. ``"composition"``.
    name: ClassVar[str] = ""
    #: State parts this environment fills for proxies, e.g. ``("composition",)``.
    provides: ClassVar[tuple[str, ...]] = ()

    #: Number of discrete actions.
    n_actions: int
    #: Length of the vector encoding of a state fed to the policy network.
    encoding_dim: int
    #: Upper bound on the number of forward steps from the source to a done state.
    max_steps: int
    #: Continuous parameters attached to an action (0 for a purely discrete environment).
    n_params: int = 0
    #: Raw policy outputs the continuous head needs per state (0 if discrete).
    n_param_outputs: int = 0
    #: True when :meth:`sample_params` is the same function in every :meth:`restrict` copy:
    #: the restriction changes what the drawn parameters mean (e.g. the range a unit value
    #: maps to), not how they are drawn from ``raw`` and the state. A conditional space then
    #: draws the parameters of all its restrictions' rows in one call instead of one call per
    #: restriction. False, the default, is always exact.
    restriction_free_params: ClassVar[bool] = False

    @property
    def is_discrete(self) -> bool:
        return self.n_params == 0

    # -- states -----------------------------------------------------------------------------
    @abstractmethod
    def source(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        """``batch_size`` copies of the initial state."""

    @abstractmethod
    def is_done(self, state: State) -> torch.Tensor:
        """Bool ``(batch,)``: the state is a finished, valid object."""

    @abstractmethod
    def is_source(self, state: State) -> torch.Tensor:
        """Bool ``(batch,)``: the state is the initial state."""

    # -- masks and transitions ---------------------------------------------------------------
    @abstractmethod
    def forward_mask(self, state: State) -> torch.Tensor:
        """Bool ``(batch, n_actions)``: actions allowed from each state (none if done)."""

    @abstractmethod
    def backward_mask(self, state: State) -> torch.Tensor:
        """Bool ``(batch, n_actions)``: forward actions that could have produced each state."""

    def mask_columns(self, state: State, forward: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """The forward (or backward) mask without the columns that no row allows:
        ``(columns, mask)`` with int64 ascending ``columns`` ``(C,)`` and bool ``mask``
        ``(batch, C)`` equal to ``full_mask[:, columns]``; every other column of the full mask
        is False in every row. Samplers work on these ``C`` columns instead of all actions.

        The default compresses the full mask; environments that can list their allowed
        columns without building the full ``(batch, n_actions)`` mask override it."""
        mask = self.forward_mask(state) if forward else self.backward_mask(state)
        return compress_columns(mask)

    def mask_blocks(
        self, state: State, forward: bool = True
    ) -> list[tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]]:
        """The forward (or backward) mask as blocks ``(rows, columns, mask)``: int64 ``rows``
        (``None``: every row), int64 ascending ``columns`` and bool ``mask`` ``(len(rows),
        len(columns))``; every entry of the full mask outside the blocks is False. Samplers
        work block by block.

        The default is one block of every row, from :meth:`mask_columns`; stacks split rows
        by the part they are in, whose allowed columns differ."""
        columns, mask = self.mask_columns(state, forward)
        return [(None, columns, mask)]

    @abstractmethod
    def step(
        self, state: State, actions: torch.Tensor, params: torch.Tensor | None = None
    ) -> State:
        """Children after forward ``actions`` (int64 ``(batch,)``), with ``params``
        ``(batch, n_params)`` for a continuous environment. Actions must be allowed."""

    @abstractmethod
    def step_back(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor | None]:
        """Parents of ``state`` through backward ``actions`` and, for a continuous
        environment, the ``(batch, n_params)`` parameters of the forward step undone."""

    # -- what the policy and the proxies see -----------------------------------------------
    @abstractmethod
    def encode(self, state: State) -> torch.Tensor:
        """Float ``(batch, encoding_dim)`` encoding of states for the policy network."""

    @abstractmethod
    def values(self, state: State) -> dict[str, torch.Tensor]:
        """Proxy inputs of done states, keyed by the part names in ``provides``."""

    @abstractmethod
    def from_values(self, values: dict[str, torch.Tensor]) -> State:
        """Done states whose :meth:`values` are ``values`` (e.g. for training from data).

        Several done states may share the same values (see :meth:`log_label_count`); any one
        of them may be returned. Values outside the space raise a ``ValueError``."""

    def log_label_count(self, state: State) -> torch.Tensor:
        """Log of the number of done states with the same :meth:`values`, float64 ``(B,)``.

        An environment may build labelled variants of one object (e.g. a composition with
        oxidation-state labels). Trainers subtract this from the log-reward so that objects,
        not their variants, are sampled in proportion to the reward. Default: 0."""
        return torch.zeros(next(iter(state.values())).shape[0], dtype=torch.float64)

    def validity(self, values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Independent checks of objects given by their values: check name -> bool ``(B,)``.

        Used by reports to *measure* validity (e.g. of samples from another generator or of a
        reference data set) rather than assume it. Default: none."""
        return {}

    def describe(self, values: dict[str, torch.Tensor]) -> dict[str, list]:
        """Human-readable columns (name -> one entry per row) of done states' values, for
        sample tables and reports (e.g. ``formula``, ``crystal_system``). Default: none."""
        return {}

    # -- continuous head (only for n_params > 0) ---------------------------------------------
    def param_log_prob(
        self, state: State, actions: torch.Tensor, params: torch.Tensor, raw: torch.Tensor
    ) -> torch.Tensor:
        """Log-density ``(batch,)`` of ``params`` under the policy's continuous head ``raw``
        ``(batch, n_param_outputs)``. Raw outputs of zero must give the uniform density."""
        raise NotImplementedError(f"environment {self.name!r} has no continuous actions")

    def sample_params(
        self, state: State, actions: torch.Tensor, raw: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Parameters ``(batch, n_params)`` sampled from the continuous head ``raw``."""
        raise NotImplementedError(f"environment {self.name!r} has no continuous actions")

    # -- restrictions ----------------------------------------------------------------------
    def restrict(self, **restriction) -> Environment:
        """A copy limited to a subset of its space (e.g. ``elements=["Fe", "O"]``).

        Unknown restriction names raise :class:`crystalgfn.errors.ConfigError`; a restriction
        that leaves nothing raises :class:`crystalgfn.errors.InfeasibleError`.
        """
        from crystalgfn.errors import ConfigError

        raise ConfigError(
            f"environment {self.name!r} accepts no restrictions; got {sorted(restriction)}"
        )

    #: Names of the keyword arguments :meth:`restrict` accepts.
    restrictions: ClassVar[tuple[str, ...]] = ()

    def restriction_domains(self) -> dict:
        """The values each restriction can take in this space, name ->
        :class:`crystalgfn.conditioning.Subset` / ``Interval`` / ``Count``, for conditional
        training (``[conditioning]`` in a run config). Default: none (the environment can be
        restricted at sampling time, but not conditioned on)."""
        return {}

    def settled_restrictions(self, state: State) -> dict[str, torch.Tensor]:
        """Restrictions that can no longer change what completes each state: name -> bool
        ``(batch,)``, True where every restriction of that name leaves the same completions
        (e.g. the allowed space groups, once a group is chosen and nothing later depends on
        which others were allowed). A conditional model hides such a restriction's features
        from its policy there, so that what it learns at those states is shared by every
        restriction. Default: none, which is always exact."""
        return {}

    def training_source(self, batch_size: int, device="cpu", generator=None) -> State:
        """The states a training batch starts from: :meth:`source` by default; a conditional
        environment draws each row's restriction with ``generator``."""
        return self.source(batch_size, device)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.n_actions} actions>"


def compress_columns(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(columns, mask[:, columns])`` for the columns of a bool ``mask`` allowed in some row
    (all columns if none is, so that a block never has zero width)."""
    columns = mask.any(dim=0).nonzero().squeeze(1)
    if columns.numel() == 0:
        return torch.arange(mask.shape[1], device=mask.device), mask
    if columns.numel() == mask.shape[1]:
        return columns, mask
    return columns, mask[:, columns]


class Constraint(ABC):
    """A hard constraint of one environment part (``source``) on a later one (``target``).

    Registered with the ``register_constraints`` hook and applied by stacks whose name puts
    ``source`` before ``target``.

    ``source_needs`` and ``target_needs`` declare the capabilities (protocols such as
    :class:`crystalgfn.interfaces.CountLanguageTarget`) the constraint calls on its parts;
    the stack checks them before :meth:`prepare` and raises
    :class:`crystalgfn.errors.IncompatibleEnvironmentError` naming what is missing.
    """

    #: Whether a conditioned target's completions depend on the source's *values* only, not
    #: on how the source environment was restricted: True when :meth:`prepare` derives from
    #: the source only what each allowed source value admits, and :meth:`apply` keeps what
    #: the row's value admits. A stack settles a part's restrictions once the part is done
    #: only if every constraint into a later part declares this
    #: (:meth:`Environment.settled_restrictions`); False, the default, is always exact.
    forgets_source_restriction: ClassVar[bool] = False
    #: Protocols the source environment must fit (see :mod:`crystalgfn.interfaces`).
    source_needs: ClassVar[tuple[type, ...]] = ()
    #: Protocols the target environment must fit.
    target_needs: ClassVar[tuple[type, ...]] = ()

    @abstractmethod
    def prepare(
        self, source: Environment, target: Environment
    ) -> tuple[Environment, Environment] | tuple[Environment, Environment, Constraint]:
        """Restricted copies of ``(source, target)`` such that every done source state leaves
        the target completable, and every target state it allows fits some source state.
        Raises :class:`crystalgfn.errors.InfeasibleError` when nothing fits.

        Must not modify ``self``, ``source`` or ``target``: a constraint that derives data
        from the parts (e.g. lookup tables) returns a third item, a new constraint holding
        that data, which the stack then uses in place of ``self``."""

    def validity(
        self,
        source_values: dict[str, torch.Tensor],
        target,
        target_values: dict[str, torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Checks that finished source and target parts satisfy the constraint: check name
        -> bool ``(B,)``. Default: none."""
        return {}

    @abstractmethod
    def apply(
        self, source_values: dict[str, torch.Tensor], target: Environment, target_state: State
    ) -> State:
        """Condition target states (at their source) on the finished source parts
        ``source_values`` (the source's :meth:`Environment.values`); returns new states."""
