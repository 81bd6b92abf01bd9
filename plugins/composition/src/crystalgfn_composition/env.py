"""The composition environment: atom counts of the unit cell, with exact hard constraints.

A composition is built by adding elements in a fixed order (ascending Pauling
electronegativity, ties by atomic number). Each step picks the next element, its number of
atoms, and a *label*: one of the element's oxidation states, or "neutral". A final step
(end-of-sequence) closes the composition. The labels make the charge-neutrality rule exact
and cheap to mask: the masks only allow steps after which a valid completion exists (see
:mod:`crystalgfn_composition.feasibility`), so there are no dead ends and every finished
composition passes the recorded validity rule (by default SMACT's ``smact_validity``: ICSD-24
oxidation states with the Pauling electronegativity test, single elements and alloys valid).

A composition can be reached with several labellings (e.g. Fe3O4 as Fe(+2)Fe... no — one label
per element: FeO4 with Fe +8 is not in the set, but MnO2 may be Mn(+4)O(-2) only, while some
compositions admit several charge-balanced labellings). The environment reports how many in
:meth:`CompositionEnv.log_label_count`; the trainer divides rewards by it so that finished
compositions are sampled in proportion to their reward, whatever their number of labellings.

State tensors (batch ``B``, ``K`` allowed elements in position order):

* ``counts`` int64 ``(B, K)``: atoms of each element (0 = absent);
* ``slots`` int64 ``(B, K)``: label slot of each present element (-1 = absent; 0 = neutral);
* ``last`` int64 ``(B,)``: position of the last element added (-1 = none);
* ``mode``, ``charge``, ``automaton``: the prefix summary (see ``feasibility``);
* ``start`` int64 ``(B,)``: automaton start state (set by cross-environment constraints,
  e.g. the space group's Wyckoff positions);
* ``done`` bool ``(B,)``.

This module holds construction and validation (arguments, chemistry, count languages,
restrictions) and the state views; the other jobs are mixins, one module each:
:mod:`~crystalgfn_composition.masks` (mask kernels), :mod:`~crystalgfn_composition.transitions`
(steps and the prefix summary), :mod:`~crystalgfn_composition.data_import` (``from_values``)
and :mod:`~crystalgfn_composition.label_count` (the label-count dynamic programme).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import attrs
import numpy as np
import torch
from crystalgfn.elements import atomic_numbers
from crystalgfn.elements import symbols as element_symbols
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, InfeasibleError, UnknownNameError
from crystalgfn.interfaces import CountLanguageTarget, VolumeBoundTarget
from crystalgfn.states import State

from crystalgfn_composition import chemistry
from crystalgfn_composition.automaton import enumerate_multisets
from crystalgfn_composition.cached import (
    as_tables,
    cached_automaton,
    cached_table_arrays,
    cached_tables,
)
from crystalgfn_composition.data_import import CompositionImport
from crystalgfn_composition.feasibility import (
    START,
    Chemistry,
    Tables,
    automaton_arrays,
)
from crystalgfn_composition.label_count import CompositionLabelCount
from crystalgfn_composition.masks import CompositionMasks
from crystalgfn_composition.transitions import CompositionTransitions

#: The 22 elements of the Crystal-GFN paper.
PAPER_ELEMENTS = (
    "H Li B C N O F Na Mg Al Si P S Cl K V Mn Fe Co Ni Cu Se".split()
)


def _check_int(name: str, value, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        accepted = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"{name} must be {accepted}, got {value}")
    return int(value)


#: Relative tolerance of the predicted-volume bounds: a finished composition is accepted when
#: ``V̂ >= low - VOLUME_TOLERANCE * |low|`` and ``V̂ <= high + VOLUME_TOLERANCE * |high|``.
VOLUME_TOLERANCE = 1e-12
#: The masks' look-ahead compares with half that tolerance: it sums the same per-element
#: volumes in another order than the finished composition does (rounding differences of order
#: 1e-16 relative), so a completion it counts on is always accepted at the end (no dead ends).
_LOOKAHEAD_TOLERANCE = 0.5 * VOLUME_TOLERANCE


def _check_bound(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigError(f"{name} must be a volume in Å³ (a number) or None, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{name} must be a finite volume in Å³ or None for no bound, got {value}")
    return float(value)


def _loosened(bound: float, side: int, tolerance: float) -> float:
    """``bound`` moved outwards (``side`` -1: a lower bound, +1: an upper one) by
    ``tolerance`` relative."""
    return bound + side * tolerance * abs(bound)


@attrs.frozen
class _VolumeCheck:
    """The one binding side of the predicted-volume bounds, as the masks use it.

    The masks work with *signed* volumes ``direction * V̂`` (``+1`` for a lower bound, ``-1``
    for an upper one), so both sides are one test: ``signed V̂ >= bound``.

    Attributes:
        direction: ``+1`` (lower bound binds) or ``-1`` (upper bound binds).
        weights: float64 ``(K,)``: ``direction`` times the volume (Å³) of each position.
        tables: the (max, +) tables of ``weights``: the largest signed volume a valid
            completion adds.
        lookahead: the signed bound the look-ahead compares with (Å³).
        accept: the signed bound a finished composition is compared with (Å³).
    """

    direction: int
    weights: np.ndarray
    tables: Tables
    lookahead: float
    accept: float


def _check_symbols(
    name: str, values: Iterable[str], allowed: Sequence[str] | None = None
) -> list[str]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ConfigError(
            f"{name} must be element symbols such as ['Fe', 'O'] or a string 'Fe,O', got {values!r}"
        )
    out = list(values)
    if allowed is not None:  # not an element at all: did-you-mean among the allowed ones
        for symbol in out:
            if symbol not in allowed and symbol not in element_symbols():
                raise UnknownNameError("element", str(symbol), allowed, listed_as="Allowed")
    atomic_numbers(out)  # unknown symbols raise UnknownNameError with a did-you-mean
    if len(set(out)) != len(out):
        raise ConfigError(f"{name} lists an element twice: {out}")
    if allowed is not None:
        outside = [s for s in out if s not in allowed]
        if outside:
            raise ConfigError(
                f"{name} {outside} are not among the allowed elements {list(allowed)}"
            )
    return out


class CompositionEnv(
    CompositionMasks,
    CompositionTransitions,
    CompositionImport,
    CompositionLabelCount,
    Environment,
    CountLanguageTarget,
    VolumeBoundTarget,
):
    """Atom counts of a unit cell over a user-chosen element list.

    Args:
        elements: element symbols (default: the paper's 22 elements).
        max_elements / min_elements: number of distinct elements in the composition
            (default at most 5, or all the elements if fewer).
        max_atoms_per_element: largest count of any element (counts are 1..this).
        min_atoms / max_atoms: bounds on the total number of atoms in the cell.
        required_elements: elements every composition must contain.
        oxidation_states: name of the oxidation-state set of the charge-neutrality rule
            (default ``"icsd24"``, SMACT's default), or ``None`` to switch the rule off.
        pauling: apply the Pauling electronegativity test to charged compositions.
        alloys: accept compositions made only of metals without charges (SMACT's rule).

    Bounds on the predicted cell volume are installed with :meth:`with_volume_bounds`.
    """

    name = "composition"
    provides = ("composition",)
    restrictions = ("elements", "max_atoms_per_element", "required_elements")

    def __init__(
        self,
        elements: Sequence[str] = PAPER_ELEMENTS,
        max_elements: int | None = None,
        min_elements: int = 1,
        max_atoms_per_element: int = 16,
        min_atoms: int = 1,
        max_atoms: int | None = None,
        required_elements: Sequence[str] = (),
        oxidation_states: str | None = chemistry.DEFAULT_OXIDATION_STATES,
        pauling: bool = True,
        alloys: bool = True,
        _allowed_elements: Sequence[str] | None = None,
        _count_limit: int | None = None,
        _languages: Mapping[int, np.ndarray] | None = None,
        _element_volumes: Mapping[str, float] | None = None,
        _volume_bounds: tuple[float | None, float | None] = (None, None),
    ):
        symbols = _check_symbols("elements", elements)
        if not symbols:
            raise ConfigError("elements must list at least one element")
        if max_elements is None:
            max_elements = min(5, len(symbols))
        self.max_elements = _check_int("max_elements", max_elements, 1, len(symbols))
        self.min_elements = _check_int("min_elements", min_elements, 1, self.max_elements)
        self.max_count = _check_int("max_atoms_per_element", max_atoms_per_element, 1, 64)
        self.min_atoms = _check_int("min_atoms", min_atoms, 1)
        ceiling = self.max_count * self.max_elements
        self.max_atoms = (
            ceiling if max_atoms is None else _check_int("max_atoms", max_atoms, self.min_atoms)
        )
        required = _check_symbols("required_elements", required_elements, symbols)
        if len(required) > self.max_elements:
            raise InfeasibleError(
                f"{len(required)} required elements {required} exceed "
                f"max_elements={self.max_elements}"
            )
        if (
            oxidation_states is not None
            and oxidation_states not in chemistry.oxidation_state_set_names()
        ):
            raise ConfigError(
                f"unknown oxidation-state set {oxidation_states!r}; accepted: "
                f"{list(chemistry.oxidation_state_set_names())} or None to switch charge "
                "neutrality off"
            )
        self.oxidation_states = oxidation_states
        self.pauling = bool(pauling)
        self.alloys = bool(alloys)
        self._kwargs = dict(
            elements=symbols, max_elements=max_elements, min_elements=min_elements,
            max_atoms_per_element=max_atoms_per_element, min_atoms=min_atoms, max_atoms=max_atoms,
            required_elements=required, oxidation_states=oxidation_states, pauling=pauling,
            alloys=alloys,
        )
        # Sampling-time restrictions keep the layout (positions, counts, labels) of the
        # environment a policy was trained on and only narrow the masks.
        self.allowed_elements = _check_symbols("elements", _allowed_elements or symbols, symbols)
        missing = [s for s in required if s not in self.allowed_elements]
        if missing:
            raise InfeasibleError(
                f"required elements {missing} are not among the allowed {self.allowed_elements}"
            )
        if self.min_elements > len(self.allowed_elements):
            raise InfeasibleError(
                f"min_elements={self.min_elements} exceeds the "
                f"{len(self.allowed_elements)} allowed elements"
            )
        self.count_limit = (
            self.max_count
            if _count_limit is None
            else _check_int("max_atoms_per_element", _count_limit, 1, self.max_count)
        )
        self._kwargs.update(_allowed_elements=self.allowed_elements, _count_limit=self.count_limit)
        self._setup_chemistry(symbols, required)
        self._setup_automata(_languages)
        self._check_feasible()
        # Predicted-volume bounds (with_volume_bounds) pass through here in restrict().
        self._element_volumes = None
        self.volume_bounds: tuple[float | None, float | None] = (None, None)
        self._volume_check: _VolumeCheck | None = None
        if _element_volumes is not None:
            self._install_volume_bounds(_element_volumes, *_volume_bounds)

    # -- construction ---------------------------------------------------------------------------
    def _setup_chemistry(self, symbols: list[str], required: list[str]) -> None:
        info = chemistry.element_chemistry(
            symbols, self.oxidation_states or chemistry.DEFAULT_OXIDATION_STATES
        )
        en = np.where(np.isnan(info.electronegativity), np.inf, info.electronegativity)
        zs = np.array(atomic_numbers(symbols))
        order = np.lexsort((zs, en))
        self.symbols = tuple(symbols[i] for i in order)
        self.z = torch.as_tensor(zs[order])
        charged = self.oxidation_states is not None
        n_pos = len(symbols)
        width = 1 + info.oxidation_states.shape[1]
        labels = np.zeros((n_pos, width), dtype=np.int64)
        valid = np.zeros((n_pos, width), dtype=bool)
        valid[:, 0] = True
        if charged:
            labels[:, 1:] = info.oxidation_states[order]
            valid[:, 1:] = info.oxidation_mask[order]
            if self.pauling:
                # With an unknown electronegativity the Pauling test fails for every pair.
                valid[np.isinf(en[order]), 1:] = False
        valid[~np.isin(np.array(self.symbols), self.allowed_elements)] = False
        is_metal = info.is_metal[order] if charged else np.ones(n_pos, dtype=bool)
        alloys = self.alloys if charged else True
        self.chem = Chemistry(
            labels=labels,
            slot_valid=valid,
            electronegativity=en[order],
            is_metal=is_metal,
            required=np.isin(np.array(self.symbols), required),
            pauling=self.pauling,
            alloys=alloys,
        )
        self.n_slots = width
        self.n_actions = n_pos * self.max_count * width + 1
        self.eos = self.n_actions - 1
        self.encoding_dim = 3 * n_pos + 7
        self.max_steps = self.max_elements + 1

    def _own_language(self, multisets: list[tuple[int, ...]]) -> np.ndarray:
        return np.array(
            [
                self.min_elements <= len(m) <= self.max_elements
                and self.min_atoms <= sum(m) <= self.max_atoms
                and (not m or max(m) <= self.count_limit)
                for m in multisets
            ]
        )

    def _setup_automata(self, languages: Mapping[int, np.ndarray] | None) -> None:
        """The joint count automaton of the environment's own language (label -1) and of
        each labelled language intersected with it, then the completability tables."""
        multisets = enumerate_multisets(self.max_count, self.max_elements)
        own = self._own_language(multisets)
        self._languages = dict(languages or {})
        labelled = {-1: own}
        for label, language in self._languages.items():
            labelled[label] = own & np.asarray(language, dtype=bool)
        automaton = cached_automaton(labelled, self.max_count, self.max_elements)
        self.automaton = automaton
        self.tables = cached_tables(self.chem, automaton, self.max_count, self.max_elements)
        self.trans, self.accept = automaton_arrays(automaton.transitions, automaton.accepting)
        self.sizes = torch.from_numpy(np.append(automaton.size, 0))
        dead = automaton.n_states  # the absorbing dead column of the tables
        self.start_of_language = {
            label: (start if start >= 0 else dead) for label, start in automaton.starts.items()
        }
        self.default_start = self.start_of_language[-1]
        self.__dict__.pop("_device_cache", None)

    def _check_feasible(self) -> None:
        if not bool(self.tables.source[self.default_start]):
            rule = (
                f"charge neutrality with oxidation states {self.oxidation_states!r}"
                + (" and the Pauling test" if self.pauling else "")
                if self.oxidation_states
                else "no charge rule"
            )
            raise InfeasibleError(
                f"no valid composition exists over elements {list(self.symbols)} with "
                f"{self.min_elements}-{self.max_elements} elements, "
                f"1-{self.max_count} atoms per element, "
                f"{self.min_atoms}-{self.max_atoms} atoms in the cell, required elements "
                f"{list(self._kwargs['required_elements'])} and {rule}"
            )

    def language_feasible(self, label: int) -> bool:
        """Whether a valid composition exists under the count language ``label`` (within
        the predicted-volume bounds, when some are installed)."""
        start = self.start_of_language[label]
        return bool(self.tables.source[start]) and self._volume_feasible(start)

    # -- predicted-volume bounds ----------------------------------------------------------------
    def with_volume_bounds(
        self, element_volumes: Mapping[str, float], low: float | None, high: float | None
    ) -> CompositionEnv:
        """A copy whose finished compositions all have a predicted cell volume
        ``V̂ = Σ_e n_e v_e`` (Å³; ``n_e`` atoms of element ``e``, ``v_e = element_volumes[e]``
        in Å³) within ``[low, high]`` (``None``: unbounded on that side).

        The bounds are compared with a relative tolerance :data:`VOLUME_TOLERANCE` (1e-12):
        accepted means ``V̂ >= low·(1 − 1e-12)`` and ``V̂ <= high·(1 + 1e-12)`` (for positive
        bounds). The masks stay exact, with no dead ends, when at most one bound *binds*
        (cuts off some valid composition): a (max, +) table of the largest volume a
        completion can add (a (min, +) one for an upper bound) tells whether a step keeps a
        completion within the bound; their look-ahead uses half the tolerance, so a
        composition within 1e-12 relative of a bound can only be pruned, never be a dead end.
        A bound that no valid composition violates costs nothing at sampling time.

        The bounds survive :meth:`with_count_languages` and :meth:`restrict`; under a count
        language :meth:`language_feasible` also asks for a composition within them.

        Args:
            element_volumes: volume per atom (Å³, finite and > 0) of every allowed element;
                other keys are ignored.
            low / high: bounds on ``V̂`` in Å³, or ``None``.

        Raises:
            ConfigError: a missing or bad volume, a bad bound, ``low > high``, or both bounds
                binding (exact masking supports one binding side).
            InfeasibleError: no valid composition has ``V̂`` within the bounds.
        """
        env = CompositionEnv.__new__(CompositionEnv)
        env.__dict__.update(self.__dict__)
        env.__dict__.pop("_device_cache", None)  # shared with self otherwise
        env._install_volume_bounds(element_volumes, low, high)
        return env

    def volume_range(self) -> tuple[float, float]:
        """``(min, max)`` of the predicted volume ``V̂`` (Å³) over the valid compositions,
        without the volume bounds (under the environment's own count constraints, not the
        labelled languages). Needs the element volumes of :meth:`with_volume_bounds`
        (``with_volume_bounds(volumes, None, None)`` installs them without bounds)."""
        if self._element_volumes is None:
            raise ConfigError(
                "volume_range needs per-element volumes (Å³): call "
                "with_volume_bounds(element_volumes, low, high) first (None, None for no bounds)"
            )
        return self._volume_range

    def _install_volume_bounds(self, element_volumes, low, high) -> None:
        """Validate the volumes and bounds, compute the volume range, and keep the tables of
        the binding side (see :meth:`with_volume_bounds`)."""
        volumes = self._check_volumes(element_volumes)
        low, high = _check_bound("low", low), _check_bound("high", high)
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"the predicted-volume bounds must have low <= high, got low={low} Å³ > "
                f"high={high} Å³"
            )
        self._element_volumes = volumes
        self.volume_bounds = (low, high)
        self._kwargs = {**self._kwargs, "_element_volumes": volumes, "_volume_bounds": (low, high)}
        self._setup_volumes()
        v_min, v_max = self._volume_range
        bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}] Å³"
        reach = f"valid compositions reach predicted volumes {v_min:.6g}..{v_max:.6g} Å³"
        if not self._volume_feasible(self.default_start):
            raise InfeasibleError(
                f"no valid composition has a predicted volume within {bounds}: the {reach}"
            )

    def _check_volumes(self, element_volumes) -> dict[str, float]:
        if not isinstance(element_volumes, Mapping):
            raise ConfigError(
                "element_volumes must map element symbols to volumes per atom in Å³, e.g. "
                f"{{'Fe': 11.8, 'O': 12.0}}, got {element_volumes!r}"
            )
        missing = [s for s in self.allowed_elements if s not in element_volumes]
        if missing:
            raise ConfigError(
                f"element_volumes lacks the elements {missing}; it needs a volume (Å³) for "
                f"every allowed element {list(self.allowed_elements)}"
            )
        volumes = {}
        for symbol in self.allowed_elements:
            value = element_volumes[symbol]
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.integer, np.floating))
                or not math.isfinite(float(value))
                or value <= 0
            ):
                raise ConfigError(
                    f"element_volumes[{symbol!r}] must be a finite volume > 0 in Å³, got "
                    f"{value!r}"
                )
            volumes[symbol] = float(value)
        return volumes

    def _position_volumes(self) -> np.ndarray:
        """float64 ``(K,)``: the volume (Å³) of each position; 0 for elements that are not
        allowed (never present)."""
        return np.array([self._element_volumes.get(s, 0.0) for s in self.symbols])

    def _setup_volumes(self) -> None:
        """The volume range and the tables of the binding bound, for the current automaton
        (called again by :meth:`with_count_languages`)."""
        self.__dict__.pop("_device_cache", None)
        self._volume_check = None
        if self._element_volumes is None:
            return
        volumes = self._position_volumes()
        args = (self.chem, self.automaton, self.max_count, self.max_elements)
        # Read lazily: only the binding side's tables are loaded, below.
        largest = cached_table_arrays(*args, volumes)
        smallest = cached_table_arrays(*args, -volumes)  # minus the smallest volume
        # The range of the environment's own language (the default start state), which the
        # labelled languages leave unchanged: binding is decided on it.
        start = self.default_start
        v_min, v_max = float(-smallest["source"][start]), float(largest["source"][start])
        self._volume_range = (v_min, v_max)
        low, high = self.volume_bounds
        # A bound binds when some valid composition may lie outside it (at the look-ahead
        # tolerance); one that none violates needs no masking at all.
        low_binds = low is not None and v_min < _loosened(low, -1, _LOOKAHEAD_TOLERANCE)
        high_binds = high is not None and v_max > _loosened(high, 1, _LOOKAHEAD_TOLERANCE)
        infeasible = (low is not None and v_max < _loosened(low, -1, _LOOKAHEAD_TOLERANCE)) or (
            high is not None and v_min > _loosened(high, 1, _LOOKAHEAD_TOLERANCE)
        )
        if low_binds and high_binds and not infeasible:
            raise ConfigError(
                f"both predicted-volume bounds bind: valid compositions reach {v_min:.6g}.."
                f"{v_max:.6g} Å³, below low={low} Å³ and above high={high} Å³; exact masking "
                "supports one binding side (the reachable volumes are a discrete set). Widen "
                "one bound past that range, or narrow the composition space"
            )
        if low_binds:
            self._volume_check = _VolumeCheck(
                direction=1, weights=volumes, tables=as_tables(largest),
                lookahead=_loosened(low, -1, _LOOKAHEAD_TOLERANCE),
                accept=_loosened(low, -1, VOLUME_TOLERANCE),
            )
        elif high_binds:
            self._volume_check = _VolumeCheck(
                direction=-1, weights=-volumes, tables=as_tables(smallest),
                lookahead=-_loosened(high, 1, _LOOKAHEAD_TOLERANCE),
                accept=-_loosened(high, 1, VOLUME_TOLERANCE),
            )

    def _volume_feasible(self, start: int) -> bool:
        """Whether some valid composition from automaton state ``start`` lies within the
        volume bounds (True when no bound binds)."""
        check = self._volume_check
        if check is None:
            return True
        return bool(check.tables.source[start] >= check.lookahead)

    def with_count_languages(self, languages: Mapping[int, np.ndarray]) -> CompositionEnv:
        """A copy whose compositions may also be constrained by labelled count languages.

        ``languages[label]`` is a bool array aligned with
        :func:`~crystalgfn_composition.automaton.enumerate_multisets`
        ``(max_atoms_per_element, max_elements)``. A state is put under a language with
        :meth:`with_language`. Used by cross-environment constraints (e.g. Wyckoff
        compatibility with a space group); labels must be non-negative integers.
        """
        env = CompositionEnv.__new__(CompositionEnv)
        env.__dict__.update(self.__dict__)
        env._setup_automata(languages)
        env._setup_volumes()  # the volume tables follow the new automaton
        return env

    def count_multisets(self) -> list[tuple[int, ...]]:
        """The count multisets that count languages are aligned with."""
        return enumerate_multisets(self.max_count, self.max_elements)

    def with_language(self, state: State, labels: torch.Tensor) -> State:
        """States (at the source) placed under the count language of each row's label."""
        lookup = torch.full((max(self.start_of_language) + 2,), -1, dtype=torch.long)
        for label, start in self.start_of_language.items():
            lookup[label] = start
        starts = lookup[labels.long().cpu()].to(labels.device)
        if bool((starts < 0).any()):
            unknown = sorted(set(labels[starts < 0].tolist()))
            raise ValueError(f"unknown count-language labels {unknown}")
        t = self._tensors(labels.device)
        *_, automaton = self._summary(state["counts"], state["slots"], starts, t)
        return {**state, "start": starts, "automaton": automaton}

    def restrict(
        self, elements=None, max_atoms_per_element=None, required_elements=None
    ) -> CompositionEnv:
        """A narrower composition space with the same layout, so that a policy trained on this
        environment can be masked to it: only some of the elements, fewer atoms per element,
        more required elements. Count languages are dropped (a stack re-applies them);
        predicted-volume bounds are kept."""
        kwargs = dict(self._kwargs)
        if elements is not None:
            kwargs["_allowed_elements"] = _check_symbols(
                "elements", elements, self.allowed_elements
            )
        if max_atoms_per_element is not None:
            kwargs["_count_limit"] = _check_int(
                "max_atoms_per_element", max_atoms_per_element, 1, self.count_limit
            )
        if required_elements is not None:
            extra = _check_symbols(
                "required_elements", required_elements, kwargs["_allowed_elements"]
            )
            kwargs["required_elements"] = sorted(set(kwargs["required_elements"]) | set(extra))
        return CompositionEnv(**kwargs)

    def restriction_domains(self) -> dict:
        """Conditioning on ``elements`` (a non-empty subset of the allowed ones; training draws
        small chemical systems more often than large ones) and on ``max_atoms_per_element``
        (1 up to the current limit)."""
        from crystalgfn.conditioning import Count, Subset

        return {
            "elements": Subset(tuple(self.allowed_elements), sizes="log-uniform"),
            "max_atoms_per_element": Count(1, self.count_limit),
        }

    # -- states ---------------------------------------------------------------------------------
    def source(self, batch_size: int, device="cpu") -> State:
        k = len(self.symbols)
        zeros = torch.zeros(batch_size, dtype=torch.long, device=device)
        return {
            "counts": torch.zeros(batch_size, k, dtype=torch.long, device=device),
            "slots": torch.full((batch_size, k), -1, dtype=torch.long, device=device),
            "last": zeros - 1,
            "mode": zeros + START,
            "charge": zeros.clone(),
            "automaton": zeros + self.default_start,
            "start": zeros + self.default_start,
            "done": torch.zeros(batch_size, dtype=torch.bool, device=device),
        }

    def is_done(self, state: State) -> torch.Tensor:
        return state["done"]

    def is_source(self, state: State) -> torch.Tensor:
        return state["last"] < 0

    # -- views ------------------------------------------------------------------------------------
    def encode(self, state: State) -> torch.Tensor:
        t = self._tensors(state["last"].device)
        counts = state["counts"].float()
        present = (counts > 0).float()
        k = counts.shape[1]
        positions = torch.arange(k, device=counts.device)
        values = (
            t["labels"][positions[None].expand_as(state["slots"]), state["slots"].clamp(min=0)]
            * present
        )
        mode = torch.nn.functional.one_hot(state["mode"], 5).float()
        extra = torch.stack(
            [state["charge"].float() / max(self.tables.max_charge, 1), state["done"].float()], dim=1
        )
        return torch.cat(
            [counts / self.max_count, values.float() / 8.0, present, mode, extra], dim=1
        )

    def values(self, state: State) -> dict[str, torch.Tensor]:
        t = self._tensors(state["counts"].device)
        composition = torch.zeros(state["counts"].shape[0], 119, device=state["counts"].device)
        composition[:, t["z"]] = state["counts"].float()
        return {"composition": composition}

    def validity(self, values) -> dict[str, torch.Tensor]:
        """``charge_neutral``: the recorded rule (oxidation-state set, Pauling test, alloys),
        checked independently of the masks; ``within_space``: elements and counts allowed;
        ``volume_within_bounds`` (only with volume bounds): the predicted volume (Å³) lies
        within them, at the tolerance :data:`VOLUME_TOLERANCE`."""
        composition = values["composition"].round().long()
        names = element_symbols()
        allowed_z = torch.zeros(119, dtype=torch.bool)
        allowed_z[torch.tensor(atomic_numbers(self.allowed_elements))] = True
        present = composition > 0
        n_elements = present.sum(dim=1)
        within = (
            (composition[:, ~allowed_z] == 0).all(dim=1)
            & (composition.max(dim=1).values <= self.count_limit)
            & (n_elements >= self.min_elements)
            & (n_elements <= self.max_elements)
        )
        checks = {"within_space": within}
        if self.volume_bounds != (None, None):
            checks["volume_within_bounds"] = self._volume_within_bounds(composition)
        if self.oxidation_states is None:
            return checks
        cache: dict[tuple, bool] = {}
        charge = []
        for row in composition.tolist():
            key = tuple((names[z], n) for z, n in enumerate(row) if n > 0)
            if key not in cache:
                cache[key] = bool(key) and chemistry.is_valid_composition(
                    dict(key), self.oxidation_states, pauling=self.pauling, alloys=self.alloys
                )
            charge.append(cache[key])
        return {"charge_neutral": torch.tensor(charge, dtype=torch.bool), **checks}

    def _volume_within_bounds(self, composition: torch.Tensor) -> torch.Tensor:
        """Bool ``(B,)`` from atom counts ``(B, 119)`` and the element volumes alone (not the
        mask tables). The sum runs in position order like the masks' end-of-sequence test,
        so both round alike."""
        counts = composition[:, self.z.to(composition.device)].double()
        volumes = torch.as_tensor(self._position_volumes(), device=composition.device)
        volume = (counts * volumes).cumsum(dim=1)[:, -1]
        low, high = self.volume_bounds
        ok = torch.ones_like(volume, dtype=torch.bool)
        if low is not None:
            ok &= volume >= _loosened(low, -1, VOLUME_TOLERANCE)
        if high is not None:
            ok &= volume <= _loosened(high, 1, VOLUME_TOLERANCE)
        return ok

    def describe(self, values) -> dict[str, list]:
        composition = values["composition"]
        return {
            "formula": self.formulas(composition),
            "n_atoms": composition.sum(dim=1).long().tolist(),
            "n_elements": (composition > 0).sum(dim=1).tolist(),
        }

    def formulas(self, composition: torch.Tensor) -> list[str]:
        """Unit-cell formulas (e.g. ``Fe4O6``) of compositions ``(B, 119)``, elements in
        electronegativity order (the usual cation-first order)."""
        names = element_symbols()
        counts = composition[:, self.z].long().tolist()
        zs = self.z.tolist()
        return [
            "".join(f"{names[int(z)]}{n}" for z, n in zip(zs, row, strict=True) if n > 0)
            for row in counts
        ]
