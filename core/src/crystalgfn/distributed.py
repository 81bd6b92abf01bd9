"""Multi-process training on ``torch.distributed`` (launched with ``torchrun``).

Each rank samples its own trajectories with its own random stream (seed + rank); after every
backward pass the gradients of the policy and of the loss (log Z included) are averaged with
``all_reduce``, so all ranks apply the same update and stay identical. Replay buffers are per
rank. Only rank 0 writes metrics and checkpoints; a checkpoint holds every rank's random
generator and replay buffer, so ``--resume`` continues each rank exactly. The backend is
``nccl`` when training on CUDA and ``gloo`` on CPU.

Launch (one machine, N processes)::

    torchrun --nproc_per_node=N -m crystalgfn train --config run.toml --out runs/x
"""

from __future__ import annotations

import os

import attrs
import torch
import torch.distributed as dist


@attrs.frozen
class World:
    """Where this process stands: ``rank`` among ``size`` processes (1 when not distributed)."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.size > 1


def init_world(device: torch.device) -> World:
    """Join the process group ``torchrun`` described in the environment, if any."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return World(rank=dist.get_rank(), size=dist.get_world_size())


def leave_world(world: World) -> None:
    """Wait for every rank, then tear the process group down.

    Without this, a rank that finishes first exits while gloo's background threads still hold
    connections to its peers, and the C++ runtime aborts it ("terminate called without an
    active exception"), so ``torchrun`` reports a failed run after a successful one.
    """
    if world.active and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def average_gradients(parameters, world: World) -> None:
    """Average ``.grad`` of ``parameters`` over all ranks (in place)."""
    if not world.active:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= world.size
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()


def gather(obj, world: World) -> list:
    """Every rank's ``obj`` (a list of length ``world.size``; ``[obj]`` when not distributed)."""
    if not world.active:
        return [obj]
    out = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def parameters_checksum(module: torch.nn.Module) -> float:
    """A cheap fingerprint of all parameters, to check that ranks stay identical."""
    with torch.no_grad():
        return float(sum(p.double().sum() + p.double().abs().sum() for p in module.parameters()))
