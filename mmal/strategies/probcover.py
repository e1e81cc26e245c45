from typing import Union

import numpy as np
import torch
from scipy import sparse

from mmal.registry import STRATEGIES
from .base import BaseStrategy
from .clustering import distance_chunks, kmeans
from .typiclust import _labeled_features


def purity_delta(features: np.ndarray, pseudo_labels: np.ndarray,
                 purity: float = 0.95) -> float:
    """ProbCover's ball radius: the largest delta whose balls are pure enough.

    A ball ``B(x, delta) = {x' : |x - x'| < delta}`` is pure when every point in
    it has ``x``'s pseudo-label. It is pure exactly while ``delta`` is at most
    the distance from ``x`` to the nearest point of another pseudo-label, so the
    share of pure balls falls with ``delta``, and the largest ``delta`` that
    keeps it ``>= purity`` is the ``ceil(purity * N)``-th largest of these
    distances.
    """
    labels = torch.as_tensor(pseudo_labels)
    nearest_other = np.empty(len(features))
    for start, dist in distance_chunks(features, features):
        same = labels[start:start + len(dist), None] == labels[None, :]
        nearest_other[start:start + len(dist)] = dist.masked_fill(
            same, float('inf')).min(1).values.numpy()
    pure_needed = int(np.ceil(purity * len(features) - 1e-9))
    ranked = np.sort(nearest_other)[::-1]
    delta = float(ranked[max(pure_needed, 1) - 1])
    if not np.isfinite(delta):  # one pseudo-label: every ball is pure
        delta = float(max(dist.max() for _, dist in distance_chunks(
            features, features))) + 1.0
    return delta


def ball_graph(features: np.ndarray, delta: float) -> sparse.csr_matrix:
    """Boolean (N, N) graph: ``[i, j]`` when ``j`` is in the ball of ``i``."""
    rows, cols = [], []
    for start, dist in distance_chunks(features, features):
        r, c = torch.nonzero(dist < delta, as_tuple=True)
        rows.append(r.numpy() + start)
        cols.append(c.numpy())
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    return sparse.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)),
                             shape=(len(features), len(features)))


@STRATEGIES.register_module()
class ProbCoverStrategy(BaseStrategy):
    """ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022): label the
    samples whose balls of radius ``delta`` cover the most samples that no
    labeled sample covers yet (greedy max coverage), for a start without any
    label.

    Features are L2-normalised (as the paper does with its self-supervised
    features). ``delta='auto'`` is the paper's purity rule: k-means
    pseudo-labels into ``num_classes`` clusters, then the largest ``delta``
    for which at least a share ``purity`` of the balls hold one pseudo-label
    only (:func:`purity_delta`). Once everything is covered, the rest of the
    budget is a random choice, as in the authors' code. A sample's score is
    the number of samples it newly covered.

    Args:
        delta (float | str): Ball radius on the normalised features, or
            ``'auto'`` (default).
        purity (float): The purity ``delta='auto'`` keeps. Defaults to 0.95.
        num_classes (int, optional): Pseudo-labels for ``delta='auto'``; the
            paper takes the number of classes. Defaults to the number of
            samples to choose.
    """

    def __init__(self, delta: Union[float, str] = 'auto', purity: float = 0.95,
                 num_classes: int = None):
        if delta != 'auto' and not (isinstance(delta, (int, float)) and delta > 0):
            raise ValueError(f"ProbCoverStrategy delta must be 'auto' or a positive "
                             f'number, got {delta!r}')
        self.delta = delta
        self.purity = purity
        self.num_classes = num_classes
        #: The radius of the last selection (``'auto'`` resolved).
        self.last_delta = None

    def select(self, candidates, num, rng):
        features = _normalise(candidates.features().reshape(len(candidates), -1))
        labeled = _normalise(_labeled_features(candidates, features.shape[1]))
        num = min(num, len(candidates))
        if num == 0:
            return [], []
        points = np.concatenate([labeled, features])
        delta = self.delta
        if delta == 'auto':
            pseudo = kmeans(points, self.num_classes or num, rng)
            delta = purity_delta(points, pseudo, self.purity)
        self.last_delta = float(delta)
        graph = ball_graph(points, delta)
        covered = np.zeros(len(points), dtype=bool)
        if len(labeled):
            covered[graph[:len(labeled)].indices] = True
        graph = graph[len(labeled):].tocsr()  # balls of the candidates
        chosen, scores = [], []
        available = np.ones(len(features), dtype=bool)
        for _ in range(num):
            gains = np.asarray(graph @ (~covered).astype(np.int64)).ravel()
            gains[~available] = -1
            best = int(np.argmax(gains))  # ties: the first in pool order
            if gains[best] <= 0:
                break
            chosen.append(best)
            scores.append(float(gains[best]))
            available[best] = False
            covered[graph[best].indices] = True
        if len(chosen) < num:
            rest = rng.choice(np.flatnonzero(available), size=num - len(chosen),
                              replace=False)
            chosen += sorted(int(i) for i in rest)
            scores += [0.0] * len(rest)
        return [candidates.keys[i] for i in chosen], scores


def _normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)
