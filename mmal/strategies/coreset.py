import numpy as np
import torch

from mmal.registry import STRATEGIES
from .base import BaseStrategy


def min_distances(points: torch.Tensor, centers: torch.Tensor,
                  chunk_size: int) -> torch.Tensor:
    """Euclidean distance from each point to its nearest center, in chunks of
    ``chunk_size`` points so memory stays O(chunk_size x num_centers)."""
    nearest = torch.full((len(points),), float('inf'), dtype=points.dtype)
    if len(centers) == 0:
        return nearest
    for start in range(0, len(points), chunk_size):
        chunk = points[start:start + chunk_size]
        for c_start in range(0, len(centers), chunk_size):
            dist = torch.cdist(chunk, centers[c_start:c_start + chunk_size])
            nearest[start:start + chunk_size] = torch.minimum(
                nearest[start:start + chunk_size], dist.min(dim=1).values)
    return nearest


def k_center_greedy(candidates: np.ndarray, centers: np.ndarray, num: int,
                    chunk_size: int = 4096):
    """Greedy k-center (Sener & Savarese, 2018): repeatedly take the candidate
    farthest from all centers so far. Returns chosen positions and their distances."""
    points = torch.as_tensor(candidates, dtype=torch.float64)
    nearest = min_distances(points, torch.as_tensor(centers, dtype=torch.float64),
                            chunk_size)
    chosen, distances = [], []
    for _ in range(min(num, len(points))):
        # Without labeled centers every distance is inf: argmax takes the first.
        pick = int(torch.argmax(nearest))
        chosen.append(pick)
        distances.append(float(nearest[pick]))
        nearest = torch.minimum(nearest, torch.linalg.vector_norm(
            points - points[pick], dim=1))
        nearest[pick] = -1.  # never again
    return chosen, distances


@STRATEGIES.register_module()
class CoreSetStrategy(BaseStrategy):
    """Core-set selection: k-center greedy over pooled penultimate features, with
    the labeled samples as the initial centers.

    Args:
        chunk_size (int): Points per distance block; bounds memory. Defaults to 4096.
    """

    def __init__(self, chunk_size: int = 4096):
        self.chunk_size = chunk_size

    def select(self, candidates, num, rng):
        chosen, distances = k_center_greedy(candidates.features(),
                                            candidates.labeled_features(), num,
                                            self.chunk_size)
        return [candidates.keys[i] for i in chosen], distances
