"""Active learning: the oracle teaches the proxy, round after round (``crystalgfn
active-learn``).

A campaign repeats: train (or continue training) the GFlowNet on the current proxy's reward;
sample and pick a batch by an acquisition rule; relax and label the batch with an oracle;
fine-tune an oracle-fidelity copy of the proxy ensemble on every oracle label so far; log.

* :mod:`~crystalgfn.active.config` — the campaign config (validated) and the run config of
  each round;
* :mod:`~crystalgfn.active.acquire` — the acquisition rule (UCB with diversity);
* :mod:`~crystalgfn.active.fidelity` — the declared interface of a proxy that can be
  fine-tuned on another fidelity's labels;
* :mod:`~crystalgfn.active.campaign` — the rounds, checkpointed phase by phase;
* :mod:`~crystalgfn.active.report` — labels, per-round curves and the best crystals.
"""
