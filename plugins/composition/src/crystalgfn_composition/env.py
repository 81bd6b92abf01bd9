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
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from crystalgfn.elements import atomic_numbers
from crystalgfn.elements import symbols as element_symbols
from crystalgfn.env import Environment, compress_columns
from crystalgfn.errors import ConfigError, InfeasibleError, UnknownNameError
from crystalgfn.states import State

from crystalgfn_composition import chemistry
from crystalgfn_composition.automaton import enumerate_multisets
from crystalgfn_composition.cached import cached_automaton, cached_tables
from crystalgfn_composition.feasibility import (
    ANIONS,
    CATIONS,
    NEUTRAL_METAL,
    NEUTRAL_SINGLE,
    START,
    Chemistry,
    automaton_arrays,
)

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


class CompositionEnv(Environment):
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
        """Whether a valid composition exists under the count language ``label``."""
        return bool(self.tables.source[self.start_of_language[label]])

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
        more required elements. Count languages are dropped (a stack re-applies them)."""
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

    # -- masks ------------------------------------------------------------------------------------
    def _tensors(self, device):
        """Constant tensors on ``device`` (cached per device)."""
        cache = self.__dict__.setdefault("_device_cache", {})
        key = str(device)
        if key not in cache:
            chem = self.chem
            k = len(self.symbols)
            limits = torch.tensor([chem.limit_after(last) for last in range(-1, k)], device=device)
            no_req = torch.tensor(
                [chem.no_required_after(last) for last in range(-1, k)], device=device
            )
            no_req[0] = False  # the empty composition is never finished
            cache[key] = dict(
                labels=torch.as_tensor(chem.labels, device=device),
                valid=torch.as_tensor(chem.slot_valid, device=device),
                en=torch.as_tensor(chem.electronegativity, device=device),
                metal=torch.as_tensor(chem.is_metal, device=device),
                limits=limits,
                no_required_after=no_req,
                trans=self.trans.to(device),
                accept=self.accept.to(device),
                sizes=self.sizes.to(device),
                charged=self.tables.charged.to(device).reshape(-1),
                neutral=self.tables.neutral.to(device).reshape(-1),
                z=self.z.to(device),
            )
            cache[key]["pairs"] = self._slot_pairs(device)
        return cache[key]

    def _slot_pairs(self, device) -> dict[str, torch.Tensor]:
        """The (position, label) slots that some state may allow, with their constant parts of
        the table indices and their action columns (for :meth:`_forward_mask_compact`)."""
        chem, m, s = self.chem, self.max_count, self.n_slots
        q_max = self.tables.max_charge
        width = 2 * q_max + 1
        counts = np.arange(1, m + 1)
        k_c, s_c = np.nonzero(chem.slot_valid[:, 1:] & (chem.labels[:, 1:] != 0))
        s_c = s_c + 1
        value = chem.labels[k_c, s_c]
        mode = np.where((value > 0) & chem.pauling, CATIONS, ANIONS)
        (k_n,) = np.nonzero(chem.slot_valid[:, 0])
        neutral_mode = np.where(chem.is_metal[k_n], 0, 1)
        n_states_plus = self.trans.shape[0]

        def as_tensor(a):
            return torch.as_tensor(np.ascontiguousarray(a), dtype=torch.long, device=device)

        return dict(
            k=as_tensor(k_c),
            value=as_tensor(value),
            mode=as_tensor(mode),
            shift=as_tensor(counts[None, :] * value[:, None]),  # (Lc, M)
            base=as_tensor((((k_c + 1) * 2 + (mode - CATIONS)) * width)[:, None]),  # (Lc, 1)
            columns=as_tensor(
                ((k_c[:, None] * m + counts[None, :] - 1) * s + s_c[:, None]).reshape(-1)
            ),
            neutral_k=as_tensor(k_n),
            neutral_base=as_tensor(((k_n + 1) * 2 + neutral_mode) * n_states_plus),
            neutral_columns=as_tensor(((k_n[:, None] * m + counts[None, :] - 1) * s).reshape(-1)),
        )

    def _terminal(self, state: State, t) -> torch.Tensor:
        """Bool ``(B,)``: the composition built so far is valid (may be closed now)."""
        mode, g = state["mode"], state["automaton"]
        ok = t["no_required_after"][state["last"] + 1] & t["accept"][g] & ~state["done"]
        charged_ok = ((mode == CATIONS) | (mode == ANIONS)) & (state["charge"] == 0)
        neutral_ok = (mode == NEUTRAL_SINGLE) | (
            (mode == NEUTRAL_METAL) & (self.chem.alloys | (t["sizes"][g] == 1))
        )
        return ok & (charged_ok | neutral_ok)

    def forward_mask(self, state: State) -> torch.Tensor:
        """Bool ``(B, n_actions)``. The mask is a function of the prefix summary ``(last,
        mode, charge, automaton, done)`` only, so it is computed once per distinct summary in
        the batch (typically several times fewer than rows), and only over the (element,
        label) slots that can ever be allowed; the result equals
        :meth:`_forward_mask_dense` bit for bit."""
        t = self._tensors(state["last"].device)
        per_summary = self._mask_per_summary(state, t)
        if per_summary is None:
            return self._forward_mask_dense(state, t)
        compact, inverse = per_summary
        return compact[inverse]

    def mask_columns(self, state: State, forward: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`Environment.mask_columns`; the allowed columns are found on the distinct
        prefix summaries, before expanding to rows, so the full-width mask is never built."""
        per_summary = (
            self._mask_per_summary(state, self._tensors(state["last"].device)) if forward else None
        )
        if per_summary is None:
            return super().mask_columns(state, forward)
        compact, inverse = per_summary
        columns, compact = compress_columns(compact)
        return columns, compact[inverse]

    def _mask_per_summary(self, state: State, t) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``(masks of the distinct prefix summaries (U, n_actions), int64 row -> summary
        (B,))``, or ``None`` when a charge lies outside the tables (use the dense mask)."""
        q_max = self.tables.max_charge
        charge = state["charge"]
        if charge.numel() == 0 or bool((charge.abs() > q_max).any()):
            return None
        width = 2 * q_max + 1
        n_g = self.trans.shape[0]
        last, mode, g, done = state["last"], state["mode"], state["automaton"], state["done"]
        key = ((((last + 1) * 5 + mode) * width + (charge + q_max)) * n_g + g) * 2 + done.long()
        unique, inverse = torch.unique(key, return_inverse=True)
        rest, u_done = unique.div(2, rounding_mode="floor"), (unique % 2).bool()
        rest, u_g = rest.div(n_g, rounding_mode="floor"), rest % n_g
        rest, u_charge = rest.div(width, rounding_mode="floor"), rest % width - q_max
        u_last, u_mode = rest.div(5, rounding_mode="floor") - 1, rest % 5
        summary = {
            "last": u_last, "mode": u_mode, "charge": u_charge, "automaton": u_g, "done": u_done
        }
        return self._forward_mask_compact(summary, t), inverse

    def _forward_mask_compact(self, state: State, t) -> torch.Tensor:
        """:meth:`_forward_mask_dense` evaluated only on the slots listed in
        ``t["pairs"]`` (every other slot is always forbidden)."""
        p = t["pairs"]
        u = state["last"].shape[0]
        k = len(self.symbols)
        device = state["last"].device
        positions = torch.arange(k, device=device)
        last, mode, charge = state["last"], state["mode"], state["charge"]
        open_ = ~state["done"]
        reachable = (positions[None] > last[:, None]) & (
            positions[None] <= t["limits"][last + 1][:, None]
        )
        reachable &= open_[:, None]  # (U, K)
        next_g = t["trans"][state["automaton"]][:, 1:]  # (U, M)
        n_states_plus = self.trans.shape[0]
        width = 2 * self.tables.max_charge + 1
        out = torch.zeros(u, self.n_actions, dtype=torch.bool, device=device)

        # Charged slots (U, Lc, M).
        kc, nmc = p["k"], p["mode"]
        from_start = mode == START
        from_cations = mode == CATIONS
        from_anions = mode == ANIONS
        en_up = t["en"][kc][None, :] > t["en"][last.clamp(min=0)][:, None]  # (U, Lc)
        is_cation, is_anion = (nmc == CATIONS)[None], (nmc == ANIONS)[None]
        rule = (
            from_start[:, None]
            | (from_cations[:, None] & (is_cation | (is_anion & en_up)))
            | (from_anions[:, None] & is_anion)
        )
        rule &= reachable[:, kc]
        q_index = (charge + self.tables.max_charge)[:, None, None] + p["shift"][None]  # (U, Lc, M)
        in_range = (q_index >= 0) & (q_index < width)
        flat = (p["base"][None] + q_index.clamp(0, width - 1)) * n_states_plus + next_g[:, None, :]
        charged_ok = t["charged"][flat] & in_range & rule[:, :, None]
        out[:, p["columns"]] = charged_ok.reshape(u, -1)

        # Neutral slot (U, Ln, M).
        kn = p["neutral_k"]
        metal = t["metal"][kn]
        to_metal = metal[None, :] & (from_start | (mode == NEUTRAL_METAL))[:, None]
        to_single = (~metal)[None, :] & from_start[:, None]
        flat_n = p["neutral_base"][None, :, None] + next_g[:, None, :]
        neutral_ok = t["neutral"][flat_n] & ((to_metal | to_single) & reachable[:, kn])[:, :, None]
        out[:, p["neutral_columns"]] = neutral_ok.reshape(u, -1)
        out[:, -1] = self._terminal(state, t)
        return out

    def _forward_mask_dense(self, state: State, t=None) -> torch.Tensor:
        """Reference implementation of :meth:`forward_mask` over the full ``(B, K, M, S)``
        grid (used for states whose charge lies outside the tables, and pinned by tests)."""
        t = t if t is not None else self._tensors(state["last"].device)
        b = state["last"].shape[0]
        k, m, s = len(self.symbols), self.max_count, self.n_slots
        device = state["last"].device
        positions = torch.arange(k, device=device)
        last, mode, charge = state["last"], state["mode"], state["charge"]
        open_ = ~state["done"]
        # (B, K): positions that may come next.
        reachable = (positions[None] > last[:, None]) & (
            positions[None] <= t["limits"][last + 1][:, None]
        )
        reachable &= open_[:, None]
        counts = torch.arange(1, m + 1, device=device)
        next_g = t["trans"][state["automaton"]][:, 1:]  # (B, M)
        n_states_plus = self.trans.shape[0]
        width = 2 * self.tables.max_charge + 1

        # Charged labels: (B, K, M, S).
        values = t["labels"]  # (K, S)
        new_mode = torch.where((values > 0) & self.chem.pauling, CATIONS, ANIONS)  # (K, S)
        from_start = mode == START
        from_cations = mode == CATIONS
        from_anions = mode == ANIONS
        en_up = t["en"][None, :] > t["en"][last.clamp(min=0)][:, None]  # (B, K)
        rule = (
            from_start[:, None, None]
            | (
                from_cations[:, None, None]
                & ((new_mode == CATIONS)[None] | ((new_mode == ANIONS)[None] & en_up[:, :, None]))
            )
            | (from_anions[:, None, None] & (new_mode == ANIONS)[None])
        )  # (B, K, S)
        rule &= t["valid"][None] & (values != 0)[None]
        q = charge[:, None, None, None] + counts[None, None, :, None] * values[None, :, None, :]
        q_index = q + self.tables.max_charge
        in_range = (q_index >= 0) & (q_index < width)
        flat = (
            ((positions[None, :, None, None] + 1) * 2 + (new_mode[None, :, None, :] - CATIONS))
            * width
            + q_index.clamp(0, width - 1)
        ) * n_states_plus + next_g[:, None, :, None]
        charged_ok = t["charged"][flat] & in_range & rule[:, :, None, :]

        # Neutral label (slot 0): (B, K, M).
        to_metal = t["metal"][None, :] & (from_start | (mode == NEUTRAL_METAL))[:, None]
        to_single = (~t["metal"])[None, :] & from_start[:, None]
        neutral_mode = torch.where(t["metal"], 0, 1)  # index into Tables.neutral
        flat_n = (
            (positions[None, :, None] + 1) * 2 + neutral_mode[None, :, None]
        ) * n_states_plus + next_g[:, None, :]
        neutral_ok = (
            t["neutral"][flat_n] & ((to_metal | to_single) & t["valid"][None, :, 0])[:, :, None]
        )

        mask = charged_ok
        mask[:, :, :, 0] = neutral_ok
        mask &= reachable[:, :, None, None]
        mask = mask.reshape(b, k * m * s)
        return torch.cat([mask, self._terminal(state, t)[:, None]], dim=1)

    def backward_mask(self, state: State) -> torch.Tensor:
        b = state["last"].shape[0]
        mask = torch.zeros(b, self.n_actions, dtype=torch.bool, device=state["last"].device)
        done = state["done"]
        mask[done, self.eos] = True
        open_rows = (~done & (state["last"] >= 0)).nonzero().squeeze(1)
        mask[open_rows, self._action_of_last(state, open_rows)] = True
        return mask

    def _action_of_last(self, state: State, rows: torch.Tensor) -> torch.Tensor:
        last = state["last"][rows]
        count = state["counts"][rows, last]
        slot = state["slots"][rows, last]
        return (last * self.max_count + (count - 1)) * self.n_slots + slot

    def decode(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(position, count, slot)`` of non-EOS actions, each int64 ``(B,)``."""
        per_position = self.max_count * self.n_slots
        return (
            actions // per_position,
            (actions // self.n_slots) % self.max_count + 1,
            actions % self.n_slots,
        )

    # -- transitions ------------------------------------------------------------------------------
    def step(self, state: State, actions: torch.Tensor, params=None) -> State:
        t = self._tensors(actions.device)
        new = {key: value.clone() for key, value in state.items()}
        eos = actions == self.eos
        new["done"] = state["done"] | eos
        rows = (~eos).nonzero().squeeze(1)
        if rows.numel():
            position, count, slot = self.decode(actions[rows])
            value = t["labels"][position, slot]
            new["counts"][rows, position] = count
            new["slots"][rows, position] = slot
            new["last"][rows] = position
            new["charge"][rows] = state["charge"][rows] + count * value
            new["automaton"][rows] = t["trans"][state["automaton"][rows], count]
            charged_mode = torch.where((value > 0) & self.chem.pauling, CATIONS, ANIONS)
            neutral_mode = torch.where(t["metal"][position], NEUTRAL_METAL, NEUTRAL_SINGLE)
            new["mode"][rows] = torch.where(slot == 0, neutral_mode, charged_mode)
        return new

    def _summary(self, counts: torch.Tensor, slots: torch.Tensor, start: torch.Tensor, t):
        """``(last, mode, charge, automaton)`` recomputed from counts and labels."""
        present = counts > 0
        k = counts.shape[1]
        positions = torch.arange(k, device=counts.device)
        last = torch.where(present, positions[None], -1).max(dim=1).values
        values = t["labels"][positions[None].expand_as(slots), slots.clamp(min=0)] * present
        charge = (counts * values).sum(dim=1)
        any_present = present.any(dim=1)
        charged = (present & (slots > 0)).any(dim=1)
        has_anion = (present & (values < 0)).any(dim=1)
        all_metal = (~present | t["metal"][None]).all(dim=1)
        if self.chem.pauling:
            charged_mode = torch.where(has_anion, ANIONS, CATIONS)
        else:
            charged_mode = torch.full_like(last, ANIONS)
        neutral_mode = torch.where(all_metal, NEUTRAL_METAL, NEUTRAL_SINGLE)
        mode = torch.where(charged, charged_mode, neutral_mode)
        mode = torch.where(any_present, mode, torch.full_like(mode, START))
        automaton = start.clone()
        for position in range(k):
            here = present[:, position]
            automaton = torch.where(here, t["trans"][automaton, counts[:, position]], automaton)
        return last, mode, charge, automaton

    def step_back(self, state: State, actions: torch.Tensor):
        t = self._tensors(actions.device)
        new = {key: value.clone() for key, value in state.items()}
        eos = actions == self.eos
        new["done"] = state["done"] & ~eos
        rows = (~eos).nonzero().squeeze(1)
        if rows.numel():
            position, _, _ = self.decode(actions[rows])
            new["counts"][rows, position] = 0
            new["slots"][rows, position] = -1
            last, mode, charge, automaton = self._summary(
                new["counts"][rows], new["slots"][rows], state["start"][rows], t
            )
            new["last"][rows], new["mode"][rows] = last, mode
            new["charge"][rows], new["automaton"][rows] = charge, automaton
        return new, None

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
        checked independently of the masks; ``within_space``: elements and counts allowed."""
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
        if self.oxidation_states is None:
            return {"within_space": within}
        cache: dict[tuple, bool] = {}
        charge = []
        for row in composition.tolist():
            key = tuple((names[z], n) for z, n in enumerate(row) if n > 0)
            if key not in cache:
                cache[key] = bool(key) and chemistry.is_valid_composition(
                    dict(key), self.oxidation_states, pauling=self.pauling, alloys=self.alloys
                )
            charge.append(cache[key])
        return {"charge_neutral": torch.tensor(charge, dtype=torch.bool), "within_space": within}

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

    def from_values(self, values: Mapping[str, torch.Tensor]) -> State:
        """Done states for compositions ``(B, 119)``, each with one valid labelling.

        Raises ``ValueError`` naming the first composition outside the space (unknown
        elements, too many atoms, or no valid labelling). Not on the hot path: it searches
        labellings per composition in Python.
        """
        composition = values["composition"]
        device = composition.device
        counts_all = composition.round().long()
        t = self._tensors(device)
        outside = counts_all.clone()
        outside[:, t["z"]] = 0
        if bool((outside != 0).any()):
            row = int((outside != 0).any(dim=1).nonzero()[0])
            extra_z = (outside[row] != 0).nonzero().squeeze(1).tolist()
            extra = [element_symbols()[z] for z in extra_z]
            raise ValueError(
                f"composition row {row} contains {extra}, outside the allowed elements "
                f"{list(self.symbols)}"
            )
        counts = counts_all[:, t["z"]]
        batch = counts.shape[0]
        state = self.source(batch, device)
        plans = [self._labelling(row, counts[row].tolist()) for row in range(batch)]
        for step in range(self.max_elements + 1):
            actions = torch.tensor(
                [plan[step] if step < len(plan) else -1 for plan in plans],
                dtype=torch.long,
                device=device,
            )
            rows = (actions >= 0).nonzero().squeeze(1)
            if rows.numel() == 0:
                break
            sub = {key: value[rows] for key, value in state.items()}
            stepped = self.step(sub, actions[rows])
            for key in state:
                state[key][rows] = stepped[key]
        return state

    def _labelling(self, row: int, counts: list[int]) -> list[int]:
        """Actions (in position order, then EOS) of one valid labelling of ``counts``."""
        chem = self.chem
        chosen = [(p, n) for p, n in enumerate(counts) if n > 0]
        if not chosen or any(n > self.max_count for _, n in chosen):
            raise ValueError(
                f"composition row {row} ({dict(zip(self.symbols, counts, strict=True))}) "
                "is outside the space"
            )

        def action(p: int, n: int, slot: int) -> int:
            return (p * self.max_count + (n - 1)) * self.n_slots + slot

        multiset = tuple(sorted(n for _, n in chosen))
        if self._accept_multiset(multiset):
            metals = all(chem.is_metal[p] for p, _ in chosen)
            if len(chosen) == 1 or (metals and chem.alloys):
                return [action(p, n, 0) for p, n in chosen] + [self.eos]
            options = [
                [s for s in range(1, self.n_slots) if chem.slot_valid[p, s]] for p, _ in chosen
            ]
            for slots in itertools.product(*options):
                if self._charged_labelling_valid(chosen, slots):
                    actions = [action(p, n, s) for (p, n), s in zip(chosen, slots, strict=True)]
                    return actions + [self.eos]
        nonzero = dict((s, n) for s, n in zip(self.symbols, counts, strict=True) if n)
        raise ValueError(
            f"composition row {row} ({nonzero}) is not valid "
            "in this environment (charge rule or count constraints)"
        )

    def _accept_multiset(self, multiset: tuple[int, ...]) -> bool:
        g = self.default_start
        for n in multiset:
            g = int(self.trans[g, n])
        return bool(self.accept[g])

    def _charged_labelling_valid(self, chosen, slots) -> bool:
        chem = self.chem
        values = [int(chem.labels[p, s]) for (p, _), s in zip(chosen, slots, strict=True)]
        if sum(n * v for (_, n), v in zip(chosen, values, strict=True)) != 0:
            return False
        if not chem.pauling:
            return True
        cation_en = [
            chem.electronegativity[p] for (p, _), v in zip(chosen, values, strict=True) if v > 0
        ]
        anion_en = [
            chem.electronegativity[p] for (p, _), v in zip(chosen, values, strict=True) if v < 0
        ]
        return not cation_en or not anion_en or max(cation_en) < min(anion_en)

    def log_label_count(self, state: State) -> torch.Tensor:
        """Log of the number of valid labellings of each done state's composition, ``(B,)``
        float64. Rewards are divided by this count so that sampling is proportional to the
        reward of the composition, not of its labelled variants."""
        t = self._tensors(state["counts"].device)
        counts = state["counts"]
        batch = counts.shape[0]
        # A labelling is counted only if its charge ends at 0, so after the first i elements
        # its partial charge lies within both what those elements can reach and what the
        # remaining ones can still cancel: |q_i| <= min(prefix_i, suffix_i), where prefix and
        # suffix sum n_k * max|label_k| (elements in DP order). Each row's dynamic programme
        # therefore only needs charges within its largest such window ("reach"); rows are
        # grouped by reach and each group runs on its own range. All counts are small
        # integers, exact in float64, so the result equals a DP over the full charge range.
        if "max_abs_label" not in t:
            t["max_abs_label"] = torch.where(t["valid"], t["labels"].abs(), 0).max(dim=1).values
        if batch == 0:
            return torch.zeros(0, dtype=torch.float64, device=counts.device)
        # The DP reads elements in position order; zeros (absent elements) do not move sums.
        magnitude = counts.clamp(min=0) * t["max_abs_label"][None]  # (B, K)
        prefix = magnitude.cumsum(dim=1)
        suffix = magnitude.sum(dim=1, keepdim=True) - prefix
        bound = torch.minimum(prefix, suffix).max(dim=1).values.clamp(max=self.tables.max_charge)
        out = torch.empty(batch, dtype=torch.float64, device=counts.device)
        low = 0
        for high in (32, 96, 224, self.tables.max_charge):
            rows = ((bound > low) & (bound <= high)) if low else (bound <= high)
            low = high
            if bool(rows.any()):
                index = rows.nonzero().squeeze(1)
                window = max(min(high, self.tables.max_charge), 1)
                out[index] = self._log_label_count_rows(counts[index], t, window)
        return out

    def _log_label_count_rows(self, counts: torch.Tensor, t, q_max: int) -> torch.Tensor:
        """:meth:`log_label_count` of ``counts`` ``(B, K)`` whose labellings' partial charges
        all lie within ``[-q_max, q_max]``."""
        device = counts.device
        batch, k = counts.shape
        present = counts > 0
        width = 2 * q_max + 1
        # The i-th present element of each row (positions ascending), padded with -1.
        positions = torch.arange(k, device=device)
        ranked = torch.where(present, positions[None], k).sort(dim=1).values[:, : self.max_elements]
        # ways[b, phase, q]: labellings of the elements read so far with total charge q;
        # phase 0 = only cations (or nothing) so far, 1 = an anion present.
        ways = torch.zeros(batch, 2, width, dtype=torch.float64, device=device)
        ways[:, 0, q_max] = 1.0
        previous_en = torch.full((batch,), -float("inf"), dtype=torch.float64, device=device)
        grid = torch.arange(width, device=device)
        en = t["en"].double()
        for i in range(ranked.shape[1]):
            here = ranked[:, i] < k
            if not bool(here.any()):
                break
            position = ranked[:, i].clamp(max=k - 1)
            n = counts.gather(1, position[:, None]).squeeze(1)
            labels, valid = t["labels"][position], t["valid"][position]  # (B, S)
            en_here = en[position]
            new = torch.zeros_like(ways)
            for slot in range(1, self.n_slots):
                value = labels[:, slot]
                usable = valid[:, slot] & here
                if not bool(usable.any()):
                    continue
                source_index = grid[None] - (n * value)[:, None]
                inside = (source_index >= 0) & (source_index < width) & usable[:, None]
                gathered = ways.gather(
                    2, source_index.clamp(0, width - 1)[:, None].expand(-1, 2, -1)
                )
                gathered = gathered * inside[:, None]
                if self.chem.pauling:
                    cation = (value > 0)[:, None]
                    anion_after_cations = (en_here > previous_en)[:, None]
                    new[:, 0] += torch.where(cation, gathered[:, 0], 0.0)
                    new[:, 1] += torch.where(
                        cation, 0.0, gathered[:, 1] + gathered[:, 0] * anion_after_cations
                    )
                else:
                    new[:, 1] += gathered[:, 0] + gathered[:, 1]
            ways = torch.where(here[:, None, None], new, ways)
            previous_en = torch.where(here, en_here, previous_en)
        if self.oxidation_states is not None:
            charged = ways[:, :, q_max].sum(dim=1)
        else:
            charged = torch.zeros(batch, dtype=torch.float64, device=device)
        all_metal = (~present | t["metal"][None]).all(dim=1)
        neutral = (present.sum(dim=1) == 1) | (all_metal & self.chem.alloys)
        return torch.log((charged + neutral.double()).clamp(min=1.0))
