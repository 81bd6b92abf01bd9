"""The S.U.N. judge of crystals (``crystalgfn evaluate``): atoms placed by a structure
builder (or read from CIF files), relaxed by an oracle, scored for stability on the oracle's
own hull, uniqueness within the set and novelty against known crystals.

Core runs the evaluation (:mod:`crystalgfn.judge.evaluate`); this package knows crystals:

* :mod:`~crystalgfn_mlip.judge.item` — one input judged end to end (in a worker process),
  and the columns the judge declares;
* :mod:`~crystalgfn_mlip.judge.hull` — formation energies and energies above the convex hull
  from the oracle's own competing phases;
* :mod:`~crystalgfn_mlip.judge.uniqueness` — uniqueness of the relaxed structures;
* :mod:`~crystalgfn_mlip.judge.summary` — rates, medians and the proxy-vs-oracle comparison.

pymatgen is imported lazily: registering the judge does not need it.
"""

#: E above hull (eV/atom) at or below which a crystal counts as stable (the usual S.U.N.
#: threshold of crystal generators); ``stable_strict`` uses 0.
STABLE_THRESHOLD = 0.1
#: spglib tolerance (Å) of the symmetry checks before and after relaxation
SYMPREC = 0.1
#: two atoms closer than this (Å) make a structure unphysical: it is not relaxed
OVERLAP_DISTANCE = 0.5
