"""The campaign config of ``crystalgfn active-learn`` (TOML), validated before anything runs.

Example (``configs/active_learning.toml``)::

    run = "restricted_li_mn_o.toml"   # the GFlowNet run config, relative to this file
    rounds = 3
    seed = 0
    validation = "../data/mp_validation.csv"   # optional: held-out crystals of the proxy
    [train]
    steps_per_round = 300     # GFlowNet steps added each round
    [acquire]
    candidates = 512          # crystals sampled per round
    batch = 8                 # of which the oracle labels this many
    kappa = 1.0               # UCB: goal-signed mean + kappa * std
    goal = "minimize"
    diversity = ["formula"]   # sample-table columns whose values make a group
    per_group = 1             # at most this many crystals of one group per batch
    [oracle]
    name = "chgnet"
    steps = 60
    [refit]
    steps = 200
    lr = 0.001
    anchor = 0.01
    [budget]
    oracle_calls = 24
    seconds = 3300

Every value is checked here with a :class:`~crystalgfn.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import attrs

from crystalgfn.config import RunConfig, _check_keys, read_toml
from crystalgfn.errors import ConfigError
from crystalgfn.validation import Rule

GOALS = ("minimize", "maximize")

#: section -> key -> (rule, default); a default of ``None`` means optional
SECTIONS: dict[str, dict[str, tuple[Rule, object]]] = {
    "train": {
        "steps_per_round": (Rule(int, low=1), 300),
    },
    "acquire": {
        "candidates": (Rule(int, low=1), 512),
        "batch": (Rule(int, low=1), 8),
        "kappa": (Rule(float, low=0), 1.0),
        "goal": (Rule(str, choices=GOALS), "minimize"),
        "per_group": (Rule(int, low=1), 1),
        "sample_batch_size": (Rule(int, low=1), 1024),
    },
    "oracle": {
        "name": (Rule(str), "chgnet"),
        "steps": (Rule(int, low=0), 100),
        "fmax": (Rule(float, low=0, open_low=True), 0.1),
        "max_seconds": (Rule(float, low=0, open_low=True), 600.0),
        "jobs": (Rule(int, low=1), 1),
        "placements": (Rule(int, low=1, high=100), 1),
        "builder": (Rule(str), ""),
        "device": (Rule(str, choices=("cpu", "cuda")), "cpu"),
    },
    "refit": {
        "proxy": (Rule(str), ""),
        "steps": (Rule(int, low=0), 200),
        "lr": (Rule(float, low=0), 1e-3),
        "anchor": (Rule(float, low=0), 1e-2),
    },
    "budget": {
        "oracle_calls": (Rule(int, low=1), None),
        "seconds": (Rule(float, low=0, open_low=True), None),
    },
}
TOP = {
    "run": Rule(str),
    "rounds": Rule(int, low=1),
    "seed": Rule(int, low=0, high=2**31),
    "validation": Rule(str),
    "threads": Rule(int, low=1),
}
#: keys that may change between invocations of one campaign (to extend it)
EXTENDABLE = ("rounds", "budget")


@attrs.frozen
class CampaignConfig:
    """A validated campaign config: ``run`` (the run config's parsed TOML, with paths
    resolved), ``run_path``, the top-level values and one dict per section."""

    run: Mapping
    run_path: str
    rounds: int
    seed: int
    threads: int
    validation: str | None
    train: Mapping
    acquire: Mapping
    oracle: Mapping
    refit: Mapping
    budget: Mapping

    @classmethod
    def from_file(cls, path: str | Path) -> CampaignConfig:
        path = Path(path)
        raw = read_toml(path, "campaign config")
        try:
            return cls.from_dict(raw, base=path.parent)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, raw: Mapping, base: str | Path = ".") -> CampaignConfig:
        base = Path(base)
        _check_keys(raw, set(TOP) | set(SECTIONS), "the campaign config")
        for key, rule in TOP.items():
            if key in raw:
                rule.check(key, raw[key])
        if "run" not in raw:
            raise ConfigError('the campaign config needs run = "path/to/run_config.toml"')
        if "rounds" not in raw:
            raise ConfigError("the campaign config needs rounds = N (the most rounds to run)")
        sections = {name: _section(raw, name) for name in SECTIONS}
        acquire = sections["acquire"]
        if acquire["batch"] > acquire["candidates"]:
            raise ConfigError(
                f"acquire.batch ({acquire['batch']}) must be at most acquire.candidates "
                f"({acquire['candidates']}): the batch is picked among the candidates")
        diversity = raw.get("acquire", {}).get("diversity", ["formula"])
        if (not isinstance(diversity, list) or not diversity
                or not all(isinstance(c, str) and c for c in diversity)):
            raise ConfigError(
                f"acquire.diversity must be a non-empty list of sample-table column names, "
                f"got {diversity!r}")
        acquire["diversity"] = list(diversity)
        run_path = (base / raw["run"]).resolve()
        run = _run_config(run_path)
        validation = None
        if "validation" in raw:
            validation = str((base / raw["validation"]).resolve())
            if not Path(validation).is_file():
                raise ConfigError(f"validation file {validation} does not exist")
        refit = sections["refit"]
        refit["proxy"] = refit["proxy"] or _single_proxy(run)
        if refit["proxy"] not in _proxies(run):
            raise ConfigError(
                f"refit.proxy {refit['proxy']!r} is not a proxy of the run config "
                f"(it has {sorted(_proxies(run))})")
        return cls(run=run, run_path=str(run_path), rounds=raw["rounds"],
                   seed=raw.get("seed", 0), threads=raw.get("threads", 1),
                   validation=validation, **sections)

    def settings(self) -> dict:
        """Everything that decides the campaign's results (JSON-able), budget and rounds
        apart: a campaign folder is continued only with the same settings."""
        return {"run": json.loads(json.dumps(self.run)), "seed": self.seed,
                "threads": self.threads, "validation": self.validation,
                "train": dict(self.train), "acquire": dict(self.acquire),
                "oracle": dict(self.oracle), "refit": dict(self.refit)}

    def round_run(self, round_number: int, proxy_kwargs: Mapping | None) -> dict:
        """The run config of round ``round_number`` (1-based): the campaign's run config
        trained to ``round_number × steps_per_round`` steps, its refitted proxy built with
        ``proxy_kwargs`` (``None``: as the run config builds it)."""
        run = json.loads(json.dumps(self.run))
        run["steps"] = round_number * self.train["steps_per_round"]
        run["checkpoint_every"] = min(int(run.get("checkpoint_every", 500)),
                                      self.train["steps_per_round"])
        if proxy_kwargs is not None:
            entries = run["objectives"] if "objectives" in run else [run]
            for entry in entries:
                if entry["proxy"] == self.refit["proxy"]:
                    entry["proxy_kwargs"] = {**entry.get("proxy_kwargs", {}), **proxy_kwargs}
        RunConfig.from_dict(run)
        return run

    def base_proxy_kwargs(self) -> dict:
        """The run config's keyword arguments of the refitted proxy (its DFT weights)."""
        entries = self.run["objectives"] if "objectives" in self.run else [self.run]
        for entry in entries:
            if entry["proxy"] == self.refit["proxy"]:
                return dict(entry.get("proxy_kwargs", {}))
        raise ConfigError(f"no proxy {self.refit['proxy']!r} in the run config")


def _section(raw: Mapping, name: str) -> dict:
    table = raw.get(name, {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{name}] must be a table, got {table!r}")
    rules = SECTIONS[name]
    extra = {"diversity"} if name == "acquire" else set()
    _check_keys(table, set(rules) | extra, f"[{name}]")
    values = {}
    for key, (rule, default) in rules.items():
        if key in table:
            rule.check(f"{name}.{key}", table[key])
            values[key] = float(table[key]) if rule.kind is float else table[key]
        else:
            values[key] = default
    return values


def _run_config(path: Path) -> dict:
    """The run config at ``path`` (validated), with its ``data`` path made absolute."""
    run = dict(RunConfig.from_file(path).raw)
    if "data" in run:
        run["data"] = str((path.parent / run["data"]).resolve())
    return run


def _proxies(run: Mapping) -> set[str]:
    if "objectives" in run:
        return {entry["proxy"] for entry in run["objectives"]}
    return {run["proxy"]}


def _single_proxy(run: Mapping) -> str:
    names = _proxies(run)
    if len(names) != 1:
        raise ConfigError(
            f"the run config has several proxies ({sorted(names)}): name the one to refit "
            'with [refit] proxy = "NAME"')
    return next(iter(names))


# -- writing a run config ----------------------------------------------------------------------

def dump_toml(table: Mapping) -> str:
    """``table`` as TOML text (one ``key = value`` line per top-level key, nested tables
    inline); :func:`tomllib.loads` gives ``table`` back."""
    text = "".join(f"{_key(key)} = {_value(value)}\n" for key, value in table.items())
    if tomllib.loads(text) != json.loads(json.dumps(table)):
        raise ConfigError(f"cannot write this run config as TOML: {table!r}")
    return text


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) as TOML")
