"""Contract checks for plugin authors: call them from your plugin's tests.

``check_env`` rolls random trajectories under the masks and verifies the environment
contract (no dead ends, backward steps undo forward steps, value round trips);
``check_proxy`` and ``check_loss`` verify the proxy and loss contracts. Each raises
``AssertionError`` with a description of the first violation.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from crystalgfn.env import Environment
from crystalgfn.loss import Loss
from crystalgfn.proxy import Proxy
from crystalgfn.states import State, assign, equal, select
from crystalgfn.trajectories import Trajectories


def _random_actions(mask: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.multinomial(mask.float(), 1, generator=generator).squeeze(1)


def _check_step_round_trip(env: Environment, parent: State, actions, params, child: State) -> None:
    back_mask = env.backward_mask(child)
    taken = back_mask.gather(1, actions[:, None]).squeeze(1)
    if not bool(taken.all()):
        raise AssertionError(f"{env!r}: backward_mask of a child excludes the action that made it")
    restored, restored_params = env.step_back(child, actions)
    same = equal(restored, parent)
    if not bool(same.all()):
        row = int((~same).nonzero()[0])
        raise AssertionError(
            f"{env!r}: step_back does not undo step: parent {select(parent, torch.tensor([row]))} "
            f"became {select(restored, torch.tensor([row]))}"
        )
    if params is not None and env.n_params:
        if restored_params is None or not torch.allclose(restored_params, params, atol=1e-4):
            raise AssertionError(f"{env!r}: step_back does not return the forward step's params")


def _check_mask_columns(env: Environment, state: State, mask: torch.Tensor) -> None:
    """``mask_columns`` must list exactly the columns some row allows, with their entries."""
    columns, block = env.mask_columns(state)
    expected = mask.any(dim=0).nonzero().squeeze(1)
    if not torch.equal(columns, expected) or not torch.equal(block, mask[:, columns]):
        raise AssertionError(
            f"{env!r}: mask_columns disagrees with forward_mask "
            f"(columns {columns.tolist()[:10]}..., expected {expected.tolist()[:10]}...)"
        )


def rollout_uniform(env: Environment, batch_size: int, seed: int = 0, check: bool = False) -> State:
    """Done states from uniformly random allowed actions; with ``check``, verify the contract
    at every step. A uniform continuous head is obtained from raw outputs of zero."""
    generator = torch.Generator().manual_seed(seed)
    state = env.source(batch_size)
    for _ in range(env.max_steps + 1):
        done = env.is_done(state)
        if bool(done.all()):
            return state
        rows = (~done).nonzero().squeeze(1)
        active = select(state, rows)
        mask = env.forward_mask(active)
        if check and not bool(mask.any(dim=1).all()):
            raise AssertionError(f"{env!r}: dead end, a state that is not done allows no action")
        if check:
            _check_mask_columns(env, active, mask)
        actions = _random_actions(mask, generator)
        params = None
        if env.n_params:
            raw = torch.zeros(rows.shape[0], env.n_param_outputs)
            params = env.sample_params(active, actions, raw, generator)
        child = env.step(active, actions, params)
        if check:
            _check_step_round_trip(env, active, actions, params, child)
        state = assign(state, rows, child)
    raise AssertionError(f"{env!r}: trajectories longer than max_steps={env.max_steps}")


def check_env(env: Environment, batch_size: int = 64, seed: int = 0) -> State:
    """Verify the environment contract on random trajectories; returns the done states."""
    source = env.source(batch_size)
    if not bool(env.is_source(source).all()) or bool(env.is_done(source).any()):
        raise AssertionError(f"{env!r}: source states must be is_source and not is_done")
    if env.backward_mask(source).any():
        raise AssertionError(f"{env!r}: the source has no parents, its backward_mask must be empty")
    encoding = env.encode(source)
    if encoding.shape != (batch_size, env.encoding_dim) or not bool(torch.isfinite(encoding).all()):
        raise AssertionError(f"{env!r}: encode must return finite (batch, {env.encoding_dim})")
    done = rollout_uniform(env, batch_size, seed=seed, check=True)
    if env.forward_mask(done).any():
        raise AssertionError(f"{env!r}: done states must allow no forward action")
    values = env.values(done)
    missing = [part for part in env.provides if part not in values]
    if missing:
        raise AssertionError(f"{env!r}: values() lacks the parts {missing} it provides")
    rebuilt = env.from_values(values)
    if not bool(env.is_done(rebuilt).all()):
        raise AssertionError(f"{env!r}: from_values must return done states")
    again = env.values(rebuilt)
    for part, tensor in values.items():
        if not torch.equal(again[part], tensor):
            raise AssertionError(
                f"{env!r}: values(from_values(v)) differs from v for part {part!r}"
            )
    return done


def check_proxy(proxy: Proxy, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Verify the proxy contract on ``batch``; returns the values."""
    for part in proxy.requires:
        if part not in batch:
            raise AssertionError(
                f"check_proxy: the test batch lacks {part!r}, required by {proxy.name!r}"
            )
    values = proxy(batch)
    size = batch[proxy.requires[0]].shape[0] if proxy.requires else values.shape[0]
    if values.shape != (size,) or not values.is_floating_point():
        raise AssertionError(f"proxy {proxy.name!r} must return a float ({size},) tensor")
    if not bool(torch.isfinite(values).all()):
        raise AssertionError(f"proxy {proxy.name!r} returned non-finite values")
    _check_uncertainty(proxy, batch, values)
    return values


def _check_uncertainty(
    proxy: Proxy, batch: Mapping[str, torch.Tensor], values: torch.Tensor
) -> None:
    """A proxy that declares an uncertainty returns ``(mean, std)`` of its values' shape, the
    mean equal to its values and the std finite and non-negative, in its unit; a threshold
    that is a finite number >= 0."""
    from crystalgfn.proxy import Uncertainty

    declared = getattr(proxy, "uncertainty", None)
    if declared is None:
        return
    if not isinstance(declared, Uncertainty):
        raise AssertionError(
            f"proxy {proxy.name!r}: 'uncertainty' must be None or a crystalgfn.proxy.Uncertainty, "
            f"got {declared!r}"
        )
    if not (declared.threshold >= 0 and torch.isfinite(torch.tensor(declared.threshold))):
        raise AssertionError(f"proxy {proxy.name!r}: uncertainty threshold {declared.threshold!r}")
    mean, std = proxy.call_with_uncertainty(batch)
    if not torch.allclose(mean, values, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"proxy {proxy.name!r}: the mean of predict_with_uncertainty differs from predict"
        )
    if not std.is_floating_point() or not bool((torch.isfinite(std) & (std >= 0)).all()):
        raise AssertionError(f"proxy {proxy.name!r}: the std must be finite and >= 0")


def check_loss(loss: Loss, batch_size: int = 8, steps: int = 5, seed: int = 0) -> torch.Tensor:
    """Verify the loss contract on random trajectories; returns the loss value.

    The trajectories carry what the loss declares it needs: state flows for ``needs_flows``
    (entry ``length`` is log R), edge flows for ``needs_edge_flows`` (the outflow of the done
    state is log R). Checked: the loss is a finite, non-negative scalar; it is differentiable,
    with finite gradients, in the policy outputs it reads (log P_F, or the edge flows, and the
    state flows); and it ignores padding (entries past a trajectory's end do not change it).
    """
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (batch_size,), generator=generator)
    index = torch.arange(steps)[None, :]
    step_mask = index < lengths[:, None]
    log_reward = torch.randn(batch_size, generator=generator)
    log_pf = (-torch.rand(batch_size, steps, generator=generator)).requires_grad_()
    log_pb = -torch.rand(batch_size, steps, generator=generator)
    # Each raw tensor is a leaf (its gradient is checked); ``padded`` gives the values the
    # loss receives, with ``fill`` ``(3, B, T + 1)`` in the padding (entries past the
    # trajectory's end) of the state flows, the inflows and the outflows.
    raw_flows = torch.randn(batch_size, steps + 1, generator=generator).requires_grad_()
    raw_inflow = torch.randn(batch_size, steps, generator=generator).requires_grad_()
    raw_outflow = torch.randn(batch_size, steps, generator=generator).requires_grad_()
    flow_index = torch.arange(steps + 1)[None, :]
    last_step = index == (lengths - 1)[:, None]

    def padded(fill: torch.Tensor) -> Trajectories:
        flows = inflow = outflow = None
        if loss.needs_flows:
            flows = torch.where(flow_index == lengths[:, None], log_reward[:, None], raw_flows)
            flows = torch.where(flow_index > lengths[:, None], fill[0], flows)
        if loss.needs_edge_flows:
            outflow = torch.where(last_step, log_reward[:, None], raw_outflow)
            inflow = torch.where(step_mask, raw_inflow, fill[1, :, :steps])
            outflow = torch.where(step_mask, outflow, fill[2, :, :steps])
        return Trajectories(
            log_pf=log_pf * step_mask,
            log_pb=log_pb * step_mask,
            log_reward=log_reward,
            step_mask=step_mask,
            log_flows=flows,
            log_inflow=inflow,
            log_outflow=outflow,
        )

    value = loss(padded(torch.zeros(3, batch_size, steps + 1)))
    if value.shape != () or not bool(torch.isfinite(value)) or float(value.detach()) < 0:
        raise AssertionError(f"loss {loss.name!r} must return a finite, non-negative scalar")
    if not value.requires_grad:
        raise AssertionError(f"loss {loss.name!r} must be differentiable (it has no gradient)")
    value.backward()
    inputs = {"log P_F": log_pf} if not loss.needs_edge_flows else {}
    if loss.needs_flows:
        inputs["the state flows"] = raw_flows
    if loss.needs_edge_flows:
        inputs.update({"the inflows": raw_inflow, "the outflows": raw_outflow})
    for what, leaf in inputs.items():
        if leaf.grad is None or not bool(torch.isfinite(leaf.grad).all()):
            raise AssertionError(f"loss {loss.name!r} must be differentiable in {what}")
    with torch.no_grad():
        noise = 10 * torch.randn(3, batch_size, steps + 1, generator=generator)
        again = loss(padded(noise))
    value = value.detach()
    if not torch.allclose(again, value, rtol=1e-5, atol=1e-6):
        raise AssertionError(
            f"loss {loss.name!r} depends on padding: flows past a trajectory's end changed it "
            f"from {float(value)} to {float(again)}"
        )
    return value


def check_oracle(oracle, structures) -> list:
    """Relax each pymatgen ``Structure`` of ``structures`` with ``oracle`` and verify the
    oracle contract; returns the :class:`crystalgfn.oracle.Relaxation` objects.

    Checked: finite energies per atom; the relaxed structure keeps the composition; the
    relaxation does not raise the energy; ``steps`` within the oracle's limit; ``converged``
    agrees with the residual force; the reference has an elemental entry for every element
    of the structures and names its provenance.
    """
    import math

    from crystalgfn.oracle import Oracle, OracleReference, Relaxation

    if not isinstance(oracle, Oracle):
        raise AssertionError(f"{oracle!r} is not a crystalgfn.oracle.Oracle")
    if not oracle.name or not oracle.energy_scale:
        raise AssertionError(f"{type(oracle).__name__} must set 'name' and 'energy_scale'")
    reference = oracle.reference()
    if not isinstance(reference, OracleReference) or not reference.entries:
        raise AssertionError(f"{oracle.name}: reference() must return a non-empty OracleReference")
    if not reference.provenance:
        raise AssertionError(f"{oracle.name}: the reference must record its provenance")
    relaxations = []
    for structure in structures:
        elements = set(structure.symbol_set)
        missing = elements - reference.elements
        if missing:
            raise AssertionError(f"{oracle.name}: no elemental reference for {sorted(missing)}")
        relaxation = oracle.relax(structure)
        if not isinstance(relaxation, Relaxation):
            raise AssertionError(f"{oracle.name}: relax must return a Relaxation")
        formula = structure.reduced_formula
        if relaxation.structure.reduced_formula != formula:
            raise AssertionError(f"{oracle.name}: relaxing {formula} changed its reduced formula")
        energies = (relaxation.energy_per_atom, relaxation.initial_energy_per_atom)
        if not all(math.isfinite(e) for e in energies):
            raise AssertionError(f"{oracle.name}: non-finite energy for {formula}: {energies}")
        if relaxation.energy_per_atom > relaxation.initial_energy_per_atom + 1e-3:
            raise AssertionError(
                f"{oracle.name}: relaxing {formula} raised its energy per atom from "
                f"{relaxation.initial_energy_per_atom} to {relaxation.energy_per_atom}"
            )
        if not 0 <= relaxation.steps <= oracle.steps:
            raise AssertionError(
                f"{oracle.name}: {relaxation.steps} steps outside 0..{oracle.steps}")
        if relaxation.converged and relaxation.max_force > oracle.fmax + 1e-6:
            raise AssertionError(
                f"{oracle.name}: {formula} reported converged with a residual force of "
                f"{relaxation.max_force} eV/Å > fmax {oracle.fmax}"
            )
        relaxations.append(relaxation)
    return relaxations
