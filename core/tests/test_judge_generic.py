"""``crystalgfn evaluate`` runs whatever judge is registered: core writes the columns, the
summary and the saved objects the judge declares, and knows none of them itself."""

from __future__ import annotations

import csv
import json

import pytest
from crystalgfn.errors import ConfigError, PluginLoadError
from crystalgfn.judge import label_column
from crystalgfn.judge.base import Judge, Outcome
from crystalgfn.judge.evaluate import evaluate, judge_class
from crystalgfn.plugins import get_plugins


class ToyOracle:
    """Stands in for an oracle: "relaxes" a number to its half."""

    name = "toy-oracle"
    energy_scale = "halves"

    def __init__(self, **settings):
        self.options = settings

    def settings(self) -> dict:
        return {"oracle": self.name}

    def versions(self) -> dict:
        return {"toy": "1"}

    def reference(self):
        class Reference:
            entries = ()
            provenance = {"source": "none"}

        return Reference()


class ToyBuilder:
    name = "toy-builder"

    def __init__(self, seed=0):
        self.seed = seed


class ToyJudge(Judge):
    name = "toy"
    columns = ("row", "size", "half", "predicted", "rank")
    sample_columns = ("size",)
    prediction_column = "guess"
    label_column = "half"
    suffix = ".txt"

    def __init__(self, oracle, builders):
        self.oracle, self.builders = oracle, builders

    def __call__(self, item) -> Outcome:
        size = float(item.sample["size"])
        row = {"row": item.row, "size": size, "half": size / 2, "predicted": item.prediction}
        return Outcome(row, structure=f"object of size {size}")

    @classmethod
    def check_file(cls, path, oracle) -> None:
        raise ConfigError("the toy judge reads no files")

    @staticmethod
    def save(structure, path) -> None:
        path.write_text(structure)

    @classmethod
    def finish(cls, out_dir, rows) -> None:
        for rank, row in enumerate(sorted(rows, key=lambda r: r["half"]), start=1):
            row["rank"] = rank

    @classmethod
    def summarise(cls, rows, kind) -> dict:
        return {"n": len(rows), "rates": {"small": sum(r["half"] < 1 for r in rows) / len(rows)}}


@pytest.fixture
def toy_plugins():
    plugins = get_plugins()
    added = [(plugins.judges, ToyJudge), (plugins.oracles, ToyOracle),
             (plugins.structure_builders, ToyBuilder)]
    for name in plugins.judges.names():  # the toy judge alone, as a third party's would be
        plugins.judges.remove(name)
    for registry, factory in added:
        registry.add(factory, distribution="(session)")
    yield
    from crystalgfn.plugins import reset_plugins

    reset_plugins()


def test_core_writes_what_the_registered_judge_declares(tmp_path, toy_plugins):
    samples = tmp_path / "samples.csv"
    samples.write_text("size,guess\n4,1.5\n1,\n")
    summary = evaluate(samples, tmp_path / "out", oracle="toy-oracle", builder="toy-builder")
    assert judge_class() is ToyJudge and label_column() == "half"
    assert summary["n"] == 2 and summary["rates"] == {"small": 0.5}
    assert summary["oracle"] == "toy-oracle" and summary["versions"] == {"toy": "1"}
    with open(tmp_path / "out" / "evaluation.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == list(ToyJudge.columns)
    assert [(r["half"], r["predicted"], r["rank"]) for r in rows] == [
        ("2.0", "1.5", "2"), ("0.5", "", "1")]
    assert (tmp_path / "out" / "relaxed" / "1.txt").read_text() == "object of size 4.0"
    settings = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert settings["builder"] == "toy-builder" and settings["thresholds"] == {}


def test_a_samples_file_needs_the_columns_the_judge_declares(tmp_path, toy_plugins):
    samples = tmp_path / "samples.csv"
    samples.write_text("formula\nNaCl\n")
    with pytest.raises(ConfigError, match=r"lacks the column\(s\) \['size'\]"):
        evaluate(samples, tmp_path / "out", oracle="toy-oracle", builder="toy-builder")


@pytest.mark.parametrize("kind", ["judges", "report_parts", "reference_formats"])
def test_a_registered_class_of_the_wrong_base_is_refused_by_name(kind):
    from crystalgfn.plugins import reset_plugins
    from crystalgfn.report.parts import report_parts
    from crystalgfn.report.reference import _formats

    class NotAJudge:
        name = "impostor"

    plugins = get_plugins()
    registry = getattr(plugins, kind)
    for name in registry.names():
        registry.remove(name)
    registry.add(NotAJudge, distribution="crystalgfn-impostor")
    lookup = {"judges": judge_class, "report_parts": report_parts, "reference_formats": _formats}
    try:
        expected = (r"'impostor' from distribution 'crystalgfn-impostor' is .*NotAJudge.*, "
                    r"not a subclass of crystalgfn\.")
        with pytest.raises(PluginLoadError, match=expected):
            lookup[kind]()
    finally:
        reset_plugins()


class _BlasThreadsJudge:
    """Records how many BLAS threads numpy may use while an item is judged."""

    def __call__(self, item):
        from threadpoolctl import threadpool_info

        counts = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
        return Outcome({"row": item.row, "blas_threads": max(counts, default=1)})


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_worker_judges_with_one_blas_thread(jobs):
    """A relaxation's many 3 × 3 BLAS calls must not wake a thread per core in every worker:
    on 2 cores that made a CHGNet step 3.5× slower (bench/judge_cost.json)."""
    from crystalgfn.judge.evaluate import _run
    from crystalgfn.judge.inputs import Item
    from threadpoolctl import threadpool_limits

    items = [Item(row=row, formula="NaCl", space_group=225, sample={}) for row in (1, 2, 3)]
    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine, at least
        outcomes = list(_run(_BlasThreadsJudge(), items, jobs))
    assert sorted(outcome.row["row"] for outcome in outcomes) == [1, 2, 3]
    assert {outcome.row["blas_threads"] for outcome in outcomes} == {1}
