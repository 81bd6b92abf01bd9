"""Inference throughput of the MLP proxies (crystals per second) on random valid-looking
batches.

    python proxies/mlp/bench/bench_inference.py --threads 2 --batch 100000
    # unpackaged weights:
    python proxies/mlp/bench/bench_inference.py --proxy band_gap --weights DIR

Batches: random space groups, 1-5 elements drawn from the proxy's accepted elements with
1-16 atoms each, lattice lengths 3-15 Å and angles 60-120°. Reports the median of ``--repeats``
timed calls after one warm-up call, and the share spent in featurisation.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def random_batch(n: int, accepted_z: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z = torch.tensor(accepted_z)
    comp = torch.zeros(n, 119)
    n_el = torch.randint(1, 6, (n,), generator=g)
    for k in range(5):
        rows = torch.nonzero(n_el > k).flatten()
        cols = z[torch.randint(0, len(z), (len(rows),), generator=g)]
        comp[rows, cols] += torch.randint(1, 17, (len(rows),), generator=g).float()
    lengths = 3 + 12 * torch.rand(n, 3, generator=g)
    angles = 60 + 60 * torch.rand(n, 3, generator=g)
    lat = torch.cat([lengths, angles], 1)
    sg = torch.randint(1, 231, (n,), generator=g)
    return {"spacegroup": sg, "composition": comp, "lattice": lat}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--proxy", default="formation_energy",
                        choices=["formation_energy", "band_gap"])
    parser.add_argument("--weights", default=None, help="folder with model.pt/metadata.json")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=4096, help="MLPProxy chunk_size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.proxy == "formation_energy":
        from crystalgfn_formation_energy import FormationEnergy as cls
    else:
        from crystalgfn_band_gap import BandGap as cls
    from crystalgfn.elements import atomic_number
    from crystalgfn_mlp.features import featurize

    proxy = cls(weights_path=args.weights, chunk_size=args.chunk)
    batch = random_batch(args.batch, [atomic_number(s) for s in proxy.accepted_elements])
    proxy(batch)  # warm-up and lazy load
    times, feat_times = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = proxy(batch)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        featurize(batch)
        feat_times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    feat_med = statistics.median(feat_times)
    print(f"{args.proxy}: batch {args.batch}, {args.threads} threads, chunk {args.chunk}: "
          f"median {med * 1e3:.1f} ms -> {args.batch / med:,.0f} crystals/s "
          f"(featurisation {feat_med * 1e3:.1f} ms); "
          f"output finite: {bool(torch.isfinite(out).all())}")


if __name__ == "__main__":
    main()
