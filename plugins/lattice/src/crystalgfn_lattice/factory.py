"""The registered ``lattice`` environment: the paper's box, or the envelope of real crystals."""

from __future__ import annotations

from crystalgfn.errors import ConfigError

from crystalgfn_lattice.env import LatticeEnv


def lattice_env(
    min_length: float = 0.9,
    max_length: float = 100.0,
    min_angle: float = 50.0,
    max_angle: float = 150.0,
    lattice_system: str | int = "triclinic",
    n_components: int = 4,
    envelope: str | None = None,
) -> LatticeEnv:
    """A lattice environment (lengths in Å, angles in degrees).

    ``envelope=None`` (or ``"none"``) samples the box of the Crystal-GFN paper; a shipped
    envelope name (``"mp2018"``) samples inside the envelope of real crystals
    (:class:`~crystalgfn_lattice.plausible.PlausibleLatticeEnv`): the shape bound at once, and,
    in a stack with a composition environment, the cell volume window of each composition.
    """
    options = dict(
        min_length=min_length, max_length=max_length, min_angle=min_angle, max_angle=max_angle,
        lattice_system=lattice_system, n_components=n_components,
    )
    if envelope is None or envelope == "none":
        return LatticeEnv(**options)
    from crystalgfn_lattice.envelope import ENVELOPES

    if envelope not in ENVELOPES:
        raise ConfigError(
            f"unknown lattice envelope {envelope!r}; accepted: {['none', *ENVELOPES]}"
        )
    from crystalgfn_lattice.plausible import PlausibleLatticeEnv

    return PlausibleLatticeEnv(**options, envelope=envelope)


#: What the environments it builds accept in ``restrict`` (both kinds take the same).
lattice_env.restrictions = LatticeEnv.restrictions

__all__ = ["lattice_env"]
