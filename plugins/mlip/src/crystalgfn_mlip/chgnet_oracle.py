"""The ``chgnet`` oracle: CHGNet 0.3.0, a universal interatomic potential trained on the
Materials Project's relaxation trajectories (MPtrj; GGA/GGA+U energies with the Materials
Project 2020 corrections).

The weights ship inside the ``chgnet`` wheel. They are read here with
``torch.load(weights_only=True)`` — CHGNet's own loader unpickles arbitrary objects — so no
code is executed from the file, and nothing is downloaded.
"""

from __future__ import annotations

import functools
import importlib.metadata
from importlib import resources

from crystalgfn.errors import ConfigError
from crystalgfn.oracle import Oracle, OracleReference, Relaxation

from crystalgfn_mlip.reference import load_reference
from crystalgfn_mlip.relax import relax_structure

MODEL_VERSION = "0.3.0"
#: the checkpoint inside the chgnet wheel (package-relative path)
CHECKPOINT = "pretrained/0.3.0/chgnet_0.3.0_e29f68s314m37.pth.tar"
#: CHGNet's element embedding covers atomic numbers 1-94
MAX_Z = 94


@functools.lru_cache(maxsize=2)
def load_model(device: str = "cpu"):
    """CHGNet 0.3.0 from the wheel's checkpoint, in eval mode on ``device`` (cached)."""
    import torch
    from chgnet.model import CHGNet

    path = resources.files("chgnet") / CHECKPOINT
    if not path.is_file():
        raise ConfigError(
            f"the CHGNet checkpoint {CHECKPOINT!r} is not inside the installed chgnet "
            f"{_version('chgnet')}; install chgnet==0.4.2"
        )
    with path.open("rb") as stream:
        state = torch.load(stream, map_location="cpu", weights_only=True)
    # mlp_out_bias=False is what chgnet's own loader passes for 0.3.0
    model = CHGNet.from_dict(state["model"], mlp_out_bias=False, version=MODEL_VERSION)
    return model.to(device).eval()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class ChgnetOracle(Oracle):
    """Relaxation with CHGNet 0.3.0 (FIRE, cell relaxed); energies in eV/atom on CHGNet's
    MP2020-compatible GGA/GGA+U scale. See :class:`crystalgfn.oracle.Oracle` for the
    arguments."""

    name = "chgnet"
    energy_scale = "CHGNet 0.3.0 (MPtrj: GGA/GGA+U with MP2020 corrections)"

    def __init__(self, *, device: str = "cpu", fmax: float = 0.1, steps: int = 300,
                 max_seconds: float = 600.0):
        super().__init__(device=device, fmax=fmax, steps=steps, max_seconds=max_seconds)
        self._calculator = None

    def calculator(self):
        """The ASE calculator (built on first use: loading takes about a second).

        :class:`~crystalgfn_mlip.calculator.OneBackwardChgnetCalculator` gives chgnet's
        energies, forces and stresses from one backward pass instead of two.
        """
        if self._calculator is None:
            import contextlib
            import io

            from crystalgfn_mlip.calculator import OneBackwardChgnetCalculator

            with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its size
                model = load_model(self.device)
            # on_isolated_atoms: an atom with no neighbour within CHGNet's 6 Å cutoff (a
            # gas-like cell) gets its isolated-atom energy, which puts such a crystal far
            # above the hull; chgnet would otherwise print a line at every step
            self._calculator = OneBackwardChgnetCalculator(
                model, device=self.device, on_isolated_atoms="ignore")
        return self._calculator

    def relax(self, structure) -> Relaxation:
        self.check_elements([element.symbol for element in structure.composition.elements])
        return relax_structure(structure, self.calculator(), fmax=self.fmax, steps=self.steps,
                               max_seconds=self.max_seconds)

    def supported_elements(self) -> frozenset[str]:
        from pymatgen.core import Element

        return frozenset(Element.from_Z(z).symbol for z in range(1, MAX_Z + 1))

    def reference(self) -> OracleReference:
        return load_reference()

    def versions(self) -> dict[str, str]:
        import torch

        return {"model": f"CHGNet {MODEL_VERSION}", "chgnet": _version("chgnet"),
                "ase": _version("ase"), "pymatgen": _version("pymatgen"),
                "torch": torch.__version__}
