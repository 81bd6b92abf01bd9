"""The label-count dynamic programme of the composition environment: how many labellings
(one label per element) reach each finished composition, for the reward correction
:meth:`crystalgfn.Environment.log_label_count`.

A mixin of :class:`crystalgfn_composition.env.CompositionEnv`.
"""

from __future__ import annotations

import numpy as np
import torch
from crystalgfn.states import State


class CompositionLabelCount:
    """Counts the labellings of finished compositions."""

    def log_label_count(self, state: State) -> torch.Tensor:
        """Log of the number of valid labellings of each done state's composition, ``(B,)``
        float64. Rewards are divided by this count so that sampling is proportional to the
        reward of the composition, not of its labelled variants."""
        # Memoised per composition: training asks for the same compositions again and again
        # (replayed states, a policy that concentrates), and the DP below costs ~10 ms per
        # batch. The count depends on the counts row only, so the memo is exact; it lives in
        # the per-device tensor cache, which every copy or change of the environment drops.
        counts = state["counts"]
        if counts.shape[0] == 0:
            return torch.zeros(0, dtype=torch.float64, device=counts.device)
        memo = self._tensors(counts.device).setdefault("label_count_memo", {})
        rows, inverse = np.unique(counts.cpu().numpy(), axis=0, return_inverse=True)
        keys = [row.tobytes() for row in rows]
        missing = [i for i, key in enumerate(keys) if key not in memo]
        if missing:
            if len(memo) > 1_000_000:
                memo.clear()
            fresh = self._log_label_count(torch.from_numpy(rows[missing]).to(counts.device))
            memo.update(zip((keys[i] for i in missing), fresh.tolist(), strict=True))
        values = torch.tensor([memo[key] for key in keys], dtype=torch.float64)
        return values[torch.from_numpy(inverse.reshape(-1))].to(counts.device)

    def _log_label_count(self, counts: torch.Tensor) -> torch.Tensor:
        """:meth:`log_label_count` of the rows of ``counts`` ``(B, K)``, without the memo."""
        t = self._tensors(counts.device)
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
