"""An active-learning campaign: rounds of train, sample, acquire, label, refit, log.

Files in the campaign folder (``--out``):

* ``settings.json`` — what decides the results (the campaign config without ``rounds`` and
  ``[budget]``, which may be raised to extend a campaign); a rerun with other settings is
  refused;
* ``round_NN/`` — one folder per round, written phase by phase, each phase's output written
  atomically and last, so that a campaign killed at any moment resumes where it stopped:

  - ``run/`` — the GFlowNet run (``config.toml``, ``checkpoint.pt``, ``metrics.jsonl``):
    round 1 trains from scratch, round r continues round r − 1's checkpoint (policy,
    optimiser, random streams, replay buffer) to r × ``steps_per_round`` steps, with the
    reward of the proxy refitted after round r − 1;
  - ``candidates.csv`` (the sampled crystals, their UCB score and which were picked),
    ``batch.csv`` (the picked ones, a samples CSV) and ``batch.pt`` (their state values);
  - ``oracle/`` — ``crystalgfn evaluate``'s folder for the batch (resumable row by row:
    ``rows.jsonl``, ``relaxed/<row>.cif``, ``evaluation.csv``, ``summary.json``);
  - ``proxy/`` — the oracle-fidelity copy of the proxy ensemble, fine-tuned from its DFT
    weights on every oracle label of rounds 1..r (``refit.json`` records how to build it);
  - ``timings.json`` (seconds per phase) and ``metrics.json`` (the round's record; its
    presence means the round is done);

* ``campaign.json`` — every round's record and why the campaign stopped;
* ``labels/`` — every labelled crystal (``labels.csv``: sampled parameters, proxy and oracle
  energies; ``cif/``: the relaxed structures);
* ``report/`` — ``report.md``, ``rounds.json``, ``curves.png`` and the best crystals' CIFs.

Every step is seeded and deterministic (the GFlowNet resumes exactly, the oracle relaxes a
structure the same way whenever it is run), so a resumed campaign gives the results of an
uninterrupted one — as long as the oracle's step limit, not its ``max_seconds`` wall-clock
limit, ends the relaxations.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

import torch

from crystalgfn.active import acquire, report
from crystalgfn.active.config import CampaignConfig, dump_toml
from crystalgfn.active.fidelity import fine_tunable_proxy, predict
from crystalgfn.atomic import atomic_path, write_text
from crystalgfn.checkpoint import load_checkpoint
from crystalgfn.errors import ConfigError
from crystalgfn.judge import label_column
from crystalgfn.judge.evaluate import same_settings
from crystalgfn.judge.inputs import _number

SETTINGS = "settings.json"
CAMPAIGN = "campaign.json"
RECORD = "metrics.json"


def round_dir(out: Path, number: int) -> Path:
    return out / f"round_{number:02d}"


def run_campaign(config: CampaignConfig, out: str | Path, log=None) -> dict:
    """Run (or continue) the campaign of ``config`` in ``out``; returns ``campaign.json``'s
    content: ``rounds`` (one record per finished round) and ``stopped`` (why it ended)."""
    out = Path(out)
    say = log or (lambda text: print(text, file=sys.stderr, flush=True))
    _check_settings(out, config.settings())
    torch.set_num_threads(config.threads)
    campaign = Campaign(config, out, say)
    records, stopped = [], None
    for number in range(1, config.rounds + 2):
        done = round_dir(out, number) / RECORD
        if done.is_file():
            records.append(json.loads(done.read_text()))
            continue
        stopped = _stop_reason(config, records, number, round_dir(out, number).exists())
        if stopped:
            break
        records.append(campaign.run_round(number))
        campaign.write_outputs(records, None)
    result = campaign.write_outputs(records, stopped)
    say(f"active-learn: {len(records)} round(s) done; stopped: {stopped}")
    return result


def _check_settings(out: Path, settings: dict) -> None:
    path = out / SETTINGS
    hint = ("use another --out, or the same config to continue it (only rounds and [budget] "
            "may change)")
    if not same_settings(path, settings, "a campaign", hint):
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {str(out)!r} exists and is not a directory")
        out.mkdir(parents=True, exist_ok=True)
        write_text(path, json.dumps(settings, indent=1) + "\n")


def _stop_reason(config: CampaignConfig, records: list[dict], number: int,
                 started: bool) -> str | None:
    """Why round ``number`` does not start (``None``: it does). A round already started
    is always finished."""
    if number > config.rounds:
        return f"all {config.rounds} rounds done"
    if started:
        return None
    calls = sum(r["cost"]["oracle_calls"] for r in records)
    batch = config.acquire["batch"] * config.oracle["placements"]
    limit = config.budget["oracle_calls"]
    if limit is not None and calls + batch > limit:
        return f"oracle-call budget: {calls} used, a round needs {batch}, the budget is {limit}"
    seconds = sum(r["cost"]["seconds_total"] for r in records)
    if config.budget["seconds"] is not None and seconds >= config.budget["seconds"]:
        return f"time budget: {seconds:.0f} s used of {config.budget['seconds']:.0f} s"
    return None


class Campaign:
    """The phases of one round (each skipped when its output exists)."""

    def __init__(self, config: CampaignConfig, out: Path, say):
        self.config, self.out, self.say = config, out, say
        self.name = config.refit["proxy"]
        self._base = None
        self._validation = None

    @property
    def base(self):
        """The proxy as the run config builds it (its DFT weights): never modified."""
        if self._base is None:
            self._base = fine_tunable_proxy(self.name, **self.config.base_proxy_kwargs())
        return self._base

    # -- one round -----------------------------------------------------------------------------
    def run_round(self, number: int) -> dict:
        folder = round_dir(self.out, number)
        folder.mkdir(parents=True, exist_ok=True)
        timings = _Timings(folder / "timings.json")
        kwargs = self._refit_kwargs(number - 1)
        with timings.phase("train"):
            self._train(number, folder / "run", kwargs)
        with timings.phase("sample"):
            self._sample(number, folder)
        with timings.phase("oracle"):
            rows = self._label(number, folder)
        batch = _read_csv(folder / "batch.csv")
        values = torch.load(folder / "batch.pt", weights_only=True)
        record = self._before_refit(number, batch, values, rows, kwargs)
        with timings.phase("refit"):
            refit = self._refit(number, folder / "proxy")
        record["refit"] = refit
        record["cost"]["seconds"] = timings.values
        record["cost"]["seconds_total"] = round(sum(timings.values.values()), 2)
        write_text(folder / RECORD, json.dumps(record, indent=1) + "\n")
        self.say(_summary_line(record))
        return record

    def _train(self, number: int, run_dir: Path, kwargs: dict | None) -> None:
        from crystalgfn.run import CONFIG, train
        from crystalgfn.trainer import CHECKPOINT

        target = number * self.config.train["steps_per_round"]
        checkpoint = run_dir / CHECKPOINT
        if checkpoint.is_file():
            if int(load_checkpoint(checkpoint)["step"]) >= target:
                return
            self.say(f"round {number}: continuing the GFlowNet to {target} steps")
            train(None, run_dir, resume=True, progress=False)
            return
        text = dump_toml(self.config.round_run(number, kwargs))
        if number == 1:
            self.say(f"round {number}: training the GFlowNet ({target} steps)")
            config_path = run_dir.parent / "run.toml"
            write_text(config_path, text)
            train(config_path, run_dir, progress=False)
            return
        self.say(f"round {number}: continuing the GFlowNet to {target} steps on the refitted "
                 "proxy's reward")
        previous = round_dir(self.out, number - 1) / "run" / CHECKPOINT
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text(run_dir / CONFIG, text)  # the config first: a checkpoint implies it
        with atomic_path(checkpoint) as temporary:
            shutil.copyfile(previous, temporary)
        train(None, run_dir, resume=True, progress=False)

    def _sample(self, number: int, folder: Path) -> None:
        from crystalgfn.run import sample
        from crystalgfn.table import write_csv

        if (folder / "batch.pt").is_file():
            return
        settings = self.config.acquire
        env, done_states, columns = sample(
            folder / "run", settings["candidates"], seed=self.config.seed * 1000 + number,
            batch_size=settings["sample_batch_size"])
        if self.name not in columns:
            raise ConfigError(f"the samples have no column {self.name!r} (the refitted proxy)")
        std = columns.get(f"{self.name}_std", [0.0] * len(columns[self.name]))
        scores = acquire.ucb_scores(columns[self.name], std, settings["kappa"], settings["goal"])
        keys = acquire.group_keys(columns, settings["diversity"])
        chosen, filled = acquire.select(scores, keys, settings["batch"], settings["per_group"])
        if not chosen:
            raise ConfigError(f"round {number}: no sampled crystal has a finite prediction")
        picked = {i: rank for rank, i in enumerate(chosen, start=1)}
        candidates = dict(columns)
        candidates["acquisition_score"] = scores
        candidates["picked"] = [picked.get(i, 0) for i in range(len(scores))]
        write_csv(folder / "candidates.csv", candidates)
        write_csv(folder / "batch.csv", {k: [v[i] for i in chosen] for k, v in columns.items()})
        values = env.values(done_states)
        index = torch.tensor(chosen, dtype=torch.long)
        batch_values = {k: v[index].cpu() for k, v in values.items()}
        write_text(folder / "acquisition.json", json.dumps(
            {"picked": chosen, "filled_beyond_diversity": filled,
             "candidate_groups": len(set(keys))}) + "\n")
        with atomic_path(folder / "batch.pt") as temporary:  # last: the phase is done
            torch.save(batch_values, temporary)
        self.say(f"round {number}: sampled {len(scores)} crystals, picked {len(chosen)} "
                 f"({len(set(keys))} groups among the candidates)")

    def _label(self, number: int, folder: Path) -> list[dict]:
        from crystalgfn.judge.evaluate import evaluate

        oracle = self.config.oracle
        self.say(f"round {number}: labelling the batch with the {oracle['name']} oracle")
        evaluate(folder / "batch.csv", folder / "oracle", oracle=oracle["name"],
                 jobs=oracle["jobs"], seed=self.config.seed + number,
                 placements=oracle["placements"], builder=_builder(oracle["builder"]),
                 fmax=oracle["fmax"], steps=oracle["steps"], max_seconds=oracle["max_seconds"],
                 device=oracle["device"])
        return _read_csv(folder / "oracle" / "evaluation.csv")

    def _before_refit(self, number: int, batch: list[dict], values: dict, rows: list[dict],
                      kwargs: dict | None) -> dict:
        """The round's record so far: how wrong the proxy was on the batch, before it learns
        the batch's labels, and what the oracle says of the batch."""
        labels = [_number(row.get(label_column())) for row in rows]
        used = [i for i, y in enumerate(labels) if y is not None]
        predicted = [float(b[self.name]) for b in batch]
        base_mean, _ = predict(self.base, values)
        hull = [_number(row.get("e_above_hull")) for row in rows]
        stable = [row.get("stable") == "1" for row in rows]
        acquisition = json.loads((round_dir(self.out, number) / "acquisition.json").read_text())
        groups = acquire.group_keys({k: [b[k] for b in batch] for k in batch[0]},
                                    self.config.acquire["diversity"])
        reasons: dict[str, int] = {}
        for row in rows:
            if row.get("reason"):
                key = row["reason"].split(":")[0]
                reasons[key] = reasons.get(key, 0) + 1
        std_column = f"{self.name}_std"
        return {
            "round": number,
            "gflownet_steps": number * self.config.train["steps_per_round"],
            "reward_proxy": "DFT weights" if kwargs is None else
                            f"oracle-fidelity copy refitted after round {number - 1}",
            "batch": len(rows),
            "labelled": len(used),
            "failed": dict(sorted(reasons.items())),
            "proxy_mae_before_refit": _mae([predicted[i] for i in used],
                                           [labels[i] for i in used]),
            "proxy_bias_before_refit": _mean([predicted[i] - labels[i] for i in used]),
            "dft_proxy_mae": _mae([base_mean[i] for i in used], [labels[i] for i in used]),
            "proxy_std_mean": _mean([float(b[std_column]) for b in batch if std_column in b]),
            "proxy_median": _median(predicted),
            "oracle_median": _median([labels[i] for i in used]),
            "oracle_mean": _mean([labels[i] for i in used]),
            "oracle_best": min((labels[i] for i in used), default=None),
            "e_above_hull_median": _median([h for h in hull if h is not None]),
            "stable_share": sum(stable) / len(rows) if rows else None,
            "stable": sum(stable),
            "diversity": acquire.diversity([b.get("formula", "") for b in batch]),
            "group_share": len(set(groups)) / len(groups) if groups else None,
            "filled_beyond_diversity": acquisition["filled_beyond_diversity"],
            "cost": {"oracle_calls": len(rows) * self.config.oracle["placements"],
                     "oracle_seconds": round(sum(_number(r.get("seconds")) or 0.0
                                                 for r in rows), 2)},
        }

    def _refit(self, number: int, folder: Path) -> dict:
        """Fine-tune the oracle-fidelity copy on every label of rounds 1..``number``."""
        marker = folder / "refit.json"
        if marker.is_file():
            return json.loads(marker.read_text())
        values, labels = self.labels_so_far(number)
        if not labels:
            result = {"labels": 0, "skipped": "no oracle label yet", "kwargs": None}
        else:
            settings = self.config.refit
            self.say(f"round {number}: refitting the oracle-fidelity proxy on {len(labels)} "
                     "labels")
            kwargs = self.base.fine_tune(
                values, torch.tensor(labels), folder, steps=settings["steps"],
                lr=settings["lr"], anchor=settings["anchor"],
                seed=self.config.seed * 1000 + number, fidelity=self.config.oracle["name"])
            copy = fine_tunable_proxy(self.name, **{**self.config.base_proxy_kwargs(),
                                                    **kwargs})
            fitted, _ = predict(copy, values)
            result = {"labels": len(labels), "kwargs": kwargs,
                      "label_mae_after": _mae(fitted, labels),
                      **self._validation_errors(copy)}
        write_text(marker, json.dumps(result, indent=1) + "\n")
        return result

    def _refit_kwargs(self, number: int) -> dict | None:
        """How to build the proxy refitted after round ``number`` (``None``: the DFT one)."""
        if number < 1:
            return None
        return json.loads((round_dir(self.out, number) / "proxy" / "refit.json").read_text())[
            "kwargs"]

    def labels_so_far(self, number: int) -> tuple[dict, list[float]]:
        """The state values and oracle labels of every labelled crystal of rounds 1..n."""
        parts, labels = [], []
        for r in range(1, number + 1):
            folder = round_dir(self.out, r)
            values = torch.load(folder / "batch.pt", weights_only=True)
            rows = _read_csv(folder / "oracle" / "evaluation.csv")
            label = label_column()
            used = [i for i, row in enumerate(rows) if _number(row.get(label)) is not None]
            if used:
                index = torch.tensor(used, dtype=torch.long)
                parts.append({k: v[index] for k, v in values.items()})
                labels.extend(_number(rows[i][label]) for i in used)
        if not parts:
            return {}, []
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}, labels

    def _validation_errors(self, copy) -> dict:
        """MAE of the DFT proxy and of the copy on the held-out (DFT) validation crystals:
        the same split before and after, so that the copy's drift from DFT is measured."""
        if self.config.validation is None:
            return {}
        if self._validation is None:
            from crystalgfn.report.io import read_crystals

            crystals = read_crystals(self.config.validation, "validation")
            if self.name not in crystals.numeric:
                raise ConfigError(f"validation file {self.config.validation} has no column "
                                  f"{self.name!r}")
            truth = [float(v) for v in crystals.numeric[self.name]]
            base, _ = predict(self.base, crystals.values)
            self._validation = (crystals.values, truth, _mae(base, truth))
        values, truth, base_mae = self._validation
        mean, _ = predict(copy, values)
        return {"validation_n": len(truth), "validation_mae_dft_proxy": base_mae,
                "validation_mae_refitted_copy": _mae(mean, truth)}

    # -- outputs -------------------------------------------------------------------------------
    def write_outputs(self, records: list[dict], stopped: str | None) -> dict:
        result = {"rounds": records, "stopped": stopped,
                  "reward_proxy": "round 1: the DFT-trained ensemble; round r > 1: the "
                                  "oracle-fidelity copy refitted on the oracle labels of "
                                  "rounds 1..r-1"}
        write_text(self.out / CAMPAIGN, json.dumps(result, indent=1) + "\n")
        report.write_labels(self.out, [r["round"] for r in records], self.name)
        report.write_report(self.out, result, self.config)
        return result


class _Timings:
    """Seconds per phase of a round, kept across invocations (a phase timed again when it
    is resumed adds its new seconds)."""

    def __init__(self, path: Path):
        self.path = path
        self.values = json.loads(path.read_text()) if path.is_file() else {}

    def phase(self, name: str):
        timings = self

        class _Phase:
            def __enter__(self):
                self.start = time.perf_counter()

            def __exit__(self, kind, value, traceback):
                if kind is None:
                    seconds = time.perf_counter() - self.start
                    timings.values[name] = round(timings.values.get(name, 0.0) + seconds, 2)
                    write_text(timings.path, json.dumps(timings.values) + "\n")
                return False

        return _Phase()


def _builder(requested: str) -> str:
    """The structure builder: ``requested``, else the only installed one."""
    from crystalgfn.plugins import get_plugins

    if requested:
        return requested
    names = get_plugins().structure_builders.names()
    if len(names) != 1:
        raise ConfigError(
            f"{'no' if not names else 'several'} structure builders are installed "
            f"({', '.join(names) or 'none'}): name one with [oracle] builder = \"NAME\"")
    return names[0]


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def _mean(values) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), 6) if values else None


def _median(values) -> float | None:
    values = list(values)
    return round(statistics.median(values), 6) if values else None


def _mae(predicted, truth) -> float | None:
    pairs = list(zip(predicted, truth, strict=True))
    return round(statistics.fmean(abs(a - b) for a, b in pairs), 6) if pairs else None


def _summary_line(record: dict) -> str:
    def show(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    return (f"round {record['round']}: proxy MAE on the batch "
            f"{show(record['proxy_mae_before_refit'])} eV/atom (DFT proxy "
            f"{show(record['dft_proxy_mae'])}), oracle median "
            f"{show(record['oracle_median'])}, stable {record['stable']}/{record['batch']}, "
            f"diversity {show(record['diversity'], 2)}, "
            f"{record['cost']['seconds_total']:.0f} s")
