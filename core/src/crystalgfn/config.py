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
import tomllib
from collections.abc import Mapping
from pathlib import Path

import attrs

from crystalgfn.builders import check_compatible, make_loss, make_proxy
from crystalgfn.compose import make_env
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError
from crystalgfn.loss import Loss
from crystalgfn.rewards import Objective, Reward, RewardFunction
from crystalgfn.trainer import TrainSettings

RUN_KEYS = {
    "env", "env_kwargs", "proxy", "proxy_kwargs", "reward", "objectives", "loss", "loss_kwargs",
    "restrictions", "on_nan", "data", "data_fraction",
}
SETTING_KEYS = {field.name for field in attrs.fields(TrainSettings)}


def _check_keys(table: Mapping, accepted: set[str], where: str) -> None:
    for key in table:
        if key not in accepted:
            close = difflib.get_close_matches(key, sorted(accepted), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown key {key!r} in {where}.{hint} Accepted keys: {sorted(accepted)}")


def _table(config: Mapping, key: str) -> dict:
    value = config.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"[{key}] must be a table of keyword arguments, got {value!r}")
    return dict(value)


@attrs.frozen
class RunConfig:
    """A validated run configuration (the parsed TOML)."""

    raw: Mapping

    @classmethod
    def from_file(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"config file {path} is not valid TOML: {error}") from None
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Mapping) -> RunConfig:
        _check_keys(raw, RUN_KEYS | SETTING_KEYS, "the run config")
        if "objectives" in raw and ({"proxy", "proxy_kwargs", "reward"} & set(raw)):
            raise ConfigError("give either [[objectives]] or proxy/proxy_kwargs/reward, not both")
        if "objectives" not in raw and "proxy" not in raw:
            raise ConfigError("the run config needs a proxy (proxy = \"name\") or [[objectives]]")
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
        restrictions = _table(self.raw, "restrictions")
        return env.restrict(**restrictions) if restrictions else env

    def build_reward(self, env: Environment) -> Reward:
        if "objectives" in self.raw:
            entries = self.raw["objectives"]
            if not isinstance(entries, list) or not entries:
                raise ConfigError("[[objectives]] must be a non-empty array of tables")
        else:
            entries = [{"proxy": self.raw["proxy"], "proxy_kwargs": _table(self.raw, "proxy_kwargs"),
                        "reward": _table(self.raw, "reward")}]
        objectives = []
        for entry in entries:
            _check_keys(entry, {"proxy", "proxy_kwargs", "reward", "weight"}, "an objective")
            reward = RewardFunction.from_config(entry.get("reward", {}))
            proxy = make_proxy(entry["proxy"], **dict(entry.get("proxy_kwargs", {})))
            check_compatible(env, proxy)
            objectives.append(Objective(proxy=proxy, reward=reward, weight=float(entry.get("weight", 1.0))))
        return Reward(objectives=objectives, on_nan=self.raw.get("on_nan", "error"))

    def build_loss(self) -> Loss:
        return make_loss(self.raw.get("loss", "tb"), **_table(self.raw, "loss_kwargs"))
