"""Throughput and memory benchmark of the full paper-sized crystal stack.

Usage::

    .venv/bin/python bench/run.py [--quick] [--threads N] [--repeats R] [--out bench/results.json]

Measures, on ``crystalgfn.make_env("crystal")`` (230 space groups, 22 elements, at most 16
atoms per element, at most 5 elements, lattice):

* ``uniform``: rollouts per second of :class:`crystalgfn.policy.UniformPolicy` with
  ``crystalgfn.sampling.rollout(record=False)`` at batch 100, 1,000 and 10,000;
* ``mlp_sampling``: crystals per second sampled from an :class:`~crystalgfn.policy.MLPPolicy`
  with default sizes and random weights (same cost as a trained one) at batch 1,000 and 10,000;
* ``training``: seconds per iteration and trajectories per second of
  :class:`crystalgfn.trainer.Trainer` (trajectory balance, density proxy with a power reward)
  at batch 16, 64, 256 and 1,024;
* ``proxy``: crystals per second of each installed proxy on 100,000 crystals;
* peak memory of each measurement (see ``PeakRSS``).

Every number is the median of ``--repeats`` (default 3) timed repeats after one untimed
warm-up. ``--quick`` runs a reduced smoke version in well under a minute.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

import crystalgfn
import torch
from crystalgfn.policy import MLPPolicy, UniformPolicy
from crystalgfn.sampling import rollout

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class PeakRSS:
    """Peak resident-set size of this process while the block runs, minus the RSS when it
    started (bytes). A background thread samples ``/proc/self/statm`` every 2 ms, so it sees
    Python objects and torch CPU tensors alike (torch's CPU allocator uses malloc, and large
    tensors are mmap-backed, so their pages leave the RSS when freed). ``resource`` maxrss
    is recorded too, but it only ever grows over the life of the process."""

    def __init__(self, interval: float = 0.002):
        self.interval = interval
        self.peak = 0
        self.start = 0

    def _watch(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def __enter__(self):
        self.start = _rss_bytes()
        self.peak = self.start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def machine_info() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "affinity_cores": (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        ),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_start": list(os.getloadavg()),
    }


def timed(fn, repeats: int, warmup: int = 1) -> tuple[list[float], float]:
    """``(times, peak RSS delta MiB)`` of ``repeats`` calls of ``fn`` after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    with PeakRSS() as peak:
        for _ in range(repeats):
            tick = time.perf_counter()
            fn()
            times.append(time.perf_counter() - tick)
    return times, peak.delta_mib


def bench_sampling(env, policy, batches, repeats, label) -> list[dict]:
    rows = []
    generator = torch.Generator().manual_seed(0)
    for batch in batches:
        times, mem = timed(
            lambda batch=batch: rollout(env, policy, batch, generator, record=False), repeats
        )
        median = statistics.median(times)
        rows.append({
            "what": label, "batch": batch, "median_s": median, "times_s": times,
            "per_s": batch / median, "peak_rss_delta_mib": mem,
        })
        print(f"  {label:14s} batch {batch:6d}: {median:8.3f} s  "
              f"{batch / median:10.0f} crystals/s  peak +{mem:7.1f} MiB", flush=True)
    return rows


def make_reward(env, proxy_name: str):
    from crystalgfn.rewards import Objective, Reward, RewardFunction

    proxy = crystalgfn.make_proxy(proxy_name)
    crystalgfn.check_compatible(env, proxy)
    kind = {"density": RewardFunction(kind="power", params={"exponent": 1.0})}.get(
        proxy_name, RewardFunction(kind="exponential", params={"beta": -8.0})
    )
    return Reward(objectives=[Objective(proxy=proxy, reward=kind)])


def bench_training(env, batches, repeats, proxy_name) -> list[dict]:
    from crystalgfn.trainer import Trainer, TrainSettings

    rows = []
    reward = make_reward(env, proxy_name)
    for batch in batches:
        settings = TrainSettings(steps=1 + repeats, batch_size=batch, seed=0)
        trainer = Trainer(env, reward, crystalgfn.make_loss("tb"), settings)
        stamps = []
        peak = PeakRSS()

        def on_step(metrics, stamps=stamps, peak=peak):
            stamps.append(time.perf_counter())
            if len(stamps) == 1:  # warm-up done: start measuring memory
                peak.__enter__()

        trainer.train(on_step=on_step)
        peak.__exit__()
        times = [b - a for a, b in itertools.pairwise(stamps)]
        median = statistics.median(times)
        rows.append({
            "what": "training", "batch": batch, "proxy": proxy_name, "median_s": median,
            "times_s": times, "per_s": batch / median, "peak_rss_delta_mib": peak.delta_mib,
        })
        print(f"  training       batch {batch:6d}: {median:8.3f} s/it "
              f"{batch / median:10.0f} traj/s      peak +{peak.delta_mib:7.1f} MiB", flush=True)
    return rows


def bench_proxies(env, n_crystals, repeats) -> list[dict]:
    from crystalgfn.plugins import get_plugins

    generator = torch.Generator().manual_seed(1)
    base = min(n_crystals, 10_000)
    done = rollout(env, UniformPolicy(env), base, generator, record=False)
    values = env.values(done)
    reps = -(-n_crystals // base)
    values = {k: v.repeat(reps, *([1] * (v.dim() - 1)))[:n_crystals] for k, v in values.items()}
    rows = []
    names = sorted(get_plugins().proxies.names())
    for name in names:
        try:
            proxy = crystalgfn.make_proxy(name)
        except Exception as error:  # a proxy whose optional dependencies are missing
            print(f"  proxy {name}: skipped ({error})")
            continue
        with torch.no_grad():
            times, mem = timed(lambda proxy=proxy: proxy(values), repeats)
        median = statistics.median(times)
        rows.append({
            "what": "proxy", "proxy": name, "batch": n_crystals, "median_s": median,
            "times_s": times, "per_s": n_crystals / median, "peak_rss_delta_mib": mem,
        })
        print(f"  proxy {name:18s} {n_crystals} crystals: {median:8.3f} s  "
              f"{n_crystals / median:10.0f} crystals/s  peak +{mem:7.1f} MiB", flush=True)
    return rows


SECTIONS = ("uniform", "mlp", "training", "proxy")


def _at_least_one(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return int(text)


def _sections(text: str) -> set[str]:
    chosen = {part.strip() for part in text.split(",")}
    unknown = sorted(chosen - set(SECTIONS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}"
        )
    return chosen


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (< 1 min)")
    parser.add_argument("--threads", type=_at_least_one, default=None,
                        help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--repeats", type=_at_least_one, default=None,
                        help="timed repeats (default 3, quick 1)")
    parser.add_argument("--out", default="bench/results.json", help="JSON output path")
    parser.add_argument("--only", type=_sections, default=set(SECTIONS),
                        help=f"comma-separated sections to run, of {','.join(SECTIONS)} "
                             "(default: all)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = args.repeats or (1 if args.quick else 3)
    sections = args.only

    info = machine_info()
    print("machine:", json.dumps(info))
    tick = time.perf_counter()
    with PeakRSS() as build_mem:
        env = crystalgfn.make_env("crystal")
    info["env_build_s"] = time.perf_counter() - tick
    info["env_build_rss_mib"] = build_mem.delta_mib
    print(f"env: {env!r}, encoding {env.encoding_dim}, built in {info['env_build_s']:.1f} s")

    results: list[dict] = []
    if "uniform" in sections:
        print("uniform-policy rollouts")
        batches = (100, 1000) if args.quick else (100, 1000, 10_000)
        results += bench_sampling(env, UniformPolicy(env), batches, repeats, "uniform")
    if "mlp" in sections:
        print("MLP-policy sampling")
        torch.manual_seed(0)
        policy = MLPPolicy(env)
        batches = (1000,) if args.quick else (1000, 10_000)
        results += bench_sampling(env, policy, batches, repeats, "mlp_sampling")
    if "training" in sections:
        print("training (tb, density proxy, power reward)")
        batches = (16, 64) if args.quick else (16, 64, 256, 1024)
        results += bench_training(env, batches, repeats, "density")
    if "proxy" in sections:
        print("proxy inference")
        results += bench_proxies(env, 10_000 if args.quick else 100_000, repeats)

    info["load_average_end"] = list(os.getloadavg())
    info["maxrss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    payload = {"quick": args.quick, "repeats": repeats, "machine": info, "results": results}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")

    print()
    print(f"{'measurement':16s} {'batch':>7s} {'median s':>10s} {'per s':>12s} {'peak MiB':>9s}")
    for row in results:
        name = row["what"] if row["what"] != "proxy" else f"proxy:{row['proxy']}"
        print(f"{name:16s} {row['batch']:7d} {row['median_s']:10.3f} {row['per_s']:12.0f} "
              f"{row['peak_rss_delta_mib']:9.1f}")
    print(f"load average start {info['load_average_start']}, end {info['load_average_end']}; "
          f"process maxrss {info['maxrss_mib']:.0f} MiB; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
