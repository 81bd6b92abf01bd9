"""Judging samples with an oracle, resumably (``crystalgfn evaluate``).

``crystalgfn evaluate`` is :func:`crystalgfn.judge.evaluate.evaluate`. Core runs the
evaluation; what is judged and how comes from a plugin:

* :mod:`~crystalgfn.judge.base` — the :class:`~crystalgfn.judge.base.Judge` a plugin
  registers (``register_judges``): it judges one input and declares the columns it reads and
  writes (the first-party S.U.N. judge of crystals is in ``crystalgfn-mlip``);
* :mod:`~crystalgfn.judge.inputs` — what is judged: rows of a samples CSV (objects are built
  by a structure builder) or files (e.g. CIF files of real structures);
* :mod:`~crystalgfn.judge.evaluate` — the resume log, worker processes and output files.
"""


def label_column(judge: str | None = None) -> str:
    """The ``evaluation.csv`` column of the judge's value that a proxy predicts (what an
    active-learning campaign refits on), as the registered judge declares it."""
    from crystalgfn.judge.evaluate import judge_class

    return judge_class(judge).label_column
