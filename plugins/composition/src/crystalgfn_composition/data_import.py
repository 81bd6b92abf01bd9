"""Data import of the composition environment: done states from atom counts
(:meth:`CompositionImport.from_values`), choosing a valid labelling for each composition.

A mixin of :class:`crystalgfn_composition.env.CompositionEnv`.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
from crystalgfn.elements import symbols as element_symbols
from crystalgfn.states import State


class CompositionImport:
    """Done composition states from atom counts."""

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
