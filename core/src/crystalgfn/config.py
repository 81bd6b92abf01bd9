"""Run configuration: a TOML file holding only names and keyword arguments.

Example::

    env = "spacegroup+composition+lattice"
    proxy = "formation_energy"
    loss = "tb"
    steps = 2000
    batch_size = 64
    seed = 0
    [env_kwargs.composition]
    elements = ["Fe", "O"]
    [proxy_kwargs]
    [reward]
    kind = "exponential"
    beta = -8.0

Several objectives (multi-objective sampling) replace ``proxy``/``proxy_kwargs``/``reward``::

    [[objectives]]
    proxy = "formation_energy"
    weight = 1.0
    reward = { kind = "exponential", beta = -8.0 }

``[restrictions]`` trains directly on a restricted space (e.g. ``elements = ["Fe", "O"]``);
all other top-level keys are training settings (see :class:`crystalgfn.trainer.TrainSettings`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
    import tomli as tomllib

import attrs

from crystalgfn.builders import check_compatible, make_loss, make_proxy
from crystalgfn.compose import make_env
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError
from crystalgfn.loss import Loss
from crystalgfn.rewards import Objective, Reward, RewardFunction
from crystalgfn.trainer import TrainSettings
from crystalgfn.validation import Rule

RUN_KEYS = {
    "env", "env_kwargs", "proxy", "proxy_kwargs", "reward", "objectives", "loss", "loss_kwargs",
    "restrictions", "on_nan", "data", "data_fraction", "conditioning",
}
#: Keys of the ``[conditioning]`` table (a conditional run, docs/training.md).
CONDITIONING_KEYS = {
    "restrictions", "pool", "per_batch", "share", "seed", "hide_settled", "include",
}
OBJECTIVE_KEYS = {"proxy", "proxy_kwargs", "reward", "weight"}
SETTING_KEYS = {field.name for field in attrs.fields(TrainSettings)}
#: What the run keys that are not tables accept (the settings': ``trainer.SETTING_RULES``).
RUN_RULES = {
    "env": Rule(str),
    "proxy": Rule(str),
    "loss": Rule(str),
    "on_nan": Rule(str, choices=("error", "floor")),
    "data": Rule(str),
    "data_fraction": Rule(float, low=0, high=1, open_high=True),
}
#: Run keys holding tables of keyword arguments (checked by what they are passed to).
TABLE_KEYS = (
    "env_kwargs", "proxy_kwargs", "reward", "loss_kwargs", "restrictions", "conditioning",
)


def _check_keys(table: Mapping, accepted: set[str], where: str) -> None:
    for key in table:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown key {key!r} in {where}.{hint} Accepted keys: {sorted(accepted)}"
            )


def _table(config: Mapping, key: str, where: str = "") -> dict:
    value = config.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{where}{key}] must be a table of keyword arguments, got {value!r}")
    return dict(value)


def _check_values(raw: Mapping) -> None:
    """Every value's type and range, before anything is built (or a run folder made)."""
    for key, rule in RUN_RULES.items():
        if key in raw:
            rule.check(key, raw[key])
    for key in TABLE_KEYS:
        _table(raw, key)
    fraction = raw.get("data_fraction", 0.0)
    if "data" in raw and not 0 < fraction < 1:
        raise ConfigError(f"data_fraction must be in (0, 1) when data is given, got {fraction!r}")
    if "data" not in raw and fraction:
        raise ConfigError("data_fraction needs data = \"path/to/crystals.csv\"")
    TrainSettings(**{k: v for k, v in raw.items() if k in SETTING_KEYS})
    if "objectives" in raw:
        entries = raw["objectives"]
        tables = isinstance(entries, list) and all(isinstance(e, Mapping) for e in entries)
        if not tables or not entries:
            raise ConfigError(
                f"[[objectives]] must be a non-empty array of tables (proxy, proxy_kwargs, reward, "
                f"weight), got {entries!r}"
            )
        for number, entry in enumerate(entries, start=1):
            where = f"objectives[{number}]."
            _check_keys(entry, OBJECTIVE_KEYS, f"objective {number}")
            if "proxy" not in entry:
                raise ConfigError(f"objective {number} needs a proxy (proxy = \"name\")")
            Rule(str).check(where + "proxy", entry["proxy"])
            Rule(float).check(where + "weight", entry.get("weight", 1.0))
            _table(entry, "proxy_kwargs", where)
            RewardFunction.from_config(_table(entry, "reward", where), where + "reward")
    else:
        RewardFunction.from_config(_table(raw, "reward"))


def read_toml(path: Path, what: str) -> dict:
    """The parsed TOML file ``path``; a :class:`ConfigError` (``what`` names the file) when it
    is missing or not valid TOML."""
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{what} {path} is not valid TOML: {error}") from None


@attrs.frozen
class RunConfig:
    """A validated run configuration (the parsed TOML)."""

    raw: Mapping

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        raw = read_toml(path, "config file")
        try:
            return cls.from_dict(raw)
        except ConfigError as error:
            raise ConfigError(f"{path}: {error}") from None

    @classmethod
    def from_dict(cls, raw: Mapping) -> RunConfig:
        _check_keys(raw, RUN_KEYS | SETTING_KEYS, "the run config")
        if "objectives" in raw and ({"proxy", "proxy_kwargs", "reward"} & set(raw)):
            raise ConfigError("give either [[objectives]] or proxy/proxy_kwargs/reward, not both")
        if "objectives" not in raw and "proxy" not in raw:
            raise ConfigError("the run config needs a proxy (proxy = \"name\") or [[objectives]]")
        _check_values(raw)
        return cls(raw=dict(raw))

    @property
    def env_spec(self) -> str:
        return self.raw.get("env", "crystal")

    def settings(self, **overrides) -> TrainSettings:
        values = {k: v for k, v in self.raw.items() if k in SETTING_KEYS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return TrainSettings(**values)

    def build_env(self) -> Environment:
        env = make_env(self.env_spec, **_table(self.raw, "env_kwargs"))
        from crystalgfn.restrictions import from_config

        restrictions = from_config(_table(self.raw, "restrictions"))
        env = env.restrict(**restrictions) if restrictions else env
        conditioning = _table(self.raw, "conditioning")
        return conditional_env(env, conditioning) if conditioning else env

    def build_reward(self, env: Environment) -> Reward:
        if "objectives" in self.raw:
            entries = self.raw["objectives"]
            if not isinstance(entries, list) or not entries:
                raise ConfigError("[[objectives]] must be a non-empty array of tables")
        else:
            entries = [
                {
                    "proxy": self.raw["proxy"],
                    "proxy_kwargs": _table(self.raw, "proxy_kwargs"),
                    "reward": _table(self.raw, "reward"),
                }
            ]
        objectives = []
        for entry in entries:
            _check_keys(entry, OBJECTIVE_KEYS, "an objective")
            reward = RewardFunction.from_config(entry.get("reward", {}))
            proxy = make_proxy(entry["proxy"], **dict(entry.get("proxy_kwargs", {})))
            check_compatible(env, proxy)
            weight = float(entry.get("weight", 1.0))
            objectives.append(Objective(proxy=proxy, reward=reward, weight=weight))
        return Reward(objectives=objectives, on_nan=self.raw.get("on_nan", "error"))

    def build_loss(self) -> Loss:
        return make_loss(self.raw.get("loss", "tb"), **_table(self.raw, "loss_kwargs"))


def conditional_env(env: Environment, table: Mapping) -> Environment:
    """``env`` conditioned as the run config's ``[conditioning]`` table says::

        [conditioning]
        restrictions = ["elements", "space_groups"]  # the families to train over
        pool = 64        # distinct restrictions drawn for training (with the unrestricted)
        per_batch = 8    # restrictions mixed in one batch
        share = 0.5      # chance that a drawn restriction restricts each name
        seed = 0         # seeds the draw of the pool
        hide_settled = true  # hide a restriction from the policy where it is settled
        include = [{elements = ["Fe", "O"], weight = 2}]  # always in the pool (counted)

    Each ``include`` entry is read as a ``[restrictions]`` table, but for its optional
    ``weight``: the relative chance of its trajectories in a batch (1 when absent).
    """
    from crystalgfn.conditioning import ConditionalEnv, RestrictionFamily
    from crystalgfn.restrictions import from_config

    _check_keys(table, CONDITIONING_KEYS, "[conditioning]")
    names = table.get("restrictions")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            "[conditioning] restrictions must be a list of restriction names, e.g. "
            f"[\"elements\"], got {names!r}; this environment accepts "
            f"{sorted(env.restriction_domains())}"
        )
    share = table.get("share", 0.5)
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise ConfigError(f"[conditioning] share must be a number in (0, 1], got {share!r}")
    seed = table.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"[conditioning] seed must be an integer, got {seed!r}")
    hide_settled = table.get("hide_settled", True)
    if not isinstance(hide_settled, bool):
        raise ConfigError(
            f"[conditioning] hide_settled must be true or false, got {hide_settled!r}"
        )
    include = table.get("include", [])
    if isinstance(include, list):
        # Each table is read as a [restrictions] table; ConditionalEnv checks the rest.
        include = [
            from_config(entry, where=f"[conditioning] include[{position}]")
            if isinstance(entry, Mapping) else entry
            for position, entry in enumerate(include)
        ]
    family = RestrictionFamily(env.restriction_domains(), names, share=float(share))
    return ConditionalEnv(
        env, family, pool=table.get("pool", 64), per_batch=table.get("per_batch", 8), seed=seed,
        hide_settled=hide_settled, include=include,
    )
