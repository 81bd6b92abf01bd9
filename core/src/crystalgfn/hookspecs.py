"""The plugin contract: every hook Crystal-GFN calls, declared once.

A plugin is a module (or object) with functions named like the specifications below and
decorated with :data:`crystalgfn.hookimpl`. It is found through the entry-point group
``crystalgfn`` of its distribution::

    [project.entry-points.crystalgfn]
    my_plugin = "my_package.plugin"

Each hook receives a ``register`` callable. Register *factories* (classes), not instances,
so that listing plugins stays cheap; Crystal-GFN calls the factory with the user's keyword
arguments when the object is needed.
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "crystalgfn"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_envs(register):
    """Register environment classes.

    Call ``register(EnvClass)`` once per class; the registered name is ``EnvClass.name``
    (or pass ``name="..."``). The class must subclass :class:`crystalgfn.Environment`.
    The name is what users write in ``make_env("spacegroup+composition+lattice")``.

    ``restrictions=[crystalgfn.restrictions.Restriction(...), ...]`` declares the
    sampling-time restrictions the class's ``restrict`` accepts (name, kind, help): the
    ``crystalgfn sample``/``report`` flags are built from them, without importing the class.
    """


@hookspec
def register_presets(register):
    """Register presets: names that stand for a whole stack.

    Call ``register(name, spec)``, e.g. ``register("crystal", "spacegroup+composition+lattice")``;
    then ``make_env(name)`` (and ``env = "name"`` in a run config) builds that stack. A preset
    may also be one part of a longer spec (``"crystal+mine"``). An environment of the same
    name wins over a preset.
    """


@hookspec
def register_proxies(register):
    """Register proxy classes (property predictors that rewards are computed from).

    Call ``register(ProxyClass)``; the name is ``ProxyClass.name``. The class must subclass
    :class:`crystalgfn.Proxy` and declare the state parts it reads in ``requires``. An exact
    property of a state (not a prediction) may be registered with ``describes=True``: sample
    tables then get its column wherever the environment provides its ``requires``.
    """


@hookspec
def register_losses(register):
    """Register GFlowNet training objectives.

    Call ``register(LossClass)``; the name is ``LossClass.name`` (e.g. ``"tb"``). The class
    must subclass :class:`crystalgfn.Loss`.
    """


@hookspec
def register_policies(register):
    """Register policies (networks from encoded states to action logits).

    Call ``register(PolicyClass)``; the name is ``PolicyClass.name`` (e.g. ``"mlp"``), chosen
    with ``policy = "NAME"`` in a run config (``[policy_kwargs]`` are its keyword arguments).
    The class must subclass :class:`crystalgfn.policy.Policy`; Crystal-GFN builds it with
    ``PolicyClass.from_settings(env, settings, outputs, **policy_kwargs)``.
    """


@hookspec
def register_constraints(register):
    """Register cross-environment constraints.

    Call ``register(source, target, constraint)`` where ``source`` and ``target`` are
    environment names and ``constraint`` is a :class:`crystalgfn.Constraint` subclass. When a
    stack built by :func:`crystalgfn.make_env` places ``source`` before ``target``, the
    constraint makes the target's masks depend on the finished source part, and prunes the
    source's choices to those the target can complete.
    """


@hookspec
def register_structure_builders(register):
    """Register structure builders (coordinate completion: crystallographic parameters ->
    atomic structure).

    Call ``register(BuilderClass)``; the name is ``BuilderClass.name`` (e.g. ``"pyxtal"``),
    chosen with ``crystalgfn structures --backend NAME``. Crystal-GFN calls the class with
    keyword arguments (``seed``, ``min_distance_scale``, ``min_distance``, ``timeout``) and
    the instance's ``write(samples_csv, out_dir, reference=None, jobs=1)`` writes the CIFs,
    the index and the metrics and returns the metrics as a dict. Subclass
    ``crystalgfn_structures.StructureBuilder`` and implement ``place`` to get all of that.
    ``crystalgfn evaluate`` calls the instance's ``place_row(row, number)`` (one samples-CSV
    row and its row number) and reads ``structure`` (or ``None``), ``reason`` and ``detail``
    of what it returns.
    """


@hookspec
def register_oracles(register):
    """Register oracles: independent judges that relax atomic structures and give their
    energies (e.g. a universal interatomic potential).

    Call ``register(OracleClass)``; the name is ``OracleClass.name`` (e.g. ``"chgnet"``),
    chosen with ``crystalgfn evaluate --oracle NAME``. The class must subclass
    :class:`crystalgfn.oracle.Oracle`; Crystal-GFN calls it with keyword arguments
    (``device``, ``fmax``, ``steps``, ``max_seconds``) and uses ``relax``, ``reference`` and
    ``versions``.
    """


@hookspec
def register_judges(register):
    """Register judges: what ``crystalgfn evaluate`` does to each input, and the columns of
    its ``evaluation.csv`` and ``summary.json``.

    Call ``register(JudgeClass)``; the name is ``JudgeClass.name`` (the first-party one is
    ``"sun"``: stable, unique, novel crystals). The class must subclass
    :class:`crystalgfn.judge.base.Judge` and declare its columns there (``columns``,
    ``sample_columns``, ``prediction_column``, ``label_column``); core runs the evaluation
    (resume log, workers, files) and reports read the columns by what it declares.
    """


@hookspec
def register_report_parts(register):
    """Register how reports read and show one state part (e.g. what a lattice plot is).

    Call ``register(ReportPartClass)``; the name is ``ReportPartClass.name``, the name of the
    part it reads (one of an environment's ``provides``). The class must subclass
    :class:`crystalgfn.report.parts.ReportPart`: it declares the table columns the part is
    read back from (with their labels and units), and may add diversity counts, top-k table
    columns and plots. A part without one is summarised from its numeric columns only.
    """


@hookspec
def register_reference_formats(register):
    """Register table formats a report's ``--reference`` may come in besides the sample format
    (e.g. a Materials Project table).

    Call ``register(FormatClass)``; the name is ``FormatClass.name``. The class must subclass
    :class:`crystalgfn.report.reference.ReferenceFormat`: ``columns`` identify the format by
    its header and ``convert(path)`` gives the columns of the sample format.
    """
