"""The MLP: a sparse-friendly first layer followed by a plain SiLU multilayer perceptron.

First layer (width ``hidden[0]``)::

    h0 = W_dense · standardise(dense) + E_sg[spacegroup] + Σ_k fraction_k · E_el[element_k] + b

which is exactly a linear layer over ``[dense, one_hot(spacegroup), composition fractions]``
computed with gathers. Then ``SiLU → Linear`` blocks with optional LayerNorm and dropout,
and a linear output de-standardised with the training target's mean and standard deviation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from crystalgfn_mlp.features import Features


class CrystalMLP(nn.Module):
    def __init__(self, n_dense: int, hidden: Sequence[int] = (256, 256, 128),
                 dropout: float = 0.0, layer_norm: bool = True):
        super().__init__()
        width = hidden[0]
        self.dense_in = nn.Linear(n_dense, width)
        self.sg_embed = nn.Embedding(230, width)
        self.el_embed = nn.Embedding(119, width)
        nn.init.normal_(self.sg_embed.weight, std=0.05)
        nn.init.normal_(self.el_embed.weight, std=0.3)
        layers: list[nn.Module] = []
        if layer_norm:
            layers.append(nn.LayerNorm(width))
        layers.append(nn.SiLU())
        for w_in, w_out in zip(hidden[:-1], hidden[1:], strict=True):
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            layers.append(nn.Linear(w_in, w_out))
            if layer_norm:
                layers.append(nn.LayerNorm(w_out))
            layers.append(nn.SiLU())
        layers.append(nn.Linear(hidden[-1], 1))
        self.body = nn.Sequential(*layers)
        self.register_buffer("dense_mean", torch.zeros(n_dense))
        self.register_buffer("dense_std", torch.ones(n_dense))
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    def set_normalisation(self, dense_mean, dense_std, target_mean, target_std) -> None:
        self.dense_mean.copy_(torch.as_tensor(dense_mean))
        self.dense_std.copy_(torch.clamp(torch.as_tensor(dense_std), min=1e-6))
        self.target_mean.copy_(torch.as_tensor(target_mean))
        self.target_std.copy_(torch.as_tensor(target_std))

    def forward_standardised(self, f: Features) -> torch.Tensor:
        """Prediction in standardised target units, ``(B,)``."""
        dense = (f.dense - self.dense_mean) / self.dense_std
        h = self.dense_in(dense) + self.sg_embed(f.spacegroup)
        h = h + nn.functional.embedding_bag(f.elements, self.el_embed.weight,
                                            per_sample_weights=f.fractions, mode="sum")
        return self.body(h).squeeze(-1)

    def forward(self, f: Features) -> torch.Tensor:
        """Prediction in target units, ``(B,)``."""
        return self.forward_standardised(f) * self.target_std + self.target_mean
