"""Mask kernels of the composition environment: which steps keep a valid completion.

The forward mask allows a step (next element, its count, its label) only when the prefix
summary after it still has a valid completion (the tables of
:mod:`crystalgfn_composition.feasibility`); the backward mask allows undoing the last element.

With a binding predicted-volume bound (:meth:`~crystalgfn_composition.env.CompositionEnv.
with_volume_bounds`) a step must also keep a completion within it: with signed volumes
``w`` (Å³; minus the volumes for an upper bound), the step adding ``n`` atoms at position
``e`` is allowed when ``n w_e + T[next summary] >= bound - W_prefix``, ``T`` being the
(max, +) table of the largest signed volume a completion adds, and end-of-sequence when
``W_prefix >= bound``. ``W_prefix`` depends on the counts, not only on the prefix summary, so
that test runs per row (float64 ``(B, C)``), on the ``C`` columns that some summary allows;
the rest stays per summary. The tolerances are those of ``with_volume_bounds``.

A mixin of :class:`crystalgfn_composition.env.CompositionEnv`, which sets the attributes used.
"""

from __future__ import annotations

import numpy as np
import torch
from crystalgfn.env import compress_columns
from crystalgfn.states import State

from crystalgfn_composition.feasibility import (
    ANIONS,
    CATIONS,
    NEUTRAL_METAL,
    NEUTRAL_SINGLE,
    START,
)


class CompositionMasks:
    """Forward and backward masks of the composition environment."""

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
            check = getattr(self, "_volume_check", None)
            if check is not None:  # a bound binds (see _volume_fit)
                cache[key]["volume"] = self._volume_tensors(check, cache[key]["pairs"], device)
        return cache[key]

    def _volume_tensors(self, check, pairs, device) -> dict:
        """The binding volume bound's constants on ``device`` (see :meth:`_volume_fit`)."""
        weights = torch.as_tensor(check.weights, dtype=torch.float64, device=device)
        counts = torch.arange(1, self.max_count + 1, dtype=torch.float64, device=device)
        # Compact slack columns: the charged pairs, the neutral pairs, then one column of
        # zeros that every other action (end-of-sequence, never-allowed slots) reads.
        n_pairs = pairs["columns"].numel() + pairs["neutral_columns"].numel()
        pair_of_column = torch.full((self.n_actions,), n_pairs, dtype=torch.long, device=device)
        pair_of_column[torch.cat([pairs["columns"], pairs["neutral_columns"]])] = torch.arange(
            n_pairs, device=device
        )
        return dict(
            weights=weights,
            counts=counts,
            # Signed volume (Å³) of each step's own atoms, per pair and count: (Lc, M), (Ln, M).
            gain=weights[pairs["k"]][:, None] * counts[None],
            gain_neutral=weights[pairs["neutral_k"]][:, None] * counts[None],
            pair_of_column=pair_of_column,
            charged=check.tables.charged.to(device).reshape(-1),
            neutral=check.tables.neutral.to(device).reshape(-1),
            lookahead=check.lookahead,
            accept=check.accept,
        )

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
        compact, inverse, slack = per_summary
        if slack is None:
            return compact[inverse]
        columns, block = compress_columns(compact)
        mask = torch.zeros(
            inverse.shape[0], self.n_actions, dtype=torch.bool, device=compact.device
        )
        mask[:, columns] = self._volume_fit(
            state, t, block[inverse], self._slack_rows(slack, inverse, columns, t), columns
        )
        return mask

    @staticmethod
    def _slack_rows(slack, inverse, columns, t) -> torch.Tensor:
        """float64 ``(B, C)``: the per-summary ``slack`` (pair order) of each row on
        ``columns``."""
        # index_select twice is far cheaper than one two-dimensional advanced index.
        pairs = t["volume"]["pair_of_column"][columns]
        return slack.index_select(1, pairs).index_select(0, inverse)

    def mask_columns(self, state: State, forward: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`Environment.mask_columns`; the allowed columns are found on the distinct
        prefix summaries, before expanding to rows, so the full-width mask is never built."""
        per_summary = (
            self._mask_per_summary(state, self._tensors(state["last"].device)) if forward else None
        )
        if per_summary is None:
            return super().mask_columns(state, forward)
        compact, inverse, slack = per_summary
        columns, compact = compress_columns(compact)
        if slack is None:
            return columns, compact[inverse]
        t = self._tensors(state["last"].device)
        block = self._volume_fit(
            state, t, compact[inverse], self._slack_rows(slack, inverse, columns, t), columns
        )
        keep, block = compress_columns(block)
        return columns[keep], block

    def _volume_fit(
        self, state: State, t, block: torch.Tensor, slack: torch.Tensor, columns: torch.Tensor
    ) -> torch.Tensor:
        """``block`` (bool ``(B, C)``, the mask on ``columns`` (C,)) and the volume test of a
        binding bound: ``slack >= lookahead - W_prefix`` for steps (``slack`` float64
        ``(B, C)``, signed Å³) and ``W_prefix >= accept`` for end-of-sequence.

        ``W_prefix`` is summed in position order (``cumsum``), as the validity check sums the
        finished composition, so the end-of-sequence test rounds exactly like it."""
        vol = t["volume"]
        prefix = (state["counts"].double() * vol["weights"]).cumsum(dim=1)[:, -1]  # (B,)
        # slack >= lookahead - prefix rounds within an ulp of prefix + slack >= lookahead,
        # far inside the margin between the look-ahead and the acceptance tolerances, and
        # saves a (B, C) pass.
        fits = slack >= (vol["lookahead"] - prefix)[:, None]
        if columns.numel() and int(columns[-1]) == self.eos:  # columns ascend
            fits[:, -1] = prefix >= vol["accept"]
        return block & fits

    def _mask_per_summary(self, state: State, t):
        """``(masks of the distinct prefix summaries (U, n_actions), int64 row -> summary
        (B,), slack)``, or ``None`` when a charge lies outside the tables (use the dense
        mask). ``slack`` is ``None`` unless a volume bound binds; then it is float64
        ``(U, P + 1)``: per (position, label, count) pair of ``t["pairs"]``, the largest
        signed volume (Å³) the step and a completion after it add, which
        :meth:`_volume_fit` compares per row (column ``P`` is 0, read by every other action;
        ``t["volume"]["pair_of_column"]`` maps actions to these columns)."""
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
        compact, slack = self._forward_mask_compact(summary, t)
        return compact, inverse, slack

    def _forward_mask_compact(self, state: State, t) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:meth:`_forward_mask_dense` evaluated only on the slots listed in
        ``t["pairs"]`` (every other slot is always forbidden), without the volume test:
        ``(mask (U, n_actions), slack)``, ``slack`` as in :meth:`_mask_per_summary`."""
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
        # flat = (base + clamp(q)) * (G + 1) + next_g, in place: these (U, Lc, M) int64
        # temporaries are the largest arrays of a sampling step.
        flat = (
            q_index.clamp_(0, width - 1)
            .add_(p["base"][None])
            .mul_(n_states_plus)
            .add_(next_g[:, None, :])
        )
        charged_ok = torch.take(t["charged"], flat) & in_range & rule[:, :, None]
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
        vol = t.get("volume")
        if vol is None:
            return out, None
        slack = torch.cat(
            [
                self._allowed_slack(charged_ok, vol["gain"], vol["charged"], flat),
                self._allowed_slack(neutral_ok, vol["gain_neutral"], vol["neutral"], flat_n),
                torch.zeros(u, 1, dtype=torch.float64, device=device),
            ],
            dim=1,
        )
        return out, slack

    @staticmethod
    def _allowed_slack(ok, gain, table, flat) -> torch.Tensor:
        """float64 ``(U, L * M)``: ``gain[l, m] + table[flat[u, l, m]]`` where ``ok`` (bool
        ``(U, L, M)``) allows the step, 0 elsewhere (never read: the step is masked). Only
        allowed steps are gathered, since the float64 tables can be large (about 120 MB with
        the space groups' languages) and random reads from them dominate the cost. The
        operations are those of the dense reference, so both round alike, bit for bit."""
        slack = torch.zeros(ok.shape, dtype=torch.float64, device=ok.device)
        where = ok.nonzero(as_tuple=True)
        slack[where] = gain[where[1], where[2]] + table[flat[where]]
        return slack.reshape(ok.shape[0], -1)

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
        mask = torch.cat([mask, self._terminal(state, t)[:, None]], dim=1)
        vol = t.get("volume")
        if vol is None:
            return mask
        w = vol["weights"]
        slack = w[None, :, None, None] * vol["counts"][None, None, :, None] + vol["charged"][flat]
        slack[:, :, :, 0] = w[None, :, None] * vol["counts"][None, None, :] + vol["neutral"][flat_n]
        slack = torch.cat([slack.reshape(b, k * m * s), slack.new_zeros(b, 1)], dim=1)
        columns = torch.arange(self.n_actions, device=device)
        return self._volume_fit(state, t, mask, slack, columns)

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
