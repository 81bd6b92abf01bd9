"""``MLPProxy``: a :class:`crystalgfn.proxy.Proxy` backed by a trained :class:`CrystalMLP`.

A subclass names its package and the folder holding ``model.pt`` and ``metadata.json``::

    class FormationEnergy(MLPProxy):
        name = "formation_energy"
        unit = "eV/atom"
        weights_package = "crystalgfn_formation_energy"
        weights_dir = "weights"

Weights, normalisation statistics and metadata are read lazily (first prediction or first
access to :attr:`metadata`) through ``importlib.resources``, so registering and listing the
proxy costs nothing. A ``weights_path`` keyword overrides the packaged folder. ``model.pt``
holds one model (``state_dict``) or an ensemble: ``stacked`` (every parameter and buffer of
the K members as one ``(K, ...)`` tensor) or ``members`` (a list of state dicts). Tensors may
be stored as float16 or bfloat16 (the shipped ensembles' parameters are float16, to keep the
files small); they are cast to float32 on load, and the members predict in float32 on the
proxy's ``device``. Prediction
runs under ``torch.no_grad`` in chunks of ``chunk_size`` crystals (4096 keeps the
intermediates cache-sized and avoids re-faulting large allocations; see
``bench/bench_inference.py``).

Ensembles: a member's prediction is its output, clipped at 0 for a ``nonnegative`` target;
:meth:`MLPProxy.predict` returns the mean of the members' predictions and
:meth:`MLPProxy.predict_with_uncertainty` returns ``(mean, std)``, the std being the standard
deviation across members (``unbiased=False``: the spread of the K predictions), in the
proxy's unit. ``uncertainty`` is declared when the weights hold ≥ 2 members and the
metadata records the flag threshold (``metadata["uncertainty"]``).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import ClassVar

import torch
from crystalgfn.elements import symbols
from crystalgfn.errors import CrystalGFNError
from crystalgfn.proxy import Proxy, Uncertainty

from crystalgfn_mlp.features import featurize
from crystalgfn_mlp.model import CrystalMLP


class UnsupportedElementError(CrystalGFNError, ValueError):
    """A composition contains elements the proxy never saw in training."""


class MLPProxy(Proxy):
    requires: ClassVar[tuple[str, ...]] = ("spacegroup", "composition", "lattice")
    #: Package holding the weights folder (``importlib.resources`` anchor).
    weights_package: ClassVar[str] = ""
    #: Folder inside ``weights_package`` with ``model.pt`` and ``metadata.json``.
    weights_dir: ClassVar[str] = "weights"

    def __init__(self, device: torch.device | str = "cpu", chunk_size: int = 4096,
                 weights_path: str | Path | None = None):
        self.device = torch.device(device)
        self.chunk_size = int(chunk_size)
        self.weights_path = None if weights_path is None else Path(weights_path)
        self._model: CrystalMLP | None = None
        self._metadata: dict | None = None
        self._accepted: torch.Tensor | None = None

    # ------------------------------------------------------------------ loading
    def _read(self, filename: str) -> bytes:
        if self.weights_path is not None:
            return (self.weights_path / filename).read_bytes()
        if not self.weights_package:
            raise CrystalGFNError(f"{type(self).__name__} sets no weights_package")
        folder = resources.files(self.weights_package).joinpath(self.weights_dir)
        return folder.joinpath(filename).read_bytes()

    @property
    def metadata(self) -> dict:
        """The training metadata (data set, split, hyper-parameters, MAEs, elements)."""
        if self._metadata is None:
            self._metadata = json.loads(self._read("metadata.json"))
        return self._metadata

    @property
    def accepted_elements(self) -> tuple[str, ...]:
        """Element symbols seen in training; compositions with others are rejected."""
        return tuple(self.metadata["accepted_elements"])

    def _load(self) -> list[CrystalMLP]:
        """The ensemble members (a single model is a one-member list)."""
        if self._model is None:
            blob = torch.load(io.BytesIO(self._read("model.pt")), map_location="cpu",
                              weights_only=True)
            cfg = blob["config"]
            if "stacked" in blob:
                stacked = blob["stacked"]
                count = int(next(iter(stacked.values())).shape[0])
                states = [{k: v[i] for k, v in stacked.items()} for i in range(count)]
            elif "members" in blob:
                states = blob["members"]
            else:
                states = [blob["state_dict"]]
            # Stored as float16/bfloat16 to keep the file small: computed in float32.
            states = [{k: v.float() if v.is_floating_point() else v for k, v in state.items()}
                      for state in states]
            members = []
            for state in states:
                model = CrystalMLP(cfg["n_dense"], hidden=cfg["hidden"], dropout=cfg["dropout"],
                                   layer_norm=cfg["layer_norm"])
                model.load_state_dict(state)
                model.eval()
                for p in model.parameters():
                    p.requires_grad_(False)
                members.append(model.to(self.device))
            self._model = members
            z_of = {s: z for z, s in enumerate(symbols()) if s}
            accepted = torch.zeros(119, dtype=torch.bool)
            accepted[[z_of[s] for s in self.accepted_elements]] = True
            self._accepted = accepted.to(self.device)
        return self._model

    @property
    def members(self) -> int:
        """Number of ensemble members in the weights (1: a single model)."""
        return len(self._load())

    @property
    def uncertainty(self) -> Uncertainty | None:
        """Declared for an ensemble whose metadata records the flag threshold, else None."""
        declared = self.metadata.get("uncertainty")
        if not declared or self.members < 2:
            return None
        return Uncertainty(kind="ensemble", members=self.members,
                           threshold=float(declared["threshold"]),
                           threshold_rule=str(declared.get("threshold_rule", "")))

    def to(self, device: torch.device | str) -> MLPProxy:
        self.device = torch.device(device)
        if self._model is not None:
            self._model = [m.to(self.device) for m in self._model]
            self._accepted = self._accepted.to(self.device)
        return self

    # ------------------------------------------------------------------ prediction
    def check_elements(self, composition: torch.Tensor) -> None:
        """Raise :class:`UnsupportedElementError` if any composition holds an unseen element."""
        self._load()
        used = (composition > 0).any(0)
        bad = used & ~self._accepted.to(used.device)
        if bool(bad.any()):
            sym = symbols()
            names = [sym[z] for z in torch.nonzero(bad).flatten().tolist()]
            rows = torch.nonzero((composition[:, bad] > 0).any(1)).flatten()[:5].tolist()
            raise UnsupportedElementError(
                f"proxy {self.name!r} was trained without the element(s) {', '.join(names)} "
                f"(found in batch rows {rows}{' ...' if len(rows) == 5 else ''}); it accepts "
                f"only: {', '.join(self.accepted_elements)}. Restrict the composition "
                f"environment to these elements.")

    @torch.no_grad()
    def member_predictions(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Every member's predictions, ``(K, B)`` (clipped at 0 for a nonnegative target)."""
        members = self._load()
        parts = {k: batch[k].to(self.device) for k in ("spacegroup", "composition", "lattice")}
        self.check_elements(parts["composition"])
        n = parts["composition"].shape[0]
        outs = []
        for start in range(0, max(n, 1), self.chunk_size):
            chunk = {k: v[start:start + self.chunk_size] for k, v in parts.items()}
            feats = featurize(chunk)
            outs.append(torch.stack([member(feats) for member in members]))
        out = torch.cat(outs, dim=1)[:, :n]
        if self.metadata.get("nonnegative", False):
            out = torch.clamp(out, min=0.0)
        return out

    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The mean of the members' predictions ``(B,)``."""
        return self.member_predictions(batch).mean(0)

    def predict_with_uncertainty(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)`` across the members, ``(B,)`` each, in the proxy's unit (std 0 for a
        single model)."""
        values = self.member_predictions(batch)
        return values.mean(0), values.std(0, unbiased=False)

    # ------------------------------------------------------------------ second fidelity
    def fine_tune(self, batch: Mapping[str, torch.Tensor], labels: torch.Tensor,
                  out: str | Path, **settings) -> dict:
        """Write a copy of this ensemble fine-tuned on another fidelity's ``labels`` (e.g. an
        oracle's) of the crystals ``batch`` to ``out``; returns the keyword arguments that
        build the copy (``weights_path``). This proxy's weights are left unchanged. See
        :func:`crystalgfn_mlp.finetune.fine_tune` for ``settings``."""
        from crystalgfn_mlp.finetune import fine_tune

        return fine_tune(self, batch, labels, out, **settings)
