"""Early-exit rules and early-exit inference on multi-exit models (``model.exits(x)`` yields logits exit by exit).

Rules, checked at each internal classifier in order (the final exit always takes what is left):

* ``confidence`` (SDN): exit when max_c softmax(F_i(x))_c >= tau_i;
* ``entropy`` (MSDNet): exit when H(softmax(F_i(x))) <= tau_i (nats).

``taus`` is one number (one global threshold, as the DeepSloth code) or one per internal classifier.

Three ways to get the same exits:

* :func:`first_exits` on every exit's logits (computed once, :func:`all_exit_logits`): what calibration and
  metrics use, vectorised over the thresholds;
* :func:`early_exit_batched`: real early-exit inference on batches; samples that exit are dropped from the batch
  (index compaction), the rest go on to the next block, so each exit computes only for samples still running;
* :func:`early_exit_single`: one sample at a time, stopping at its exit (the latency path of the paper).

In eval mode every sample is computed independently (BatchNorm on running statistics), so all three give the
same exits; a test checks it.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

__all__ = ["RULES", "exit_score", "fires", "first_exits", "all_exit_logits", "early_exit_batched",
           "early_exit_single", "expand_taus"]

RULES = ("confidence", "entropy")
Taus = Union[float, Sequence[float]]


def exit_score(logits: torch.Tensor, rule: str) -> torch.Tensor:
    """The rule's per-sample score: max softmax (confidence) or softmax entropy in nats (entropy)."""
    logp = F.log_softmax(logits.float(), dim=-1)
    if rule == "confidence":
        return logp.exp().amax(dim=-1)
    if rule == "entropy":
        return -(logp.exp() * logp).sum(dim=-1)
    raise ValueError(f"unknown exit rule {rule!r}; valid: {', '.join(RULES)}")


def fires(score: torch.Tensor, rule: str, tau: Union[float, torch.Tensor]) -> torch.Tensor:
    return score >= tau if rule == "confidence" else score <= tau


def expand_taus(taus: Taus, num_ics: int) -> List[float]:
    """One threshold per internal classifier."""
    if isinstance(taus, (int, float)):
        return [float(taus)] * num_ics
    taus = [float(t) for t in taus]
    if len(taus) != num_ics:
        raise ValueError(f"{len(taus)} thresholds for {num_ics} internal classifiers")
    return taus


def first_exits(scores: torch.Tensor, rule: str, taus: Taus) -> torch.Tensor:
    """Exit index of each sample from the scores of every exit.

    Args:
        scores: ``(K, N)`` scores (:func:`exit_score`) of the K exits (the last row, the final exit's, is unused).
        rule: ``confidence`` or ``entropy``.
        taus: global or per-IC thresholds.

    Returns:
        ``(N,)`` int64 exit indices in [0, K).
    """
    k = scores.shape[0]
    t = torch.tensor(expand_taus(taus, k - 1), dtype=scores.dtype, device=scores.device).view(-1, 1)
    fired = fires(scores[:-1], rule, t)
    fired = torch.cat([fired, torch.ones_like(fired[:1])], dim=0)
    return fired.float().argmax(dim=0)   # the first True (the final row is always True)


@torch.no_grad()
def all_exit_logits(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """``(K, N, C)`` logits of every exit on ``x`` (eval mode is the caller's), on the CPU."""
    device = _device(model)
    out = []
    for start in range(0, x.shape[0], batch_size):
        out.append(torch.stack([o.float() for o in model(x[start:start + batch_size].to(device))]).cpu())
    return torch.cat(out, dim=1)


def _device(model) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def early_exit_batched(model, x: torch.Tensor, rule: str, taus: Taus, batch_size: int = 500
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Early-exit inference on batches: ``(exit index, prediction)`` per sample, both int64 on the CPU.

    After each internal classifier the samples that exit leave the batch (``model.exits`` generator's
    ``send(rows)``), so later blocks compute only the samples still running.
    """
    device = _device(model)
    n = x.shape[0]
    last = model.num_exits - 1
    taus_list = expand_taus(taus, last)
    exits = torch.empty(n, dtype=torch.long)
    preds = torch.empty(n, dtype=torch.long)
    for start in range(0, n, batch_size):
        xb = x[start:start + batch_size].to(device)
        alive = torch.arange(start, start + xb.shape[0])
        gen = model.exits(xb)
        logits = next(gen)
        for i in range(model.num_exits):
            if i == last:
                done = torch.ones(logits.shape[0], dtype=torch.bool, device=logits.device)
            else:
                done = fires(exit_score(logits, rule), rule, taus_list[i])
            idx = done.nonzero().view(-1)
            if idx.numel():
                rows = alive[idx.cpu()]
                exits[rows] = i
                preds[rows] = logits.index_select(0, idx).argmax(-1).cpu()
            if i == last:
                break
            keep = (~done).nonzero().view(-1)
            if keep.numel() == 0:
                gen.close()
                break
            alive = alive[keep.cpu()]
            logits = gen.send(keep)
    return exits, preds


@torch.no_grad()
def early_exit_single(model, x: torch.Tensor, rule: str, taus: Taus) -> Tuple[torch.Tensor, torch.Tensor]:
    """Early-exit inference one sample at a time (batch 1), stopping at each sample's exit."""
    device = _device(model)
    taus_list = expand_taus(taus, model.num_exits - 1)
    last = model.num_exits - 1
    exits, preds = [], []
    for j in range(x.shape[0]):
        for i, logits in enumerate(model.exits(x[j:j + 1].to(device))):
            if i == last or bool(fires(exit_score(logits, rule), rule, taus_list[i])):
                exits.append(i)
                preds.append(int(logits.argmax(-1)))
                break
    return torch.tensor(exits, dtype=torch.long), torch.tensor(preds, dtype=torch.long)


def never_exit_tau(rule: str) -> float:
    """A threshold no internal classifier ever meets."""
    return math.inf if rule == "confidence" else -math.inf
