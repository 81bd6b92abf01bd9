"""Conditional GFlowNets: one model for a family of sampling-time restrictions.

* :mod:`~crystalgfn.conditioning.domains` — the values a restriction takes (declared by
  environments with :meth:`Environment.restriction_domains`);
* :mod:`~crystalgfn.conditioning.family` — the family a run is trained over;
* :mod:`~crystalgfn.conditioning.env` — :class:`ConditionalEnv`, the environment whose states
  carry their restriction;
* :mod:`~crystalgfn.conditioning.quality` — how close the sampler is to R/Z on one restriction,
  from its own samples.
"""

from crystalgfn.conditioning.domains import Count, Interval, Subset
from crystalgfn.conditioning.env import ConditionalEnv
from crystalgfn.conditioning.family import RestrictionFamily

__all__ = ["ConditionalEnv", "Count", "Interval", "RestrictionFamily", "Subset"]
