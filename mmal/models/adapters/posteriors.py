"""Uncertainty of class posteriors: one function per measure, shared by every
adapter and strategy that scores a categorical prediction.

Each measure takes probabilities ``(..., C)`` that sum to one over the last
dimension and returns ``(...)``, higher meaning less certain, so strategies rank
every measure the same way. A head with independent per-class sigmoids has C
binary posteriors instead of one categorical: :func:`independent` applies a
measure to each ``(p, 1 - p)`` and sums over the classes.
"""
from typing import Callable

import torch

Measure = Callable[[torch.Tensor], torch.Tensor]


def _full(probs: torch.Tensor) -> torch.Tensor:
    """At least float32 (half-precision outputs lose the small differences)."""
    return probs if probs.dtype == torch.float64 else probs.float()


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Shannon entropy (nats) over the last dimension."""
    return torch.special.entr(_full(probs)).sum(dim=-1)


def margin(probs: torch.Tensor) -> torch.Tensor:
    """One minus the gap between the two most probable classes: 1 for a two-way
    tie, 0 for a certain prediction."""
    top = _full(probs).topk(2, dim=-1).values
    return 1 - (top[..., 0] - top[..., 1])


def least_confidence(probs: torch.Tensor) -> torch.Tensor:
    """One minus the probability of the most probable class."""
    return 1 - _full(probs).max(dim=-1).values


def independent(measure: Measure, probs: torch.Tensor) -> torch.Tensor:
    """``measure`` of each binary posterior ``(p, 1 - p)`` of per-class sigmoid
    probabilities ``(..., C)``, summed over the classes."""
    probs = _full(probs)
    return measure(torch.stack([probs, 1 - probs], dim=-1)).sum(dim=-1)


def mutual_information(probs: torch.Tensor) -> torch.Tensor:
    """BALD (Houlsby et al., 2011): mutual information between the prediction
    and the model, from ``(B, T, C)`` posteriors of T stochastic passes: the
    entropy of the mean posterior minus the mean entropy of the passes. Zero when
    every pass agrees; clamped at zero against rounding. In float64: a small
    difference of two entropies near log C loses float32's digits."""
    probs = probs.double()
    return (entropy(probs.mean(dim=1)) - entropy(probs).mean(dim=1)).clamp_min(0)
