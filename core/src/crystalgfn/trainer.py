"""The GFlowNet training loop.

One loop, read top to bottom in :meth:`Trainer.train`: sample trajectories (on-policy, with
exploration), add replayed and data trajectories drawn backwards from done states, evaluate
log-probabilities in one batched pass, compute the loss, step the optimiser, log metrics and
checkpoint. Everything random goes through one seeded ``torch.Generator`` whose state is
checkpointed, so a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs
import torch

from crystalgfn.checkpoint import load_checkpoint, save_checkpoint
from crystalgfn.conditioning.env import KEY as RESTRICTION
from crystalgfn.devices import DEVICES, make_generator, resolve_device
from crystalgfn.distributed import average_gradients, gather, init_world, parameters_checksum
from crystalgfn.env import Environment
from crystalgfn.errors import CheckpointError, ConfigError, RewardError
from crystalgfn.loss import Loss, TrainingBatch
from crystalgfn.policy import Policy
from crystalgfn.progress import Progress, clock
from crystalgfn.sampling import (
    Transitions,
    backward_transitions,
    log_probs,
    masked_log_softmax,
    rollout,
    with_forward_log_probs,
)
from crystalgfn.states import State, concat, select
from crystalgfn.validation import Rule

#: ``log_reward(values) -> (log R (B,), {proxy name: values (B,)})``
RewardFn = Callable[[Mapping[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


#: Learning-rate multipliers as a function of the fraction of training done, in [0, 1).
LR_SCHEDULES: dict[str, Callable[[float], float]] = {
    "constant": lambda progress: 1.0,
    "cosine": lambda progress: 0.5 * (1.0 + math.cos(math.pi * progress)),
}


def _as_table(value) -> dict:
    if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
        raise ConfigError(f"policy_kwargs must be a table of keyword arguments, got {value!r}")
    return dict(value)


@attrs.frozen
class TrainSettings:
    """Hyper-parameters of a training run (all have working defaults for the crystal stack)."""

    steps: int = 1000
    batch_size: int = 64
    lr: float = 1e-3
    lr_log_z: float = 0.1
    #: ``"constant"``, or ``"cosine"``: both learning rates follow a half cosine from their
    #: value at step 0 to 0 at the last step, so the final parameters settle instead of
    #: jittering at the scale of the learning rate (what an exact check of the final sampler
    #: measures). It is a function of the step alone, so resuming continues it exactly.
    lr_schedule: str = "constant"
    #: The registered policy to train (``crystalgfn plugins`` lists them).
    policy: str = "mlp"
    #: Keyword arguments of the policy (``[policy_kwargs]`` in a run config).
    policy_kwargs: Mapping = attrs.field(factory=dict, converter=_as_table, hash=False)
    #: Width, depth and learned backward policy of the ``mlp`` policy (``[policy_kwargs]``
    #: may override them).
    hidden: int = 256
    layers: int = 3
    learn_backward: bool = False
    epsilon: float = 0.0
    temperature: float = 1.0
    replay_capacity: int = 0
    replay_fraction: float = 0.0
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "cpu"
    #: CPU threads of torch. GFlowNet steps are many small operations, for which one thread
    #: is fastest and immune to contention (measured on a 2-core machine shared with other
    #: work: 656 vs 17 trajectories/s at batch 64); raise it for large batches on idle cores.
    threads: int = 1

    def __attrs_post_init__(self):
        for field in attrs.fields(type(self)):
            if field.name in SETTING_RULES:
                SETTING_RULES[field.name].check(field.name, getattr(self, field.name))
        if self.replay_fraction > 0 and self.replay_capacity < 1:
            raise ConfigError("replay_fraction > 0 needs replay_capacity >= 1")

    def lr_factor(self, step: int) -> float:
        """Multiplier of both learning rates for the update that makes step ``step + 1``."""
        return LR_SCHEDULES[self.lr_schedule](step / self.steps)


#: What each setting accepts (checked when :class:`TrainSettings` is made, so a run config is
#: validated before anything is built or written).
SETTING_RULES: dict[str, Rule] = {
    "steps": Rule(int, low=1),
    "batch_size": Rule(int, low=1),
    "lr": Rule(float, low=0, open_low=True),
    "lr_log_z": Rule(float, low=0),
    "lr_schedule": Rule(str, choices=sorted(LR_SCHEDULES)),
    "policy": Rule(str),
    "hidden": Rule(int, low=1),
    "layers": Rule(int, low=1),
    "learn_backward": Rule(bool),
    "epsilon": Rule(float, low=0, high=1),
    "temperature": Rule(float, low=0, open_low=True),
    "replay_capacity": Rule(int, low=0),
    "replay_fraction": Rule(float, low=0, high=1, open_high=True),
    "checkpoint_every": Rule(int, low=1),
    "seed": Rule(int, low=0, high=2**62),
    "device": Rule(str, choices=DEVICES),
    "threads": Rule(int, low=1),
}


@attrs.define
class ReplayBuffer:
    """The highest-reward done states seen so far (at most ``capacity``), without duplicates.

    In a conditional space the ``capacity`` is shared equally by the restrictions seen so far
    (``capacity // k`` each, at least one), and each keeps its own best states: restrictions
    differ in their reward scale by orders of magnitude (a Fe–O crystal is worth about e^12
    less than a cubic one at ``beta = -8``), and one shared ranking would replay only the
    best-rewarded restrictions. The total stays ``capacity``, whatever the pool's size, so
    that the buffer's memory and its per-step deduplication do not grow with the pool."""

    capacity: int
    states: State | None = None
    log_rewards: torch.Tensor | None = None

    def add(self, env: Environment, states: State, log_rewards: torch.Tensor) -> None:
        if self.capacity < 1:
            return
        if self.states is not None:
            states = concat([self.states, states])
            log_rewards = torch.cat([self.log_rewards, log_rewards])
        columns = [v.reshape(v.shape[0], -1).double() for v in env.values(states).values()]
        if RESTRICTION in states:  # a conditional space: one object per restriction
            columns.append(states[RESTRICTION][:, None].double())
        keys = torch.cat(columns, dim=1)
        _, inverse = torch.unique(keys, dim=0, return_inverse=True)
        first = torch.full((int(inverse.max()) + 1,), len(inverse), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(inverse)), reduce="amin")
        best_first = first[torch.argsort(log_rewards[first], descending=True)]
        if RESTRICTION in states:
            tags = states[RESTRICTION][best_first]
            share = max(1, self.capacity // int(torch.unique(tags).numel()))
            keep = _first_per_group(best_first, tags, share)
        else:
            keep = best_first[: self.capacity]
        self.states, self.log_rewards = select(states, keep), log_rewards[keep]

    def sample(
        self, count: int, generator: torch.Generator, restrictions: torch.Tensor | None = None
    ) -> State | None:
        """``count`` states drawn uniformly from the buffer, or, in a conditional space with
        ``restrictions`` (int64 indices), from its states of those restrictions: a batch
        replays the restrictions it samples, so that replay adds no restriction to the batch
        (each costs a pass of its own environment per step). ``None`` when none qualify."""
        if self.states is None or count < 1:
            return None
        candidates = None
        if restrictions is not None and RESTRICTION in self.states:
            tags = self.states[RESTRICTION]
            candidates = torch.isin(tags, restrictions.to(tags.device)).nonzero().squeeze(1)
            if candidates.numel() == 0:
                return None
        size = self.log_rewards.shape[0] if candidates is None else candidates.numel()
        index = torch.randint(0, size, (count,), generator=generator, device=generator.device)
        index = index.to(self.log_rewards.device)
        return select(self.states, index if candidates is None else candidates[index])

    def state_dict(self) -> dict:
        return {"states": self.states, "log_rewards": self.log_rewards}

    def load_state_dict(self, payload: dict, device: torch.device | str = "cpu") -> None:
        states, log_rewards = payload["states"], payload["log_rewards"]
        if states is not None:
            states = {key: value.to(device) for key, value in states.items()}
            log_rewards = log_rewards.to(device)
        self.states, self.log_rewards = states, log_rewards


def _first_per_group(order: torch.Tensor, groups: torch.Tensor, count: int) -> torch.Tensor:
    """The entries of ``order`` (int64 ``(N,)``) that are among the first ``count`` of their
    group (``groups`` ``(N,)``, aligned with ``order``), in group order."""
    by_group = torch.argsort(groups, stable=True)  # keeps ``order``'s order within a group
    _, sizes = torch.unique_consecutive(groups[by_group], return_counts=True)
    starts = torch.repeat_interleave(torch.cumsum(sizes, 0) - sizes, sizes)
    rank = torch.arange(len(order), device=order.device) - starts
    return order[by_group[rank < count]]


def _join(parts: list[Transitions]) -> Transitions:
    """Concatenate transition sets, renumbering trajectories (forward log-probabilities and
    flows are kept only if every part carries them)."""

    def joined(name: str) -> torch.Tensor | None:
        values = [getattr(p, name) for p in parts]
        return None if any(v is None for v in values) else torch.cat(values)

    offset, trajectories = 0, []
    for part in parts:
        trajectories.append(part.trajectory + offset)
        offset += part.lengths.shape[0]
    return Transitions(
        parents=concat([p.parents for p in parts]),
        children=concat([p.children for p in parts]),
        actions=torch.cat([p.actions for p in parts]),
        params=None if parts[0].params is None else torch.cat([p.params for p in parts]),
        trajectory=torch.cat(trajectories),
        step=torch.cat([p.step for p in parts]),
        done=concat([p.done for p in parts]),
        lengths=torch.cat([p.lengths for p in parts]),
        log_pf=joined("log_pf"),
        log_flow=joined("log_flow"),
    )


def conditioning_record(env) -> dict:
    """What a checkpoint records of a conditional environment's encoding (nothing for any
    other environment)."""
    if not getattr(env, "is_conditional", False):
        return {}
    return {"conditioning": {"hide_settled": env.hide_settled}}


def restore_conditioning(env, payload: dict) -> None:
    """Encode as the checkpoint's model was trained: a checkpoint from before
    ``hide_settled`` existed was trained with every feature visible."""
    if getattr(env, "is_conditional", False):
        env.hide_settled = bool(payload.get("conditioning", {}).get("hide_settled", False))


class Trainer:
    """Trains a policy so that it samples done states with probability ∝ reward.

    Args:
        env: the environment (or stack).
        reward: maps ``env.values(done)`` to ``(log R, proxy values)``.
        loss: the training objective (e.g. ``make_loss("tb")``).
        settings: hyper-parameters.
        run_dir: where checkpoints and metrics go (``None``: nothing is written).
        data: done states to train from, replayed through backward trajectories.
    """

    def __init__(
        self,
        env: Environment,
        reward: RewardFn,
        loss: Loss,
        settings: TrainSettings = TrainSettings(),
        run_dir: str | Path | None = None,
        data: State | None = None,
        data_fraction: float = 0.0,
    ):
        loss.check_env(env)
        self.env, self.reward, self.loss, self.settings = env, reward, loss, settings
        self.device = resolve_device(settings.device)  # a clear error when CUDA is missing
        self.world = init_world(self.device)
        if settings.device == "cuda" and self.world.active:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.set_num_threads(settings.threads)
        torch.manual_seed(settings.seed)  # the same initial parameters on every rank
        self.policy = build_policy(env, settings, loss).to(self.device)
        self.loss.to(self.device)
        log_z = list(loss.parameters())
        groups = [{"params": list(self.policy.parameters()), "lr": settings.lr}]
        if log_z:
            groups.append({"params": log_z, "lr": settings.lr_log_z})
        self.base_lrs = [group["lr"] for group in groups]
        self.optimizer = torch.optim.Adam(groups)
        # Each rank samples its own trajectories: its own random stream, on the device of the
        # tensors it draws for.
        self.generator = make_generator(settings.seed + 1_000_003 * self.world.rank, self.device)
        self.replay = ReplayBuffer(settings.replay_capacity)
        if data is not None:
            data = {key: value.to(self.device) for key, value in data.items()}
        self.data, self.data_fraction = data, data_fraction
        self.step = 0
        self.run_dir = Path(run_dir) if run_dir is not None else None

    # -- persistence ------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything needed to continue; the random streams and replay buffers of every rank
        (a collective call when distributed)."""
        return {
            "step": self.step,
            "policy": self.policy.state_dict(),
            "loss": self.loss.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generators": gather(self.generator.get_state(), self.world),
            "replays": gather(self.replay.state_dict(), self.world),
            "settings": attrs.asdict(self.settings),
            **conditioning_record(self.env),
        }

    def load_model(self, payload: dict) -> None:
        """The trained model of a checkpoint (policy, loss, step): all that sampling needs,
        whatever number of processes or device wrote it."""
        self.step = payload["step"]
        self.policy.load_state_dict(payload["policy"])
        self.loss.load_state_dict(payload["loss"])
        restore_conditioning(self.env, payload)

    def load_state_dict(self, payload: dict) -> None:
        """Everything, to continue training exactly: the model, the optimiser and this rank's
        random stream and replay buffer (so the run needs as many processes as wrote it)."""
        self.load_model(payload)
        self.optimizer.load_state_dict(payload["optimizer"])
        if len(payload["generators"]) != self.world.size:
            raise CheckpointError(
                f"the checkpoint was written by {len(payload['generators'])} process(es); resume "
                f"it with the same number (this run has {self.world.size}); sampling from it "
                "works with any number"
            )
        try:
            self.generator.set_state(payload["generators"][self.world.rank])
        except RuntimeError:
            raise CheckpointError(
                f"the checkpoint's random streams were not written on {self.device.type}: resume "
                "it on the device type it was trained on (sampling from it works on any device)"
            ) from None
        self.replay.load_state_dict(payload["replays"][self.world.rank], self.device)

    def save(self) -> Path | None:
        """Write the checkpoint (rank 0 only; every rank must call it)."""
        payload = self.state_dict()
        if not self.world.is_main:
            return None
        return save_checkpoint(self.run_dir / CHECKPOINT, payload)

    def resume(self) -> None:
        """Continue from ``run_dir/checkpoint.pt``; metrics logged after it are dropped."""
        self.load_state_dict(load_checkpoint(self.run_dir / CHECKPOINT))
        metrics = self.run_dir / METRICS
        if self.world.is_main and metrics.exists():
            kept = [
                line
                for line in metrics.read_text().splitlines()
                if json.loads(line)["step"] <= self.step
            ]
            metrics.write_text("".join(line + "\n" for line in kept))

    # -- one batch ---------------------------------------------------------------------------------
    def _transitions(self) -> Transitions:
        s = self.settings
        n_replay = (
            int(round(s.batch_size * s.replay_fraction)) if self.replay.states is not None else 0
        )
        n_data = int(round(s.batch_size * self.data_fraction)) if self.data is not None else 0
        n_policy = s.batch_size - n_replay - n_data
        # On-policy trajectories keep the log-probabilities computed while sampling them
        # (with gradients), so the policy runs once per state instead of twice.
        source = self.env.training_source(n_policy, self.device, self.generator)
        parts = [
            rollout(
                self.env, self.policy, n_policy, self.generator, self.device, s.temperature,
                s.epsilon, track_log_probs=True, source=source,
            )
        ]
        batch_restrictions = torch.unique(source[RESTRICTION]) if RESTRICTION in source else None
        replayed = self.replay.sample(n_replay, self.generator, batch_restrictions)
        if replayed is not None:
            parts.append(backward_transitions(self.env, replayed, self.generator))
        if n_data:
            size = self.data[next(iter(self.data))].shape[0]
            index = torch.randint(
                0, size, (n_data,), generator=self.generator, device=self.generator.device
            )
            parts.append(backward_transitions(self.env, select(self.data, index), self.generator))
        if len(parts) == 1:
            return parts[0]
        return _join([with_forward_log_probs(self.env, self.policy, part) for part in parts])

    def log_rewards(self, done: State) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """log R of done states, divided by their number of labelled variants."""
        log_r, predictions = self.reward(self.env.values(done))
        return log_r.double() - self.env.log_label_count(done).to(log_r.device), predictions

    def batch_loss(self, transitions: Transitions) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss of a batch and the log-rewards of its done states."""
        log_r, _ = self.log_rewards(transitions.done)
        log_r = log_r.float()
        log_pf, log_pb, log_flow = log_probs(self.env, self.policy, transitions)
        batch = TrainingBatch(
            env=self.env,
            policy=self.policy,
            transitions=transitions,
            log_reward=log_r,
            log_pf=log_pf,
            log_pb=log_pb,
            log_flow=log_flow,
        )
        return self.loss.evaluate(batch), log_r

    def learned_log_z(self) -> float | None:
        """The loss's log-partition estimate (TB's and VarGrad's own, log F(source), ...)."""
        return self.loss.estimate_log_z(self.env, self.policy, self.device)

    # -- the loop ----------------------------------------------------------------------------------
    def train(
        self,
        progress: bool = False,
        on_step: Callable[[dict], None] | None = None,
        max_seconds: float | None = None,
    ) -> bool:
        """Train up to ``settings.steps``; returns whether every step was taken.

        ``max_seconds`` (wall clock of this call) stops training after the first step that
        ends past it, with a checkpoint there (in a run folder): the steps taken are exactly
        the first steps of the full run (the learning-rate schedule stays that of
        ``settings.steps``), so :meth:`resume` finishes the same run."""
        s = self.settings
        main = self.world.is_main
        log = (self.run_dir / METRICS).open("a") if self.run_dir is not None and main else None
        started, first_step = time.perf_counter(), self.step
        try:
            while self.step < s.steps:
                if self.step > first_step and self._out_of_time(started, max_seconds):
                    if self.run_dir is not None and self.step % s.checkpoint_every != 0:
                        self._check_ranks_agree()
                        self.save()
                    return False
                tick = time.perf_counter()
                streams = self.generator.get_state()
                try:
                    transitions = self._transitions()
                    value, log_r = self.batch_loss(transitions)
                except RewardError as error:
                    raise self._stopped(error, streams) from None
                self.optimizer.zero_grad()
                value.backward()
                average_gradients([*self.policy.parameters(), *self.loss.parameters()], self.world)
                factor = s.lr_factor(self.step)
                for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
                    group["lr"] = base_lr * factor
                self.optimizer.step()
                self.replay.add(self.env, transitions.done, log_r.detach().double())
                self.step += 1
                elapsed = time.perf_counter() - tick
                metrics = {
                    "step": self.step,
                    "loss": float(value.detach()),
                    "log_z": self.learned_log_z(),
                    "mean_log_reward": float(log_r.mean()),
                    "max_log_reward": float(log_r.max()),
                    "trajectories_per_s": s.batch_size * self.world.size / elapsed,
                    # wall time of the step, s: summed by reports into the training time
                    # (a resumed run's steps add up, unlike a clock started at launch)
                    "seconds": elapsed,
                }
                if log is not None:
                    log.write(json.dumps(metrics) + "\n")
                    log.flush()
                if on_step is not None:
                    on_step(metrics)
                if self.run_dir is not None and (
                    self.step % s.checkpoint_every == 0 or self.step == s.steps
                ):
                    self._check_ranks_agree()
                    self.save()
                if progress and main:
                    _progress(
                        self.step, s.steps, metrics, time.perf_counter() - started, first_step
                    )
        finally:
            if log is not None:
                log.close()
            if progress and main and sys.stderr.isatty():
                sys.stderr.write("\n")
        return True

    def _out_of_time(self, started: float, max_seconds: float | None) -> bool:
        """Whether ``max_seconds`` have passed since ``started``; under torchrun, whether they
        have on any rank, so that every rank stops at the same step."""
        if max_seconds is None:
            return False
        late = time.perf_counter() - started >= max_seconds
        return any(gather(late, self.world)) if self.world.active else late

    def _stopped(self, error: RewardError, streams: torch.Tensor) -> RewardError:
        """The error that ends a run whose reward failed at step ``self.step + 1``, after keeping
        the last good state: nothing has changed since step ``self.step`` but the random stream,
        which is rewound to ``streams`` so that the checkpoint equals the one an uninterrupted
        run writes there (not when distributed: the other ranks cannot join a checkpoint)."""
        text = f"training stopped at step {self.step + 1}: {str(error).rstrip('.')}"
        if self.run_dir is None:
            return RewardError(text)
        path = self.run_dir / CHECKPOINT
        if not self.world.active and self.step > 0:
            self.generator.set_state(streams)
            self.save()
        if not path.exists():
            return RewardError(f"{text}. No step completed, so no checkpoint was written")
        return RewardError(
            f"{text}. The last good checkpoint (step {load_checkpoint(path)['step']}) is kept in "
            f"{path}; fix the proxy or set on_nan = \"floor\" in {self.run_dir / 'config.toml'}, "
            "then continue with --resume"
        )

    def _check_ranks_agree(self) -> None:
        """All ranks must hold the same parameters (they apply the same averaged updates)."""
        checksums = gather(parameters_checksum(self.policy), self.world)
        if max(checksums) - min(checksums) > 1e-6 * max(1.0, abs(checksums[0])):
            raise RuntimeError(f"ranks diverged: parameter checksums {checksums}")


def _progress(step: int, total: int, metrics: dict, elapsed: float, start: int = 0) -> None:
    """A live bar on a terminal; elsewhere (logs, CI) a plain line every 5% of the run. Both
    give the elapsed time and the ETA (seconds, from the mean time per step of this launch;
    ``start``: the step it began at, above 0 when resumed)."""
    eta = elapsed / max(step - start, 1) * (total - step)
    log_z = f" logZ {metrics['log_z']:.2f}" if metrics["log_z"] is not None else ""
    values = (
        f"loss {metrics['loss']:.3f}{log_z} mean logR {metrics['mean_log_reward']:.2f} "
        f"{metrics['trajectories_per_s']:.0f} traj/s elapsed {clock(elapsed)} ETA {clock(eta)}"
    )
    if not sys.stderr.isatty():
        every = max(1, total // 20)
        if step % every == 0 or step == total:
            sys.stderr.write(f"step {step}/{total} ({100 * step // total}%) {values}\n")
        return
    width = 30
    filled = int(width * step / total)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {step}/{total} {values} ")
    sys.stderr.flush()


def build_policy(env: Environment, settings: TrainSettings, loss: Loss) -> Policy:
    """The (untrained) policy a run with ``settings`` and ``loss`` trains: the registered
    ``settings.policy`` with ``settings.policy_kwargs``, providing what the loss needs."""
    from crystalgfn.builders import make_policy

    loss.check_env(env)  # the loss may need more of the policy on some spaces (conditional TB)
    return make_policy(
        settings.policy, env, settings, loss.policy_outputs, **settings.policy_kwargs
    )


def sample_policy(
    env: Environment,
    policy,
    n: int,
    batch_size: int,
    generator: torch.Generator,
    device="cpu",
    progress: bool = False,
) -> State:
    """``n`` done states sampled from ``policy`` in batches; with ``progress``, a line per
    batch (or per 5 % of the batches) with the elapsed time and the ETA on stderr."""
    batches = []
    counter = Progress("sample", n, "crystals", enabled=progress)
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        batches.append(rollout(env, policy, size, generator, device, record=False))
        counter.advance(size)
    return concat(batches)


__all__ = [
    "ReplayBuffer",
    "TrainSettings",
    "Trainer",
    "build_policy",
    "masked_log_softmax",
    "sample_policy",
]
