import numpy as np
import torch

from mmal.registry import STRATEGIES
from .base import BaseStrategy
from .coreset import min_distances


def kmeans_plus_plus(points: np.ndarray, num: int, rng: np.random.Generator,
                     chunk_size: int = 4096):
    """k-means++ seeding (Arthur & Vassilvitskii, 2007) as BADGE uses it: the first
    pick is the point of largest norm, each next one is drawn with probability
    proportional to its squared distance to the picks so far. Returns the chosen
    positions and each one's squared distance when picked (the first: its squared
    norm)."""
    points = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    if len(points) == 0 or num <= 0:
        return [], []
    first = int(torch.argmax(torch.linalg.vector_norm(points, dim=1)))
    chosen = [first]
    distances = [float(torch.linalg.vector_norm(points[first])**2)]
    nearest = min_distances(points, points[first:first + 1], chunk_size)**2
    while len(chosen) < min(num, len(points)):
        weights = nearest.numpy().copy()
        weights[chosen] = 0
        if weights.sum() <= 0:  # only copies of the picks are left
            weights = np.ones(len(points))
            weights[chosen] = 0
        pick = int(rng.choice(len(points), p=weights / weights.sum()))
        chosen.append(pick)
        distances.append(float(nearest[pick]))
        nearest = torch.minimum(nearest, torch.linalg.vector_norm(
            points - points[pick], dim=1)**2)
    return chosen, distances


@STRATEGIES.register_module()
class BADGEStrategy(BaseStrategy):
    """Batch Active learning by Diverse Gradient Embeddings (Ash et al., 2020).

    Each candidate's embedding is the gradient of the loss at its predicted label
    with respect to the last layer's weights, ``(p - onehot(argmax p))`` outer the
    layer's input (its adapter's ``gradient_embedding``, in closed form); its norm
    grows with the model's uncertainty and its direction says which classes and
    features a label would change. k-means++ seeding on the embeddings, with the
    query's random stream, picks points that are both large and spread out. Scores
    are each pick's squared distance to the earlier picks (the first: its squared
    norm).

    Args:
        chunk_size (int): Points per distance block (see ``min_distances``).
    """

    def __init__(self, chunk_size: int = 4096):
        self.chunk_size = chunk_size

    def select(self, candidates, num, rng):
        chosen, distances = kmeans_plus_plus(candidates.gradient_embedding(), num,
                                             rng, self.chunk_size)
        return [candidates.keys[i] for i in chosen], distances
