"""Judging samples with an oracle: build atoms, relax, score stability, S.U.N.

``crystalgfn evaluate`` is :func:`crystalgfn.judge.evaluate.evaluate`. The pieces:

* :mod:`~crystalgfn.judge.inputs` — what is judged: rows of a samples CSV (atoms are placed
  by a structure builder) or CIF files (real structures);
* :mod:`~crystalgfn.judge.hull` — formation energies and energies above the convex hull from
  the oracle's own competing phases;
* :mod:`~crystalgfn.judge.item` — one input judged end to end (in a worker process);
* :mod:`~crystalgfn.judge.summary` — rates, medians and the proxy-vs-oracle comparison.

pymatgen is imported here, lazily: ``import crystalgfn`` does not need it.
"""

#: E above hull (eV/atom) at or below which a crystal counts as stable (the usual S.U.N.
#: threshold of crystal generators); ``stable_strict`` uses 0.
STABLE_THRESHOLD = 0.1
#: spglib tolerance (Å) of the symmetry checks before and after relaxation
SYMPREC = 0.1
#: two atoms closer than this (Å) make a structure unphysical: it is not relaxed
OVERLAP_DISTANCE = 0.5
