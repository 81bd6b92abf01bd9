"""Fine-tune a copy of an MLP proxy ensemble on a second fidelity's labels (e.g. an oracle's).

The shipped ensembles learned DFT (PBE/PBE+U) targets. An active-learning campaign labels the
sampler's crystals with an oracle (a universal interatomic potential) whose energy scale is
not DFT's: those labels train a *separate copy* of the ensemble, written to its own weights
folder, and the shipped (DFT) weights are never touched. Each member of the copy starts from
the matching DFT member and is trained on every label given (full batch, AdamW), with

* an L1 loss in the DFT model's standardised target units (the normalisation statistics of
  the DFT training set are kept, so inputs and outputs mean the same as before);
* per-member Bayesian-bootstrap weights on the labels (Dirichlet(4) × N, numpy
  ``default_rng([seed, member])``), so that the members keep disagreeing where labels are
  few and the ensemble's std stays an uncertainty;
* an L2 pull towards the DFT weights (``anchor`` × Σ (θ − θ_DFT)², "L2-SP"): with a handful
  of labels, the copy stays the DFT model away from them.

The copy is written as ``model.pt`` (stacked members, float32) and ``metadata.json`` (the
DFT metadata plus ``fidelity`` and ``fine_tune``: labels, settings, the fit before and
after); the proxy class reads it with ``weights_path=<folder>``.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from crystalgfn.atomic import atomic_path, write_text
from crystalgfn.errors import ConfigError

from crystalgfn_mlp.ensemble import stack_members
from crystalgfn_mlp.features import featurize

#: concentration of the members' Bayesian-bootstrap label weights
CONCENTRATION = 4.0


def label_weights(n: int, seed: int, member: int) -> torch.Tensor:
    """Bayesian-bootstrap weights of ``n`` labels for ``member`` (mean 1)."""
    rng = np.random.default_rng([seed, member])
    weights = rng.gamma(CONCENTRATION, 1.0, size=n)
    return torch.from_numpy((weights / weights.mean()).astype(np.float32))


def fine_tune(proxy, batch: Mapping[str, torch.Tensor], labels: torch.Tensor, out: str | Path,
              *, steps: int = 200, lr: float = 1e-3, anchor: float = 1e-2, seed: int = 0,
              fidelity: str = "oracle") -> dict:
    """Write a copy of ``proxy`` (an :class:`~crystalgfn_mlp.MLPProxy`) fine-tuned on
    ``labels`` of the crystals ``batch`` to the folder ``out``; returns the keyword arguments
    that build the copy (``{"weights_path": out}``). ``proxy`` itself is left unchanged."""
    labels = torch.as_tensor(labels, dtype=torch.float32).flatten()
    n = labels.shape[0]
    if n < 1:
        raise ConfigError("fine-tuning needs at least one label")
    if not torch.isfinite(labels).all():
        raise ConfigError("fine-tuning labels must be finite")
    for name, value, low in (("steps", steps, 0), ("lr", lr, 0.0), ("anchor", anchor, 0.0)):
        if isinstance(value, bool) or value < low:
            raise ConfigError(f"fine-tune {name} must be >= {low}, got {value!r}")
    parts = {k: batch[k].detach().to("cpu") for k in ("spacegroup", "composition", "lattice")}
    if parts["composition"].shape[0] != n:
        raise ConfigError(
            f"fine-tuning got {parts['composition'].shape[0]} crystals but {n} labels")
    proxy.check_elements(parts["composition"])
    base_members = [m.to("cpu") for m in proxy._load()]
    with torch.no_grad():
        feats = featurize(parts)
    nonnegative = bool(proxy.metadata.get("nonnegative", False))
    tuned, before, after = [], [], []
    for k, base in enumerate(base_members):
        member = copy.deepcopy(base)
        member.eval()  # no dropout: a deterministic fit of few labels
        start = [p.detach().clone() for p in member.parameters()]
        for p in member.parameters():
            p.requires_grad_(True)
        torch.manual_seed(seed * 1009 + k)
        weights = label_weights(n, seed, k)
        target = (labels - member.target_mean) / member.target_std
        optimiser = torch.optim.AdamW(member.parameters(), lr=lr, weight_decay=0.0)
        with torch.no_grad():
            before.append(_mae(member(feats), labels, nonnegative))
        for _ in range(steps):
            fit = ((member.forward_standardised(feats) - target).abs() * weights).mean()
            pull = sum(((p - p0) ** 2).sum() for p, p0 in
                       zip(member.parameters(), start, strict=True))
            loss = fit + anchor * pull
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        for p in member.parameters():
            p.requires_grad_(False)
        with torch.no_grad():
            after.append(_mae(member(feats), labels, nonnegative))
        tuned.append(member)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    blob = io.BytesIO(proxy._read("model.pt"))
    config = torch.load(blob, map_location="cpu", weights_only=True)["config"]
    stacked = stack_members([m.state_dict() for m in tuned], "float32")
    metadata = dict(proxy.metadata)
    metadata["fidelity"] = fidelity
    metadata["fine_tune"] = {
        "from": "the proxy's own (DFT) weights, member by member",
        "labels": n, "steps": steps, "lr": lr, "anchor": anchor, "seed": seed,
        "loss": "L1 in the DFT model's standardised target units, Bayesian-bootstrap label "
                f"weights Dirichlet({CONCENTRATION}) x N per member (numpy default_rng([seed, "
                "member])), plus anchor x sum of squared parameter changes from the DFT weights",
        "label_mae_before": [round(v, 5) for v in before],
        "label_mae_after": [round(v, 5) for v in after],
        "note": "the uncertainty threshold is the DFT ensemble's (99th percentile of its std "
                "on the DFT validation crystals)",
    }
    with atomic_path(out / "model.pt") as temporary:
        torch.save({"config": config, "stacked": stacked, "storage_dtype": "float32"}, temporary)
    write_text(out / "metadata.json", json.dumps(metadata, indent=1) + "\n")
    return {"weights_path": str(out)}


def _mae(prediction: torch.Tensor, labels: torch.Tensor, nonnegative: bool) -> float:
    if nonnegative:
        prediction = prediction.clamp(min=0.0)
    return float((prediction - labels).abs().mean())
